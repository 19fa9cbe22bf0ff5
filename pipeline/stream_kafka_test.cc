// StreamProcessor (pipeline/stream.h) wired as `run` wires it (pipeline/topology.cc), on
// librdkafka's in-process mock cluster: KafkaSource in, KafkaDeadLetters out. Records produced
// to the input topic are applied; malformed and late ones land in the dead-letter topic with
// the original key, value and headers plus ccpulse-error and the source topic, partition and
// offset; committed offsets never pass a record whose effect is not applied or whose dead letter
// is not durable; Run stops cleanly on the stop flag. Only the public interfaces are used.
#include "pipeline/stream.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/kafka/kafka.h"
#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kInput[] = "interactions";
constexpr char kDeadLetters[] = "dead-letters";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Event times an hour behind the wall clock (the decoder rejects times far in the future).
const int64_t kT0 = (NowMs() - 3'600'000) / 60'000 * 60'000;

std::string Event(const std::string& id, const std::string& type, int64_t offset_s, const std::string& interaction,
                  const std::string& team = "sales") {
  return R"({"event_id":")" + id + R"(","type":")" + type + R"(","time":)" + std::to_string(kT0 + offset_s * 1000) +
         R"(,"interaction_id":")" + interaction + R"(","team":")" + team + R"("})";
}

struct Record {
  std::string key, value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A dead letter as read back from the topic.
struct Letter {
  std::string key, value;
  std::map<std::string, std::string> headers;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Produces `records` to `topic` (key-hashed partitions) and waits until they are acknowledged.
void Produce(const std::string& brokers, const std::string& topic, const std::vector<Record>& records) {
  kafka::ProducerOptions options;
  options.brokers = brokers;
  auto producer = kafka::KafkaProducer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (const Record& r : records) {
    std::vector<kafka::KafkaProducer::Header> headers;
    for (const auto& [name, value] : r.headers) headers.push_back({name, value});
    ASSERT_TRUE((*producer)->Produce(topic, r.key, r.value, headers).ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
}

// Reads `count` records of `topic` with a fresh consumer group.
std::vector<Letter> ReadTopic(const std::string& brokers, const std::string& topic, size_t count) {
  kafka::SourceOptions options;
  options.brokers = brokers;
  options.group = "reader-" + std::to_string(NowMs());
  options.topics = {topic};
  auto source = kafka::KafkaSource::Create(options);
  EXPECT_TRUE(source.ok()) << source.status();
  std::vector<Letter> out;
  if (!source.ok()) return out;
  const int64_t deadline = NowMs() + 15'000;
  while (out.size() < count && NowMs() < deadline) {
    SourceBatch batch = (*source)->Poll(100);
    for (const SourceRecord& r : batch.records) {
      Letter letter;
      letter.key = std::string(r.key);
      letter.value = std::string(r.value);
      letter.offset = r.offset;
      const auto* message = static_cast<const rd_kafka_message_t*>(r.handle);
      letter.partition = message->partition;
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          letter.headers[name] = value ? std::string(static_cast<const char*>(value), size) : "";
        }
      }
      out.push_back(std::move(letter));
    }
    if (batch.kind == SourceBatch::Kind::kRecords) (*source)->Release(batch);
  }
  (*source)->Close();
  return out;
}

// The committed offset of each partition of `topic` for `group` (-1001: none), asked of the
// group coordinator without joining the group.
std::vector<int64_t> Committed(const std::string& brokers, const std::string& group, const std::string& topic,
                               int partitions) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error, sizeof(error));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), error, sizeof(error));
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  std::vector<int64_t> out(static_cast<size_t>(partitions), RD_KAFKA_OFFSET_INVALID);
  if (consumer == nullptr) {
    ADD_FAILURE() << error;
    return out;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  const rd_kafka_resp_err_t err = rd_kafka_committed(consumer, list, 10000);
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  for (int i = 0; i < list->cnt; ++i) out[static_cast<size_t>(list->elems[i].partition)] = list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(consumer);
  return out;
}

