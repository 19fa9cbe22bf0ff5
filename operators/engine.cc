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

size_t ExportBucket(uint32_t value_ms) {
  const double seconds = static_cast<double>(value_ms) / 1000.0;
  return static_cast<size_t>(
      std::lower_bound(kExportBucketsSeconds.begin(), kExportBucketsSeconds.end(), seconds) -
      kExportBucketsSeconds.begin());
}

}  // namespace

size_t TeamState::MemoryBytes() const {
  // The team's histogram blocks live in the engine's pool and are counted there.
  return sizeof(TeamState) + tenant.capacity() + team.capacity() + windows.HeapBytes() +
         waiting_since.capacity() * sizeof(waiting_since[0]);
}

Engine::Engine(MetricOptions options)
    : options_(std::move(options)),
      slices_(options_.slice_ms),
      watermark_(options_.allowed_lateness_ms, options_.idle_partition_ms),
      histogram_pool_(static_cast<int>(options_.windows_ms.size()) + 1),
      interactions_(&options_),
      fcr_(&options_) {
  for (int64_t w : options_.windows_ms) window_slices_.push_back(w / options_.slice_ms);
  if (options_.drift.enabled) {
    drift::DriftOptions drift = options_.drift;
    drift.backlog_floor_s = static_cast<double>(options_.sl_threshold_ms) / 1000.0;
    drift_ = std::make_unique<drift::DriftMonitor>(drift);
  }
}

void Engine::SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile) {
  key_buffer_.assign(tenant);
  key_buffer_.push_back('\x1f');
  key_buffer_.append(team);
  profiles_[key_buffer_] = profile;
  auto it = team_index_.find(key_buffer_);
  if (it != team_index_.end()) ApplyProfile(it->second, profile);
}

void Engine::ApplyProfile(TeamIndex index, const TeamProfile& profile) {
  teams_[index]->sl_target = profile.sl_target;
  if (!drift_) return;
  if (profile.zone) drift_->SetTeamZone(index, *profile.zone);
  for (int m = 0; m < drift::kProportionCount; ++m) {
    if (profile.baseline_rates[m] >= 0) {
      drift_->Seed(index, static_cast<drift::Metric>(m), profile.baseline_rates[m], profile.baseline_contacts);
    }
  }
}

std::vector<drift::AlertState> Engine::TakeAlertChanges() {
  std::vector<drift::AlertState> out;
  out.swap(alert_changes_);
  return out;
}

std::vector<drift::AlertState> Engine::OpenAlerts() const {
  return drift_ ? drift_->OpenAlerts() : std::vector<drift::AlertState>{};
}

TeamIndex Engine::InternTeam(std::string_view tenant, std::string_view team) {
  key_buffer_.assign(tenant);
  key_buffer_.push_back('\x1f');
  key_buffer_.append(team);
  auto it = team_index_.find(key_buffer_);
  if (it != team_index_.end()) return it->second;

  const std::string tenant_name(tenant);
  auto [tenant_it, new_tenant] = tenant_index_.try_emplace(tenant_name, tenant_days_.size());
  if (new_tenant) {
    absl::TimeZone zone = absl::UTCTimeZone();
    auto zone_it = options_.tenant_time_zones.find(tenant_name);
    if (zone_it != options_.tenant_time_zones.end()) absl::LoadTimeZone(zone_it->second, &zone);
    tenant_days_.emplace_back(zone);
  }
  auto state = std::make_unique<TeamState>(
      tenant_name, std::string(team), tenant_it->second,
      window::SlidingWindows<TeamWindows>(
          window_slices_, TeamWindows(static_cast<int>(today_slot()) + 1, &histogram_pool_)));
  const TeamIndex index = static_cast<TeamIndex>(teams_.size());
  teams_.push_back(std::move(state));
  team_index_.emplace(key_buffer_, index);
  if (drift_) drift_->SetTeamKey(index, tenant, team);
  if (auto profile = profiles_.find(key_buffer_); profile != profiles_.end()) ApplyProfile(index, profile->second);
  return index;
}

