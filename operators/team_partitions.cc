// The team tier's state; see team_partitions.h.
#include "operators/team_partitions.h"

#include <algorithm>
#include <utility>

#include "pipeline/check.h"

namespace ccpulse::operators {

TeamPartitions::TeamPartitions(const MetricOptions* options, int channels)
    : options_(*options),
      channel_count_(channels),
      slices_(options_.slice_ms),
      // As a TeamStage keeps its own (team_stage.cc).
      channels_(/*allowed_lateness_ms=*/0, options_.idle_partition_ms,
                window::WatermarkTracker::WhenAllIdle::kHoldAtSmallest) {}

TeamStage& TeamPartitions::MakeStage(int partition) {
  const auto p = static_cast<size_t>(partition);
  if (p >= stages_.size()) {
    stages_.resize(p + 1);
    global_.resize(p + 1);
    at_boundary_.resize(p + 1, 0);
    limit_.resize(p + 1, INT64_MIN);
  }
  CCPULSE_CHECK(stages_[p] == nullptr, "a partition's stage is made once while it is read");
  stages_[p] = std::make_unique<TeamStage>(&options_, &channels_, static_cast<uint32_t>(partition * channel_count_));
  global_[p].clear();
  for (const auto& [tenant, team, profile] : profiles_) stages_[p]->SetTeamProfile(tenant, team, profile);
  return *stages_[p];
}

void TeamPartitions::Assign(int partition, int64_t now_ms) {
  const auto p = static_cast<size_t>(partition);
  if (p >= stages_.size() || stages_[p] == nullptr) {
    // What its channels send for slices every other stage has applied is late, as it would be
    // in one stage (stages at different places: the one furthest behind counts).
    int64_t start = INT64_MAX;
    for (const auto& other : stages_) {
      if (other && other->end_slice() != INT64_MIN) start = std::min(start, other->end_slice());
    }
    TeamStage& stage = MakeStage(partition);
    if (start != INT64_MAX) stage.StartAt(start);
  }
  for (int c = 0; c < channel_count_; ++c) stages_[p]->AssignChannel(static_cast<uint32_t>(c), now_ms);
}

void TeamPartitions::Remove(int partition) {
  const auto p = static_cast<size_t>(partition);
  if (p >= stages_.size() || stages_[p] == nullptr) return;
  TeamStage& stage = *stages_[p];
  for (const drift::AlertState& a : stage.OpenAlerts()) handed_over_.push_back(a.key);
  dropped_counters_ += stage.feed_counters();
  for (int c = 0; c < channel_count_; ++c) channels_.Remove(partition * channel_count_ + c);
  for (TeamIndex g : global_[p]) refs_[g].partition = -1;
  held_ -= global_[p].size();
  ++version_;
  global_[p].clear();
  stages_[p].reset();
  ordered_stale_ = true;
  // The windows' end is the furthest of the stages left here (if any are).
  int64_t furthest = INT64_MIN;
  for (const auto& s : stages_) {
    if (s) furthest = std::max(furthest, s->end_slice());
  }
  if (furthest != INT64_MIN) end_ = furthest;
}

void TeamPartitions::OnFeed(const TeamFeed& feed, int partition, int64_t now_ms) {
  const auto p = static_cast<size_t>(partition);
  if (p >= stages_.size() || stages_[p] == nullptr) Assign(partition, now_ms);
  stages_[p]->OnFeed(feed, now_ms);
  if (stages_[p]->team_count() != global_[p].size()) AddNewTeams(partition);
}

void TeamPartitions::AddNewTeams(int partition) {
  const auto p = static_cast<size_t>(partition);
  for (auto local = static_cast<TeamIndex>(global_[p].size()); local < stages_[p]->team_count(); ++local) {
    // A team seen before (its partition came back) keeps its number, so what is kept per number
    // (the snapshot's history) does not grow with every rebalance. (One still held by another
    // stage, after the partition count changed, gets a new one.)
    const TeamState& t = stages_[p]->team(local);
    TeamRegistry::Key(t.tenant, t.team, &key_buffer_);
    auto it = index_of_.find(key_buffer_);
    TeamIndex index = 0;
    if (it != index_of_.end() && refs_[it->second].partition < 0) {
      index = it->second;
    } else {
      index = static_cast<TeamIndex>(refs_.size());
      refs_.emplace_back();
      index_of_[key_buffer_] = index;
    }
    refs_[index] = {partition, local};
    global_[p].push_back(index);
    ++held_;
  }
  ++version_;
  ordered_stale_ = true;
}

void TeamPartitions::Advance(int64_t now_ms, int64_t every_ms, const TeamStage::BoundaryFn& on_boundary) {
  const int64_t wm = channels_.Advance(now_ms);
  if (wm != window::WatermarkTracker::kNoWatermark) DeliverUntil(slices_.SliceOf(wm), now_ms, every_ms, on_boundary);
}

TimeMs TeamPartitions::Finish(int64_t every_ms, const TeamStage::BoundaryFn& on_boundary) {
  const int64_t wm = channels_.AdvanceToEnd();
  if (wm != window::WatermarkTracker::kNoWatermark) {
    DeliverUntil(slices_.SliceOf(wm), std::nullopt, every_ms, on_boundary);
  }
  return windows_end();
}

void TeamPartitions::DeliverUntil(int64_t target_end, std::optional<int64_t> now_ms, int64_t every_ms,
                                  const TeamStage::BoundaryFn& on_boundary) {
  if (end_ == INT64_MIN) {
    // Nothing applied or restored yet: the windows start at the first slice queued.
    int64_t first = INT64_MAX;
    for (const auto& stage : stages_) {
      if (stage) first = std::min(first, stage->first_queued_slice());
    }
    if (first == INT64_MAX) return;
    end_ = std::min(first, target_end);
  }
  // Where each stage may go: the shared target, and no further than its own live channels.
  bool any = false;
  for (size_t p = 0; p < stages_.size(); ++p) {
    limit_[p] = INT64_MIN;
    TeamStage* stage = stages_[p].get();
    if (stage == nullptr) continue;
    // Restored before anything was applied: from its first slice queued, or where the others are.
    if (stage->end_slice() == INT64_MIN) stage->StartAt(std::min(end_, stage->first_queued_slice()));
    if (stage->end_slice() >= target_end) continue;
    int64_t limit = target_end;
    if (now_ms) {
      const int64_t live = channels_.LiveMinimum(static_cast<int>(p) * channel_count_, channel_count_, *now_ms);
      if (live == window::WatermarkTracker::kNoWatermark) continue;
      if (live != INT64_MAX) limit = std::min(limit, slices_.SliceOf(live));
    }
    if (stage->end_slice() >= limit) continue;
    limit_[p] = limit;
    any = true;
  }
  if (!any) return;
  const int64_t every_slices = std::max<int64_t>(1, every_ms / options_.slice_ms);
  for (;;) {
    // The next step: the nearest boundary or limit of any stage that may move.
    int64_t next = INT64_MAX;
    for (size_t p = 0; p < stages_.size(); ++p) {
      const int64_t end = stages_[p] ? stages_[p]->end_slice() : 0;
      if (stages_[p] && end < limit_[p]) next = std::min({next, limit_[p], (end / every_slices + 1) * every_slices});
    }
    if (next == INT64_MAX) break;
    bool reached = false;
    for (size_t p = 0; p < stages_.size(); ++p) {
      if (!stages_[p] || stages_[p]->end_slice() >= next || limit_[p] < next) continue;
      stages_[p]->DeliverUntil(next, every_ms, nullptr);
      at_boundary_[p] = 1;
      reached = true;
    }
    end_ = std::max(end_, next);
    if (reached && next % every_slices == 0 && on_boundary) on_boundary(slices_.StartOf(next));
    std::fill(at_boundary_.begin(), at_boundary_.end(), 0);
  }
}

void TeamPartitions::SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile) {
  profiles_.emplace_back(std::string(tenant), std::string(team), profile);
  for (const auto& stage : stages_) {
    if (stage) stage->SetTeamProfile(tenant, team, profile);
  }
}