// Passes everything through to the real source and checks, at every commit, that no position
// passes a record the processor has not been given (so its effect cannot be applied) and that
// positions never move back.
class AuditedSource final : public RecordSource {
 public:
  explicit AuditedSource(RecordSource* source) : source_(source) {}

  SourceBatch Poll(int timeout_ms) override {
    SourceBatch batch = source_->Poll(timeout_ms);
    for (const SourceRecord& r : batch.records) {
      int64_t& next = handed_next_[r.partition];
      next = std::max(next, r.offset + 1);
    }
    return batch;
  }
  void Release(SourceBatch& batch) override { source_->Release(batch); }
  void Commit(const std::vector<SourcePosition>& positions, bool sync) override {
    for (const SourcePosition& p : positions) {
      EXPECT_LE(p.next_offset, handed_next_[p.partition]) << "commit past a record never processed";
      auto [it, inserted] = committed_.emplace(p.partition, p.next_offset);
      if (!inserted) {
        EXPECT_GE(p.next_offset, it->second) << "commit moved back";
        it->second = p.next_offset;
      }
    }
    source_->Commit(positions, sync);
  }
  void AcknowledgeRevoke() override { source_->AcknowledgeRevoke(); }
  std::string PartitionName(int32_t partition) const override { return source_->PartitionName(partition); }
  std::vector<std::pair<int32_t, int64_t>> HighWatermarks() override { return source_->HighWatermarks(); }

  // Last committed position per partition name ("topic[p]").
  std::map<std::string, int64_t> committed() const {
    std::map<std::string, int64_t> out;
    for (const auto& [partition, next] : committed_) out[source_->PartitionName(partition)] = next;
    return out;
  }

 private:
  RecordSource* source_;
  std::map<int32_t, int64_t> handed_next_;
  std::map<int32_t, int64_t> committed_;
};

class StreamKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mock = kafka::MockCluster::Create(1);
    ASSERT_TRUE(mock.ok()) << mock.status();
    mock_ = std::move(*mock);
    brokers_ = mock_->bootstrap_servers();
    ASSERT_TRUE(mock_->CreateTopic(kDeadLetters, 1).ok());
  }

  // Connects a consumer (group `group_`) and a dead-letter producer; `dead_letter_brokers`
  // overrides where dead letters go.
  void Connect(const std::string& dead_letter_brokers = "", kafka::Properties dead_letter_properties = {}) {
    kafka::SourceOptions source;
    source.brokers = brokers_;
    source.group = group_;
    source.topics = {kInput};
    auto created = kafka::KafkaSource::Create(source);
    ASSERT_TRUE(created.ok()) << created.status();
    source_ = std::move(*created);
    audited_ = std::make_unique<AuditedSource>(source_.get());
    kafka::ProducerOptions producer;
    producer.brokers = dead_letter_brokers.empty() ? brokers_ : dead_letter_brokers;
    producer.properties = std::move(dead_letter_properties);
    auto dead_letters = kafka::KafkaDeadLetters::Create(producer, kDeadLetters);
    ASSERT_TRUE(dead_letters.ok()) << dead_letters.status();
    dead_letters_ = std::move(*dead_letters);
    StreamProcessor::Options options;
    options.commit_interval_ms = 20;
    processor_ = std::make_unique<StreamProcessor>(options, audited_.get(), dead_letters_.get(), nullptr, nullptr);
  }

  // Steps the processor until it has taken `records` records.
  void ProcessUntil(uint64_t records) {
    const int64_t deadline = NowMs() + 20'000;
    while (processor_->counters().records < records && NowMs() < deadline) processor_->Step(50);
    ASSERT_EQ(processor_->counters().records, records) << "records not consumed in time";
  }

  void TearDown() override {
    processor_.reset();
    if (source_) source_->Close();
  }

  std::unique_ptr<kafka::MockCluster> mock_;
  std::string brokers_;
  std::string group_ = "ccpulse-test";
  std::unique_ptr<kafka::KafkaSource> source_;
  std::unique_ptr<AuditedSource> audited_;
  std::unique_ptr<kafka::KafkaDeadLetters> dead_letters_;
  std::unique_ptr<StreamProcessor> processor_;
};

