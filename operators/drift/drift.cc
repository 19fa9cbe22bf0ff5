// Drift detectors; see drift.h.
#include "operators/drift/drift.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "operators/drift/arl.h"
#include "operators/state_archive.h"
#include "schemas/ids.h"

namespace ccpulse::operators::drift {
namespace {

constexpr int kCells = 168;  // hours of the week
constexpr double kZ95 = 1.959964;
constexpr double kP95 = 1.644854, kP75 = 0.674490;

// Threshold grid over the baseline rate: log-spaced from 0.1 % to 60 %.
constexpr int kGrid = 64;
constexpr double kGridLow = 0.001, kGridHigh = 0.6;
double GridValue(int i) { return kGridLow * std::pow(kGridHigh / kGridLow, static_cast<double>(i) / (kGrid - 1)); }

struct Wilson {
  double low, high;
};
Wilson WilsonInterval(double events, double trials) {
  if (trials <= 0) return {0, 1};
  const double p = events / trials, z2 = kZ95 * kZ95;
  const double center = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const double half = kZ95 * std::sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials);
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

// Decayed weighted moments of log values. Weights are stored pre-multiplied by
// 2^((t - epoch) / half_life), so old observations fade without touching every cell.
struct Moments {
  float weight = 0, mean = 0, m2 = 0;
  void Add(double w, double n, double mean_x, double m2_x) {
    // Merge a group of n values (mean_x, m2_x = sum of squared deviations) of weight w each.
    const double total = weight + w * n;
    if (total <= 0) return;
    const double delta = mean_x - mean;
    mean = static_cast<float>(mean + delta * (w * n) / total);
    m2 = static_cast<float>(m2 + w * m2_x + delta * delta * weight * (w * n) / total);
    weight = static_cast<float>(total);
  }
  double variance() const { return weight > 0 ? m2 / weight : 0; }
  void Scale(double f) {
    weight = static_cast<float>(weight * f);
    m2 = static_cast<float>(m2 * f);
  }
};

// Hourly series: handle and wait time (log seconds of each contact), and the load-driven
// proportions, abandon and service-level miss, as one logit per hour (queues make their
// contacts far from independent, so a per-contact Bernoulli chart would page on every busy
// hour).
constexpr int kSeries = 4;
int SeriesOf(Metric m) {
  switch (m) {
    case Metric::kHandleTime: return 0;
    case Metric::kWaitTime: return 1;
    case Metric::kAbandon: return 2;
    case Metric::kServiceLevelMiss: return 3;
    default: return -1;
  }
}
constexpr Metric kSeriesMetric[kSeries] = {Metric::kHandleTime, Metric::kWaitTime, Metric::kAbandon,
                                          Metric::kServiceLevelMiss};
bool IsRatioSeries(int series) { return series >= 2; }
double Logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct Counts {
  float trials = 0, events = 0;
  void Scale(double f) {
    trials = static_cast<float>(trials * f);
    events = static_cast<float>(events * f);
  }
};

}  // namespace

std::string_view MetricName(Metric metric) {
  static constexpr std::string_view kNames[kMetricCount] = {
      "escalation_ratio", "transfer_ratio", "abandon_ratio", "fcr_failure_ratio",
      "service_level_miss_ratio", "handle_time", "wait_time", "oldest_wait"};
  return kNames[static_cast<int>(metric)];
}

std::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
    default: return "none";
  }
}

struct DriftMonitor::TeamDrift {
  // Baselines are hierarchical: an hour-of-week cell is shrunk toward its hour of the day (all
  // weekdays), which is shrunk toward the team, so a week of history already knows the day's
  // shape and a month knows Monday mornings.
  struct Proportion {
    std::array<Counts, kCells> cells;
    std::array<Counts, 24> hours;
    Counts total;
    double s = 0;
    TimeMs last_zero = 0;
    double since_zero_trials = 0, since_zero_events = 0;  // the evidence behind s
    AlertState alert;  // alert.firing: the baseline is frozen
    // While firing: the latest outcomes (1 = bad), at most `recent_cap`, for the Wilson bound.
    std::deque<bool> recent;
    size_t recent_cap = 0;
    double recent_events = 0;
    TimeMs below_since = -1;

