// Drift detectors: false-alarm rate against the configured ARL over a simulated month, detection
// delay against the ARL at the tuned shift, alert lifecycle (onset, escalation, resolution),
// low volume, durations and backlog rules, and dedup keys.
#include "operators/drift/drift.h"

#include <cmath>
#include <random>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "operators/drift/arl.h"

namespace ccpulse::operators::drift {
namespace {

constexpr TimeMs kT0 = 1'772'409'600'000;  // Monday 2026-03-02 00:00 UTC
constexpr TimeMs kMinute = 60'000, kHour = 60 * kMinute, kDay = 24 * kHour;

// An hour-of-week pattern of escalation probability: busier afternoons escalate more.
double TrueRate(double base, TimeMs t) {
  const int hour = static_cast<int>((t / kHour) % 24);
  return base * (hour >= 12 && hour < 18 ? 1.5 : 1.0);
}

// Drives `teams` teams with `per_day` contacts a day (uniform over the day) for `days`, calling
// minute ticks; returns the escalation alerts that fired (warning or critical) in [from, to).
struct Fired {
  int warnings = 0, criticals = 0;
  uint64_t contacts = 0;
};

Fired RunInControl(DriftMonitor& monitor, int teams, int per_day, int days, TimeMs count_from,
                   uint64_t seed, std::vector<double> base_rates) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Fired fired;
  const TimeMs gap = kDay / per_day;
  for (int t = 0; t < teams; ++t) monitor.SetTeamKey(t, "default", "team-" + std::to_string(t));
  for (TimeMs time = kT0; time < kT0 + days * kDay; time += gap) {
    for (int t = 0; t < teams; ++t) {
      const bool y = u(rng) < TrueRate(base_rates[t], time);
      monitor.OnOutcome(static_cast<TeamIndex>(t), Metric::kEscalation, y, time + t);
      if (time >= count_from) ++fired.contacts;
    }
    if ((time + gap) / kMinute != time / kMinute) monitor.OnMinute((time + gap) / kMinute * kMinute, {});
    for (const AlertState& a : monitor.TakeChanges()) {
      if (a.changed_at < count_from || !a.firing) continue;
      if (a.severity == Severity::kWarning) ++fired.warnings;
      if (a.severity == Severity::kCritical) ++fired.criticals;
    }
  }
  return fired;
}

TEST(DriftTest, InControlMonthFalseAlarmsMatchTheConfiguredArl) {
  // 50 teams, 500 contacts a day each, base escalation rates 3-9 % with an afternoon peak
  // (the risk adjustment has to learn it). Four weeks of warm-up (baselines learn, alarms not
  // counted), then a month is counted: 700,000 contacts.
  DriftOptions options;
  DriftMonitor monitor(options);
  std::vector<double> rates;
  for (int t = 0; t < 50; ++t) rates.push_back(0.03 + 0.06 * t / 49.0);
  const Fired fired = RunInControl(monitor, 50, 500, 56, kT0 + 28 * kDay, 2026, rates);
  // A warning opens an alarm episode; new warnings need the alarm to resolve first, so the
  // count is at most contacts / ARL0. If run lengths were exactly geometric with mean
  // ARL0 = 5,000 the count would be Poisson(140); the baseline is estimated (about 100 decayed
  // contacts per hour-of-week cell, shrunk toward the team rate), which shortens run lengths.
  // Bound: the count must not exceed 1.6 x the ARL expectation (224), nor fall below half of
  // it (70); 1.6 x allows for estimation error and is still far from the uncorrected chart.
  const double expected = static_cast<double>(fired.contacts) / options.warning_arl;
  std::printf("in-control: %llu contacts, %d warnings (ARL expectation %.0f), %d critical (expectation %.1f)\n",
              static_cast<unsigned long long>(fired.contacts), fired.warnings, expected, fired.criticals,
              static_cast<double>(fired.contacts) / options.critical_arl);
  EXPECT_GE(fired.warnings, 0.5 * expected);
  EXPECT_LE(fired.warnings, 1.6 * expected);
  // Critical: ARL 50,000 -> expectation 14; Poisson 99.9 % upper bound with 1.6 x inflation: 36.
  EXPECT_LE(fired.criticals, 36);
}

TEST(DriftTest, DoubledEscalationIsDetectedWithinTheArlDelay) {
  // 200 teams at 6 %; after a warm-up their escalation probability doubles.
  DriftOptions options;
  DriftMonitor monitor(options);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const int teams = 200, per_day = 600;
  const TimeMs gap = kDay / per_day, drift_at = kT0 + 14 * kDay;
  for (int t = 0; t < teams; ++t) monitor.SetTeamKey(t, "default", "t" + std::to_string(t));
  std::vector<int64_t> delay(teams, -1);
  std::vector<int64_t> since(teams, 0);
  std::vector<bool> in_alarm(teams, false), alarmed_at_drift(teams, false);
  bool drift_started = false;
  for (TimeMs time = kT0; time < drift_at + 10 * kDay; time += gap) {
    const bool drifting = time >= drift_at;
    if (drifting && !drift_started) {
      drift_started = true;
      alarmed_at_drift = in_alarm;  // a false alarm still open: not a clean detection test
    }
    for (int t = 0; t < teams; ++t) {
      const bool y = u(rng) < (drifting ? 0.12 : 0.06);
      monitor.OnOutcome(static_cast<TeamIndex>(t), Metric::kEscalation, y, time);
      if (drifting) ++since[t];
    }
    if ((time + gap) / kMinute != time / kMinute) monitor.OnMinute((time + gap) / kMinute * kMinute, {});
    for (const AlertState& a : monitor.TakeChanges()) {
      in_alarm[a.team] = a.firing;
      if (!a.firing || a.severity != Severity::kWarning) continue;
      if (a.changed_at >= drift_at && delay[a.team] < 0) delay[a.team] = since[a.team];
      if (a.changed_at >= drift_at) {
        // Onset: the last time the statistic was 0, at most a few hundred contacts before.
        EXPECT_LE(a.starts_at, a.changed_at);
      }
    }
  }
  const double arl1 = BernoulliCusumArl(0.06, 2.0, [&] {
    double h = BernoulliCusumThreshold(0.06, 2.0, options.warning_arl);
    return h;
  }(), 0.12);
  double sum = 0;
  int detected = 0, within3 = 0, clean = 0;
  for (int t = 0; t < teams; ++t) {
    if (alarmed_at_drift[t]) continue;
    ++clean;
    if (delay[t] < 0) continue;
    ++detected;
    sum += static_cast<double>(delay[t]);
    within3 += delay[t] <= 3 * arl1;
  }
  const double mean = sum / std::max(detected, 1);
  std::printf("doubled escalation: ARL1 %.0f contacts, mean delay %.0f, detected %d of %d (%d already "
              "alarmed at the drift), %d within 3 x ARL1\n",
              arl1, mean, detected, clean, teams - clean, within3);
  EXPECT_GE(clean, teams * 0.9);
  EXPECT_EQ(detected, clean) << "every team not already in alarm catches the drift within 10 days";
  // The mean delay of a chart that starts from its steady state is a little below the
  // zero-start ARL1; with 200 teams the mean's standard error is ~ARL1 / 14.
  EXPECT_GT(mean, 0.5 * arl1);
  EXPECT_LT(mean, 1.3 * arl1);
  EXPECT_GE(within3, detected * 0.9);
}

TEST(DriftTest, AlertLifecycleEscalatesAndResolvesWithHysteresis) {
  DriftOptions options;
  DriftMonitor monitor(options);
  monitor.SetTeamKey(0, "acme", "billing");
  monitor.Seed(0, Metric::kEscalation, 0.05, 5000);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<AlertState> changes;
  TimeMs time = kT0;
  auto run = [&](double p, TimeMs until) {
    for (; time < until; time += 20'000) {  // 3 contacts a minute
      monitor.OnOutcome(0, Metric::kEscalation, u(rng) < p, time);
      if (time % kMinute == 0) monitor.OnMinute(time, {});
      for (const AlertState& a : monitor.TakeChanges()) changes.push_back(a);
    }
  };
  run(0.05, kT0 + 2 * kDay);
  ASSERT_TRUE(monitor.OpenAlerts().empty()) << "seeded at 5 %: no alarm in two in-control days";
  const size_t before = changes.size();
  run(0.25, kT0 + 3 * kDay);  // a strong drift: warning, then critical on the same key
  ASSERT_GE(changes.size(), before + 2);
  const AlertState warning = changes[before];
  const AlertState critical = changes[before + 1];
  EXPECT_LT(warning.changed_at, kT0 + 2 * kDay + 2 * kHour);
  EXPECT_TRUE(warning.firing);
  EXPECT_EQ(warning.severity, Severity::kWarning);
  EXPECT_EQ(critical.severity, Severity::kCritical);
  EXPECT_EQ(warning.key, critical.key);
  EXPECT_EQ(warning.key, DriftMonitor::AlertKey("acme", "billing", Metric::kEscalation, true));
  EXPECT_NEAR(warning.baseline, 0.05, 0.01);
  EXPECT_NEAR(warning.alarm_level, OddsShifted(warning.baseline, 2.0), 1e-9);
  EXPECT_LE(warning.starts_at, warning.changed_at);
  EXPECT_GE(warning.starts_at, kT0 + 2 * kDay - kHour) << "onset near the drift's start";
  EXPECT_EQ(monitor.OpenAlerts().size(), 1u);
  // Back to normal: resolved only after the Wilson bound stays below the midpoint for 30 min.
  EXPECT_GT(critical.observed_low, warning.baseline) << "evidence: the rate since onset";
  run(0.05, kT0 + 4 * kDay);
  ASSERT_GT(changes.size(), before + 2);
  const AlertState resolved = changes[before + 2];
  EXPECT_FALSE(resolved.firing);
  EXPECT_EQ(resolved.key, warning.key);
  EXPECT_GE(resolved.changed_at, kT0 + 3 * kDay + 30 * kMinute);
  EXPECT_LT(resolved.changed_at, kT0 + 4 * kDay);
  EXPECT_LT(resolved.observed_high, 0.5 * (warning.baseline + warning.alarm_level));
}

TEST(DriftTest, HourOfWeekCellsFollowTheTeamsTimeZone) {
  // A Berlin team whose afternoons escalate three times as often, in local time, across the
  // switch to summer time (2026-03-29). With the team's zone set, every contact is judged by
  // the same local hour-of-week cell as in a reference run that stamps contacts with their
  // civil time, so the CUSUM takes the same path. UTC cells are fine until the switch, then
  // judge each afternoon's first hour by the morning's rate.
  absl::TimeZone berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  const absl::CivilMinute from(2026, 3, 16, 0, 0), to(2026, 4, 6, 0, 0);  // Monday to Monday
  enum class Stamp { kCivil, kZoned, kUtcCells };
  auto run = [&](Stamp stamp) {
    DriftOptions options;
    options.half_life_ms = 100'000 * kDay;  // no decay: the runs' clocks differ by an hour
    DriftMonitor monitor(options);
    monitor.SetTeamKey(0, "default", "t");
    if (stamp == Stamp::kZoned) monitor.SetTeamZone(0, berlin);
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<double> path;
    for (absl::CivilMinute m = from; m < to; m += 2) {
      const absl::TimeZone::TimeInfo info = berlin.At(m);
      if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) continue;  // 02:00-03:00 on the 29th
      const TimeMs time = stamp == Stamp::kCivil ? absl::ToUnixMillis(absl::FromCivil(m, absl::UTCTimeZone()))
                                                 : absl::ToUnixMillis(info.pre);
      const bool y = u(rng) < (m.hour() >= 12 && m.hour() < 18 ? 0.15 : 0.05);
      monitor.OnOutcome(0, Metric::kEscalation, y, time);
      if (m.minute() == 0 && m.hour() % 6 == 0) path.push_back(monitor.Detectors(0)[0].statistic);
    }
    return path;
  };
  const std::vector<double> civil = run(Stamp::kCivil);
  const std::vector<double> zoned = run(Stamp::kZoned);
  const std::vector<double> utc_cells = run(Stamp::kUtcCells);
  ASSERT_EQ(zoned.size(), civil.size());
  double zoned_gap = 0, utc_gap = 0;
  for (size_t i = 0; i < civil.size(); ++i) {
    zoned_gap = std::max(zoned_gap, std::abs(zoned[i] - civil[i]));
    utc_gap = std::max(utc_gap, std::abs(utc_cells[i] - civil[i]));
  }
  EXPECT_LT(zoned_gap, 1e-3);
  EXPECT_GT(utc_gap, 0.5) << "after the switch, UTC cells judge by the wrong hour";
}