Engine::Accepted Engine::OnEvent(const schemas::Event& event, int64_t now_ms) {
  if (watermark_.IsLate(event.time_ms)) {
    ++counters_.late;
    return Accepted::kLate;
  }
  const schemas::HashKey& key = options_.hash_key;
  InteractionEvent e;
  e.time = event.time_ms;
  e.type = event.type;
  e.channel = event.channel;
  e.team = InternTeam(event.tenant, event.team);
  e.event_key = schemas::SipHash24(key, event.event_id);
  if (!event.customer_id.empty()) {
    uint64_t customer = schemas::SipHash24Pair(key, event.tenant, event.customer_id);
    if (options_.fcr_same_reason) {
      const std::string_view bytes(reinterpret_cast<const char*>(&customer), sizeof(customer));
      customer = schemas::SipHash24Pair(key, bytes, event.reason);
    }
    e.customer = customer == 0 ? 1 : customer;
  }
  const uint64_t interaction = schemas::SipHash24Pair(key, event.tenant, event.interaction_id);

  diff_.clear();
  switch (interactions_.Apply(interaction, e, &diff_)) {
    case InteractionTable::Outcome::kDuplicateId:
      ++counters_.duplicate_ids;
      return Accepted::kDuplicate;
    case InteractionTable::Outcome::kTooManyEvents:
      ++counters_.too_many_events;
      return Accepted::kTooManyEvents;
    case InteractionTable::Outcome::kApplied:
      break;
  }
  for (const Contribution& c : diff_) timeline_.Insert(slices_.SliceOf(c.time), c);
  watermark_.Observe(event.position.partition, event.time_ms, now_ms);
  ++counters_.applied;
  return Accepted::kApplied;
}

void Engine::Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t wm = watermark_.Advance(now_ms);
  if (wm == window::WatermarkTracker::kNoWatermark) return;
  DeliverUntil(slices_.SliceOf(wm), every_ms, on_boundary);
}

TimeMs Engine::Finish(int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t wm = watermark_.AdvanceToEnd();
  if (wm == window::WatermarkTracker::kNoWatermark) return 0;
  DeliverUntil(slices_.SliceOf(wm) + 1, every_ms, on_boundary);
  return windows_end();
}

void Engine::DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t every_slices = std::max<int64_t>(1, every_ms / options_.slice_ms);
  const int64_t minute_slices = std::max<int64_t>(1, kMinuteMs / options_.slice_ms);
  if (end_ == INT64_MIN) {
    const int64_t first = std::min(timeline_.FirstSlice(), interactions_.NextEvictionSlice());
    if (first == INT64_MAX) return;
    end_ = std::min(first, target_end);
  }
  while (end_ < target_end) {
    int64_t next_data = std::min(timeline_.FirstSlice(), interactions_.NextEvictionSlice());
    const TimeMs verdict = fcr_.NextVerdictTime();
    if (verdict != INT64_MAX) next_data = std::min(next_data, slices_.SliceOf(verdict));
    CCPULSE_CHECK(next_data >= end_, "contributions are only ever added at or after the watermark");
    if (next_data == end_) {
      DeliverSlice(end_);
      ++end_;
    } else {
      int64_t next_boundary = (end_ / every_slices + 1) * every_slices;
      if (drift_) next_boundary = std::min(next_boundary, (end_ / minute_slices + 1) * minute_slices);
      end_ = std::min({next_data, next_boundary, target_end});
    }
    if (drift_ && end_ % minute_slices == 0) DriftMinute(slices_.StartOf(end_));
    if (on_boundary && end_ % every_slices == 0) on_boundary(slices_.StartOf(end_));
  }
}

