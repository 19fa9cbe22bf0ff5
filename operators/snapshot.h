// Immutable pictures of an engine's metrics (DESIGN §1): the worker builds and publishes one at
// most every 100 ms; HTTP, the Prometheus scrape and the wallboard read only the latest, never
// worker state. Unchanged teams are shared between consecutive snapshots.
#ifndef CCPULSE_OPERATORS_SNAPSHOT_H_
#define CCPULSE_OPERATORS_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "operators/engine.h"
#include "operators/peers.h"
#include "operators/team_metrics.h"

namespace ccpulse::operators {

// One per-minute point of a team's history (the wallboard's sparklines).
struct HistoryPoint {
  TimeMs time = 0;
  float escalation = -1, fcr = -1, service_level = -1, abandon = -1;  // -1 = no data
  float aht_s = -1, asa_s = -1;
  int32_t waiting = 0, handled = 0;
};

// The windowed part of a team: recomputed when the windows move, shared otherwise.
struct TeamView {
  std::string tenant;
  std::string team;
  std::vector<TeamMetrics> windows;  // options.windows_ms order, then "today"
  TeamTotals totals;
  std::shared_ptr<const std::vector<HistoryPoint>> history;  // oldest first, up to 60
  std::vector<drift::DetectorInfo> detectors;                // empty when drift is off
  PeerPositions peers;  // against the tenant's teams in the longest configured window
};

// What changes every tick.
struct LiveGauges {
  int64_t waiting = 0;
  int64_t in_progress = 0;
};

// The team views of a snapshot: one immutable list shared by every snapshot published until the
// next recompute, so that publishing a snapshot each tick copies one pointer, not one per team.
class TeamViews {
 public:
  using List = std::vector<std::shared_ptr<const TeamView>>;

  TeamViews() : list_(Empty()) {}
  explicit TeamViews(std::shared_ptr<const List> list) : list_(list ? std::move(list) : Empty()) {}

  size_t size() const { return list_->size(); }
  bool empty() const { return list_->empty(); }
  const std::shared_ptr<const TeamView>& operator[](size_t i) const { return (*list_)[i]; }
  List::const_iterator begin() const { return list_->begin(); }
  List::const_iterator end() const { return list_->end(); }

 private:
  static const std::shared_ptr<const List>& Empty() {
    static const auto* const empty = new std::shared_ptr<const List>(std::make_shared<const List>());
    return *empty;
  }
  std::shared_ptr<const List> list_;
};

struct MetricsSnapshot {
  int64_t published_ms = 0;   // wall clock
  int64_t last_input_ms = 0;  // wall clock of the last record taken from the input (0 = none)
  TimeMs windows_end = 0;
  TimeMs watermark = 0;
  TimeMs max_event_time = 0;
  std::vector<std::string> window_labels;  // "5m", "15m", "1h", "today"
  TeamViews teams;                          // ordered by (tenant, team)
  std::vector<LiveGauges> live;             // parallel to teams
  Engine::Counters engine;
  uint64_t duplicates = 0;
  uint64_t interactions_held = 0;
  double sl_target = 0;
  int64_t sl_threshold_ms = 0;

  // Index of (tenant, team) in `teams`, or -1.
  int Find(std::string_view tenant, std::string_view team) const;
};

// Builds snapshots on the worker thread. Not thread-safe.
//
// The live part (backlog now, counters) is taken on every Build. The team views (all windowed
// metrics, detectors, history, peer positions) are recomputed when the windows' end moves, at
// most every `refresh_ms` of wall time and never more often than keeps recomputing under 5 % of
// the worker's time. A recompute of 10,000 teams takes ~100 ms, so it is spread over successive
// Builds, at most `step_budget_us` of work each: records wait behind one step, not a whole
// recompute. The views are published together when the last team is done, all at the same
// windows' end; if the windows move mid-way the recompute starts over, and after two restarts it
// finishes in one go (a fast replay moves the windows every few milliseconds).
class SnapshotBuilder {
 public:
  static constexpr size_t kHistoryPoints = 60;

  explicit SnapshotBuilder(int64_t refresh_ms = 1000, int64_t step_budget_us = 2000)
      : refresh_ms_(refresh_ms), step_budget_us_(step_budget_us) {}

  // `force`: complete a recompute now if the windows moved, whatever the schedule (end of input).
  // The first Build always recomputes in full.
  std::shared_ptr<const MetricsSnapshot> Build(Engine& engine, int64_t now_ms, int64_t last_input_ms = 0,
                                               bool force = false);

  // Whether a recompute is under way (some team views computed, not yet published).
  bool recomputing() const { return building_; }

 private:
  void StartRecompute(Engine& engine);
  // Computes team views until done (true) or until `budget_us` has passed (0 = no limit).
  bool StepRecompute(Engine& engine, int64_t budget_us);
  void ComparePeers(size_t window);

  const int64_t refresh_ms_;
  const int64_t step_budget_us_;
  int64_t next_refresh_ms_ = INT64_MIN;
  TimeMs built_end_ = INT64_MIN;
  uint64_t built_teams_ = 0;  // Engine::teams_version() of the views
  // Published: by position in order_; replaced (never changed) once published.
  std::vector<TeamIndex> order_;
  std::vector<std::shared_ptr<TeamView>> views_;
  std::shared_ptr<const TeamViews::List> published_;  // views_, as snapshots share them
  std::shared_ptr<const TeamViews::List> retired_;    // the list before, freed at the next start
  // The recompute under way.
  bool building_ = false;
  int restarts_ = 0;
  TimeMs build_end_ = INT64_MIN;
  uint64_t build_teams_ = 0;
  size_t build_pos_ = 0;
  int64_t build_us_ = 0;  // worker time spent on it so far
  std::vector<TeamIndex> next_order_;
  std::vector<std::shared_ptr<TeamView>> next_views_;
  std::vector<std::shared_ptr<std::vector<HistoryPoint>>> history_;  // by TeamIndex
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_SNAPSHOT_H_
