// The team tier's state (DESIGN §6): one TeamStage per team partition read here, each fed the
// records that `channels` customer engines send to that partition, all applying slices together
// (output boundaries are the same for every team); teams are numbered across the stages. A
// revoked partition's stage is dropped, teams, windows, detectors and alerts, so that only the
// instance that reads a partition reports its teams.
#ifndef CCPULSE_OPERATORS_TEAM_PARTITIONS_H_
#define CCPULSE_OPERATORS_TEAM_PARTITIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "operators/options.h"
#include "operators/state_archive.h"
#include "operators/team_feed.h"
#include "operators/team_stage.h"

namespace ccpulse::operators {

// Worker-local; no I/O, no clock.
class TeamPartitions {
 public:
  // `options` outlives this.
  TeamPartitions(const MetricOptions* options, int channels);
  TeamPartitions(const TeamPartitions&) = delete;
  TeamPartitions& operator=(const TeamPartitions&) = delete;

  // A partition read from now on: its stage is created (starting where the others are), and
  // each channel holds the slices back until it sends or idles out.
  void Assign(int partition, int64_t now_ms);
  // A partition another instance reads now: its stage is dropped; the keys of its alerts that
  // were firing are kept for TakeHandedOver.
  void Remove(int partition);
  // Queues a record read from `partition` (assigned; its channel is checked by the caller).
  void OnFeed(const TeamFeed& feed, int partition, int64_t now_ms);
  // Applies every slice all stages' channels have passed (but idle ones).
  void Advance(int64_t now_ms, int64_t every_ms, const TeamStage::BoundaryFn& on_boundary);
  // End of a finite input: applies every slice any channel has passed; returns windows_end().
  TimeMs Finish(int64_t every_ms, const TeamStage::BoundaryFn& on_boundary);

  void SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile);

  // --- Reading. Team indexes span the stages; a dropped stage's are never reused. ---
  size_t team_count() const { return refs_.size(); }
  const TeamState& team(TeamIndex i) const { return Stage(i).team(refs_[i].local); }
  size_t teams_held() const { return held_; }
  // Changes whenever a team is added or a stage dropped.
  uint64_t version() const { return version_; }
  // The teams of the stages read here, by (tenant, team).
  const std::vector<TeamIndex>& TeamsInOrder();
  TeamMetrics WindowMetrics(TeamIndex i, size_t w) { return Stage(i).WindowMetrics(refs_[i].local, w); }
  TeamMetrics TodayMetrics(TeamIndex i) { return Stage(i).TodayMetrics(refs_[i].local); }
  bool HasActivity(TeamIndex i) { return Stage(i).HasActivity(refs_[i].local); }
  std::vector<drift::DetectorInfo> Detectors(TeamIndex i) const;
  uint64_t TotalOf(Kind kind) const;
  std::vector<drift::AlertState> TakeAlertChanges();
  std::vector<drift::AlertState> OpenAlerts() const;
  // Keys of the alerts that were firing in stages dropped since the last call (another instance
  // goes on with them).
  std::vector<uint64_t> TakeHandedOver() { return std::exchange(handed_over_, {}); }
  // Summed over the stages, dropped ones included.
  TeamStage::FeedCounters feed_counters() const;
  // (partition, channel, end) of every channel of every stage that has sent.
  std::vector<std::tuple<int, uint32_t, TimeMs>> ChannelEnds() const;
  TimeMs windows_end() const;
  int64_t watermark() const;       // the smallest stage's
  int64_t max_event_time() const;  // the largest stage's
  size_t teams_bytes() const;
  size_t histogram_bytes() const;
  size_t timeline_bytes() const;

  // Checkpoints: every stage, by partition. Load needs one with no stage yet.
  void Save(StateWriter& ar) const;
  void Load(StateReader& ar, int64_t now_ms);

 private:
  struct Ref {
    int partition = -1;  // -1: the stage was dropped
    TeamIndex local = 0;
  };
  TeamStage& Stage(TeamIndex i) const { return *stages_[static_cast<size_t>(refs_[i].partition)]; }
  TeamStage& MakeStage(int partition);
  // Numbers the teams a stage has added since the last call.
  void AddNewTeams(int partition);
  // Applies every stage's slices up to `target_end`, boundary by boundary.
  void DeliverUntil(int64_t target_end, int64_t every_ms, const TeamStage::BoundaryFn& on_boundary);

  const MetricOptions& options_;
  const int channels_;
  std::vector<std::unique_ptr<TeamStage>> stages_;  // by partition; null: not read here
  std::vector<std::vector<TeamIndex>> global_;     // by partition: local team index -> ours
  std::vector<Ref> refs_;                           // ours -> (partition, local)
  std::vector<TeamIndex> ordered_;
  bool ordered_stale_ = true;
  size_t held_ = 0;        // teams of the stages read here
  uint64_t version_ = 0;
  int64_t end_ = INT64_MIN;  // slices before it are applied in every stage
  std::vector<std::tuple<std::string, std::string, TeamProfile>> profiles_;
  TeamStage::FeedCounters dropped_counters_;  // of stages dropped
  std::vector<uint64_t> handed_over_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_PARTITIONS_H_
