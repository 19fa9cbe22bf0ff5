// The one place that wires config -> sources -> operators -> sinks: `ccpulse run` against real
// brokers, `ccpulse demo` on librdkafka's mock cluster, and `simulate` into a topic.
#ifndef CCPULSE_PIPELINE_TOPOLOGY_H_
#define CCPULSE_PIPELINE_TOPOLOGY_H_

#include <atomic>
#include <cstdio>
#include <functional>
#include <string>

#include "pipeline/alerting/alerts.h"
#include "pipeline/config.h"
#include "pipeline/simulate.h"
#include "pipeline/stream.h"

namespace ccpulse {

// Sets `*stop` on SIGINT and SIGTERM (a second signal exits at once).
void InstallStopSignals(std::atomic<bool>* stop);

struct RunHooks {
  // Called on the worker thread after each tick (demo: terminal summary).
  std::function<void(operators::Engine&, const StreamProcessor&, int64_t now_ms)> on_tick;
  // Receives the bound HTTP address once the server listens.
  std::function<void(const std::string& url)> on_listening;
  // Every alert change (worker thread).
  std::function<void(const alerting::AlertRecord&)> on_alert;
  bool keep_latency_samples = false;
};

// Everything `run` checks before it starts: the file, brokers and topics, the HTTP address,
// and both librdkafka configurations built offline (unknown or conflicting properties).
absl::Status CheckRunConfig(const Config& config);

// Runs the pipeline described by `config` until `stop`. Returns the exit code.
int RunPipeline(const Config& config, const std::atomic<bool>& stop, std::FILE* err,
                const RunHooks& hooks = {});

// Produces simulated events into `topic` (key: customer id, or interaction id without one).
// `backlog`, when set, is asked before each event with the count produced so far and waits
// while it returns false (the demo keeps its in-process cluster from outgrowing its log).
int SimulateToKafka(const SimulateOptions& options, const std::string& brokers,
                    const std::string& topic, int partitions, const std::atomic<bool>& stop,
                    std::FILE* err, const std::function<bool(int64_t produced)>& backlog = nullptr);

struct DemoOptions {
  int teams = 12;
  uint64_t seed = 7;
  double speed = 30;            // simulated seconds per wall second
  int drift_team = 2;
  int64_t history_ms = 7 * operators::kDayMs;  // replayed at full speed first: baselines
  int64_t drift_after_ms = 0;   // simulated time after the live part starts
  std::string http_address = "127.0.0.1:9650";
  int64_t duration_ms = 0;      // wall time to run; 0 = until Ctrl-C
  int summary_every_s = 5;
};

// The embedded demo: mock cluster, simulator in (scaled) real time, the production pipeline,
// HTTP on 127.0.0.1, and a live summary on the terminal.
int RunDemo(const DemoOptions& options, const std::atomic<bool>& stop, std::FILE* out, std::FILE* err);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_TOPOLOGY_H_
