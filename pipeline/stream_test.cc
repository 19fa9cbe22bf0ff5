// StreamProcessor decoding (pipeline/stream.h): each topic's records go through that topic's
// format, a record's events are all applied, and what does not decode is dead-lettered once.
#include "pipeline/stream.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ccpulse {
namespace {

// Partition 0 is "events[0]" (ccpulse.v1), partition 1 "calls[0]"; one batch, then nothing.
class OneBatchSource final : public RecordSource {
 public:
  explicit OneBatchSource(std::vector<SourceRecord> records) : records_(std::move(records)) {}
  SourceBatch Poll(int) override {
    SourceBatch batch;
    if (polled_) return batch;
    polled_ = true;
    batch.kind = SourceBatch::Kind::kRecords;
    batch.records = records_;
    return batch;
  }
  void Release(SourceBatch&) override {}
  void Commit(const std::vector<SourcePosition>&, bool) override {}
  void AcknowledgeRevoke() override {}
  std::string PartitionName(int32_t partition) const override {
    return partition == 0 ? "events[0]" : "calls[0]";
  }
  std::vector<std::pair<int32_t, int64_t>> HighWatermarks() override { return {}; }

 private:
  std::vector<SourceRecord> records_;
  bool polled_ = false;
};

class RecordingDeadLetters final : public DeadLetterSink {
 public:
  bool Write(const SourceRecord& record, std::string_view source_name, std::string_view reason,
             std::string_view) override {
    written.push_back(std::string(source_name) + "@" + std::to_string(record.offset) + ":" + std::string(reason));
    return true;
  }
  void Poll() override {}
  int64_t LowestPendingOffset(int32_t) const override { return INT64_MAX; }
  absl::Status Flush(int) override { return absl::OkStatus(); }
  uint64_t delivered() const override { return written.size(); }
  uint64_t failed() const override { return 0; }

  std::vector<std::string> written;
};

TEST(StreamProcessorTest, EachTopicIsDecodedInItsFormat) {
  const std::string v1 =
      R"({"event_id":"e1","type":"queued","time":"2010-08-01T09:00:00Z","interaction_id":"i1","team":"care"})";
  const std::string served =
      "AA0101,44749,12345678,2,PS,2010-08-01,9:59:47,9:59:53,6,9:59:53,10:00:24,31,AGENT,10:00:23,10:04:04,221,ANAT";
  OneBatchSource source({{{}, v1, 0, 0},
                         {{}, "vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,q_start,q_exit,q_time,outcome,ser_start,ser_exit,ser_time,server", 1, 0},
                         {{}, served, 1, 1},
                         {{}, "AA0101,44749,truncated", 1, 2},
                         {{}, served, 0, 1}});
  RecordingDeadLetters dead_letters;
  StreamProcessor::Options options;
  options.topic_formats["calls"] = schemas::RecordFormat::kAnonymousBankCsv;
  options.team_map.queues["PS"] = "retail";
  StreamProcessor processor(options, &source, &dead_letters, nullptr, nullptr);
  ASSERT_TRUE(processor.Step(0));

  const StreamCounters& c = processor.counters();
  EXPECT_EQ(c.records, 5u);
  EXPECT_EQ(c.decoded, 3u) << "the v1 event, the header (no events) and the served call";
  EXPECT_EQ(c.invalid[static_cast<size_t>(schemas::DecodeError::kMalformedRecord)], 1u);
  EXPECT_EQ(c.invalid[static_cast<size_t>(schemas::DecodeError::kInvalidJson)], 1u)
      << "a CSV row on the ccpulse.v1 topic";
  EXPECT_EQ(processor.engine().counters().applied, 4u) << "1 + queued, answered, resolved";
  EXPECT_EQ(dead_letters.written, (std::vector<std::string>{"calls[0]@2:malformed_record", "events[0]@1:invalid_json"}));
  EXPECT_EQ(processor.engine().team_count(), 2u);
}

}  // namespace
}  // namespace ccpulse