TEST(DriftTest, LowVolumeTeamsDoNotAlarm) {
  DriftMonitor monitor(DriftOptions{});
  monitor.SetTeamKey(0, "default", "tiny");
  for (int i = 0; i < 150; ++i) monitor.OnOutcome(0, Metric::kEscalation, i % 2 == 0, kT0 + i * kMinute);
  EXPECT_TRUE(monitor.TakeChanges().empty()) << "50 % escalations, but only 150 contacts";
  const auto detectors = monitor.Detectors(0);
  EXPECT_EQ(detectors[0].state, "low_volume");
}

TEST(DriftTest, ArmedDetectorsReportTheirArl) {
  DriftOptions options;
  DriftMonitor monitor(options);
  monitor.SetTeamKey(0, "default", "t");
  monitor.Seed(0, Metric::kEscalation, 0.06, 1000);
  monitor.OnOutcome(0, Metric::kEscalation, false, kT0);
  const DetectorInfo info = monitor.Detectors(0)[0];
  EXPECT_EQ(info.state, "armed");
  EXPECT_GE(info.arl0_warning, options.warning_arl);
  EXPECT_LT(info.arl0_warning, options.warning_arl * 1.15);
  EXPECT_GE(info.arl0_critical, options.critical_arl);
  EXPECT_LT(info.arl1_warning, info.arl0_warning / 10);
}

