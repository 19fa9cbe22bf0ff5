// Decode alone, decode + every operator, and the two tiers of kafka.team_stage, over a seeded
// synthetic stream of 10,000 teams and 1,000,000 customers; also reports bytes per tracked
// customer and per team, and the team tier's state per team partition (saved and restored).
//
//   build/release/benchmarks/engine_benchmark --benchmark_repetitions=5
//     (add --benchmark_report_aggregates_only=true for medians only)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/stream.h"
#include "operators/engine.h"
#include "schemas/ids.h"
#include "schemas/json_decoder.h"

namespace {

using ccpulse::operators::Engine;
using ccpulse::operators::MetricOptions;
using ccpulse::benchmarks::Stream;

int64_t Bytes(const std::vector<std::string>& records) {
  int64_t bytes = 0;
  for (const auto& r : records) bytes += static_cast<int64_t>(r.size());
  return bytes;
}

// Decodes every record and applies it to `engine`, advancing after each; then `after(i)`. With
// `input_partitions` > 1, each event comes from the partition of its customer (a customer-keyed
// topic).
template <typename After>
void Apply(const std::vector<std::string>& records, Engine& engine, After after, int input_partitions = 1) {
  ccpulse::schemas::JsonEventDecoder decoder;
  ccpulse::schemas::Event event;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!decoder.Decode(records[i], &event).ok()) continue;
    event.position.offset = static_cast<int64_t>(i);
    if (input_partitions > 1) {
      const std::string_view key = event.customer_id.empty() ? event.interaction_id : event.customer_id;
      event.position.partition = static_cast<int32_t>(ccpulse::schemas::SipHash24({}, key) % input_partitions);
    }
    engine.OnEvent(event, 0);
    engine.Advance(0, ccpulse::schemas::kMinuteMs, nullptr);
    after(i);
  }
}

void BM_Decode(benchmark::State& state) {
  const auto& records = Stream();
  ccpulse::schemas::JsonEventDecoder decoder;
  ccpulse::schemas::Event event;
  for (auto _ : state) {
    for (const std::string& record : records) {
      auto status = decoder.Decode(record, &event);
      benchmark::DoNotOptimize(status);
      benchmark::DoNotOptimize(event);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records.size()));
  state.SetBytesProcessed(state.iterations() * Bytes(records));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodeAndOperators(benchmark::State& state) {
  const auto& records = Stream();
  Engine::Memory memory;
  size_t teams = 0, customers = 0, interactions = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>(MetricOptions{});
    state.ResumeTiming();
    Apply(records, *engine, [&](size_t i) {
      if (i != records.size() * 3 / 4) return;
      // Memory at full load: the 1 h window is full and arrivals are at their peak.
      state.PauseTiming();
      memory = engine->MemoryUsage();
      teams = engine->team_count();
      customers = engine->repeat_contacts().tracked_customers();
      interactions = engine->interactions().size();
      state.ResumeTiming();
    });
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records.size()));
  state.counters["teams"] = static_cast<double>(teams);
  state.counters["bytes_per_team"] =
      static_cast<double>(memory.teams + memory.histograms) / static_cast<double>(teams);
  state.counters["fcr_customers"] = static_cast<double>(customers);
  state.counters["bytes_per_fcr_customer"] =
      static_cast<double>(memory.repeat_contacts) / static_cast<double>(std::max<size_t>(customers, 1));
  state.counters["open_interactions"] = static_cast<double>(interactions);
  state.counters["bytes_per_interaction"] =
      static_cast<double>(memory.interactions) / static_cast<double>(std::max<size_t>(interactions, 1));
}
BENCHMARK(BM_DecodeAndOperators)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// The two tiers (kafka.team_stage) in one thread, 16 team partitions: range(0) = 0, the customer
// tier alone (decode, customer stages, encoding the team records); 1, and the team tier applying
// every record as it is sent (decode of the records, team stage). The team tier's share is the
// difference; BM_DecodeAndOperators is the whole engine. range(1): the input partitions the
// customer instance reads (a customer stage and a channel each); their state is saved at the end
// (what moves with one partition).
void BM_TwoTiers(benchmark::State& state) {
  const auto& records = Stream();
  const bool with_teams = state.range(0) == 1;
  const int inputs = static_cast<int>(state.range(1));
  double state_bytes = 0, save_ms = 0;
  constexpr int kTeamPartitions = 16;
  uint64_t feed_records = 0, feed_bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Engine::Split team_split;
    team_split.role = Engine::Split::Role::kTeams;
    team_split.channels = inputs;
    auto teams = std::make_unique<Engine>(MetricOptions{}, team_split);
    for (int p = 0; p < kTeamPartitions; ++p) teams->AssignPartition(p, 0);
    Engine::Split split;
    split.role = Engine::Split::Role::kCustomers;
    split.team_partitions = kTeamPartitions;
    feed_records = feed_bytes = 0;
    split.send = [&](int partition, std::string_view record) {
      ++feed_records;
      feed_bytes += record.size();
      if (with_teams && !teams->OnTeamFeed(record, partition, 0).ok()) std::abort();
    };
    auto customers = std::make_unique<Engine>(MetricOptions{}, split);
    state.ResumeTiming();
    Apply(
        records, *customers,
        [&](size_t) {
          if (with_teams) teams->Advance(0, ccpulse::schemas::kMinuteMs, nullptr);
        },
        inputs);
    state.PauseTiming();
    state_bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int p = 0; p < inputs; ++p) {
      std::string saved;
      customers->SavePartitionState(p, &saved);
      state_bytes += static_cast<double>(saved.size());
    }
    save_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    customers.reset();
    teams.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(records.size()));
  state.counters["feed_records"] = static_cast<double>(feed_records);
  state.counters["feed_bytes_per_event"] = static_cast<double>(feed_bytes) / static_cast<double>(records.size());
  state.counters["input_state_MB"] = state_bytes / 1e6 / inputs;  // per input partition
  state.counters["input_save_ms"] = save_ms / inputs;
}
BENCHMARK(BM_TwoTiers)
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 8})
    ->Args({1, 8})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

