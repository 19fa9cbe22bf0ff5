// Per-team aggregates and the metric definitions of DESIGN §4 computed from them: escalation,
// transfer, FCR, repeat contacts, abandonment, service level, wait and handle time, backlog
// flow and health, Erlang C staffing.
#ifndef CCPULSE_OPERATORS_TEAM_METRICS_H_
#define CCPULSE_OPERATORS_TEAM_METRICS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "operators/contribution.h"
#include "operators/options.h"
#include "pipeline/window/log_histogram.h"

namespace ccpulse::operators {

// The windowed aggregates of one team: slots 0..W-1 are its sliding windows, slot W is
// "today". Counts are laid out [kind][slot] and durations go to block histograms laid out
// [bucket][slot], so one contribution touches one cache line per kind of aggregate, whatever
// the number of windows. This is the Agg of the team's SlidingWindows. Worker-local.
class TeamWindows {
 public:
  TeamWindows(int slots, window::HistogramBlockPool* pool);

  // SlidingWindows hook: adds (sign +1) or takes back (-1) one contribution in `slot`.
  void Apply(size_t slot, uint8_t kind, uint32_t value, int sign);
  void ClearSlot(size_t slot);

  int slots() const { return slots_; }
  uint32_t count(size_t slot, Kind kind) const {
    return counts_[static_cast<size_t>(kind) * static_cast<size_t>(slots_) + slot];
  }
  int64_t wait_ms(size_t slot) const { return sums_[slot]; }
  int64_t handle_ms(size_t slot) const { return sums_[kMaxSlots + slot]; }
  const window::LogHistograms& wait() const { return wait_; }
  const window::LogHistograms& handle() const { return handle_; }
  const window::HistogramBlockPool& pool() const { return *pool_; }
  // True when slot has no contribution at all.
  bool Empty(size_t slot) const;
  static constexpr size_t kMaxSlots = window::HistogramBlockPool::kMaxSlots;

  template <typename Ar>
  void Persist(Ar& ar) {
    ar(counts_, sums_, wait_, handle_);
    memo_value_ = UINT32_MAX;
  }

 private:
  int slots_;
  window::HistogramBlockPool* pool_;
  std::array<uint32_t, kCounterKindCount * kMaxSlots> counts_{};  // [kind][slot]
  std::array<int64_t, 2 * kMaxSlots> sums_{};  // [wait, handle][slot], milliseconds
  window::LogHistograms wait_;
  window::LogHistograms handle_;
  // One contribution is applied to every slot in a row: remember its bucket.
  uint32_t memo_value_ = UINT32_MAX;
  int memo_bucket_ = 0;
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

// Computes the metrics of `slot` of `windows`, a window of `window_ms`, with the backlog as of
// `at`. `sl_target` is the team's service-level target (0: options.sl_target).
TeamMetrics ComputeMetrics(const TeamWindows& windows, size_t slot, int64_t window_ms,
                           const BacklogState& backlog, TimeMs at, const MetricOptions& options,
                           double sl_target = 0);

// The backlog health rule: red when the oldest wait is over twice the service-level threshold,
// or over it while the backlog grows; amber when over the threshold or growing; else green.
Health BacklogHealth(double oldest_wait_s, bool growing, const MetricOptions& options);

// Upper bounds (seconds) of the coarse wait/handle buckets exported to Prometheus (+Inf
// implied): around the usual 20 s service-level threshold for waits, minutes for handling.
inline constexpr std::array<double, 11> kExportBucketsSeconds = {
    5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 14400};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_METRICS_H_