void Engine::DeliverSlice(int64_t slice) {
  slice_records_.clear();
  if (timeline_.FirstSlice() == slice) timeline_.TakeFirstBefore(slice + 1, &slice_records_);
  interactions_.EvictDue(slice, &slice_records_);
  fcr_.TakeVerdicts(slices_.StartOf(slice + 1), &slice_records_);

  // A retraction (-1) always has its contribution (+1) in the same slice: cancel the pairs.
  retractions_.clear();
  for (const Contribution& c : slice_records_) {
    if (c.sign > 0) continue;
    Contribution key = c;
    key.sign = 1;
    ++retractions_[key];
  }
  // Windowed counts, sums and backlog gauges commute, so they are applied in arrival order;
  // repeat-contact facts depend on event-time order and are sorted first. Backlog starts go
  // before ends so that an interaction queued and answered in one slice is added, then removed.
  repeat_facts_.clear();
  for (int pass = 0; pass < 2; ++pass) {
    for (Contribution& c : slice_records_) {
      if (c.sign < 0) continue;
      if (pass == 0 && !retractions_.empty()) {
        auto it = retractions_.find(c);
        if (it != retractions_.end() && it->second > 0) {
          --it->second;
          c.sign = 0;  // cancelled; skipped in pass 1
          continue;
        }
      }
      if (c.sign == 0) continue;
      const bool end_kind = c.kind == Kind::kWaitEnd || c.kind == Kind::kWorkEnd;
      if (c.kind >= Kind::kContactStart) {
        if (pass == 0) repeat_facts_.push_back(c);
      } else if (end_kind == (pass == 1)) {
        DeliverCommutative(c, slice);
      }
    }
  }
  for (const auto& [key, left] : retractions_) {
    CCPULSE_CHECK(left == 0, "a retraction always follows the contribution it takes back");
  }
  std::sort(repeat_facts_.begin(), repeat_facts_.end());
  for (const Contribution& c : repeat_facts_) DeliverRepeatFact(c);
  if (drift_) FeedDrift();
}

void Engine::FeedDrift() {
  // CUSUM paths depend on order: sort so every arrival order gives the same alerts.
  std::sort(drift_observations_.begin(), drift_observations_.end());
  using drift::Metric;
  for (const Contribution& c : drift_observations_) {
    switch (c.kind) {
      case Kind::kResolved:
      case Kind::kClosed:
      case Kind::kTransferred:
      case Kind::kEscalated:
        drift_->OnOutcome(c.team, Metric::kEscalation, c.kind == Kind::kEscalated, c.time);
        drift_->OnOutcome(c.team, Metric::kTransfer, c.kind == Kind::kTransferred, c.time);
        break;
      case Kind::kWait:
        drift_->OnOutcome(c.team, Metric::kAbandon, false, c.time);
        drift_->OnOutcome(c.team, Metric::kServiceLevelMiss, c.value > options_.sl_threshold_ms, c.time);
        drift_->OnDuration(c.team, Metric::kWaitTime, c.value, c.time);
        break;
      case Kind::kAbandoned:
        drift_->OnOutcome(c.team, Metric::kAbandon, true, c.time);
        drift_->OnOutcome(c.team, Metric::kServiceLevelMiss, true, c.time);
        break;
      case Kind::kHandle:
        drift_->OnDuration(c.team, Metric::kHandleTime, c.value, c.time);
        break;
      case Kind::kFcrConfirmed:
      case Kind::kFcrFailed:
        drift_->OnOutcome(c.team, Metric::kFcrFailure, c.kind == Kind::kFcrFailed, c.time);
        break;
      default:
        break;
    }
  }
  drift_observations_.clear();
  for (drift::AlertState& a : drift_->TakeChanges()) alert_changes_.push_back(a);
}

void Engine::DriftMinute(TimeMs minute) {
  oldest_waits_.clear();
  for (TeamIndex i = 0; i < teams_.size(); ++i) {
    const TeamState& team = *teams_[i];
    if (team.backlog.waiting > 0 && team.backlog.oldest_wait_start) {
      oldest_waits_.emplace_back(i, static_cast<double>(minute - *team.backlog.oldest_wait_start) / 1000.0);
    }
  }
  drift_->OnMinute(minute, oldest_waits_);
  for (drift::AlertState& a : drift_->TakeChanges()) alert_changes_.push_back(a);
}

void Engine::RollToday(TeamState& team, TimeMs time) {
  const int64_t day = DaysOf(team).DayOf(time);
  if (day != team.today_day) {
    team.windows.agg().ClearSlot(today_slot());
    team.today_day = day;
  }
}

