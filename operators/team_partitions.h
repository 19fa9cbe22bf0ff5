// The team tier's state (DESIGN §6): one TeamStage per team partition read here, each fed the
// records that `channels` customer stages (input partitions) send to that partition. The stages share one
// watermark over every (partition, channel), as one stage over all partitions kept it (a
// partition whose channels idle out is carried along by the others); besides, a stage applies
// no slice its own live channels have not passed, so a stage restored from its partition's
// checkpoint (taken by another instance, perhaps behind or ahead of the ones here) catches up
// from where that checkpoint left off without a record of it counting as late. Stages at the
// same place apply slices together, so their output boundaries come at once; teams are
// numbered across the stages (a team seen again keeps its number). A revoked partition's stage
// is dropped, teams, windows, detectors and alerts, so that only the instance that reads a
// partition reports its teams; its state moves with the partition through SavePartition and
// LoadPartition.
#ifndef CCPULSE_OPERATORS_TEAM_PARTITIONS_H_
#define CCPULSE_OPERATORS_TEAM_PARTITIONS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "operators/options.h"
#include "operators/state_archive.h"
#include "operators/team_feed.h"
#include "operators/team_stage.h"
#include "pipeline/check.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/watermark.h"

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
  // Queues a record read from `partition` (assigned now if it was not; its channel is checked by
  // the caller).
  void OnFeed(const TeamFeed& feed, int partition, int64_t now_ms);
  // Applies every slice all channels of all stages (but idle ones) have passed, and that the
  // stage's own live channels have passed. At each output boundary, `on_boundary` is called
  // with the stages that reached it marked (InBoundary).
  void Advance(int64_t now_ms, int64_t every_ms, const TeamStage::BoundaryFn& on_boundary);
  // End of a finite input: applies every slice any channel has passed; returns windows_end().
  TimeMs Finish(int64_t every_ms, const TeamStage::BoundaryFn& on_boundary);
  // Inside on_boundary: team `i`'s stage has just reached the boundary (a stage catching up, or
  // one restored ahead, reaches it at another time).
  bool InBoundary(TeamIndex i) const {
    return refs_[i].partition >= 0 && at_boundary_[static_cast<size_t>(refs_[i].partition)] != 0;
  }

  void SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile);

  // --- Reading. Team indexes span the stages; a dropped stage's are never reused. ---
  size_t team_count() const { return refs_.size(); }
  const TeamState& team(TeamIndex i) const { return StageOf(i).team(refs_[i].local); }
  size_t teams_held() const { return held_; }
  // Changes whenever a team is added or a stage dropped.
  uint64_t version() const { return version_; }
  // The teams of the stages read here, by (tenant, team).
  const std::vector<TeamIndex>& TeamsInOrder();
  TeamMetrics WindowMetrics(TeamIndex i, size_t w) { return StageOf(i).WindowMetrics(refs_[i].local, w); }
  TeamMetrics TodayMetrics(TeamIndex i) { return StageOf(i).TodayMetrics(refs_[i].local); }
  bool HasActivity(TeamIndex i) { return StageOf(i).HasActivity(refs_[i].local); }
  std::vector<drift::DetectorInfo> Detectors(TeamIndex i) const;
  uint64_t TotalOf(Kind kind) const;
  std::vector<drift::AlertState> TakeAlertChanges();
  std::vector<drift::AlertState> OpenAlerts() const;
  // Keys of the alerts that were firing in stages dropped since the last call (to retire: the
  // partition's new reader decides about them).
  std::vector<uint64_t> TakeHandedOver() { return std::exchange(handed_over_, {}); }
  // The alerts firing in stages loaded since the last call (to hand to the dispatcher again).
  std::vector<drift::AlertState> TakeRestored() { return std::exchange(restored_, {}); }
  // Summed over the stages, dropped ones included.
  TeamStage::FeedCounters feed_counters() const;
  // (partition, channel, end) of every channel of every stage that has sent.
  std::vector<std::tuple<int, uint32_t, TimeMs>> ChannelEnds() const;
  TimeMs windows_end() const { return end_ == INT64_MIN ? 0 : slices_.StartOf(end_); }
  int64_t watermark() const { return channels_.watermark(); }
  int64_t max_event_time() const { return channels_.max_event_time(); }
  size_t teams_bytes() const;
  size_t histogram_bytes() const;
  size_t timeline_bytes() const;

  // Checkpoints, by partition: what moves with it to another instance. SavePartition needs a
  // partition read here; LoadPartition one that is not (yet), and fails `ar` on bad input.
  bool reads(int partition) const {
    return partition >= 0 && static_cast<size_t>(partition) < stages_.size() && stages_[partition] != nullptr;
  }
  void SavePartition(int partition, StateWriter& ar) const;
  void LoadPartition(int partition, StateReader& ar, int64_t now_ms);
  // Every partition read here (LoadPartition each); Load needs one that reads none.
  void Save(StateWriter& ar) const;
  void Load(StateReader& ar, int64_t now_ms);

 private:
  struct Ref {
    int partition = -1;  // -1: the stage was dropped
    TeamIndex local = 0;
  };
  // The stage of team `i`, which must not have been dropped.
  size_t SlotOf(TeamIndex i) const {
    CCPULSE_CHECK(refs_[i].partition >= 0, "a dropped team is not read");
    return static_cast<size_t>(refs_[i].partition);
  }
  TeamStage& StageOf(TeamIndex i) { return *stages_[SlotOf(i)]; }
  const TeamStage& StageOf(TeamIndex i) const { return *stages_[SlotOf(i)]; }
  TeamStage& MakeStage(int partition);
  // Appends stage `p`'s alerts to `*out` with their teams numbered as here.
  void AppendNumbered(size_t p, std::vector<drift::AlertState> alerts, std::vector<drift::AlertState>* out) const;
  // Numbers the teams a stage has added since the last call.
  void AddNewTeams(int partition);
  // Applies every stage's slices up to `target_end` (with `now_ms`, only as far as the stage's
  // own live channels have passed), boundary by boundary.
  void DeliverUntil(int64_t target_end, std::optional<int64_t> now_ms, int64_t every_ms,
                    const TeamStage::BoundaryFn& on_boundary);

  const MetricOptions& options_;
  const int channel_count_;
  window::SliceAssigner slices_;
  // Channel partition * channel_count_ + c: input partition c on team partition `partition`.
  window::WatermarkTracker channels_;
  std::vector<std::unique_ptr<TeamStage>> stages_;  // by partition; null: not read here
  std::vector<std::vector<TeamIndex>> global_;     // by partition: local team index -> ours
  std::vector<Ref> refs_;                           // ours -> (partition, local)
  absl::flat_hash_map<std::string, TeamIndex> index_of_;  // "tenant\x1fteam" -> ours
  std::string key_buffer_;
  std::vector<TeamIndex> ordered_;
  bool ordered_stale_ = true;
  size_t held_ = 0;        // teams of the stages read here
  uint64_t version_ = 0;
  int64_t end_ = INT64_MIN;  // the furthest stage's end (slices before it are applied there)
  // By partition, in DeliverUntil: how far the stage may go now, and whether it has just
  // reached the boundary being reported.
  std::vector<int64_t> limit_;
  std::vector<char> at_boundary_;
  std::vector<std::tuple<std::string, std::string, TeamProfile>> profiles_;
  TeamStage::FeedCounters dropped_counters_;  // of stages dropped
  std::vector<uint64_t> handed_over_;
  std::vector<drift::AlertState> restored_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_PARTITIONS_H_
