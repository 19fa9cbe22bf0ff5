// Metric definitions; see team_metrics.h and DESIGN §4.
#include "operators/team_metrics.h"

#include <algorithm>

#include "operators/staffing.h"

namespace ccpulse::operators {

TeamWindows::TeamWindows(int slots, window::HistogramBlockPool* pool) : slots_(slots), pool_(pool) {}

void TeamWindows::Apply(size_t slot, uint8_t kind, uint32_t value, int sign) {
  const Kind k = static_cast<Kind>(kind);
  if (k < Kind::kCounterKinds) {
    counts_[static_cast<size_t>(kind) * static_cast<size_t>(slots_) + slot] += static_cast<uint32_t>(sign);
    return;
  }
  if (value != memo_value_) {
    memo_value_ = value;
    memo_bucket_ = window::LogBuckets::BucketOf(value);
  }
  if (k == Kind::kWait) {
    sums_[slot] += sign * static_cast<int64_t>(value);
    wait_.Add(*pool_, static_cast<int>(slot), memo_bucket_, sign);
  } else if (k == Kind::kHandle) {
    sums_[kMaxSlots + slot] += sign * static_cast<int64_t>(value);
    handle_.Add(*pool_, static_cast<int>(slot), memo_bucket_, sign);
  }
}

void TeamWindows::ClearSlot(size_t slot) {
  for (int k = 0; k < kCounterKindCount; ++k) counts_[static_cast<size_t>(k) * static_cast<size_t>(slots_) + slot] = 0;
  sums_[slot] = sums_[kMaxSlots + slot] = 0;
  wait_.ClearSlot(*pool_, static_cast<int>(slot));
  handle_.ClearSlot(*pool_, static_cast<int>(slot));
}

bool TeamWindows::Empty(size_t slot) const {
  if (wait_.total(static_cast<int>(slot)) != 0 || handle_.total(static_cast<int>(slot)) != 0) return false;
  for (int k = 0; k < kCounterKindCount; ++k) {
    if (count(slot, static_cast<Kind>(k)) != 0) return false;
  }
  return true;
}

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kGreen: return "green";
    case Health::kAmber: return "amber";
    case Health::kRed: return "red";
  }
  return "green";
}

Health BacklogHealth(double oldest_wait_s, bool growing, const MetricOptions& options) {
  const double threshold_s = static_cast<double>(options.sl_threshold_ms) / 1000.0;
  if (oldest_wait_s > 2 * threshold_s || (oldest_wait_s > threshold_s && growing)) {
    return Health::kRed;
  }
  if (oldest_wait_s > threshold_s || growing) return Health::kAmber;
  return Health::kGreen;
}

TeamMetrics ComputeMetrics(const TeamWindows& windows, size_t slot, int64_t window_ms,
                           const BacklogState& backlog, TimeMs at, const MetricOptions& options,
                           double sl_target) {
  if (sl_target <= 0) sl_target = options.sl_target;
  TeamMetrics m;
  auto count = [&](Kind kind) { return windows.count(slot, kind); };
  const int s = static_cast<int>(slot);
  m.inflow = count(Kind::kInflow);
  m.answered = count(Kind::kAnswered);
  m.abandoned = count(Kind::kAbandoned);
  m.abandoned_short = count(Kind::kAbandonedShort);
  m.resolved = count(Kind::kResolved);
  m.closed = count(Kind::kClosed);
  m.transferred = count(Kind::kTransferred);
  m.escalated = count(Kind::kEscalated);
  m.reopened = count(Kind::kReopened);
  m.expired = count(Kind::kExpired);
  m.gaps = count(Kind::kGap);
  m.handled = m.resolved + m.closed + m.transferred + m.escalated;

  m.escalation = {m.escalated, m.handled};
  m.transfer = {m.transferred, m.handled};
  m.fcr_provisional = {count(Kind::kFcrProvisional), m.handled};
  const uint64_t confirmed = count(Kind::kFcrConfirmed);
  m.fcr_confirmed = {confirmed, confirmed + count(Kind::kFcrFailed)};
  m.repeat_contact = {count(Kind::kRepeat), m.resolved};
  m.abandon = {m.abandoned, m.answered + m.abandoned};
  m.service_level = {count(Kind::kAnsweredInSl), m.answered + m.abandoned};
  m.sl_target = sl_target;

  const auto& pool = windows.pool();
  if (const uint64_t n = windows.wait().total(s); n > 0) {
    m.asa_s = static_cast<double>(windows.wait_ms(slot)) / 1000.0 / static_cast<double>(n);
    m.wait_p50_s = windows.wait().QuantileSeconds(pool, s, 0.50);
    m.wait_p90_s = windows.wait().QuantileSeconds(pool, s, 0.90);
    m.wait_p99_s = windows.wait().QuantileSeconds(pool, s, 0.99);
  }
  if (const uint64_t n = windows.handle().total(s); n > 0) {
    m.aht_s = static_cast<double>(windows.handle_ms(slot)) / 1000.0 / static_cast<double>(n);
    m.handle_p50_s = windows.handle().QuantileSeconds(pool, s, 0.50);
    m.handle_p90_s = windows.handle().QuantileSeconds(pool, s, 0.90);
    m.handle_p99_s = windows.handle().QuantileSeconds(pool, s, 0.99);
  }

  m.waiting = backlog.waiting;
  m.in_progress = backlog.in_progress;
  if (backlog.oldest_wait_start) {
    m.oldest_wait_s = static_cast<double>(std::max<TimeMs>(0, at - *backlog.oldest_wait_start)) / 1000.0;
  }
  const double minutes = static_cast<double>(window_ms) / static_cast<double>(kMinuteMs);
  if (minutes > 0) {
    m.inflow_per_min = static_cast<double>(m.inflow) / minutes;
    m.outflow_per_min =
        static_cast<double>(m.handled + m.abandoned + m.abandoned_short) / minutes;
  }
  m.net_flow_per_min = m.inflow_per_min - m.outflow_per_min;
  const int64_t open = m.waiting + m.in_progress;
  if (open <= 0) {
    m.time_to_clear_s = 0.0;
  } else if (m.net_flow_per_min < 0) {
    m.time_to_clear_s = static_cast<double>(open) / -m.net_flow_per_min * 60.0;
  } else {
    m.growing = true;
  }
  m.health = BacklogHealth(m.oldest_wait_s, m.growing && m.waiting > 0, options);

  if (m.aht_s && window_ms > 0) {
    const double arrivals_per_s = static_cast<double>(m.inflow) / (static_cast<double>(window_ms) / 1000.0);
    m.required_agents = RequiredAgents(arrivals_per_s, *m.aht_s,
                                       static_cast<double>(options.sl_threshold_ms) / 1000.0,
                                       sl_target);
  }
  return m;
}

}  // namespace ccpulse::operators