void Engine::AddWindowed(TeamIndex index, int64_t slice, Kind kind, uint32_t value) {
  TeamState& team = *teams_[index];
  const uint8_t k = static_cast<uint8_t>(kind);
  team.windows.Add(slice, k, value);
  RollToday(team, slices_.StartOf(slice));
  team.windows.agg().Apply(today_slot(), k, value, +1);
  if (kind < Kind::kCounterKinds) {
    if (kind != Kind::kFcrProvisional) ++team.totals.counts[k];
  } else if (kind == Kind::kWait) {
    team.totals.wait_ms += value;
    ++team.totals.wait_buckets[ExportBucket(value)];
  } else if (kind == Kind::kHandle) {
    team.totals.handle_ms += value;
    ++team.totals.handle_buckets[ExportBucket(value)];
  }
}

void Engine::RetractWindowed(TeamIndex index, int64_t slice, Kind kind, uint32_t value) {
  TeamState& team = *teams_[index];
  team.windows.Retract(slice, static_cast<uint8_t>(kind), value);
  if (team.today_day == DaysOf(team).DayOf(slices_.StartOf(slice))) {
    team.windows.agg().Apply(today_slot(), static_cast<uint8_t>(kind), value, -1);
  }
}

void Engine::ApplyEffects() {
  for (const Contribution& e : effects_) {
    if (e.sign < 0) {
      RetractWindowed(e.team, slices_.SliceOf(e.time), e.kind, e.value);
    } else {
      AddWindowed(e.team, slices_.SliceOf(e.time), e.kind, e.value);
    }
  }
  effects_.clear();
}

void Engine::DeliverCommutative(const Contribution& c, int64_t slice) {
  if (IsWindowed(c.kind)) {
    AddWindowed(c.team, slice, c.kind, c.value);
    if (drift_) drift_observations_.push_back(c);
    return;
  }
  TeamState& team = *teams_[c.team];
  switch (c.kind) {
    case Kind::kWaitStart: {
      ++team.backlog.waiting;
      const auto entry = std::make_pair(c.time, c.aux);
      team.waiting_since.insert(
          std::upper_bound(team.waiting_since.begin(), team.waiting_since.end(), entry), entry);
      break;
    }
    case Kind::kWaitEnd: {
      --team.backlog.waiting;
      auto it = std::find_if(team.waiting_since.begin(), team.waiting_since.end(),
                             [&](const auto& w) { return w.second == c.aux; });
      if (it != team.waiting_since.end()) team.waiting_since.erase(it);
      break;
    }
    case Kind::kWorkStart: ++team.backlog.in_progress; break;
    case Kind::kWorkEnd: --team.backlog.in_progress; break;
    default: break;
  }
  team.backlog.oldest_wait_start.reset();
  if (!team.waiting_since.empty()) team.backlog.oldest_wait_start = team.waiting_since.front().first;
}

void Engine::DeliverRepeatFact(const Contribution& c) {
  switch (c.kind) {
    case Kind::kContactStart: fcr_.OnContactStart(c, &effects_); break;
    case Kind::kContactEnd: fcr_.OnContactEnd(c); break;
    case Kind::kContactReopen: fcr_.OnContactReopen(c, &effects_); break;
    default: break;
  }
  ApplyEffects();
}

TeamMetrics Engine::WindowMetrics(TeamIndex i, size_t w) {
  TeamState& team = *teams_[i];
  team.windows.AdvanceTo(end_);
  return ComputeMetrics(team.windows.agg(), w, options_.windows_ms[w], team.backlog, windows_end(),
                        options_, team.sl_target);
}

TeamMetrics Engine::TodayMetrics(TeamIndex i) {
  TeamState& team = *teams_[i];
  const TimeMs at = windows_end();
  window::LocalDays& days = DaysOf(team);
  const int64_t day = days.DayOf(at - 1);
  const int64_t elapsed = at - days.StartOf(at - 1);
  if (team.today_day != day) {
    team.windows.agg().ClearSlot(today_slot());
    team.today_day = day;
  }
  return ComputeMetrics(team.windows.agg(), today_slot(), elapsed, team.backlog, at, options_, team.sl_target);
}

