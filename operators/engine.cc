// The per-worker engine; see engine.h.
#include "operators/engine.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "operators/state_archive.h"
#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {

Engine::Engine(MetricOptions options) : Engine(std::move(options), Split{}) {}

Engine::Engine(MetricOptions options, Split split)
    : options_(std::move(options)), split_(std::move(split)), customers_(&options_), teams_(&options_) {
  CCPULSE_CHECK(split_.role != Split::Role::kTeams || split_.channels > 0, "a team engine has channels");
  if (split_.role == Split::Role::kCustomers) {
    CustomerPartitions::Options o;
    o.team_partitions = split_.team_partitions;
    o.channels_per_partition = split_.channels_per_partition;
    o.channel_of = split_.channel_of ? split_.channel_of : [](int p) { return static_cast<uint32_t>(p); };
    o.send = split_.send;
    customer_tier_ = std::make_unique<CustomerPartitions>(&options_, std::move(o));
  }
  if (split_.role == Split::Role::kTeams) tier_ = std::make_unique<TeamPartitions>(&options_, split_.channels);
}

absl::Status Engine::OnTeamFeed(std::string_view record, int partition, int64_t now_ms) {
  CCPULSE_CHECK(split_.role == Split::Role::kTeams, "only a team engine is fed records");
  absl::StatusOr<TeamFeed> feed = DecodeTeamFeed(record);
  if (!feed.ok()) return feed.status();
  if (feed->channel >= static_cast<uint32_t>(split_.channels)) {
    return absl::InvalidArgumentError(fmt::format(
        "team feed from channel {}, but the team stage expects channels 0..{} (kafka.team_stage.channels)",
        feed->channel, split_.channels - 1));
  }
  tier_->OnFeed(*feed, partition, now_ms);
  return absl::OkStatus();
}

std::vector<Engine::ChannelEnd> Engine::ChannelEnds() const {
  std::vector<ChannelEnd> ends;
  if (!tier_) return ends;
  for (const auto& [partition, channel, end] : tier_->ChannelEnds()) ends.push_back({partition, channel, end});
  return ends;
}

void Engine::AssignPartition(int partition, int64_t now_ms) {
  if (tier_) return tier_->Assign(partition, now_ms);
  if (customer_tier_) return customer_tier_->Assign(partition, now_ms);
  customers_.AssignPartition(partition, now_ms);
}

void Engine::RemovePartition(int partition) {
  if (tier_) return tier_->Remove(partition);
  if (customer_tier_) return customer_tier_->Remove(partition);
  customers_.RemovePartition(partition);
}

void Engine::ForEachCustomerStage(const std::function<void(const CustomerStage&)>& f) const {
  if (customer_tier_) return customer_tier_->ForEachStage(f);
  f(customers_);
}

Engine::Counters Engine::counters() const {
  return customer_tier_ ? customer_tier_->counters() : customers_.counters();
}

uint64_t Engine::redundant_transitions() const {
  return customer_tier_ ? customer_tier_->redundant_total() : customers_.interactions().redundant_total();
}

size_t Engine::interactions_held() const {
  size_t sum = 0;
  ForEachCustomerStage([&sum](const CustomerStage& stage) { sum += stage.interactions().size(); });
  return sum;
}

int64_t Engine::max_event_time() const {
  if (tier_) return tier_->max_event_time();
  int64_t largest = window::WatermarkTracker::kNoWatermark;
  ForEachCustomerStage([&largest](const CustomerStage& stage) { largest = std::max(largest, stage.max_event_time()); });
  return largest;
}

void Engine::AddNewTeams() {
  const TeamRegistry& seen = customers_.teams();
  for (TeamIndex i = static_cast<TeamIndex>(teams_.team_count()); i < seen.size(); ++i) {
    const TeamIndex index = teams_.InternTeam(seen.tenant(i), seen.team(i));
    CCPULSE_CHECK(index == i, "both stages add teams in the order the customer stage sees them");
  }
}

