// JSON renderings shared by `replay` output and the HTTP API: one team's metrics over one
// window, and the run summary. The field names are documented in README.md ("Output").
#ifndef CCPULSE_PIPELINE_REPORT_H_
#define CCPULSE_PIPELINE_REPORT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "operators/engine.h"
#include "operators/team_metrics.h"
#include "pipeline/json_writer.h"
#include "schemas/json_decoder.h"

namespace ccpulse {

// Writes the "metrics" object of one team and window.
void WriteMetrics(const operators::TeamMetrics& m, JsonWriter& json);

// Appends one output line {"time","tenant","team","window","metrics"[,"final"]} and '\n'.
void AppendWindowRecord(operators::TimeMs time, const operators::TeamState& team,
                        std::string_view window, const operators::TeamMetrics& m, bool final,
                        std::string* out);

// Appends the records of every active team and every window at the engine's current end;
// with `boundary` (inside a boundary callback), of the teams at that boundary
// (Engine::InBoundary), stamped with it.
void AppendBoundaryRecords(operators::Engine& engine, bool final, std::string* out,
                           std::optional<operators::TimeMs> boundary = std::nullopt);

// Counts of records that never reached the engine, by reason.
struct InputCounts {
  uint64_t records = 0;
  std::array<uint64_t, schemas::kDecodeErrorCount> invalid{};
  uint64_t invalid_total() const {
    uint64_t n = 0;
    for (uint64_t v : invalid) n += v;
    return n;
  }
};

// Appends {"summary": {...}} and '\n'.
void AppendSummary(const operators::Engine& engine, const InputCounts& input, std::string* out);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_REPORT_H_
