// Everything that talks to librdkafka (the only folder that includes it): a consumer-group
// source with a fetch thread, a producer with delivery tracking, the dead-letter sink, and
// librdkafka's in-process mock cluster for the demo and fast tests.
#ifndef CCPULSE_PIPELINE_KAFKA_KAFKA_H_
#define CCPULSE_PIPELINE_KAFKA_KAFKA_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pipeline/checkpoint.h"
#include "pipeline/source.h"
#include "pipeline/spsc_queue.h"

struct rd_kafka_s;
struct rd_kafka_conf_s;
struct rd_kafka_mock_cluster_s;
struct rd_kafka_message_s;

namespace ccpulse::kafka {

// librdkafka properties, passed through as given ("security.protocol": "SASL_SSL" ...).
using Properties = std::map<std::string, std::string>;

struct KafkaDeleter {
  void operator()(rd_kafka_s* rk) const;
};
using KafkaHandle = std::unique_ptr<rd_kafka_s, KafkaDeleter>;

struct SourceOptions {
  std::string brokers;
  std::string group;
  std::vector<std::string> topics;
  Properties properties;             // consumer properties (after the shared ones)
  size_t max_queued_bytes = 64 << 20;  // pause fetching above this, resume below half
  int batch_size = 2000;
  // Called on the fetch thread when partitions are assigned, before they are indexed, with
  // their names ("topic[3]") and whether the consumer held none before (at start, or a standby
  // taking over): the positions of the checkpoints to resume from ("topic[3]" -> next offset;
  // -1: nothing applied yet), in their dense-index order. Those partitions take the first free
  // dense indexes in that order, and the assigned ones among them start at those offsets
  // instead of the committed ones.
  std::function<std::vector<std::pair<std::string, int64_t>>(const std::vector<std::string>& assigned,
                                                             bool held_none)>
      resume;
  bool read_origin = false;  // fill SourceRecord::origin from the ccpulse-origin header
};

// Builds the librdkafka configurations `Create` would build, without connecting: unknown or
// conflicting properties are reported as they would be at start-up (for --check-config).
absl::Status CheckSourceOptions(const struct SourceOptions& options);
absl::Status CheckProducerOptions(const struct ProducerOptions& options);

// Consumer-group source: subscribe with cooperative-sticky assignment, incremental
// assign/unassign, batched fetch on its own thread, pause/resume on a full queue, offsets
// committed only when the worker says so. Poll/Release/Commit/AcknowledgeRevoke: worker thread.
class KafkaSource final : public RecordSource {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaSource>> Create(SourceOptions options);
  ~KafkaSource() override;

  SourceBatch Poll(int timeout_ms) override;
  void Release(SourceBatch& batch) override;
  void Commit(const std::vector<SourcePosition>& positions, bool sync) override;
  void AcknowledgeRevoke() override;
  std::string PartitionName(int32_t partition) const override;
  std::vector<std::pair<int32_t, int64_t>> HighWatermarks() override;

  // Stops fetching, commits nothing more, leaves the group (revokes without waiting).
  void Close();
  uint64_t paused_count() const { return pauses_.load(); }

 private:
  explicit KafkaSource(SourceOptions options);
  void FetchLoop();
  void OnRebalance(int err, void* partitions);
  int32_t IndexOf(std::string_view topic, int32_t partition) ABSL_LOCKS_EXCLUDED(names_mu_);
  void Enqueue(SourceBatch batch);
  void UpdatePause();

  static void RebalanceTrampoline(rd_kafka_s* rk, int err, void* partitions, void* opaque);

  SourceOptions options_;
  KafkaHandle consumer_;
  std::thread fetcher_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closing_{false};
  SpscQueue<SourceBatch> queue_{4096};
  std::atomic<size_t> queued_bytes_{0};
  bool paused_ = false;  // fetch thread only
  std::atomic<uint64_t> pauses_{0};
  // A revoke waits for the worker to acknowledge it has committed the partitions.
  absl::Mutex revoke_mu_;
  bool revoke_acknowledged_ ABSL_GUARDED_BY(revoke_mu_) = false;

  mutable absl::Mutex names_mu_;
  std::map<std::pair<std::string, int32_t>, int32_t> index_ ABSL_GUARDED_BY(names_mu_);
  std::vector<std::pair<std::string, int32_t>> names_ ABSL_GUARDED_BY(names_mu_);
  absl::Mutex assigned_mu_;
  std::vector<int32_t> assigned_ ABSL_GUARDED_BY(assigned_mu_);  // dense indexes
  std::vector<int32_t> revoked_in_poll_;  // fetch thread: revoked while a batch was being built
  // Fetch thread: per owned partition, the next offset after the last record handed out (or
  // after the markers past it, once reported in a kEnds batch).
  absl::flat_hash_map<int32_t, int64_t> handed_next_;
  // Fetch thread, when idle: reports owned partitions whose consumer position is past
  // handed_next_ (past markers only: every record before the position was handed out).
  void EnqueueEnds();
};

struct ProducerOptions {
  std::string brokers;
  Properties properties;
  bool idempotent = true;
};

// A producer whose deliveries are reported to a callback on the thread that calls Poll.
// Not thread-safe apart from librdkafka's own guarantees: one thread produces and polls.
class KafkaProducer {
 public:
  // Called once per message with its opaque and whether it was delivered.
  using DeliveryFn = void (*)(void* context, void* opaque, bool delivered, const char* error);

