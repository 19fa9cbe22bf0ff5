// The team-keyed half of the engine (DESIGN §6): what needs every contribution of a team —
// sliding windows, "today", totals, backlog at the watermark, drift detectors and their alerts —
// fed slice by slice with what a CustomerStage delivered.
//
// Flow inside: delivered contributions -> timeline (by slice) ... slice end reached -> windowed
// counts and backlog (starts before ends) -> repeat-contact effects -> drift observations in a
// deterministic order; drift minute ticks and output boundaries between slices.
#ifndef CCPULSE_OPERATORS_TEAM_STAGE_H_
#define CCPULSE_OPERATORS_TEAM_STAGE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "operators/contribution.h"
#include "operators/customer_stage.h"
#include "operators/drift/drift.h"
#include "operators/options.h"
#include "operators/state_archive.h"
#include "operators/team_feed.h"
#include "operators/team_metrics.h"
#include "pipeline/window/local_days.h"
#include "pipeline/window/sliding_windows.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/timeline.h"
#include "pipeline/window/watermark.h"

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

// Everything kept for one team. Worker-local. Fields used by every contribution come first,
// names last.
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

// What the roster says about a team; applied when the team is first seen (or at once).
struct TeamProfile {
  double sl_target = 0;  // 0: options().sl_target
  // Prior baseline rate per proportion metric (drift::Metric order; < 0: none), weighing
  // `baseline_contacts` contacts, so detectors arm from the first contact.
  std::array<double, drift::kProportionCount> baseline_rates{-1, -1, -1, -1, -1};
  double baseline_contacts = 500;
  std::optional<absl::TimeZone> zone;  // of the team's drift hour-of-week cells
};

// Worker-local; no I/O, no clock.
class TeamStage {
 public:
  // Called each time the windows' end reaches a multiple of `every_ms` (event time).
  using BoundaryFn = std::function<void(TimeMs boundary)>;

  // `options` outlives the stage. With `shared_channels` (outliving it too), the watermark over
  // its channels is kept there, with those of other stages, as channels `channel_base` + c; the
  // owner then advances that tracker (Save leaves it out; Load marks the channels as having
  // sent up to their ends), and a channel idle here is idle for all of them, as in one stage.
  explicit TeamStage(const MetricOptions* options, window::WatermarkTracker* shared_channels = nullptr,
                     uint32_t channel_base = 0);
  TeamStage(const TeamStage&) = delete;
  TeamStage& operator=(const TeamStage&) = delete;

