// The interaction state machine (DESIGN §2): every interaction's events, kept sorted by event
// time, folded into contributions. Because the fold is a pure, causal function of the set of
// events, applying events in any order within the allowed lateness gives the same contributions;
// duplicates (same event id, or a transition the interaction already made) change nothing.
#ifndef CCPULSE_OPERATORS_INTERACTIONS_H_
#define CCPULSE_OPERATORS_INTERACTIONS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "operators/contribution.h"
#include "operators/options.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/timeline.h"
#include "schemas/event.h"
#include "schemas/ids.h"

namespace ccpulse::operators {

// One applied event, as the interaction table keeps it (32 bytes).
struct InteractionEvent {
  TimeMs time = 0;
  uint64_t event_key = 0;
  uint64_t customer = 0;  // keyed hash of customer_id (and reason, in same-reason mode); 0 = none
  TeamIndex team = 0;
  schemas::EventType type = schemas::EventType::kQueued;
  schemas::Channel channel = schemas::Channel::kOther;

  // Total order used for folding: time, then lifecycle order, then event id.
  friend bool operator<(const InteractionEvent& a, const InteractionEvent& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.type != b.type) return a.type < b.type;
    return a.event_key < b.event_key;
  }
};

// Where an interaction stands after its latest event.
enum class Phase : uint8_t { kNone, kWaiting, kWorking, kHandedOff, kDone };

struct FoldEnd {
  Phase phase = Phase::kNone;
  TeamIndex team = 0;
  schemas::Channel channel = schemas::Channel::kOther;
  TimeMs last_time = 0;
  uint32_t redundant = 0;  // events that repeated a transition already made
};

// Everything the fold carries from one event to the next, so that an event arriving in order
// continues the fold instead of re-running it.
struct FoldState {
  FoldEnd end;
  uint64_t customer = 0;
  TimeMs wait_start = 0;
  TimeMs work_start = 0;
  bool handed_off = false;
  bool reopened = false;
};

// Folds `events` (sorted) of interaction `key` into contributions appended to `*out`.
// Contributions are causal: each is stamped with the time of the event that produced it (or an
// expiry deadline between events), and depends only on events at or before that time.
FoldEnd FoldInteraction(std::span<const InteractionEvent> events, uint64_t key,
                        const MetricOptions& options, std::vector<Contribution>* out);

// All interactions of one worker. Worker-local.
class InteractionTable {
 public:
  enum class Outcome { kApplied, kDuplicateId, kTooManyEvents };
  static constexpr size_t kMaxEventsPerInteraction = 256;

  explicit InteractionTable(const MetricOptions* options);

  // Applies one event. On kApplied appends to `*diff` the contributions to add (sign +1) and to
  // take back (sign -1) so that the emitted total equals the fold of all events so far.
  Outcome Apply(uint64_t key, const InteractionEvent& event, std::vector<Contribution>* diff);

  // Evicts interactions whose time has come in slice `slice` (the watermark has passed it):
  // finished ones after the retention, open ones at their expiry deadline, appending the
  // expiry's contributions (stamped inside `slice`) to `*out`.
  void EvictDue(int64_t slice, std::vector<Contribution>* out);

  // Open interactions per team as of their latest event (the live backlog), for snapshots.
  int64_t live_waiting(TeamIndex team) const { return team < live_waiting_.size() ? live_waiting_[team] : 0; }
  int64_t live_working(TeamIndex team) const { return team < live_working_.size() ? live_working_[team] : 0; }

  // Earliest slice with a queued eviction check, or INT64_MAX.
  int64_t NextEvictionSlice() const { return evictions_.FirstSlice(); }

  uint64_t redundant_total() const { return redundant_total_; }
  size_t size() const { return index_.size(); }

  template <typename Ar>
  void Persist(Ar& ar) {
    ar(index_, records_, free_slots_, evictions_, live_waiting_, live_working_, redundant_total_);
  }
  size_t MemoryBytes() const;

 private:
  struct Record {
    absl::InlinedVector<InteractionEvent, 4> events;
    FoldState state;  // after the last event
    TimeMs evict_at = 0;
    int64_t scheduled_slice = INT64_MAX;  // earliest slice an eviction check is queued for

    template <typename Ar>
    void Persist(Ar& ar) {
      ar(events, state, evict_at, scheduled_slice);
    }
  };

  TimeMs EvictTime(const FoldEnd& end) const;
  void TrackLive(const FoldEnd& end, int delta);

  const MetricOptions* options_;
  window::SliceAssigner slices_;
  absl::flat_hash_map<uint64_t, uint32_t> index_;  // interaction key -> records_ slot
  std::vector<Record> records_;
  std::vector<uint32_t> free_slots_;
  window::Timeline<uint64_t> evictions_;
  std::vector<int64_t> live_waiting_;
  std::vector<int64_t> live_working_;
  uint64_t redundant_total_ = 0;
  // Scratch for diffs, reused across calls.
  std::vector<Contribution> before_;
  std::vector<Contribution> after_;
  std::vector<uint64_t> due_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_INTERACTIONS_H_
