// `ccpulse replay` and `ccpulse validate`: the engine over files of records (JSON Lines, or any
// format of schemas/record_decoder.h) in event time, and the decode check with line numbers.
#ifndef CCPULSE_PIPELINE_REPLAY_H_
#define CCPULSE_PIPELINE_REPLAY_H_

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "operators/options.h"
#include "pipeline/config.h"

namespace ccpulse {

struct ReplayOptions {
  std::vector<std::string> files;  // "-" = standard input
  // Format of every line, and the team map of the platform formats.
  schemas::RecordFormat format = schemas::RecordFormat::kCcpulseV1;
  schemas::TeamMap team_map;
  int64_t every_ms = operators::kMinuteMs;
  operators::MetricOptions metrics;
  size_t max_record_bytes = 1 << 20;
  int64_t max_future_ms = operators::kDayMs;  // events later than wall clock + this are invalid
  bool quiet = false;  // no per-line diagnostics on stderr
  // Serve /metrics, the API and the wallboard while replaying (empty = no HTTP).
  std::string http_address;
  double speed = 0;   // 0 = as fast as possible; N = N event-time seconds per wall second
  bool hold = false;  // keep serving after the input ends, until Ctrl-C
  const std::atomic<bool>* stop = nullptr;
  // Roster, drift and alerting settings (metrics come from `metrics` above, which the caller
  // fills from the same file).
  Config config;
  // Deliver alerts to the configured sinks (off by default: a backtest must not page anyone).
  bool send_alerts = false;
  bool detectors = true;  // print {"detectors": ...} lines at the end
};

// Runs the replay, writing JSON Lines to `out` and diagnostics to `err`. Returns the process
// exit code: 0 when every file was read (bad lines do not fail the run), 2 on I/O errors.
int RunReplay(const ReplayOptions& options, std::FILE* out, std::FILE* err);

// Checks every line; prints "file:line: reason: message" per bad line and a count at the end.
// Returns 0 when all lines are valid, 1 when some are not, 2 on I/O errors.
int RunValidate(const ReplayOptions& options, std::FILE* out, std::FILE* err);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_REPLAY_H_