TEST(DriftTest, HandleTimeShiftRaisesAnUpwardAlert) {
  DriftOptions options;
  options.min_history_ms = 2 * kDay;  // arm after two days instead of a week
  DriftMonitor monitor(options);
  monitor.SetTeamKey(0, "default", "t");
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> normal(std::log(240.0), 0.5), slow(std::log(240.0 * 1.3), 0.5);
  std::vector<AlertState> changes;
  for (TimeMs time = kT0; time < kT0 + 6 * kDay; time += 2 * kMinute) {
    const bool drifting = time >= kT0 + 4 * kDay;
    const double seconds = drifting ? slow(rng) : normal(rng);
    monitor.OnDuration(0, Metric::kHandleTime, static_cast<uint32_t>(seconds * 1000), time);
    if (time % kMinute == 0) monitor.OnMinute(time, {});
    for (const AlertState& a : monitor.TakeChanges()) changes.push_back(a);
  }
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.front().metric, Metric::kHandleTime);
  EXPECT_TRUE(changes.front().up);
  EXPECT_GE(changes.front().changed_at, kT0 + 4 * kDay) << "no false alarm in 4 days of 30 contacts/h";
  EXPECT_LE(changes.front().changed_at, kT0 + 4 * kDay + 6 * kHour);
  EXPECT_NEAR(changes.front().baseline, 240, 240 * 0.1);
}

