// twilio-taskrouter: Event Streams CloudEvents shaped as Twilio's TaskRouter event-type samples
// (type com.twilio.taskrouter.*, data.payload with snake_case fields), complete, partial and
// malformed.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas {
namespace {

// A CloudEvent of TaskRouter `type` whose payload has the common fields plus `extra`.
std::string Event(std::string_view type, std::string_view extra = "",
                  std::string_view queue = R"("task_queue_sid":"WQ0001","task_queue_name":"Billing",)") {
  return fmt::format(
      R"({{"specversion":"1.0","type":"com.twilio.taskrouter.{}","source":"AB0001","id":"NO0001","dataschema":"https://events-schemas.twilio.com/TaskRouter.WDSEvent/4","data":{{"sid":"EV0001","timestamp":"2025-01-01T00:00:00.000Z","product_name":"TaskRouter","payload_type":"application/json","payload":{{"sid":"EV0001","eventtype":"{}","account_sid":"AC0001","timestamp":"2025-01-01T10:00:05.000Z","workspace_sid":"WS0001","task_sid":"WT0001","task_attributes":"{{\"from\":\"+15550100\",\"direction\":\"inbound\"}}",{}"task_channel_unique_name":"voice"{}}}}}}})",
      type, type, queue, extra);
}

class TwilioTest : public ::testing::Test {
 protected:
  TwilioTest() {
    teams_.queues["WQ0001"] = "billing";
    teams_.queues["WQ0002"] = "sales";
    decoder_ = MakeRecordDecoder(RecordFormat::kTwilioTaskRouter, {1 << 20, INT64_MAX, &teams_});
  }
  DecodeStatus Decode(std::string_view record) { return decoder_->Decode(record, &out_); }

  TeamMap teams_;
  std::unique_ptr<RecordDecoder> decoder_;
  DecodedRecord out_;
};

TEST_F(TwilioTest, TaskLifecycle) {
  ASSERT_TRUE(Decode(Event("task.created")).ok());
  ASSERT_EQ(out_.count, 1);
  const schemas::Event& queued = out_.events[0];
  EXPECT_EQ(queued.type, EventType::kQueued);
  EXPECT_EQ(queued.event_id, "WT0001:queued:WQ0001");
  EXPECT_EQ(queued.interaction_id, "WT0001");
  EXPECT_EQ(queued.team, "billing");
  EXPECT_EQ(queued.customer_id, "+15550100") << "from task_attributes";
  EXPECT_EQ(queued.channel, Channel::kVoice);
  EXPECT_EQ(queued.time_ms, *ParseRfc3339("2025-01-01T10:00:05Z"));

  ASSERT_TRUE(Decode(Event("reservation.accepted", R"(,"worker_sid":"WK0007","worker_name":"alice","reservation_sid":"WR0001")")).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kAnswered);
  EXPECT_EQ(out_.events[0].agent, "WK0007");
  EXPECT_EQ(out_.events[0].event_id, "WT0001:answered");

  ASSERT_TRUE(Decode(Event("task.completed", R"(,"task_completed_reason":"done")")).ok());
  EXPECT_EQ(out_.events[0].type, EventType::kResolved);
  ASSERT_TRUE(Decode(Event("task.canceled", R"(,"task_canceled_reason":"hangup")")).ok());
  EXPECT_EQ(out_.events[0].type, EventType::kAbandoned);
}

TEST_F(TwilioTest, TaskCreatedBeforeRoutingWaitsForTaskQueueEntered) {
  ASSERT_TRUE(Decode(Event("task.created", "", "")).ok());
  EXPECT_EQ(out_.count, 0);
  ASSERT_TRUE(Decode(Event("task-queue.entered", "", R"("task_queue_sid":"WQ0002",)")).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kQueued);
  EXPECT_EQ(out_.events[0].team, "sales");
  EXPECT_EQ(out_.events[0].event_id, "WT0001:queued:WQ0002");
}

TEST_F(TwilioTest, TransferInitiatedLeavesTheCurrentQueuesTeam) {
  ASSERT_TRUE(Decode(Event("task.transfer-initiated", R"(,"transfer_to":"WQ0002","transfer_type":"QUEUE","transfer_mode":"COLD")")).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].type, EventType::kTransferred);
  EXPECT_EQ(out_.events[0].team, "billing");
  EXPECT_EQ(out_.events[0].to_team, "sales");
}

TEST_F(TwilioTest, IgnoredEvents) {
  for (std::string_view type : {"reservation.created", "reservation.rejected", "task.wrapup", "task.updated",
                                "worker.activity.update", "task-queue.moved", "task.transfer-completed"}) {
    ASSERT_TRUE(Decode(Event(type)).ok()) << type;
    EXPECT_EQ(out_.count, 0) << type;
  }
}

TEST_F(TwilioTest, MalformedAndPartialRecords) {
  EXPECT_EQ(Decode(Event("task.exploded")).error, DecodeError::kUnknownType);
  EXPECT_EQ(Decode(R"({"type":"com.twilio.messaging.message.sent","data":{}})").error, DecodeError::kUnknownType);
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.created"})").error, DecodeError::kMissingField);
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.created","data":{"sid":"EV1"}})").error, DecodeError::kMissingField);
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.completed","data":{"payload":{"task_queue_sid":"WQ0001","timestamp":"2025-01-01T10:00:05Z"}}})").error,
            DecodeError::kMissingField) << "no task_sid";
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.completed","data":{"payload":{"task_sid":"WT1","task_queue_sid":"WQ0001"}}})").error,
            DecodeError::kMissingField) << "no timestamp";
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.completed","data":{"payload":{"task_sid":"WT1","task_queue_sid":"WQ0001","timestamp":"01/01/2025"}}})").error,
            DecodeError::kBadTime);
  EXPECT_EQ(Decode(Event("task.created", "", R"("task_queue_sid":"WQ9999",)")).error, DecodeError::kUnmappedTeam);
  EXPECT_EQ(Decode(R"({"type":"com.twilio.taskrouter.task.created","data":{"payload":)").error, DecodeError::kTruncated);
  EXPECT_EQ(Decode(R"({"type":42})").error, DecodeError::kWrongType);
  EXPECT_EQ(out_.count, 0);
}

TEST_F(TwilioTest, UnparseableTaskAttributesOnlyLoseTheCustomer) {
  const std::string record = fmt::format(
      R"({{"type":"com.twilio.taskrouter.task.created","data":{{"payload":{{"task_sid":"WT2","task_queue_sid":"WQ0001","timestamp":"2025-01-01T10:00:05Z","task_attributes":"not json"}}}}}})");
  ASSERT_TRUE(Decode(record).ok());
  ASSERT_EQ(out_.count, 1);
  EXPECT_EQ(out_.events[0].customer_id, "");
}

}  // namespace
}  // namespace ccpulse::schemas
