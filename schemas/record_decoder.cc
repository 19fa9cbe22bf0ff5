// The RecordDecoder base, team attribution, the ccpulse.v1 decoder behind it, the format names and
// the shared JSON helpers of the adapters; see record_decoder.h and adapters.h.
#include "schemas/record_decoder.h"

#include <cstring>

#include <fmt/format.h>

#include "schemas/adapters.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas {
namespace {

constexpr std::array<std::string_view, kRecordFormatCount> kFormatNames = {
    "ccpulse.v1",         "amazon-connect",    "twilio-taskrouter",
    "genesys-cloud",      "asterisk-queue-log", "anonymous-bank-csv"};

// The hot path: one JsonEventDecoder call per record, the event written in place.
class CcpulseV1Decoder final : public RecordDecoder {
 public:
  explicit CcpulseV1Decoder(Options options)
      : RecordDecoder(options), json_(JsonEventDecoder::Options{options.max_record_bytes, INT64_MAX}) {}

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override {
    json_.SetLatestTime(options().latest_time_ms);
    DecodeStatus status = json_.Decode(record, &out->events[0]);
    out->count = status.ok() ? 1 : 0;
    return status;
  }

 private:
  JsonEventDecoder json_;
};

}  // namespace

std::string_view RecordFormatName(RecordFormat format) {
  return kFormatNames[static_cast<size_t>(format)];
}

std::optional<RecordFormat> ParseRecordFormat(std::string_view name) {
  for (size_t i = 0; i < kFormatNames.size(); ++i) {
    if (kFormatNames[i] == name) return static_cast<RecordFormat>(i);
  }
  return std::nullopt;
}

std::string RecordFormatNames() { return fmt::format("{}", fmt::join(kFormatNames, ", ")); }

std::string_view TeamMap::Resolve(std::string_view queue, std::string_view agent,
                                  std::string_view native_team) const {
  if (!queue.empty()) {
    if (auto it = queues.find(queue); it != queues.end()) return it->second;
  }
  if (!agent.empty()) {
    if (auto it = agents.find(agent); it != agents.end()) return it->second;
  }
  return native_team;
}

RecordDecoder::RecordDecoder(Options options) : options_(options) {}

DecodeStatus RecordDecoder::Decode(std::string_view record, DecodedRecord* out) {
  out->count = 0;
  if (record.size() > options_.max_record_bytes) {
    return DecodeStatus{DecodeError::kTooLarge,
                        fmt::format("record is {} bytes, over the limit of {}", record.size(),
                                    options_.max_record_bytes)};
  }
  if (record.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return DecodeStatus{DecodeError::kEmptyRecord, "record is empty"};
  }
  DecodeStatus status = DecodeRecord(record, out);
  if (!status.ok()) out->count = 0;
  return status;
}

DecodeStatus RecordDecoder::CheckTime(TimeMs time_ms, std::string_view field) const {
  if (time_ms < 0) {
    return DecodeStatus{DecodeError::kTimeOutOfRange,
                        fmt::format("field `{}`: {} is before 1970-01-01", field, time_ms)};
  }
  if (time_ms > options_.latest_time_ms) {
    return DecodeStatus{DecodeError::kTimeOutOfRange,
                        fmt::format("field `{}`: {} is too far in the future (latest accepted {})",
                                    field, FormatRfc3339(time_ms),
                                    FormatRfc3339(options_.latest_time_ms))};
  }
  return {};
}

DecodeStatus RecordDecoder::AssignTeam(Event& event, std::string_view native_team) const {
  const TeamMap& teams = options_.teams != nullptr ? *options_.teams : empty_teams_;
  event.team = teams.Resolve(event.queue, event.agent, native_team);
  if (event.team.empty()) {
    return DecodeStatus{DecodeError::kUnmappedTeam,
                        fmt::format("no team for queue \"{}\" or agent \"{}\" in the team map",
                                    event.queue.substr(0, 64), event.agent.substr(0, 64))};
  }
  if (event.team.size() > kMaxNameBytes) {
    return DecodeStatus{DecodeError::kFieldTooLong,
                        fmt::format("team \"{}\": {} bytes, over the limit of {}",
                                    event.team.substr(0, 64), event.team.size(), kMaxNameBytes)};
  }
  return {};
}

std::unique_ptr<RecordDecoder> MakeRecordDecoder(RecordFormat format, RecordDecoder::Options options) {
  switch (format) {
    case RecordFormat::kCcpulseV1: return std::make_unique<CcpulseV1Decoder>(options);
    case RecordFormat::kAmazonConnect: return adapters::NewAmazonConnectDecoder(options);
    case RecordFormat::kTwilioTaskRouter: return adapters::NewTwilioTaskRouterDecoder(options);
    case RecordFormat::kGenesysCloud: return adapters::NewGenesysCloudDecoder(options);
    case RecordFormat::kAsteriskQueueLog: return adapters::NewAsteriskQueueLogDecoder(options);
    case RecordFormat::kAnonymousBankCsv: return adapters::NewAnonymousBankCsvDecoder(options);
  }
  return nullptr;
}

