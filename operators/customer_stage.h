// The customer-keyed half of the engine (DESIGN §6): what needs every event of an interaction
// and every contact of a customer — lateness, the interaction fold, repeat contacts — and
// nothing that needs every contribution of a team. As its watermark passes a slice it hands
// the slice's team contributions, repeat-contact verdicts included, to a TeamStage.
//
// Flow inside: event -> lateness check -> interaction fold (diff of contributions) -> timeline
// (by slice) ... watermark passes a slice -> retractions cancelled -> windowed and backlog
// contributions out; repeat-contact facts in event-time order -> their effects out.
#ifndef CCPULSE_OPERATORS_CUSTOMER_STAGE_H_
#define CCPULSE_OPERATORS_CUSTOMER_STAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "operators/contribution.h"
#include "operators/fcr.h"
#include "operators/interactions.h"
#include "operators/options.h"
#include "operators/state_archive.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/timeline.h"
#include "pipeline/window/watermark.h"
#include "schemas/event.h"

namespace ccpulse::operators {

// Dense team indexes by (tenant, team), in order of first appearance. Worker-local.
class TeamRegistry {
 public:
  // The team's index, and whether this call added it.
  std::pair<TeamIndex, bool> Intern(std::string_view tenant, std::string_view team);
  std::optional<TeamIndex> Find(std::string_view tenant, std::string_view team) const;
  // The key a team is indexed by, "tenant\x1fteam", into `*out`.
  static void Key(std::string_view tenant, std::string_view team, std::string* out);
  size_t size() const { return names_.size(); }
  const std::string& tenant(TeamIndex i) const { return names_[i].first; }
  const std::string& team(TeamIndex i) const { return names_[i].second; }
  size_t MemoryBytes() const;

 private:
  absl::flat_hash_map<std::string, TeamIndex> index_;  // "tenant\x1fteam"
  std::vector<std::pair<std::string, std::string>> names_;
  std::string key_;
};

// Worker-local; no I/O, no clock (wall times are passed in).
class CustomerStage {
 public:
  enum class Accepted { kApplied, kDuplicate, kLate, kTooManyEvents };
  struct Counters {
    uint64_t applied = 0;
    uint64_t duplicate_ids = 0;
    uint64_t late = 0;
    uint64_t too_many_events = 0;
  };

  // `options` outlives the stage.
  explicit CustomerStage(const MetricOptions* options);
  CustomerStage(const CustomerStage&) = delete;
  CustomerStage& operator=(const CustomerStage&) = delete;

  // Applies one decoded event. `now_ms` is the wall clock (idle-partition detection only).
  Accepted OnEvent(const schemas::Event& event, int64_t now_ms) {
    return OnEvent(event, event.position.partition, now_ms);
  }
  // The same, with the event's watermark channel given (the stage's own numbering).
  Accepted OnEvent(const schemas::Event& event, int channel, int64_t now_ms);

  // The slice the watermark allows delivery up to (exclusive) at wall time `now_ms`, or
  // INT64_MIN before any event.
  int64_t Advance(int64_t now_ms);
  // End of a finite input: the watermark jumps to the largest event time seen, and every slice
  // up to and including its slice may be delivered. INT64_MIN before any event.
  int64_t AdvanceToEnd();

  // Earliest undelivered slice that has anything to deliver, or INT64_MAX.
  int64_t NextDataSlice() const;
  // Delivers slice `slice` (== NextDataSlice()) into `*out` (cleared first): the slice's
  // windowed and backlog contributions, then the repeat-contact effects.
  void DeliverSlice(int64_t slice, std::vector<Delivered>* out);

  void AssignPartition(int partition, int64_t now_ms) { watermark_.Assign(partition, now_ms); }
  void RemovePartition(int partition) { watermark_.Remove(partition); }
  bool owns_partitions() const { return watermark_.has_partitions(); }
  // Over the partitions that are not idle at `now_ms`: the smallest largest event time;
  // kNoWatermark when one has sent nothing yet, INT64_MAX when every one is idle.
  int64_t LiveMaxTime(int64_t now_ms) const { return watermark_.LiveMinimum(0, INT32_MAX, now_ms); }
  // Carried along by other stages (its own partitions idle): the watermark moves to at least
  // `watermark_ms`, and events before it are late.
  void CarryTo(int64_t watermark_ms) { watermark_.Raise(watermark_ms); }
  // Every partition counts as seen at `now_ms` (a silence shared with other stages ended).
  void Wake(int64_t now_ms) { watermark_.Resume(now_ms); }

  const TeamRegistry& teams() const { return teams_; }
  const Counters& counters() const { return counters_; }
  int64_t watermark() const { return watermark_.watermark(); }
  int64_t max_event_time() const { return watermark_.max_event_time(); }
  const InteractionTable& interactions() const { return interactions_; }
  const RepeatContacts& repeat_contacts() const { return fcr_; }
  size_t timeline_bytes() const { return timeline_.size() * sizeof(Contribution); }

  // Checkpoints. Load needs a stage that has seen no event; `now_ms` restarts idle clocks.
  void Save(StateWriter& ar) const;
  void Load(StateReader& ar, int64_t now_ms);

 private:
  friend class Engine;  // reads checkpoints of engine state version 1, from before the stages

  const MetricOptions& options_;
  window::SliceAssigner slices_;
  window::WatermarkTracker watermark_;
  TeamRegistry teams_;
  InteractionTable interactions_;
  RepeatContacts fcr_;
  window::Timeline<Contribution> timeline_;
  int64_t end_ = INT64_MIN;  // slices < end_ are delivered
  Counters counters_;
  // Scratch, reused.
  std::vector<Contribution> diff_;
  std::vector<Contribution> slice_records_;
  std::vector<Contribution> repeat_facts_;
  std::vector<Contribution> effects_;
  absl::flat_hash_map<Contribution, int, ContributionHash> retractions_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_CUSTOMER_STAGE_H_
