// The per-worker engine: decodes nothing and does no I/O; takes decoded events, keeps every
// operator's state for the teams it owns, and advances event time. One Engine per worker thread
// (DESIGN §1: share-nothing); `replay`, `run` and `demo` all drive the same class.
//
// Flow inside: event -> lateness check -> interaction fold (diff of contributions) -> timeline
// (by slice) ... watermark passes a slice -> contributions in event-time order -> team windows,
// "today", cumulative totals, backlog at the watermark, repeat-contact tracking.
#ifndef CCPULSE_OPERATORS_ENGINE_H_
#define CCPULSE_OPERATORS_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "operators/contribution.h"
#include "operators/fcr.h"
#include "operators/interactions.h"
#include "operators/options.h"
#include "operators/team_metrics.h"
#include "pipeline/window/local_days.h"
#include "pipeline/window/sliding_windows.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/timeline.h"
#include "pipeline/window/watermark.h"
#include "schemas/event.h"

namespace ccpulse::operators {

// Monotonic totals of one team since start (Prometheus `_total` counters), as of the watermark.
struct TeamTotals {
  std::array<uint64_t, kCounterKindCount> counts{};
  uint64_t wait_ms = 0;
  uint64_t handle_ms = 0;
  // Non-cumulative counts per kExportBucketsSeconds bucket, plus +Inf.
  std::array<uint64_t, kExportBucketsSeconds.size() + 1> wait_buckets{};
  std::array<uint64_t, kExportBucketsSeconds.size() + 1> handle_buckets{};
  uint64_t count(Kind kind) const { return counts[static_cast<size_t>(kind)]; }
};

// Everything the engine keeps for one team. Worker-local. Fields used by every contribution
// come first, names last.
struct TeamState {
  TeamState(std::string tenant_name, std::string team_name, uint32_t tenant_id,
            window::SlidingWindows<TeamWindows> team_windows)
      : windows(std::move(team_windows)),
        tenant_index(tenant_id),
        tenant(std::move(tenant_name)),
        team(std::move(team_name)) {}

  // Slots 0..W-1: the sliding windows; slot W: "today" (day number in today_day).
  window::SlidingWindows<TeamWindows> windows;
  int64_t today_day = INT64_MIN;
  uint32_t tenant_index = 0;
  double sl_target = 0;  // from the roster; 0 = the default
  BacklogState backlog;  // at the watermark; oldest_wait_start derived from waiting_since
  TeamTotals totals;
  std::vector<std::pair<TimeMs, uint64_t>> waiting_since;  // sorted (queued time, interaction)
  std::string tenant;
  std::string team;

  size_t MemoryBytes() const;

  // Checkpoints: everything but the names and the tenant (restored through the team index).
  template <typename Ar>
  void Persist(Ar& ar) {
    ar(windows, today_day, sl_target, backlog, totals, waiting_since);
  }
};

class Engine {
 public:
  enum class Accepted { kApplied, kDuplicate, kLate, kTooManyEvents };

  // Engine-wide counters (summary and self-metrics).
  struct Counters {
    uint64_t applied = 0;
    uint64_t duplicate_ids = 0;
    uint64_t late = 0;
    uint64_t too_many_events = 0;
  };

  // Called each time the windows' end reaches a multiple of `every_ms` (event time).
  using BoundaryFn = std::function<void(TimeMs boundary)>;

  explicit Engine(MetricOptions options);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies one decoded event. `now_ms` is the wall clock (idle-partition detection only).
  Accepted OnEvent(const schemas::Event& event, int64_t now_ms);

  // Moves the watermark to what the input allows at `now_ms` and delivers every slice it has
  // passed, calling `on_boundary` at each multiple of `every_ms`.
  void Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary);

  // End of a finite input: the watermark moves to the largest event time seen and the windows
  // end just after it (so every event is included). Returns that end time.
  TimeMs Finish(int64_t every_ms, const BoundaryFn& on_boundary);

