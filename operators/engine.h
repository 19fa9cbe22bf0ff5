// The per-worker engine: does no I/O; takes decoded events (or, as a team stage, the records of
// customer stages), keeps every operator's state for the teams it owns, and advances event time. One Engine per worker thread
// (DESIGN §1: share-nothing); `replay`, `run` and `demo` all drive the same class.
//
// It is a CustomerStage (interactions, repeat contacts) feeding a TeamStage (windows, backlog,
// drift) slice by slice in one process; the stages are also the units of a team-keyed
// scale-out (DESIGN §6), where each runs on its own partition.
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
#include "operators/customer_partitions.h"
#include "operators/customer_stage.h"
#include "operators/options.h"
#include "operators/team_metrics.h"
#include "operators/team_partitions.h"
#include "operators/team_stage.h"
#include "schemas/event.h"

namespace ccpulse::operators {

class Engine {
 public:
  using Accepted = CustomerStage::Accepted;
  // Engine-wide counters (summary and self-metrics).
  using Counters = CustomerStage::Counters;
  // Called each time the windows' end reaches a multiple of `every_ms` (event time).
  using BoundaryFn = TeamStage::BoundaryFn;
  using TeamProfile = operators::TeamProfile;

  // Where the two stages run (DESIGN §6). kWhole: both here. kCustomers: a customer stage per
  // input partition read here (CustomerPartitions), the team tier's channel `channel_of(p)` of
  // partition p; each slice its watermark passes goes, split per team partition, to `send` (as
  // team_feed.h records, one per partition whenever the watermark crosses a slice, and an empty
  // one every second while it stands still, so the team stages wait for it). kTeams: a team
  // stage per team partition assigned here (TeamPartitions), fed by OnTeamFeed with the records
  // of `channels` customer stages (input partitions).
  struct Split {
    enum class Role { kWhole, kCustomers, kTeams };
    Role role = Role::kWhole;
    int team_partitions = 1;  // kCustomers
    // kCustomers: watermark channels per input partition (event.position.partition is one;
    // channel c is of partition c / channels_per_partition).
    int channels_per_partition = 1;
    // kCustomers: the team tier's channel of input partition p, unique and stable across
    // instances (the partition's number in the input topic); default p.
    std::function<uint32_t(int partition)> channel_of;
    std::function<void(int partition, std::string_view record)> send;  // kCustomers
    int channels = 0;  // kTeams: channels 0..channels-1 hold the watermark back from the start
  };

  explicit Engine(MetricOptions options);
  Engine(MetricOptions options, Split split);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies one decoded event. `now_ms` is the wall clock (idle-partition detection only).
  Accepted OnEvent(const schemas::Event& event, int64_t now_ms) {
    if (customer_tier_) return customer_tier_->OnEvent(event, now_ms);
    const Accepted accepted = customers_.OnEvent(event, now_ms);
    if (customers_.teams().size() != teams_.team_count() && split_.role == Split::Role::kWhole) AddNewTeams();
    return accepted;
  }
  // kTeams: applies one record a customer stage sent, read from team partition `partition`
  // (its index among this engine's partitions); an error names what is wrong in it.
  absl::Status OnTeamFeed(std::string_view record, int partition, int64_t now_ms);
  TeamStage::FeedCounters feed_counters() const { return tier_ ? tier_->feed_counters() : teams_.feed_counters(); }
  // kTeams: where each channel's slices on each team partition read here end.
  struct ChannelEnd {
    int partition = 0;     // index among this engine's partitions
    uint32_t channel = 0;  // an input partition of the customer tier
    TimeMs end = 0;
  };
  std::vector<ChannelEnd> ChannelEnds() const;

  // Moves the watermark to what the input allows at `now_ms` and delivers every slice it has
  // passed, calling `on_boundary` at each multiple of `every_ms`.
  void Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary);

  // At a clean stop (every input partition), or before input partitions `partitions` move
  // (kCustomers; nothing in the other roles): tells the team stages their channels stop and will
  // be back (they wait for them rather than go on without them after idle_partition). Nothing
  // before a slice is sent.
  void Pause() {
    if (customer_tier_) customer_tier_->Pause();
  }
  void Pause(std::span<const int32_t> partitions) {
    if (customer_tier_) customer_tier_->Pause(partitions);
  }