TEST_F(StreamKafkaTest, AppliesRecordsAndDeadLettersMalformedOnesWithTheirOrigin) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 1).ok());
  const std::string binary("\x00\x01\xff{", 4);
  Produce(brokers_, kInput,
          {{"c1", Event("e1", "queued", 0, "i1"), {}},
           {"bad-key", "{not json", {{"trace-id", "abc-123"}}},
           {"c2", R"({"event_id":"e9","type":"queued"})", {}},
           {"c1", Event("e2", "answered", 5, "i1"), {}},
           {"", binary, {}},
           {"c1", Event("e3", "resolved", 65, "i1"), {}}});
  Connect();
  ProcessUntil(6);
  EXPECT_EQ(processor_->counters().decoded, 3u);
  EXPECT_EQ(processor_->engine().counters().applied, 3u);
  EXPECT_EQ(processor_->engine().team_count(), 1u);
  EXPECT_EQ(processor_->counters().dead_letters_queued, 3u);
  uint64_t invalid = 0;
  for (uint64_t n : processor_->counters().invalid) invalid += n;
  EXPECT_EQ(invalid, 3u);

  ASSERT_TRUE(dead_letters_->Flush(10000).ok());
  dead_letters_->Poll();
  EXPECT_EQ(dead_letters_->delivered(), 3u);
  const std::vector<Letter> letters = ReadTopic(brokers_, kDeadLetters, 3);
  ASSERT_EQ(letters.size(), 3u);
  const int64_t offsets[] = {1, 2, 4};
  const std::string values[] = {"{not json", R"({"event_id":"e9","type":"queued"})", binary};
  const std::string keys[] = {"bad-key", "c2", ""};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(letters[i].value, values[i]);  // the original bytes
    EXPECT_EQ(letters[i].key, keys[i]);
    EXPECT_EQ(letters[i].headers.at("ccpulse-source-topic"), kInput);
    EXPECT_EQ(letters[i].headers.at("ccpulse-source-partition"), "0");
    EXPECT_EQ(letters[i].headers.at("ccpulse-source-offset"), std::to_string(offsets[i]));
    EXPECT_FALSE(letters[i].headers.at("ccpulse-error").empty());
  }
  EXPECT_THAT(letters[0].headers.at("ccpulse-error"), StartsWith("truncated: "));  // "{not json" stops inside an object
  EXPECT_THAT(letters[1].headers.at("ccpulse-error"), StartsWith("missing_field: "));
  EXPECT_EQ(letters[0].headers.at("trace-id"), "abc-123");  // original headers are kept

  processor_->CommitApplied(/*sync=*/true);
  EXPECT_EQ(audited_->committed().at(std::string(kInput) + "[0]"), 6);
  EXPECT_EQ(Committed(brokers_, group_, kInput, 1), std::vector<int64_t>{6});
}