void Engine::Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary) {
  if (tier_) return tier_->Advance(now_ms, every_ms, on_boundary);
  if (customer_tier_) return customer_tier_->Advance(now_ms);
  const int64_t target_end = customers_.Advance(now_ms);
  if (target_end == INT64_MIN) return;
  DeliverUntil(target_end, every_ms, on_boundary);
}

TimeMs Engine::Finish(int64_t every_ms, const BoundaryFn& on_boundary) {
  if (tier_) return tier_->Finish(every_ms, on_boundary);
  if (customer_tier_) {
    customer_tier_->Finish();
    return 0;
  }
  const int64_t target_end = customers_.AdvanceToEnd();
  if (target_end == INT64_MIN) return 0;
  DeliverUntil(target_end, every_ms, on_boundary);
  return windows_end();
}

void Engine::DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary) {
  if (teams_.end_slice() == INT64_MIN) {
    const int64_t first = customers_.NextDataSlice();
    if (first == INT64_MAX) return;
    teams_.StartAt(std::min(first, target_end));
  }
  // Slice by slice, so that at every boundary the customer stage has delivered exactly the
  // slices the team stage has applied.
  for (int64_t slice = customers_.NextDataSlice(); slice < target_end; slice = customers_.NextDataSlice()) {
    teams_.DeliverUntil(slice, every_ms, on_boundary);
    customers_.DeliverSlice(slice, &delivered_);
    teams_.Feed(slice, delivered_);
    teams_.DeliverUntil(slice + 1, every_ms, on_boundary);
  }
  teams_.DeliverUntil(target_end, every_ms, on_boundary);
}

Engine::Memory Engine::MemoryUsage() const {
  Memory m;
  m.teams = tier_ ? tier_->teams_bytes() : teams_.teams_bytes();
  m.timeline = tier_ ? tier_->timeline_bytes() : teams_.timeline_bytes();
  ForEachCustomerStage([&m](const CustomerStage& stage) {
    m.teams += stage.teams().MemoryBytes();
    m.interactions += stage.interactions().MemoryBytes();
    m.repeat_contacts += stage.repeat_contacts().MemoryBytes();
    m.timeline += stage.timeline_bytes();
  });
  m.histograms = tier_ ? tier_->histogram_bytes() : teams_.histogram_bytes();
  return m;
}

namespace {

// 2: the customer stage's state, the team stage's, then where the team feed stands (a whole
// engine's: nowhere). 4: the same with TeamPartitions (a team stage per team partition) in place
// of the team stage, written by team engines only (so that a whole engine's state still reads
// in a build before it). 5: one team partition's stage, 6: one input partition's customer stage
// (SavePartitionState). 1 (before the stages) is still read, and 2 of a whole engine; 3
// (TeamPartitions before its stages moved) and 2 of a team or customer engine are not.
constexpr uint32_t kEngineStateVersion = 4;
constexpr uint32_t kPartitionStateVersion = 5;
constexpr uint32_t kCustomerPartitionStateVersion = 6;

// The options the saved state depends on: restoring under others would mix incompatible
// aggregates. (Thresholds, targets and drift tuning may change across a restart.)
std::string StateOptions(const MetricOptions& o, const Engine::Split& split) {
  std::vector<std::string> windows;
  for (int64_t w : o.windows_ms) windows.push_back(DurationLabel(w));
  std::vector<std::string> expiry;
  for (int64_t e : o.expiry_ms) expiry.push_back(DurationLabel(e));
  const std::string_view probe = "ccpulse-checkpoint";
  return fmt::format(
      "slice={} windows={} lateness={} retention={} expiry={} sl_threshold={} short_abandon={} "
      "repeat_window={} forward_gap={} fcr_same_reason={} drift={} customer_hash={:016x}",
      DurationLabel(o.slice_ms), fmt::join(windows, ","), DurationLabel(o.allowed_lateness_ms),
      DurationLabel(o.interaction_retention_ms), fmt::join(expiry, ","), DurationLabel(o.sl_threshold_ms),
      DurationLabel(o.short_abandon_ms), DurationLabel(o.repeat_window_ms), DurationLabel(o.forward_gap_ms),
      o.fcr_same_reason, o.drift.enabled, schemas::SipHash24(o.hash_key, probe)) +
         // A stage's state belongs to its role and channel (the whole engine's keeps its old form).
         (split.role == Engine::Split::Role::kCustomers ? fmt::format(" customer_partition team_partitions={}",
                                                                        split.team_partitions)
          : split.role == Engine::Split::Role::kTeams ? fmt::format(" team_stage channels={}", split.channels)
                                                       : std::string());
}

absl::Status OptionsMismatch(std::string_view saved, std::string_view now) {
  return absl::FailedPreconditionError(fmt::format(
      "the checkpoint was taken with other metric options ({}) than the config gives ({}); "
      "restore the old options, or move the checkpoints away to start from empty state",
      saved, now));
}

}  // namespace

