// The team-keyed split (DESIGN §6): customer stages on customer partitions feeding team stages
// on team partitions through encoded records give exactly what one engine gives — every
// window of every team at every boundary, and every alert — whatever the interleaving, when
// records are read twice, and when a customer stage restarts from its checkpoint.
#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gtest/gtest.h"
#include "operators/customer_stage.h"
#include "operators/engine.h"
#include "operators/simulator.h"
#include "operators/team_feed.h"
#include "operators/team_partitions.h"
#include "operators/team_stage.h"
#include "pipeline/window/slices.h"
#include "pipeline/window/watermark.h"
#include "schemas/ids.h"

namespace ccpulse::operators {
namespace {

constexpr int64_t kEveryMs = schemas::kHourMs;

std::string Show(const std::optional<double>& v) { return v ? fmt::format("{}", *v) : "-"; }
std::string Show(const Ratio& r) { return fmt::format("{}/{}", r.numerator, r.denominator); }

std::string Show(const TeamMetrics& m) {
  return fmt::format(
      "in={} ans={} ab={} abs={} hd={} res={} cl={} tr={} esc={} reo={} exp={} gap={} escr={} trr={} fcrp={} fcrc={} "
      "rep={} abr={} sl={} asa={} w50={} w90={} w99={} aht={} h50={} h90={} h99={} wait={} prog={} oldest={} "
      "inpm={} outpm={} ttc={} health={}",
      m.inflow, m.answered, m.abandoned, m.abandoned_short, m.handled, m.resolved, m.closed, m.transferred,
      m.escalated, m.reopened, m.expired, m.gaps, Show(m.escalation), Show(m.transfer), Show(m.fcr_provisional),
      Show(m.fcr_confirmed), Show(m.repeat_contact), Show(m.abandon), Show(m.service_level), Show(m.asa_s),
      Show(m.wait_p50_s), Show(m.wait_p90_s), Show(m.wait_p99_s), Show(m.aht_s), Show(m.handle_p50_s),
      Show(m.handle_p90_s), Show(m.handle_p99_s), m.waiting, m.in_progress, m.oldest_wait_s, m.inflow_per_min,
      m.outflow_per_min, Show(m.time_to_clear_s), static_cast<int>(m.health));
}

std::string Show(const drift::AlertState& a) {
  return fmt::format("{:016x} m={} up={} sev={} firing={} start={} at={} base={} level={} obs={} n={} stat={} thr={}",
                     a.key, static_cast<int>(a.metric), a.up, static_cast<int>(a.severity), a.firing, a.starts_at,
                     a.changed_at, a.baseline, a.alarm_level, a.observed, a.recent_contacts, a.statistic,
                     a.threshold);
}

// (boundary, tenant/team) -> every window's and today's metrics, for teams with activity.
using Outputs = std::map<std::pair<TimeMs, std::string>, std::string>;

template <typename Stage>
void Record(Stage& stage, TimeMs boundary, const MetricOptions& options, Outputs* out) {
  for (TeamIndex i : stage.TeamsInOrder()) {
    if constexpr (requires { stage.InBoundary(i); }) {
      if (!stage.InBoundary(i)) continue;  // its team partition reaches the boundary at another time
    }
    if (!stage.HasActivity(i)) continue;
    std::string all;
    for (size_t w = 0; w < options.windows_ms.size(); ++w) all += Show(stage.WindowMetrics(i, w)) + "\n";
    all += Show(stage.TodayMetrics(i)) + "\n" + fmt::format("{}", stage.team(i).totals.counts);
    const auto key = std::make_pair(boundary, stage.team(i).tenant + "/" + stage.team(i).team);
    EXPECT_TRUE(out->emplace(key, std::move(all)).second) << "two stages report " << key.second;
  }
}

MetricOptions SplitOptions() {
  MetricOptions options;
  // Detectors arm after a day, so that two days of traffic page on the drifting team.
  options.drift.min_history_ms = schemas::kDayMs;
  options.drift.min_duration_hours = 6;
  return options;
}

SimulatorOptions TrafficOptions() {
  SimulatorOptions sim;
  sim.seed = 11;
  sim.teams = 6;
  sim.duration_ms = 2 * schemas::kDayMs;
  sim.customers = 3000;  // repeat contacts within the 3-day window, across teams
  sim.drift = SimulatorOptions::Drift::kEscalationDoubles;
  sim.drift_team = 2;
  sim.drift_after_ms = 36 * schemas::kHourMs;
  return sim;
}

std::vector<SimEvent> Traffic() {
  Simulator simulator(TrafficOptions());
  std::vector<SimEvent> events;
  SimEvent e;
  while (simulator.Next(&e)) events.push_back(e);
  return events;
}

// What a run gives: every window record at every boundary, and every alert change (sorted).
struct Results {
  Outputs windows;
  std::vector<std::string> alerts;
};

// One engine over the whole stream, advancing every `advance_every` events.
Results OneEngine(const MetricOptions& options, const std::vector<SimEvent>& events, size_t advance_every) {
  Results out;
  Engine engine(options);
  const auto on_boundary = [&](TimeMs b) { Record(engine, b, options, &out.windows); };
  for (size_t i = 0; i < events.size(); ++i) {
    engine.OnEvent(events[i].View("default"), 0);
    if (i % advance_every == 0) engine.Advance(0, kEveryMs, on_boundary);
  }
  engine.Finish(kEveryMs, on_boundary);
  for (const auto& a : engine.TakeAlertChanges()) out.alerts.push_back(Show(a));
  std::sort(out.alerts.begin(), out.alerts.end());
  return out;
}

// The partition of an event on a customer-keyed topic (by interaction without a customer).
size_t CustomerPartitionOf(const SimEvent& e, int partitions) {
  const std::string_view key = e.customer_id.empty() ? e.interaction_id : e.customer_id;
  return schemas::SipHash24(schemas::HashKey{}, key) % static_cast<uint64_t>(partitions);
}

// The stream split by customer, as on a customer-keyed topic.
std::vector<std::vector<SimEvent>> ByCustomer(const std::vector<SimEvent>& events, int partitions) {
  std::vector<std::vector<SimEvent>> out(static_cast<size_t>(partitions));
  for (const SimEvent& e : events) out[CustomerPartitionOf(e, partitions)].push_back(e);
  return out;
}

// A customer engine on channel `channel` whose records go to `*topic` (one list per team
// partition), and a team engine fed by `channels` of them.
Engine::Split CustomerSplit(uint32_t channel, std::vector<std::vector<std::string>>* topic) {
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.channel_of = [channel](int) { return channel; };  // reads one partition
  split.team_partitions = static_cast<int>(topic->size());
  split.send = [topic](int partition, std::string_view record) { (*topic)[partition].emplace_back(record); };
  return split;
}

Engine::Split TeamSplit(int channels) {
  Engine::Split split;
  split.role = Engine::Split::Role::kTeams;
  split.channels = channels;
  return split;
}

// Every window record and alert change of `actual` equals `expected`'s.
void ExpectSame(const Results& expected, Results actual) {
  EXPECT_EQ(actual.windows.size(), expected.windows.size());
  for (const auto& [key, value] : expected.windows) {
    auto it = actual.windows.find(key);
    ASSERT_NE(it, actual.windows.end()) << key.second << " at " << key.first;
    ASSERT_EQ(it->second, value) << key.second << " at " << key.first;
  }
  std::sort(actual.alerts.begin(), actual.alerts.end());
  EXPECT_EQ(actual.alerts, expected.alerts);
}

// One customer partition: its input, the stage and the writer of its records.
struct CustomerPartition {
  std::vector<SimEvent> input;
  size_t next = 0;  // input position
  std::unique_ptr<CustomerStage> stage;
  std::unique_ptr<TeamFeedWriter> writer;
  int64_t sent_to = INT64_MIN;  // end of the slices flushed
  std::vector<Delivered> delivered;
  // A checkpoint: the stage's state and the input position it reflects.
  std::string checkpoint;
  size_t checkpoint_next = 0;
};

TEST(SplitTest, CustomerAndTeamStagesOnPartitionsEqualOneEngine) {
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  const std::string tenant = "default";
  const Results expected = OneEngine(options, events, 997);
  ASSERT_GT(expected.windows.size(), 250u);  // 6 teams, 48 hourly boundaries
  ASSERT_FALSE(expected.alerts.empty()) << "the drifting team should page";

  // Three customer partitions, two team partitions.
  constexpr int kCustomerPartitions = 3, kTeamPartitions = 2;
  std::vector<CustomerPartition> customers(kCustomerPartitions);
  std::vector<std::vector<SimEvent>> inputs = ByCustomer(events, kCustomerPartitions);
  for (int p = 0; p < kCustomerPartitions; ++p) {
    customers[p].input = std::move(inputs[p]);
    customers[p].stage = std::make_unique<CustomerStage>(&options);
    customers[p].writer = std::make_unique<TeamFeedWriter>(p, kTeamPartitions);
  }
  std::vector<std::unique_ptr<TeamStage>> team_stages;
  std::vector<std::vector<std::string>> team_topic(kTeamPartitions);  // the records, per partition
  std::vector<size_t> consumed(kTeamPartitions, 0);
  Results actual;
  for (int t = 0; t < kTeamPartitions; ++t) {
    team_stages.push_back(std::make_unique<TeamStage>(&options));
    for (int p = 0; p < kCustomerPartitions; ++p) team_stages[t]->AssignChannel(p, 0);
  }

  // Delivers what a customer stage's watermark allows (everything at the end) and sends it.
  std::vector<std::string> records;
  const auto deliver = [&](CustomerPartition& c, bool at_end) {
    const int64_t target = at_end ? c.stage->AdvanceToEnd() : c.stage->Advance(0);
    if (target == INT64_MIN || target <= c.sent_to) return;
    for (int64_t s = c.stage->NextDataSlice(); s < target; s = c.stage->NextDataSlice()) {
      c.stage->DeliverSlice(s, &c.delivered);
      c.writer->Add(s, c.delivered, c.stage->teams());
    }
    c.writer->Flush(target, c.stage->teams(), &records);
    c.sent_to = target;
    for (int t = 0; t < kTeamPartitions; ++t) team_topic[t].push_back(records[t]);
  };
  std::mt19937_64 rng(5);
  const auto consume = [&](int t, size_t count) {
    TeamStage& stage = *team_stages[t];
    const auto on_boundary = [&](TimeMs b) { Record(stage, b, options, &actual.windows); };
    for (size_t n = 0; n < count && consumed[t] < team_topic[t].size(); ++n) {
      auto feed = DecodeTeamFeed(team_topic[t][consumed[t]++]);
      ASSERT_TRUE(feed.ok()) << feed.status();
      stage.OnFeed(*feed, 0);
      // Now and then a record is read twice (a consumer that re-reads after a failure).
      if (rng() % 50 == 0) stage.OnFeed(*feed, 0);
    }
    stage.Advance(0, kEveryMs, on_boundary);
    for (const auto& a : stage.TakeAlertChanges()) actual.alerts.push_back(Show(a));
  };

  // Random interleaving: each round, a random partition takes a random chunk of its input and
  // a random team stage reads a random number of records. Partition 1 checkpoints a third of
  // the way through its input and crashes two thirds of the way: it restarts from the
  // checkpoint and sends those slices again.
  bool done = false, crashed_once = false;
  while (!done) {
    CustomerPartition& c = customers[rng() % kCustomerPartitions];
    const size_t chunk = 1 + rng() % 3000;
    for (size_t n = 0; n < chunk && c.next < c.input.size(); ++n) c.stage->OnEvent(c.input[c.next++].View(tenant), 0);
    deliver(c, false);
    if (customers[1].checkpoint.empty() && customers[1].next >= customers[1].input.size() / 3) {
      StateWriter ar(&customers[1].checkpoint);
      customers[1].stage->Save(ar);
      customers[1].checkpoint_next = customers[1].next;
    }
    if (!crashed_once && customers[1].next >= customers[1].input.size() * 2 / 3) {
      crashed_once = true;
      CustomerPartition& crashed = customers[1];
      ASSERT_FALSE(crashed.checkpoint.empty());
      crashed.stage = std::make_unique<CustomerStage>(&options);
      StateReader ar(crashed.checkpoint);
      crashed.stage->Load(ar, 0);
      ASSERT_TRUE(ar.ok() && ar.at_end()) << ar.error();
      crashed.next = crashed.checkpoint_next;
      crashed.writer = std::make_unique<TeamFeedWriter>(1, kTeamPartitions);
      crashed.sent_to = INT64_MIN;
    }
    const int t = static_cast<int>(rng() % kTeamPartitions);
    consume(t, rng() % 4);
    done = std::all_of(customers.begin(), customers.end(), [](const auto& p) { return p.next == p.input.size(); });
  }
  for (CustomerPartition& c : customers) deliver(c, true);
  for (int t = 0; t < kTeamPartitions; ++t) {
    consume(t, SIZE_MAX);
    const auto on_boundary = [&](TimeMs b) { Record(*team_stages[t], b, options, &actual.windows); };
    team_stages[t]->Finish(kEveryMs, on_boundary);
    for (const auto& a : team_stages[t]->TakeAlertChanges()) actual.alerts.push_back(Show(a));
  }

  uint64_t repeated = 0, late = 0;
  for (const auto& stage : team_stages) {
    repeated += stage->feed_counters().repeated;
    late += stage->feed_counters().late;
  }
  ASSERT_TRUE(crashed_once);
  EXPECT_GT(repeated, 1000u) << "the restarted customer stage and the records read twice send slices again";
  EXPECT_EQ(late, 0u);
  ExpectSame(expected, std::move(actual));
}

// The same through Engine roles, as `run` drives them: two customer engines send records to
// two team partitions, both read by one team engine at different paces (a customer engine's
// records reach each partition on their own); each engine kind is checkpointed and restored
// once mid-stream (the customer engine re-reads its input from the checkpoint's position, the
// team engine its records).
TEST(SplitTest, EngineRolesWithCheckpointsEqualOneEngine) {
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  const std::string tenant = "default";
  const Results expected = OneEngine(options, events, 1);
  Results actual;

  constexpr int kCustomers = 2, kTeamPartitions = 2;
  std::vector<std::vector<std::string>> topic(kTeamPartitions);
  const auto customer_split = [&](uint32_t channel) { return CustomerSplit(channel, &topic); };
  const Engine::Split team_split = TeamSplit(kCustomers);

  const std::vector<std::vector<SimEvent>> input = ByCustomer(events, kCustomers);
  std::vector<std::unique_ptr<Engine>> customers;
  for (int c = 0; c < kCustomers; ++c) customers.push_back(std::make_unique<Engine>(options, customer_split(c)));
  auto team = std::make_unique<Engine>(options, team_split);
  for (int t = 0; t < kTeamPartitions; ++t) team->AssignPartition(t, 0);
  std::vector<size_t> next(kCustomers, 0), consumed(kTeamPartitions, 0);
  std::mt19937_64 rng(9);
  const auto on_boundary = [&](TimeMs b) { Record(*team, b, options, &actual.windows); };
  const auto consume = [&](int t, size_t count) {
    for (size_t n = 0; n < count && consumed[t] < topic[t].size(); ++n) {
      ASSERT_TRUE(team->OnTeamFeed(topic[t][consumed[t]++], t, 0).ok());
      team->Advance(0, kEveryMs, on_boundary);
    }
    for (const auto& a : team->TakeAlertChanges()) actual.alerts.push_back(Show(a));
  };
  // Checkpoint, then restore into a fresh engine of the same role and position.
  const auto restart = [&](std::unique_ptr<Engine>& engine, Engine::Split split, std::string* state) {
    const bool customer = split.role == Engine::Split::Role::kCustomers;
    engine = std::make_unique<Engine>(options, std::move(split));
    const absl::Status s = customer ? engine->RestorePartitionState(0, *state, 0) : engine->RestoreState(*state, 0);
    ASSERT_TRUE(s.ok()) << s;
  };
  std::string customer_state, team_state;
  size_t customer_saved_next = 0;
  std::vector<size_t> team_saved_consumed;
  TimeMs team_saved_end = 0;
  bool customer_restarted = false, team_restarted = false;
  while (next[0] < input[0].size() || next[1] < input[1].size()) {
    const int c = static_cast<int>(rng() % kCustomers);
    for (size_t n = 1 + rng() % 2000; n > 0 && next[c] < input[c].size(); --n) {
      customers[c]->OnEvent(input[c][next[c]++].View(tenant), 0);
      customers[c]->Advance(0, kEveryMs, nullptr);
    }
    // The two team partitions are read at different paces.
    consume(0, rng() % 30);
    consume(1, rng() % 10);
    if (customer_state.empty() && next[0] > input[0].size() / 3) {
      customers[0]->SavePartitionState(0, &customer_state);
      customer_saved_next = next[0];
    }
    if (!customer_restarted && next[0] > input[0].size() * 2 / 3) {
      customer_restarted = true;
      restart(customers[0], customer_split(0), &customer_state);
      next[0] = customer_saved_next;
    }
    if (team_state.empty() && consumed[0] + consumed[1] >= 300) {
      team->SaveState(&team_state);
      team_saved_consumed = consumed;
      team_saved_end = team->windows_end();
    }
    if (!team_restarted && !team_state.empty() && consumed[0] + consumed[1] >= 600) {
      team_restarted = true;
      // What the team engine output after its checkpoint is output again: drop it first.
      std::erase_if(actual.windows, [&](const auto& entry) { return entry.first.first > team_saved_end; });
      restart(team, team_split, &team_state);
      consumed = team_saved_consumed;
    }
  }
  for (auto& engine : customers) engine->Finish(kEveryMs, nullptr);
  for (int t = 0; t < kTeamPartitions; ++t) consume(t, SIZE_MAX);
  team->Finish(kEveryMs, on_boundary);
  for (const auto& a : team->TakeAlertChanges()) actual.alerts.push_back(Show(a));
  ASSERT_TRUE(customer_restarted && team_restarted);
  EXPECT_GT(team->feed_counters().repeated, 0u);
  EXPECT_EQ(team->feed_counters().late, 0u);
  EXPECT_EQ(team->feed_counters().gaps, 0u) << "the restored customer engine continues where it had sent";
  ExpectSame(expected, std::move(actual));
}

// A team partition that goes to another instance takes its teams along: the team engine drops
// them (windows, detectors; their firing alerts are handed over, not resolved) and goes on with
// the other partition exactly; an engine reading that partition alone gives exactly what one
// engine gives for its teams.
TEST(SplitTest, ATeamEngineDropsTheTeamsOfARemovedPartition) {
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  const Results expected = OneEngine(options, events, 1);
  constexpr int kCustomers = 2, kTeamPartitions = 2;
  std::vector<std::vector<std::string>> topic(kTeamPartitions);  // what the customer engines send
  const std::vector<std::vector<SimEvent>> input = ByCustomer(events, kCustomers);
  for (int c = 0; c < kCustomers; ++c) {
    Engine customer(options, CustomerSplit(static_cast<uint32_t>(c), &topic));
    for (const SimEvent& e : input[c]) {
      customer.OnEvent(e.View("default"), 0);
      customer.Advance(0, kEveryMs, nullptr);
    }
    customer.Finish(kEveryMs, nullptr);
  }
  const Engine::Split team_split = TeamSplit(kCustomers);
  Engine team(options, team_split);   // reads both partitions, then loses one
  Engine other(options, team_split);  // reads that one alone, from the start
  Results kept, moved;
  const auto partition_of = [](const TeamState& t) { return TeamPartition(t.tenant, t.team, kTeamPartitions); };
  const auto on_boundary = [&](TimeMs b) { Record(team, b, options, &kept.windows); };
  const auto take_alerts = [](Engine& engine, Results* out) {
    for (const auto& a : engine.TakeAlertChanges()) out->alerts.push_back(Show(a));
  };
  team.AssignPartition(0, 0);
  team.AssignPartition(1, 0);
  // Both partitions in turns, until the first alert fires: its team's partition goes.
  std::vector<size_t> next(kTeamPartitions, 0);
  int removed = -1;
  while (removed < 0 && (next[0] < topic[0].size() || next[1] < topic[1].size())) {
    for (int t = 0; t < kTeamPartitions; ++t) {
      if (next[t] < topic[t].size()) {
        ASSERT_TRUE(team.OnTeamFeed(topic[t][next[t]++], t, 0).ok());
      }
    }
    team.Advance(0, kEveryMs, on_boundary);
    take_alerts(team, &kept);
    if (const auto open = team.OpenAlerts(); !open.empty()) removed = partition_of(team.team(open[0].team));
  }
  ASSERT_GE(removed, 0) << "the drifting team pages";
  const int stays = 1 - removed;
  std::vector<uint64_t> firing;
  for (const auto& a : team.OpenAlerts()) {
    if (partition_of(team.team(a.team)) == removed) firing.push_back(a.key);
  }
  const TimeMs removed_at = team.windows_end();
  const size_t held = team.teams_held();
  team.RemovePartition(removed);

  std::vector<uint64_t> handed_over = team.TakeHandedOver();
  std::sort(firing.begin(), firing.end());
  std::sort(handed_over.begin(), handed_over.end());
  EXPECT_EQ(handed_over, firing);
  EXPECT_FALSE(handed_over.empty());
  EXPECT_LT(team.teams_held(), held);
  for (TeamIndex i : team.TeamsInOrder()) EXPECT_EQ(partition_of(team.team(i)), stays) << team.team(i).team;
  for (const auto& a : team.OpenAlerts()) EXPECT_EQ(partition_of(team.team(a.team)), stays);
  while (next[stays] < topic[stays].size()) {
    ASSERT_TRUE(team.OnTeamFeed(topic[stays][next[stays]++], stays, 0).ok());
    team.Advance(0, kEveryMs, on_boundary);
    take_alerts(team, &kept);
  }
  team.Finish(kEveryMs, on_boundary);
  take_alerts(team, &kept);

  other.AssignPartition(removed, 0);
  const auto on_other_boundary = [&](TimeMs b) { Record(other, b, options, &moved.windows); };
  for (const std::string& record : topic[removed]) {
    ASSERT_TRUE(other.OnTeamFeed(record, removed, 0).ok());
    other.Advance(0, kEveryMs, on_other_boundary);
  }
  other.Finish(kEveryMs, on_other_boundary);
  take_alerts(other, &moved);

  // Every boundary of the staying teams, and of the others until they went, in `team`; every
  // boundary of the others in `other`: each equal to one engine's.
  size_t want_kept = 0, want_moved = 0, moved_before = 0;
  for (const auto& [key, value] : expected.windows) {
    const size_t slash = key.second.find('/');
    const bool went = TeamPartition(key.second.substr(0, slash), key.second.substr(slash + 1), kTeamPartitions) == removed;
    if (!went || key.first <= removed_at) {
      ++want_kept;
      moved_before += went;
      auto it = kept.windows.find(key);
      ASSERT_NE(it, kept.windows.end()) << key.second << " at " << key.first;
      EXPECT_EQ(it->second, value) << key.second << " at " << key.first;
    }
    if (went) {
      ++want_moved;
      auto it = moved.windows.find(key);
      ASSERT_NE(it, moved.windows.end()) << key.second << " at " << key.first;
      EXPECT_EQ(it->second, value) << key.second << " at " << key.first;
    }
  }
  EXPECT_EQ(kept.windows.size(), want_kept) << "nothing reported of the teams that went after they went";
  EXPECT_EQ(moved.windows.size(), want_moved);
  EXPECT_GT(moved_before, 0u);
  EXPECT_GT(want_moved, moved_before);
  // Every alert change is in one or both (those of the teams that went, before they went), and
  // nothing else.
  for (const std::string& a : expected.alerts) {
    EXPECT_TRUE(std::count(kept.alerts.begin(), kept.alerts.end(), a) + std::count(moved.alerts.begin(), moved.alerts.end(), a) > 0) << a;
  }
  for (const Results* r : {&kept, &moved}) {
    for (const std::string& a : r->alerts) EXPECT_NE(std::count(expected.alerts.begin(), expected.alerts.end(), a), 0) << a;
  }
}

// A team partition's state moves with it: instance A reads two team partitions, B the third;
// when the drifting team pages in A, A saves its partition's state and drops it, and B restores
// it and reads on from the saved position. B's own partition is behind A's then (the restored
// stage waits for it) or ahead (the restored stage catches up). What A and B report together
// equals one engine: every window record once, every alert change, nothing late.
void MoveAPartition(bool b_ahead) {
  SCOPED_TRACE(b_ahead ? "B ahead" : "B behind");
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  const Results expected = OneEngine(options, events, 1);
  constexpr int kCustomers = 2, kTeamPartitions = 3;
  // The customer engines side by side, so that each team partition's records of both come in
  // event-time order, as from live customer instances.
  std::vector<std::vector<std::string>> topic(kTeamPartitions);
  std::vector<std::unique_ptr<Engine>> customers;
  for (int c = 0; c < kCustomers; ++c) {
    customers.push_back(std::make_unique<Engine>(options, CustomerSplit(static_cast<uint32_t>(c), &topic)));
  }
  for (const SimEvent& e : events) {
    Engine& customer = *customers[CustomerPartitionOf(e, kCustomers)];
    customer.OnEvent(e.View("default"), 0);
    customer.Advance(0, kEveryMs, nullptr);
  }
  for (auto& customer : customers) customer->Finish(kEveryMs, nullptr);
  // The drifting team's partition moves; B reads the other one with the most teams.
  const Simulator simulator(TrafficOptions());
  std::vector<int> teams_in(kTeamPartitions, 0);
  for (const std::string& name : simulator.team_names()) ++teams_in[TeamPartition("default", name, kTeamPartitions)];
  const int moving = TeamPartition("default", simulator.team_names()[2], kTeamPartitions);
  int b_own = -1;
  for (int t = 0; t < kTeamPartitions; ++t) {
    if (t != moving && (b_own < 0 || teams_in[t] > teams_in[b_own])) b_own = t;
  }
  const int stays = 3 - moving - b_own;  // the third of 0, 1, 2
  ASSERT_GT(teams_in[b_own], 0);
  const Engine::Split team_split = TeamSplit(kCustomers);
  Engine a(options, team_split), b(options, team_split);
  Results actual;
  const auto on_a = [&](TimeMs at) { Record(a, at, options, &actual.windows); };
  const auto on_b = [&](TimeMs at) { Record(b, at, options, &actual.windows); };
  const auto read = [&](Engine& engine, int partition, size_t* next, const TeamStage::BoundaryFn& on_boundary) {
    if (*next >= topic[partition].size()) return;
    ASSERT_TRUE(engine.OnTeamFeed(topic[partition][(*next)++], partition, 0).ok());
    engine.Advance(0, kEveryMs, on_boundary);
    for (const auto& alert : engine.TakeAlertChanges()) actual.alerts.push_back(Show(alert));
  };
  a.AssignPartition(moving, 0);
  a.AssignPartition(stays, 0);
  b.AssignPartition(b_own, 0);
  std::vector<size_t> next(kTeamPartitions, 0);
  // Until the drifting team pages in A: B reads two records of its partition per round (ahead),
  // or none for the first third of the stream, then one (behind).
  size_t round = 0;
  while (a.OpenAlerts().empty() && next[moving] < topic[moving].size()) {
    read(a, moving, &next[moving], on_a);
    read(a, stays, &next[stays], on_a);
    const size_t b_reads = b_ahead ? 2 : round++ > topic[b_own].size() / 3 ? 1 : 0;
    for (size_t n = 0; n < b_reads; ++n) read(b, b_own, &next[b_own], on_b);
  }
  ASSERT_FALSE(a.OpenAlerts().empty()) << "the drifting team pages";
  if (b_ahead) {
    EXPECT_GT(b.windows_end(), a.windows_end());
  } else {
    EXPECT_LT(b.windows_end(), a.windows_end());
  }
  // The move, as on a revoke: A's changes taken (the revoke's first tick), A's state of the
  // partition goes to B, which reads on from there.
  std::string state;
  a.SavePartitionState(moving, &state);
  std::vector<uint64_t> firing;
  for (const auto& alert : a.OpenAlerts()) firing.push_back(alert.key);
  a.RemovePartition(moving);
  std::vector<uint64_t> handed_over = a.TakeHandedOver();
  const absl::Status restored = b.RestorePartitionState(moving, state, 0);
  ASSERT_TRUE(restored.ok()) << restored;
  b.AssignPartition(moving, 0);
  std::vector<uint64_t> resumed;
  for (const auto& alert : b.TakeRestoredAlerts()) resumed.push_back(alert.key);
  for (auto* keys : {&firing, &handed_over, &resumed}) std::sort(keys->begin(), keys->end());
  EXPECT_EQ(handed_over, firing);
  EXPECT_EQ(resumed, firing) << "B goes on with the alerts that were firing in A";
  EXPECT_FALSE(b.RestorePartitionState(moving, state, 0).ok()) << "a partition read already is not restored";
  while (next[moving] < topic[moving].size() || next[stays] < topic[stays].size() ||
         next[b_own] < topic[b_own].size()) {
    read(a, stays, &next[stays], on_a);
    read(b, moving, &next[moving], on_b);
    read(b, b_own, &next[b_own], on_b);
  }
  a.Finish(kEveryMs, on_a);
  b.Finish(kEveryMs, on_b);
  for (Engine* engine : {&a, &b}) {
    for (const auto& alert : engine->TakeAlertChanges()) actual.alerts.push_back(Show(alert));
    EXPECT_EQ(engine->feed_counters().late, 0u);
    EXPECT_EQ(engine->feed_counters().gaps, 0u);
  }
  ExpectSame(expected, std::move(actual));  // every alert change once, in A or in B
}

TEST(SplitTest, ATeamPartitionsStateMovesWithItToAnInstanceAhead) { MoveAPartition(/*b_ahead=*/true); }
TEST(SplitTest, ATeamPartitionsStateMovesWithItToAnInstanceBehind) { MoveAPartition(/*b_ahead=*/false); }

// An input partition's state moves with it: customer engine A reads input partitions 0 and 1,
// B reads 2; part-way, partition 1 goes to B with its interactions, repeat contacts and where its
// records stand, and B reads on from there. Handed over: A says the partition pauses, saves and
// drops it. Crashed: A goes on past its last checkpoint of it and stops without a word; B reads
// again from the checkpoint's position (the team tier drops what it had). A team engine fed by
// both equals one engine: every window record, every alert change, nothing late, no gap.
void MoveAnInputPartition(bool crash) {
  SCOPED_TRACE(crash ? "crashed" : "handed over");
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  const Results expected = OneEngine(options, events, 1);
  constexpr int kInputPartitions = 3, kTeamPartitions = 2, kMoving = 1;
  std::vector<std::vector<size_t>> input(kInputPartitions);  // indexes into `events`, in order
  for (size_t i = 0; i < events.size(); ++i) input[CustomerPartitionOf(events[i], kInputPartitions)].push_back(i);
  std::vector<std::vector<std::string>> topic(kTeamPartitions);
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.team_partitions = kTeamPartitions;
  split.send = [&topic](int partition, std::string_view record) { topic[partition].emplace_back(record); };
  Engine a(options, split), b(options, split);
  std::vector<Engine*> owner = {&a, &a, &b};
  for (int p = 0; p < kInputPartitions; ++p) owner[p]->AssignPartition(p, 0);
  std::vector<size_t> next(kInputPartitions, 0);
  const std::string tenant = "default";  // outlives the events that view it
  // The next event in delivery order over the partitions, to its partition's engine.
  const auto step = [&] {
    int p = -1;
    for (int q = 0; q < kInputPartitions; ++q) {
      if (next[q] < input[q].size() && (p < 0 || input[q][next[q]] < input[p][next[p]])) p = q;
    }
    if (p < 0) return false;
    schemas::Event event = events[input[p][next[p]]].View(tenant);
    event.position = {p, static_cast<int64_t>(next[p]++)};
    owner[p]->OnEvent(event, 0);
    owner[p]->Advance(0, kEveryMs, nullptr);
    return true;
  };
  const size_t save_at = input[kMoving].size() * 3 / 10, move_at = input[kMoving].size() * 4 / 10;
  std::string state;
  size_t saved_next = 0;
  while (next[kMoving] < move_at && step()) {
    if (state.empty() && next[kMoving] >= save_at) {
      a.SavePartitionState(kMoving, &state);
      saved_next = next[kMoving];
    }
  }
  if (!crash) {
    a.Pause(std::vector<int32_t>{kMoving});
    state.clear();
    a.SavePartitionState(kMoving, &state);
    saved_next = next[kMoving];
  }
  a.RemovePartition(kMoving);
  EXPECT_FALSE(a.reads_partition(kMoving));
  const absl::Status restored = b.RestorePartitionState(kMoving, state, 0);
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_FALSE(b.RestorePartitionState(kMoving, state, 0).ok()) << "a partition read already is not restored";
  b.AssignPartition(kMoving, 0);
  owner[kMoving] = &b;
  next[kMoving] = saved_next;
  while (step()) {
  }
  a.Finish(kEveryMs, nullptr);
  b.Finish(kEveryMs, nullptr);

  Engine team(options, TeamSplit(kInputPartitions));
  Results actual;
  const auto on_boundary = [&](TimeMs at) { Record(team, at, options, &actual.windows); };
  for (int t = 0; t < kTeamPartitions; ++t) team.AssignPartition(t, 0);
  for (int t = 0; t < kTeamPartitions; ++t) {
    for (const std::string& record : topic[t]) {
      ASSERT_TRUE(team.OnTeamFeed(record, t, 0).ok());
      team.Advance(0, kEveryMs, on_boundary);
    }
  }
  team.Finish(kEveryMs, on_boundary);
  for (const auto& alert : team.TakeAlertChanges()) actual.alerts.push_back(Show(alert));
  EXPECT_EQ(team.feed_counters().late, 0u);
  EXPECT_EQ(team.feed_counters().gaps, 0u) << "B continues partition 1's channel where A's checkpoint left it";
  if (crash) {
    EXPECT_GT(team.feed_counters().repeated, 0u) << "B sends again what A sent after its checkpoint";
  }
  EXPECT_GT(b.counters().applied, input[2].size()) << "B applied events of both partitions";
  ExpectSame(expected, std::move(actual));
}

TEST(SplitTest, AnInputPartitionsStateMovesWithItToAnotherCustomerEngine) { MoveAnInputPartition(/*crash=*/false); }
TEST(SplitTest, AnInputPartitionRestoredAfterItsReaderCrashedEqualsOneEngine) { MoveAnInputPartition(/*crash=*/true); }

// Events that each queue a new interaction of team "alpha" on watermark channel `channel`; the
// strings they view live here.
class Arrivals {
 public:
  schemas::Event operator()(int channel, TimeMs time) {
    ids_.push_back(fmt::format("i{}", ids_.size()));
    schemas::Event e;
    e.type = schemas::EventType::kQueued;
    e.time_ms = time;
    e.interaction_id = ids_.back();
    e.event_id = ids_.back();
    e.team = "alpha";
    e.position = {channel, 0};
    return e;
  }

