// Tests of the ccpulse.v1 JSON decoder: what a valid record decodes to, and the DecodeError and
// message for every way a record can be rejected (the dead-letter reasons of DESIGN §2).
#include "schemas/json_decoder.h"

#include <cstdint>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccpulse::schemas {
namespace {

using ::testing::HasSubstr;

// 2026-03-02T09:15:00Z.
constexpr TimeMs kSampleMs = 1772442900000;

// A record as an ordered list of (field name, raw JSON value).
using Fields = std::vector<std::pair<std::string, std::string>>;

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// The five required fields of a valid record.
Fields MinimalFields() {
  return {{"event_id", Quote("e-1")},
          {"type", Quote("queued")},
          {"time", Quote("2026-03-02T09:15:00Z")},
          {"interaction_id", Quote("i-1")},
          {"team", Quote("billing")}};
}

std::string ToJson(const Fields& fields) {
  std::string json = "{";
  for (const auto& [name, value] : fields) {
    if (json.size() > 1) json += ",";
    json += Quote(name) + ":" + value;
  }
  return json + "}";
}

// The minimal record with each of `changes` replacing the field of that name, or appended.
std::string With(const Fields& changes) {
  Fields fields = MinimalFields();
  for (const auto& [name, value] : changes) {
    bool replaced = false;
    for (auto& field : fields) {
      if (field.first == name) {
        field.second = value;
        replaced = true;
      }
    }
    if (!replaced) fields.emplace_back(name, value);
  }
  return ToJson(fields);
}

std::string With(std::string_view name, std::string_view raw_value) {
  return With(Fields{{std::string(name), std::string(raw_value)}});
}

// The minimal record without the field `name`.
std::string Without(std::string_view name) {
  Fields fields = MinimalFields();
  std::erase_if(fields, [&](const auto& field) { return field.first == name; });
  return ToJson(fields);
}

// The minimal record with raw JSON text appended after the last field (inside the object).
std::string WithRaw(std::string_view raw_members) {
  std::string json = ToJson(MinimalFields());
  json.pop_back();
  return json + "," + std::string(raw_members) + "}";
}

class JsonEventDecoderTest : public testing::Test {
 protected:
  DecodeStatus Decode(std::string_view record) { return decoder_.Decode(record, &event_); }

  JsonEventDecoder decoder_;
  Event event_;
};

// ---------------------------------------------------------------------------------------------
// Valid records

TEST_F(JsonEventDecoderTest, DecodesEveryField) {
  const DecodeStatus status = Decode(
      R"({"event_id":"e-42","type":"escalated","time":"2026-03-02T09:15:00.250Z",)"
      R"("interaction_id":"i-7","team":"billing","customer_id":"cust-9","agent":"a-3",)"
      R"("to_team":"billing-t2","channel":"chat","queue":"priority","reason":"refund",)"
      R"("tenant":"acme"})");
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(status.message, "");
  EXPECT_EQ(event_.event_id, "e-42");
  EXPECT_EQ(event_.type, EventType::kEscalated);
  EXPECT_EQ(event_.time_ms, kSampleMs + 250);
  EXPECT_EQ(event_.interaction_id, "i-7");
  EXPECT_EQ(event_.team, "billing");
  EXPECT_EQ(event_.customer_id, "cust-9");
  EXPECT_EQ(event_.agent, "a-3");
  EXPECT_EQ(event_.to_team, "billing-t2");
  EXPECT_EQ(event_.channel, Channel::kChat);
  EXPECT_EQ(event_.queue, "priority");
  EXPECT_EQ(event_.reason, "refund");
  EXPECT_EQ(event_.tenant, "acme");
}

TEST_F(JsonEventDecoderTest, DecodesMinimalRecordWithDefaults) {
  const DecodeStatus status = Decode(ToJson(MinimalFields()));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.event_id, "e-1");
  EXPECT_EQ(event_.type, EventType::kQueued);
  EXPECT_EQ(event_.time_ms, kSampleMs);
  EXPECT_EQ(event_.interaction_id, "i-1");
  EXPECT_EQ(event_.team, "billing");
  EXPECT_EQ(event_.tenant, "default");
  EXPECT_EQ(event_.channel, Channel::kOther);
  EXPECT_EQ(event_.customer_id, "");
  EXPECT_EQ(event_.agent, "");
  EXPECT_EQ(event_.to_team, "");
  EXPECT_EQ(event_.queue, "");
  EXPECT_EQ(event_.reason, "");
}

TEST_F(JsonEventDecoderTest, AcceptsFieldsInAnyOrderAndWhitespace) {
  const DecodeStatus status = Decode(
      " \t{ \"team\" : \"billing\" ,\n \"time\": 1772442900000, \"interaction_id\":\"i-1\",\r\n"
      "  \"type\":\"answered\", \"event_id\":\"e-1\" }\r\n ");
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.type, EventType::kAnswered);
  EXPECT_EQ(event_.team, "billing");
}