    template <typename Ar>
    void Persist(Ar& ar) {
      ar(cells, hours, total, s, last_zero, since_zero_trials, since_zero_events, alert, recent, recent_cap,
         recent_events, below_since);
    }
  };
  struct Duration {
    std::array<Moments, kCells> cells;
    std::array<Moments, 24> hours;
    Moments total;
    Moments residual;  // hourly mean minus its cell's mean: the real hour-to-hour spread
    double closed_hours = 0;
    TimeMs hour = INT64_MIN;  // start of the hour being collected
    double n = 0, mean = 0, m2 = 0;  // of log seconds in that hour
    double events = 0;                // ratio series: bad outcomes in that hour (n = trials)
    double s_up = 0, s_down = 0;
    TimeMs zero_up = 0, zero_down = 0;
    AlertState up, down;
    int calm_hours = 0;
  };
  struct Backlog {
    std::array<Moments, kCells> cells;
    Moments total;
    TimeMs last_minute = INT64_MIN;
    TimeMs above_since = -1, below_since = -1;
    AlertState alert;
  };
  std::array<Proportion, kProportionCount> proportions;
  std::array<Duration, kSeries> durations;
  Backlog backlog;
  std::array<uint64_t, kMetricCount * 2> keys{};
  std::array<bool, kProportionCount> seeded{};
  TimeMs first_seen = INT64_MIN;
  uint16_t clock = 0;  // index into clocks_ (the zone of the hour-of-week cells)
  bool open = false;   // in open_teams_
  template <typename Ar>
  void Persist(Ar& ar) {
    ar(proportions, durations, backlog, keys, seeded, first_seen, clock, open);
  }
  bool Mature(TimeMs now, int64_t min_history) const { return first_seen != INT64_MIN && now - first_seen >= min_history; }
};

DriftMonitor::DriftMonitor(DriftOptions options) : options_(std::move(options)), clocks_{{options_.zone}} {}
DriftMonitor::~DriftMonitor() = default;

uint64_t DriftMonitor::AlertKey(std::string_view tenant, std::string_view team, Metric metric, bool up) {
  // A fixed, public key: the dedup key must be the same in every process and version.
  static const schemas::HashKey kAlertKey{0x63637075736c6572ULL, 0x742d6b65792d7631ULL};
  const uint64_t names = schemas::SipHash24Pair(kAlertKey, tenant, team);
  const std::string_view bytes(reinterpret_cast<const char*>(&names), sizeof(names));
  std::string suffix(MetricName(metric));
  suffix += up ? "/up" : "/down";
  return schemas::SipHash24Pair(kAlertKey, bytes, suffix);
}

DriftMonitor::TeamDrift& DriftMonitor::Team(TeamIndex team) {
  if (team >= teams_.size()) teams_.resize(team + 1);
  if (!teams_[team]) teams_[team] = std::make_unique<TeamDrift>();
  return *teams_[team];
}

void DriftMonitor::SetTeamKey(TeamIndex team, std::string_view tenant, std::string_view name) {
  TeamDrift& t = Team(team);
  for (int m = 0; m < kMetricCount; ++m) {
    t.keys[m * 2] = AlertKey(tenant, name, static_cast<Metric>(m), true);
    t.keys[m * 2 + 1] = AlertKey(tenant, name, static_cast<Metric>(m), false);
  }
}

void DriftMonitor::SetTeamZone(TeamIndex team, absl::TimeZone zone) {
  size_t i = 0;
  while (i < clocks_.size() && clocks_[i].zone != zone) ++i;
  if (i == clocks_.size()) clocks_.push_back({zone});
  Team(team).clock = static_cast<uint16_t>(i);
}

int DriftMonitor::HourOfWeek(const TeamDrift& team, TimeMs time) {
  Clock& c = clocks_[team.clock];
  if (time < c.hour_start || time >= c.hour_end) {
    const absl::Time t = absl::FromUnixMillis(time);
    const absl::CivilHour hour = absl::ToCivilHour(t, c.zone);
    const int weekday = static_cast<int>(absl::GetWeekday(absl::CivilDay(hour)));  // Monday = 0
    c.hour_of_week = weekday * 24 + hour.hour();
    c.hour_start = absl::ToUnixMillis(c.zone.At(absl::CivilSecond(hour)).pre);
    c.hour_end = absl::ToUnixMillis(c.zone.At(absl::CivilSecond(hour + 1)).pre);
    if (c.hour_end <= c.hour_start) c.hour_end = c.hour_start + schemas::kHourMs;
  }
  return c.hour_of_week;
}

