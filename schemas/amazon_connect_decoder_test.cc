// amazon-connect: contact events shaped as the Amazon Connect admin guide's samples
// ("Amazon Connect contact events", EventBridge envelope), complete, partial and malformed.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas {
namespace {

constexpr std::string_view kQueueArn =
    "arn:aws:connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012/queue/q-billing";
constexpr std::string_view kAgentArn =
    "arn:aws:connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012/agent/agent-7";

// An EventBridge contact event around `detail`.
std::string Envelope(std::string_view detail) {
  return fmt::format(R"({{"version":"0","id":"abcabcab-abca-abca-abca-abcabcabcabc","detail-type":"Amazon Connect Contact Event","source":"aws.connect","account":"111122223333","time":"2021-08-04T17:43:48Z","region":"us-west-2","resources":[],"detail":{}}})",
                     detail);
}

std::string Queued(std::string_view contact, std::string_view queue_arn = kQueueArn) {
  return Envelope(fmt::format(
      R"({{"eventType":"QUEUED","contactId":"{}","initialContactId":"{}","channel":"VOICE","initiationMethod":"INBOUND","customerId":"cust-42","initiationTimestamp":"2021-08-04T17:28:50.000Z","queueInfo":{{"queueType":"STANDARD","queueArn":"{}","enqueueTimestamp":"2021-08-04T17:29:04.000Z"}}}})",
      contact, contact, queue_arn));
}

class AmazonConnectTest : public ::testing::Test {
 protected:
  AmazonConnectTest() {
    teams_.queues["q-billing"] = "billing";
    teams_.queues["q-sales"] = "sales";
    decoder_ = MakeRecordDecoder(RecordFormat::kAmazonConnect, {1 << 20, INT64_MAX, &teams_});
  }
  DecodeStatus Decode(std::string_view record) { return decoder_->Decode(record, &out_); }

