// replay and validate; see replay.h.
#include "pipeline/replay.h"

#include <fmt/format.h>
#include "absl/time/clock.h"
#include <chrono>
#include <thread>

#include "operators/engine.h"
#include "operators/snapshot.h"
#include "pipeline/alert_flow.h"
#include "pipeline/http/api.h"
#include "pipeline/metrics/exposition.h"
#include "pipeline/metrics/publisher.h"
#include "pipeline/line_reader.h"
#include "pipeline/report.h"
#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

void Flush(std::string* buffer, std::FILE* out) {
  if (!buffer->empty()) std::fwrite(buffer->data(), 1, buffer->size(), out);
  buffer->clear();
}

// Calls `on_record(file_index, line, status, decoded)` for every line of every file.
template <typename Fn>
int ForEachRecord(const ReplayOptions& options, std::FILE* err, Fn&& on_record) {
  auto decoder = schemas::MakeRecordDecoder(
      options.format, {options.max_record_bytes, absl::ToUnixMillis(absl::Now()) + options.max_future_ms,
                       &options.team_map});
  schemas::DecodedRecord decoded;
  for (size_t f = 0; f < options.files.size(); ++f) {
    auto reader = LineReader::Open(options.files[f], options.max_record_bytes);
    if (!reader.ok()) {
      std::fprintf(err, "ccpulse: cannot read %s\n", std::string(reader.status().message()).c_str());
      return 2;
    }
    LineReader::Line line;
    while (true) {
      auto more = reader->Next(&line);
      if (!more.ok()) {
        std::fprintf(err, "ccpulse: %s\n", std::string(more.status().message()).c_str());
        return 2;
      }
      if (!*more) break;
      schemas::DecodeStatus status;
      if (line.oversized) {
        decoded.count = 0;
        status = {schemas::DecodeError::kTooLarge,
                  fmt::format("record is {} bytes, over the limit of {}", line.length, options.max_record_bytes)};
      } else {
        status = decoder->Decode(line.text, &decoded);
        for (int i = 0; i < decoded.count; ++i) decoded.events[i].position = {0, static_cast<int64_t>(line.number)};
      }
      on_record(f, line, status, decoded);
    }
  }
  return 0;
}