const DriftMonitor::GridEntry& DriftMonitor::Thresholds(double p0) const {
  if (grid_.empty()) grid_.resize(kGrid);
  const double x = std::log(std::clamp(p0, kGridLow, kGridHigh) / kGridLow) / std::log(kGridHigh / kGridLow) * (kGrid - 1);
  // Thresholds fall as p grows (for a fixed ARL); the grid point at or below p0 gives the
  // larger threshold, so the ARL is never below target.
  const int i = std::clamp(static_cast<int>(std::floor(x)), 0, kGrid - 1);
  GridEntry& e = grid_[i];
  if (e.h_warning < 0) {
    const double p = GridValue(i), r = options_.odds_ratio;
    e.h_warning = BernoulliCusumThreshold(p, r, options_.warning_arl);
    e.h_critical = BernoulliCusumThreshold(p, r, options_.critical_arl);
    e.arl0_warning = BernoulliCusumArl(p, r, e.h_warning, p);
    e.arl0_critical = BernoulliCusumArl(p, r, e.h_critical, p);
    e.arl1_warning = BernoulliCusumArl(p, r, e.h_warning, OddsShifted(p, r));
  }
  return e;
}

void DriftMonitor::Seed(TeamIndex team, Metric metric, double rate, double contacts) {
  if (static_cast<int>(metric) >= kProportionCount) return;
  Team(team).seeded[static_cast<int>(metric)] = true;
  auto& p = Team(team).proportions[static_cast<int>(metric)];
  // Seeded at weight scale 1 (the epoch): it decays like an observation at the epoch.
  p.total.trials += static_cast<float>(contacts);
  p.total.events += static_cast<float>(contacts * rate);
  for (Counts& c : p.cells) {
    c.trials += static_cast<float>(contacts / kCells);
    c.events += static_cast<float>(contacts * rate / kCells);
  }
  for (Counts& c : p.hours) {
    c.trials += static_cast<float>(contacts / 24);
    c.events += static_cast<float>(contacts * rate / 24);
  }
}