TEST_F(StreamKafkaTest, LateRecordsAreDeadLetteredAndNotApplied) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 1).ok());
  // The watermark is the largest event time minus 2 minutes: after i2 at +10m it is +8m, so an
  // event of i1 at +1m is late.
  Produce(brokers_, kInput,
          {{"c1", Event("e1", "queued", 0, "i1"), {}},
           {"c2", Event("e2", "queued", 600, "i2"), {}},
           {"c1", Event("e3", "answered", 60, "i1"), {{"origin", "replayed"}}},
           {"c2", Event("e4", "answered", 590, "i2"), {}}});
  Connect();
  ProcessUntil(4);
  EXPECT_EQ(processor_->counters().late, 1u);
  EXPECT_EQ(processor_->engine().counters().late, 1u);
  EXPECT_EQ(processor_->engine().counters().applied, 3u);  // within the lateness: applied
  ASSERT_TRUE(dead_letters_->Flush(10000).ok());
  const std::vector<Letter> letters = ReadTopic(brokers_, kDeadLetters, 1);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_THAT(letters[0].headers.at("ccpulse-error"), StartsWith("late: "));
  EXPECT_THAT(letters[0].headers.at("ccpulse-error"), HasSubstr(schemas::FormatRfc3339(kT0 + 60'000)));
  EXPECT_EQ(letters[0].headers.at("ccpulse-source-offset"), "2");
  EXPECT_EQ(letters[0].headers.at("origin"), "replayed");
  EXPECT_EQ(letters[0].value, Event("e3", "answered", 60, "i1"));
  EXPECT_EQ(letters[0].key, "c1");
}

TEST_F(StreamKafkaTest, CommittedOffsetsReachTheEndOfEveryPartition) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 3).ok());
  std::vector<Record> records;
  for (int i = 0; i < 60; ++i) {
    const std::string interaction = "i" + std::to_string(i);
    records.push_back({interaction, Event("q" + std::to_string(i), "queued", i, interaction), {}});
    if (i % 10 == 0) records.push_back({interaction, "garbage", {}});
  }
  Produce(brokers_, kInput, records);
  Connect();
  ProcessUntil(records.size());
  ASSERT_TRUE(dead_letters_->Flush(10000).ok());
  processor_->Step(0);  // serves the delivery reports
  processor_->CommitApplied(/*sync=*/true);
  std::vector<int64_t> ends(3, 0);
  for (const auto& [partition, high] : source_->HighWatermarks()) {
    const std::string name = source_->PartitionName(partition);
    ends[static_cast<size_t>(name.back() == ']' ? name[name.size() - 2] - '0' : 0)] = high;
  }
  int64_t total = 0;
  for (int64_t e : ends) total += e;
  EXPECT_EQ(total, static_cast<int64_t>(records.size()));
  EXPECT_EQ(Committed(brokers_, group_, kInput, 3), ends);
}

// A dead letter that cannot be written keeps its record's offset from being committed, so the
// record is read again after a restart instead of being lost.
TEST_F(StreamKafkaTest, CommitNeverPassesADeadLetterThatIsNotDurable) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 1).ok());
  Produce(brokers_, kInput,
          {{"c1", Event("e1", "queued", 0, "i1"), {}},
           {"c1", "not json at all", {}},
           {"c1", Event("e2", "answered", 5, "i1"), {}},
           {"c1", Event("e3", "resolved", 50, "i1"), {}}});
  // Dead letters go to a broker that is not there and time out.
  Connect("127.0.0.1:1", {{"message.timeout.ms", "300"}, {"linger.ms", "0"}});
  ProcessUntil(4);
  EXPECT_EQ(processor_->engine().counters().applied, 3u);
  processor_->CommitApplied(/*sync=*/true);
  EXPECT_EQ(Committed(brokers_, group_, kInput, 1), std::vector<int64_t>{1}) << "committed past the dead letter";
  // Even once the dead letter is given up for lost, its offset stays uncommitted.
  const int64_t deadline = NowMs() + 15'000;
  while (dead_letters_->failed() == 0 && NowMs() < deadline) processor_->Step(50);
  EXPECT_EQ(dead_letters_->failed(), 1u);
  EXPECT_EQ(dead_letters_->delivered(), 0u);
  processor_->CommitApplied(/*sync=*/true);
  EXPECT_EQ(audited_->committed().at(std::string(kInput) + "[0]"), 1);
  EXPECT_EQ(Committed(brokers_, group_, kInput, 1), std::vector<int64_t>{1});
}

