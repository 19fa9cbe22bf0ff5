// Live outputs at 10,000 teams (default windows 5m, 15m, 1h, today): the cost of a snapshot
// (the cheap live part and the full recompute when the windows move), of rendering /metrics
// from it, and what production-style publication and scrapes cost the worker's throughput.
//
//   build/release/benchmarks/metrics_benchmark --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "benchmarks/stream.h"
#include "operators/engine.h"
#include "operators/snapshot.h"
#include "pipeline/metrics/exposition.h"
#include "pipeline/metrics/publisher.h"
#include "schemas/json_decoder.h"

namespace {

using ccpulse::benchmarks::Stream;
using ccpulse::operators::Engine;
using ccpulse::operators::MetricOptions;
using ccpulse::operators::MetricsSnapshot;
using ccpulse::operators::SnapshotBuilder;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Applies `records` to `engine`; with `builder`, the worker also builds and publishes a snapshot
// every 5 ms of wall time, as `ccpulse run`'s tick does. Returns the wall time spent building and
// publishing, in seconds.
double Process(Engine& engine, size_t count, SnapshotBuilder* builder,
               ccpulse::metrics::Publisher<MetricsSnapshot>* publisher) {
  const auto& records = Stream();
  ccpulse::schemas::JsonEventDecoder decoder;
  ccpulse::schemas::Event event;
  int64_t last_publish = WallMs();
  std::chrono::steady_clock::duration snapshot_time{};
  for (size_t i = 0; i < count; ++i) {
    if (!decoder.Decode(records[i], &event).ok()) continue;
    event.position.offset = static_cast<int64_t>(i);
    engine.OnEvent(event, 0);
    engine.Advance(0, ccpulse::schemas::kMinuteMs, nullptr);
    if (builder != nullptr && (i & 63) == 0) {
      const int64_t now = WallMs();
      if (now - last_publish >= 5) {
        last_publish = now;
        const auto started = std::chrono::steady_clock::now();
        publisher->Publish(builder->Build(engine, now));
        snapshot_time += std::chrono::steady_clock::now() - started;
      }
    }
  }
  return std::chrono::duration<double>(snapshot_time).count();
}

// An engine that has seen the whole stream: every team with full windows.
Engine& Loaded() {
  static Engine* engine = [] {
    auto* e = new Engine(MetricOptions{});
    Process(*e, Stream().size(), nullptr, nullptr);
    SnapshotBuilder().Build(*e, WallMs());  // warms the detectors' threshold grid (computed once per process)
    return e;
  }();
  return *engine;
}

void BM_SnapshotRecompute(benchmark::State& state) {
  Engine& engine = Loaded();
  for (auto _ : state) {
    SnapshotBuilder builder;  // a new builder recomputes every team view
    benchmark::DoNotOptimize(builder.Build(engine, WallMs()));
  }
  state.counters["teams"] = static_cast<double>(engine.team_count());
}
BENCHMARK(BM_SnapshotRecompute)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_SnapshotLive(benchmark::State& state) {
  Engine& engine = Loaded();
  SnapshotBuilder builder;
  builder.Build(engine, WallMs());
  for (auto _ : state) benchmark::DoNotOptimize(builder.Build(engine, WallMs()));  // windows unmoved
}
BENCHMARK(BM_SnapshotLive)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RenderMetrics(benchmark::State& state) {
  Engine& engine = Loaded();
  SnapshotBuilder builder;
  const auto snapshot = builder.Build(engine, WallMs());
  ccpulse::metrics::SelfMetrics self;
  std::string body;
  for (auto _ : state) {
    body.clear();
    ccpulse::metrics::RenderMetrics(self, snapshot.get(), WallMs(), &body);
    benchmark::DoNotOptimize(body.data());
  }
  size_t lines = 0;
  for (char c : body) lines += c == '\n';
  state.counters["teams"] = static_cast<double>(engine.team_count());
  state.counters["bytes"] = static_cast<double>(body.size());
  state.counters["lines"] = static_cast<double>(lines);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_RenderMetrics)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// Decode + operators over the stream: Arg 0 without publication; Arg 1 with a snapshot every
// 5 ms on the worker (the tick of `ccpulse run`); Arg 2 also with a scraper thread rendering /metrics once a second.
void BM_ProcessingWithScrapes(benchmark::State& state) {
  const bool publish = state.range(0) >= 1;
  const bool scrape = state.range(0) == 2;
  const size_t count = Stream().size();
  size_t scrapes = 0;
  double snapshot_s = 0, total_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = std::make_unique<Engine>(MetricOptions{});
    SnapshotBuilder builder;
    ccpulse::metrics::Publisher<MetricsSnapshot> publisher;
    ccpulse::metrics::SelfMetrics self;
    std::atomic<bool> done{false};
    std::thread scraper;
    if (scrape) {
      scraper = std::thread([&] {
        std::string body;
        while (!done) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          if (auto snapshot = publisher.Latest()) {
            body.clear();
            ccpulse::metrics::RenderMetrics(self, snapshot.get(), WallMs(), &body);
            ++scrapes;
          }
        }
      });
    }
    state.ResumeTiming();
    const auto started = std::chrono::steady_clock::now();
    snapshot_s += Process(*engine, count, publish ? &builder : nullptr, &publisher);
    total_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    state.PauseTiming();
    done = true;
    if (scraper.joinable()) scraper.join();
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(count));
  state.counters["scrapes"] = static_cast<double>(scrapes);
  // The worker's share of wall time spent building and publishing snapshots.
  state.counters["snapshot_share"] = total_s > 0 ? snapshot_s / total_s : 0;
}
BENCHMARK(BM_ProcessingWithScrapes)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
