// simdjson on-demand decoder for ccpulse.v1 records; see json_decoder.h.
#include "schemas/json_decoder.h"

#include <cstring>

#include <fmt/format.h>
#include "schemas/adapters.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas {
namespace {

namespace od = simdjson::ondemand;

constexpr std::array<std::string_view, kDecodeErrorCount> kDecodeErrorNames = {
    "none",          "empty_record", "too_large",       "invalid_utf8",
    "invalid_json",  "truncated",    "not_object",      "missing_field",
    "wrong_type",    "unknown_type", "unknown_channel", "field_too_long",
    "empty_field",   "bad_time",     "time_out_of_range", "duplicate_field",
    "unmapped_team", "malformed_record"};

enum Field : uint8_t {
  kEventId, kType, kTime, kInteractionId, kTeam, kCustomerId, kAgent, kToTeam, kChannel,
  kQueue, kReason, kTenant, kFieldCount
};

struct FieldSpec {
  std::string_view name;
  size_t max_bytes;  // 0 for non-string fields
  bool required;
};

constexpr std::array<FieldSpec, kFieldCount> kFields = {{
    {"event_id", kMaxIdBytes, true},
    {"type", 0, true},
    {"time", 0, true},
    {"interaction_id", kMaxIdBytes, true},
    {"team", kMaxNameBytes, true},
    {"customer_id", kMaxIdBytes, false},
    {"agent", kMaxIdBytes, false},
    {"to_team", kMaxNameBytes, false},
    {"channel", 0, false},
    {"queue", kMaxNameBytes, false},
    {"reason", kMaxNameBytes, false},
    {"tenant", kMaxNameBytes, false},
}};

// Dispatches on length and first byte so a known key costs one comparison.
int FindField(std::string_view key) {
  auto is = [&](Field f) { return key == kFields[f].name ? static_cast<int>(f) : -1; };
  if (key.empty()) return -1;
  switch (key.size()) {
    case 4: return key[1] == 'y' ? is(kType) : key[1] == 'i' ? is(kTime) : is(kTeam);
    case 5: return key[0] == 'a' ? is(kAgent) : is(kQueue);
    case 6: return key[0] == 'r' ? is(kReason) : is(kTenant);
    case 7: return key[0] == 't' ? is(kToTeam) : is(kChannel);
    case 8: return is(kEventId);
    case 11: return is(kCustomerId);
    case 14: return is(kInteractionId);
    default: return -1;
  }
}

DecodeStatus Fail(DecodeError error, std::string message) {
  return DecodeStatus{error, std::move(message)};
}

DecodeStatus FromSimdjson(simdjson::error_code code, std::string_view where) {
  switch (code) {
    case simdjson::UTF8_ERROR:
      return Fail(DecodeError::kInvalidUtf8, "record is not valid utf-8");
    case simdjson::EMPTY:
      return Fail(DecodeError::kEmptyRecord, "record is empty");
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING:
      return Fail(DecodeError::kTruncated,
                  fmt::format("record ends before the json is complete ({})", where));
    case simdjson::INCORRECT_TYPE:  // what simdjson says for a malformed literal such as "tru"
      return Fail(DecodeError::kInvalidJson,
                  fmt::format("invalid json {}: malformed literal or number", where));
    default:
      return Fail(DecodeError::kInvalidJson,
                  fmt::format("invalid json {}: {}", where, simdjson::error_message(code)));
  }
}

// Walks a value we do not use so that malformed JSON inside unknown fields is still rejected.
simdjson::error_code ValidateValue(od::value value, int depth) {
  if (depth > 64) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto err = value.get_object().get(object)) return err;
      for (auto field : object) {
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) return err;
        if (auto err = ValidateValue(field.value(), depth + 1)) return err;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      if (auto err = value.get_array().get(array)) return err;
      for (auto element : array) {
        od::value inner;
        if (auto err = element.get(inner)) return err;
        if (auto err = ValidateValue(inner, depth + 1)) return err;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string:
      return value.get_string().error();
    case od::json_type::number:
      return value.get_number().error();
    case od::json_type::boolean:
      return value.get_bool().error();
    case od::json_type::null:
      return value.is_null().error();
  }
  return simdjson::TAPE_ERROR;
}

// kWrongType for a known field whose value has the wrong JSON type, unless the value is not even
// valid JSON ("tru", "7x"): simdjson types a value by its first byte, so check it fully first.
DecodeStatus WrongType(od::value value, std::string_view field, std::string_view expected) {
  if (auto err = ValidateValue(value, 1)) {
    return FromSimdjson(err, fmt::format("in field `{}`", field));
  }
  return Fail(DecodeError::kWrongType, fmt::format("field `{}`: expected {}", field, expected));
}

