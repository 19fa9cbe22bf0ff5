// Checkpoint cost at the benchmark stream's full state (10,000 teams, ~1M FCR customers, the
// open interactions of the morning peak): the worker's pause to save it, its size per key, the
// directory backend's write (fsync, rename), and the restore rate. Figures in README.md.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "benchmarks/stream.h"
#include "operators/engine.h"
#include "pipeline/checkpoint.h"
#include "schemas/json_decoder.h"

namespace {

using ccpulse::operators::Engine;
using ccpulse::operators::MetricOptions;

// The engine after the whole stream, built once.
Engine& FullEngine() {
  static Engine* engine = [] {
    auto* e = new Engine(MetricOptions{});
    ccpulse::schemas::JsonEventDecoder decoder;
    ccpulse::schemas::Event event;
    const auto& records = ccpulse::benchmarks::Stream();
    for (size_t i = 0; i < records.size(); ++i) {
      if (!decoder.Decode(records[i], &event).ok()) continue;
      e->OnEvent(event, 0);
      e->Advance(0, ccpulse::schemas::kMinuteMs, nullptr);
    }
    return e;
  }();
  return *engine;
}

// Keys: teams, FCR customers and held interactions.
double Keys(const Engine& e) {
  return static_cast<double>(e.team_count() + e.repeat_contacts().tracked_customers() + e.interactions().size());
}

ccpulse::Checkpoint Header() {
  ccpulse::Checkpoint header;
  header.sequence = 1;
  header.partitions = {{"events[0]", 1}};
  return header;
}

// The worker's pause: serialization into a buffer reserved from the previous size (the checksum
// is the writer thread's, in BM_Seal).
void BM_Save(benchmark::State& state) {
  Engine& engine = FullEngine();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string encoded = ccpulse::EncodeCheckpoint(Header(), &engine, bytes + bytes / 8, /*seal=*/false);
    bytes = encoded.size();
    benchmark::DoNotOptimize(encoded.data());
  }
  state.counters["keys"] = Keys(engine);
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["bytes_per_key"] = static_cast<double>(bytes) / Keys(engine);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Save)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_Seal(benchmark::State& state) {
  std::string encoded = ccpulse::EncodeCheckpoint(Header(), &FullEngine());
  for (auto _ : state) ccpulse::SealCheckpoint(&encoded);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size()));
}
BENCHMARK(BM_Seal)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_DirectoryWrite(benchmark::State& state) {
  const std::string encoded = ccpulse::EncodeCheckpoint(Header(), &FullEngine());
  // CCPULSE_KEEP_CHECKPOINTS=DIR keeps the files there (restart_to_serving.sh restores one).
  const char* keep = std::getenv("CCPULSE_KEEP_CHECKPOINTS");
  const std::string dir = keep != nullptr ? keep : "/tmp/ccpulse-checkpoint-benchmark";
  auto store = ccpulse::MakeDirectoryStore(dir, 2);
  uint64_t sequence = 0;
  for (auto _ : state) {
    if (!store->Write(++sequence, encoded).ok()) state.SkipWithError("write failed");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size()));
  if (keep == nullptr) std::filesystem::remove_all(dir);
}
BENCHMARK(BM_DirectoryWrite)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_Restore(benchmark::State& state) {
  Engine& full = FullEngine();
  const std::string encoded = ccpulse::EncodeCheckpoint(Header(), &full);
  for (auto _ : state) {
    auto checkpoint = ccpulse::DecodeCheckpoint(encoded, "memory");
    auto engine = std::make_unique<Engine>(MetricOptions{});
    if (!checkpoint.ok() || !engine->RestoreState(checkpoint->engine_state, 0).ok()) state.SkipWithError("restore failed");
    state.PauseTiming();  // freeing the restored engine is not part of a restart
    engine.reset();
    state.ResumeTiming();
  }
  state.counters["keys_per_second"] =
      benchmark::Counter(Keys(full) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size()));
}
BENCHMARK(BM_Restore)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
