// Internal to schemas/: the platform adapters behind MakeRecordDecoder, and the JSON field access
// the JSON-based ones share (simdjson DOM, errors named after the source field).
#ifndef CCPULSE_SCHEMAS_ADAPTERS_H_
#define CCPULSE_SCHEMAS_ADAPTERS_H_

#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "schemas/record_decoder.h"

namespace ccpulse::schemas::adapters {

std::unique_ptr<RecordDecoder> NewAmazonConnectDecoder(RecordDecoder::Options options);
std::unique_ptr<RecordDecoder> NewTwilioTaskRouterDecoder(RecordDecoder::Options options);
std::unique_ptr<RecordDecoder> NewGenesysCloudDecoder(RecordDecoder::Options options);
std::unique_ptr<RecordDecoder> NewAsteriskQueueLogDecoder(RecordDecoder::Options options);
std::unique_ptr<RecordDecoder> NewAnonymousBankCsvDecoder(RecordDecoder::Options options);

namespace dom = simdjson::dom;

DecodeStatus Fail(DecodeError error, std::string message);

// True when `record` stops inside a string or with brackets still open, every closing bracket
// having matched its opener: it was cut short (json_decoder.cc, shared with ccpulse.v1).
bool EndsOpen(std::string_view record);

// Parses one JSON object per call into a reusable padded copy (no allocation once warmed up).
// The views it hands out are valid until the next Parse.
class JsonDocument {
 public:
  DecodeStatus Parse(std::string_view record, dom::object* root);

 private:
  dom::parser parser_;
  std::string scratch_;
};

// Field `key` of `object` compared ASCII case-insensitively (Amazon Connect's own samples spell
// `eventType` and `EventType`); nullopt when absent or null.
std::optional<dom::element> Find(dom::object object, std::string_view key);

// A string field (`path` names it in messages): "" when absent or null, kMissingField instead when
// `required`; kWrongType for another JSON type; kFieldTooLong above `max_bytes` (0 = no limit).
DecodeStatus GetString(dom::object object, std::string_view key, std::string_view path,
                       bool required, size_t max_bytes, std::string_view* out);
// An object field: nullopt when absent or null; kWrongType for another JSON type.
DecodeStatus GetObject(dom::object object, std::string_view key, std::string_view path,
                       std::optional<dom::object>* out);
// A time field, an RFC 3339 string or integer epoch milliseconds: nullopt when absent or null;
// kBadTime / kWrongType otherwise.
DecodeStatus GetTime(dom::object object, std::string_view key, std::string_view path,
                     std::optional<TimeMs>* out);

// What follows the last '/' of an ARN or path ("arn:...:queue/abc" -> "abc").
std::string_view LastSegment(std::string_view text);

// `id` + ":" + `suffix` into `*buffer`, as a view; kFieldTooLong when over kMaxIdBytes.
DecodeStatus JoinId(std::string* buffer, std::string_view id, std::string_view suffix,
                    std::string_view* out);

}  // namespace ccpulse::schemas::adapters

#endif  // CCPULSE_SCHEMAS_ADAPTERS_H_