TEST_F(JsonEventDecoderTest, DecodesEveryEventType) {
  const std::vector<std::pair<std::string_view, EventType>> types = {
      {"queued", EventType::kQueued},           {"answered", EventType::kAnswered},
      {"transferred", EventType::kTransferred}, {"escalated", EventType::kEscalated},
      {"resolved", EventType::kResolved},       {"closed", EventType::kClosed},
      {"abandoned", EventType::kAbandoned},     {"reopened", EventType::kReopened}};
  ASSERT_EQ(types.size(), static_cast<size_t>(kEventTypeCount));
  for (const auto& [name, type] : types) {
    const DecodeStatus status = Decode(With("type", Quote(name)));
    ASSERT_TRUE(status.ok()) << name << ": " << status.message;
    EXPECT_EQ(event_.type, type) << name;
  }
}

TEST_F(JsonEventDecoderTest, DecodesEveryChannel) {
  const std::vector<std::pair<std::string_view, Channel>> channels = {
      {"voice", Channel::kVoice}, {"chat", Channel::kChat},         {"email", Channel::kEmail},
      {"messaging", Channel::kMessaging}, {"social", Channel::kSocial}, {"other", Channel::kOther}};
  ASSERT_EQ(channels.size(), static_cast<size_t>(kChannelCount));
  for (const auto& [name, channel] : channels) {
    const DecodeStatus status = Decode(With("channel", Quote(name)));
    ASSERT_TRUE(status.ok()) << name << ": " << status.message;
    EXPECT_EQ(event_.channel, channel) << name;
  }
}

TEST_F(JsonEventDecoderTest, UnescapesJsonStringEscapes) {
  const DecodeStatus status = Decode(With({{"team", R"("caf\u00e9")"},
                                           {"reason", R"("line one\nline two")"},
                                           {"queue", R"("a\"b\\c\/d\te")"},
                                           {"agent", R"("smile \ud83d\ude00")"}}));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.team, "caf\xc3\xa9");
  EXPECT_EQ(event_.reason, "line one\nline two");
  EXPECT_EQ(event_.queue, "a\"b\\c/d\te");
  EXPECT_EQ(event_.agent, "smile \xf0\x9f\x98\x80");
}

TEST_F(JsonEventDecoderTest, AcceptsRawUtf8) {
  const std::string team = "M\xc3\xbcnchen-\xe6\x94\xaf\xe6\x8f\xb4";  // München-支援
  const DecodeStatus status = Decode(With("team", Quote(team)));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.team, team);
}

TEST_F(JsonEventDecoderTest, TreatsNullOptionalFieldsAsAbsent) {
  const DecodeStatus status =
      Decode(With({{"customer_id", "null"}, {"agent", "null"}, {"to_team", "null"},
                   {"channel", "null"}, {"queue", "null"}, {"reason", "null"},
                   {"tenant", "null"}}));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.customer_id, "");
  EXPECT_EQ(event_.agent, "");
  EXPECT_EQ(event_.to_team, "");
  EXPECT_EQ(event_.channel, Channel::kOther);
  EXPECT_EQ(event_.queue, "");
  EXPECT_EQ(event_.reason, "");
  EXPECT_EQ(event_.tenant, "default");
}

TEST_F(JsonEventDecoderTest, TreatsEmptyOptionalStringsAsAbsent) {
  const DecodeStatus status =
      Decode(With({{"customer_id", R"("")"}, {"agent", R"("")"}, {"to_team", R"("")"},
                   {"channel", R"("")"}, {"queue", R"("")"}, {"reason", R"("")"},
                   {"tenant", R"("")"}}));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.customer_id, "");
  EXPECT_EQ(event_.agent, "");
  EXPECT_EQ(event_.to_team, "");
  EXPECT_EQ(event_.channel, Channel::kOther);
  EXPECT_EQ(event_.queue, "");
  EXPECT_EQ(event_.reason, "");
  EXPECT_EQ(event_.tenant, "default");
}

TEST_F(JsonEventDecoderTest, NullThenValueForAnOptionalFieldIsNotADuplicate) {
  const DecodeStatus status = Decode(WithRaw(R"("agent":null,"agent":"a-1")"));
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.agent, "a-1");
}

struct TimeCase {
  std::string name;
  std::string raw_time;
  TimeMs expected_ms;
};

void PrintTo(const TimeCase& c, std::ostream* os) { *os << c.raw_time; }

class JsonEventDecoderTimeTest : public testing::TestWithParam<TimeCase> {};