// Fully checks a non-object document, so that garbage is not reported as "not an object".
simdjson::error_code ValidateRoot(od::document& doc, od::json_type type) {
  switch (type) {
    case od::json_type::array: {
      od::array array;
      if (auto err = doc.get_array().get(array)) return err;
      for (auto element : array) {
        od::value inner;
        if (auto err = element.get(inner)) return err;
        if (auto err = ValidateValue(inner, 1)) return err;
      }
      break;
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto err = doc.get_string().get(s)) return err;
      break;
    }
    case od::json_type::number: {
      double d;
      if (auto err = doc.get_double().get(d)) return err;
      break;
    }
    case od::json_type::boolean: {
      bool b;
      if (auto err = doc.get_bool().get(b)) return err;
      break;
    }
    case od::json_type::null: {
      bool is_null;
      if (auto err = doc.is_null().get(is_null)) return err;
      if (!is_null) return simdjson::N_ATOM_ERROR;
      break;
    }
    default: return simdjson::TAPE_ERROR;
  }
  const char* rest;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) return simdjson::TRAILING_CONTENT;
  return simdjson::SUCCESS;
}

}  // namespace

// True when `record` stops inside a string or with brackets still open, every closing bracket
// having matched its opener: it was cut short. Only called on the error path.
namespace adapters {

bool EndsOpen(std::string_view record) {
  std::string open;  // the unclosed '{' and '[' in order
  bool in_string = false, escaped = false;
  for (char c : record) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open.push_back(c);
    } else if (c == '}' || c == ']') {
      if (open.empty() || open.back() != (c == '}' ? '{' : '[')) return false;
      open.pop_back();
    }
  }
  return in_string || !open.empty();
}

}  // namespace adapters

std::string_view DecodeErrorName(DecodeError error) {
  return kDecodeErrorNames[static_cast<size_t>(error)];
}

JsonEventDecoder::JsonEventDecoder() : JsonEventDecoder(Options{}) {}

JsonEventDecoder::JsonEventDecoder(Options options) : options_(options) {}

DecodeStatus JsonEventDecoder::Decode(std::string_view record, Event* event) {
  if (record.size() > options_.max_record_bytes) {
    return Fail(DecodeError::kTooLarge, fmt::format("record is {} bytes, over the limit of {}",
                                                    record.size(), options_.max_record_bytes));
  }
  if (record.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(DecodeError::kEmptyRecord, "record is empty");
  }
  const size_t needed = record.size() + simdjson::SIMDJSON_PADDING;
  if (scratch_.size() < needed) scratch_.resize(needed);
  std::memcpy(scratch_.data(), record.data(), record.size());
  std::memset(scratch_.data() + record.size(), ' ', simdjson::SIMDJSON_PADDING);

  DecodeStatus status = Parse(record, event);
  if (status.error == DecodeError::kTruncated && !adapters::EndsOpen(record)) {
    // simdjson also says "ended early" for garbage after a complete object.
    status.error = DecodeError::kInvalidJson;
    status.message = "invalid json: unbalanced brackets or content after the object";
  } else if (status.error == DecodeError::kInvalidJson && adapters::EndsOpen(record)) {
    // simdjson reports a record cut just after a nested object ({"a":{}) as a structure error.
    status.error = DecodeError::kTruncated;
    status.message = fmt::format("record ends before the json is complete ({})", status.message);
  }
  return status;
}

DecodeStatus JsonEventDecoder::Parse(std::string_view record, Event* event) {
  od::document doc;
  if (auto err = parser_.iterate(scratch_.data(), record.size(), scratch_.size()).get(doc)) {
    return FromSimdjson(err, "at start");
  }
  od::json_type root_type;
  if (auto err = doc.type().get(root_type)) return FromSimdjson(err, "at start");
  if (root_type != od::json_type::object) {
    if (auto err = ValidateRoot(doc, root_type)) return FromSimdjson(err, "at start");
    return Fail(DecodeError::kNotObject, "record is valid json but not an object");
  }
  od::object object;
  if (auto err = doc.get_object().get(object)) return FromSimdjson(err, "at start");
  DecodeStatus status = DecodeObject(object, event);
  if (!status.ok()) return status;
  const char* rest;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) {
    return Fail(DecodeError::kInvalidJson, "invalid json: content after the object");
  }
  return status;
}

