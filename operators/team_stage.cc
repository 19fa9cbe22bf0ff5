// The team-keyed half of the engine; see team_stage.h.
#include "operators/team_stage.h"

#include <algorithm>

#include "pipeline/check.h"

namespace ccpulse::operators {
namespace {

// How long a customer stage that paused (stopped cleanly) is waited for.
constexpr int64_t kPauseHoldMs = 10 * kMinuteMs;

size_t ExportBucket(uint32_t value_ms) {
  const double seconds = static_cast<double>(value_ms) / 1000.0;
  return static_cast<size_t>(
      std::lower_bound(kExportBucketsSeconds.begin(), kExportBucketsSeconds.end(), seconds) -
      kExportBucketsSeconds.begin());
}

bool IsEndKind(Kind kind) { return kind == Kind::kWaitEnd || kind == Kind::kWorkEnd; }

}  // namespace

size_t TeamState::MemoryBytes() const {
  // The team's histogram blocks live in the stage's pool and are counted there.
  return sizeof(TeamState) + tenant.capacity() + team.capacity() + windows.HeapBytes() +
         waiting_since.capacity() * sizeof(waiting_since[0]);
}

TeamStage::TeamStage(const MetricOptions* options, window::WatermarkTracker* shared_channels,
                     uint32_t channel_base)
    : options_(*options),
      slices_(options_.slice_ms),
      histogram_pool_(static_cast<int>(options_.windows_ms.size()) + 1),
      // A customer stage delivers what is behind its own watermark later: when all are quiet,
      // the team stage waits for the slowest, not the fastest.
      own_channels_(/*allowed_lateness_ms=*/0, options_.idle_partition_ms,
                    window::WatermarkTracker::WhenAllIdle::kHoldAtSmallest),
      channels_(shared_channels != nullptr ? *shared_channels : own_channels_),
      channel_base_(channel_base) {
  for (int64_t w : options_.windows_ms) window_slices_.push_back(w / options_.slice_ms);
  if (options_.drift.enabled) {
    drift::DriftOptions drift = options_.drift;
    drift.backlog_floor_s = static_cast<double>(options_.sl_threshold_ms) / 1000.0;
    drift_ = std::make_unique<drift::DriftMonitor>(drift);
  }
}

void TeamStage::SetTeamProfile(std::string_view tenant, std::string_view team, const TeamProfile& profile) {
  TeamRegistry::Key(tenant, team, &key_buffer_);
  profiles_[key_buffer_] = profile;
  if (auto index = registry_.Find(tenant, team)) ApplyProfile(*index, profile);
}

void TeamStage::ApplyProfile(TeamIndex index, const TeamProfile& profile) {
  teams_[index]->sl_target = profile.sl_target;
  if (!drift_) return;
  if (profile.zone) drift_->SetTeamZone(index, *profile.zone);
  for (int m = 0; m < drift::kProportionCount; ++m) {
    if (profile.baseline_rates[m] >= 0) {
      drift_->Seed(index, static_cast<drift::Metric>(m), profile.baseline_rates[m], profile.baseline_contacts);
    }
  }
}

std::vector<drift::AlertState> TeamStage::TakeAlertChanges() {
  std::vector<drift::AlertState> out;
  out.swap(alert_changes_);
  return out;
}

std::vector<drift::AlertState> TeamStage::OpenAlerts() const {
  return drift_ ? drift_->OpenAlerts() : std::vector<drift::AlertState>{};
}

TeamIndex TeamStage::InternTeam(std::string_view tenant, std::string_view team) {
  const auto [index, added] = registry_.Intern(tenant, team);
  if (!added) return index;

  const std::string tenant_name(tenant);
  auto [tenant_it, new_tenant] = tenant_index_.try_emplace(tenant_name, tenant_days_.size());
  if (new_tenant) {
    absl::TimeZone zone = absl::UTCTimeZone();
    auto zone_it = options_.tenant_time_zones.find(tenant_name);
    if (zone_it != options_.tenant_time_zones.end()) absl::LoadTimeZone(zone_it->second, &zone);
    tenant_days_.emplace_back(zone);
  }
  teams_.push_back(std::make_unique<TeamState>(
      tenant_name, std::string(team), tenant_it->second,
      window::SlidingWindows<TeamWindows>(
          window_slices_, TeamWindows(static_cast<int>(today_slot()) + 1, &histogram_pool_))));
  if (drift_) drift_->SetTeamKey(index, tenant, team);
  TeamRegistry::Key(tenant, team, &key_buffer_);
  if (auto profile = profiles_.find(key_buffer_); profile != profiles_.end()) ApplyProfile(index, profile->second);
  return index;
}

void TeamStage::Feed(int64_t slice, std::span<const Delivered> delivered) {
  CCPULSE_CHECK(end_ == INT64_MIN || slice >= end_, "a slice is fed before the team stage applies it");
  for (const Delivered& d : delivered) timeline_.Insert(slice, d);
}

void TeamStage::AssignChannel(uint32_t channel, int64_t now_ms) {
  channels_.Assign(ChannelId(channel), now_ms);
  // A customer stage that has sent nothing yet may still be starting (pods start in any
  // order): waited for as long as one that paused, so that its first slices are not late.
  if (channel >= channel_ends_.size() || channel_ends_[channel] == INT64_MIN) {
    channels_.Hold(ChannelId(channel), now_ms, kPauseHoldMs);
  }
}

std::vector<std::pair<uint32_t, TimeMs>> TeamStage::ChannelEnds() const {
  std::vector<std::pair<uint32_t, TimeMs>> ends;
  for (uint32_t c = 0; c < channel_ends_.size(); ++c) {
    if (channel_ends_[c] != INT64_MIN && channels_.present(ChannelId(c))) {
      ends.emplace_back(c, slices_.StartOf(channel_ends_[c]));
    }
  }
  return ends;
}

void TeamStage::OnFeed(const TeamFeed& feed, int64_t now_ms) {
  ++feed_counters_.records;
  if (feed.channel >= channel_ends_.size()) channel_ends_.resize(feed.channel + 1, INT64_MIN);
  int64_t& sent = channel_ends_[feed.channel];
  if (sent != INT64_MIN && feed.from_slice > sent) ++feed_counters_.gaps;
  feed_teams_.clear();
  for (const auto& [tenant, team] : feed.teams) feed_teams_.push_back(InternTeam(tenant, team));
  for (const auto& [slice, d] : feed.delivered) {
    if (slice < sent) {
      ++feed_counters_.repeated;
    } else if (end_ != INT64_MIN && slice < end_) {
      ++feed_counters_.late;
    } else {
      Delivered local = d;
      local.c.team = feed_teams_[d.c.team];
      timeline_.Insert(slice, local);
    }
  }
  // Every record refreshes its channel's idle clock: a customer stage catching up after a
  // restart, sending again what it sent before, is not idle.
  sent = std::max(sent, feed.to_slice);
  channels_.Observe(ChannelId(feed.channel), slices_.StartOf(sent), now_ms);
  // A customer stage stopping to restart (a rolling update): waited for until it is back, so
  // that nothing it sends then is late; for 10 minutes at most (one that does not come back,
  // scaled in, then idles out).
  if (feed.pause) channels_.Hold(ChannelId(feed.channel), now_ms, kPauseHoldMs);
}

void TeamStage::Advance(int64_t now_ms, int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t wm = channels_.Advance(now_ms);
  if (wm != window::WatermarkTracker::kNoWatermark) DeliverUntil(slices_.SliceOf(wm), every_ms, on_boundary);
}

TimeMs TeamStage::Finish(int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t wm = channels_.AdvanceToEnd();
  if (wm == window::WatermarkTracker::kNoWatermark) return 0;
  DeliverUntil(slices_.SliceOf(wm), every_ms, on_boundary);
  return windows_end();
}

void TeamStage::StartAt(int64_t slice) {
  CCPULSE_CHECK(end_ == INT64_MIN && slice <= timeline_.FirstSlice(),
                "the team stage starts once, before it applies anything, not after what is queued");
  end_ = slice;
}

void TeamStage::DeliverUntil(int64_t target_end, int64_t every_ms, const BoundaryFn& on_boundary) {
  const int64_t every_slices = std::max<int64_t>(1, every_ms / options_.slice_ms);
  const int64_t minute_slices = std::max<int64_t>(1, kMinuteMs / options_.slice_ms);
  if (end_ == INT64_MIN) {
    const int64_t first = timeline_.FirstSlice();
    if (first == INT64_MAX) return;
    end_ = std::min(first, target_end);
  }
  while (end_ < target_end) {
    const int64_t next_data = timeline_.FirstSlice();
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

void TeamStage::DeliverSlice(int64_t slice) {
  timeline_.TakeFirstBefore(slice + 1, &slice_records_);
  // Windowed counts, sums and backlog gauges commute; backlog starts go before ends so that an
  // interaction queued and answered in one slice is added, then removed. Effects come last, as
  // the customer stage produced them after the slice's contributions.
  for (const Delivered& d : slice_records_) {
    if (!d.effect && !IsEndKind(d.c.kind)) DeliverCommutative(d.c, slice);
  }
  for (const Delivered& d : slice_records_) {
    if (!d.effect && IsEndKind(d.c.kind)) DeliverCommutative(d.c, slice);
  }
  for (const Delivered& d : slice_records_) {
    if (!d.effect) continue;
    if (d.c.sign < 0) {
      RetractWindowed(d.c.team, slices_.SliceOf(d.c.time), d.c.kind, d.c.value);
    } else {
      AddWindowed(d.c.team, slices_.SliceOf(d.c.time), d.c.kind, d.c.value);
    }
  }
  if (drift_) FeedDrift();
}

void TeamStage::FeedDrift() {
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

void TeamStage::DriftMinute(TimeMs minute) {
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

void TeamStage::RollToday(TeamState& team, TimeMs time) {
  const int64_t day = DaysOf(team).DayOf(time);
  if (day != team.today_day) {
    team.windows.agg().ClearSlot(today_slot());
    team.today_day = day;
  }
}

void TeamStage::AddWindowed(TeamIndex index, int64_t slice, Kind kind, uint32_t value) {
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

void TeamStage::RetractWindowed(TeamIndex index, int64_t slice, Kind kind, uint32_t value) {
  TeamState& team = *teams_[index];
  team.windows.Retract(slice, static_cast<uint8_t>(kind), value);
  if (team.today_day == DaysOf(team).DayOf(slices_.StartOf(slice))) {
    team.windows.agg().Apply(today_slot(), static_cast<uint8_t>(kind), value, -1);
  }
}

void TeamStage::DeliverCommutative(const Contribution& c, int64_t slice) {
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

TeamMetrics TeamStage::WindowMetrics(TeamIndex i, size_t w) {
  TeamState& team = *teams_[i];
  team.windows.AdvanceTo(end_);
  return ComputeMetrics(team.windows.agg(), w, options_.windows_ms[w], team.backlog, windows_end(),
                        options_, team.sl_target);
}

TeamMetrics TeamStage::TodayMetrics(TeamIndex i) {
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

bool TeamStage::HasActivity(TeamIndex i) {
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

const std::vector<TeamIndex>& TeamStage::TeamsInOrder() {
  if (ordered_.size() != teams_.size()) {
    ordered_.resize(teams_.size());
    for (TeamIndex i = 0; i < ordered_.size(); ++i) ordered_[i] = i;
    std::sort(ordered_.begin(), ordered_.end(), [&](TeamIndex a, TeamIndex b) {
      return std::tie(teams_[a]->tenant, teams_[a]->team) < std::tie(teams_[b]->tenant, teams_[b]->team);
    });
  }
  return ordered_;
}

uint64_t TeamStage::TotalOf(Kind kind) const {
  uint64_t total = 0;
  for (const auto& team : teams_) total += team->totals.count(kind);
  return total;
}

size_t TeamStage::teams_bytes() const {
  size_t bytes = registry_.MemoryBytes();
  for (const auto& team : teams_) bytes += team->MemoryBytes();
  return bytes;
}

void TeamStage::Save(StateWriter& ar) const {
  ar(histogram_pool_, uint64_t{teams_.size()});
  for (const auto& team : teams_) ar(team->tenant, team->team, *team);
  ar(timeline_, end_, alert_changes_, channel_ends_);
  if (!shared_channels()) ar(channels_);  // shared: its owner saves it
  ar(feed_counters_);
  if (drift_) drift_->Save(ar);
}

void TeamStage::Load(StateReader& ar, int64_t now_ms) {
  CCPULSE_CHECK(teams_.empty(), "a team stage is loaded before it has teams");
  uint64_t team_count = 0;
  ar(histogram_pool_, team_count);
  for (uint64_t i = 0; i < team_count && ar.ok(); ++i) {
    std::string tenant, team;
    ar(tenant, team);
    if (!ar.ok()) break;
    // Builds the team as on first sight (roster profile included); the drift state loaded
    // below replaces the seeds the profile gave.
    const TeamIndex index = InternTeam(tenant, team);
    if (index != i) ar.Fail("team " + tenant + "/" + team + " appears twice");
    ar(*teams_[index]);
  }
  ar(timeline_, end_, alert_changes_, channel_ends_);
  if (!shared_channels()) {
    ar(channels_);
    channels_.Resume(now_ms);
  } else {
    // The shared tracker is its owner's: the channels count as having sent up to their ends now.
    for (uint32_t c = 0; ar.ok() && c < channel_ends_.size(); ++c) {
      if (channel_ends_[c] != INT64_MIN) channels_.Observe(ChannelId(c), slices_.StartOf(channel_ends_[c]), now_ms);
    }
  }
  ar(feed_counters_);
  if (drift_) drift_->Load(ar);
  ordered_.clear();
}

}  // namespace ccpulse::operators