  TeamMap teams_;
  std::unique_ptr<RecordDecoder> decoder_;
  DecodedRecord out_;
};

TEST_F(AmazonConnectTest, QueuedBecomesQueuedAtTheQueuesTeam) {
  ASSERT_TRUE(Decode(Queued("c-1")).ok());
  ASSERT_EQ(out_.count, 1);
  const Event& e = out_.events[0];
  EXPECT_EQ(e.type, EventType::kQueued);
  EXPECT_EQ(e.event_id, "c-1:queued");
  EXPECT_EQ(e.interaction_id, "c-1");
  EXPECT_EQ(e.team, "billing");
  EXPECT_EQ(e.queue, "q-billing");
  EXPECT_EQ(e.customer_id, "cust-42");
  EXPECT_EQ(e.channel, Channel::kVoice);
  EXPECT_EQ(e.time_ms, *ParseRfc3339("2021-08-04T17:29:04Z"));
}

TEST_F(AmazonConnectTest, ConnectedToAgentWithThePascalCaseKeysOfTheDocSample) {
  const std::string record = Envelope(fmt::format(
      R"({{"ContactId":"c-1","Channel":"VOICE","InitiationMethod":"INBOUND","EventType":"CONNECTED_TO_AGENT","AgentInfo":{{"AgentArn":"{}","ConnectedToAgentTimestamp":"2021-08-04T17:29:09.000Z"}},"QueueInfo":{{"QueueType":"type","QueueArn":"{}","EnqueueTimestamp":"2021-08-04T17:29:04.000Z"}}}})",
      kAgentArn, kQueueArn));
  ASSERT_TRUE(Decode(record).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kAnswered);
  EXPECT_EQ(out_.events[0].agent, "agent-7");
  EXPECT_EQ(out_.events[0].team, "billing");
  EXPECT_EQ(out_.events[0].event_id, "c-1:answered");
  EXPECT_EQ(out_.events[0].time_ms, *ParseRfc3339("2021-08-04T17:29:09Z"));
}

TEST_F(AmazonConnectTest, DisconnectedIsResolvedWhenAnsweredAbandonedWhenOnlyQueued) {
  const std::string answered = Envelope(fmt::format(
      R"({{"eventType":"DISCONNECTED","contactId":"c-1","channel":"CHAT","initiationMethod":"API","disconnectTimestamp":"2021-08-04T17:38:37.000Z","queueInfo":{{"queueArn":"{}","enqueueTimestamp":"2021-08-04T17:29:04.000Z"}},"agentInfo":{{"agentArn":"{}","connectedToAgentTimestamp":"2021-08-04T17:29:09.000Z"}}}})",
      kQueueArn, kAgentArn));
  ASSERT_TRUE(Decode(answered).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kResolved);
  EXPECT_EQ(out_.events[0].channel, Channel::kChat);
  EXPECT_EQ(out_.events[0].time_ms, *ParseRfc3339("2021-08-04T17:38:37Z"));

  const std::string abandoned = Envelope(fmt::format(
      R"({{"eventType":"DISCONNECTED","contactId":"c-2","initiationMethod":"INBOUND","disconnectTimestamp":"2021-08-04T17:30:00.000Z","queueInfo":{{"queueArn":"{}","enqueueTimestamp":"2021-08-04T17:29:04.000Z"}}}})",
      kQueueArn));
  ASSERT_TRUE(Decode(abandoned).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kAbandoned);
  EXPECT_EQ(out_.events[0].event_id, "c-2:abandoned");

  const std::string in_flow = Envelope(
      R"({"eventType":"DISCONNECTED","contactId":"c-3","initiationMethod":"INBOUND","disconnectTimestamp":"2021-08-04T17:30:00.000Z"})");
  ASSERT_TRUE(Decode(in_flow).ok());
  EXPECT_EQ(out_.count, 0) << "a contact that never queued is not queue work";
}

TEST_F(AmazonConnectTest, TransferIsChargedToThePreviousContactsTeam) {
  ASSERT_TRUE(Decode(Queued("c-1")).ok());
  const std::string transfer = Envelope(
      R"({"eventType":"INITIATED","contactId":"c-2","initialContactId":"c-1","previousContactId":"c-1","channel":"VOICE","initiationMethod":"TRANSFER","initiationTimestamp":"2021-08-04T17:35:00.000Z"})");
  ASSERT_TRUE(Decode(transfer).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kTransferred);
  EXPECT_EQ(out_.events[0].team, "billing");
  EXPECT_EQ(out_.events[0].interaction_id, "c-1");
  EXPECT_EQ(out_.events[0].event_id, "c-1:transferred");

  // The transferred contact's own disconnect is not a second outcome.
  const std::string disconnected = Envelope(fmt::format(
      R"({{"eventType":"DISCONNECTED","contactId":"c-1","initiationMethod":"INBOUND","disconnectTimestamp":"2021-08-04T17:35:01.000Z","queueInfo":{{"queueArn":"{}","enqueueTimestamp":"2021-08-04T17:29:04.000Z"}}}})",
      kQueueArn));
  ASSERT_TRUE(Decode(disconnected).ok());
  EXPECT_EQ(out_.count, 0);

  // The new contact continues the same interaction at its own queue.
  const std::string requeued = Envelope(
      R"({"eventType":"QUEUED","contactId":"c-2","initialContactId":"c-1","previousContactId":"c-1","initiationMethod":"TRANSFER","queueInfo":{"queueArn":"arn:aws:connect:::instance/x/queue/q-sales","enqueueTimestamp":"2021-08-04T17:35:02.000Z"}})");
  ASSERT_TRUE(Decode(requeued).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].interaction_id, "c-1");
  EXPECT_EQ(out_.events[0].team, "sales");
  EXPECT_EQ(out_.events[0].event_id, "c-2:queued");