namespace adapters {

DecodeStatus Fail(DecodeError error, std::string message) {
  return DecodeStatus{error, std::move(message)};
}

DecodeStatus JsonDocument::Parse(std::string_view record, dom::object* root) {
  const size_t needed = record.size() + simdjson::SIMDJSON_PADDING;
  if (scratch_.size() < needed) scratch_.resize(needed);
  std::memcpy(scratch_.data(), record.data(), record.size());
  dom::element element;
  if (auto err = parser_.parse(scratch_.data(), record.size(), false).get(element)) {
    if (err == simdjson::UTF8_ERROR) return Fail(DecodeError::kInvalidUtf8, "record is not valid utf-8");
    if (EndsOpen(record)) return Fail(DecodeError::kTruncated, "record ends before the json is complete");
    return Fail(DecodeError::kInvalidJson, fmt::format("invalid json: {}", simdjson::error_message(err)));
  }
  if (element.get(*root) != simdjson::SUCCESS) {
    return Fail(DecodeError::kNotObject, "record is valid json but not an object");
  }
  return {};
}

std::optional<dom::element> Find(dom::object object, std::string_view key) {
  for (auto field : object) {
    if (field.key.size() == key.size() &&
        std::equal(key.begin(), key.end(), field.key.begin(), [](char a, char b) {
          return (a | 0x20) == (b | 0x20);  // ASCII letters; keys here have no other bytes that clash
        })) {
      if (field.value.is_null()) return std::nullopt;
      return field.value;
    }
  }
  return std::nullopt;
}

DecodeStatus GetString(dom::object object, std::string_view key, std::string_view path,
                       bool required, size_t max_bytes, std::string_view* out) {
  *out = {};
  auto value = Find(object, key);
  if (!value) {
    if (required) return Fail(DecodeError::kMissingField, fmt::format("required field `{}` is missing", path));
    return {};
  }
  if (value->get(*out) != simdjson::SUCCESS) {
    return Fail(DecodeError::kWrongType, fmt::format("field `{}`: expected a string", path));
  }
  if (required && out->empty()) return Fail(DecodeError::kEmptyField, fmt::format("field `{}` is empty", path));
  if (max_bytes != 0 && out->size() > max_bytes) {
    return Fail(DecodeError::kFieldTooLong,
                fmt::format("field `{}`: {} bytes, over the limit of {}", path, out->size(), max_bytes));
  }
  return {};
}

DecodeStatus GetObject(dom::object object, std::string_view key, std::string_view path,
                       std::optional<dom::object>* out) {
  out->reset();
  auto value = Find(object, key);
  if (!value) return {};
  dom::object inner;
  if (value->get(inner) != simdjson::SUCCESS) {
    return Fail(DecodeError::kWrongType, fmt::format("field `{}`: expected an object", path));
  }
  *out = inner;
  return {};
}

DecodeStatus GetTime(dom::object object, std::string_view key, std::string_view path,
                     std::optional<TimeMs>* out) {
  out->reset();
  auto value = Find(object, key);
  if (!value) return {};
  std::string_view text;
  int64_t millis;
  if (value->get(text) == simdjson::SUCCESS) {
    *out = ParseRfc3339(text);
    if (!*out) {
      return Fail(DecodeError::kBadTime, fmt::format("field `{}`: \"{}\" is not an rfc 3339 timestamp with offset",
                                                     path, text.substr(0, 40)));
    }
  } else if (value->get(millis) == simdjson::SUCCESS) {
    *out = millis;
  } else {
    return Fail(DecodeError::kWrongType,
                fmt::format("field `{}`: expected an rfc 3339 string or integer epoch milliseconds", path));
  }
  return {};
}

std::string_view LastSegment(std::string_view text) {
  const size_t slash = text.rfind('/');
  return slash == std::string_view::npos ? text : text.substr(slash + 1);
}

DecodeStatus JoinId(std::string* buffer, std::string_view id, std::string_view suffix,
                    std::string_view* out) {
  buffer->assign(id);
  buffer->push_back(':');
  buffer->append(suffix);
  if (buffer->size() > kMaxIdBytes) {
    return Fail(DecodeError::kFieldTooLong,
                fmt::format("derived event id \"{}\": {} bytes, over the limit of {}",
                            buffer->substr(0, 64), buffer->size(), kMaxIdBytes));
  }
  *out = *buffer;
  return {};
}

}  // namespace adapters
}  // namespace ccpulse::schemas