TEST_P(JsonEventDecoderTimeTest, DecodesTime) {
  JsonEventDecoder decoder;
  Event event;
  const DecodeStatus status = decoder.Decode(With("time", GetParam().raw_time), &event);
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event.time_ms, GetParam().expected_ms);
}

INSTANTIATE_TEST_SUITE_P(
    Table, JsonEventDecoderTimeTest,
    testing::Values(TimeCase{"EpochMillis", "1772442900000", kSampleMs},
                    TimeCase{"EpochMillisWithMillis", "1772442900123", kSampleMs + 123},
                    TimeCase{"EpochZero", "0", 0},
                    TimeCase{"Utc", Quote("2026-03-02T09:15:00Z"), kSampleMs},
                    TimeCase{"PlusTwoHours", Quote("2026-03-02T11:15:00+02:00"), kSampleMs},
                    TimeCase{"MinusFiveHours", Quote("2026-03-02T04:15:00-05:00"), kSampleMs},
                    TimeCase{"FractionalMillis", Quote("2026-03-02T09:15:00.123Z"),
                             kSampleMs + 123},
                    TimeCase{"FractionalMicros", Quote("2026-03-02T09:15:00.123456Z"),
                             kSampleMs + 123},
                    TimeCase{"FractionalWithOffset", Quote("2026-03-02T10:15:00.5+01:00"),
                             kSampleMs + 500}),
    [](const testing::TestParamInfo<TimeCase>& case_info) { return case_info.param.name; });

TEST_F(JsonEventDecoderTest, IgnoresUnknownFieldsOfEveryKind) {
  const DecodeStatus status = Decode(
      R"({"schema":"ccpulse.v1","event_id":"e-1","extra":{"nested":{"deep":[1,2,{"x":null}]},)"
      R"("list":[]},"type":"queued","flags":[true,false,null,"s\u00e9",-1.5e3],)"
      R"("time":"2026-03-02T09:15:00Z","count":12345678901234567890,"interaction_id":"i-1",)"
      R"("Team":"not-the-team","team":"billing","empty":{},"note":"has \"quotes\" and \\ "})");
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(event_.event_id, "e-1");
  EXPECT_EQ(event_.team, "billing");  // keys are case-sensitive: "Team" is an unknown field
}

TEST_F(JsonEventDecoderTest, AllowsRepeatedUnknownFields) {
  const DecodeStatus status = Decode(WithRaw(R"("x":1,"x":2)"));
  EXPECT_TRUE(status.ok()) << status.message;
}

TEST_F(JsonEventDecoderTest, AcceptsUnknownFieldsNested63Deep) {
  const DecodeStatus status =
      Decode(WithRaw("\"x\":" + std::string(63, '[') + "1" + std::string(63, ']')));
  EXPECT_TRUE(status.ok()) << status.message;
}

struct LimitCase {
  std::string field;
  size_t limit_bytes;
};

void PrintTo(const LimitCase& c, std::ostream* os) { *os << c.field; }

class JsonEventDecoderLimitTest : public testing::TestWithParam<LimitCase> {
 protected:
  DecodeStatus Decode(std::string_view record) { return decoder_.Decode(record, &event_); }

  JsonEventDecoder decoder_;
  Event event_;
};

TEST_P(JsonEventDecoderLimitTest, AcceptsExactlyTheLimit) {
  const DecodeStatus status =
      Decode(With(GetParam().field, Quote(std::string(GetParam().limit_bytes, 'x'))));
  EXPECT_TRUE(status.ok()) << status.message;
}

TEST_P(JsonEventDecoderLimitTest, RejectsOneByteOverTheLimit) {
  const DecodeStatus status =
      Decode(With(GetParam().field, Quote(std::string(GetParam().limit_bytes + 1, 'x'))));
  EXPECT_EQ(DecodeErrorName(status.error), "field_too_long");
  EXPECT_THAT(status.message, HasSubstr("`" + GetParam().field + "`"));
  EXPECT_THAT(status.message, HasSubstr(std::to_string(GetParam().limit_bytes)));
}

TEST_P(JsonEventDecoderLimitTest, CountsUtf8BytesNotCharacters) {
  // "é" is two bytes: limit/2 + 1 of them is under the limit in characters, over it in bytes.
  std::string value;
  for (size_t i = 0; i < GetParam().limit_bytes / 2 + 1; ++i) value += "\xc3\xa9";
  const DecodeStatus status = Decode(With(GetParam().field, Quote(value)));
  EXPECT_EQ(DecodeErrorName(status.error), "field_too_long");
}

TEST_P(JsonEventDecoderLimitTest, CountsUnescapedBytes) {
  // Each \u0041 escape is six bytes on the wire and one after unescaping.
  std::string value;
  for (size_t i = 0; i < GetParam().limit_bytes; ++i) value += "\\u0041";
  const DecodeStatus status = Decode(With(GetParam().field, Quote(value)));
  ASSERT_TRUE(status.ok()) << status.message;
}

