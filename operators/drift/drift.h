// Drift detection (DESIGN §5): per team, baselines learned online per hour-of-week cell, a
// risk-adjusted Bernoulli CUSUM per proportion metric, two-sided CUSUMs on hourly standardised
// log means for handle and wait time, and the backlog-age rule. Fed in event-time order by the
// engine; emits alert changes (firing, escalated, resolved) stamped in event time. Thresholds
// come from the requested in-control average run length, not from hand-set constants.
#ifndef CCPULSE_OPERATORS_DRIFT_DRIFT_H_
#define CCPULSE_OPERATORS_DRIFT_DRIFT_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "operators/contribution.h"

namespace ccpulse::operators {
class StateWriter;
class StateReader;
}  // namespace ccpulse::operators

namespace ccpulse::operators::drift {

enum class Metric : uint8_t {
  kEscalation = 0,    // escalated / handled
  kTransfer,          // transferred / handled
  kAbandon,           // abandoned after short_abandon / (answered + abandoned); hourly logit
  kFcrFailure,        // failed / FCR verdicts
  kServiceLevelMiss,  // answered after the threshold or abandoned / (answered + abandoned); hourly
  kHandleTime,        // hourly mean of log handle time
  kWaitTime,          // hourly mean of log wait
  kOldestWait,        // backlog age rule
};
inline constexpr int kMetricCount = 8;
inline constexpr int kProportionCount = 5;
std::string_view MetricName(Metric metric);

enum class Severity : uint8_t { kNone = 0, kWarning, kCritical };
std::string_view SeverityName(Severity severity);

struct DriftOptions {
  bool enabled = true;
  // Proportions.
  double odds_ratio = 2.0;         // the shift the CUSUM is tuned for
  double warning_arl = 5000;       // in-control contacts between false warnings
  double critical_arl = 50000;     // ... between false critical alerts
  double min_baseline = 200;       // contacts (decayed) before a detector arms
  // ... and this much event time of history, so every hour of the week has been seen once
  // (a roster seed arms proportions at once).
  int64_t min_history_ms = 7 * schemas::kDayMs;
  double shrinkage = 30;           // prior contacts pulling a cell toward the team rate
  int64_t half_life_ms = 28 * schemas::kDayMs;
  // Resolved when the Wilson upper bound of the recent rate (over the last contacts, as many
  // as needed to tell baseline from alarm level) stays below the midpoint this long.
  int64_t resolve_after_ms = 30 * schemas::kMinuteMs;
  // Durations: hourly standardised log means.
  double duration_k = 0.5;
  double duration_h_warning = 5;
  double duration_h_critical = 8;
  int min_hourly_contacts = 5;
  double min_duration_hours = 24;  // hours of baseline before arming
  // Backlog: oldest wait above the cell's p95 (and above backlog_floor_s, normally the
  // service-level threshold) for this long; clears below p75 as long.
  int64_t backlog_hold_ms = 15 * schemas::kMinuteMs;
  double backlog_floor_s = 20;
  double min_backlog_samples = 600;  // minutes with a queue in the baseline before arming
  // Hour-of-week cells are in this zone.
  absl::TimeZone zone = absl::UTCTimeZone();
};

// A detector's alarm as it stands; the alert sinks turn these into notifications.
struct AlertState {
  uint64_t key = 0;  // stable dedup key: hash(tenant, team, metric, direction)
  TeamIndex team = 0;
  Metric metric = Metric::kEscalation;
  bool up = true;  // direction
  Severity severity = Severity::kNone;  // when resolved: the severity it had while firing
  bool firing = false;
  TimeMs starts_at = 0;  // onset: the last time the statistic was 0
  TimeMs changed_at = 0;  // event time of the last change (fired, escalated, resolved)
  double baseline = 0;    // baseline rate (or seconds for durations)
  double alarm_level = 0; // the level the detector is tuned to catch
  double observed = 0;    // recent rate (or seconds)
  double observed_low = 0, observed_high = 0;  // 95 % Wilson interval (proportions)
  uint64_t recent_contacts = 0;
  double statistic = 0;
  double threshold = 0;   // of the current severity
  double arl0 = 0;        // in-control ARL the threshold implies (contacts, hours or minutes)
};

// One detector's description for the API and replay output.
struct DetectorInfo {
  TeamIndex team = 0;
  Metric metric = Metric::kEscalation;
  std::string_view state;  // "low_volume", "armed", "warning", "critical"
  double baseline = 0;
  double baseline_contacts = 0;
  double statistic = 0;
  double h_warning = 0, h_critical = 0;
  double arl0_warning = 0, arl0_critical = 0;
  double arl1_warning = 0;  // expected contacts to a warning at the tuned shift
  std::string_view unit;    // "contacts", "hours", "minutes"
};

// All teams' detectors. Worker-local; observations must arrive in event-time order.
class DriftMonitor {
 public:
  explicit DriftMonitor(DriftOptions options);
  ~DriftMonitor();
  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;