  // End of a finite input: the watermark moves to the largest event time seen and the windows
  // end just after it (so every event is included). Returns that end time.
  TimeMs Finish(int64_t every_ms, const BoundaryFn& on_boundary);

  void SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile) {
    if (tier_) return tier_->SetTeamProfile(tenant, team, profile);
    teams_.SetTeamProfile(tenant, team, profile);
  }

  // Checkpoints (DESIGN §6): appends the engine's whole state to `*out` (worker thread; the
  // engine is not changed). Restore needs an engine built with the same options that has
  // seen no event; it fails with a message when the state is corrupt or was saved with
  // different metric options, and the engine must then be discarded.
  // `now_ms` (wall clock) restarts the idle clocks of the restored partitions.
  void SaveState(std::string* out) const;
  absl::Status RestoreState(std::string_view state, int64_t now_ms);
  // kTeams and kCustomers: the state of one partition read here (a team partition, an input
  // partition), what moves with it to another instance; restored into an engine that does not
  // read it yet (before its records, which continue where the state left off). Other partitions
  // may be read and restored already. (kCustomers saves only this way.)
  bool reads_partition(int partition) const {
    return tier_ ? tier_->reads(partition) : customer_tier_ && customer_tier_->reads(partition);
  }
  void SavePartitionState(int partition, std::string* out) const;
  absl::Status RestorePartitionState(int partition, std::string_view state, int64_t now_ms);

  // Drift alerts that fired, escalated or resolved since the last call, in event-time order.
  std::vector<drift::AlertState> TakeAlertChanges() {
    return tier_ ? tier_->TakeAlertChanges() : teams_.TakeAlertChanges();
  }
  // Alerts firing now.
  std::vector<drift::AlertState> OpenAlerts() const { return tier_ ? tier_->OpenAlerts() : teams_.OpenAlerts(); }
  // kTeams: keys of the alerts that were firing for the teams of partitions removed since the
  // last call (to retire, not resolve: the partition's new reader decides about them).
  std::vector<uint64_t> TakeHandedOver() { return tier_ ? tier_->TakeHandedOver() : std::vector<uint64_t>{}; }
  // kTeams: alerts firing in the team partitions restored since the last call (to hand to the
  // dispatcher: they go on firing here).
  std::vector<drift::AlertState> TakeRestoredAlerts() {
    return tier_ ? tier_->TakeRestored() : std::vector<drift::AlertState>{};
  }
  // Every drift detector of team `i` (none with drift detection off).
  std::vector<drift::DetectorInfo> Detectors(TeamIndex i) const {
    if (tier_) return tier_->Detectors(i);
    return teams_.drift() ? teams_.drift()->Detectors(i, teams_.windows_end()) : std::vector<drift::DetectorInfo>{};
  }

  // Partition ownership (rebalance): an assigned partition holds the watermark back until it
  // sends or idles out; a removed one no longer counts. (kCustomers: `partition` is a watermark
  // channel, see Split; an input partition's stage comes with its first channel and goes with
  // its last. kTeams: a team partition brings its team stage, with one channel per input
  // partition of the customer tier, each holding the slices back: each channel's records reach
  // each team partition on their own; a removed one's stage is dropped.)
  void AssignPartition(int partition, int64_t now_ms);
  void RemovePartition(int partition);

  // --- Reading (worker thread only). kWhole: team indexes are the same in both stages. ---
  const MetricOptions& options() const { return options_; }
  // Team indexes given so far (kTeams: some may be of removed partitions' teams; TeamsInOrder
  // has the others).
  size_t team_count() const { return tier_ ? tier_->team_count() : teams_.team_count(); }
  const TeamState& team(TeamIndex i) const { return tier_ ? tier_->team(i) : teams_.team(i); }
  // Teams held: team_count() but for removed partitions' teams.
  size_t teams_held() const { return tier_ ? tier_->teams_held() : teams_.team_count(); }
  // Changes whenever a team is added or removed (a team index read before may then be gone).
  uint64_t teams_version() const { return tier_ ? tier_->version() : teams_.team_count(); }
  // Team indexes ordered by (tenant, team): the output order, independent of arrival order.
  const std::vector<TeamIndex>& TeamsInOrder() { return tier_ ? tier_->TeamsInOrder() : teams_.TeamsInOrder(); }
  // End of the windows: every contribution before this time is in them (kTeams: in the
  // furthest team partition's; one restored from behind catches up).
  TimeMs windows_end() const { return tier_ ? tier_->windows_end() : teams_.windows_end(); }
  // Inside a boundary callback: team `i` is at that boundary (kTeams: its partition's stage has
  // just reached it; one ahead or behind reaches it at another time). Otherwise every team.
  bool InBoundary(TeamIndex i) const { return !tier_ || tier_->InBoundary(i); }
  // kCustomers: the slowest input partition's.
  int64_t watermark() const {
    return tier_ ? tier_->watermark() : customer_tier_ ? customer_tier_->min_watermark() : customers_.watermark();
  }
  // The watermark an event of watermark channel `channel` was checked against (kCustomers: its
  // partition's).
  int64_t WatermarkOf(int channel) const {
    return customer_tier_ ? customer_tier_->watermark(channel) : watermark();
  }
  int64_t max_event_time() const;

  // Metrics of team `i` over sliding window `w` (index into options().windows_ms) at the
  // current windows end.
  TeamMetrics WindowMetrics(TeamIndex i, size_t w) {
    return tier_ ? tier_->WindowMetrics(i, w) : teams_.WindowMetrics(i, w);
  }
  // Metrics since local midnight of the team's tenant, at the current windows end.
  TeamMetrics TodayMetrics(TeamIndex i) { return tier_ ? tier_->TodayMetrics(i) : teams_.TodayMetrics(i); }
  // True when team `i` has anything to report in any window or backlog at the current end.
  bool HasActivity(TeamIndex i) { return tier_ ? tier_->HasActivity(i) : teams_.HasActivity(i); }

  int64_t live_waiting(TeamIndex i) const { return interactions().live_waiting(i); }
  int64_t live_in_progress(TeamIndex i) const { return interactions().live_working(i); }

  // kCustomers: since this process started (not moving with partitions, so never going back).
  Counters counters() const;
  uint64_t redundant_transitions() const;
  uint64_t duplicates() const { return counters().duplicate_ids + redundant_transitions(); }
  size_t interactions_held() const;
  // Sum over teams of the cumulative count of `kind`.
  uint64_t TotalOf(Kind kind) const { return tier_ ? tier_->TotalOf(kind) : teams_.TotalOf(kind); }

  // Memory held by each part, for the benchmarks.
  struct Memory {
    size_t teams = 0;         // TeamState objects with their windows, and the team names
    size_t interactions = 0;  // interaction table
    size_t repeat_contacts = 0;
    size_t timeline = 0;
    size_t histograms = 0;  // block pool shared by all teams
  };
  Memory MemoryUsage() const;
  // kWhole.
  const RepeatContacts& repeat_contacts() const { return customers_.repeat_contacts(); }
  const InteractionTable& interactions() const { return customers_.interactions(); }

 private:
  // Creates in the team stage the teams the customer stage has seen since the last call, so
  // that both give a team the same index.
  void AddNewTeams();
  void DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary);
  // Engine state version 1 (one engine, before the stages): the same fields, in another order.
  void RestoreVersion1(StateReader& ar, int64_t now_ms);

  // Applies `f` to each customer stage: the one of kWhole, those of kCustomers.
  void ForEachCustomerStage(const std::function<void(const CustomerStage&)>& f) const;

  const MetricOptions options_;
  const Split split_;
  CustomerStage customers_;                               // kWhole
  TeamStage teams_;                                       // kWhole
  std::unique_ptr<TeamPartitions> tier_;                  // kTeams
  std::unique_ptr<CustomerPartitions> customer_tier_;     // kCustomers
  std::vector<Delivered> delivered_;                      // scratch, reused
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_ENGINE_H_