INSTANTIATE_TEST_SUITE_P(Fields, JsonEventDecoderLimitTest,
                         testing::Values(LimitCase{"event_id", 128},
                                         LimitCase{"interaction_id", 128},
                                         LimitCase{"customer_id", 128}, LimitCase{"agent", 128},
                                         LimitCase{"team", 64}, LimitCase{"to_team", 64},
                                         LimitCase{"queue", 64}, LimitCase{"reason", 64},
                                         LimitCase{"tenant", 64}),
                         [](const testing::TestParamInfo<LimitCase>& case_info) {
                           return case_info.param.field;
                         });

TEST(JsonEventDecoderLimitsTest, LimitsMatchDesign) {
  EXPECT_EQ(kMaxIdBytes, 128u);
  EXPECT_EQ(kMaxNameBytes, 64u);
}

// ---------------------------------------------------------------------------------------------
// Rejected records: the reason and a message that names the field or the problem.

struct ErrorCase {
  std::string name;
  std::string record;
  DecodeError error;
  std::string message_part;  // must appear in the message, e.g. "`team`"
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.name << " (" << c.record.size() << " bytes: "
      << std::string_view(c.record).substr(0, 120) << ")";
}

std::string RecordOfSize(size_t size_bytes) {
  std::string record = WithRaw(R"("padding":"")");
  record.insert(record.size() - 2, size_bytes - record.size(), 'p');
  return record;
}