void Report(std::FILE* err, const std::string& file, uint64_t line, std::string_view reason,
            std::string_view message) {
  std::fprintf(err, "%s:%llu: %.*s: %.*s\n", file.c_str(), static_cast<unsigned long long>(line),
               static_cast<int>(reason.size()), reason.data(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace

// The live side of a replay with --http: snapshots, self-metrics and the HTTP server.
class ReplayServer {
 public:
  absl::Status Start(const std::string& address, const AlertFlow& alerts, std::FILE* err) {
    api_.snapshots = &snapshots_;
    api_.self_metrics = &self_metrics_;
    api_.ready = &ready_;
    api_.directory = alerts.Directory();
    api_.alerts = alerts.Alerts();
    api_.stale_after_ms = INT64_MAX / 2;  // a replay is never "stale"
    http::RegisterApi(server_, api_);
    http::ServerOptions options;
    options.address = address;
    if (absl::Status s = server_.Start(options); !s.ok()) return s;
    std::fprintf(err, "ccpulse: serving %s  (wallboard %s/, metrics %s/metrics)\n", server_.url().c_str(),
                 server_.url().c_str(), server_.url().c_str());
    std::fflush(err);
    return absl::OkStatus();
  }
  // Publishes at most every 5 ms unless `force`.
  void Publish(operators::Engine& engine, const InputCounts& input, bool force) {
    const int64_t now = absl::ToUnixMillis(absl::Now());
    if (!force && now - last_ms_ < 5) return;
    if (!force && now - last_ms_ < 1000 && engine.counters().applied == last_applied_) return;
    last_applied_ = engine.counters().applied;
    last_ms_ = now;
    snapshots_.Publish(builder_.Build(engine, now, now, force));
    StreamCounters counters;
    counters.records = input.records;
    counters.decoded = input.records - input.invalid_total();
    counters.invalid = input.invalid;
    counters.late = engine.counters().late;
    self_metrics_.Update(counters, engine, {}, 0, 0);
    ready_ = true;
  }

 private:
  metrics::Publisher<operators::MetricsSnapshot> snapshots_;
  metrics::SelfMetrics self_metrics_;
  std::atomic<bool> ready_{false};
  http::ApiSources api_;
  http::Server server_;
  operators::SnapshotBuilder builder_{0};
  int64_t last_ms_ = 0;
  uint64_t last_applied_ = UINT64_MAX;
};

int RunReplay(const ReplayOptions& options, std::FILE* out, std::FILE* err) {
  operators::Engine engine(options.metrics);
  InputCounts input;
  // Alerts go into the output; to the sinks only when asked; to the API with --http.
  Config alert_config = options.config;
  if (!options.send_alerts) {
    alert_config.alerting.alertmanager_url.clear();
    alert_config.alerting.pagerduty_routing_key.clear();
    alert_config.alerting.log = false;
  }
  AlertFlow alerts(alert_config, /*dispatch=*/options.send_alerts || !options.http_address.empty());
  alerts.ApplyRoster(engine);
  std::unique_ptr<ReplayServer> server;
  if (!options.http_address.empty()) {
    server = std::make_unique<ReplayServer>();
    if (absl::Status s = server->Start(options.http_address, alerts, err); !s.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  const auto wall_start = std::chrono::steady_clock::now();
  int64_t first_event_ms = INT64_MIN;
  std::string buffer;
  buffer.reserve(kFlushBytes * 2);
  const auto on_boundary = [&](operators::TimeMs at) {
    AppendBoundaryRecords(engine, /*final=*/false, &buffer, at);
    if (buffer.size() >= kFlushBytes) Flush(&buffer, out);
  };
  const int rc = ForEachRecord(options, err, [&](size_t f, const LineReader::Line& line,
                                                 const schemas::DecodeStatus& status,
                                                 const schemas::DecodedRecord& decoded) {
    ++input.records;
    if (!status.ok()) {
      ++input.invalid[static_cast<size_t>(status.error)];
      if (!options.quiet) {
        Report(err, options.files[f], line.number, schemas::DecodeErrorName(status.error),
               status.message);
      }
      return;
    }
    for (const schemas::Event& event : decoded.view()) {
      if (options.speed > 0) {
        if (first_event_ms == INT64_MIN) first_event_ms = event.time_ms;
        const double offset_ms = static_cast<double>(event.time_ms - first_event_ms) / options.speed;
        const auto due = wall_start + std::chrono::microseconds(static_cast<int64_t>(offset_ms * 1000));
        if (due > std::chrono::steady_clock::now()) {
          Flush(&buffer, out);
          std::fflush(out);
          if (server) server->Publish(engine, input, /*force=*/true);
          std::this_thread::sleep_until(due);
        }
      }
      // Replay has one input partition and no wall clock: the watermark follows event time only.
      const auto accepted = engine.OnEvent(event, /*now_ms=*/0);
      if (accepted == operators::Engine::Accepted::kLate && !options.quiet) {
        Report(err, options.files[f], line.number, "late",
               fmt::format("event time {} is before the watermark {}", schemas::FormatRfc3339(event.time_ms), schemas::FormatRfc3339(engine.watermark())));
      } else if (accepted == operators::Engine::Accepted::kTooManyEvents && !options.quiet) {
        Report(err, options.files[f], line.number, "too_many_events",
               "interaction has more events than the engine keeps per interaction");
      }
    }
    engine.Advance(/*now_ms=*/0, options.every_ms, on_boundary);
    alerts.Take(engine, &buffer);
    if (server) server->Publish(engine, input, /*force=*/false);
  });
  if (rc != 0) {
    Flush(&buffer, out);
    return rc;
  }
  engine.Finish(options.every_ms, on_boundary);
  alerts.Take(engine, &buffer);
  if (engine.max_event_time() != window::WatermarkTracker::kNoWatermark) {
    AppendBoundaryRecords(engine, /*final=*/true, &buffer);
  }
  if (options.detectors) AppendDetectors(engine, &buffer);
  AppendSummary(engine, input, &buffer);
  Flush(&buffer, out);
  std::fflush(out);
  if (server) {
    server->Publish(engine, input, /*force=*/true);
    while (options.hold && options.stop != nullptr && !options.stop->load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      server->Publish(engine, input, /*force=*/false);  // still alive: not stale
    }
  }
  if (alerts.dispatcher() != nullptr) {
    // Let the dispatcher deliver what the replay raised (bounded by its HTTP timeout).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    alerts.dispatcher()->Stop();
  }
  return 0;
}

int RunValidate(const ReplayOptions& options, std::FILE* out, std::FILE* err) {
  uint64_t records = 0, invalid = 0;
  const int rc = ForEachRecord(options, err, [&](size_t f, const LineReader::Line& line,
                                                 const schemas::DecodeStatus& status,
                                                 const schemas::DecodedRecord&) {
    ++records;
    if (status.ok()) return;
    ++invalid;
    Report(out, options.files[f], line.number, schemas::DecodeErrorName(status.error), status.message);
  });
  if (rc != 0) return rc;
  std::fprintf(err, "%llu records, %llu invalid\n", static_cast<unsigned long long>(records),
               static_cast<unsigned long long>(invalid));
  return invalid == 0 ? 0 : 1;
}

}  // namespace ccpulse