constexpr int kMovingPartitions = 16;

// A team engine that has read the whole stream over 16 team partitions (built once).
Engine& TeamTier() {
  static Engine* teams = [] {
    Engine::Split team_split;
    team_split.role = Engine::Split::Role::kTeams;
    team_split.channels = 1;
    auto* engine = new Engine(MetricOptions{}, team_split);
    for (int p = 0; p < kMovingPartitions; ++p) engine->AssignPartition(p, 0);
    Engine::Split split;
    split.role = Engine::Split::Role::kCustomers;
    split.team_partitions = kMovingPartitions;
    split.send = [&](int partition, std::string_view record) {
      if (!engine->OnTeamFeed(record, partition, 0).ok()) std::abort();
    };
    Engine customers(MetricOptions{}, split);
    Apply(Stream(), customers, [&](size_t) { engine->Advance(0, ccpulse::schemas::kMinuteMs, nullptr); });
    return engine;
  }();
  return *teams;
}

// What moves with a team partition (issue 6 item 3): its checkpoint state, saved (at the revoke)
// and restored (at the new owner's assignment), all 16 partitions in turn; per team and per
// partition.
void BM_TeamPartitionSave(benchmark::State& state) {
  Engine& teams = TeamTier();
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (int p = 0; p < kMovingPartitions; ++p) {
      std::string out;
      teams.SavePartitionState(p, &out);
      bytes += out.size();
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(teams.teams_held()));  // teams/s
  state.counters["bytes_per_partition"] = static_cast<double>(bytes) / kMovingPartitions;
  state.counters["bytes_per_team"] = static_cast<double>(bytes) / static_cast<double>(teams.teams_held());
}
BENCHMARK(BM_TeamPartitionSave)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_TeamPartitionRestore(benchmark::State& state) {
  Engine& teams = TeamTier();
  std::vector<std::string> saved(kMovingPartitions);
  for (int p = 0; p < kMovingPartitions; ++p) teams.SavePartitionState(p, &saved[static_cast<size_t>(p)]);
  Engine::Split team_split;
  team_split.role = Engine::Split::Role::kTeams;
  team_split.channels = 1;
  for (auto _ : state) {
    state.PauseTiming();
    auto fresh = std::make_unique<Engine>(MetricOptions{}, team_split);
    state.ResumeTiming();
    for (int p = 0; p < kMovingPartitions; ++p) {
      if (!fresh->RestorePartitionState(p, saved[static_cast<size_t>(p)], 0).ok()) std::abort();
    }
    state.PauseTiming();
    if (fresh->teams_held() != teams.teams_held()) std::abort();
    fresh.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(teams.teams_held()));  // teams/s
}
BENCHMARK(BM_TeamPartitionRestore)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
