// anonymous-bank-csv: rows in the layout of shared/data/anonymous-bank-call-log (header, served,
// abandoned, VRU-only and direct calls), complete, partial and malformed.
#include <gtest/gtest.h>

#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas {
namespace {

constexpr std::string_view kHeader =
    "vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,q_start,q_exit,q_time,"
    "outcome,ser_start,ser_exit,ser_time,server";

TimeMs At(std::string_view clock) { return *ParseRfc3339(std::string("2010-08-01T") + std::string(clock) + "Z"); }

class AnonymousBankCsvTest : public ::testing::Test {
 protected:
  AnonymousBankCsvTest() { decoder_ = MakeRecordDecoder(RecordFormat::kAnonymousBankCsv, {1 << 20, INT64_MAX, &teams_}); }
  DecodeStatus Decode(std::string_view record) { return decoder_->Decode(record, &out_); }

  TeamMap teams_;
  std::unique_ptr<RecordDecoder> decoder_;
  DecodedRecord out_;
};

TEST_F(AnonymousBankCsvTest, HeaderYieldsNothing) {
  ASSERT_TRUE(Decode(kHeader).ok());
  EXPECT_EQ(out_.count, 0);
}

TEST_F(AnonymousBankCsvTest, ServedCallIsQueuedAnsweredResolved) {
  ASSERT_TRUE(Decode("AA0101,44749,12345678,2,PS,2010-08-01,9:59:47,9:59:53,6,9:59:53,10:00:24,31,AGENT,10:00:23,10:04:04,221,ANAT\r").ok());
  ASSERT_EQ(out_.count, 3);
  const Event& queued = out_.events[0];
  EXPECT_EQ(queued.type, EventType::kQueued);
  EXPECT_EQ(queued.time_ms, At("09:59:53"));
  EXPECT_EQ(queued.interaction_id, "44749@2010-08-01T9:59:47");
  EXPECT_EQ(queued.event_id, "44749@2010-08-01T9:59:47:queued");
  EXPECT_EQ(queued.team, "PS") << "the queue type is the team";
  EXPECT_EQ(queued.queue, "PS");
  EXPECT_EQ(queued.customer_id, "12345678");
  EXPECT_EQ(queued.agent, "");
  EXPECT_EQ(out_.events[1].type, EventType::kAnswered);
  EXPECT_EQ(out_.events[1].time_ms, At("10:00:24")) << "answered when the call left the queue";
  EXPECT_EQ(out_.events[1].agent, "ANAT");
  EXPECT_EQ(out_.events[2].type, EventType::kResolved);
  EXPECT_EQ(out_.events[2].time_ms, At("10:04:04"));
}

TEST_F(AnonymousBankCsvTest, HangUpInQueueIsAbandoned) {
  ASSERT_TRUE(Decode("AA0203,44973,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:38:58,139,HANG,0:00:00,0:00:00,0,NO_SERVER").ok());
  ASSERT_EQ(out_.count, 2);
  EXPECT_EQ(out_.events[1].type, EventType::kAbandoned);
  EXPECT_EQ(out_.events[1].time_ms, At("10:38:58"));
  EXPECT_EQ(out_.events[0].customer_id, "") << "customer_id 0 is unidentified";
  ASSERT_TRUE(Decode("AA0203,44974,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:38:58,139,PHANTOM,10:38:58,10:39:01,3,NO_SERVER").ok());
  EXPECT_EQ(out_.events[1].type, EventType::kAbandoned);
}

TEST_F(AnonymousBankCsvTest, VruOnlyAndDirectCalls) {
  ASSERT_TRUE(Decode("AA0204,43678,0,0,PS,2010-08-01,0:10:10,0:10:27,17,0:00:00,0:00:00,0,HANG,0:00:00,0:00:00,0,NO_SERVER").ok());
  EXPECT_EQ(out_.count, 0) << "hung up in the VRU";
  ASSERT_TRUE(Decode("AA0104,31129,0,0,PS,2010-08-01,10:00:21,10:00:31,10,0:00:00,0:00:00,0,AGENT,10:00:30,10:02:09,99,NAAMA").ok());
  ASSERT_EQ(out_.count, 3);
  EXPECT_EQ(out_.events[0].time_ms, At("10:00:30"));
  EXPECT_EQ(out_.events[1].time_ms, At("10:00:30")) << "no wait";
  EXPECT_EQ(out_.events[2].time_ms, At("10:02:09"));
}

TEST_F(AnonymousBankCsvTest, QueueMapRenamesTheTeam) {
  teams_.queues["PS"] = "retail";
  ASSERT_TRUE(Decode("AA0203,44975,0,0,PS,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:38:58,139,HANG,0:00:00,0:00:00,0,NO_SERVER").ok());
  EXPECT_EQ(out_.events[0].team, "retail");
}

TEST_F(AnonymousBankCsvTest, MalformedAndPartialRows) {
  EXPECT_EQ(Decode("AA0203,44973,0,0,NW,2010-08-01").error, DecodeError::kMalformedRecord);
  EXPECT_EQ(Decode(std::string(kHeader) + ",extra").error, DecodeError::kMalformedRecord);
  EXPECT_EQ(Decode("AA0203,44973,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:78:58,139,HANG,0:00:00,0:00:00,0,NO_SERVER").error,
            DecodeError::kBadTime);
  EXPECT_EQ(Decode("AA0203,44973,0,0,NW,01/08/2010,10:36:34,10:36:39,5,10:36:39,10:38:58,139,HANG,0:00:00,0:00:00,0,NO_SERVER").error,
            DecodeError::kBadTime);
  EXPECT_EQ(Decode("AA0203,44973,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:38:58,10:36:39,0,HANG,0:00:00,0:00:00,0,NO_SERVER").error,
            DecodeError::kBadTime) << "leaves the queue before entering it";
  EXPECT_EQ(Decode("AA0203,44973,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:38:58,139,TRANSFER,0:00:00,0:00:00,0,NO_SERVER").error,
            DecodeError::kUnknownType);
  EXPECT_EQ(Decode("AA0203,,0,0,NW,2010-08-01,10:36:34,10:36:39,5,10:36:39,10:38:58,139,HANG,0:00:00,0:00:00,0,NO_SERVER").error,
            DecodeError::kEmptyField);
  EXPECT_EQ(out_.count, 0);
}

}  // namespace
}  // namespace ccpulse::schemas
