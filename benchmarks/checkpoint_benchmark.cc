// Checkpoint cost at the benchmark stream's full state (10,000 teams and the FCR customers of
// the peak; its interactions have all ended): the worker's pause to save it (encoding it, or
// forking a child that does), its size per key, the directory backend's write (fsync, rename),
// the compacted-topic backend's write and load (with a broker), the restore rate, and the
// throughput of the processor with checkpoints off, encoded by the worker and forked. Figures
// in README.md.
#include <benchmark/benchmark.h>

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "benchmarks/stream.h"
#include "operators/engine.h"
#include "pipeline/checkpoint.h"
#include "pipeline/kafka/kafka.h"
#include "pipeline/memory_sources.h"
#include "pipeline/stream.h"
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

// The worker's pause with a forked snapshot: the fork alone. The child's encoding, until the
// writer thread has it mapped, is `collect_ms`.
void BM_ForkPause(benchmark::State& state) {
  Engine& engine = FullEngine();
  size_t bytes = 0;
  double collect_ms = 0;
  for (auto _ : state) {
    auto forked = ccpulse::ForkedEncoding::Start(Header(), engine, bytes + bytes / 8);
    state.PauseTiming();
    const auto start = std::chrono::steady_clock::now();
    auto sealed = forked.ok() ? forked->Collect() : forked.status();
    if (!sealed.ok()) state.SkipWithError("forked snapshot failed");
    collect_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    bytes = sealed.ok() ? sealed->size() : 0;
    forked = absl::CancelledError("done");  // unmaps the memory file outside the timing
    state.ResumeTiming();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["collect_ms"] = collect_ms / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ForkPause)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

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

// The compacted-topic backend on a real broker (CCPULSE_BENCH_BROKERS; restart_to_serving.sh
// starts one): claiming the name, writing the checkpoint in one transaction, and loading the
// newest back (what a standby does before its restore; load_all_ms: reading every checkpoint
// left in the partition, for comparison). The checkpoint stays in the topic
// under CCPULSE_BENCH_CHECKPOINT_NAME (default "bench") for ccpulse run to restore.
void BM_TopicWriteAndLoad(benchmark::State& state) {
  const char* brokers = std::getenv("CCPULSE_BENCH_BROKERS");
  if (brokers == nullptr) {
    state.SkipWithError("set CCPULSE_BENCH_BROKERS to a broker (benchmarks/restart_to_serving.sh does)");
    for (auto _ : state) {
    }
    return;
  }
  const char* name = std::getenv("CCPULSE_BENCH_CHECKPOINT_NAME");
  ccpulse::Checkpoint header = Header();
  std::string encoded = ccpulse::EncodeCheckpoint(header, &FullEngine());
  ccpulse::kafka::ProducerOptions options;
  options.brokers = brokers;
  auto store = ccpulse::kafka::MakeTopicCheckpointStore(options, "ccpulse-checkpoints", name ? name : "bench");
  if (!store.ok() || !(*store)->Claim().ok()) {
    state.SkipWithError("cannot open or claim the checkpoint topic");
    for (auto _ : state) {
    }
    return;
  }
  uint64_t sequence = 0;
  double load_ms = 0;
  double load_all_ms = 0;
  for (auto _ : state) {
    if (absl::Status s = (*store)->Write(++sequence, encoded); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    state.PauseTiming();
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> problems;
    auto loaded = (*store)->LoadNewest(&problems);
    load_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (const std::string& problem : problems) std::fprintf(stderr, "checkpoint_benchmark: %s\n", problem.c_str());
    if (!loaded.ok() || !loaded->has_value() || (**loaded).sequence != sequence) {
      state.SkipWithError(loaded.ok() ? "the checkpoint just written was not read back"
                                      : std::string(loaded.status().message()).c_str());
      break;
    }
    loaded->reset();
    // For comparison in the same run: reading every uncompacted record of the partition (what
    // LoadNewest did before it read back from the end; the fetch settings are the new ones).
    const auto all_start = std::chrono::steady_clock::now();
    if (!(*store)->LoadAll(&problems).ok()) state.SkipWithError("LoadAll failed");
    load_all_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - all_start).count();
    header.sequence = sequence + 1;  // the next one's, so a stale load is told apart
    encoded = ccpulse::EncodeCheckpoint(header, &FullEngine());
    state.ResumeTiming();
  }
  state.counters["load_ms"] = load_ms / static_cast<double>(state.iterations());
  state.counters["load_all_ms"] = load_all_ms / static_cast<double>(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(encoded.size()));
}
BENCHMARK(BM_TopicWriteAndLoad)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

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

double ThreadCpuSeconds() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// The processor's state after the first three quarters of the stream, as a checkpoint.
const ccpulse::Checkpoint& PrefixCheckpoint() {
  static const ccpulse::Checkpoint* checkpoint = [] {
    const auto& records = ccpulse::benchmarks::Stream();
    const size_t prefix = records.size() * 3 / 4;
    ccpulse::LogSource source({std::span(records).first(prefix)}, {0}, 1000);
    ccpulse::StreamProcessor processor({}, &source, nullptr, nullptr, nullptr);
    while (!source.done()) processor.Step(0);
    ccpulse::Checkpoint header;
    header.partitions = {{"events[0]", static_cast<int64_t>(prefix)}};
    auto decoded = ccpulse::DecodeCheckpoint(ccpulse::EncodeCheckpoint(header, &processor.engine()), "prefix");
    return new ccpulse::Checkpoint(*std::move(decoded));
  }();
  return *checkpoint;
}

// Memory a checkpoint adds while the processor runs, sampled every 5 ms on its own thread:
// the worker process's anonymous memory above where it started (a worker-encoded checkpoint's
// buffer, and the state's own growth, which mode 0 shows alone), and separately the forked
// children's private pages (their encoded copy, and the state pages the worker changed since
// the fork, which the kernel copied) plus the memory files' pages (shared memory, counted
// once whether the child writes them or the writer maps them). Only with CCPULSE_BENCH_MEMORY=1:
// reading a large child's smaps_rollup every 5 ms takes CPU from the run it measures.
class MemorySampler {
 public:
  MemorySampler() : anon_start_kb_(AnonKb()), thread_([this] { Run(); }) {}
  ~MemorySampler() { Stop(); }
  // Takes a last sample and stops; the peaks are read after this.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
  }
  double anon_growth_mb() const { return static_cast<double>(anon_peak_kb_ - anon_start_kb_) / 1024; }
  double snapshot_peak_mb() const { return static_cast<double>(snapshot_peak_kb_) / 1024; }

 private:
  // A "Name:   123 kB" field of a /proc file, in kB (0 when absent).
  static int64_t FieldKb(const std::string& path, std::string_view name) {
    std::ifstream in(path);
    std::string line;
    int64_t total = 0;
    while (std::getline(in, line)) {
      if (line.compare(0, name.size(), name) == 0) total += std::strtoll(line.c_str() + name.size(), nullptr, 10);
    }
    return total;
  }
  static int64_t AnonKb() { return FieldKb("/proc/self/status", "RssAnon:"); }
  static int64_t SnapshotKb() {
    int64_t kb = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream children(task.path() / "children");
      for (int pid; children >> pid;) {
        const std::string rollup = "/proc/" + std::to_string(pid) + "/smaps_rollup";
        kb += FieldKb(rollup, "Private_Clean:") + FieldKb(rollup, "Private_Dirty:");
      }
    }
    std::error_code error;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd", error)) {
      const std::string target = std::filesystem::read_symlink(fd.path(), error).string();
      struct stat file {};
      if (target.starts_with("/memfd:") && ::stat(fd.path().c_str(), &file) == 0) kb += file.st_blocks / 2;
    }
    return kb;
  }
  void Run() {
    for (bool last = false; !last;) {
      last = stop_;
      anon_peak_kb_ = std::max(anon_peak_kb_, AnonKb());
      snapshot_peak_kb_ = std::max(snapshot_peak_kb_, SnapshotKb());
      if (!last) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  const int64_t anon_start_kb_;
  int64_t anon_peak_kb_ = 0;
  int64_t snapshot_peak_kb_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Throughput of the processor (decode and operators, one worker) over the last quarter of the
// stream, from the state of the first three, with checkpoints every 2 s to the directory
// backend: range(0) = 0 off, 1 encoded by the worker, 2 forked. The loss at the default 10 s
// interval is the per-checkpoint cost ((time with - time off) / checkpoints) over 10 s.
void BM_Throughput(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const auto& records = ccpulse::benchmarks::Stream();
  const ccpulse::Checkpoint& prefix = PrefixCheckpoint();
  const size_t begin = static_cast<size_t>(prefix.partitions[0].second);
  const std::string dir = "/tmp/ccpulse-throughput-benchmark";
  auto store = ccpulse::MakeDirectoryStore(dir, 2);
  double checkpoints = 0;
  double pause_ms = 0;
  double worker_cpu_s = 0;  // less exposed than wall time to other tenants of the machine
  const char* memory_env = std::getenv("CCPULSE_BENCH_MEMORY");
  const bool sample_memory = memory_env != nullptr && std::string_view(memory_env) == "1";
  double anon_growth_mb = 0;
  double snapshot_peak_mb = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto writer = std::make_unique<ccpulse::CheckpointWriter>(store.get());
    ccpulse::StreamProcessor::Options options;
    options.checkpoints = mode == 0 ? nullptr : writer.get();
    options.checkpoint_interval_ms = 2000;
    options.fork_snapshots = mode == 2;
    ccpulse::LogSource source({records}, {static_cast<int64_t>(begin)}, 1000);
    auto processor = std::make_unique<ccpulse::StreamProcessor>(options, &source, nullptr, nullptr, nullptr);
    if (!processor->Restore(prefix).ok()) state.SkipWithError("restore failed");
    state.ResumeTiming();
    const double cpu_start = ThreadCpuSeconds();
    {
      std::optional<MemorySampler> memory;
      if (sample_memory) memory.emplace();
      while (!source.done()) processor->Step(0);
      if (memory) {
        memory->Stop();
        anon_growth_mb = std::max(anon_growth_mb, memory->anon_growth_mb());
        snapshot_peak_mb = std::max(snapshot_peak_mb, memory->snapshot_peak_mb());
      }
    }
    worker_cpu_s += ThreadCpuSeconds() - cpu_start;
    state.PauseTiming();
    checkpoints += static_cast<double>(processor->checkpoint_stats().taken);
    pause_ms += processor->checkpoint_stats().pause_ms_sum;
    (void)writer->Drain(60000);
    processor.reset();
    writer.reset();
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.counters["records_per_second"] = benchmark::Counter(
      static_cast<double>((records.size() - begin) * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["checkpoints"] = checkpoints / static_cast<double>(state.iterations());
  state.counters["worker_cpu_s"] = worker_cpu_s / static_cast<double>(state.iterations());
  state.counters["pause_ms"] = checkpoints > 0 ? pause_ms / checkpoints : 0;
  if (sample_memory) {
    state.counters["anon_growth_mb"] = anon_growth_mb;      // max over iterations (MiB)
    state.counters["snapshot_peak_mb"] = snapshot_peak_mb;  // max over iterations (MiB)
    state.counters["state_mb"] = static_cast<double>(prefix.engine_state.size()) / (1 << 20);
  }
}
BENCHMARK(BM_Throughput)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