std::vector<ErrorCase> ErrorCases() {
  using E = DecodeError;
  const std::string minimal = ToJson(MinimalFields());
  return {
      // Empty input.
      {"Empty", "", E::kEmptyRecord, "empty"},
      {"WhitespaceOnly", " \t\r\n  ", E::kEmptyRecord, "empty"},
      // Too large: 10 MB against the default limit of 1 MB.
      {"TenMegabytes", RecordOfSize(10 << 20), E::kTooLarge, "10485760 bytes"},
      // Not JSON.
      {"PlainText", "not json at all", E::kInvalidJson, "invalid json"},
      {"TrailingComma", minimal.substr(0, minimal.size() - 1) + ",}", E::kInvalidJson,
       "invalid json"},
      {"UnquotedKey", R"({event_id:"e-1"})", E::kInvalidJson, "invalid json"},
      {"SingleQuotes", R"({'event_id':'e-1'})", E::kInvalidJson, "invalid json"},
      {"MissingColon", R"({"event_id" "e-1"})", E::kInvalidJson, "invalid json"},
      {"MissingComma", R"({"event_id":"e-1" "type":"queued"})", E::kInvalidJson, "invalid json"},
      {"ExtraClosingBrace", minimal + "}", E::kInvalidJson, "invalid json"},
      {"MismatchedBracket", minimal.substr(0, minimal.size() - 1) + "]", E::kInvalidJson,
       "invalid json"},
      {"TwoObjects", minimal + " " + minimal, E::kInvalidJson, "invalid json"},
      {"ContentAfterObject", minimal + " x", E::kInvalidJson, "invalid json"},
      {"MalformedEpochMillis", With("time", "1772442900000x"), E::kInvalidJson, "`time`"},
      {"MalformedFloatTime", With("time", "12.5.3"), E::kInvalidJson, "`time`"},
      {"MalformedLiteralInTime", With("time", "tru"), E::kInvalidJson, "`time`"},
      {"MalformedNumberInKnownField", With("team", "7x"), E::kInvalidJson, "`team`"},
      {"MalformedLiteralInKnownField", With("team", "fals"), E::kInvalidJson, "`team`"},
      {"MalformedArrayInKnownField", With("event_id", "[1,,2]"), E::kInvalidJson, "`event_id`"},
      {"MalformedLiteralInUnknownField", WithRaw(R"("x": tru)"), E::kInvalidJson, "`x`"},
      {"MalformedNumberInUnknownField", WithRaw(R"("x": 01)"), E::kInvalidJson, "`x`"},
      {"NaNInUnknownField", WithRaw(R"("x": NaN)"), E::kInvalidJson, "`x`"},
      {"TrailingCommaInUnknownArray", WithRaw(R"("x": [1,2,])"), E::kInvalidJson, "`x`"},
      {"UnknownFieldNestedTooDeep",
       WithRaw("\"x\":" + std::string(65, '[') + std::string(65, ']')), E::kInvalidJson, "`x`"},
      {"UnescapedControlCharacter", With("team", Quote("tab\there")), E::kInvalidJson,
       "invalid json"},
      {"Utf8ByteOrderMark", "\xef\xbb\xbf" + minimal, E::kInvalidJson, "invalid json"},
      {"BadEscapeInValue", With("team", R"("bad\q")"), E::kInvalidJson, "`team`"},
      {"LoneSurrogateEscape", With("team", R"("\ud800")"), E::kInvalidJson, "`team`"},
      // Truncated: the record was cut short.
      {"CutMidString", minimal.substr(0, 15), E::kTruncated, "ends before"},
      {"CutMidKey", R"({"event_id":"e-1","ty)", E::kTruncated, "ends before"},
      {"CutAfterColon", R"({"event_id":)", E::kTruncated, "ends before"},
      {"CutAfterComma", R"({"event_id":"e-1",)", E::kTruncated, "ends before"},
      {"CutMidObject", minimal.substr(0, minimal.size() - 1), E::kTruncated, "ends before"},
      {"CutInsideNestedUnknownField", WithRaw(R"("x":{"y":[1,2)").substr(0, minimal.size() + 13),
       E::kTruncated, "ends before"},
      {"CutAfterNestedObject", WithRaw(R"("x":{"a":1})").substr(0, minimal.size() + 11),
       E::kTruncated, "ends before"},
      {"OnlyOpeningBrace", "{", E::kTruncated, "ends before"},
      {"CutArray", "[1,2", E::kTruncated, "ends before"},
      // Not an object.
      {"Array", R"([{"event_id":"e-1"}])", E::kNotObject, "not an object"},
      {"EmptyArray", "[]", E::kNotObject, "not an object"},
      {"String", R"("queued")", E::kNotObject, "not an object"},
      {"Number", "42", E::kNotObject, "not an object"},
      {"True", "true", E::kNotObject, "not an object"},
      {"Null", "null", E::kNotObject, "not an object"},
      // Missing required fields.
      {"EmptyObject", "{}", E::kMissingField, "`event_id`"},
      {"MissingEventId", Without("event_id"), E::kMissingField, "`event_id`"},
      {"MissingType", Without("type"), E::kMissingField, "`type`"},
      {"MissingTime", Without("time"), E::kMissingField, "`time`"},
      {"MissingInteractionId", Without("interaction_id"), E::kMissingField, "`interaction_id`"},
      {"MissingTeam", Without("team"), E::kMissingField, "`team`"},
      // Wrong JSON type.
      {"TeamNumber", With("team", "7"), E::kWrongType, "`team`"},
      {"EventIdObject", With("event_id", R"({"id":"e-1"})"), E::kWrongType, "`event_id`"},
      {"InteractionIdArray", With("interaction_id", R"(["i-1"])"), E::kWrongType,
       "`interaction_id`"},
      {"TypeNumber", With("type", "0"), E::kWrongType, "`type`"},
      {"TimeBool", With("time", "true"), E::kWrongType, "`time`"},
      {"TimeObject", With("time", R"({"ms":1})"), E::kWrongType, "`time`"},
      {"RequiredTeamNull", With("team", "null"), E::kWrongType, "`team`"},
      {"RequiredTimeNull", With("time", "null"), E::kWrongType, "`time`"},
      {"OptionalAgentNumber", With("agent", "12"), E::kWrongType, "`agent`"},
      {"OptionalChannelBool", With("channel", "false"), E::kWrongType, "`channel`"},
      {"OptionalTenantObject", With("tenant", "{}"), E::kWrongType, "`tenant`"},
      // Unknown enum values.
      {"UnknownType", With("type", Quote("created")), E::kUnknownType, "`type`"},
      {"TypeWrongCase", With("type", Quote("Queued")), E::kUnknownType, "`type`"},
      {"UnknownChannel", With("channel", Quote("fax")), E::kUnknownChannel, "`channel`"},
      {"ChannelWrongCase", With("channel", Quote("VOICE")), E::kUnknownChannel, "`channel`"},
      // Strings over their limit (every field and the exact limit: JsonEventDecoderLimitTest).
      {"TeamTooLong", With("team", Quote(std::string(65, 't'))), E::kFieldTooLong, "`team`"},
      {"EventIdTooLong", With("event_id", Quote(std::string(129, 'e'))), E::kFieldTooLong,
       "`event_id`"},
      // Empty required strings.
      {"EmptyEventId", With("event_id", Quote("")), E::kEmptyField, "`event_id`"},
      {"EmptyType", With("type", Quote("")), E::kEmptyField, "`type`"},
      {"EmptyInteractionId", With("interaction_id", Quote("")), E::kEmptyField,
       "`interaction_id`"},
      {"EmptyTeam", With("team", Quote("")), E::kEmptyField, "`team`"},
      // Invalid UTF-8 (checked over the whole record before parsing).
      {"InvalidUtf8InValue", With("team", Quote("bad\xff" "byte")), E::kInvalidUtf8, "utf-8"},
      {"InvalidUtf8InKey", WithRaw("\"k\xc3\x28\":1"), E::kInvalidUtf8, "utf-8"},
      {"InvalidUtf8Overlong", With("team", Quote("\xc0\xaf")), E::kInvalidUtf8, "utf-8"},
      {"InvalidUtf8Surrogate", With("team", Quote("\xed\xa0\x80")), E::kInvalidUtf8, "utf-8"},
      {"InvalidUtf8TruncatedSequence", With("team", Quote("ab\xe6\x94")), E::kInvalidUtf8,
       "utf-8"},
      // Bad time.
      {"TimeUnparseable", With("time", Quote("yesterday")), E::kBadTime, "`time`"},
      {"TimeWithoutOffset", With("time", Quote("2026-03-02T09:15:00")), E::kBadTime, "`time`"},
      {"TimeSpaceSeparator", With("time", Quote("2026-03-02 09:15:00Z")), E::kBadTime, "`time`"},
      {"TimeEmptyString", With("time", Quote("")), E::kBadTime, "`time`"},
      {"TimeDigitsInString", With("time", Quote("1772442900000")), E::kBadTime, "`time`"},
      {"TimeFloatEpoch", With("time", "1772442900000.5"), E::kBadTime, "`time`"},
      {"TimeExponentEpoch", With("time", "1.7724429e12"), E::kBadTime, "`time`"},
      {"TimeFeb30", With("time", Quote("2026-02-30T09:15:00Z")), E::kBadTime, "`time`"},
      // Time out of range.
      {"TimeNegativeEpoch", With("time", "-1"), E::kTimeOutOfRange, "`time`"},
      {"Time1969", With("time", Quote("1969-12-31T23:59:59Z")), E::kTimeOutOfRange, "`time`"},
      {"Time1970ByOffset", With("time", Quote("1970-01-01T00:30:00+01:00")), E::kTimeOutOfRange,
       "`time`"},
      {"TimeOverInt64", With("time", "9223372036854775808"), E::kTimeOutOfRange, "`time`"},
      // Duplicate known fields (the wire form of the key does not matter).
      {"DuplicateTeam", WithRaw(R"("team":"other")"), E::kDuplicateField, "`team`"},
      {"DuplicateTeamSameValue", WithRaw(R"("team":"billing")"), E::kDuplicateField, "`team`"},
      {"DuplicateTeamEscapedKey", WithRaw(R"("t\u0065am":"other")"), E::kDuplicateField,
       "`team`"},
      {"DuplicateOptional", WithRaw(R"("agent":"a-1","agent":"a-2")"), E::kDuplicateField,
       "`agent`"},
  };
}

class JsonEventDecoderErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(JsonEventDecoderErrorTest, RejectsWithReasonAndMessage) {
  const ErrorCase& c = GetParam();
  JsonEventDecoder decoder;
  Event event;
  const DecodeStatus status = decoder.Decode(c.record, &event);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(DecodeErrorName(status.error), DecodeErrorName(c.error)) << status.message;
  EXPECT_THAT(status.message, HasSubstr(c.message_part));
}

INSTANTIATE_TEST_SUITE_P(Table, JsonEventDecoderErrorTest, testing::ValuesIn(ErrorCases()),
                         [](const testing::TestParamInfo<ErrorCase>& case_info) {
                           return case_info.param.name;
                         });

// A record cut at any byte is truncated, wherever the cut falls: inside a key, a string, a number,
// a literal, a nested unknown field, or between tokens.
TEST(JsonEventDecoderRejectTest, EveryPrefixOfAValidRecordIsTruncated) {
  const std::string record =
      R"({"event_id":"e-1","x":{"n":[1,-2.5e3,true,false,null,"s\"]"],"o":{}},)"
      R"("type":"resolved","time":1772442900000,"interaction_id":"i-1","team":"billing",)"
      R"("channel":"voice","tenant":null})";
  JsonEventDecoder decoder;
  Event event;
  ASSERT_TRUE(decoder.Decode(record, &event).ok());
  for (size_t length = 1; length < record.size(); ++length) {
    const std::string_view prefix = std::string_view(record).substr(0, length);
    const DecodeStatus status = decoder.Decode(prefix, &event);
    EXPECT_EQ(DecodeErrorName(status.error), "truncated") << prefix << "\n" << status.message;
  }
}