TEST_F(StreamKafkaTest, RunStopsCleanlyOnTheStopFlagWithEverythingCommitted) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 2).ok());
  std::vector<Record> records;
  for (int i = 0; i < 20; ++i) {
    const std::string interaction = "i" + std::to_string(i);
    records.push_back({interaction, i % 5 == 4 ? "{" : Event("q" + std::to_string(i), "queued", i, interaction), {}});
  }
  Produce(brokers_, kInput, records);
  kafka::SourceOptions source_options;
  source_options.brokers = brokers_;
  source_options.group = group_;
  source_options.topics = {kInput};
  auto source = kafka::KafkaSource::Create(source_options);
  ASSERT_TRUE(source.ok());
  kafka::ProducerOptions producer;
  producer.brokers = brokers_;
  auto dead_letters = kafka::KafkaDeadLetters::Create(producer, kDeadLetters);
  ASSERT_TRUE(dead_letters.ok());
  std::atomic<uint64_t> seen{0};
  std::atomic<int> ticks{0};
  StreamProcessor::Options options;
  StreamProcessor processor(options, source->get(), dead_letters->get(), nullptr,
                            [&](operators::Engine&, const StreamProcessor& self) {
                              seen = self.counters().records;  // worker thread
                              ++ticks;
                              return NowMs();
                            });
  std::atomic<bool> stop{false};
  auto run = std::async(std::launch::async, [&] { return processor.Run(stop); });
  const int64_t deadline = NowMs() + 20'000;
  while (seen < records.size() && NowMs() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(seen.load(), records.size());
  const int64_t stop_at = NowMs();
  stop = true;
  ASSERT_EQ(run.wait_for(std::chrono::seconds(15)), std::future_status::ready) << "Run did not stop";
  EXPECT_LT(NowMs() - stop_at, 2000);
  EXPECT_TRUE(run.get().ok());
  // Clean shutdown: dead letters durable, everything committed.
  EXPECT_EQ((*dead_letters)->delivered(), 4u);
  EXPECT_EQ(processor.counters().dead_letters_queued, 4u);
  EXPECT_EQ(processor.engine().counters().applied, 16u);
  const std::vector<int64_t> committed = Committed(brokers_, group_, kInput, 2);
  EXPECT_EQ(committed[0] + committed[1], 20);
  (*source)->Close();
}