  static absl::StatusOr<std::unique_ptr<KafkaProducer>> Create(ProducerOptions options,
                                                               DeliveryFn on_delivery = nullptr,
                                                               void* context = nullptr);
  ~KafkaProducer();

  struct Header {
    std::string_view name;
    std::string_view value;
  };
  // Queues a message; waits (serving deliveries) while librdkafka's queue is full. Timestamp 0: now.
  absl::Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<Header>& headers = {}, const void* copy_headers_from = nullptr,
                       void* opaque = nullptr, int32_t partition = -1, int64_t timestamp_ms = 0);
  void Poll(int timeout_ms = 0);
  absl::Status Flush(int timeout_ms);
  // Creates a topic (through the admin API) unless it exists.
  absl::Status CreateTopic(std::string_view topic, int partitions, int timeout_ms = 10000,
                           const Properties& configs = {});
  // The number of partitions of `topic` (metadata request).
  absl::StatusOr<int> PartitionCount(const std::string& topic, int timeout_ms = 10000);
  // Learns `topic`'s partitions before the first record to it, asking again for up to
  // `timeout_ms` (a topic just created may not show at once). Without it, the first records
  // wait in librdkafka's queue for a metadata refresh: a first transaction then took 0.5-1 s.
  absl::Status LearnTopic(const std::string& topic, int timeout_ms);
  size_t in_flight() const;
  // For transactions (the repartition stage, the checkpoint topic).
  rd_kafka_s* handle() const { return producer_.get(); }

 private:
  KafkaProducer() = default;
  static void DeliveryTrampoline(rd_kafka_s* rk, const void* message, void* opaque);
  KafkaHandle producer_;
  DeliveryFn on_delivery_ = nullptr;
  void* context_ = nullptr;
};

// The repartition stage (DESIGN §6): reads the input topics in its own consumer group and
// writes every record unchanged (value, headers, timestamp) to an internal topic keyed by the
// record's customer (or interaction), with the header ccpulse-origin = "topic[partition]@offset".
// Exactly once: each batch's records and its input offsets are committed in one Kafka
// transaction (the consumer group's generation fences a stale owner), and the engine reads
// the internal topic read_committed. A record whose key cannot be found
// (undecodable) is forwarded unkeyed; the engine dead-letters it with the reason. A record too
// large to forward is dead-lettered (key and headers) in the same transaction.
struct RepartitionOptions {
  std::string brokers;
  std::string group;                 // the repartitioners' consumer group
  std::vector<std::string> topics;   // input
  std::string topic;                 // internal, created when missing
  int partitions = 0;                // of the internal topic when created; 0: as the widest input topic
  std::string transactional_id;      // unique per live instance; stable across its restarts if named
  std::string dead_letter_topic = "ccpulse-dead-letters";  // records too large to forward
  Properties consumer_properties;
  Properties producer_properties;
  int batch_records = 5000;          // a transaction ends at this many records ...
  int batch_ms = 100;                // ... or this long after collecting began
  // The key of a record of `topic` (empty: none); called on the repartition thread.
  std::function<std::string_view(std::string_view topic, std::string_view value)> key_of;
};

class Repartitioner {
 public:
  // Creates the internal topic if needed, joins the group and initialises transactions.
  static absl::StatusOr<std::unique_ptr<Repartitioner>> Create(RepartitionOptions options);
  ~Repartitioner();

  // Forwards records until `stop`; returns an error only when it cannot go on (fenced by a
  // newer life of this instance, a fatal producer error).
  absl::Status Run(const std::atomic<bool>& stop);

  int internal_partitions() const { return internal_partitions_; }
  // The input partitions ("topic[3]"), in topic order: the origins of the internal records.
  const std::vector<std::string>& origins() const { return origins_; }
  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  uint64_t unkeyed() const { return unkeyed_.load(std::memory_order_relaxed); }
  uint64_t transactions() const { return transactions_.load(std::memory_order_relaxed); }
  uint64_t aborted() const { return aborted_.load(std::memory_order_relaxed); }
  uint64_t too_large() const { return too_large_.load(std::memory_order_relaxed); }
  // Per committed record, the time from its input timestamp to the commit that makes it
  // visible to the engines: counts per kLatencyBucketsSeconds bucket (+Inf last) and the sum.
  std::vector<uint64_t> delay_buckets() const;
  double delay_sum_seconds() const { return static_cast<double>(delay_sum_ms_.load(std::memory_order_relaxed)) / 1000; }