  // What the roster says about a team; applied when the team is first seen (or at once).
  struct TeamProfile {
    double sl_target = 0;  // 0: options().sl_target
    // Prior baseline rate per proportion metric (drift::Metric order; < 0: none), weighing
    // `baseline_contacts` contacts, so detectors arm from the first contact.
    std::array<double, drift::kProportionCount> baseline_rates{-1, -1, -1, -1, -1};
    double baseline_contacts = 500;
    std::optional<absl::TimeZone> zone;  // of the team's drift hour-of-week cells
  };
  void SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile);

  // Checkpoints (DESIGN §6): appends the engine's whole state to `*out` (worker thread; the
  // engine is not changed). Restore needs an engine built with the same options that has
  // seen no event; it fails with a message when the state is corrupt or was saved with
  // different metric options, and the engine must then be discarded.
  // `now_ms` (wall clock) restarts the idle clocks of the restored partitions.
  void SaveState(std::string* out) const;
  absl::Status RestoreState(std::string_view state, int64_t now_ms);

  // Drift alerts that fired, escalated or resolved since the last call, in event-time order.
  std::vector<drift::AlertState> TakeAlertChanges();
  // Alerts firing now.
  std::vector<drift::AlertState> OpenAlerts() const;
  const drift::DriftMonitor* drift() const { return drift_.get(); }

  // Partition ownership (rebalance): an assigned partition holds the watermark back until it
  // sends or idles out; a removed one no longer counts.
  void AssignPartition(int partition, int64_t now_ms) { watermark_.Assign(partition, now_ms); }
  void RemovePartition(int partition) { watermark_.Remove(partition); }

  // --- Reading (worker thread only). ---
  const MetricOptions& options() const { return options_; }
  size_t team_count() const { return teams_.size(); }
  const TeamState& team(TeamIndex i) const { return *teams_[i]; }
  // Team indexes ordered by (tenant, team): the output order, independent of arrival order.
  const std::vector<TeamIndex>& TeamsInOrder();
  // End of the windows: every contribution before this time is in them.
  TimeMs windows_end() const { return slices_.StartOf(end_); }
  int64_t watermark() const { return watermark_.watermark(); }
  int64_t max_event_time() const { return watermark_.max_event_time(); }

  // Metrics of team `i` over sliding window `w` (index into options().windows_ms) at the
  // current windows end.
  TeamMetrics WindowMetrics(TeamIndex i, size_t w);
  // Metrics since local midnight of the team's tenant, at the current windows end.
  TeamMetrics TodayMetrics(TeamIndex i);
  // True when team `i` has anything to report in any window or backlog at the current end.
  bool HasActivity(TeamIndex i);

  int64_t live_waiting(TeamIndex i) const { return interactions_.live_waiting(i); }
  int64_t live_in_progress(TeamIndex i) const { return interactions_.live_working(i); }

  const Counters& counters() const { return counters_; }
  uint64_t redundant_transitions() const { return interactions_.redundant_total(); }
  uint64_t duplicates() const { return counters_.duplicate_ids + interactions_.redundant_total(); }
  // Sum over teams of the cumulative count of `kind`.
  uint64_t TotalOf(Kind kind) const;

  // Memory held by each part, for the benchmarks.
  struct Memory {
    size_t teams = 0;         // TeamState objects with their windows
    size_t interactions = 0;  // interaction table
    size_t repeat_contacts = 0;
    size_t timeline = 0;
    size_t histograms = 0;  // block pool shared by all teams
  };
  Memory MemoryUsage() const;
  const RepeatContacts& repeat_contacts() const { return fcr_; }
  const InteractionTable& interactions() const { return interactions_; }

 private:
  TeamIndex InternTeam(std::string_view tenant, std::string_view team);
  void DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary);
  void DeliverSlice(int64_t slice);
  // Applies one order-insensitive contribution (windowed or backlog).
  void DeliverCommutative(const Contribution& c, int64_t slice);
  void DeliverRepeatFact(const Contribution& c);
  void AddWindowed(TeamIndex team, int64_t slice, Kind kind, uint32_t value);
  void RetractWindowed(TeamIndex team, int64_t slice, Kind kind, uint32_t value);
  void ApplyEffects();
  size_t today_slot() const { return window_slices_.size(); }
  // Moves team's "today" slot to the local day of `time`, clearing it on a new day.
  void RollToday(TeamState& team, TimeMs time);
  window::LocalDays& DaysOf(const TeamState& team) { return tenant_days_[team.tenant_index]; }
  void ApplyProfile(TeamIndex index, const TeamProfile& profile);
  // Feeds the slice's drift observations in a deterministic order; then minute ticks.
  void FeedDrift();
  void DriftMinute(TimeMs minute);

  const MetricOptions options_;
  window::SliceAssigner slices_;
  window::WatermarkTracker watermark_;
  std::vector<int64_t> window_slices_;
  window::HistogramBlockPool histogram_pool_;  // every team's wait/handle histograms
  std::vector<std::unique_ptr<TeamState>> teams_;
  std::vector<TeamIndex> ordered_;  // cache of TeamsInOrder()
  absl::flat_hash_map<std::string, TeamIndex> team_index_;  // "tenant\x1fteam"
  absl::flat_hash_map<std::string, uint32_t> tenant_index_;
  std::vector<window::LocalDays> tenant_days_;
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
  std::unique_ptr<drift::DriftMonitor> drift_;
  std::vector<Contribution> drift_observations_;
  std::vector<drift::AlertState> alert_changes_;
  std::vector<std::pair<TeamIndex, double>> oldest_waits_;
  absl::flat_hash_map<std::string, TeamProfile> profiles_;  // "tenant\x1fteam"

  absl::flat_hash_map<Contribution, int, ContributionHash> retractions_;
  std::string key_buffer_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_ENGINE_H_