// Nothing crashes on input (DESIGN §2): random byte edits of a valid record either decode to an
// event that satisfies the contract or are rejected with a reason and a message.
TEST(JsonEventDecoderRejectTest, RandomEditsNeverBreakTheContract) {
  const std::string record =
      R"({"event_id":"e-1","type":"escalated","time":"2026-03-02T09:15:00.250+01:00",)"
      R"("interaction_id":"i-1","team":"billing","to_team":"tier-2","channel":"chat",)"
      R"("x":{"n":[1,-2.5e3,true,null,"s\u00e9"]},"tenant":"acme"})";
  constexpr std::string_view kAlphabet = "{}[]\":,\\ 0123456789.eE+-tfnulx\x80\xc3\xff";
  std::mt19937 rng(7);
  JsonEventDecoder decoder;
  Event event;
  for (int i = 0; i < 20000; ++i) {
    std::string edited = record;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % edited.size();
      const char c = kAlphabet[rng() % kAlphabet.size()];
      switch (rng() % 3) {
        case 0: edited[at] = c; break;
        case 1: edited.insert(at, 1, c); break;
        default: edited.erase(at, 1); break;
      }
    }
    const DecodeStatus status = decoder.Decode(edited, &event);
    if (status.ok()) {
      ASSERT_FALSE(event.event_id.empty()) << edited;
      ASSERT_FALSE(event.interaction_id.empty()) << edited;
      ASSERT_FALSE(event.team.empty()) << edited;
      ASSERT_LE(event.event_id.size(), kMaxIdBytes);
      ASSERT_LE(event.team.size(), kMaxNameBytes);
      ASSERT_GE(event.time_ms, 0) << edited;
    } else {
      ASSERT_FALSE(status.message.empty()) << edited;
    }
  }
}

TEST(JsonEventDecoderRejectTest, EveryReasonHasATableCase) {
  std::set<DecodeError> covered;
  for (const ErrorCase& c : ErrorCases()) covered.insert(c.error);
  for (int i = 1; i < kJsonDecodeErrorCount; ++i) {
    EXPECT_TRUE(covered.count(static_cast<DecodeError>(i)))
        << DecodeErrorName(static_cast<DecodeError>(i));
  }
}

TEST(JsonEventDecoderOptionsTest, RejectsTimesAfterLatestTime) {
  JsonEventDecoder::Options options;
  options.latest_time_ms = kSampleMs + kDayMs;
  JsonEventDecoder decoder(options);
  Event event;
  const DecodeStatus status = decoder.Decode(With("time", Quote("2026-03-04T09:15:00Z")), &event);
  EXPECT_EQ(DecodeErrorName(status.error), "time_out_of_range");
  EXPECT_THAT(status.message, HasSubstr("`time`"));
  EXPECT_THAT(status.message, HasSubstr("future"));
}

TEST(JsonEventDecoderOptionsTest, AcceptsTimeExactlyAtLatestTime) {
  JsonEventDecoder::Options options;
  options.latest_time_ms = kSampleMs + kDayMs;
  JsonEventDecoder decoder(options);
  Event event;
  const DecodeStatus status = decoder.Decode(With("time", Quote("2026-03-03T09:15:00Z")), &event);
  EXPECT_TRUE(status.ok()) << status.message;
}

TEST(JsonEventDecoderOptionsTest, RejectsEpochMillisAfterLatestTime) {
  JsonEventDecoder::Options options;
  options.latest_time_ms = kSampleMs;
  JsonEventDecoder decoder(options);
  Event event;
  const DecodeStatus status = decoder.Decode(With("time", std::to_string(kSampleMs + 1)), &event);
  EXPECT_EQ(DecodeErrorName(status.error), "time_out_of_range");
}

TEST(JsonEventDecoderOptionsTest, SetLatestTimeMovesTheBound) {
  JsonEventDecoder decoder;
  Event event;
  const std::string record = With("time", Quote("2026-03-02T09:15:00Z"));
  decoder.SetLatestTime(kSampleMs - 1);
  EXPECT_EQ(DecodeErrorName(decoder.Decode(record, &event).error), "time_out_of_range");
  decoder.SetLatestTime(kSampleMs);
  EXPECT_TRUE(decoder.Decode(record, &event).ok());
}

TEST(JsonEventDecoderOptionsTest, AcceptsRecordExactlyAtMaxRecordBytes) {
  JsonEventDecoder::Options options;
  options.max_record_bytes = 4096;
  JsonEventDecoder decoder(options);
  Event event;
  const std::string record = RecordOfSize(4096);
  ASSERT_EQ(record.size(), 4096u);
  const DecodeStatus status = decoder.Decode(record, &event);
  EXPECT_TRUE(status.ok()) << status.message;
}

TEST(JsonEventDecoderOptionsTest, RejectsRecordOneByteOverMaxRecordBytes) {
  JsonEventDecoder::Options options;
  options.max_record_bytes = 4096;
  JsonEventDecoder decoder(options);
  Event event;
  const DecodeStatus status = decoder.Decode(RecordOfSize(4097), &event);
  EXPECT_EQ(DecodeErrorName(status.error), "too_large");
  EXPECT_THAT(status.message, HasSubstr("4096"));
}

// ---------------------------------------------------------------------------------------------
// One decoder, many records.

