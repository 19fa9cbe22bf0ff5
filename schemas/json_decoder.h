// Decoder for ccpulse.v1 JSON records (schemas/interaction-event.v1.schema.json) into Event.
// Sits at the front of the flow: bytes from Kafka or a file -> Event, or a precise reason why not
// (which feeds the dead-letter path and the per-reason counters).
#ifndef CCPULSE_SCHEMAS_JSON_DECODER_H_
#define CCPULSE_SCHEMAS_JSON_DECODER_H_

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "schemas/event.h"

namespace ccpulse::schemas {

// Why a record was not processed. The names (DecodeErrorName) are the `reason` label values of
// ccpulse_dead_letters_total and the `ccpulse-error` header prefix.
enum class DecodeError : uint8_t {
  kNone = 0,
  kEmptyRecord,      // zero bytes or only whitespace
  kTooLarge,         // longer than max_record_bytes
  kInvalidUtf8,
  kInvalidJson,      // syntax error
  kTruncated,        // JSON ends before the object is closed
  kNotObject,        // valid JSON, but not an object
  kMissingField,
  kWrongType,
  kUnknownType,      // `type` is not one of the eight event types
  kUnknownChannel,
  kFieldTooLong,
  kEmptyField,       // a required string is ""
  kBadTime,          // `time` is neither RFC 3339 with offset nor integer epoch milliseconds
  kTimeOutOfRange,   // before 1970 or too far after the wall clock
  kDuplicateField,
  // Only from the platform adapters (schemas/record_decoder.h), never from ccpulse.v1:
  kUnmappedTeam,     // no team for the record's queue or agent in the team map
  kMalformedRecord,  // a text record (CSV row, queue_log line) without the fields of its format
};
inline constexpr int kDecodeErrorCount = 18;
// The reasons a ccpulse.v1 record can have: kNone .. kDuplicateField.
inline constexpr int kJsonDecodeErrorCount = 16;

std::string_view DecodeErrorName(DecodeError error);

// Result of one decode: kNone, or the error with a message naming the field and the problem.
struct DecodeStatus {
  DecodeError error = DecodeError::kNone;
  std::string message;  // empty when ok; lowercase, e.g. "field `team`: longer than 64 bytes (70)"
  bool ok() const { return error == DecodeError::kNone; }
};

// Decodes one JSON object per call. Not thread-safe: one decoder per thread. Allocation-free on
// valid records once warmed up (the scratch buffer grows to the largest record seen).
class JsonEventDecoder {
 public:
  struct Options {
    size_t max_record_bytes = 1 << 20;
    // Records stamped later than this are rejected as kTimeOutOfRange ("far in the future").
    // Callers keep it at wall clock + a skew allowance (see SetLatestTime).
    TimeMs latest_time_ms = INT64_MAX;
  };

  JsonEventDecoder();
  explicit JsonEventDecoder(Options options);

  // Updates the far-future bound (call with wall clock + allowance before each batch).
  void SetLatestTime(TimeMs latest_time_ms) { options_.latest_time_ms = latest_time_ms; }

  // Decodes `record` into `*event`. On error `*event` is unspecified. String views in `*event`
  // stay valid until the next call.
  DecodeStatus Decode(std::string_view record, Event* event);

 private:
  DecodeStatus Parse(std::string_view record, Event* event);
  DecodeStatus DecodeObject(simdjson::ondemand::object object, Event* event);

  Options options_;
  simdjson::ondemand::parser parser_;
  std::string scratch_;  // record copy with SIMDJSON_PADDING bytes after it
};

}  // namespace ccpulse::schemas

#endif  // CCPULSE_SCHEMAS_JSON_DECODER_H_