const std::vector<TeamIndex>& TeamPartitions::TeamsInOrder() {
  if (ordered_stale_) {
    ordered_.clear();
    for (TeamIndex i = 0; i < refs_.size(); ++i) {
      if (refs_[i].partition >= 0) ordered_.push_back(i);
    }
    std::sort(ordered_.begin(), ordered_.end(), [&](TeamIndex a, TeamIndex b) {
      const TeamState& x = team(a);
      const TeamState& y = team(b);
      return std::tie(x.tenant, x.team) < std::tie(y.tenant, y.team);
    });
    ordered_stale_ = false;
  }
  return ordered_;
}

std::vector<drift::DetectorInfo> TeamPartitions::Detectors(TeamIndex i) const {
  const drift::DriftMonitor* drift = StageOf(i).drift();
  if (drift == nullptr) return {};
  std::vector<drift::DetectorInfo> detectors = drift->Detectors(refs_[i].local, StageOf(i).windows_end());
  for (drift::DetectorInfo& d : detectors) d.team = i;
  return detectors;
}

uint64_t TeamPartitions::TotalOf(Kind kind) const {
  uint64_t total = 0;
  for (const auto& stage : stages_) {
    if (stage) total += stage->TotalOf(kind);
  }
  return total;
}

void TeamPartitions::AppendNumbered(size_t p, std::vector<drift::AlertState> alerts,
                                    std::vector<drift::AlertState>* out) const {
  for (drift::AlertState& a : alerts) {
    a.team = global_[p][a.team];
    out->push_back(std::move(a));
  }
}

