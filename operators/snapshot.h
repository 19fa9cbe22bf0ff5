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

struct MetricsSnapshot {
  int64_t published_ms = 0;   // wall clock
  int64_t last_input_ms = 0;  // wall clock of the last record taken from the input (0 = none)
  TimeMs windows_end = 0;
  TimeMs watermark = 0;
  TimeMs max_event_time = 0;
  std::vector<std::string> window_labels;  // "5m", "15m", "1h", "today"
  std::vector<std::shared_ptr<const TeamView>> teams;  // ordered by (tenant, team)
  std::vector<LiveGauges> live;                        // parallel to teams
  Engine::Counters engine;
  uint64_t duplicates = 0;
  uint64_t interactions_held = 0;
  double sl_target = 0;
  int64_t sl_threshold_ms = 0;

  // Index of (tenant, team) in `teams`, or -1.
  int Find(std::string_view tenant, std::string_view team) const;
};

// Builds snapshots on the worker thread. Not thread-safe.
class SnapshotBuilder {
 public:
  static constexpr size_t kHistoryPoints = 60;

  // Team views are recomputed when the windows' end moves, at most every `refresh_ms` of wall
  // time, and never more often than keeps recomputing under 5 % of the worker's time
  // (10,000 teams take about 100 ms: every 2 s).
  explicit SnapshotBuilder(int64_t refresh_ms = 1000) : refresh_ms_(refresh_ms) {}

  // `force`: recompute now if the windows moved, whatever the refresh schedule (end of input).
  std::shared_ptr<const MetricsSnapshot> Build(Engine& engine, int64_t now_ms, int64_t last_input_ms = 0,
                                               bool force = false);

 private:
  void Recompute(Engine& engine);
  void ComparePeers(size_t window);

  int64_t refresh_ms_;
  int64_t next_refresh_ms_ = INT64_MIN;
  TimeMs built_end_ = INT64_MIN;
  size_t built_teams_ = 0;
  std::vector<TeamIndex> order_;
  // By position in order_; replaced (never changed) once published.
  std::vector<std::shared_ptr<TeamView>> views_;
  std::vector<std::shared_ptr<std::vector<HistoryPoint>>> history_;  // by TeamIndex
  TimeMs last_history_minute_ = INT64_MIN;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_SNAPSHOT_H_