void DriftMonitor::OnOutcome(TeamIndex team, Metric metric, bool y, TimeMs time) {
  if (!options_.enabled) return;
  if (SeriesOf(metric) >= 0) {
    Observe(team, SeriesOf(metric), y ? 1.0 : 0.0, time);
    return;
  }
  TeamDrift& t = Team(team);
  auto& p = t.proportions[static_cast<int>(metric)];
  if (t.first_seen == INT64_MIN) t.first_seen = time;
  last_time_ = std::max(last_time_, time);
  const double scale = ScaleAt(time);
  const int cell = HourOfWeek(t, time);
  const double trials = p.total.trials / scale;
  const double p_team = p.total.trials > 0 ? p.total.events / p.total.trials : 0;
  const bool mature = t.seeded[static_cast<int>(metric)] || t.Mature(time, options_.min_history_ms);
  if (mature && trials >= options_.min_baseline && p_team > 0 && p_team < 1) {
    const double k = options_.shrinkage;
    const Counts& hour = p.hours[cell % 24];
    const double p_hour = (hour.events / scale + k * p_team) / (hour.trials / scale + k);
    const double p0 = std::clamp((p.cells[cell].events / scale + k * p_hour) / (p.cells[cell].trials / scale + k), 1e-4, 0.999);
    const double r = options_.odds_ratio;
    const double w = y ? std::log(r / (1 - p0 + r * p0)) : -std::log(1 - p0 + r * p0);
    p.s = std::max(0.0, p.s + w);
    if (p.s == 0) {
      p.last_zero = time;
      p.since_zero_trials = p.since_zero_events = 0;
    } else {
      p.since_zero_trials += 1;
      p.since_zero_events += y ? 1 : 0;
    }
    const GridEntry& grid = Thresholds(p_team);
    const double hw = grid.h_warning, hc = grid.h_critical;
    AlertState& a = p.alert;
    if (a.firing) {
      p.recent.push_back(y);
      p.recent_events += y ? 1 : 0;
      if (p.recent.size() > p.recent_cap) {
        p.recent_events -= p.recent.front() ? 1 : 0;
        p.recent.pop_front();
      }
    }
    const Severity reached = p.s >= hc ? Severity::kCritical : p.s >= hw ? Severity::kWarning : Severity::kNone;
    if (reached > a.severity) {
      if (!a.firing) {
        a = AlertState{};
        a.key = t.keys[static_cast<int>(metric) * 2];
        a.team = team;
        a.metric = metric;
        a.up = true;
        a.firing = true;
        a.starts_at = p.last_zero;
        a.baseline = p_team;
        a.alarm_level = OddsShifted(p_team, r);
        p.recent.clear();
        p.recent_events = 0;
        p.below_since = -1;
        // Enough contacts that, at the baseline rate, the Wilson upper bound falls below the
        // midpoint between baseline and alarm level: twice the z^2 p (1 - p) / (d / 2)^2 needed.
        const double half_gap = 0.5 * (a.alarm_level - a.baseline);
        p.recent_cap = static_cast<size_t>(
            std::ceil(2.0 * kZ95 * kZ95 * a.baseline * (1 - a.baseline) / (half_gap * half_gap)));
      }
      a.severity = reached;
      a.changed_at = time;
      a.statistic = p.s;
      a.threshold = reached == Severity::kCritical ? hc : hw;
      a.arl0 = reached == Severity::kCritical ? options_.critical_arl : options_.warning_arl;
      // Evidence: the outcomes since the statistic last left 0 (the onset).
      const Wilson wilson = WilsonInterval(p.since_zero_events, p.since_zero_trials);
      a.observed = p.since_zero_trials > 0 ? p.since_zero_events / p.since_zero_trials : 0;
      a.observed_low = wilson.low;
      a.observed_high = wilson.high;
      a.recent_contacts = static_cast<uint64_t>(p.since_zero_trials);
      changes_.push_back(a);
      if (!t.open) {
        t.open = true;
        open_teams_.push_back(team);
      }
    } else if (a.firing) {
      a.statistic = p.s;
    }
  }
  if (!p.alert.firing) {
    p.cells[cell].trials += static_cast<float>(scale);
    p.cells[cell].events += static_cast<float>(y ? scale : 0);
    p.hours[cell % 24].trials += static_cast<float>(scale);
    p.hours[cell % 24].events += static_cast<float>(y ? scale : 0);
    p.total.trials += static_cast<float>(scale);
    p.total.events += static_cast<float>(y ? scale : 0);
  }
}

void DriftMonitor::OnDuration(TeamIndex team, Metric metric, uint32_t duration_ms, TimeMs time) {
  if (!options_.enabled || SeriesOf(metric) < 0) return;
  Observe(team, SeriesOf(metric), std::log(std::max<double>(duration_ms, 1000.0) / 1000.0), time);
}

void DriftMonitor::Observe(TeamIndex team, int series, double x, TimeMs time) {
  TeamDrift& t = Team(team);
  auto& d = t.durations[series];
  SetEpoch(time);
  if (t.first_seen == INT64_MIN) t.first_seen = time;
  last_time_ = std::max(last_time_, time);
  const TimeMs hour = time - ((time % schemas::kHourMs) + schemas::kHourMs) % schemas::kHourMs;
  if (hour != d.hour) {
    if (d.hour != INT64_MIN) CloseHour(team, series);
    d.hour = hour;
    d.n = d.mean = d.m2 = d.events = 0;
    if (!t.open) {
      t.open = true;
      open_teams_.push_back(team);
    }
  }
  d.n += 1;
  d.events += x;  // ratio series: x is the outcome (0/1)
  const double delta = x - d.mean;
  d.mean += delta / d.n;
  d.m2 += delta * (x - d.mean);
}