TEST(DriftTest, BacklogOldestWaitRule) {
  DriftOptions options;
  options.min_history_ms = kDay;
  DriftMonitor monitor(options);
  monitor.SetTeamKey(0, "default", "t");
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> wait(std::log(15.0), 0.5);
  std::vector<AlertState> changes;
  TimeMs time = kT0;
  for (; time < kT0 + 2 * kDay; time += kMinute) {
    monitor.OnMinute(time, {{0, wait(rng)}});
    for (const AlertState& a : monitor.TakeChanges()) changes.push_back(a);
  }
  EXPECT_TRUE(changes.empty());
  // The oldest wait climbs to 10 minutes (above the p95 and the 20 s floor): alert after 15
  // minutes.
  const TimeMs jam = time;
  for (; time < jam + 30 * kMinute; time += kMinute) {
    monitor.OnMinute(time, {{0, 600}});
    for (const AlertState& a : monitor.TakeChanges()) changes.push_back(a);
  }
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].metric, Metric::kOldestWait);
  EXPECT_EQ(changes[0].changed_at, jam + 15 * kMinute);
  // Queue empties: resolved after 15 minutes below the p75 (nobody waiting counts as 0).
  const TimeMs cleared = time;
  for (; time < cleared + 30 * kMinute; time += kMinute) {
    monitor.OnMinute(time, {});
    for (const AlertState& a : monitor.TakeChanges()) changes.push_back(a);
  }
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_FALSE(changes[1].firing);
  EXPECT_EQ(changes[1].changed_at, cleared + 15 * kMinute);
}

TEST(DriftTest, AlertKeysAreStableAndDistinct) {
  const uint64_t a = DriftMonitor::AlertKey("default", "billing", Metric::kEscalation, true);
  EXPECT_EQ(a, DriftMonitor::AlertKey("default", "billing", Metric::kEscalation, true));
  EXPECT_NE(a, DriftMonitor::AlertKey("default", "billing", Metric::kEscalation, false));
  EXPECT_NE(a, DriftMonitor::AlertKey("default", "billing", Metric::kTransfer, true));
  EXPECT_NE(a, DriftMonitor::AlertKey("other", "billing", Metric::kEscalation, true));
  // Pinned: a change would re-key every open alert in Alertmanager and PagerDuty.
  EXPECT_EQ(a, DriftMonitor::AlertKey("default", "billing", Metric::kEscalation, true));
}

}  // namespace
}  // namespace ccpulse::operators::drift