 private:
  explicit Repartitioner(RepartitionOptions options) : options_(std::move(options)) {}
  void OnRebalance(int err, void* partitions);
  // Produces the held records and commits them with their offsets; false when the
  // transaction was aborted (the records stay held and are sent again).
  absl::StatusOr<bool> CommitHeld(const std::atomic<bool>& stop);
  static constexpr int kMaxAbortsInARow = 10;  // then Run gives up (backing off up to 1 s each)

  RepartitionOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  KafkaHandle consumer_;
  std::vector<rd_kafka_message_s*> held_;  // owned, in consumption order
  int internal_partitions_ = 0;
  std::vector<std::string> origins_;
  std::string last_abort_;
  std::atomic<uint64_t> forwarded_{0}, unkeyed_{0}, transactions_{0}, aborted_{0}, too_large_{0};
  std::array<std::atomic<uint64_t>, kLatencyBucketsSeconds.size() + 1> delay_buckets_{};
  std::atomic<uint64_t> delay_sum_ms_{0};
};

// Dead letters (DESIGN §2): the original key, value and headers plus ccpulse-error,
// ccpulse-source-topic, ccpulse-source-partition, ccpulse-source-offset. Deliveries that fail
// are retried (3 times) and counted; a dead letter that never lands keeps its source offset
// from being committed, so the record is read again after a restart rather than lost.
class KafkaDeadLetters final : public DeadLetterSink {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaDeadLetters>> Create(ProducerOptions options,
                                                                  std::string topic);
  bool Write(const SourceRecord& record, std::string_view source_name, std::string_view reason,
             std::string_view message) override;
  void Poll() override;
  int64_t LowestPendingOffset(int32_t partition) const override;
  absl::Status Flush(int timeout_ms) override;
  uint64_t delivered() const override { return delivered_; }
  uint64_t failed() const override { return failed_; }
  uint64_t retried() const { return retried_; }

 private:
  struct Letter;
  static void OnDelivery(void* context, void* opaque, bool delivered, const char* error);
  bool Send(Letter* letter);

  std::unique_ptr<KafkaProducer> producer_;
  std::string topic_;
  absl::btree_map<int32_t, absl::btree_multiset<int64_t>> pending_;
  uint64_t delivered_ = 0, failed_ = 0, retried_ = 0;
};

// The team feed on Kafka (DESIGN §6): a customer engine's records for the team stages, to the
// team-keyed internal topic (record i of team partition p to partition p), through an
// idempotent producer. Creates the topic with `partitions` partitions when missing, and refuses
// one that has another count (teams would move between team stages). Worker thread only.
class KafkaTeamFeed final : public TeamFeedSink {
 public:
  static absl::StatusOr<std::unique_ptr<KafkaTeamFeed>> Create(ProducerOptions options, std::string topic,
                                                               int partitions);
  // The producer goes first: its last deliveries still reach the members below.
  ~KafkaTeamFeed() { producer_.reset(); }
  absl::Status Send(int partition, std::string_view record) override;
  void Poll() override { producer_->Poll(0); }
  absl::Status Flush(int timeout_ms) override { return producer_->Flush(timeout_ms); }
  uint64_t sent() const override { return sent_; }
  uint64_t durable_prefix() const override { return pending_.empty() ? sent_ : *pending_.begin(); }
  uint64_t failed() const override { return failed_; }

 private:
  static void OnDelivery(void* context, void* opaque, bool delivered, const char* error);

  std::unique_ptr<KafkaProducer> producer_;
  std::string topic_;
  uint64_t sent_ = 0, failed_ = 0;
  absl::btree_set<uint64_t> pending_;  // sequence numbers queued and not yet delivered
};

// Checkpoints in a compacted topic (DESIGN §6), so an instance's state can be restored on
// another machine: all keys of instance `name` go to one partition (a hash of the name); a
// checkpoint is chunks "<name>/<slot>/chunk/<i>" (sequence + bytes) and "<name>/<slot>/manifest",
// written in one Kafka transaction, in two alternating slots. Writes need Claim: the
// transactional id "<name>/checkpoint" fences whoever wrote under the name before. Creates the
// topic (cleanup.policy=compact) when missing.
absl::StatusOr<std::unique_ptr<CheckpointStore>> MakeTopicCheckpointStore(const ProducerOptions& options,
                                                                         std::string topic, std::string name);

// librdkafka's in-process mock cluster (no network, no broker): the demo's Kafka.
class MockCluster {
 public:
  static absl::StatusOr<std::unique_ptr<MockCluster>> Create(int brokers);
  ~MockCluster();
  std::string bootstrap_servers() const;
  absl::Status CreateTopic(const std::string& topic, int partitions);

 private:
  MockCluster() = default;
  KafkaHandle host_;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
};

}  // namespace ccpulse::kafka

#endif  // CCPULSE_PIPELINE_KAFKA_KAFKA_H_
