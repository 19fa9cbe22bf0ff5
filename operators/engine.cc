// The per-worker engine; see engine.h.
#include "operators/engine.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "operators/state_archive.h"
#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {
namespace {

// Contributions of one team partition in one team feed record (~700 kB at most).
constexpr size_t kMaxFeedContributions = 16384;
// A customer engine whose watermark stands still says so this often (wall clock) for as long as
// it owns partitions: the team stages then wait for it (only it can move its slices' end; a
// quiet partition inside one engine is carried along by the others), rather than go on and
// drop what it sends later as late (its expiries and repeat-window verdicts). One that stops
// (crashed, or owning nothing) idles out there after idle_partition.
constexpr int64_t kFeedHeartbeatMs = 1000;

}  // namespace

Engine::Engine(MetricOptions options) : Engine(std::move(options), Split{}) {}

Engine::Engine(MetricOptions options, Split split)
    : options_(std::move(options)), split_(std::move(split)), customers_(&options_), teams_(&options_) {
  CCPULSE_CHECK(split_.role != Split::Role::kTeams || split_.channels > 0, "a team engine has channels");
  if (split_.role == Split::Role::kCustomers) {
    CCPULSE_CHECK(split_.send != nullptr, "a customer engine sends its slices somewhere");
    feed_ = std::make_unique<TeamFeedWriter>(split_.channel, split_.team_partitions);
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
  if (!tier_) return customers_.AssignPartition(partition, now_ms);
  tier_->Assign(partition, now_ms);
}

void Engine::RemovePartition(int partition) {
  if (!tier_) return customers_.RemovePartition(partition);
  tier_->Remove(partition);
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
  const int64_t target_end = customers_.Advance(now_ms);
  if (split_.role == Split::Role::kCustomers) {
    if (target_end != INT64_MIN && target_end > sent_end_) {
      SendUntil(target_end);
      last_send_ms_ = now_ms;
    } else if (sent_end_ != INT64_MIN && now_ms - last_send_ms_ >= kFeedHeartbeatMs && customers_.owns_partitions()) {
      SendRecords(sent_end_);  // nothing new: an empty range at the end
      last_send_ms_ = now_ms;
    }
    return;
  }
  if (target_end == INT64_MIN) return;
  DeliverUntil(target_end, every_ms, on_boundary);
}

TimeMs Engine::Finish(int64_t every_ms, const BoundaryFn& on_boundary) {
  if (tier_) return tier_->Finish(every_ms, on_boundary);
  const int64_t target_end = customers_.AdvanceToEnd();
  if (target_end == INT64_MIN) return 0;
  if (split_.role == Split::Role::kCustomers) {
    SendUntil(target_end);
    return 0;
  }
  DeliverUntil(target_end, every_ms, on_boundary);
  return windows_end();
}

void Engine::SendUntil(int64_t target_end) {
  if (target_end <= sent_end_) return;
  for (int64_t slice = customers_.NextDataSlice(); slice < target_end; slice = customers_.NextDataSlice()) {
    customers_.DeliverSlice(slice, &delivered_);
    feed_->Add(slice, delivered_, customers_.teams());
    // A catch-up over many slices goes out in records the broker takes (~700 kB at most).
    if (feed_->largest_pending() >= kMaxFeedContributions) SendRecords(slice + 1);
  }
  SendRecords(target_end);
}

void Engine::Pause() {
  if (split_.role == Split::Role::kCustomers && sent_end_ != INT64_MIN) SendRecords(sent_end_, /*pause=*/true);
}

void Engine::SendRecords(int64_t end, bool pause) {
  feed_->Flush(end, customers_.teams(), &records_, pause);
  for (size_t p = 0; p < records_.size(); ++p) split_.send(static_cast<int>(p), records_[p]);
  sent_end_ = end;
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
  m.teams = (tier_ ? tier_->teams_bytes() : teams_.teams_bytes()) + customers_.teams().MemoryBytes();
  m.interactions = customers_.interactions().MemoryBytes();
  m.repeat_contacts = customers_.repeat_contacts().MemoryBytes();
  m.timeline = customers_.timeline_bytes() + (tier_ ? tier_->timeline_bytes() : teams_.timeline_bytes());
  m.histograms = tier_ ? tier_->histogram_bytes() : teams_.histogram_bytes();
  return m;
}

namespace {

// 2: the customer stage's state, the team stage's, then where the team feed stands. 4: the same
// with TeamPartitions (a team stage per team partition) in place of the team stage, written by
// team engines only (so that a whole or customer engine's state still reads in a build before
// it). 5: one team partition's stage (SavePartitionState). 1 (before the stages) is still read,
// and 2 but for a team engine's; 3 (TeamPartitions before its stages moved) is not.
constexpr uint32_t kEngineStateVersion = 4;
constexpr uint32_t kPartitionStateVersion = 5;

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
         (split.role == Engine::Split::Role::kCustomers ? fmt::format(" customer_stage={}/{}", split.channel,
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
  StateWriter ar(out);
  ar(tier_ ? kEngineStateVersion : uint32_t{2}, StateOptions(options_, split_));
  customers_.Save(ar);
  if (tier_) {
    tier_->Save(ar);
  } else {
    teams_.Save(ar);
  }
  ar(sent_end_);
}

absl::Status Engine::RestoreState(std::string_view state, int64_t now_ms) {
  if (customers_.teams().size() != 0 || team_count() != 0 || windows_end() != 0) {
    return absl::FailedPreconditionError("a checkpoint can only be restored into a fresh engine");
  }
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  if (ar.ok() && version == kPartitionStateVersion) {
    return absl::FailedPreconditionError("engine state version 5 is one team partition's, not an engine's");
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
        fmt::format("engine state version {} is a team engine's, not a whole or customer engine's", version));
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
    ar(sent_end_);
    // The next record continues the last one sent before the checkpoint.
    if (feed_ && sent_end_ != INT64_MIN) feed_->ResumeAt(sent_end_);
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
  CCPULSE_CHECK(tier_ != nullptr, "only a team engine saves a team partition");
  StateWriter ar(out);
  ar(kPartitionStateVersion, StateOptions(options_, split_));
  tier_->SavePartition(partition, ar);
}

absl::Status Engine::RestorePartitionState(int partition, std::string_view state, int64_t now_ms) {
  if (!tier_) return absl::FailedPreconditionError("only a team engine restores a team partition");
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  if (ar.ok() && version != kPartitionStateVersion) {
    return absl::FailedPreconditionError(
        fmt::format("engine state version {} is not a team partition's ({})", version, kPartitionStateVersion));
  }
  if (ar.ok() && saved_options != StateOptions(options_, split_)) {
    return OptionsMismatch(saved_options, StateOptions(options_, split_));
  }
  const bool read_before = tier_->reads(partition);
  if (ar.ok()) tier_->LoadPartition(partition, ar, now_ms);
  if (ar.ok() && !ar.at_end()) ar.Fail("bytes after the end of the state");
  if (!ar.ok()) {
    // A stage that failed part-way must not stay: drop what LoadPartition kept.
    // (Its alerts, handed over here, are then retired right after they were restored.)
    if (!read_before && tier_->reads(partition)) tier_->Remove(partition);
    return absl::DataLossError(ar.error());
  }
  return absl::OkStatus();
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