void DriftMonitor::CloseHour(TeamIndex team, int series) {
  TeamDrift& t = *teams_[team];
  auto& d = t.durations[series];
  const Metric metric = kSeriesMetric[series];
  const bool ratio = IsRatioSeries(series);
  const TimeMs hour = d.hour;
  d.hour = INT64_MIN;
  if (d.n < options_.min_hourly_contacts) return;
  if (ratio) {
    // One value for the hour: the logit of its rate (with a half-count of smoothing).
    const double trials = d.n;
    d.mean = std::log((d.events + 0.5) / (trials - d.events + 0.5));
    d.n = 1;
    d.m2 = 0;
  }
  const double scale = ScaleAt(hour);
  const int cell = HourOfWeek(t, hour);
  const bool frozen = d.up.firing || d.down.firing;
  const Moments& c = d.cells[cell];
  const Moments& h = d.hours[cell % 24];
  // Shrinkage weight in the series' own units: contacts for durations, hours for ratios.
  const double k = ratio ? 2.0 : options_.shrinkage;
  const double cw = d.total.weight > 0 ? c.weight / scale : 0, hw = d.total.weight > 0 ? h.weight / scale : 0;
  const double mu_hour = d.total.weight > 0 ? (hw * h.mean + k * d.total.mean) / (hw + k) : d.mean;
  const double mu = d.total.weight > 0 ? (cw * c.mean + k * mu_hour) / (cw + k) : d.mean;
  const double var = d.total.weight > 0 ? (cw * c.variance() + k * d.total.variance()) / (cw + k) : 0;
  const double sd = std::sqrt(std::max(var, 1e-4));
  // Standardise against the real spread of hourly means (queues make neighbouring contacts
  // alike, so it is far wider than sd / sqrt(n)), never narrower than the sampling noise.
  const double residual_sd = std::sqrt(d.residual.variance() + double(d.residual.mean) * d.residual.mean);
  const double spread = std::max(residual_sd, sd / std::sqrt(d.n));
  if (d.closed_hours >= options_.min_duration_hours && t.Mature(hour, options_.min_history_ms)) {
    const double z = std::clamp((d.mean - mu) / spread, -20.0, 20.0);
    d.s_up = std::max(0.0, d.s_up + z - options_.duration_k);
    d.s_down = std::max(0.0, d.s_down - z - options_.duration_k);
    if (d.s_up == 0) d.zero_up = hour;
    if (d.s_down == 0) d.zero_down = hour;
    for (int dir = 0; dir < (ratio ? 1 : 2); ++dir) {  // ratios: only "up" is a problem
      AlertState& a = dir == 0 ? d.up : d.down;
      const double s = dir == 0 ? d.s_up : d.s_down;
      const Severity reached = s >= options_.duration_h_critical ? Severity::kCritical
                               : s >= options_.duration_h_warning ? Severity::kWarning
                                                                  : Severity::kNone;
      const double toward = dir == 0 ? z : -z;
      if (reached > a.severity) {
        if (!a.firing) {
          a = AlertState{};
          a.key = t.keys[static_cast<int>(metric) * 2 + dir];
          a.team = team;
          a.metric = metric;
          a.up = dir == 0;
          a.firing = true;
          a.starts_at = dir == 0 ? d.zero_up : d.zero_down;
          a.baseline = ratio ? Logistic(mu) : std::exp(mu);
          a.alarm_level = ratio ? Logistic(mu + spread) : std::exp(mu + (dir == 0 ? 1 : -1) * spread);
          d.calm_hours = 0;
        }
        a.severity = reached;
        a.changed_at = hour + schemas::kHourMs;
        a.statistic = s;
        a.threshold = reached == Severity::kCritical ? options_.duration_h_critical : options_.duration_h_warning;
        a.arl0 = TwoSidedNormalCusumArl(options_.duration_k, a.threshold, 0);
        a.observed = ratio ? Logistic(d.mean) : std::exp(d.mean);
        a.recent_contacts = static_cast<uint64_t>(d.n);
        changes_.push_back(a);
      } else if (a.firing) {
        a.statistic = s;
        a.observed = ratio ? Logistic(d.mean) : std::exp(d.mean);
        a.recent_contacts = static_cast<uint64_t>(d.n);
        // Resolved once the hourly mean is back below the midpoint (half the tuned shift)
        // for two hours in a row.
        d.calm_hours = toward < 0.5 ? d.calm_hours + 1 : 0;
        if (d.calm_hours >= 2) {
          // The change keeps the severity it had; the detector starts over.
          a.firing = false;
          a.changed_at = hour + schemas::kHourMs;
          changes_.push_back(a);
          a.severity = Severity::kNone;
          (dir == 0 ? d.s_up : d.s_down) = 0;
        }
      }
    }
  }
  if (!frozen) {
    if (d.total.weight > 0) d.residual.Add(scale, 1, d.mean - mu, 0);
    d.cells[cell].Add(scale, d.n, d.mean, d.m2);
    d.hours[cell % 24].Add(scale, d.n, d.mean, d.m2);
    d.total.Add(scale, d.n, d.mean, d.m2);
    d.closed_hours += 1;
  }
}

