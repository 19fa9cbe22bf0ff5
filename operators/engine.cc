// The per-worker engine; see engine.h.
#include "operators/engine.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "operators/state_archive.h"
#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {

Engine::Engine(MetricOptions options)
    : options_(std::move(options)), customers_(&options_), teams_(&options_) {}

void Engine::AddNewTeams() {
  const TeamRegistry& seen = customers_.teams();
  for (TeamIndex i = static_cast<TeamIndex>(teams_.team_count()); i < seen.size(); ++i) {
    const TeamIndex index = teams_.InternTeam(seen.tenant(i), seen.team(i));
    CCPULSE_CHECK(index == i, "both stages add teams in the order the customer stage sees them");
  }
}

void Engine::Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t target_end = customers_.Advance(now_ms);
  if (target_end != INT64_MIN) DeliverUntil(target_end, every_ms, on_boundary);
}

TimeMs Engine::Finish(int64_t every_ms, const BoundaryFn& on_boundary) {
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
  m.teams = teams_.teams_bytes() + customers_.teams().MemoryBytes();
  m.interactions = customers_.interactions().MemoryBytes();
  m.repeat_contacts = customers_.repeat_contacts().MemoryBytes();
  m.timeline = customers_.timeline_bytes() + teams_.timeline_bytes();
  m.histograms = teams_.histogram_bytes();
  return m;
}

namespace {

// 2: the customer stage's state, then the team stage's. 1 (before the stages) is still read.
constexpr uint32_t kEngineStateVersion = 2;

// The options the saved state depends on: restoring under others would mix incompatible
// aggregates. (Thresholds, targets and drift tuning may change across a restart.)
std::string StateOptions(const MetricOptions& o) {
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
      o.fcr_same_reason, o.drift.enabled, schemas::SipHash24(o.hash_key, probe));
}

}  // namespace

void Engine::SaveState(std::string* out) const {
  StateWriter ar(out);
  ar(kEngineStateVersion, StateOptions(options_));
  customers_.Save(ar);
  teams_.Save(ar);
}

absl::Status Engine::RestoreState(std::string_view state, int64_t now_ms) {
  if (customers_.teams().size() != 0 || teams_.end_slice() != INT64_MIN) {
    return absl::FailedPreconditionError("a checkpoint can only be restored into a fresh engine");
  }
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  if (ar.ok() && version != kEngineStateVersion && version != 1) {
    return absl::InvalidArgumentError(
        fmt::format("engine state version {} is not the one this build reads ({})", version, kEngineStateVersion));
  }
  if (ar.ok() && saved_options != StateOptions(options_)) {
    return absl::FailedPreconditionError(fmt::format(
        "the checkpoint was taken with other metric options ({}) than the config gives ({}); "
        "restore the old options, or move the checkpoints away to start from empty state",
        saved_options, StateOptions(options_)));
  }
  if (version == 1) {
    RestoreVersion1(ar, now_ms);
  } else {
    customers_.Load(ar, now_ms);
    teams_.Load(ar, now_ms);
  }
  if (ar.ok() && !ar.at_end()) ar.Fail("bytes after the end of the state");
  if (ar.ok() && teams_.team_count() != customers_.teams().size()) {
    ar.Fail(fmt::format("the team stage has {} teams and the customer stage {}", teams_.team_count(),
                        customers_.teams().size()));
  }
  for (TeamIndex i = 0; ar.ok() && i < teams_.team_count(); ++i) {
    if (teams_.team(i).tenant != customers_.teams().tenant(i) || teams_.team(i).team != customers_.teams().team(i)) {
      ar.Fail(fmt::format("team {} is {}/{} in one stage and {}/{} in the other", i, teams_.team(i).tenant,
                          teams_.team(i).team, customers_.teams().tenant(i), customers_.teams().team(i)));
    }
  }
  if (!ar.ok()) return absl::DataLossError(ar.error());
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