TEST_F(StreamKafkaTest, RunReturnsAtOnceWhenAlreadyStopped) {
  ASSERT_TRUE(mock_->CreateTopic(kInput, 1).ok());
  Connect();
  std::atomic<bool> stop{true};
  auto run = std::async(std::launch::async, [&] { return processor_->Run(stop); });
  ASSERT_EQ(run.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(run.get().ok());
  EXPECT_EQ(processor_->counters().records, 0u);
}


// The repartition stage (DESIGN §6): records of an input keyed by anything (here by event id,
// so a customer's contacts spread over every partition) reach the internal topic once each,
// keyed by customer (by interaction without one), with their origin and headers, in input
// order per customer. (The mock cluster keeps no transactional offset commits: that they are
// committed with the records, across kill -9, is tested on the real broker in crash_test.py.)
TEST_F(StreamKafkaTest, RepartitionKeysEveryRecordByCustomerExactlyOnce) {
  constexpr char kRaw[] = "raw-events";
  constexpr char kByCustomer[] = "by-customer";
  ASSERT_TRUE(mock_->CreateTopic(kRaw, 3).ok());
  ASSERT_TRUE(mock_->CreateTopic(kByCustomer, 4).ok());  // the mock cluster has no admin API
  std::vector<Record> records;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "e" + std::to_string(i);
    std::string value = Event(id, "queued", i, "i" + std::to_string(i));
    value.insert(value.size() - 1, R"(,"customer_id":"c)" + std::to_string(i % 30) + R"(")");
    records.push_back({id, value, {{"trace", id}}});
  }
  records.push_back({"x1", Event("x1", "queued", 1, "no-customer"), {{"trace", "x1"}}});
  records.push_back({"x2", "not json", {}});
  records.push_back({"x3", std::string(3000, 'x'), {}});  // over the stage's message.max.bytes below
  Produce(brokers_, kRaw, records);
  const size_t forwardable = records.size() - 1;

  kafka::RepartitionOptions o;
  o.brokers = brokers_;
  o.group = "stage";
  o.topics = {kRaw};
  o.topic = kByCustomer;
  o.partitions = 4;
  o.transactional_id = "stage-0";
  o.batch_records = 50;  // several transactions
  o.dead_letter_topic = kDeadLetters;
  o.producer_properties["message.max.bytes"] = "2000";
  auto decoder = schemas::MakeRecordDecoder(schemas::RecordFormat::kCcpulseV1, {});
  schemas::DecodedRecord decoded;
  o.key_of = [&](std::string_view, std::string_view value) -> std::string_view {
    if (!decoder->Decode(value, &decoded).ok() || decoded.count == 0) return {};
    return decoded.events[0].customer_id.empty() ? decoded.events[0].interaction_id : decoded.events[0].customer_id;
  };
  auto stage = kafka::Repartitioner::Create(std::move(o));
  ASSERT_TRUE(stage.ok()) << stage.status();
  EXPECT_EQ((*stage)->internal_partitions(), 4);
  std::atomic<bool> stop{false};
  auto done = std::async(std::launch::async, [&] { return (*stage)->Run(stop); });
  const int64_t deadline = NowMs() + 20'000;
  while (NowMs() < deadline && (*stage)->forwarded() + (*stage)->too_large() < records.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  EXPECT_TRUE(done.get().ok());
  EXPECT_EQ((*stage)->forwarded(), forwardable);
  EXPECT_EQ((*stage)->too_large(), 1u);
  EXPECT_EQ((*stage)->unkeyed(), 1u) << "the forwarded record that is not JSON";
  EXPECT_GE((*stage)->transactions(), 6u) << "batches of at most 50 records";
  const std::vector<uint64_t> delays = (*stage)->delay_buckets();
  ASSERT_EQ(delays.size(), kLatencyBucketsSeconds.size() + 1);
  uint64_t delayed = 0;
  for (uint64_t count : delays) delayed += count;
  EXPECT_EQ(delayed, records.size()) << "each committed record's delay, the dead-lettered one's too";
  EXPECT_EQ(delays.back(), 0u) << "none over 10 s: produced just before the stage started";
  EXPECT_GT((*stage)->delay_sum_seconds(), 0.0);

  const std::vector<Letter> letters = ReadTopic(brokers_, kDeadLetters, 1);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].key, "x3");
  EXPECT_THAT(letters[0].headers.at("ccpulse-error"), StartsWith("record_too_large: "));
  EXPECT_EQ(letters[0].headers.at("ccpulse-source-topic"), kRaw);
  EXPECT_FALSE(letters[0].headers.at("ccpulse-source-offset").empty());

  const std::vector<Letter> out = ReadTopic(brokers_, kByCustomer, forwardable);
  ASSERT_EQ(out.size(), forwardable);
  std::set<std::string> origins;
  std::map<std::string, std::set<int32_t>> partitions_of;
  std::map<std::string, std::vector<std::string>> order;  // per customer, per origin partition
  for (const Letter& l : out) {
    const std::string origin = l.headers.count("ccpulse-origin") ? l.headers.at("ccpulse-origin") : "";
    EXPECT_THAT(origin, StartsWith("raw-events["));
    origins.insert(origin);
    if (l.value == "not json") continue;
    EXPECT_EQ(l.headers.at("trace"), l.value.substr(13, l.value.find('"', 13) - 13)) << "headers kept";
    partitions_of[l.key].insert(l.partition);
    order[l.key + origin.substr(0, origin.find('@'))].push_back(origin);
  }
  EXPECT_EQ(origins.size(), forwardable) << "every input record exactly once";
  EXPECT_EQ(partitions_of.size(), 31u) << "30 customers and one interaction";
  for (const auto& [key, partitions] : partitions_of) EXPECT_EQ(partitions.size(), 1u) << key << " spread";
  for (const auto& [key, seen] : order) {
    for (size_t i = 1; i < seen.size(); ++i) {
      EXPECT_LT(std::stoll(seen[i - 1].substr(seen[i - 1].find('@') + 1)), std::stoll(seen[i].substr(seen[i].find('@') + 1)))
          << key << ": out of input order";
    }
  }
}

// Checkpoint `sequence`, encoded, with `bytes` of engine state (700 KiB: two chunks).
std::string EncodedCheckpoint(uint64_t sequence, size_t bytes = 700 << 10) {
  Checkpoint c;
  c.sequence = sequence;
  c.partitions = {{"input[0]", static_cast<int64_t>(sequence * 100)}};
  c.engine_state = std::string(bytes, static_cast<char>('a' + sequence % 26));
  return EncodeCheckpoint(c);
}

// The sequence of the checkpoint LoadNewest returns (0: none, or an error).
uint64_t NewestSequence(CheckpointStore& store, std::vector<std::string>* problems) {
  auto loaded = store.LoadNewest(problems);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() && loaded->has_value() ? (*loaded)->sequence : 0;
}