void DriftMonitor::OnMinute(TimeMs minute, const std::vector<std::pair<TeamIndex, double>>& oldest_waits) {
  if (!options_.enabled) return;
  const double scale = ScaleAt(minute);
  last_time_ = std::max(last_time_, minute);
  // Backlog samples: teams with someone waiting, plus teams whose backlog alarm is open.
  auto sample = [&](TeamIndex team, double oldest_s) {
    TeamDrift& t = Team(team);
    auto& b = t.backlog;
    if (t.first_seen == INT64_MIN) t.first_seen = minute;
    b.last_minute = minute;
    const double x = std::log1p(std::max(0.0, oldest_s));
    const int cell = HourOfWeek(t, minute);
    if (b.total.weight / scale >= options_.min_backlog_samples && t.Mature(minute, options_.min_history_ms)) {
      const Moments& c = b.cells[cell];
      const double cw = c.weight / scale, k = options_.shrinkage;
      const double mu = (cw * c.mean + k * b.total.mean) / (cw + k);
      const double sd = std::sqrt(std::max((cw * c.variance() + k * b.total.variance()) / (cw + k), 1e-6));
      const double p95 = std::expm1(mu + kP95 * sd), p75 = std::expm1(mu + kP75 * sd);
      AlertState& a = b.alert;
      if (!a.firing) {
        const bool above = oldest_s > p95 && oldest_s > options_.backlog_floor_s;
        b.above_since = above ? (b.above_since < 0 ? minute : b.above_since) : -1;
        if (b.above_since >= 0 && minute - b.above_since >= options_.backlog_hold_ms) {
          a = AlertState{};
          a.key = t.keys[static_cast<int>(Metric::kOldestWait) * 2];
          a.team = team;
          a.metric = Metric::kOldestWait;
          a.firing = true;
          a.severity = Severity::kWarning;
          a.starts_at = b.above_since;
          a.changed_at = minute;
          a.baseline = p75;
          a.alarm_level = p95;
          a.observed = oldest_s;
          a.threshold = p95;
          b.below_since = -1;
          changes_.push_back(a);
          if (!t.open) {
            t.open = true;
            open_teams_.push_back(team);
          }
        }
      } else {
        a.observed = oldest_s;
        b.below_since = oldest_s < p75 ? (b.below_since < 0 ? minute : b.below_since) : -1;
        if (b.below_since >= 0 && minute - b.below_since >= options_.backlog_hold_ms) {
          a.firing = false;
          a.changed_at = minute;
          changes_.push_back(a);
          a.severity = Severity::kNone;
          b.above_since = -1;
        }
      }
    }
    // The baseline describes minutes with a queue: quiet minutes would drag the p95 to zero.
    if (!b.alert.firing && oldest_s > 0) {
      b.cells[cell].Add(scale, 1, x, 0);
      b.total.Add(scale, 1, x, 0);
    }
  };
  for (const auto& [team, oldest] : oldest_waits) sample(team, oldest);

  // Open alarms and open hours: resolution and hour closing.
  std::vector<TeamIndex> still_open;
  for (TeamIndex team : open_teams_) {
    TeamDrift& t = *teams_[team];
    if (t.backlog.alert.firing && t.backlog.last_minute != minute) sample(team, 0);
    for (int m = 0; m < kProportionCount; ++m) {
      auto& p = t.proportions[m];
      AlertState& a = p.alert;
      if (!a.firing) continue;
      const double trials = static_cast<double>(p.recent.size()), events = p.recent_events;
      const Wilson w = WilsonInterval(events, trials);
      a.observed = trials > 0 ? events / trials : a.observed;
      a.observed_low = w.low;
      a.observed_high = w.high;
      a.recent_contacts = static_cast<uint64_t>(trials);
      const double midpoint = 0.5 * (a.baseline + a.alarm_level);
      if (p.recent.size() >= p.recent_cap && w.high < midpoint) {
        if (p.below_since < 0) p.below_since = minute;
        if (minute - p.below_since >= options_.resolve_after_ms) {
          a.firing = false;
          a.changed_at = minute;
          changes_.push_back(a);
          a.severity = Severity::kNone;
          p.s = 0;
          p.last_zero = minute;
          p.recent.clear();
          p.recent_events = 0;
        }
      } else {
        p.below_since = -1;
      }
    }
    bool open = t.backlog.alert.firing;
    for (int i = 0; i < kSeries; ++i) {
      auto& d = t.durations[i];
      if (d.hour != INT64_MIN && minute >= d.hour + schemas::kHourMs) CloseHour(team, i);
      open = open || d.hour != INT64_MIN || d.up.firing || d.down.firing;
    }
    for (const auto& p : t.proportions) open = open || p.alert.firing;
    if (open) still_open.push_back(team);
    t.open = open;
  }
  open_teams_ = std::move(still_open);
}

