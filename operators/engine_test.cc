// Engine properties on random streams: windows equal a brute-force recomputation over the raw
// events; any arrival order within the allowed lateness gives identical output; duplicates
// change nothing; late events are counted and not applied.
#include "operators/engine.h"

#include <algorithm>
#include <map>
#include <random>
#include <fstream>
#include <iterator>
#include <sstream>

#include "gtest/gtest.h"
#include "operators/simulator.h"

namespace ccpulse::operators {
namespace {

using schemas::Channel;
using schemas::EventType;

constexpr TimeMs kT0 = 1'772'442'000'000;  // 2026-03-02T09:00:00Z

struct TestEvent {
  EventType type;
  TimeMs time;
  std::string interaction, team, customer, event_id;

  schemas::Event View() const {
    schemas::Event e;
    e.type = type;
    e.time_ms = time;
    e.interaction_id = interaction;
    e.team = team;
    e.customer_id = customer;
    e.event_id = event_id;
    e.channel = Channel::kVoice;
    return e;
  }
};

// A clean random stream: every interaction follows the lifecycle with no missing event.
std::vector<TestEvent> RandomStream(uint64_t seed, int interactions, int teams, int customers,
                                    TimeMs span_ms) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](TimeMs lo, TimeMs hi) {
    return lo + static_cast<TimeMs>(rng() % static_cast<uint64_t>(hi - lo + 1));
  };
  std::vector<TestEvent> out;
  int next_id = 0;
  for (int i = 0; i < interactions; ++i) {
    const std::string interaction = "i" + std::to_string(i);
    const std::string customer = rng() % 5 == 0 ? "" : "c" + std::to_string(rng() % customers);
    auto emit = [&](EventType type, TimeMs t, const std::string& team) {
      out.push_back({type, t, interaction, team, customer, "e" + std::to_string(next_id++)});
    };
    TimeMs t = kT0 + uniform(0, span_ms);
    std::string team = "t" + std::to_string(rng() % teams);
    for (int leg = 0; leg < 3; ++leg) {
      emit(EventType::kQueued, t, team);
      if (rng() % 7 == 0) {
        emit(EventType::kAbandoned, t + uniform(1000, 90'000), team);
        break;
      }
      t += uniform(0, 80'000);
      emit(EventType::kAnswered, t, team);
      t += uniform(20'000, 900'000);
      const int r = static_cast<int>(rng() % 10);
      if (r < 6 || leg == 2) {
        emit(EventType::kResolved, t, team);
        break;
      }
      if (r < 7) {
        emit(EventType::kClosed, t, team);
        break;
      }
      emit(r < 9 ? EventType::kTransferred : EventType::kEscalated, t, team);
      team = "t" + std::to_string(rng() % teams);
      t += 1000;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TestEvent& a, const TestEvent& b) { return a.time < b.time; });
  return out;
}

std::string Describe(const TeamMetrics& m) {
  std::ostringstream s;
  s << m.inflow << ' ' << m.answered << ' ' << m.abandoned << ' ' << m.abandoned_short << ' '
    << m.resolved << ' ' << m.closed << ' ' << m.transferred << ' ' << m.escalated << ' '
    << m.gaps << ' ' << m.expired << " fcr " << m.fcr_provisional.numerator << '/'
    << m.fcr_confirmed.numerator << '/' << m.fcr_confirmed.denominator << " rep "
    << m.repeat_contact.numerator << " sl " << m.service_level.numerator << " asa "
    << m.asa_s.value_or(-1) << " w90 " << m.wait_p90_s.value_or(-1) << " aht "
    << m.aht_s.value_or(-1) << " h99 " << m.handle_p99_s.value_or(-1) << " backlog " << m.waiting
    << ' ' << m.in_progress << ' ' << m.oldest_wait_s << ' ' << HealthName(m.health);
  return s.str();
}

struct RunResult {
  std::string output;
  Engine::Counters counters;
  uint64_t duplicates = 0;
};

// Feeds events in the given order; records every team's metrics at every minute boundary.
RunResult RunEngine(const std::vector<TestEvent>& events, const MetricOptions& options = MetricOptions{}) {
  Engine engine(options);
  std::ostringstream out;
  auto on_boundary = [&](TimeMs at) {
    for (TeamIndex i : engine.TeamsInOrder()) {
      if (!engine.HasActivity(i)) continue;
      for (size_t w = 0; w < options.windows_ms.size(); ++w) {
        out << at << ' ' << engine.team(i).team << ' ' << w << ' ' << Describe(engine.WindowMetrics(i, w)) << '\n';
      }
      out << at << ' ' << engine.team(i).team << " today " << Describe(engine.TodayMetrics(i)) << '\n';
    }
  };
  for (const TestEvent& e : events) {
    engine.OnEvent(e.View(), 0);
    engine.Advance(0, kMinuteMs, on_boundary);
  }
  engine.Finish(kMinuteMs, on_boundary);
  on_boundary(engine.windows_end());
  return {out.str(), engine.counters(), engine.duplicates()};
}

// Arrival order where each event is delayed by up to `lateness`: never late by construction.
std::vector<TestEvent> ShuffleWithin(std::vector<TestEvent> events, TimeMs lateness, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<TimeMs, size_t>> keys;
  for (size_t i = 0; i < events.size(); ++i) {
    keys.push_back({events[i].time + static_cast<TimeMs>(rng() % static_cast<uint64_t>(lateness)), i});
  }
  std::sort(keys.begin(), keys.end());
  std::vector<TestEvent> out;
  for (const auto& k : keys) out.push_back(events[k.second]);
  return out;
}

TEST(EngineTest, AnyOrderWithinLatenessGivesIdenticalOutput) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const auto events = RandomStream(seed, 400, 4, 60, 3 * kHourMs);
    const RunResult sorted = RunEngine(events);
    ASSERT_EQ(sorted.counters.late, 0u);
    ASSERT_FALSE(sorted.output.empty());
    for (uint64_t shuffle = 0; shuffle < 3; ++shuffle) {
      const RunResult shuffled = RunEngine(ShuffleWithin(events, 2 * kMinuteMs, seed * 100 + shuffle));
      EXPECT_EQ(shuffled.counters.late, 0u);
      ASSERT_EQ(shuffled.output, sorted.output) << "seed " << seed << " shuffle " << shuffle;
    }
  }
}

TEST(EngineTest, DuplicatesChangeNothingAndAreCounted) {
  const auto events = RandomStream(11, 300, 3, 40, 2 * kHourMs);
  const RunResult clean = RunEngine(events);
  std::mt19937_64 rng(5);
  std::vector<TestEvent> noisy = events;
  int exact_copies = 0, repeated_transitions = 0;
  for (const TestEvent& e : events) {
    if (rng() % 6 == 0) {
      noisy.push_back(e);  // redelivery: same event id
      ++exact_copies;
    } else if (e.type == EventType::kResolved && rng() % 3 == 0) {
      TestEvent again = e;  // a second "resolved" with a new id: a transition already made
      again.event_id += "-again";
      again.time += 2000;
      noisy.push_back(again);
      ++repeated_transitions;
    }
  }
  std::stable_sort(noisy.begin(), noisy.end(), [](const TestEvent& a, const TestEvent& b) { return a.time < b.time; });
  const RunResult result = RunEngine(ShuffleWithin(noisy, kMinuteMs, 9));
  EXPECT_EQ(result.counters.late, 0u);
  EXPECT_EQ(result.output, clean.output);
  EXPECT_EQ(result.counters.duplicate_ids, static_cast<uint64_t>(exact_copies));
  EXPECT_EQ(result.duplicates, static_cast<uint64_t>(exact_copies + repeated_transitions));
  EXPECT_GT(exact_copies, 10);
  EXPECT_GT(repeated_transitions, 5);
}

// Brute force over the raw events of a clean stream.
struct BruteForce {
  std::map<std::string, std::vector<const TestEvent*>> by_team;
  std::map<std::string, std::vector<const TestEvent*>> by_interaction;