// A record written into the checkpoint partition outside the store (no transaction).
void ProduceRaw(const kafka::ProducerOptions& options, std::string_view key, std::string_view value) {
  auto producer = kafka::KafkaProducer::Create(options);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Produce("checkpoints", key, value, {}, nullptr, nullptr, 0).ok());
  ASSERT_TRUE((*producer)->Flush(5000).ok());
}

// The customer tier's producer of the team feed: delivers each partition's records in order,
// counts what is durable, and refuses a topic of another partition count.
TEST_F(StreamKafkaTest, TeamFeedDeliversInOrderAndRefusesAnotherPartitionCount) {
  // The mock cluster does not answer CreateTopics: the topic is there already (the real-broker
  // tests, crash_test.py team_stage, cover its creation).
  ASSERT_TRUE(mock_->CreateTopic("ccpulse-teams", 3).ok());
  kafka::ProducerOptions producer;
  producer.brokers = brokers_;
  auto feed = kafka::KafkaTeamFeed::Create(producer, "ccpulse-teams", 3);
  ASSERT_TRUE(feed.ok()) << feed.status();
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE((*feed)->Send(i < 5 ? 1 : 2, "record-" + std::to_string(i)).ok());
  }
  EXPECT_EQ((*feed)->sent(), 7u);
  // Not a partition of the topic: refused at once, nothing counted as sent.
  EXPECT_FALSE((*feed)->Send(3, "nowhere").ok());
  EXPECT_EQ((*feed)->sent(), 7u);
  ASSERT_TRUE((*feed)->Flush(10'000).ok());
  (*feed)->Poll();
  EXPECT_EQ((*feed)->durable_prefix(), 7u);
  EXPECT_EQ((*feed)->failed(), 0u);

  const std::vector<Letter> read = ReadTopic(brokers_, "ccpulse-teams", 7);
  std::map<int32_t, std::vector<std::string>> by_partition;
  for (const Letter& letter : read) by_partition[letter.partition].push_back(letter.value);
  EXPECT_EQ(by_partition[1], (std::vector<std::string>{"record-0", "record-1", "record-2", "record-3", "record-4"}));
  EXPECT_EQ(by_partition[2], (std::vector<std::string>{"record-5", "record-6"}));
  EXPECT_EQ(by_partition.count(0), 0u);

  auto other = kafka::KafkaTeamFeed::Create(producer, "ccpulse-teams", 4);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other.status().message()), ::testing::HasSubstr("has 3 partitions"));
}

