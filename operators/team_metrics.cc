// Metric definitions; see team_metrics.h and DESIGN §4.
#include "operators/team_metrics.h"

#include <algorithm>

#include "operators/staffing.h"

namespace ccpulse::operators {

void TeamAggregate::Apply(uint8_t kind, uint32_t value, int sign) {
  const Kind k = static_cast<Kind>(kind);
  if (k < Kind::kCounterKinds) {
    counts[kind] += static_cast<uint32_t>(sign);
  } else if (k == Kind::kWait) {
    wait_ms += sign * static_cast<int64_t>(value);
    sign > 0 ? wait.Add(value) : wait.Remove(value);
  } else if (k == Kind::kHandle) {
    handle_ms += sign * static_cast<int64_t>(value);
    sign > 0 ? handle.Add(value) : handle.Remove(value);
  }
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

TeamMetrics ComputeMetrics(const TeamAggregate& agg, int64_t window_ms, const BacklogState& backlog,
                           TimeMs at, const MetricOptions& options) {
  TeamMetrics m;
  m.inflow = agg.count(Kind::kInflow);
  m.answered = agg.count(Kind::kAnswered);
  m.abandoned = agg.count(Kind::kAbandoned);
  m.abandoned_short = agg.count(Kind::kAbandonedShort);
  m.resolved = agg.count(Kind::kResolved);
  m.closed = agg.count(Kind::kClosed);
  m.transferred = agg.count(Kind::kTransferred);
  m.escalated = agg.count(Kind::kEscalated);
  m.reopened = agg.count(Kind::kReopened);
  m.expired = agg.count(Kind::kExpired);
  m.gaps = agg.count(Kind::kGap);
  m.handled = m.resolved + m.closed + m.transferred + m.escalated;

  m.escalation = {m.escalated, m.handled};
  m.transfer = {m.transferred, m.handled};
  m.fcr_provisional = {agg.count(Kind::kFcrProvisional), m.handled};
  const uint64_t confirmed = agg.count(Kind::kFcrConfirmed);
  m.fcr_confirmed = {confirmed, confirmed + agg.count(Kind::kFcrFailed)};
  m.repeat_contact = {agg.count(Kind::kRepeat), m.resolved};
  m.abandon = {m.abandoned, m.answered + m.abandoned};
  m.service_level = {agg.count(Kind::kAnsweredInSl), m.answered + m.abandoned};
  m.sl_target = options.sl_target;

  if (agg.wait.total() > 0) {
    m.asa_s = static_cast<double>(agg.wait_ms) / 1000.0 / static_cast<double>(agg.wait.total());
    m.wait_p50_s = agg.wait.QuantileSeconds(0.50);
    m.wait_p90_s = agg.wait.QuantileSeconds(0.90);
    m.wait_p99_s = agg.wait.QuantileSeconds(0.99);
  }
  if (agg.handle.total() > 0) {
    m.aht_s = static_cast<double>(agg.handle_ms) / 1000.0 / static_cast<double>(agg.handle.total());
    m.handle_p50_s = agg.handle.QuantileSeconds(0.50);
    m.handle_p90_s = agg.handle.QuantileSeconds(0.90);
    m.handle_p99_s = agg.handle.QuantileSeconds(0.99);
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
                                       options.sl_target);
  }
  return m;
}

}  // namespace ccpulse::operators
