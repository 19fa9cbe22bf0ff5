// genesys-cloud: conversation detail events shaped as Genesys Cloud's notification topics
// v2.detail.events.conversation.{id}.<kind> (eventBody fields of AcdStartEvent, AcdEndEvent,
// UserEndEvent, AfterCallWorkEvent), complete, partial and malformed.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "schemas/record_decoder.h"

namespace ccpulse::schemas {
namespace {

constexpr std::string_view kConversation = "5d1c9b42-8c5e-4a43-9a36-9f3f0f0c2a11";

std::string Notification(std::string_view kind, std::string_view body) {
  return fmt::format(
      R"({{"topicName":"v2.detail.events.conversation.{}.{}","version":"2","eventBody":{{"eventTime":1735725605000,"conversationId":"{}","participantId":"p-1","sessionId":"s-acd","mediaType":"VOICE","direction":"INBOUND","ani":"tel:+15550100","dnis":"tel:+15550199","queueId":"queue-billing","divisionId":"d-1"{}}},"metadata":{{"CorrelationId":"x"}}}})",
      kConversation, kind, kConversation, body);
}

class GenesysTest : public ::testing::Test {
 protected:
  GenesysTest() {
    teams_.queues["queue-billing"] = "billing";
    teams_.agents["user-9"] = "sales";
    decoder_ = MakeRecordDecoder(RecordFormat::kGenesysCloud, {1 << 20, INT64_MAX, &teams_});
  }
  DecodeStatus Decode(std::string_view record) { return decoder_->Decode(record, &out_); }

  TeamMap teams_;
  std::unique_ptr<RecordDecoder> decoder_;
  DecodedRecord out_;
};

TEST_F(GenesysTest, AcdStartIsQueued) {
  ASSERT_TRUE(Decode(Notification("acd.start", "")).ok());
  ASSERT_EQ(out_.count, 1);
  const Event& e = out_.events[0];
  EXPECT_EQ(e.type, EventType::kQueued);
  EXPECT_EQ(e.interaction_id, kConversation);
  EXPECT_EQ(e.event_id, fmt::format("{}:s-acd:queued", kConversation));
  EXPECT_EQ(e.team, "billing");
  EXPECT_EQ(e.customer_id, "tel:+15550100");
  EXPECT_EQ(e.channel, Channel::kVoice);
  EXPECT_EQ(e.time_ms, 1735725605000);
}

TEST_F(GenesysTest, AcdEndByOutcome) {
  ASSERT_TRUE(Decode(Notification("acd.end", R"(,"acdOutcome":"ANSWERED","answeredUserId":"user-9","connectedDurationMs":4000)")).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kAnswered);
  EXPECT_EQ(out_.events[0].agent, "user-9");
  EXPECT_EQ(out_.events[0].team, "billing") << "the queue wins over the agent";
  ASSERT_TRUE(Decode(Notification("acd.end", R"(,"acdOutcome":"ABANDON")")).ok());
  EXPECT_EQ(out_.events[0].type, EventType::kAbandoned);
  ASSERT_TRUE(Decode(Notification("acd.end", R"(,"acdOutcome":"FLOW_OUT")")).ok());
  EXPECT_EQ(out_.events[0].type, EventType::kTransferred);
  ASSERT_TRUE(Decode(Notification("acd.end", R"(,"acdOutcome":"UNKNOWN")")).ok());
  EXPECT_EQ(out_.count, 0);
}

TEST_F(GenesysTest, UserEndIsTheAgentsOutcome) {
  ASSERT_TRUE(Decode(Notification("user.end", R"(,"userId":"user-9","disconnectType":"PEER","interactingDurationMs":180000)")).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kResolved);
  ASSERT_TRUE(Decode(Notification("user.end", R"(,"userId":"user-9","disconnectType":"CONSULT_TRANSFER","interactingDurationMs":1000)")).ok());
  EXPECT_EQ(out_.events[0].type, EventType::kTransferred);
  ASSERT_TRUE(Decode(Notification("user.end", R"(,"userId":"user-9","disconnectType":"NO_ANSWER_TRANSFER","alertingDurationMs":8000)")).ok());
  EXPECT_EQ(out_.count, 0) << "an alert that was not answered";
  ASSERT_TRUE(Decode(Notification("user.end", R"(,"userId":"user-9","disconnectType":"CLIENT")")).ok());
  EXPECT_EQ(out_.count, 0) << "never interacted";
}

TEST_F(GenesysTest, AgentMapWhenTheEventHasNoQueue) {
  const std::string record = fmt::format(
      R"({{"topicName":"v2.detail.events.conversation.{}.user.end","eventBody":{{"eventTime":1735725700000,"conversationId":"{}","sessionId":"s-user","userId":"user-9","disconnectType":"ENDPOINT","interactingDurationMs":5}}}})",
      kConversation, kConversation);
  ASSERT_TRUE(Decode(record).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].team, "sales");
}

TEST_F(GenesysTest, EventBridgeEnvelope) {
  const std::string record = fmt::format(
      R"({{"version":"0","detail-type":"v2.detail.events.conversation.{}.acd.start","source":"aws.partner/genesys.com/cloud/x/y","detail":{}}})",
      kConversation, Notification("acd.start", ""));
  ASSERT_TRUE(Decode(record).ok());
  EXPECT_EQ(out_.count, 1);
}

TEST_F(GenesysTest, IgnoredDetailEvents) {
  for (std::string_view kind : {"acw", "customer.start", "customer.end", "user.start", "flow.end", "attributes"}) {
    ASSERT_TRUE(Decode(Notification(kind, R"(,"wrapupCode":"w","userId":"user-9")")).ok()) << kind;
    EXPECT_EQ(out_.count, 0) << kind;
  }
}

TEST_F(GenesysTest, MalformedAndPartialRecords) {
  EXPECT_EQ(Decode(R"({"eventBody":{}})").error, DecodeError::kMissingField);
  EXPECT_EQ(Decode(R"({"topicName":"v2.users.abc.activity","eventBody":{}})").error, DecodeError::kUnknownType);
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start"})").error, DecodeError::kMissingField);
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start","eventBody":{"conversationId":"c1","queueId":"queue-billing"}})").error,
            DecodeError::kMissingField) << "no eventTime";
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start","eventBody":{"eventTime":true,"conversationId":"c1"}})").error,
            DecodeError::kWrongType);
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start","eventBody":{"eventTime":1735725605000,"queueId":"queue-billing"}})").error,
            DecodeError::kMissingField) << "no conversationId";
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start","eventBody":{"eventTime":1735725605000,"conversationId":"c1","queueId":"queue-x"}})").error,
            DecodeError::kUnmappedTeam);
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.events.conversation.c1.acd.start","eventBody":{"eventTime":-5,"conversationId":"c1","queueId":"queue-billing"}})").error,
            DecodeError::kTimeOutOfRange);
  EXPECT_EQ(Decode(R"({"topicName":"v2.detail.)").error, DecodeError::kTruncated);
  EXPECT_EQ(out_.count, 0);
}

}  // namespace
}  // namespace ccpulse::schemas
