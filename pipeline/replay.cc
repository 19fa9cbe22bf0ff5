// replay and validate; see replay.h.
#include "pipeline/replay.h"

#include <fmt/format.h>
#include "absl/time/clock.h"
#include "operators/engine.h"
#include "pipeline/line_reader.h"
#include "pipeline/report.h"
#include "schemas/json_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

void Flush(std::string* buffer, std::FILE* out) {
  if (!buffer->empty()) std::fwrite(buffer->data(), 1, buffer->size(), out);
  buffer->clear();
}

schemas::JsonEventDecoder MakeDecoder(const ReplayOptions& options) {
  schemas::JsonEventDecoder::Options decoder_options;
  decoder_options.max_record_bytes = options.max_record_bytes;
  decoder_options.latest_time_ms = absl::ToUnixMillis(absl::Now()) + options.max_future_ms;
  return schemas::JsonEventDecoder(decoder_options);
}

// Calls `on_record(file_index, line, status, event)` for every line of every file.
template <typename Fn>
int ForEachRecord(const ReplayOptions& options, std::FILE* err, Fn&& on_record) {
  schemas::JsonEventDecoder decoder = MakeDecoder(options);
  schemas::Event event;
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
        status = {schemas::DecodeError::kTooLarge,
                  fmt::format("record is {} bytes, over the limit of {}", line.length, options.max_record_bytes)};
      } else {
        status = decoder.Decode(line.text, &event);
        event.position = {0, static_cast<int64_t>(line.number)};
      }
      on_record(f, line, status, event);
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

int RunReplay(const ReplayOptions& options, std::FILE* out, std::FILE* err) {
  operators::Engine engine(options.metrics);
  InputCounts input;
  std::string buffer;
  buffer.reserve(kFlushBytes * 2);
  const auto on_boundary = [&](operators::TimeMs) {
    AppendBoundaryRecords(engine, /*final=*/false, &buffer);
    if (buffer.size() >= kFlushBytes) Flush(&buffer, out);
  };
  const int rc = ForEachRecord(options, err, [&](size_t f, const LineReader::Line& line,
                                                 const schemas::DecodeStatus& status,
                                                 const schemas::Event& event) {
    ++input.records;
    if (!status.ok()) {
      ++input.invalid[static_cast<size_t>(status.error)];
      if (!options.quiet) {
        Report(err, options.files[f], line.number, schemas::DecodeErrorName(status.error),
               status.message);
      }
      return;
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
    engine.Advance(/*now_ms=*/0, options.every_ms, on_boundary);
  });
  if (rc != 0) {
    Flush(&buffer, out);
    return rc;
  }
  engine.Finish(options.every_ms, on_boundary);
  if (engine.max_event_time() != window::WatermarkTracker::kNoWatermark) {
    AppendBoundaryRecords(engine, /*final=*/true, &buffer);
  }
  AppendSummary(engine, input, &buffer);
  Flush(&buffer, out);
  std::fflush(out);
  return 0;
}

int RunValidate(const ReplayOptions& options, std::FILE* out, std::FILE* err) {
  uint64_t records = 0, invalid = 0;
  const int rc = ForEachRecord(options, err, [&](size_t f, const LineReader::Line& line,
                                                 const schemas::DecodeStatus& status,
                                                 const schemas::Event&) {
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
