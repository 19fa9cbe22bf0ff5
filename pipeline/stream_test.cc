// StreamProcessor decoding (pipeline/stream.h): each topic's records go through that topic's
// format, a record's events are all applied, and what does not decode is dead-lettered once.
#include "pipeline/stream.h"

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gtest/gtest.h"
#include "pipeline/memory_sources.h"

namespace ccpulse {
namespace {

TEST(PartitionNameTest, SplitsTopicAndPartition) {
  const std::optional<TopicPartition> parsed = ParsePartitionName("calls.v1[12]");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->topic, "calls.v1");
  EXPECT_EQ(parsed->partition, 12);
  EXPECT_EQ(ParsePartitionName("odd[name][3]")->topic, "odd[name]");
  for (std::string_view bad : {"calls", "calls[]", "[3]", "calls[3", "calls[-1]", "calls[3x]", "calls[07]", "calls[99999999999]"}) {
    EXPECT_FALSE(ParsePartitionName(bad).has_value()) << bad;
  }
}

TEST(StreamProcessorTest, EachTopicIsDecodedInItsFormat) {
  const std::string v1 =
      R"({"event_id":"e1","type":"queued","time":"2010-08-01T09:00:00Z","interaction_id":"i1","team":"care"})";
  const std::string served =
      "AA0101,44749,12345678,2,PS,2010-08-01,9:59:47,9:59:53,6,9:59:53,10:00:24,31,AGENT,10:00:23,10:04:04,221,ANAT";
  // Partition 0 is "events[0]" (ccpulse.v1), partition 1 "calls[0]".
  ScriptedSource source({ScriptedSource::Records({{{}, v1, 0, 0},
                         {{}, "vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,q_start,q_exit,q_time,outcome,ser_start,ser_exit,ser_time,server", 1, 0},
                         {{}, served, 1, 1},
                         {{}, "AA0101,44749,truncated", 1, 2},
                         {{}, served, 0, 1}})});
  source.names = {"events[0]", "calls[0]"};
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


// A topic written in transactions ends each transaction with a marker, which is no record: the
// source reports the position past it, and the processor commits (and reads lag) from there
// once the partition's records before it are applied (also for a partition with no record yet,
// as after a restore at a marker); never for a partition it does not own, nor backwards.
TEST(StreamProcessorTest, CommitsPastTransactionMarkers) {
  const std::string event =
      R"({"event_id":"e1","type":"queued","time":"2010-08-01T09:00:00Z","interaction_id":"i1","team":"care"})";
  ScriptedSource source({ScriptedSource::Assigned({0, 1}), ScriptedSource::Records({{{}, event, 0, 0}}),
                         ScriptedSource::Ends({{0, 2}, {1, 7}, {2, 9}}), ScriptedSource::Ends({{0, 1}})});
  RecordingDeadLetters dead_letters;
  StreamProcessor processor(StreamProcessor::Options{}, &source, &dead_letters, nullptr, nullptr);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(processor.Step(0));
  processor.CommitApplied(/*sync=*/true);
  EXPECT_EQ(source.committed, (std::map<int32_t, int64_t>{{0, 2}, {1, 7}})) << "past the marker at offset 1";
}

// Reading a repartitioned topic: one partition carries records of two input partitions. The
// watermark holds per origin, so records of an input partition that is behind (its stage
// restarted) are not late; without origins the same records are.
TEST(StreamProcessorTest, RepartitionedRecordsHoldTheWatermarkPerOrigin) {
  auto event = [](int i, int minute) {
    return fmt::format(R"({{"event_id":"e{0}","type":"queued","time":"2026-03-02T09:{1:02}:00Z","interaction_id":"i{0}","team":"care"}})",
                       i, minute);
  };
  std::vector<std::string> values;
  std::vector<std::string_view> origins;
  for (int m = 0; m < 30; ++m) {  // events[0] runs 30 minutes ahead ...
    values.push_back(event(m, m));
    origins.push_back("events[0]");
  }
  values.push_back(event(100, 1));  // ... of events[1]
  origins.push_back("events[1]");
  values.push_back(event(101, 29));  // a partition added since start: its own channel
  origins.push_back("events[7]");
  values.push_back(event(102, 2));   // events[1] is still not late
  origins.push_back("events[1]");
  std::vector<SourceRecord> records;
  for (size_t i = 0; i < values.size(); ++i) {
    SourceRecord r{{}, values[i], 0, static_cast<int64_t>(i)};
    r.origin = origins[i];
    records.push_back(r);
  }
  for (bool per_origin : {true, false}) {
    ScriptedSource source({ScriptedSource::Assigned({0}), ScriptedSource::Records(records)});
    RecordingDeadLetters dead_letters;
    StreamProcessor::Options options;
    if (per_origin) options.origins = {"events[1]", "events[0]"};  // the lagging origin first
    StreamProcessor processor(options, &source, &dead_letters, nullptr, nullptr);
    ASSERT_TRUE(processor.Step(0));  // the assignment: every channel of partition 0 holds back
    ASSERT_TRUE(processor.Step(0));
    EXPECT_EQ(processor.counters().late, per_origin ? 0u : 2u) << (per_origin ? "per origin" : "per partition");
    EXPECT_EQ(processor.engine().counters().applied, per_origin ? 33u : 31u);
  }
}

}  // namespace
}  // namespace ccpulse