void Engine::SaveState(std::string* out) const {
  CCPULSE_CHECK(!customer_tier_, "the customer tier saves its state per input partition");
  StateWriter ar(out);
  ar(tier_ ? kEngineStateVersion : uint32_t{2}, StateOptions(options_, split_));
  customers_.Save(ar);
  if (tier_) {
    tier_->Save(ar);
  } else {
    teams_.Save(ar);
  }
  ar(int64_t{INT64_MIN});  // where a customer engine's feed stood (version 2)
}

absl::Status Engine::RestoreState(std::string_view state, int64_t now_ms) {
  if (customer_tier_) {
    return absl::FailedPreconditionError(
        "the customer tier restores its state per input partition (engine state version 6); a customer "
        "instance's whole state is an earlier build's, which this build does not read: start the customer tier "
        "without its checkpoints (it continues from the committed offsets)");
  }
  if (customers_.teams().size() != 0 || team_count() != 0 || windows_end() != 0) {
    return absl::FailedPreconditionError("a checkpoint can only be restored into a fresh engine");
  }
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  if (ar.ok() && (version == kPartitionStateVersion || version == kCustomerPartitionStateVersion)) {
    return absl::FailedPreconditionError(fmt::format("engine state version {} is one partition's, not an engine's",
                                                     version));
  }
  if (ar.ok() && (version == 0 || version > kEngineStateVersion)) {
    return absl::InvalidArgumentError(
        fmt::format("engine state version {} is not one this build reads (1 to {})", version, kEngineStateVersion));
  }
  if (version == 1 && split_.role != Split::Role::kWhole) {
    return absl::FailedPreconditionError("engine state version 1 is a whole engine's, not a stage's");
  }
  if (ar.ok() && version >= 3 && !tier_) {
    return absl::FailedPreconditionError(
        fmt::format("engine state version {} is a team engine's, not a whole engine's", version));
  }
  if ((version == 2 || version == 3) && tier_) {
    return absl::FailedPreconditionError(fmt::format(
        "engine state version {} of the team tier is an earlier build's, which this build does not read; start "
        "the team tier without its checkpoints (its teams start from empty windows and baselines)",
        version));
  }
  if (ar.ok() && saved_options != StateOptions(options_, split_)) {
    return OptionsMismatch(saved_options, StateOptions(options_, split_));
  }
  if (version == 1) {
    RestoreVersion1(ar, now_ms);
  } else {
    customers_.Load(ar, now_ms);
    if (tier_) {
      tier_->Load(ar, now_ms);
    } else {
      teams_.Load(ar, now_ms);
    }
    int64_t sent_end = 0;  // a customer engine's, not read here
    ar(sent_end);
  }
  if (ar.ok() && !ar.at_end()) ar.Fail("bytes after the end of the state");
  if (ar.ok() && split_.role == Split::Role::kWhole && teams_.team_count() != customers_.teams().size()) {
    ar.Fail(fmt::format("the team stage has {} teams and the customer stage {}", teams_.team_count(),
                        customers_.teams().size()));
  }
  for (TeamIndex i = 0; ar.ok() && split_.role == Split::Role::kWhole && i < teams_.team_count(); ++i) {
    if (teams_.team(i).tenant != customers_.teams().tenant(i) || teams_.team(i).team != customers_.teams().team(i)) {
      ar.Fail(fmt::format("team {} is {}/{} in one stage and {}/{} in the other", i, teams_.team(i).tenant,
                          teams_.team(i).team, customers_.teams().tenant(i), customers_.teams().team(i)));
    }
  }
  if (!ar.ok()) return absl::DataLossError(ar.error());
  return absl::OkStatus();
}