double DriftMonitor::ScaleAt(TimeMs time) {
  SetEpoch(time);
  return ScaleOf(time);
}

void DriftMonitor::SetEpoch(TimeMs time) {
  // The epoch is a multiple of the half-life, and the scale 2^k * 2^(r / half_life) with k whole
  // half-lives and r the remainder: another epoch changes k only, a power of two, which is
  // exact. The results then do not depend on when the first observation or minute came (a
  // team stage that starts later than a whole engine computes the same bits).
  const int64_t half_life = options_.half_life_ms;
  const TimeMs epoch = time - (((time % half_life) + half_life) % half_life);
  if (epoch_ == INT64_MIN) epoch_ = epoch;
  // Move the epoch forward before the weights overflow a float (after ~100 half-lives).
  if (time - epoch_ > 99 * half_life) Renormalize(epoch);
}

double DriftMonitor::ScaleOf(TimeMs time) const {
  const int64_t half_life = options_.half_life_ms;
  const int64_t elapsed = time - epoch_;
  const int64_t whole = elapsed >= 0 ? elapsed / half_life : -((-elapsed + half_life - 1) / half_life);
  const int64_t rest = elapsed - whole * half_life;
  return std::ldexp(std::exp2(static_cast<double>(rest) / static_cast<double>(half_life)), static_cast<int>(whole));
}

void DriftMonitor::Renormalize(TimeMs time) {
  const double f = std::exp2(-static_cast<double>(time - epoch_) / static_cast<double>(options_.half_life_ms));
  for (auto& t : teams_) {
    if (!t) continue;
    for (auto& p : t->proportions) {
      for (Counts& c : p.cells) c.Scale(f);
      for (Counts& c : p.hours) c.Scale(f);
      p.total.Scale(f);
    }
    for (auto& d : t->durations) {
      for (Moments& c : d.cells) c.Scale(f);
      for (Moments& c : d.hours) c.Scale(f);
      d.total.Scale(f);
      d.residual.Scale(f);
    }
    for (Moments& c : t->backlog.cells) c.Scale(f);
    t->backlog.total.Scale(f);
  }
  epoch_ = time;
}

std::vector<AlertState> DriftMonitor::TakeChanges() {
  std::vector<AlertState> out;
  out.swap(changes_);
  return out;
}

std::vector<AlertState> DriftMonitor::OpenAlerts() const {
  std::vector<AlertState> out;
  for (TeamIndex team : open_teams_) {
    const TeamDrift& t = *teams_[team];
    for (const auto& p : t.proportions) {
      if (p.alert.firing) out.push_back(p.alert);
    }
    for (const auto& d : t.durations) {
      if (d.up.firing) out.push_back(d.up);
      if (d.down.firing) out.push_back(d.down);
    }
    if (t.backlog.alert.firing) out.push_back(t.backlog.alert);
  }
  return out;
}