// The topic backend writes each checkpoint in one transaction, once it has claimed the name.
// (Fencing by the claim needs a real broker: pipeline/kafka/fencing_test.cc, run by
// tests/integration/kafka_test.py; librdkafka's mock cluster does not fence.)
TEST_F(StreamKafkaTest, TopicCheckpointsAreWrittenInTransactionsOnceClaimed) {
  ASSERT_TRUE(mock_->CreateTopic("checkpoints", 1).ok());  // the mock has no admin API
  kafka::ProducerOptions options;
  options.brokers = brokers_;
  auto store = kafka::MakeTopicCheckpointStore(options, "checkpoints", "cc");
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status unclaimed = (*store)->Write(1, EncodedCheckpoint(1));
  EXPECT_EQ(unclaimed.code(), absl::StatusCode::kFailedPrecondition) << unclaimed;
  ASSERT_TRUE((*store)->Claim().ok());
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) ASSERT_TRUE((*store)->Write(sequence, EncodedCheckpoint(sequence)).ok());

  std::vector<std::string> problems;
  auto all = (*store)->LoadAll(&problems);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(problems, ::testing::IsEmpty());
  ASSERT_EQ(all->size(), 2u) << "two slots";
  EXPECT_EQ((*all)[0].sequence, 3u);
  EXPECT_EQ((*all)[0].engine_state, std::string(700 << 10, 'd'));
  EXPECT_EQ((*all)[0].partitions, (std::vector<std::pair<std::string, int64_t>>{{"input[0]", 300}}));
  EXPECT_EQ((*all)[1].sequence, 2u);

  // LoadNewest reads back from the end: past another name's checkpoints in the same partition
  // (its window grows), and falls back to the older slot when the newest does not read back.
  auto other = kafka::MakeTopicCheckpointStore(options, "checkpoints", "other");
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->Claim().ok());
  ASSERT_TRUE((*other)->Write(1, EncodedCheckpoint(1)).ok());
  ASSERT_TRUE((*store)->Write(4, EncodedCheckpoint(4)).ok());
  for (uint64_t sequence = 2; sequence <= 12; ++sequence) ASSERT_TRUE((*other)->Write(sequence, EncodedCheckpoint(sequence)).ok());
  EXPECT_EQ(NewestSequence(**store, &problems), 4u);
  EXPECT_THAT(problems, ::testing::IsEmpty());
  auto loaded_other = (*other)->LoadNewest(&problems);
  ASSERT_TRUE(loaded_other.ok() && loaded_other->has_value());
  EXPECT_EQ((*loaded_other)->sequence, 12u);
  EXPECT_EQ((*loaded_other)->engine_state, std::string(700 << 10, static_cast<char>('a' + 12)));

  ProduceRaw(options, "cc/0/chunk/1", "not a chunk of checkpoint 4");
  EXPECT_EQ(NewestSequence(**store, &problems), 3u) << "the older slot";
  EXPECT_THAT(problems, ::testing::ElementsAre(::testing::HasSubstr("(slot 0) does not read back; reading the whole"),
                                               ::testing::HasSubstr("chunk 1 of checkpoint 4 is missing")));
}

// Reading back from the end: a name with no checkpoint reads the whole partition and finds
// none; a checkpoint larger than the first window is completed from the windows before it; a
// manifest deleted (a tombstone) stays deleted when its older value is read in a later window.
// The mock cluster writes no transaction markers: 3 offsets per checkpoint of 2 chunks.
TEST_F(StreamKafkaTest, TopicCheckpointIsReadBackFromTheEnd) {
  ASSERT_TRUE(mock_->CreateTopic("checkpoints", 1).ok());
  kafka::ProducerOptions options;
  options.brokers = brokers_;
  auto store = kafka::MakeTopicCheckpointStore(options, "checkpoints", "cc");
  auto other = kafka::MakeTopicCheckpointStore(options, "checkpoints", "cc2");
  ASSERT_TRUE(store.ok() && other.ok());
  ASSERT_TRUE((*store)->Claim().ok() && (*other)->Claim().ok());
  uint64_t other_sequence = 0;
  const auto other_writes = [&](int count) {
    for (int i = 0; i < count; ++i) {
      ++other_sequence;
      ASSERT_TRUE((*other)->Write(other_sequence, EncodedCheckpoint(other_sequence)).ok());
    }
  };
  std::vector<std::string> problems;

  other_writes(5);
  EXPECT_EQ(NewestSequence(**store, &problems), 0u) << "cc2's checkpoints are not cc's";

  const std::string large = EncodedCheckpoint(1, 20 << 20);  // 41 chunks: the first window holds 15
  ASSERT_TRUE((*store)->Write(1, large).ok());
  auto loaded = (*store)->LoadNewest(&problems);
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status();
  EXPECT_EQ(EncodeCheckpoint(**loaded), large);

  ASSERT_TRUE((*store)->Write(2, EncodedCheckpoint(2)).ok());  // slot 0
  other_writes(11);  // 33 offsets: the tombstone and the manifest in different windows
  ProduceRaw(options, "cc/0/manifest", std::string_view());  // a tombstone
  other_writes(5);
  auto all = (*store)->LoadAll(&problems);
  ASSERT_TRUE(all.ok() && all->size() == 1u);
  EXPECT_EQ(all->front().sequence, 1u);
  EXPECT_EQ(NewestSequence(**store, &problems), 1u) << "as LoadAll: checkpoint 2's manifest is deleted";
  EXPECT_THAT(problems, ::testing::IsEmpty());
}

}  // namespace
}  // namespace ccpulse