  explicit BruteForce(const std::vector<TestEvent>& events) {
    for (const TestEvent& e : events) {
      by_team[e.team].push_back(&e);
      by_interaction[e.interaction].push_back(&e);
    }
  }

  // Counts of type `type` at `team` in [from, to).
  int Count(const std::string& team, EventType type, TimeMs from, TimeMs to) const {
    int n = 0;
    auto it = by_team.find(team);
    if (it == by_team.end()) return 0;
    for (const TestEvent* e : it->second) n += e->type == type && e->time >= from && e->time < to;
    return n;
  }
  // Sum of waits (queued -> answered at the same team) answered in [from, to), and count.
  std::pair<int64_t, int> Waits(const std::string& team, TimeMs from, TimeMs to) const {
    int64_t sum = 0;
    int n = 0;
    for (const auto& [id, events] : by_interaction) {
      TimeMs queued = -1;
      std::string queued_team;
      for (const TestEvent* e : events) {
        if (e->type == EventType::kQueued) queued = e->time, queued_team = e->team;
        if (e->type == EventType::kAnswered && e->team == team && queued_team == team &&
            e->time >= from && e->time < to) {
          sum += e->time - queued;
          ++n;
        }
      }
    }
    return {sum, n};
  }
  // Interactions waiting at `team` at instant `at`.
  int WaitingAt(const std::string& team, TimeMs at) const {
    int n = 0;
    for (const auto& [id, events] : by_interaction) {
      bool waiting = false;
      for (const TestEvent* e : events) {
        if (e->time >= at) break;
        if (e->type == EventType::kQueued) waiting = e->team == team;
        else if (e->team == team) waiting = false;
      }
      n += waiting;
    }
    return n;
  }
};

TEST(EngineTest, SlidingWindowsEqualBruteForceOverRawEvents) {
  const auto events = RandomStream(21, 500, 3, 80, 4 * kHourMs);
  BruteForce brute(events);
  MetricOptions options;
  Engine engine(options);
  int checked = 0;
  auto on_boundary = [&](TimeMs at) {
    for (TeamIndex i = 0; i < engine.team_count(); ++i) {
      const std::string& team = engine.team(i).team;
      for (size_t w = 0; w < options.windows_ms.size(); ++w) {
        const TimeMs from = at - options.windows_ms[w];
        const TeamMetrics m = engine.WindowMetrics(i, w);
        ASSERT_EQ(m.inflow, static_cast<uint64_t>(brute.Count(team, EventType::kQueued, from, at))) << at;
        ASSERT_EQ(m.answered, static_cast<uint64_t>(brute.Count(team, EventType::kAnswered, from, at)));
        ASSERT_EQ(m.resolved, static_cast<uint64_t>(brute.Count(team, EventType::kResolved, from, at)));
        ASSERT_EQ(m.escalated, static_cast<uint64_t>(brute.Count(team, EventType::kEscalated, from, at)));
        ASSERT_EQ(m.transferred, static_cast<uint64_t>(brute.Count(team, EventType::kTransferred, from, at)));
        ASSERT_EQ(m.abandoned + m.abandoned_short,
                  static_cast<uint64_t>(brute.Count(team, EventType::kAbandoned, from, at)));
        const auto [wait_sum, waits] = brute.Waits(team, from, at);
        if (waits > 0) {
          ASSERT_NEAR(*m.asa_s, static_cast<double>(wait_sum) / 1000.0 / waits, 1e-9);
        } else {
          ASSERT_FALSE(m.asa_s.has_value());
        }
        ASSERT_EQ(m.waiting, brute.WaitingAt(team, at)) << team << " at " << at;
        ++checked;
      }
    }
  };
  for (const TestEvent& e : ShuffleWithin(events, options.allowed_lateness_ms, 3)) {
    engine.OnEvent(e.View(), 0);
    engine.Advance(0, kMinuteMs, on_boundary);
  }
  engine.Finish(kMinuteMs, on_boundary);
  EXPECT_GT(checked, 1000);
}

TEST(EngineTest, LateEventsAreCountedAndNotApplied) {
  MetricOptions options;
  Engine engine(options);
  TestEvent first{EventType::kQueued, kT0 + 10 * kMinuteMs, "a", "t", "", "e1"};
  TestEvent late{EventType::kQueued, kT0, "b", "t", "", "e2"};
  TestEvent on_time{EventType::kQueued, kT0 + 8 * kMinuteMs, "c", "t", "", "e3"};
  EXPECT_EQ(engine.OnEvent(first.View(), 0), Engine::Accepted::kApplied);
  engine.Advance(0, kMinuteMs, nullptr);
  EXPECT_EQ(engine.OnEvent(late.View(), 0), Engine::Accepted::kLate);
  EXPECT_EQ(engine.OnEvent(on_time.View(), 0), Engine::Accepted::kApplied);
  engine.Finish(kMinuteMs, nullptr);
  EXPECT_EQ(engine.counters().late, 1u);
  EXPECT_EQ(engine.TotalOf(Kind::kInflow), 2u);
}

TEST(EngineTest, RepeatContactChargedToResolvingTeamAndFcrVerdictAfterWindow) {
  MetricOptions options;
  options.repeat_window_ms = 2 * kHourMs;
  Engine engine(options);
  std::vector<TestEvent> events = {
      {EventType::kQueued, kT0, "a", "billing", "cust", "1"},
      {EventType::kAnswered, kT0 + 10'000, "a", "billing", "cust", "2"},
      {EventType::kResolved, kT0 + 300'000, "a", "billing", "cust", "3"},
      // Calls again 30 minutes later and lands in another team.
      {EventType::kQueued, kT0 + 35 * kMinuteMs, "b", "sales", "cust", "4"},
      {EventType::kAnswered, kT0 + 36 * kMinuteMs, "b", "sales", "cust", "5"},
      {EventType::kResolved, kT0 + 40 * kMinuteMs, "b", "sales", "cust", "6"},
      // Something much later moves event time past both repeat windows.
      {EventType::kQueued, kT0 + 5 * kHourMs, "z", "other", "", "7"},
  };
  for (const auto& e : events) engine.OnEvent(e.View(), 0);
  engine.Finish(kMinuteMs, nullptr);
  const TeamTotals& billing = engine.team(0).totals;
  const TeamTotals& sales = engine.team(1).totals;
  EXPECT_EQ(billing.count(Kind::kRepeat), 1u);
  EXPECT_EQ(sales.count(Kind::kRepeat), 0u);
  EXPECT_EQ(billing.count(Kind::kFcrFailed), 1u);
  EXPECT_EQ(sales.count(Kind::kFcrConfirmed), 1u);
  // The repeat took billing's provisional credit back; sales keeps its own.
  EXPECT_EQ(engine.WindowMetrics(0, 2).fcr_provisional.numerator, 0u);
}

TEST(EngineTest, TodayRestartsAtLocalMidnightOfTheTenant) {
  MetricOptions options;
  options.tenant_time_zones["acme"] = "America/New_York";
  Engine engine(options);
  // 2026-03-03T04:59:00Z is 23:59 in New York (EST, UTC-5); 05:01Z is 00:01 the next day.
  const TimeMs before = 1'772'513'940'000, after = before + 2 * kMinuteMs;
  auto at = [](EventType type, TimeMs t, const char* id) {
    TestEvent e{type, t, id, "desk", "", id};
    return e;
  };
  auto view_acme = [](const TestEvent& e) {
    schemas::Event v = e.View();
    v.tenant = "acme";
    return v;
  };
  engine.OnEvent(view_acme(at(EventType::kQueued, before, "x")), 0);
  engine.OnEvent(view_acme(at(EventType::kQueued, after, "y")), 0);
  engine.Finish(kMinuteMs, nullptr);
  const TeamMetrics today = engine.TodayMetrics(0);
  EXPECT_EQ(today.inflow, 1u) << "only the contact after local midnight";
  EXPECT_EQ(engine.WindowMetrics(0, 0).inflow, 2u) << "the 5m window spans midnight";
}

// operators/testdata/engine_state_v1.bin is a checkpoint of engine state version 1, written by
// the engine before it was split into stages (commit 1744dcd) after the first 8,000 events of
// the stream below, advancing every 500 events. Restored into this build, the engine goes on
// exactly as one that never stopped.
TEST(EngineTest, RestoresStateVersion1FromBeforeTheStages) {
  std::ifstream file("operators/testdata/engine_state_v1.bin", std::ios::binary);
  ASSERT_TRUE(file) << "operators/testdata/engine_state_v1.bin (tests run from the source root)";
  const std::string state((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  SimulatorOptions sim;
  sim.seed = 3;
  sim.teams = 3;
  sim.duration_ms = 24 * schemas::kHourMs;
  sim.customers = 800;
  Simulator simulator(sim);
  std::vector<SimEvent> events;
  for (SimEvent e; simulator.Next(&e);) events.push_back(e);
  constexpr size_t kSaved = 8000;
  ASSERT_GT(events.size(), kSaved + 5000);

  const MetricOptions options;
  Engine restored(options);
  const absl::Status restore = restored.RestoreState(state, 0);
  ASSERT_TRUE(restore.ok()) << restore;
  Engine whole(options);
  std::string expected, actual;
  const auto recorder = [&](Engine& engine, std::string* out) {
    return [&engine, out, &options](TimeMs at) {
      for (TeamIndex i : engine.TeamsInOrder()) {
        for (size_t w = 0; w < options.windows_ms.size(); ++w) {
          *out += std::to_string(at) + ' ' + engine.team(i).team + ' ' + Describe(engine.WindowMetrics(i, w)) + '\n';
        }
        *out += Describe(engine.TodayMetrics(i)) + '\n';
      }
    };
  };
  const Engine::BoundaryFn record_whole = recorder(whole, &expected);
  const Engine::BoundaryFn record_restored = recorder(restored, &actual);
  for (size_t i = 0; i < events.size(); ++i) {
    const bool after = i >= kSaved;
    whole.OnEvent(events[i].View(sim.tenant), 0);
    if (after) restored.OnEvent(events[i].View(sim.tenant), 0);
    if (i % 500 == 0) {
      whole.Advance(0, kMinuteMs, after ? record_whole : nullptr);
      if (after) restored.Advance(0, kMinuteMs, record_restored);
    }
  }
  whole.Finish(kMinuteMs, record_whole);
  restored.Finish(kMinuteMs, record_restored);
  EXPECT_GT(expected.size(), 100'000u);
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(restored.counters().applied, whole.counters().applied);
  EXPECT_EQ(restored.duplicates(), whole.duplicates());
  EXPECT_EQ(restored.interactions().size(), whole.interactions().size());
  EXPECT_EQ(restored.repeat_contacts().tracked_contacts(), whole.repeat_contacts().tracked_contacts());

  // A version this build does not know is refused, naming both.
  std::string future = state;
  future[0] = 7;
  const absl::Status refused = Engine(options).RestoreState(future, 0);
  EXPECT_NE(refused.message().find("engine state version 7 is not one this build reads (1 to 4)"), std::string_view::npos)
      << refused;
}

}  // namespace
}  // namespace ccpulse::operators