bool Engine::HasActivity(TeamIndex i) {
  TeamState& team = *teams_[i];
  team.windows.AdvanceTo(end_);
  if (team.backlog.waiting != 0 || team.backlog.in_progress != 0) return true;
  const TeamWindows& agg = team.windows.agg();
  for (size_t w = 0; w < window_slices_.size(); ++w) {
    if (!agg.Empty(w)) return true;
  }
  const TimeMs at = windows_end();
  return team.today_day == DaysOf(team).DayOf(at - 1) && !agg.Empty(today_slot());
}

const std::vector<TeamIndex>& Engine::TeamsInOrder() {
  if (ordered_.size() != teams_.size()) {
    ordered_.resize(teams_.size());
    for (TeamIndex i = 0; i < ordered_.size(); ++i) ordered_[i] = i;
    std::sort(ordered_.begin(), ordered_.end(), [&](TeamIndex a, TeamIndex b) {
      return std::tie(teams_[a]->tenant, teams_[a]->team) < std::tie(teams_[b]->tenant, teams_[b]->team);
    });
  }
  return ordered_;
}

uint64_t Engine::TotalOf(Kind kind) const {
  uint64_t total = 0;
  for (const auto& team : teams_) total += team->totals.count(kind);
  return total;
}

Engine::Memory Engine::MemoryUsage() const {
  Memory m;
  for (const auto& team : teams_) m.teams += team->MemoryBytes();
  m.teams += team_index_.capacity() * (sizeof(std::string) + sizeof(TeamIndex) + 1);
  m.interactions = interactions_.MemoryBytes();
  m.repeat_contacts = fcr_.MemoryBytes();
  m.timeline = timeline_.size() * sizeof(Contribution);
  m.histograms = histogram_pool_.MemoryBytes();
  return m;
}

namespace {

constexpr uint32_t kEngineStateVersion = 1;

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
  ar(kEngineStateVersion, StateOptions(options_), watermark_, histogram_pool_, uint64_t{teams_.size()});
  for (const auto& team : teams_) ar(team->tenant, team->team, *team);
  ar(interactions_, fcr_, timeline_, end_, counters_, alert_changes_);
  if (drift_) drift_->Save(ar);
}

absl::Status Engine::RestoreState(std::string_view state, int64_t now_ms) {
  if (!teams_.empty() || end_ != INT64_MIN) {
    return absl::FailedPreconditionError("a checkpoint can only be restored into a fresh engine");
  }
  StateReader ar(state);
  uint32_t version = 0;
  std::string saved_options;
  ar(version, saved_options);
  if (ar.ok() && version != kEngineStateVersion) {
    return absl::InvalidArgumentError(
        fmt::format("engine state version {} is not the one this build reads ({})", version, kEngineStateVersion));
  }
  if (ar.ok() && saved_options != StateOptions(options_)) {
    return absl::FailedPreconditionError(fmt::format(
        "the checkpoint was taken with other metric options ({}) than the config gives ({}); "
        "restore the old options, or move the checkpoints away to start from empty state",
        saved_options, StateOptions(options_)));
  }
  uint64_t team_count = 0;
  ar(watermark_, histogram_pool_, team_count);
  for (uint64_t i = 0; i < team_count && ar.ok(); ++i) {
    std::string tenant, team;
    ar(tenant, team);
    if (!ar.ok()) break;
    // Builds the team as on first sight (roster profile included); the drift state loaded
    // below replaces the seeds the profile gave.
    const TeamIndex index = InternTeam(tenant, team);
    if (index != i) ar.Fail(fmt::format("team {}/{} appears twice", tenant, team));
    ar(*teams_[index]);
  }
  ar(interactions_, fcr_, timeline_, end_, counters_, alert_changes_);
  if (drift_) drift_->Load(ar);
  if (ar.ok() && !ar.at_end()) ar.Fail("bytes after the end of the state");
  if (!ar.ok()) return absl::DataLossError(ar.error());
  watermark_.Resume(now_ms);
  ordered_.clear();
  return absl::OkStatus();
}

}  // namespace ccpulse::operators