DecodeStatus JsonEventDecoder::DecodeObject(od::object object, Event* event) {
  *event = Event{};
  uint32_t seen = 0;
  for (auto field : object) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return FromSimdjson(err, "in a field name");
    const int index = FindField(key);
    od::value value;
    if (auto err = field.value().get(value)) {
      return FromSimdjson(err, fmt::format("in field `{}`", key));
    }
    if (index < 0) {
      if (auto err = ValidateValue(value, 1)) {
        return FromSimdjson(err, fmt::format("in field `{}`", key));
      }
      continue;
    }
    const FieldSpec& spec = kFields[index];
    if (seen & (1u << index)) {
      return Fail(DecodeError::kDuplicateField, fmt::format("field `{}` appears twice", spec.name));
    }
    seen |= 1u << index;

    od::json_type type;
    if (auto err = value.type().get(type)) {
      return FromSimdjson(err, fmt::format("in field `{}`", spec.name));
    }
    if (type == od::json_type::null && !spec.required) {
      if (auto err = value.is_null().error()) {
        return FromSimdjson(err, fmt::format("in field `{}`", spec.name));
      }
      seen &= ~(1u << index);  // an explicit null is the same as absent
      continue;
    }

    if (index == kTime) {
      if (type == od::json_type::string) {
        std::string_view text;
        if (auto err = value.get_string().get(text)) {
          return FromSimdjson(err, "in field `time`");
        }
        auto parsed = ParseRfc3339(text);
        if (!parsed) {
          return Fail(DecodeError::kBadTime,
                      fmt::format("field `time`: \"{}\" is not an rfc 3339 timestamp with offset",
                                  text.substr(0, 40)));
        }
        event->time_ms = *parsed;
      } else if (type == od::json_type::number) {
        od::number_type number_type;
        if (auto err = value.get_number_type().get(number_type)) {
          return FromSimdjson(err, "in field `time`");
        }
        if (number_type != od::number_type::signed_integer &&
            number_type != od::number_type::unsigned_integer) {
          // simdjson classifies a malformed number ("17x", "1.2.3") as floating point.
          if (auto err = value.get_double().error()) return FromSimdjson(err, "in field `time`");
          return Fail(DecodeError::kBadTime,
                      "field `time`: a number must be integer epoch milliseconds");
        }
        int64_t millis;
        if (auto err = value.get_int64().get(millis)) {
          if (err == simdjson::NUMBER_ERROR) return FromSimdjson(err, "in field `time`");
          return Fail(DecodeError::kTimeOutOfRange, "field `time`: epoch milliseconds overflow");
        }
        event->time_ms = millis;
      } else {
        return WrongType(value, "time", "an rfc 3339 string or integer epoch milliseconds");
      }
      if (event->time_ms < 0) {
        return Fail(DecodeError::kTimeOutOfRange,
                    fmt::format("field `time`: {} is before 1970-01-01",
                                FormatRfc3339(event->time_ms)));
      }
      if (event->time_ms > options_.latest_time_ms) {
        return Fail(DecodeError::kTimeOutOfRange,
                    fmt::format("field `time`: {} is too far in the future (latest accepted {})",
                                FormatRfc3339(event->time_ms),
                                FormatRfc3339(options_.latest_time_ms)));
      }
      continue;
    }

    if (type != od::json_type::string) {
      return WrongType(value, spec.name, "a string");
    }
    std::string_view text;
    if (auto err = value.get_string().get(text)) {
      return FromSimdjson(err, fmt::format("in field `{}`", spec.name));
    }
    if (text.empty()) {
      if (spec.required) {
        return Fail(DecodeError::kEmptyField, fmt::format("field `{}` is empty", spec.name));
      }
      seen &= ~(1u << index);
      continue;
    }
    if (spec.max_bytes != 0 && text.size() > spec.max_bytes) {
      return Fail(DecodeError::kFieldTooLong,
                  fmt::format("field `{}`: {} bytes, over the limit of {}", spec.name,
                              text.size(), spec.max_bytes));
    }
    switch (index) {
      case kEventId: event->event_id = text; break;
      case kInteractionId: event->interaction_id = text; break;
      case kTeam: event->team = text; break;
      case kCustomerId: event->customer_id = text; break;
      case kAgent: event->agent = text; break;
      case kToTeam: event->to_team = text; break;
      case kQueue: event->queue = text; break;
      case kReason: event->reason = text; break;
      case kTenant: event->tenant = text; break;
      case kType: {
        auto parsed = ParseEventType(text);
        if (!parsed) {
          return Fail(DecodeError::kUnknownType,
                      fmt::format("field `type`: unknown event type \"{}\"", text.substr(0, 40)));
        }
        event->type = *parsed;
        break;
      }
      case kChannel: {
        auto parsed = ParseChannel(text);
        if (!parsed) {
          return Fail(DecodeError::kUnknownChannel,
                      fmt::format("field `channel`: unknown channel \"{}\"", text.substr(0, 40)));
        }
        event->channel = *parsed;
        break;
      }
      default: break;
    }
  }
  for (int i = 0; i < kFieldCount; ++i) {
    if (kFields[i].required && !(seen & (1u << i))) {
      return Fail(DecodeError::kMissingField,
                  fmt::format("required field `{}` is missing", kFields[i].name));
    }
  }
  return DecodeStatus{};
}

}  // namespace ccpulse::schemas