  // A transfer whose previous contact was never seen yields nothing.
  ASSERT_TRUE(Decode(Envelope(R"({"eventType":"INITIATED","contactId":"c-9","previousContactId":"c-8","initiationMethod":"TRANSFER","initiationTimestamp":"2021-08-04T17:35:00.000Z"})")).ok());
  EXPECT_EQ(out_.count, 0);
}

TEST_F(AmazonConnectTest, BareDetailIsAccepted) {
  const std::string detail = fmt::format(
      R"({{"eventType":"QUEUED","contactId":"c-5","queueInfo":{{"queueArn":"{}","enqueueTimestamp":"2021-08-04T17:29:04.000Z"}}}})", kQueueArn);
  ASSERT_TRUE(Decode(detail).ok());
  EXPECT_EQ(out_.count, 1);
}

TEST_F(AmazonConnectTest, IgnoredEventsAndOtherDetailTypes) {
  for (std::string_view type : {"COMPLETED", "CONNECTED_TO_SYSTEM", "CONTACT_DATA_UPDATED", "AMD_DISABLED", "PAUSED"}) {
    ASSERT_TRUE(Decode(Envelope(fmt::format(R"({{"eventType":"{}","contactId":"c-1"}})", type))).ok()) << type;
    EXPECT_EQ(out_.count, 0) << type;
  }
  EXPECT_TRUE(Decode(R"({"detail-type":"Contact Lens Analysis State Change","detail":{}})").ok());
  EXPECT_EQ(out_.count, 0);
  const std::string outbound = Envelope(fmt::format(
      R"({{"eventType":"CONNECTED_TO_AGENT","contactId":"c-6","initiationMethod":"OUTBOUND","agentInfo":{{"agentArn":"{}","connectedToAgentTimestamp":"2021-08-04T17:29:09.000Z"}}}})", kAgentArn));
  EXPECT_TRUE(Decode(outbound).ok());
  EXPECT_EQ(out_.count, 0) << "outbound calls are not queue work";
}

TEST_F(AmazonConnectTest, MalformedAndPartialRecords) {
  EXPECT_EQ(Decode(Envelope(R"({"eventType":"ESCALATED","contactId":"c-1"})")).error, DecodeError::kUnknownType);
  EXPECT_EQ(Decode(Envelope(R"({"eventType":"QUEUED"})")).error, DecodeError::kMissingField);
  EXPECT_EQ(Decode(Envelope(R"({"eventType":7,"contactId":"c-1"})")).error, DecodeError::kWrongType);
  EXPECT_EQ(Decode(Envelope(R"({"eventType":"QUEUED","contactId":"c-1"})")).error, DecodeError::kMissingField)
      << "QUEUED without queueInfo";
  EXPECT_EQ(Decode(Queued("c-1", "arn:aws:connect:::instance/x/queue/q-unknown")).error, DecodeError::kUnmappedTeam);
  EXPECT_EQ(Decode(Envelope(R"({"eventType":"QUEUED","contactId":"c-1","queueInfo":{"queueArn":"a/q-billing","enqueueTimestamp":"yesterday"}})")).error,
            DecodeError::kBadTime);
  EXPECT_EQ(Decode(Envelope(R"({"eventType":"QUEUED","contactId":"c-1","queueInfo":"q-billing"})")).error,
            DecodeError::kWrongType);
  EXPECT_EQ(Decode(R"({"detail":{"eventType":"QUEUED",)").error, DecodeError::kTruncated);
  EXPECT_EQ(Decode("{not json}").error, DecodeError::kInvalidJson);
  EXPECT_EQ(Decode("[1,2]").error, DecodeError::kNotObject);
  EXPECT_EQ(out_.count, 0);
}

TEST_F(AmazonConnectTest, TimeAfterTheLatestAcceptedIsOutOfRange) {
  decoder_->SetLatestTime(*ParseRfc3339("2021-01-01T00:00:00Z"));
  EXPECT_EQ(Decode(Queued("c-1")).error, DecodeError::kTimeOutOfRange);
}

}  // namespace
}  // namespace ccpulse::schemas