  // The team's dense index in this stage; the team is created (roster profile applied) on
  // first sight.
  TeamIndex InternTeam(std::string_view tenant, std::string_view team);
  void SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile);

  // Queues what a customer stage delivered in slice `slice` (>= end_slice()); team indexes
  // are this stage's.
  void Feed(int64_t slice, std::span<const Delivered> delivered);
  // Starts the windows at slice `slice` (before anything is applied, at or before the first slice
  // queued); otherwise they start at the first slice fed. Drift minutes and boundaries are counted from the start.
  void StartAt(int64_t slice);
  // Applies every queued slice before `target_end` in order, calling `on_boundary` at each
  // multiple of `every_ms` and ticking the drift detectors each minute.
  void DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary);

  // --- Fed by customer stages on other partitions (team-keyed scale-out). ---
  // Counts of what OnFeed dropped: contributions of slices the channel had sent before (a
  // customer stage that restarted from its checkpoint sends them again), and contributions of
  // slices already applied (their channel had idled out and the others carried on); and gaps:
  // records that started after where their channel's last one ended (a record was lost).
  struct FeedCounters {
    uint64_t records = 0;
    uint64_t repeated = 0;
    uint64_t late = 0;
    uint64_t gaps = 0;
    FeedCounters& operator+=(const FeedCounters& o) {
      records += o.records;
      repeated += o.repeated;
      late += o.late;
      gaps += o.gaps;
      return *this;
    }
  };
  // A channel (a team partition's records from one customer stage) that holds the watermark
  // back until it sends or idles out.
  void AssignChannel(uint32_t channel, int64_t now_ms);
  // Queues a record's contributions of slices its channel has not sent before; the channel's
  // watermark moves to the record's end. `now_ms`: wall clock (idle channels only).
  void OnFeed(const TeamFeed& feed, int64_t now_ms);
  // Applies every slice all channels (but idle ones) have passed. (With shared channels, their
  // owner advances them and calls DeliverUntil.)
  void Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary);
  // End of a finite input: applies every slice any channel has passed; returns windows_end().
  TimeMs Finish(int64_t every_ms, const BoundaryFn& on_boundary);
  // The first slice queued and not applied (INT64_MAX: none).
  int64_t first_queued_slice() const { return timeline_.FirstSlice(); }
  const FeedCounters& feed_counters() const { return feed_counters_; }
  // Fed by customer stages: the watermark over the channels, and the latest slice end sent.
  int64_t channels_watermark() const { return channels_.watermark(); }
  // Where the slices each channel read here has sent end (event time; none yet: absent).
  std::vector<std::pair<uint32_t, TimeMs>> ChannelEnds() const;
  int64_t channels_max_time() const { return channels_.max_event_time(); }

  // Drift alerts that fired, escalated or resolved since the last call, in event-time order.
  std::vector<drift::AlertState> TakeAlertChanges();
  std::vector<drift::AlertState> OpenAlerts() const;
  const drift::DriftMonitor* drift() const { return drift_.get(); }

  size_t team_count() const { return teams_.size(); }
  const TeamState& team(TeamIndex i) const { return *teams_[i]; }
  const std::vector<TeamIndex>& TeamsInOrder();
  // Slices < end_slice() are applied; INT64_MIN before the first.
  int64_t end_slice() const { return end_; }
  // 0 before the first slice is applied.
  TimeMs windows_end() const { return end_ == INT64_MIN ? 0 : slices_.StartOf(end_); }
  TeamMetrics WindowMetrics(TeamIndex i, size_t w);
  TeamMetrics TodayMetrics(TeamIndex i);
  bool HasActivity(TeamIndex i);
  uint64_t TotalOf(Kind kind) const;

  size_t teams_bytes() const;
  size_t histogram_bytes() const { return histogram_pool_.MemoryBytes(); }
  size_t timeline_bytes() const { return timeline_.size() * sizeof(Delivered); }

  // Checkpoints. Load needs a stage that has no team yet; `now_ms` restarts idle clocks.
  void Save(StateWriter& ar) const;
  void Load(StateReader& ar, int64_t now_ms);

 private:
  friend class Engine;  // reads checkpoints of engine state version 1, from before the stages

  void DeliverSlice(int64_t slice);
  // Applies one order-insensitive contribution (windowed or backlog).
  void DeliverCommutative(const Contribution& c, int64_t slice);
  void AddWindowed(TeamIndex team, int64_t slice, Kind kind, uint32_t value);
  void RetractWindowed(TeamIndex team, int64_t slice, Kind kind, uint32_t value);
  size_t today_slot() const { return window_slices_.size(); }
  // Moves team's "today" slot to the local day of `time`, clearing it on a new day.
  void RollToday(TeamState& team, TimeMs time);
  window::LocalDays& DaysOf(const TeamState& team) { return tenant_days_[team.tenant_index]; }
  void ApplyProfile(TeamIndex index, const TeamProfile& profile);
  // Feeds the slice's drift observations in a deterministic order; then minute ticks.
  void FeedDrift();
  void DriftMinute(TimeMs minute);

  const MetricOptions& options_;
  window::SliceAssigner slices_;
  std::vector<int64_t> window_slices_;
  window::HistogramBlockPool histogram_pool_;  // every team's wait/handle histograms
  TeamRegistry registry_;
  std::vector<std::unique_ptr<TeamState>> teams_;
  std::vector<TeamIndex> ordered_;  // cache of TeamsInOrder()
  absl::flat_hash_map<std::string, uint32_t> tenant_index_;
  std::vector<window::LocalDays> tenant_days_;
  window::Timeline<Delivered> timeline_;
  int64_t end_ = INT64_MIN;  // slices < end_ are applied
  // Fed by customer stages: per channel (input partition), the end of the slices it has sent
  // (INT64_MIN: none), and their watermark (the slice start of those ends), kept here or shared.
  std::vector<int64_t> channel_ends_;
  window::WatermarkTracker own_channels_;
  window::WatermarkTracker& channels_;
  const uint32_t channel_base_;
  bool shared_channels() const { return &channels_ != &own_channels_; }
  int ChannelId(uint32_t channel) const { return static_cast<int>(channel_base_ + channel); }
  FeedCounters feed_counters_;
  std::unique_ptr<drift::DriftMonitor> drift_;
  std::vector<Contribution> drift_observations_;
  std::vector<drift::AlertState> alert_changes_;
  std::vector<std::pair<TeamIndex, double>> oldest_waits_;
  absl::flat_hash_map<std::string, TeamProfile> profiles_;  // "tenant\x1fteam"
  // Scratch, reused.
  std::vector<Delivered> slice_records_;
  std::vector<TeamIndex> feed_teams_;
  std::string key_buffer_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_STAGE_H_
