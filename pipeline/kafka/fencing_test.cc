// Fencing of the checkpoint topic's writers (DESIGN §6) on a real broker, whose transaction
// coordinator fences (librdkafka's mock cluster does not). Not run by ctest on its own:
// tests/integration/kafka_test.py starts a broker and runs it with CCPULSE_TEST_BROKERS.
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/checkpoint.h"
#include "pipeline/kafka/kafka.h"

namespace ccpulse {
namespace {

using ::testing::HasSubstr;

std::string Encoded(uint64_t sequence) {
  Checkpoint c;
  c.sequence = sequence;
  c.partitions = {{"input[0]", static_cast<int64_t>(sequence * 100)}};
  c.engine_state = std::string(700 << 10, static_cast<char>('a' + sequence));  // two chunks
  return EncodeCheckpoint(c);
}

int64_t Newest(CheckpointStore& store) {
  std::vector<std::string> problems;
  auto loaded = store.LoadNewest(&problems);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(problems, ::testing::IsEmpty());
  return loaded.ok() && loaded->has_value() ? static_cast<int64_t>((**loaded).sequence) : -1;
}

class CheckpointFencingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("CCPULSE_TEST_BROKERS");
    ASSERT_NE(brokers, nullptr) << "set CCPULSE_TEST_BROKERS to a real broker (kafka_test.py does)";
    options_.brokers = brokers;
  }
  // A store of `name` (made unique per run) in the test's checkpoint topic.
  std::unique_ptr<CheckpointStore> Store(const std::string& name) {
    auto store = kafka::MakeTopicCheckpointStore(options_, "fencing-checkpoints", name);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A producer with the transactional id of `name`'s checkpoint writer (fencing it), in an
  // open transaction.
  std::unique_ptr<kafka::KafkaProducer> OpenTransaction(const std::string& name) {
    kafka::ProducerOptions options = options_;
    options.properties["transactional.id"] = name + "/checkpoint";
    auto producer = kafka::KafkaProducer::Create(options);
    EXPECT_TRUE(producer.ok()) << producer.status();
    if (!producer.ok()) return nullptr;
    rd_kafka_t* rk = (*producer)->handle();
    EXPECT_EQ(rd_kafka_init_transactions(rk, 30000), nullptr);
    EXPECT_EQ(rd_kafka_begin_transaction(rk), nullptr);
    return std::move(*producer);
  }

  kafka::ProducerOptions options_;
};

// A standby that takes over claims the checkpoint name, which fences the instance it replaced:
// a paused active instance that wakes up cannot write under the name any more, and what it
// was writing is never read. Given the partition back later, it claims the name again.
TEST_F(CheckpointFencingTest, ClaimingTheNameFencesThePreviousWriter) {
  const std::string name = "fencing-" + std::to_string(::getpid());
  std::unique_ptr<CheckpointStore> active = Store(name);
  std::unique_ptr<CheckpointStore> standby = Store(name);
  ASSERT_TRUE(active && standby);

  ASSERT_TRUE(active->Claim().ok());
  ASSERT_TRUE(active->Write(1, Encoded(1)).ok());
  ASSERT_TRUE(active->Write(2, Encoded(2)).ok());

  ASSERT_TRUE(standby->Claim().ok());
  EXPECT_EQ(Newest(*standby), 2);
  const absl::Status zombie = active->Write(3, Encoded(3));
  EXPECT_EQ(zombie.code(), absl::StatusCode::kAborted) << zombie;
  EXPECT_THAT(zombie.message(), HasSubstr("fenced: another instance has claimed the name " + name));
  EXPECT_EQ(Newest(*standby), 2) << "the fenced write is not read";

  ASSERT_TRUE(standby->Write(3, Encoded(3)).ok());
  std::vector<std::string> problems;
  auto all = active->LoadAll(&problems);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].sequence, 3u);
  EXPECT_EQ((*all)[0].engine_state, std::string(700 << 10, 'd')) << "the standby's, whole";
  EXPECT_EQ((*all)[1].sequence, 2u);

  ASSERT_TRUE(active->Claim().ok());
  EXPECT_EQ(standby->Write(4, Encoded(4)).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(active->Write(4, Encoded(4)).ok());
  EXPECT_EQ(Newest(*standby), 4);
}