 private:
  std::deque<std::string> ids_;
};

// Inside a customer engine each input partition's stage has its own watermark. One whose
// partition is quiet for idle_partition is carried along by the live ones (to their smallest
// watermark), and its channel's records move on with them, so the team tier is not held back
// by it; its later events before that are late. A partition assigned that has sent nothing
// holds the carry back until it idles out too.
TEST(SplitTest, AQuietInputPartitionIsCarriedAlongByTheLiveOnes) {
  const MetricOptions options;  // lateness 2 min, idle_partition 30 s
  std::vector<std::string> records;  // to the one team partition
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.send = [&records](int, std::string_view record) { records.emplace_back(record); };
  Engine engine(options, split);
  Arrivals arrival;
  // The furthest slice channel `channel` has been sent to.
  const auto sent_to = [&records](uint32_t channel) {
    int64_t end = INT64_MIN;
    for (const std::string& record : records) {
      absl::StatusOr<TeamFeed> feed = DecodeTeamFeed(record);
      if (feed.ok() && feed->channel == channel) end = std::max(end, feed->to_slice);
    }
    return end;
  };
  const TimeMs t0 = 10 * kHourMs, lateness = options.allowed_lateness_ms;
  const window::SliceAssigner slices(options.slice_ms);
  engine.AssignPartition(0, 0);
  engine.AssignPartition(1, 0);
  ASSERT_EQ(engine.OnEvent(arrival(1, t0), 1000), Engine::Accepted::kApplied);
  engine.AssignPartition(2, 25'000);  // sends nothing
  // Partition 0 goes on, a minute of event time every 10 s; partition 1 is quiet from 1 s on.
  int64_t wall = 0;
  for (int k = 0; k <= 6; ++k) {
    wall = 1000 + 10'000 * k;
    ASSERT_EQ(engine.OnEvent(arrival(0, t0 + (10 + k) * kMinuteMs), wall), Engine::Accepted::kApplied);
    engine.Advance(wall, kEveryMs, nullptr);
    if (wall == 41'000) {
      // Partition 1 idle (40 s), but partition 2 (assigned 16 s ago) may still bring older events.
      EXPECT_EQ(engine.WatermarkOf(1), t0 - lateness) << "held back by a silent partition not idle yet";
      EXPECT_EQ(sent_to(1), slices.SliceOf(t0 - lateness));
    }
  }
  // At 61 s partition 2 is idle too: both are carried to partition 0's watermark.
  const TimeMs carried = t0 + 16 * kMinuteMs - lateness;
  EXPECT_EQ(engine.WatermarkOf(0), carried);
  EXPECT_EQ(engine.WatermarkOf(1), carried) << "carried along by partition 0";
  EXPECT_EQ(engine.WatermarkOf(2), carried);
  EXPECT_EQ(sent_to(1), slices.SliceOf(carried)) << "its channel moves on with the live partition";
  EXPECT_EQ(sent_to(2), slices.SliceOf(carried)) << "so does one that never had an event";
  EXPECT_EQ(engine.OnEvent(arrival(1, t0 + kMinuteMs), wall + 1), Engine::Accepted::kLate)
      << "before where it was carried";
  EXPECT_EQ(engine.OnEvent(arrival(1, t0 + 17 * kMinuteMs), wall + 1), Engine::Accepted::kApplied);
  EXPECT_EQ(engine.counters().late, 1u);
  EXPECT_EQ(engine.watermark(), carried) << "the slowest partition's";
  // Every partition silent for minutes (a broker outage), then partition 0 first: the others
  // get idle_partition again before they are carried (partition 1 keeps its own watermark).
  wall = 200'000;
  ASSERT_EQ(engine.OnEvent(arrival(0, t0 + 30 * kMinuteMs), wall), Engine::Accepted::kApplied);
  engine.Advance(wall, kEveryMs, nullptr);
  EXPECT_EQ(engine.WatermarkOf(1), t0 + 17 * kMinuteMs - lateness) << "not carried right after a shared silence";
  EXPECT_EQ(engine.WatermarkOf(0), t0 + 30 * kMinuteMs - lateness);
}

// A repartitioned input (kafka.repartition): each input partition of the customer tier has a
// watermark channel per origin, and its stage holds its watermark per origin, goes with its last
// channel, and moves with its origins' watermarks.
TEST(SplitTest, ARepartitionedInputPartitionKeepsAWatermarkPerOrigin) {
  const MetricOptions options;
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.channels_per_partition = 2;  // channel 2p + o: origin o of partition p
  split.send = [](int, std::string_view) {};
  Engine a(options, split), b(options, split);
  Arrivals arrival;
  const TimeMs t0 = 10 * kHourMs, lateness = options.allowed_lateness_ms;
  for (int channel = 0; channel < 4; ++channel) a.AssignPartition(channel, 0);
  ASSERT_EQ(a.OnEvent(arrival(0, t0 + kHourMs), 1), Engine::Accepted::kApplied);
  ASSERT_EQ(a.OnEvent(arrival(2, t0), 1), Engine::Accepted::kApplied);
  a.Advance(2, kEveryMs, nullptr);
  EXPECT_EQ(a.WatermarkOf(0), window::WatermarkTracker::kNoWatermark) << "origin 1 of partition 0 has sent nothing";
  ASSERT_EQ(a.OnEvent(arrival(1, t0 + 10 * kMinuteMs), 3), Engine::Accepted::kApplied);
  ASSERT_EQ(a.OnEvent(arrival(3, t0 + 20 * kMinuteMs), 3), Engine::Accepted::kApplied);
  a.Advance(4, kEveryMs, nullptr);
  EXPECT_EQ(a.WatermarkOf(0), t0 + 10 * kMinuteMs - lateness) << "the smaller of its origins";
  EXPECT_EQ(a.WatermarkOf(1), a.WatermarkOf(0)) << "one stage for both channels of partition 0";
  EXPECT_EQ(a.WatermarkOf(2), t0 - lateness);
  EXPECT_EQ(a.OnEvent(arrival(1, t0), 5), Engine::Accepted::kLate) << "late for its own partition";
  EXPECT_EQ(a.OnEvent(arrival(2, t0 + kMinuteMs), 5), Engine::Accepted::kApplied) << "not for another's";
  // Partition 1 moves to b with its origins' watermarks.
  std::string state;
  a.SavePartitionState(1, &state);
  a.RemovePartition(2);
  EXPECT_TRUE(a.reads_partition(1)) << "until its last channel goes";
  a.RemovePartition(3);
  EXPECT_FALSE(a.reads_partition(1));
  const absl::Status restored = b.RestorePartitionState(1, state, 6);
  ASSERT_TRUE(restored.ok()) << restored;
  b.AssignPartition(2, 6);
  b.AssignPartition(3, 6);
  b.Advance(6, kEveryMs, nullptr);
  EXPECT_EQ(b.WatermarkOf(2), t0 + kMinuteMs - lateness);
  EXPECT_EQ(b.OnEvent(arrival(3, t0 + 19 * kMinuteMs), 7), Engine::Accepted::kApplied);
  ASSERT_EQ(b.OnEvent(arrival(2, t0 + 30 * kMinuteMs), 7), Engine::Accepted::kApplied);
  b.Advance(8, kEveryMs, nullptr);
  EXPECT_EQ(b.WatermarkOf(2), t0 + 20 * kMinuteMs - lateness) << "origin 1's place came along";
}

// A catch-up over many slices is sent in records of bounded size, each starting where the one
// before ended.
TEST(TeamFeedTest, ACatchUpIsSentInBoundedConsecutiveRecords) {
  const MetricOptions options = SplitOptions();
  std::vector<std::string> records;
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.team_partitions = 2;
  std::vector<int> partitions;
  split.send = [&](int partition, std::string_view record) {
    partitions.push_back(partition);
    records.emplace_back(record);
  };
  Engine engine(options, split);
  for (const SimEvent& e : Traffic()) engine.OnEvent(e.View("default"), 0);
  engine.Finish(kEveryMs, nullptr);  // everything in one go
  std::vector<int64_t> end(2, INT64_MIN);
  size_t contributions = 0, largest = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    auto feed = DecodeTeamFeed(records[i]);
    ASSERT_TRUE(feed.ok()) << feed.status();
    int64_t& before = end[static_cast<size_t>(partitions[i])];
    if (before != INT64_MIN) {
      EXPECT_EQ(feed->from_slice, before) << "record " << i;
    }
    before = feed->to_slice;
    contributions += feed->delivered.size();
    largest = std::max(largest, feed->delivered.size());
  }
  EXPECT_GT(records.size(), 10u);
  EXPECT_GT(contributions, 100'000u);
  EXPECT_LE(largest, 16384u + 5000u) << "a record holds at most one slice past the bound";
}

// A record that starts after where its channel's last one ended is counted as a gap; and
// records sent again (a customer stage catching up after a restart) keep their channel from
// idling out.
TEST(TeamFeedTest, TheTeamStageCountsGapsAndRepeatsKeepAChannelAwake) {
  const MetricOptions options;  // idle_partition 30 s
  TeamRegistry names;
  names.Intern("acme", "sales");
  std::vector<std::string> records;
  const auto record = [&](TeamFeedWriter& writer, int64_t slice, int64_t to) {
    const std::vector<Delivered> one = {{Contribution{.time = slice * options.slice_ms, .team = 0}, false}};
    writer.Add(slice, one, names);
    writer.Flush(to, names, &records);
    return records[0];
  };
  TeamFeedWriter zero(0, 1), one(1, 1);
  const std::string z1 = record(zero, 100, 101), z2 = record(zero, 101, 102), z3 = record(zero, 102, 103);
  const std::string o1 = record(one, 100, 101);

  TeamStage stage(&options);
  stage.AssignChannel(0, 0);
  stage.AssignChannel(1, 0);
  const auto feed = [&](const std::string& bytes, int64_t now_ms) { stage.OnFeed(*DecodeTeamFeed(bytes), now_ms); };
  feed(z1, 0);
  feed(o1, 0);
  feed(z3, 0);  // z2 never came
  EXPECT_EQ(stage.feed_counters().gaps, 1u);
  feed(z2, 1000);  // late in the partition: it came after z3; its slice is counted repeated
  EXPECT_EQ(stage.feed_counters().repeated, 1u);
  stage.Advance(1000, kEveryMs, nullptr);
  EXPECT_EQ(stage.end_slice(), 101) << "channel 1 holds the watermark at its end";
  // Channel 1 sends its first record again at 25 s (restarted, catching up): at 40 s it is not
  // idle, and still holds the watermark back.
  feed(o1, 25'000);
  stage.Advance(40'000, kEveryMs, nullptr);
  EXPECT_EQ(stage.end_slice(), 101);
  // Silent past the idle time while channel 0 sends on, it no longer does.
  feed(record(zero, 103, 104), 50'000);
  stage.Advance(60'000, kEveryMs, nullptr);
  EXPECT_EQ(stage.end_slice(), 104);
  // When every channel is silent, the team stage waits for the slowest (it may still send
  // what is behind its own watermark), not the fastest.
  feed(record(one, 101, 102), 60'000);
  stage.Advance(200'000, kEveryMs, nullptr);
  EXPECT_EQ(stage.end_slice(), 104) << "never backwards";
}

// A customer engine whose watermark stands still sends an empty record per team partition
// every second (wall clock) while it owns partitions, so the team stages wait for it.
TEST(TeamFeedTest, AQuietCustomerEngineSaysItIsAlive) {
  const MetricOptions options = SplitOptions();
  std::vector<std::pair<int, std::string>> sent;
  Engine::Split split;
  split.role = Engine::Split::Role::kCustomers;
  split.team_partitions = 2;
  split.send = [&](int partition, std::string_view record) { sent.emplace_back(partition, record); };
  Engine engine(options, split);
  const std::vector<SimEvent> events = Traffic();
  for (size_t i = 0; i < 5000; ++i) {
    engine.OnEvent(events[i].View("default"), 0);
    engine.Advance(0, kEveryMs, nullptr);
  }
  ASSERT_FALSE(sent.empty());
  const auto newest = DecodeTeamFeed(sent.back().second);
  ASSERT_TRUE(newest.ok()) << newest.status();
  const int64_t end = newest->to_slice;
  const size_t before = sent.size();
  engine.Advance(999, kEveryMs, nullptr);
  EXPECT_EQ(sent.size(), before) << "not within the second";
  engine.Advance(1000, kEveryMs, nullptr);
  ASSERT_EQ(sent.size(), before + 2);
  for (size_t i = before; i < sent.size(); ++i) {
    auto feed = DecodeTeamFeed(sent[i].second);
    ASSERT_TRUE(feed.ok()) << feed.status();
    EXPECT_EQ(feed->from_slice, end);
    EXPECT_EQ(feed->to_slice, end);
    EXPECT_TRUE(feed->delivered.empty());
  }
  engine.Advance(1500, kEveryMs, nullptr);
  EXPECT_EQ(sent.size(), before + 2);
  // Its input quiet for far longer than idle_partition: still there.
  engine.Advance(10 * options.idle_partition_ms, kEveryMs, nullptr);
  EXPECT_EQ(sent.size(), before + 4);
  // Owning nothing (its partition revoked), it falls silent: the team stages idle it out.
  engine.RemovePartition(0);
  engine.Advance(20 * options.idle_partition_ms, kEveryMs, nullptr);
  EXPECT_EQ(sent.size(), before + 4);
}

// A customer engine whose input is quiet for hours (event time) while another's goes on: the
// team stage waits for it (in one engine, the other partitions carry a quiet one's time
// along; a customer engine's watermark only its own input moves), and gets every expiry and
// verdict it sends after the quiet spell in time, as one engine does. (When quiet customer engines
// fell silent, the team stage went on without them and dropped 65 late contributions here.)
TEST(TeamFeedTest, AQuietCustomerEngineIsWaitedFor) {
  const MetricOptions options = SplitOptions();
  const std::vector<SimEvent> events = Traffic();
  std::vector<std::vector<SimEvent>> parts = ByCustomer(events, 2);
  const TimeMs t0 = events.front().time_ms;
  std::erase_if(parts[1], [&](const SimEvent& e) {
    return e.time_ms >= t0 + 20 * schemas::kHourMs && e.time_ms < t0 + 24 * schemas::kHourMs;
  });
  // Live: events arrive in delivery order, 60 event seconds per wall second.
  std::vector<std::pair<int, const SimEvent*>> arrivals;
  for (int p = 0; p < 2; ++p) {
    for (const SimEvent& e : parts[static_cast<size_t>(p)]) arrivals.emplace_back(p, &e);
  }
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const auto& a, const auto& b) { return a.second->emit_ms < b.second->emit_ms; });
  const auto wall_of = [&](const SimEvent& e) { return (e.emit_ms - t0) / 60; };

  // One engine reading both partitions.
  const std::string tenant = "default";  // outlives the events' views
  Results expected;
  Engine whole(options);
  const auto on_whole_boundary = [&](TimeMs b) { Record(whole, b, options, &expected.windows); };
  for (const auto& [p, e] : arrivals) {
    schemas::Event event = e->View(tenant);
    event.position = {p, 0};
    ASSERT_NE(whole.OnEvent(event, wall_of(*e)), Engine::Accepted::kLate);
    whole.Advance(wall_of(*e), kEveryMs, on_whole_boundary);
  }
  whole.Finish(kEveryMs, on_whole_boundary);
  for (const auto& a : whole.TakeAlertChanges()) expected.alerts.push_back(Show(a));
  std::sort(expected.alerts.begin(), expected.alerts.end());

  // A customer engine per partition feeding one team engine.
  Results actual;
  Engine teams(options, TeamSplit(2));
  teams.AssignPartition(0, 0);
  const auto on_boundary = [&](TimeMs b) { Record(teams, b, options, &actual.windows); };
  int64_t now = 0;
  std::vector<std::unique_ptr<Engine>> customers;
  for (uint32_t c = 0; c < 2; ++c) {
    Engine::Split split;
    split.role = Engine::Split::Role::kCustomers;
    split.channel_of = [c](int) { return c; };
    split.send = [&](int, std::string_view record) { ASSERT_TRUE(teams.OnTeamFeed(record, 0, now).ok()); };
    customers.push_back(std::make_unique<Engine>(options, split));
    customers.back()->AssignPartition(0, 0);
  }
  for (const auto& [p, e] : arrivals) {
    now = wall_of(*e);
    customers[static_cast<size_t>(p)]->OnEvent(e->View("default"), now);
    for (auto& c : customers) c->Advance(now, kEveryMs, nullptr);
    teams.Advance(now, kEveryMs, on_boundary);
  }
  for (auto& c : customers) c->Finish(kEveryMs, nullptr);
  const TimeMs end = teams.Finish(kEveryMs, on_boundary);
  for (const auto& a : teams.TakeAlertChanges()) actual.alerts.push_back(Show(a));
  // Both channels of the team partition, each sent to its last slice; the windows reach the
  // furthest.
  const std::vector<Engine::ChannelEnd> ends = teams.ChannelEnds();
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends[0].partition, 0);
  EXPECT_EQ(ends[0].channel, 0u);
  EXPECT_EQ(ends[1].channel, 1u);
  EXPECT_EQ(std::max(ends[0].end, ends[1].end), end);
  EXPECT_EQ(teams.feed_counters().late, 0u);
  EXPECT_GT(teams.TotalOf(Kind::kExpired), 0u);
  ExpectSame(expected, actual);
}

// A decoded record of channel `channel` covering slices [from, to), with one contribution of
// team "acme"/"sales" in its last slice.
TeamFeed OneRecord(const MetricOptions& options, uint32_t channel, int64_t from, int64_t to, bool pause = false) {
  TeamRegistry teams;
  teams.Intern("acme", "sales");
  TeamFeedWriter writer(channel, 1);
  writer.ResumeAt(from);
  const std::vector<Delivered> one = {{Contribution{.time = (to - 1) * options.slice_ms, .team = 0}, false}};
  writer.Add(to - 1, one, teams);
  std::vector<std::string> records;
  writer.Flush(to, teams, &records, pause);
  absl::StatusOr<TeamFeed> feed = DecodeTeamFeed(records[0]);
  EXPECT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->pause, pause);
  return *std::move(feed);
}

// A customer stage stopping cleanly (a rolling update) sends a pause: the team stage waits
// for it however long the restart takes, instead of going on after idle_partition and
// dropping what it sends once back as late.
TEST(TeamFeedTest, APausedChannelIsWaitedForUntilItIsBack) {
  const MetricOptions options = SplitOptions();
  const auto record = [&](uint32_t channel, int64_t from, int64_t to, bool pause) {
    return OneRecord(options, channel, from, to, pause);
  };
  TeamStage paused(&options), stopped(&options);
  for (TeamStage* stage : {&paused, &stopped}) {
    stage->AssignChannel(0, 0);
    stage->AssignChannel(1, 0);
    stage->OnFeed(record(0, 100, 110, false), 0);
  }
  paused.OnFeed(record(1, 100, 105, true), 0);
  stopped.OnFeed(record(1, 100, 105, false), 0);
  // Channel 0 goes on, a record every half idle_partition, for ten idle_partitions.
  const int64_t step = options.idle_partition_ms / 2;
  for (int64_t k = 1; k <= 20; ++k) {
    for (TeamStage* stage : {&paused, &stopped}) {
      stage->OnFeed(record(0, 109 + k, 110 + k, false), k * step);
      stage->Advance(k * step, kEveryMs, nullptr);
    }
  }
  EXPECT_EQ(paused.end_slice(), 105) << "waits for the paused channel";
  EXPECT_EQ(stopped.end_slice(), 130) << "a channel that stopped without a word idles out";
  // Back, the channel sends what followed (a contribution in slice 124): in time only where
  // it was waited for.
  paused.OnFeed(record(1, 105, 125, false), 21 * step);
  paused.Advance(21 * step, kEveryMs, nullptr);
  EXPECT_EQ(paused.end_slice(), 125);
  EXPECT_EQ(paused.feed_counters().late, 0u);
  stopped.OnFeed(record(1, 105, 125, false), 21 * step);
  EXPECT_EQ(stopped.feed_counters().late, 1u);
}

// A customer stage that has sent nothing yet may still be starting: the team stage waits for
// its first record for as long as for a paused one (10 minutes), not idle_partition.
TEST(TeamFeedTest, AChannelThatHasNotSentYetIsWaitedFor) {
  const MetricOptions options = SplitOptions();
  const auto record = [&](uint32_t channel, int64_t from, int64_t to) { return OneRecord(options, channel, from, to); };
  TeamStage stage(&options);
  stage.AssignChannel(0, 0);
  stage.AssignChannel(1, 0);
  const int64_t step = options.idle_partition_ms / 2;
  for (int64_t k = 1; k <= 20; ++k) {  // channel 0 for ten idle_partitions
    stage.OnFeed(record(0, 109 + k, 110 + k), k * step);
    stage.Advance(k * step, kEveryMs, nullptr);
  }
  EXPECT_EQ(stage.end_slice(), INT64_MIN) << "nothing applied before channel 1 has sent";
  stage.OnFeed(record(1, 100, 125), 21 * step);
  stage.Advance(21 * step, kEveryMs, nullptr);
  EXPECT_EQ(stage.end_slice(), 125);
  EXPECT_EQ(stage.feed_counters().late, 0u);
  // One that never comes is given up 10 minutes after its assignment.
  TeamStage alone(&options);
  alone.AssignChannel(0, 0);
  alone.AssignChannel(1, 0);
  for (int64_t now = step; now <= 11 * schemas::kMinuteMs; now += step) {
    alone.OnFeed(record(0, 109 + now / step, 110 + now / step), now);
    alone.Advance(now, kEveryMs, nullptr);
    if (now < 10 * schemas::kMinuteMs) {
      ASSERT_EQ(alone.end_slice(), INT64_MIN) << now;
    }
  }
  EXPECT_GT(alone.end_slice(), 110);
}

// The team stages of an instance share one watermark over every (team partition, channel), as
// one stage over all partitions kept it: a partition whose channel idles out, or that never
// sends once the start-up wait is over, is carried along by the others rather than stalling
// every partition's windows.
TEST(TeamFeedTest, AQuietTeamPartitionDoesNotHoldTheOthersBack) {
  const MetricOptions options = SplitOptions();
  TeamPartitions tier(&options, /*channels=*/1);
  tier.Assign(0, 0);
  tier.Assign(1, 0);
  tier.OnFeed(OneRecord(options, 0, 100, 110), 0, 0);
  tier.OnFeed(OneRecord(options, 0, 100, 105), 1, 0);  // then nothing on partition 1
  const int64_t step = options.idle_partition_ms / 2;
  for (int64_t k = 1; k <= 20; ++k) {
    tier.OnFeed(OneRecord(options, 0, 109 + k, 110 + k), 0, k * step);
    tier.Advance(k * step, kEveryMs, nullptr);
  }
  EXPECT_EQ(tier.windows_end(), 130 * options.slice_ms) << "partition 1 idled out";
  // A partition that never sends: waited for 10 minutes (its customer instances may still be
  // starting), then carried along.
  const int64_t assigned_at = 21 * step;
  tier.Assign(2, assigned_at);
  int64_t now = assigned_at;
  for (int64_t k = 1; now < assigned_at + 11 * kMinuteMs; ++k) {
    now = assigned_at + k * step;
    tier.OnFeed(OneRecord(options, 0, 129 + k, 130 + k), 0, now);
    tier.Advance(now, kEveryMs, nullptr);
    if (now < assigned_at + 10 * kMinuteMs) {
      EXPECT_EQ(tier.windows_end(), 130 * options.slice_ms) << now;
    }
  }
  EXPECT_GT(tier.windows_end(), 130 * options.slice_ms) << "partition 2 never sent";
  EXPECT_EQ(tier.feed_counters().late, 0u);
}

TEST(TeamFeedTest, RoundTripsAndRejectsDamage) {
  TeamRegistry teams;
  teams.Intern("acme", "billing");
  teams.Intern("acme", "sales");
  TeamFeedWriter writer(7, 1);
  std::vector<Delivered> slice = {
      {Contribution{.time = 100'000, .aux = 5, .team = 1, .value = 30'000, .kind = Kind::kWait}, false},
      {Contribution{.time = 90'000, .team = 0, .kind = Kind::kFcrProvisional, .sign = -1}, true}};
  writer.Add(10, slice, teams);
  std::vector<std::string> records;
  writer.Flush(12, teams, &records);
  ASSERT_EQ(records.size(), 1u);
  auto feed = DecodeTeamFeed(records[0]);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->channel, 7u);
  EXPECT_EQ(feed->from_slice, 10);
  EXPECT_EQ(feed->to_slice, 12);
  ASSERT_EQ(feed->delivered.size(), 2u);
  const auto& [s0, d0] = feed->delivered[0];
  EXPECT_EQ(s0, 10);
  EXPECT_EQ(feed->teams[d0.c.team], std::make_pair(std::string("acme"), std::string("sales")));
  EXPECT_EQ(d0.c.value, 30'000u);
  EXPECT_EQ(d0.c.aux, 5u);
  const auto& [s1, d1] = feed->delivered[1];
  EXPECT_TRUE(d1.effect);
  EXPECT_EQ(d1.c.sign, -1);
  EXPECT_EQ(feed->teams[d1.c.team].second, "billing");

  // The next flush starts where this one ended, with no contribution: a watermark mark.
  writer.Flush(15, teams, &records);
  feed = DecodeTeamFeed(records[0]);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->from_slice, 12);
  EXPECT_TRUE(feed->delivered.empty() && feed->teams.empty());

  // Damage is named with its byte offset.
  writer.Add(20, slice, teams);
  writer.Flush(21, teams, &records);
  const std::string good = records[0];
  EXPECT_TRUE(DecodeTeamFeed(good).ok());
  auto truncated = DecodeTeamFeed(std::string_view(good).substr(0, good.size() - 3));
  EXPECT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("at byte"), std::string_view::npos) << truncated.status();
  EXPECT_FALSE(DecodeTeamFeed(good + "x").ok());
  std::string bad_version = good;
  bad_version[0] = 9;
  EXPECT_NE(DecodeTeamFeed(bad_version).status().message().find("version 9"), std::string_view::npos);
  // A kind no customer stage sends (a repeat-contact fact) is refused.
  std::vector<Delivered> fact = {{Contribution{.time = 100'000, .team = 1, .kind = Kind::kContactStart}, false}};
  writer.Add(21, fact, teams);
  writer.Flush(22, teams, &records);
  EXPECT_NE(DecodeTeamFeed(records[0]).status().message().find("is not valid"), std::string_view::npos)
      << DecodeTeamFeed(records[0]).status();
}

TEST(TeamFeedTest, VarintsKeepEveryValueAndShrinkTheRecord) {
  TeamRegistry teams;
  teams.Intern("acme", "sales");
  TeamFeedWriter writer(300, 1);
  // Extremes of each field: a hash-sized aux (raw bytes), times going back, large values,
  // slices far from zero and apart.
  std::vector<Delivered> first = {
      {Contribution{.time = 1'700'000'000'000, .aux = ~uint64_t{0}, .team = 0, .kind = Kind::kWaitStart}, false},
      {Contribution{.time = 1'699'999'000'000, .aux = 127, .aux2 = 1'000'000, .team = 0,
                    .value = UINT32_MAX, .kind = Kind::kHandle}, false}};
  std::vector<Delivered> later = {
      {Contribution{.time = 1'700'000'500'000, .aux = uint64_t{1} << 56, .team = 0, .kind = Kind::kWorkEnd}, false},
      {Contribution{.time = 1'700'000'400'000, .team = 0, .kind = Kind::kFcrProvisional, .sign = -1}, true}};
  writer.ResumeAt(-5);
  writer.Add(-3, first, teams);
  writer.Add(1'000'000, later, teams);
  std::vector<std::string> records;
  writer.Flush(1'000'001, teams, &records);
  auto feed = DecodeTeamFeed(records[0]);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->channel, 300u);
  EXPECT_EQ(feed->from_slice, -5);
  EXPECT_EQ(feed->to_slice, 1'000'001);
  ASSERT_EQ(feed->delivered.size(), 4u);
  const std::vector<std::pair<int64_t, Delivered>> sent = {{-3, first[0]}, {-3, first[1]},
                                                           {1'000'000, later[0]}, {1'000'000, later[1]}};
  for (size_t i = 0; i < sent.size(); ++i) {
    const auto& [slice, d] = feed->delivered[i];
    EXPECT_EQ(slice, sent[i].first) << i;
    EXPECT_EQ(d.c.Key(), sent[i].second.c.Key()) << i;
    EXPECT_EQ(d.c.sign, sent[i].second.c.sign) << i;
    EXPECT_EQ(d.effect, sent[i].second.effect) << i;
  }
  // 4 contributions in far fewer than version 1's 4 x 43 bytes (plus 29 of header and names).
  EXPECT_LT(records[0].size(), 100u);
}

// Damage anywhere is an error or a record that passes every check, never a crash or a huge
// allocation (`cmake --workflow --preset asan` checks the memory accesses too).
TEST(TeamFeedTest, EveryTruncationAndByteChangeDecodesOrFailsCleanly) {
  TeamRegistry teams;
  teams.Intern("acme", "sales");
  teams.Intern("acme", "billing");
  TeamFeedWriter writer(3, 1);
  std::vector<Delivered> slice = {
      {Contribution{.time = 1'700'000'000'000, .aux = ~uint64_t{0}, .team = 0, .kind = Kind::kWaitStart}, false},
      {Contribution{.time = 1'700'000'001'000, .team = 1, .value = 9, .kind = Kind::kAnswered}, false},
      {Contribution{.time = 1'700'000'002'000, .team = 0, .kind = Kind::kRepeat, .sign = -1}, true}};
  writer.Add(170'000'000, slice, teams);
  std::vector<std::string> records;
  writer.Flush(170'000'001, teams, &records);
  const std::string good = records[0];
  ASSERT_TRUE(DecodeTeamFeed(good).ok());
  size_t refused = 0;
  for (size_t n = 0; n < good.size(); ++n) refused += !DecodeTeamFeed(std::string_view(good).substr(0, n)).ok();
  EXPECT_EQ(refused, good.size());  // every truncation
  for (size_t at = 0; at < good.size(); ++at) {
    for (int value = 0; value < 256; ++value) {
      std::string damaged = good;
      damaged[at] = static_cast<char>(value);
      auto feed = DecodeTeamFeed(damaged);
      if (!feed.ok()) continue;
      for (const auto& [s, d] : feed->delivered) {
        ASSERT_LT(d.c.team, feed->teams.size());
        ASSERT_TRUE(s >= feed->from_slice && s < feed->to_slice);
      }
    }
  }
}

// Hostile values a single byte change cannot make: the largest varints, varints of more than
// 64 bits, and time deltas each in range that add up beyond it.
TEST(TeamFeedTest, RefusesValuesOutOfRange) {
  const auto decode = [](std::initializer_list<int> bytes) {
    std::string record;
    for (int b : bytes) record.push_back(static_cast<char>(b));
    return DecodeTeamFeed(record);
  };
  // version 2, flags 0, channel 0, from_slice = zigzag(INT64_MIN), width 0, no team, none.
  auto lowest = decode({2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0});
  EXPECT_NE(lowest.status().message().find("out of range"), std::string_view::npos) << lowest.status();
  auto wider = decode({2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0});
  EXPECT_NE(wider.status().message().find("more than 64 bits"), std::string_view::npos) << wider.status();
  auto longer = decode({2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0});
  EXPECT_NE(longer.status().message().find("more than 64 bits"), std::string_view::npos) << longer.status();
  auto flags = decode({2, 0x80, 0, 0, 1, 0, 0});
  EXPECT_NE(flags.status().message().find("record flags"), std::string_view::npos) << flags.status();
  // One team "a"/"b", three contributions each 2^44 - 1 ms after the one before.
  std::string record = {2, 0, 0, 0, 1, 1, 1, 'a', 1, 'b', 3};
  const size_t header = record.size();
  StateWriter ar(&record);
  for (int i = 0; i < 3; ++i) {
    ar(uint8_t{0});  // kInflow
    ar.Varint(0);
    ar.SignedVarint((int64_t{1} << 44) - 1);
    for (int field = 0; field < 4; ++field) ar.Varint(0);
  }
  auto drifting = DecodeTeamFeed(record);
  EXPECT_NE(drifting.status().message().find("out of range"), std::string_view::npos) << drifting.status();
  record.resize(header + (record.size() - header) / 3);  // the first contribution alone is fine
  record[header - 1] = 1;
  EXPECT_TRUE(DecodeTeamFeed(record).ok()) << DecodeTeamFeed(record).status();
}

// A record an earlier build sent (version 1, fixed width) still reads after an upgrade.
TEST(TeamFeedTest, ReadsVersionOneRecords) {
  const std::string v1(
      "\x01\x07\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00"
      "\x00\x04\x00\x61\x63\x6d\x65\x05\x00\x73\x61\x6c\x65\x73\x04\x00\x61\x63\x6d\x65\x07\x00\x62\x69"
      "\x6c\x6c\x69\x6e\x67\x02\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\xa0\x86\x01\x00\x00\x00\x00"
      "\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x30\x75\x00"
      "\x00\x10\x01\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x90\x5f\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x0a\xff\x01",
      143);
  auto feed = DecodeTeamFeed(v1);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->channel, 7u);
  EXPECT_EQ(feed->from_slice, 10);
  EXPECT_EQ(feed->to_slice, 12);
  ASSERT_EQ(feed->teams.size(), 2u);
  EXPECT_EQ(feed->teams[1], std::make_pair(std::string("acme"), std::string("billing")));
  ASSERT_EQ(feed->delivered.size(), 2u);
  EXPECT_EQ(feed->delivered[0].second.c.value, 30'000u);
  EXPECT_EQ(feed->delivered[0].second.c.kind, Kind::kWait);
  EXPECT_EQ(feed->delivered[1].second.c.sign, -1);
  EXPECT_TRUE(feed->delivered[1].second.effect);
  EXPECT_FALSE(DecodeTeamFeed(v1.substr(0, 142)).ok());
}

TEST(TeamFeedTest, TeamsAreSpreadOverPartitionsTheSameWayEverywhere) {
  std::vector<int> count(4, 0);
  for (int i = 0; i < 400; ++i) ++count[TeamPartition("acme", "team-" + std::to_string(i), 4)];
  for (int c : count) EXPECT_GT(c, 60);
  // Pinned: every build and instance must place a team where the others do.
  EXPECT_EQ(TeamPartition("acme", "sales", 4), 3);
  EXPECT_EQ(TeamPartition("acme", "billing", 4), 3);
  EXPECT_EQ(TeamPartition("default", "claims", 16), 3);
}

}  // namespace
}  // namespace ccpulse::operators