std::vector<drift::AlertState> TeamPartitions::TakeAlertChanges() {
  std::vector<drift::AlertState> changes;
  for (size_t p = 0; p < stages_.size(); ++p) {
    if (stages_[p]) AppendNumbered(p, stages_[p]->TakeAlertChanges(), &changes);
  }
  // In event-time order across the stages.
  std::stable_sort(changes.begin(), changes.end(),
                   [](const drift::AlertState& a, const drift::AlertState& b) { return a.changed_at < b.changed_at; });
  return changes;
}

std::vector<drift::AlertState> TeamPartitions::OpenAlerts() const {
  std::vector<drift::AlertState> open;
  for (size_t p = 0; p < stages_.size(); ++p) {
    if (stages_[p]) AppendNumbered(p, stages_[p]->OpenAlerts(), &open);
  }
  return open;
}

TeamStage::FeedCounters TeamPartitions::feed_counters() const {
  TeamStage::FeedCounters sum = dropped_counters_;
  for (const auto& stage : stages_) {
    if (stage) sum += stage->feed_counters();
  }
  return sum;
}

std::vector<std::tuple<int, uint32_t, TimeMs>> TeamPartitions::ChannelEnds() const {
  std::vector<std::tuple<int, uint32_t, TimeMs>> ends;
  for (size_t p = 0; p < stages_.size(); ++p) {
    if (!stages_[p]) continue;
    for (const auto& [channel, end] : stages_[p]->ChannelEnds()) ends.emplace_back(static_cast<int>(p), channel, end);
  }
  return ends;
}

size_t TeamPartitions::teams_bytes() const {
  size_t bytes = refs_.capacity() * sizeof(Ref);
  for (const auto& stage : stages_) {
    if (stage) bytes += stage->teams_bytes();
  }
  return bytes;
}

size_t TeamPartitions::histogram_bytes() const {
  size_t bytes = 0;
  for (const auto& stage : stages_) {
    if (stage) bytes += stage->histogram_bytes();
  }
  return bytes;
}

size_t TeamPartitions::timeline_bytes() const {
  size_t bytes = 0;
  for (const auto& stage : stages_) {
    if (stage) bytes += stage->timeline_bytes();
  }
  return bytes;
}

void TeamPartitions::SavePartition(int partition, StateWriter& ar) const {
  CCPULSE_CHECK(reads(partition), "a partition's stage is saved while it is read here");
  stages_[static_cast<size_t>(partition)]->Save(ar);
}

void TeamPartitions::LoadPartition(int partition, StateReader& ar, int64_t now_ms) {
  if (partition < 0 || partition >= 1 << 20 || reads(partition)) {
    ar.Fail("team partition " + std::to_string(partition) + " is read here already or out of range");
    return;
  }
  const auto p = static_cast<size_t>(partition);
  TeamStage& stage = MakeStage(partition);
  stage.Load(ar, now_ms);  // its channels' ends go to the shared tracker, as seen now
  if (!ar.ok()) {
    for (int c = 0; c < channel_count_; ++c) channels_.Remove(partition * channel_count_ + c);
    stages_[p].reset();
    return;
  }
  if (stage.end_slice() != INT64_MIN) end_ = std::max(end_, stage.end_slice());
  Assign(partition, now_ms);  // a channel that has sent nothing yet holds it back, as before the save
  AddNewTeams(partition);
  AppendNumbered(p, stage.OpenAlerts(), &restored_);
}

void TeamPartitions::Save(StateWriter& ar) const {
  uint64_t count = 0;
  for (const auto& stage : stages_) count += stage != nullptr;
  ar(dropped_counters_, count);
  for (size_t p = 0; p < stages_.size(); ++p) {
    if (!stages_[p]) continue;
    ar(static_cast<uint32_t>(p));
    SavePartition(static_cast<int>(p), ar);
  }
}

void TeamPartitions::Load(StateReader& ar, int64_t now_ms) {
  CCPULSE_CHECK(refs_.empty() && end_ == INT64_MIN, "a team tier is loaded before it is fed");
  uint64_t count = 0;
  ar(dropped_counters_, count);
  for (uint64_t i = 0; i < count && ar.ok(); ++i) {
    uint32_t partition = 0;
    ar(partition);
    if (ar.ok()) LoadPartition(static_cast<int>(std::min<uint32_t>(partition, 1u << 20)), ar, now_ms);
  }
}

}  // namespace ccpulse::operators
