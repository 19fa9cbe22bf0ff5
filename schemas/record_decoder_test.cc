// Tests of the RecordDecoder base: format names, team attribution, the ccpulse.v1 path, the checks
// every format shares.
#include "schemas/record_decoder.h"

#include <gtest/gtest.h>

namespace ccpulse::schemas {
namespace {

TEST(RecordFormatTest, NamesRoundTrip) {
  for (int i = 0; i < kRecordFormatCount; ++i) {
    const auto format = static_cast<RecordFormat>(i);
    EXPECT_EQ(ParseRecordFormat(RecordFormatName(format)), format);
  }
  EXPECT_EQ(ParseRecordFormat("ccpulse.v2"), std::nullopt);
  EXPECT_EQ(RecordFormatNames(),
            "ccpulse.v1, amazon-connect, twilio-taskrouter, genesys-cloud, asterisk-queue-log, "
            "anonymous-bank-csv");
}

TEST(TeamMapTest, QueueBeforeAgentBeforeNativeTeam) {
  TeamMap teams;
  teams.queues["q1"] = "billing";
  teams.agents["a1"] = "sales";
  EXPECT_EQ(teams.Resolve("q1", "a1", "native"), "billing");
  EXPECT_EQ(teams.Resolve("q2", "a1", "native"), "sales");
  EXPECT_EQ(teams.Resolve("q2", "a2", "native"), "native");
  EXPECT_EQ(teams.Resolve("", "", ""), "");
}

TEST(CcpulseV1RecordDecoderTest, OneEventPerRecordAsTheJsonDecoder) {
  auto decoder = MakeRecordDecoder(RecordFormat::kCcpulseV1, {});
  DecodedRecord out;
  const DecodeStatus status = decoder->Decode(
      R"({"event_id":"e1","type":"answered","time":"2026-03-02T09:00:05Z","interaction_id":"i1","team":"billing"})",
      &out);
  ASSERT_TRUE(status.ok()) << status.message;
  ASSERT_EQ(out.count, 1);
  EXPECT_EQ(out.events[0].event_id, "e1");
  EXPECT_EQ(out.events[0].type, EventType::kAnswered);
  EXPECT_EQ(out.events[0].team, "billing");

  EXPECT_EQ(decoder->Decode(R"({"event_id":"e1"})", &out).error, DecodeError::kMissingField);
  EXPECT_EQ(out.count, 0) << "no events from a rejected record";
}

TEST(CcpulseV1RecordDecoderTest, LatestTimeApplies) {
  auto decoder = MakeRecordDecoder(RecordFormat::kCcpulseV1, {});
  decoder->SetLatestTime(0);
  DecodedRecord out;
  EXPECT_EQ(decoder->Decode(R"({"event_id":"e1","type":"queued","time":1000,"interaction_id":"i","team":"t"})", &out).error,
            DecodeError::kTimeOutOfRange);
}

TEST(RecordDecoderTest, EveryFormatRejectsEmptyAndOversizedRecords) {
  for (int i = 0; i < kRecordFormatCount; ++i) {
    RecordDecoder::Options options;
    options.max_record_bytes = 16;
    auto decoder = MakeRecordDecoder(static_cast<RecordFormat>(i), options);
    DecodedRecord out;
    EXPECT_EQ(decoder->Decode(" \r\n", &out).error, DecodeError::kEmptyRecord) << i;
    EXPECT_EQ(decoder->Decode(std::string(17, 'x'), &out).error, DecodeError::kTooLarge) << i;
  }
}

}  // namespace
}  // namespace ccpulse::schemas
