// Decode alone, and decode + every operator, over a seeded synthetic stream of 10,000 teams and
// 1,000,000 customers; also reports bytes per tracked customer and per team.
//
//   build/release/benchmarks/engine_benchmark --benchmark_repetitions=5
//     (add --benchmark_report_aggregates_only=true for medians only)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "benchmarks/stream.h"
#include "operators/engine.h"
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
  ccpulse::schemas::JsonEventDecoder decoder;
  ccpulse::schemas::Event event;
  Engine::Memory memory;
  size_t teams = 0, customers = 0, interactions = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>(MetricOptions{});
    state.ResumeTiming();
    for (size_t i = 0; i < records.size(); ++i) {
      if (!decoder.Decode(records[i], &event).ok()) continue;
      event.position.offset = static_cast<int64_t>(i);
      engine->OnEvent(event, 0);
      engine->Advance(0, ccpulse::schemas::kMinuteMs, nullptr);
      if (i == records.size() * 3 / 4) {
        // Memory at full load: the 1 h window is full and arrivals are at their peak.
        state.PauseTiming();
        memory = engine->MemoryUsage();
        teams = engine->team_count();
        customers = engine->repeat_contacts().tracked_customers();
        interactions = engine->interactions().size();
        state.ResumeTiming();
      }
    }
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

}  // namespace

BENCHMARK_MAIN();