// Records produced into the checkpoint partition but never committed: a writer that died in
// the middle of a checkpoint, or any other name's transaction still open. They are never read
// (read_committed), and a claim of the name aborts its own open transaction at once.
TEST_F(CheckpointFencingTest, AnOpenTransactionIsNeverRead) {
  const std::string name = "open-" + std::to_string(::getpid());
  std::unique_ptr<CheckpointStore> store = Store(name);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Claim().ok());
  ASSERT_TRUE(store->Write(1, Encoded(1)).ok());

  // A writer of the same name (fencing the store) that stops half-way through checkpoint 2.
  std::unique_ptr<kafka::KafkaProducer> producer = OpenTransaction(name);
  ASSERT_TRUE(producer);
  const std::string bytes = Encoded(2);
  const uint64_t sequence = 2;
  std::string chunk(reinterpret_cast<const char*>(&sequence), sizeof(sequence));
  chunk += bytes;  // one chunk is enough for the reader to decode it
  const int32_t partition = 0;  // the test topic has one partition
  ASSERT_TRUE(producer->Produce("fencing-checkpoints", name + "/0/chunk/0", chunk, {}, nullptr, nullptr, partition).ok());
  ASSERT_TRUE(producer->Produce("fencing-checkpoints", name + "/0/manifest",
                                   fmt::format("2 1 {}", bytes.size()), {}, nullptr, nullptr, partition)
                  .ok());
  ASSERT_TRUE(producer->Flush(10000).ok());  // in the log, not committed

  std::unique_ptr<CheckpointStore> reader = Store(name);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(reader->Claim().ok()) << "aborts the open transaction";
  EXPECT_EQ(Newest(*reader), 1) << "checkpoint 2 was never committed";
  EXPECT_EQ(store->Write(2, Encoded(2)).code(), absl::StatusCode::kAborted) << "fenced by the dying writer";
}

// Loading reads the partition back from its end (with transaction markers and aborted
// transactions, which the mock cluster does not write): past other names' checkpoints and an
// aborted one, and a checkpoint larger than the first window is completed from before it.
TEST_F(CheckpointFencingTest, TheNewestIsReadBackPastOtherNamesAndAbortedWrites) {
  const std::string name = "readback-" + std::to_string(::getpid());
  std::unique_ptr<CheckpointStore> store = Store(name);
  std::unique_ptr<CheckpointStore> other = Store(name + "-other");
  ASSERT_TRUE(store && other);
  ASSERT_TRUE(store->Claim().ok() && other->Claim().ok());
  Checkpoint large;
  large.sequence = 1;
  large.engine_state = std::string(20 << 20, 'L');  // 41 chunks
  const std::string large_bytes = EncodeCheckpoint(large);
  ASSERT_TRUE(store->Write(1, large_bytes).ok());
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) ASSERT_TRUE(other->Write(sequence, Encoded(sequence)).ok());
  std::vector<std::string> problems;
  auto loaded = store->LoadNewest(&problems);
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status();
  EXPECT_EQ(EncodeCheckpoint(**loaded), large_bytes);
  EXPECT_THAT(problems, ::testing::IsEmpty());

  ASSERT_TRUE(store->Write(2, Encoded(2)).ok());
  // The other name's writer is replaced; the replacement aborts a checkpoint of its own.
  std::unique_ptr<kafka::KafkaProducer> producer = OpenTransaction(name + "-other");
  ASSERT_TRUE(producer);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(producer->Produce("fencing-checkpoints", fmt::format("{}-other/0/chunk/{}", name, i), "aborted", {},
                                  nullptr, nullptr, 0).ok());
  }
  ASSERT_EQ(rd_kafka_abort_transaction(producer->handle(), 30000), nullptr);
  EXPECT_EQ(Newest(*store), 2);
  EXPECT_EQ(Newest(*other), 3) << "the aborted records are not read";
}

}  // namespace
}  // namespace ccpulse