std::vector<DetectorInfo> DriftMonitor::Detectors(TeamIndex team, TimeMs at) const {
  std::vector<DetectorInfo> out;
  if (team >= teams_.size() || !teams_[team]) return out;
  const TeamDrift& t = *teams_[team];
  const TimeMs when = at > 0 ? at : last_time_;
  const double scale = epoch_ == INT64_MIN ? 1.0 : ScaleOf(when);
  for (int m = 0; m < kProportionCount; ++m) {
    if (SeriesOf(static_cast<Metric>(m)) >= 0) continue;  // reported as hourly series below
    const auto& p = t.proportions[m];
    DetectorInfo info;
    info.team = team;
    info.metric = static_cast<Metric>(m);
    info.unit = "contacts";
    info.baseline_contacts = p.total.trials / std::max(scale, 1e-30);
    info.baseline = p.total.trials > 0 ? p.total.events / p.total.trials : 0;
    info.statistic = p.s;
    const bool armed = info.baseline_contacts >= options_.min_baseline && info.baseline > 0 && info.baseline < 1;
    info.state = p.alert.firing ? SeverityName(p.alert.severity) : armed ? "armed" : "low_volume";
    if (armed) {
      const GridEntry& grid = Thresholds(info.baseline);
      info.h_warning = grid.h_warning;
      info.h_critical = grid.h_critical;
      info.arl0_warning = grid.arl0_warning;
      info.arl0_critical = grid.arl0_critical;
      info.arl1_warning = grid.arl1_warning;
    }
    out.push_back(info);
  }
  static const double kArl0Warning = TwoSidedNormalCusumArl(0.5, 5, 0), kArl0Critical = TwoSidedNormalCusumArl(0.5, 8, 0);
  static const double kArl1Warning = TwoSidedNormalCusumArl(0.5, 5, 1);
  for (int i = 0; i < kSeries; ++i) {
    const auto& d = t.durations[i];
    DetectorInfo info;
    info.team = team;
    info.metric = kSeriesMetric[i];
    info.unit = "hours";
    info.baseline = d.total.weight == 0 ? 0 : IsRatioSeries(i) ? Logistic(d.total.mean) : std::exp(d.total.mean);
    info.baseline_contacts = d.closed_hours;
    info.statistic = std::max(d.s_up, d.s_down);
    const bool armed = d.closed_hours >= options_.min_duration_hours && t.Mature(when, options_.min_history_ms);
    info.state = d.up.firing ? SeverityName(d.up.severity) : d.down.firing ? SeverityName(d.down.severity)
                 : armed ? "armed" : "low_volume";
    info.h_warning = options_.duration_h_warning;
    info.h_critical = options_.duration_h_critical;
    const bool defaults = options_.duration_k == 0.5 && options_.duration_h_warning == 5 && options_.duration_h_critical == 8;
    info.arl0_warning = defaults ? kArl0Warning : TwoSidedNormalCusumArl(options_.duration_k, info.h_warning, 0);
    info.arl0_critical = defaults ? kArl0Critical : TwoSidedNormalCusumArl(options_.duration_k, info.h_critical, 0);
    info.arl1_warning = defaults ? kArl1Warning : TwoSidedNormalCusumArl(options_.duration_k, info.h_warning, 1);
    out.push_back(info);
  }
  DetectorInfo backlog;
  backlog.team = team;
  backlog.metric = Metric::kOldestWait;
  backlog.unit = "minutes";
  backlog.baseline_contacts = t.backlog.total.weight / std::max(scale, 1e-30);
  backlog.baseline = t.backlog.total.weight > 0 ? std::expm1(t.backlog.total.mean) : 0;
  backlog.state = t.backlog.alert.firing ? "warning"
                  : backlog.baseline_contacts >= options_.min_backlog_samples ? "armed" : "low_volume";
  out.push_back(backlog);
  return out;
}

size_t DriftMonitor::MemoryBytes() const {
  size_t bytes = teams_.capacity() * sizeof(void*);
  for (const auto& t : teams_) {
    if (t) bytes += sizeof(TeamDrift);
  }
  return bytes;
}

void DriftMonitor::Save(StateWriter& out) const {
  std::vector<absl::TimeZone> zones;
  for (const Clock& clock : clocks_) zones.push_back(clock.zone);
  out(teams_, changes_, open_teams_, epoch_, last_time_, zones);
}

void DriftMonitor::Load(StateReader& in) {
  std::vector<absl::TimeZone> zones;
  in(teams_, changes_, open_teams_, epoch_, last_time_, zones);
  if (zones.empty()) in.Fail("drift clocks");
  clocks_.clear();
  for (const absl::TimeZone& zone : zones) clocks_.push_back(Clock{zone});
  for (const auto& team : teams_) {
    if (team != nullptr && team->clock >= clocks_.size()) in.Fail("drift clock index");
  }
}

}  // namespace ccpulse::operators::drift