  const DriftOptions& options() const { return options_; }

  // A Bernoulli outcome of a proportion metric (y = the bad outcome happened).
  void OnOutcome(TeamIndex team, Metric metric, bool y, TimeMs time);
  // A duration observation (kHandleTime, kWaitTime), milliseconds.
  void OnDuration(TeamIndex team, Metric metric, uint32_t duration_ms, TimeMs time);
  // Each minute of event time: closes hours, samples the backlog of `waiting_teams`
  // (oldest-wait seconds per team), evaluates resolution of open alarms.
  void OnMinute(TimeMs minute, const std::vector<std::pair<TeamIndex, double>>& oldest_waits);

  // Seeds a team's baseline rate for a proportion metric with `contacts` of prior weight.
  void Seed(TeamIndex team, Metric metric, double rate, double contacts);

  // Changes since the last call (fired, escalated, resolved), in event-time order.
  std::vector<AlertState> TakeChanges();
  // Alarms that are firing now.
  std::vector<AlertState> OpenAlerts() const;
  // Every detector of `team` (for the API; computes ARLs, not for the hot path), with decayed
  // weights as of `at` (the windows' end; 0: the latest time seen), so that every monitor of a
  // team reports the same whatever other teams it holds.
  std::vector<DetectorInfo> Detectors(TeamIndex team, TimeMs at = 0) const;
  size_t MemoryBytes() const;

  // Checkpoints: every team's baselines, statistics and alarms (the options are configuration).
  void Save(StateWriter& out) const;
  void Load(StateReader& in);

  // Dedup key of (tenant, team, metric, direction): SipHash of the names, stable across
  // restarts and versions.
  static uint64_t AlertKey(std::string_view tenant, std::string_view team, Metric metric, bool up);
  void SetTeamKey(TeamIndex team, std::string_view tenant, std::string_view name);
  // The zone of `team`'s hour-of-week cells (default: options().zone). Set before its first
  // observation: cells already learned are not moved.
  void SetTeamZone(TeamIndex team, absl::TimeZone zone);

 private:
  struct TeamDrift;
  TeamDrift& Team(TeamIndex team);
  int HourOfWeek(const TeamDrift& team, TimeMs time);
  // Thresholds for a baseline rate, from a cached grid over log p, with the ARLs they imply
  // (in-control at the grid point, and at the tuned shift).
  struct GridEntry {
    double h_warning = -1, h_critical = -1, arl0_warning = 0, arl0_critical = 0, arl1_warning = 0;
  };
  const GridEntry& Thresholds(double p0) const;
  void CloseHour(TeamIndex team, int series);
  // One observation of an hourly series (see drift.cc: durations and load-driven ratios).
  void Observe(TeamIndex team, int series, double x, TimeMs time);
  // 2^((time - epoch) / half_life), setting or moving the epoch as needed.
  double ScaleAt(TimeMs time);
  // Sets the epoch (first call) or moves it forward (before the weights overflow).
  void SetEpoch(TimeMs time);
  double ScaleOf(TimeMs time) const;
  // Moves the epoch to `time`, rescaling every weight.
  void Renormalize(TimeMs time);

  DriftOptions options_;
  std::vector<std::unique_ptr<TeamDrift>> teams_;
  std::vector<AlertState> changes_;
  std::vector<TeamIndex> open_teams_;  // teams with an open alarm or hour (minute evaluation)
  TimeMs epoch_ = INT64_MIN;           // weights are 2^((t - epoch) / half_life)
  TimeMs last_time_ = 0;
  // Hour-of-week clock per distinct zone (clocks_[0] is options().zone), caching the hour.
  struct Clock {
    absl::TimeZone zone;
    TimeMs hour_start = 1, hour_end = 0;
    int hour_of_week = 0;
  };
  std::vector<Clock> clocks_;
  // Threshold grid: index -> (warning, critical), computed on first use.
  mutable std::vector<GridEntry> grid_;  // computed on first use
};

}  // namespace ccpulse::operators::drift

#endif  // CCPULSE_OPERATORS_DRIFT_DRIFT_H_
