// Per-team aggregates and the metric definitions of DESIGN §4 computed from them: escalation,
// transfer, FCR, repeat contacts, abandonment, service level, wait and handle time, backlog
// flow and health, Erlang C staffing.
#ifndef CCPULSE_OPERATORS_TEAM_METRICS_H_
#define CCPULSE_OPERATORS_TEAM_METRICS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "operators/contribution.h"
#include "operators/options.h"
#include "pipeline/window/log_histogram.h"

namespace ccpulse::operators {

// Invertible sum of windowed contributions (counts, duration sums, duration histograms).
// Value class; the Agg of the team's SlidingWindows.
struct TeamAggregate {
  std::array<uint32_t, kCounterKindCount> counts{};
  int64_t wait_ms = 0;
  int64_t handle_ms = 0;
  window::LogHistogram wait;
  window::LogHistogram handle;

  void Apply(uint8_t kind, uint32_t value, int sign);
  void Clear() { *this = TeamAggregate{}; }
  uint32_t count(Kind kind) const { return counts[static_cast<size_t>(kind)]; }
  friend bool operator==(const TeamAggregate&, const TeamAggregate&) = default;
};

// A ratio with the counts behind it; value() is empty when the denominator is zero.
struct Ratio {
  uint64_t numerator = 0;
  uint64_t denominator = 0;
  std::optional<double> value() const {
    if (denominator == 0) return std::nullopt;
    return static_cast<double>(numerator) / static_cast<double>(denominator);
  }
};

enum class Health : uint8_t { kGreen, kAmber, kRed };
std::string_view HealthName(Health health);

// Backlog as of a point in event time.
struct BacklogState {
  int64_t waiting = 0;
  int64_t in_progress = 0;
  std::optional<TimeMs> oldest_wait_start;  // queued time of the longest-waiting interaction
};

// Every metric of one team over one window.
struct TeamMetrics {
  uint64_t inflow = 0, answered = 0, abandoned = 0, abandoned_short = 0, handled = 0;
  uint64_t resolved = 0, closed = 0, transferred = 0, escalated = 0, reopened = 0;
  uint64_t expired = 0, gaps = 0;
  Ratio escalation, transfer, fcr_provisional, fcr_confirmed, repeat_contact, abandon, service_level;
  double sl_target = 0;
  std::optional<double> asa_s, wait_p50_s, wait_p90_s, wait_p99_s;
  std::optional<double> aht_s, handle_p50_s, handle_p90_s, handle_p99_s;
  // Backlog.
  int64_t waiting = 0, in_progress = 0;
  double oldest_wait_s = 0;
  double inflow_per_min = 0, outflow_per_min = 0, net_flow_per_min = 0;
  std::optional<double> time_to_clear_s;  // empty while the backlog is growing
  bool growing = false;
  Health health = Health::kGreen;
  std::optional<int> required_agents;
};

// Computes the metrics of `agg`, a window of `window_ms`, with the backlog as of `at`.
TeamMetrics ComputeMetrics(const TeamAggregate& agg, int64_t window_ms, const BacklogState& backlog,
                           TimeMs at, const MetricOptions& options);

// The backlog health rule: red when the oldest wait is over twice the service-level threshold,
// or over it while the backlog grows; amber when over the threshold or growing; else green.
Health BacklogHealth(double oldest_wait_s, bool growing, const MetricOptions& options);

// Upper bounds (seconds) of the coarse duration buckets exported to Prometheus; +Inf implied.
inline constexpr std::array<double, 15> kExportBucketsSeconds = {
    1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_METRICS_H_
