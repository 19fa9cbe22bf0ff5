// asterisk-queue-log: queue_log lines as Asterisk's "Queue Logs" page defines them
// (time|callid|queue|agent|event|data...), complete, partial and malformed.
#include <gtest/gtest.h>

#include "schemas/record_decoder.h"

namespace ccpulse::schemas {
namespace {

class AsteriskTest : public ::testing::Test {
 protected:
  AsteriskTest() {
    teams_.queues["support"] = "support-team";
    decoder_ = MakeRecordDecoder(RecordFormat::kAsteriskQueueLog, {1 << 20, INT64_MAX, &teams_});
  }
  DecodeStatus Decode(std::string_view record) { return decoder_->Decode(record, &out_); }

  TeamMap teams_;
  std::unique_ptr<RecordDecoder> decoder_;
  DecodedRecord out_;
};

TEST_F(AsteriskTest, AnsweredCall) {
  ASSERT_TRUE(Decode("1366720340|1366720340.303267|support|NONE|ENTERQUEUE||5551234|1").ok());
  ASSERT_EQ(out_.count, 1);
  const Event& queued = out_.events[0];
  EXPECT_EQ(queued.type, EventType::kQueued);
  EXPECT_EQ(queued.time_ms, 1366720340000);
  EXPECT_EQ(queued.interaction_id, "1366720340.303267");
  EXPECT_EQ(queued.event_id, "1366720340.303267:support:queued");
  EXPECT_EQ(queued.team, "support-team");
  EXPECT_EQ(queued.customer_id, "5551234");
  EXPECT_EQ(queued.agent, "");
  EXPECT_EQ(queued.channel, Channel::kVoice);

  ASSERT_TRUE(Decode("1366720352|1366720340.303267|support|SIP/8007|CONNECT|12|1366720345.303270|3").ok());
  EXPECT_EQ(out_.events[0].type, EventType::kAnswered);
  EXPECT_EQ(out_.events[0].agent, "SIP/8007");
  ASSERT_TRUE(Decode("1366720500|1366720340.303267|support|SIP/8007|COMPLETECALLER|12|148|1").ok());
  EXPECT_EQ(out_.events[0].type, EventType::kResolved);
  ASSERT_TRUE(Decode("1366720500|1366720340.303268|support|SIP/8007|COMPLETEAGENT|12|148|1").ok());
  EXPECT_EQ(out_.events[0].type, EventType::kResolved);
}

TEST_F(AsteriskTest, UnansweredEndsAndTransfers) {
  for (std::string_view line : {"1366720400|1.1|support|NONE|ABANDON|2|3|40",
                                "1366720400|1.2|support|NONE|EXITWITHTIMEOUT|2|3|300",
                                "1366720400|1.3|support|NONE|EXITWITHKEY|5|2|3|40",
                                "1366720400|1.4|support|NONE|EXITEMPTY|2|3|40"}) {
    ASSERT_TRUE(Decode(line).ok()) << line;
    ASSERT_EQ(out_.count, 1);
    EXPECT_EQ(out_.events[0].type, EventType::kAbandoned) << line;
  }
  for (std::string_view line : {"1366720400|1.5|support|SIP/8007|TRANSFER|200|default|10|60|1",
                                "1366720400|1.6|support|SIP/8007|BLINDTRANSFER|200|default|10|60|1",
                                "1366720400|1.7|support|SIP/8007|ATTENDEDTRANSFER|BRIDGE|x|10|60|1"}) {
    ASSERT_TRUE(Decode(line).ok()) << line;
    EXPECT_EQ(out_.events[0].type, EventType::kTransferred) << line;
  }
}

TEST_F(AsteriskTest, FractionalSecondsAndIgnoredEvents) {
  ASSERT_TRUE(Decode("1366720340.25|1.8|support|NONE|ENTERQUEUE||unknown|1").ok());
  EXPECT_EQ(out_.events[0].time_ms, 1366720340250);
  EXPECT_EQ(out_.events[0].customer_id, "") << "caller id 'unknown' is no customer";
  for (std::string_view line : {"1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000",
                                "1366720340|NONE|NONE|NONE|QUEUESTART|", "1366720340|NONE|support|SIP/8007|ADDMEMBER|",
                                "1366720340|NONE|support|Agent/3001|PAUSE|", "1366720340|1.9|support|NONE|JOINEMPTY|1|2|3"}) {
    ASSERT_TRUE(Decode(line).ok()) << line;
    EXPECT_EQ(out_.count, 0) << line;
  }
}

TEST_F(AsteriskTest, MalformedAndPartialLines) {
  EXPECT_EQ(Decode("1366720340|1.1|support").error, DecodeError::kMalformedRecord);
  EXPECT_EQ(Decode("yesterday|1.1|support|NONE|ENTERQUEUE||555|1").error, DecodeError::kBadTime);
  EXPECT_EQ(Decode("1366720340.|1.1|support|NONE|ENTERQUEUE||555|1").error, DecodeError::kBadTime);
  EXPECT_EQ(Decode("1366720340|1.1|support|NONE|EXPLODE|").error, DecodeError::kUnknownType);
  EXPECT_EQ(Decode("1366720340|NONE|support|NONE|ABANDON|1|1|1").error, DecodeError::kMissingField);
  EXPECT_EQ(Decode("1366720340|1.1|sales|NONE|ENTERQUEUE||555|1").error, DecodeError::kUnmappedTeam);
  EXPECT_EQ(Decode("1366720340|1.1|" + std::string(65, 'q') + "|NONE|ENTERQUEUE||555|1").error,
            DecodeError::kFieldTooLong);
  EXPECT_EQ(out_.count, 0);
}

}  // namespace
}  // namespace ccpulse::schemas