TEST(JsonEventDecoderReuseTest, DecodesBadGoodBadGoodWithOneDecoder) {
  JsonEventDecoder decoder;
  Event event;
  EXPECT_EQ(DecodeErrorName(decoder.Decode(R"({"event_id":"e-1",)", &event).error), "truncated");

  const DecodeStatus first = decoder.Decode(
      R"({"event_id":"e-1","type":"resolved","time":1772442900000,"interaction_id":"i-1",)"
      R"("team":"billing","customer_id":"c-1","channel":"voice","tenant":"acme"})",
      &event);
  ASSERT_TRUE(first.ok()) << first.message;
  EXPECT_EQ(event.type, EventType::kResolved);
  EXPECT_EQ(event.customer_id, "c-1");

  EXPECT_EQ(DecodeErrorName(decoder.Decode(With("team", "7"), &event).error), "wrong_type");
  EXPECT_EQ(DecodeErrorName(decoder.Decode(RecordOfSize(2 << 20), &event).error), "too_large");
  EXPECT_EQ(DecodeErrorName(decoder.Decode("\xff", &event).error), "invalid_utf8");

  // Nothing of the first good record leaks into the second.
  const DecodeStatus second = decoder.Decode(
      R"({"event_id":"e-2","type":"queued","time":"2026-03-02T09:16:00Z","interaction_id":"i-2",)"
      R"("team":"sales"})",
      &event);
  ASSERT_TRUE(second.ok()) << second.message;
  EXPECT_EQ(event.event_id, "e-2");
  EXPECT_EQ(event.type, EventType::kQueued);
  EXPECT_EQ(event.time_ms, kSampleMs + kMinuteMs);
  EXPECT_EQ(event.interaction_id, "i-2");
  EXPECT_EQ(event.team, "sales");
  EXPECT_EQ(event.customer_id, "");
  EXPECT_EQ(event.channel, Channel::kOther);
  EXPECT_EQ(event.tenant, "default");

  EXPECT_EQ(DecodeErrorName(decoder.Decode(Without("team"), &event).error), "missing_field");
}

TEST(JsonEventDecoderReuseTest, ShorterRecordAfterLongerOneIsNotConfusedByOldBytes) {
  JsonEventDecoder decoder;
  Event event;
  ASSERT_TRUE(decoder.Decode(RecordOfSize(8192), &event).ok());
  // A truncated record shorter than the buffer: the old bytes after it must not complete it.
  const std::string full = ToJson(MinimalFields());
  EXPECT_EQ(DecodeErrorName(decoder.Decode(full.substr(0, full.size() - 1), &event).error),
            "truncated");
  EXPECT_TRUE(decoder.Decode(full, &event).ok());
}

TEST(JsonEventDecoderReuseTest, ManyRecordsInARow) {
  JsonEventDecoder decoder;
  Event event;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "e-" + std::to_string(i);
    const std::string record = i % 3 == 2 ? With("type", Quote("bogus"))
                                          : With({{"event_id", Quote(id)},
                                                  {"time", std::to_string(kSampleMs + i)}});
    const DecodeStatus status = decoder.Decode(record, &event);
    if (i % 3 == 2) {
      ASSERT_EQ(DecodeErrorName(status.error), "unknown_type") << i;
    } else {
      ASSERT_TRUE(status.ok()) << i << ": " << status.message;
      ASSERT_EQ(event.event_id, id);
      ASSERT_EQ(event.time_ms, kSampleMs + i);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reason names: label values of ccpulse_dead_letters_total, so they are part of the interface.

TEST(DecodeErrorNameTest, NamesAreStable) {
  using E = DecodeError;
  const std::vector<std::pair<DecodeError, std::string_view>> names = {
      {E::kNone, "none"},
      {E::kEmptyRecord, "empty_record"},
      {E::kTooLarge, "too_large"},
      {E::kInvalidUtf8, "invalid_utf8"},
      {E::kInvalidJson, "invalid_json"},
      {E::kTruncated, "truncated"},
      {E::kNotObject, "not_object"},
      {E::kMissingField, "missing_field"},
      {E::kWrongType, "wrong_type"},
      {E::kUnknownType, "unknown_type"},
      {E::kUnknownChannel, "unknown_channel"},
      {E::kFieldTooLong, "field_too_long"},
      {E::kEmptyField, "empty_field"},
      {E::kBadTime, "bad_time"},
      {E::kTimeOutOfRange, "time_out_of_range"},
      {E::kDuplicateField, "duplicate_field"},
      {E::kUnmappedTeam, "unmapped_team"},
      {E::kMalformedRecord, "malformed_record"}};
  ASSERT_EQ(names.size(), static_cast<size_t>(kDecodeErrorCount));
  for (const auto& [error, name] : names) EXPECT_EQ(DecodeErrorName(error), name);
}

}  // namespace
}  // namespace ccpulse::schemas
