// Snapshot building; see snapshot.h.
#include "operators/snapshot.h"

#include <algorithm>
#include <chrono>

namespace ccpulse::operators {
namespace {

float Value(const Ratio& r) { return r.value() ? static_cast<float>(*r.value()) : -1.0f; }

}  // namespace

int MetricsSnapshot::Find(std::string_view tenant, std::string_view team) const {
  auto it = std::lower_bound(teams.begin(), teams.end(), std::make_pair(tenant, team),
                             [](const std::shared_ptr<const TeamView>& v, const auto& key) {
                               return std::tie(v->tenant, v->team) < std::tie(key.first, key.second);
                             });
  if (it == teams.end() || (*it)->tenant != tenant || (*it)->team != team) return -1;
  return static_cast<int>(it - teams.begin());
}

void SnapshotBuilder::StartRecompute(Engine& engine) {
  const auto started = std::chrono::steady_clock::now();
  building_ = true;
  build_end_ = engine.windows_end();
  build_teams_ = engine.teams_version();
  build_pos_ = 0;
  next_order_ = engine.TeamsInOrder();
  // The views of the recompute before last: usually their last owner, so freeing them is part of
  // the recompute's cost.
  next_views_.clear();
  retired_.reset();
  next_views_.reserve(next_order_.size());
  if (history_.size() < engine.team_count()) history_.resize(engine.team_count());
  build_us_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
}

bool SnapshotBuilder::StepRecompute(Engine& engine, int64_t budget_us) {
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_us = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  };
  const size_t windows = engine.options().windows_ms.size();
  // A history point per minute of event time, from the middle window (15m by default).
  const TimeMs minute = build_end_ / kMinuteMs * kMinuteMs;
  for (; build_pos_ < next_order_.size(); ++build_pos_) {
    if (budget_us > 0 && build_pos_ % 32 == 0 && elapsed_us() >= budget_us) break;
    const TeamIndex i = next_order_[build_pos_];
    auto view = std::make_shared<TeamView>();
    const TeamState& team = engine.team(i);
    view->tenant = team.tenant;
    view->team = team.team;
    view->windows.reserve(windows + 1);
    for (size_t w = 0; w < windows; ++w) view->windows.push_back(engine.WindowMetrics(i, w));
    view->windows.push_back(engine.TodayMetrics(i));
    view->totals = team.totals;
    view->detectors = engine.Detectors(i);
    auto& history = history_[i];
    if (!history || history->empty() || history->back().time < minute) {
      const TeamMetrics& m = view->windows[std::min<size_t>(1, windows - 1)];
      HistoryPoint p;
      p.time = minute;
      p.escalation = Value(m.escalation);
      p.fcr = Value(m.fcr_provisional);
      p.service_level = Value(m.service_level);
      p.abandon = Value(m.abandon);
      p.aht_s = m.aht_s ? static_cast<float>(*m.aht_s) : -1.0f;
      p.asa_s = m.asa_s ? static_cast<float>(*m.asa_s) : -1.0f;
      p.waiting = static_cast<int32_t>(m.waiting);
      p.handled = static_cast<int32_t>(m.handled);
      auto next = history ? std::make_shared<std::vector<HistoryPoint>>(*history)
                          : std::make_shared<std::vector<HistoryPoint>>();
      next->push_back(p);
      if (next->size() > kHistoryPoints) next->erase(next->begin());
      history = std::move(next);
    }
    view->history = history;
    next_views_.push_back(std::move(view));
  }
  const bool done = build_pos_ == next_order_.size();
  if (done) {
    order_.swap(next_order_);
    views_.swap(next_views_);
    ComparePeers(windows - 1);
    retired_ = std::move(published_);
    published_ = std::make_shared<const TeamViews::List>(views_.begin(), views_.end());
  }
  build_us_ += elapsed_us();
  return done;
}

void SnapshotBuilder::ComparePeers(size_t window) {
  // views_ is ordered by (tenant, team): each tenant's teams are one run.
  std::vector<const TeamMetrics*> metrics;
  std::vector<PeerPositions> positions;
  for (size_t begin = 0, end = 0; begin < views_.size(); begin = end) {
    metrics.clear();
    for (end = begin; end < views_.size() && views_[end]->tenant == views_[begin]->tenant; ++end) {
      metrics.push_back(&views_[end]->windows[window]);
    }
    operators::ComparePeers(metrics, PeerOptions{}, &positions);
    for (size_t i = begin; i < end; ++i) views_[i]->peers = positions[i - begin];
  }
}

std::shared_ptr<const MetricsSnapshot> SnapshotBuilder::Build(Engine& engine, int64_t now_ms,
                                                              int64_t last_input_ms, bool force) {
  if (building_ && (engine.windows_end() != build_end_ || engine.teams_version() != build_teams_)) {
    ++restarts_;  // the windows or teams moved under the recompute: its views would mix two ends
    StartRecompute(engine);
  }
  const bool moved = engine.windows_end() != built_end_ || engine.teams_version() != built_teams_;
  if (!building_ && moved && (force || now_ms >= next_refresh_ms_)) {
    restarts_ = 0;
    StartRecompute(engine);
  }
  if (building_) {
    const bool whole = force || built_end_ == INT64_MIN || restarts_ >= 2;
    if (StepRecompute(engine, whole ? 0 : step_budget_us_)) {
      building_ = false;
      built_end_ = build_end_;
      built_teams_ = build_teams_;
      next_refresh_ms_ = now_ms + std::max<int64_t>(refresh_ms_, 20 * build_us_ / 1000);
    }
  }
  auto snapshot = std::make_shared<MetricsSnapshot>();
  snapshot->published_ms = now_ms;
  snapshot->last_input_ms = last_input_ms;
  snapshot->windows_end = built_end_;
  snapshot->watermark = engine.watermark();
  snapshot->max_event_time = engine.max_event_time();
  for (int64_t w : engine.options().windows_ms) snapshot->window_labels.push_back(DurationLabel(w));
  snapshot->window_labels.push_back("today");
  snapshot->teams = TeamViews(published_);
  snapshot->live.reserve(order_.size());
  for (TeamIndex i : order_) snapshot->live.push_back({engine.live_waiting(i), engine.live_in_progress(i)});
  snapshot->engine = engine.counters();
  snapshot->duplicates = engine.duplicates();
  snapshot->interactions_held = engine.interactions_held();
  snapshot->sl_target = engine.options().sl_target;
  snapshot->sl_threshold_ms = engine.options().sl_threshold_ms;
  return snapshot;
}

}  // namespace ccpulse::operators