void Engine::SavePartitionState(int partition, std::string* out) const {
  StateWriter ar(out);
  if (customer_tier_) {
    ar(kCustomerPartitionStateVersion, StateOptions(options_, split_));
    return customer_tier_->SavePartition(partition, ar);
  }
  CCPULSE_CHECK(tier_ != nullptr, "only a team or customer engine saves a partition");
  ar(kPartitionStateVersion, StateOptions(options_, split_));
  tier_->SavePartition(partition, ar);
}

absl::Status Engine::RestorePartitionState(int partition, std::string_view state, int64_t now_ms) {
  if (!tier_ && !customer_tier_) return absl::FailedPreconditionError("a whole engine restores no partition");
  if (reads_partition(partition)) {
    return absl::FailedPreconditionError(fmt::format("partition {} is read here already", partition));
  }
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  const uint32_t expected = tier_ ? kPartitionStateVersion : kCustomerPartitionStateVersion;
  if (ar.ok() && version != expected) {
    return absl::FailedPreconditionError(fmt::format("engine state version {} is not a{} partition's ({})", version,
                                                     tier_ ? " team" : "n input", expected));
  }
  if (ar.ok() && saved_options != StateOptions(options_, split_)) {
    return OptionsMismatch(saved_options, StateOptions(options_, split_));
  }
  // Either tier drops a stage that failed to load part-way.
  if (ar.ok() && tier_) tier_->LoadPartition(partition, ar, now_ms);
  if (ar.ok() && customer_tier_) customer_tier_->LoadPartition(partition, ar, now_ms);
  if (ar.ok() && !ar.at_end()) {
    ar.Fail("bytes after the end of the state");
    // A stage that loaded must not stay. (A team stage's alerts, handed over here, are then
    // retired right after they were restored.)
    if (tier_) tier_->Remove(partition);
    if (customer_tier_) customer_tier_->Drop(partition);
  }
  return ar.ok() ? absl::OkStatus() : absl::DataLossError(ar.error());
}

void Engine::RestoreVersion1(StateReader& ar, int64_t now_ms) {
  uint64_t team_count = 0;
  ar(customers_.watermark_, teams_.histogram_pool_, team_count);
  for (uint64_t i = 0; i < team_count && ar.ok(); ++i) {
    std::string tenant, team;
    ar(tenant, team);
    if (!ar.ok()) break;
    const TeamIndex index = teams_.InternTeam(tenant, team);
    if (index != i || !customers_.teams_.Intern(tenant, team).second) {
      ar.Fail(fmt::format("team {}/{} appears twice", tenant, team));
    }
    ar(*teams_.teams_[index]);
  }
  ar(customers_.interactions_, customers_.fcr_, customers_.timeline_, customers_.end_, customers_.counters_,
     teams_.alert_changes_);
  if (teams_.drift_) teams_.drift_->Load(ar);
  // One end then: every slice before it was delivered and applied.
  teams_.end_ = customers_.end_;
  customers_.watermark_.Resume(now_ms);
}

}  // namespace ccpulse::operators
