// librdkafka-backed source, producer, dead letters and mock cluster; see kafka.h.
// Call order follows librdkafka's examples: conf -> new -> subscribe -> short polls -> close.
#include "pipeline/kafka/kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ccpulse::kafka {
namespace {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

absl::Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(fmt::format("kafka property `{}`: {}", key, error));
  }
  return absl::OkStatus();
}

// Defaults, then the user's properties, then what ccpulse relies on (the user may not change).
absl::StatusOr<ConfPtr> BuildConf(const Properties& defaults, const Properties& user,
                                  const Properties& enforced) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [k, v] : defaults) {
    if (auto s = Set(conf.get(), k, v); !s.ok()) return s;
  }
  for (const auto& [k, v] : user) {
    if (auto it = enforced.find(k); it != enforced.end() && it->second != v) {
      return absl::InvalidArgumentError(
          fmt::format("kafka property `{}`: ccpulse needs \"{}\" (it decides itself when to commit, "
                      "which assignment protocol to use and which records to read)",
                      k, it->second));
    }
    if (auto s = Set(conf.get(), k, v); !s.ok()) return s;
  }
  for (const auto& [k, v] : enforced) {
    if (auto s = Set(conf.get(), k, v); !s.ok()) return s;
  }
  return conf;
}

// "topic[3]" of the ccpulse-origin header ("topic[3]@offset"), empty without one.
std::string_view OriginOf(rd_kafka_message_t* m) {
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, "ccpulse-origin", &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || value == nullptr) {
    return {};
  }
  const std::string_view origin(static_cast<const char*>(value), size);
  return origin.substr(0, origin.rfind('@'));
}

// The headers a dead letter carries after the original ones (DESIGN §2).
std::vector<std::pair<std::string, std::string>> DeadLetterHeaders(std::string error, std::string_view topic,
                                                                   std::string_view partition, int64_t offset) {
  return {{"ccpulse-error", std::move(error)},
          {"ccpulse-source-topic", std::string(topic)},
          {"ccpulse-source-partition", std::string(partition)},
          {"ccpulse-source-offset", std::to_string(offset)}};
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void KafkaDeleter::operator()(rd_kafka_s* rk) const { rd_kafka_destroy(rk); }

// ---------------------------------------------------------------------------------------------
// KafkaSource

KafkaSource::KafkaSource(SourceOptions options) : options_(std::move(options)) {}

absl::StatusOr<ConfPtr> ConsumerConf(const SourceOptions& o) {
  if (o.topics.empty()) return absl::InvalidArgumentError("`kafka.topics`: at least one topic");
  if (o.group.empty()) return absl::InvalidArgumentError("`kafka.group`: a consumer group id is needed");
  return BuildConf(
      {{"bootstrap.servers", o.brokers},
       {"auto.offset.reset", "earliest"},
       {"queued.max.messages.kbytes", "16384"},
       {"fetch.wait.max.ms", "10"},
       {"session.timeout.ms", "10000"},
       {"heartbeat.interval.ms", "1000"},
       {"topic.metadata.refresh.interval.ms", "10000"}},
      o.properties,
      {{"group.id", o.group},
       {"enable.auto.commit", "false"},
       {"enable.auto.offset.store", "false"},
       {"partition.assignment.strategy", "cooperative-sticky"}});
}

absl::StatusOr<ConfPtr> ProducerConf(const ProducerOptions& options) {
  Properties enforced;
  if (options.idempotent) enforced["enable.idempotence"] = "true";
  return BuildConf({{"bootstrap.servers", options.brokers},
                    {"linger.ms", "5"},
                    {"message.timeout.ms", "30000"},
                    {"compression.type", "lz4"}},
                   options.properties, enforced);
}

absl::Status CheckSourceOptions(const SourceOptions& options) { return ConsumerConf(options).status(); }
absl::Status CheckProducerOptions(const ProducerOptions& options) { return ProducerConf(options).status(); }

absl::StatusOr<std::unique_ptr<KafkaSource>> KafkaSource::Create(SourceOptions options) {
  auto conf = ConsumerConf(options);
  if (!conf.ok()) return conf.status();
  std::unique_ptr<KafkaSource> source(new KafkaSource(std::move(options)));
  rd_kafka_conf_set_opaque(conf->get(), source.get());
  rd_kafka_conf_set_rebalance_cb(
      conf->get(), [](rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                      void* opaque) { RebalanceTrampoline(rk, err, parts, opaque); });
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return absl::InvalidArgumentError(fmt::format("kafka consumer: {}", error));
  conf->release();  // owned by rk now
  source->consumer_.reset(rk);
  rd_kafka_poll_set_consumer(rk);
  const SourceOptions& o = source->options_;
  ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(o.topics.size())));
  for (const std::string& t : o.topics) rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.get())) {
    return absl::UnavailableError(fmt::format("kafka subscribe: {}", rd_kafka_err2str(err)));
  }
  source->fetcher_ = std::thread([s = source.get()] { s->FetchLoop(); });
  return source;
}

KafkaSource::~KafkaSource() { Close(); }

void KafkaSource::Close() {
  if (!consumer_) return;
  closing_ = true;
  stop_ = true;
  if (fetcher_.joinable()) fetcher_.join();
  // Drop batches the worker never took; their offsets were never committed.
  while (auto batch = queue_.TryPop()) Release(*batch);
  rd_kafka_consumer_close(consumer_.get());
  consumer_.reset();
}

void KafkaSource::RebalanceTrampoline(rd_kafka_s* rk, int err, void* partitions, void* opaque) {
  (void)rk;
  static_cast<KafkaSource*>(opaque)->OnRebalance(err, partitions);
}

int32_t KafkaSource::IndexOf(std::string_view topic, int32_t partition) {
  absl::MutexLock lock(&names_mu_);
  auto key = std::make_pair(std::string(topic), partition);
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  const int32_t index = static_cast<int32_t>(names_.size());
  names_.push_back(key);
  index_.emplace(std::move(key), index);
  return index;
}

std::string KafkaSource::PartitionName(int32_t partition) const {
  absl::MutexLock lock(&names_mu_);
  if (partition < 0 || static_cast<size_t>(partition) >= names_.size()) return "?";
  return fmt::format("{}[{}]", names_[partition].first, names_[partition].second);
}

void KafkaSource::OnRebalance(int err, void* partitions_opaque) {
  auto* parts = static_cast<rd_kafka_topic_partition_list_t*>(partitions_opaque);
  rd_kafka_t* rk = consumer_.get();
  // Resuming from checkpoints: their partitions are indexed first.
  std::map<std::string, int64_t> start_offsets;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && parts->cnt > 0 && options_.resume) {
    bool holds_none;
    {
      absl::MutexLock lock(&assigned_mu_);
      holds_none = assigned_.empty();
    }
    std::vector<std::string> assigned;
    for (int i = 0; i < parts->cnt; ++i) {
      assigned.push_back(fmt::format("{}[{}]", parts->elems[i].topic, parts->elems[i].partition));
    }
    for (auto& [name, next] : options_.resume(assigned, holds_none)) {
      const std::optional<TopicPartition> parsed = ParsePartitionName(name);
      if (!parsed) continue;  // refused by the restore
      IndexOf(parsed->topic, parsed->partition);
      if (next >= 0) start_offsets.emplace(std::move(name), next);
    }
  }
  SourceBatch change;
  for (int i = 0; i < parts->cnt; ++i) {
    change.partitions.push_back(IndexOf(parts->elems[i].topic, parts->elems[i].partition));
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; ++i) {
      auto it = start_offsets.find(PartitionName(change.partitions[static_cast<size_t>(i)]));
      if (it != start_offsets.end()) parts->elems[i].offset = it->second;
    }
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
      std::fprintf(stderr, "ccpulse: kafka incremental assign: %s\n", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      return;
    }
    if (paused_) rd_kafka_pause_partitions(rk, parts);
    {
      absl::MutexLock lock(&assigned_mu_);
      assigned_.insert(assigned_.end(), change.partitions.begin(), change.partitions.end());
    }
    for (int32_t p : change.partitions) handed_next_.erase(p);
    change.kind = SourceBatch::Kind::kAssigned;
    Enqueue(std::move(change));
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !closing_) {
    // The worker applies what it has of these partitions, commits, then acknowledges.
    {
      absl::MutexLock lock(&revoke_mu_);
      revoke_acknowledged_ = false;
    }
    change.kind = SourceBatch::Kind::kRevoked;
    change.lost = rd_kafka_assignment_lost(rk) != 0;
    revoked_in_poll_.insert(revoked_in_poll_.end(), change.partitions.begin(), change.partitions.end());
    Enqueue(change);  // a copy: the partitions are dropped from assigned_ below
    absl::MutexLock lock(&revoke_mu_);
    revoke_mu_.AwaitWithTimeout(absl::Condition(&revoke_acknowledged_), absl::Seconds(30));
  } else if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    std::fprintf(stderr, "ccpulse: kafka rebalance error: %s\n", rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)));
  }
  if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
    std::fprintf(stderr, "ccpulse: kafka incremental unassign: %s\n", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  for (int32_t p : change.partitions) handed_next_.erase(p);
  absl::MutexLock lock(&assigned_mu_);
  for (int32_t p : change.partitions) std::erase(assigned_, p);
}

void KafkaSource::AcknowledgeRevoke() {
  absl::MutexLock lock(&revoke_mu_);
  revoke_acknowledged_ = true;
}

void KafkaSource::Enqueue(SourceBatch batch) {
  queued_bytes_ += batch.bytes;
  while (!queue_.TryPush(batch)) {
    if (stop_) {
      Release(batch);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void KafkaSource::UpdatePause() {
  const size_t bytes = queued_bytes_.load();
  const bool want_pause = paused_ ? bytes > options_.max_queued_bytes / 2 : bytes > options_.max_queued_bytes;
  if (want_pause == paused_) return;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer_.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  ListPtr owned(assignment);
  if (want_pause) {
    rd_kafka_pause_partitions(consumer_.get(), assignment);
    ++pauses_;
  } else {
    rd_kafka_resume_partitions(consumer_.get(), assignment);
  }
  paused_ = want_pause;
}

void KafkaSource::FetchLoop() {
  rd_kafka_t* rk = consumer_.get();
  while (!stop_) {
    UpdatePause();
    SourceBatch batch;
    batch.kind = SourceBatch::Kind::kRecords;
    auto* messages = new std::vector<rd_kafka_message_t*>();
    batch.owner = messages;
    // Wait up to 100 ms for the first record, then take what is already fetched (at most
    // batch_size records or 20 ms), so a batch is large under load and prompt when idle.
    const int64_t deadline = NowMs() + 20;
    int timeout = 100;
    while (static_cast<int>(messages->size()) < options_.batch_size) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, timeout);
      timeout = 0;
      if (!revoked_in_poll_.empty()) {
        // A revoke ran inside that poll and went to the worker ahead of this batch: the records
        // of those partitions taken before it are the new owner's to read (from the offsets
        // committed at the revoke).
        size_t kept = 0;
        for (size_t i = 0; i < batch.records.size(); ++i) {
          if (std::find(revoked_in_poll_.begin(), revoked_in_poll_.end(), batch.records[i].partition) !=
              revoked_in_poll_.end()) {
            rd_kafka_message_destroy((*messages)[i]);
            continue;
          }
          batch.records[kept] = batch.records[i];
          (*messages)[kept++] = (*messages)[i];
        }
        batch.records.resize(kept);
        messages->resize(kept);
        revoked_in_poll_.clear();
      }
      if (m == nullptr) break;
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::fprintf(stderr, "ccpulse: kafka consumer: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        continue;
      }
      messages->push_back(m);
      SourceRecord r;
      r.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
      r.value = std::string_view(static_cast<const char*>(m->payload), m->len);
      r.partition = IndexOf(rd_kafka_topic_name(m->rkt), m->partition);
      r.offset = m->offset;
      r.timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
      r.handle = m;
      if (options_.read_origin) r.origin = OriginOf(m);
      batch.bytes += m->len + m->key_len + 64;
      batch.records.push_back(r);
      handed_next_[r.partition] = m->offset + 1;
      if ((messages->size() & 63) == 0 && NowMs() >= deadline) break;
    }
    if (batch.records.empty()) {
      delete messages;
      EnqueueEnds();
      continue;
    }
    Enqueue(std::move(batch));
  }
}

void KafkaSource::EnqueueEnds() {
  std::vector<int32_t> assigned;
  {
    absl::MutexLock lock(&assigned_mu_);
    assigned = assigned_;
  }
  if (assigned.empty()) return;
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(assigned.size())));
  {
    absl::MutexLock lock(&names_mu_);
    for (int32_t index : assigned) {
      rd_kafka_topic_partition_list_add(list.get(), names_[index].first.c_str(), names_[index].second);
    }
  }
  if (rd_kafka_position(consumer_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  SourceBatch ends;
  ends.kind = SourceBatch::Kind::kEnds;
  for (int i = 0; i < list->cnt; ++i) {
    const int64_t position = list->elems[i].offset;  // RD_KAFKA_OFFSET_INVALID: nothing read yet
    const int32_t index = assigned[static_cast<size_t>(i)];
    auto it = handed_next_.try_emplace(index, -1).first;
    if (position < 0 || position <= it->second) continue;
    it->second = position;
    ends.ends.push_back({index, position});
  }
  if (!ends.ends.empty()) Enqueue(std::move(ends));
}

SourceBatch KafkaSource::Poll(int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  while (true) {
    if (auto batch = queue_.TryPop()) return std::move(*batch);
    if (NowMs() >= deadline || stop_) return SourceBatch{};
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void KafkaSource::Release(SourceBatch& batch) {
  queued_bytes_ -= batch.bytes;
  batch.bytes = 0;
  if (batch.owner != nullptr) {
    auto* messages = static_cast<std::vector<rd_kafka_message_t*>*>(batch.owner);
    for (rd_kafka_message_t* m : *messages) rd_kafka_message_destroy(m);
    delete messages;
    batch.owner = nullptr;
  }
  batch.records.clear();
}

void KafkaSource::Commit(const std::vector<SourcePosition>& positions, bool sync) {
  if (positions.empty() || !consumer_) return;
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(positions.size())));
  {
    absl::MutexLock lock(&names_mu_);
    for (const SourcePosition& p : positions) {
      const auto& [topic, partition] = names_[p.partition];
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = p.next_offset;
    }
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), sync ? 0 : 1);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    std::fprintf(stderr, "ccpulse: kafka commit: %s\n", rd_kafka_err2str(err));
  }
}

std::vector<std::pair<int32_t, int64_t>> KafkaSource::HighWatermarks() {
  std::vector<int32_t> assigned;
  {
    absl::MutexLock lock(&assigned_mu_);
    assigned = assigned_;
  }
  std::vector<std::pair<int32_t, int64_t>> out;
  for (int32_t p : assigned) {
    std::pair<std::string, int32_t> name;
    {
      absl::MutexLock lock(&names_mu_);
      name = names_[p];
    }
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(consumer_.get(), name.first.c_str(), name.second, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      out.emplace_back(p, high);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// KafkaProducer

absl::StatusOr<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(ProducerOptions options,
                                                                     DeliveryFn on_delivery,
                                                                     void* context) {
  std::unique_ptr<KafkaProducer> producer(new KafkaProducer());
  producer->on_delivery_ = on_delivery;
  producer->context_ = context;
  auto conf = ProducerConf(options);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_opaque(conf->get(), producer.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), [](rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
    DeliveryTrampoline(rk, m, opaque);
  });
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return absl::InvalidArgumentError(fmt::format("kafka producer: {}", error));
  conf->release();
  producer->producer_.reset(rk);
  return producer;
}

KafkaProducer::~KafkaProducer() {
  if (producer_) rd_kafka_flush(producer_.get(), 5000);
}

void KafkaProducer::DeliveryTrampoline(rd_kafka_s* rk, const void* message, void* opaque) {
  (void)rk;
  auto* self = static_cast<KafkaProducer*>(opaque);
  const auto* m = static_cast<const rd_kafka_message_t*>(message);
  if (self->on_delivery_ != nullptr) {
    self->on_delivery_(self->context_, m->_private, m->err == RD_KAFKA_RESP_ERR_NO_ERROR,
                       m->err ? rd_kafka_err2str(m->err) : nullptr);
  }
}

absl::Status KafkaProducer::Produce(std::string_view topic, std::string_view key,
                                    std::string_view value, const std::vector<Header>& headers,
                                    const void* copy_headers_from, void* opaque, int32_t partition,
                                    int64_t timestamp_ms) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (copy_headers_from != nullptr) {
    rd_kafka_headers_t* original = nullptr;
    if (rd_kafka_message_headers(static_cast<const rd_kafka_message_t*>(copy_headers_from), &original) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      hdrs = rd_kafka_headers_copy(original);
    }
  }
  if (!headers.empty() && hdrs == nullptr) hdrs = rd_kafka_headers_new(headers.size());
  for (const Header& h : headers) {
    rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                        static_cast<ssize_t>(h.value.size()));
  }
  const std::string topic_name(topic);
  while (true) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic_name.c_str()),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 10);
      continue;
    }
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
    const std::string text = fmt::format("kafka produce to {}: {}", topic, rd_kafka_err2str(err));
    // A message over message.max.bytes can never be sent: the caller's to handle, not retry.
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) return absl::InvalidArgumentError(text);
    return absl::UnavailableError(text);
  }
}

void KafkaProducer::Poll(int timeout_ms) { rd_kafka_poll(producer_.get(), timeout_ms); }

absl::Status KafkaProducer::Flush(int timeout_ms) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(producer_.get(), timeout_ms);
  if (err) {
    return absl::DeadlineExceededError(fmt::format("kafka flush: {} messages still in flight after {} ms",
                                                   rd_kafka_outq_len(producer_.get()), timeout_ms));
  }
  return absl::OkStatus();
}

size_t KafkaProducer::in_flight() const { return static_cast<size_t>(rd_kafka_outq_len(producer_.get())); }

namespace {

// Partitions of `topic` by a metadata request of `rk` (which may create the topic when `rk` is a
// producer: allow.auto.create.topics defaults to true there, false for consumers).
absl::StatusOr<int> PartitionsOf(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t, &metadata, timeout_ms);
  rd_kafka_topic_destroy(t);
  int count = 0;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = metadata->topics[0].partition_cnt;
  }
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
  if (count < 1) return absl::UnavailableError(fmt::format("topic {}: no partitions in the metadata ({})", topic, rd_kafka_err2str(err)));
  return count;
}

}  // namespace

absl::StatusOr<int> KafkaProducer::PartitionCount(const std::string& topic, int timeout_ms) {
  return PartitionsOf(producer_.get(), topic, timeout_ms);
}

absl::Status KafkaProducer::LearnTopic(const std::string& topic, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    auto count = PartitionsOf(producer_.get(), topic, 1000);
    if (count.ok() || NowMs() >= deadline) return count.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::Status KafkaProducer::CreateTopic(std::string_view topic, int partitions, int timeout_ms,
                                       const Properties& configs) {
  char error[512];
  const std::string name(topic);
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(name.c_str(), partitions, -1, error, sizeof(error));
  if (new_topic == nullptr) return absl::InvalidArgumentError(fmt::format("topic {}: {}", topic, error));
  for (const auto& [key, value] : configs) rd_kafka_NewTopic_set_config(new_topic, key.c_str(), value.c_str());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(producer_.get());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(producer_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, error, sizeof(error));
  rd_kafka_CreateTopics(producer_.get(), &new_topic, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 2000);
  absl::Status status = absl::DeadlineExceededError(fmt::format("creating topic {}: no answer", topic));
  if (event != nullptr) {
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** results = result ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
    if (rd_kafka_event_error(event)) {
      status = absl::UnavailableError(fmt::format("creating topic {}: {}", topic, rd_kafka_event_error_string(event)));
    } else if (count == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      status = absl::UnavailableError(
          fmt::format("creating topic {}: {}", topic, rd_kafka_topic_result_error_string(results[0])));
    } else {
      status = absl::OkStatus();
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(new_topic);
  rd_kafka_queue_destroy(queue);
  return status;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints in a compacted topic

namespace {

constexpr size_t kChunkBytes = 512 << 10;  // well below the broker's default 1 MB message limit

std::string ErrorText(rd_kafka_error_t* error) {
  std::string text = rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  return text;
}


class TopicCheckpointStore final : public CheckpointStore {
 public:
  TopicCheckpointStore(ProducerOptions options, std::string topic, std::string name)
      : options_(std::move(options)), topic_(std::move(topic)), name_(std::move(name)) {}

  absl::Status Open() {
    ProducerOptions metadata = options_;
    metadata.properties["allow.auto.create.topics"] = "false";  // not without compaction
    auto producer = KafkaProducer::Create(metadata);
    if (!producer.ok()) return producer.status();
    producer_ = std::move(*producer);
    auto partitions = producer_->PartitionCount(topic_, 5000);
    if (!partitions.ok()) {
      // Small segments, cleaned early: compaction keeps the partition (and LoadAll, the
      // fall-back read of all of it) small; the active segment is never cleaned.
      if (absl::Status s = producer_->CreateTopic(topic_, 1, 10000,
                                                  {{"cleanup.policy", "compact"},
                                                   {"segment.bytes", "67108864"},
                                                   {"min.cleanable.dirty.ratio", "0.1"}});
          !s.ok()) {
        return s;
      }
      // A new topic shows in the metadata once its leader is elected.
      const int64_t deadline = NowMs() + 10000;
      while (!(partitions = producer_->PartitionCount(topic_)).ok() && NowMs() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    if (!partitions.ok()) return partitions.status();
    uint64_t hash = 1469598103934665603ULL;  // FNV-1a: stable across processes and versions
    for (unsigned char c : name_) hash = (hash ^ c) * 1099511628211ULL;
    partition_ = static_cast<int32_t>(hash % static_cast<uint64_t>(*partitions));
    return absl::OkStatus();
  }

  // Fencing: a producer with transactional id "<name>/checkpoint". Its initialisation aborts a
  // previous owner's open transaction and fences that owner's producer, whose writes then fail.
  absl::Status Claim() override {
    absl::MutexLock lock(&mu_);
    writer_.reset();
    ProducerOptions options = options_;
    options.properties["transactional.id"] = name_ + "/checkpoint";
    auto producer = KafkaProducer::Create(options, &TopicCheckpointStore::OnDelivery, this);
    if (!producer.ok()) return producer.status();
    if (rd_kafka_error_t* e = rd_kafka_init_transactions((*producer)->handle(), 60000)) {
      return absl::UnavailableError(
          fmt::format("checkpoint: claiming the name {} in {}: {}", name_, Describe(), ErrorText(e)));
    }
    // Not at its first write, which took 0.5-1 s against 6-60 ms (kafka_fencing_test).
    if (absl::Status s = (*producer)->LearnTopic(topic_, 5000); !s.ok()) {
      std::fprintf(stderr, "ccpulse: checkpoint: %s: %s; the first write may be slow\n", Describe().c_str(),
                   std::string(s.message()).c_str());
    }
    writer_ = std::move(*producer);
    return absl::OkStatus();
  }

  // One transaction: chunks, then the manifest; read_committed readers see all or nothing.
  absl::Status Write(uint64_t sequence, std::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    if (writer_ == nullptr) {
      return absl::FailedPreconditionError(fmt::format("checkpoint: the name {} is not claimed", name_));
    }
    rd_kafka_t* rk = writer_->handle();
    failures_ = 0;
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk)) {  // local: no transaction to abort
      const bool fatal = rd_kafka_error_is_fatal(e);
      const std::string text = ErrorText(e);
      if (fatal) return Lost(text);
      return absl::UnavailableError(fmt::format("checkpoint: begin in {}: {}", Describe(), text));
    }
    const std::string prefix = SlotPrefix(static_cast<int>(sequence % 2));
    const size_t chunks = (bytes.size() + kChunkBytes - 1) / kChunkBytes;
    KafkaProducer* writer = writer_.get();
    const auto produce = [&](const std::string& key, std::string_view value) {
      return writer->Produce(topic_, key, value, {}, nullptr, nullptr, partition_);
    };
    std::string value;
    for (size_t i = 0; i < chunks; ++i) {
      value.assign(reinterpret_cast<const char*>(&sequence), sizeof(sequence));
      value.append(bytes.substr(i * kChunkBytes, kChunkBytes));
      if (absl::Status s = produce(fmt::format("{}chunk/{}", prefix, i), value); !s.ok()) return Abort(std::string(s.message()));
    }
    const std::string manifest = fmt::format("{} {} {}", sequence, chunks, bytes.size());
    if (absl::Status s = produce(prefix + "manifest", manifest); !s.ok()) return Abort(std::string(s.message()));
    if (absl::Status s = Transact("commit", [&] { return rd_kafka_commit_transaction(rk, -1); }); !s.ok()) return s;
    writer_->Poll(0);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Checkpoint>> LoadAll(std::vector<std::string>* problems) override {
    auto ends = Ends();
    if (!ends.ok()) return ends.status();
    Records records;
    if (absl::Status s = Read(ends->first, ends->second, NowMs() + kReadMs, name_ + "/", &records); !s.ok()) return s;
    std::vector<Checkpoint> good;
    for (int slot = 0; slot < 2; ++slot) {
      if (const Record* manifest = Find(records, SlotPrefix(slot) + "manifest")) {
        Assemble(records, slot, manifest->value, &good, problems);
      }
    }
    std::sort(good.begin(), good.end(), [](const Checkpoint& a, const Checkpoint& b) { return a.sequence > b.sequence; });
    return good;
  }

  // Reads the newest checkpoint alone: the partition backwards from its end, in growing
  // windows, until the last manifest of this name written and the chunks before it are found
  // (one checkpoint's worth, plus any other name's records after it). A manifest that does not
  // read, or a checkpoint that does not assemble and decode, falls back to LoadAll, which
  // names the problem and loads the other slot.
  absl::StatusOr<std::optional<Checkpoint>> LoadNewest(std::vector<std::string>* problems) override {
    auto ends = Ends();
    if (!ends.ok()) return ends.status();
    const auto [low, high] = *ends;
    const int64_t deadline = NowMs() + kReadMs;
    const auto fall_back = [&](std::string_view why) {
      problems->push_back(fmt::format("checkpoint {} key {}/*: {}; reading the whole partition", Describe(), name_, why));
      return CheckpointStore::LoadNewest(problems);
    };
    Records records;
    std::string prefix = name_ + "/";
    int slot = -1;
    Manifest manifest;
    int64_t from = high;
    int64_t width = 16;  // a small checkpoint and its markers
    while (from > low) {
      const int64_t start = std::max(low, from - width);
      if (absl::Status s = Read(start, from, deadline, prefix, &records); !s.ok()) return s;
      from = start;
      if (slot < 0) {
        const Record* last = nullptr;
        for (int candidate = 0; candidate < 2; ++candidate) {
          const Record* found = Find(records, SlotPrefix(candidate) + "manifest");
          if (found != nullptr && (last == nullptr || found->offset > last->offset)) last = found, slot = candidate;
        }
        if (slot < 0) {
          width *= 2;
          continue;
        }
        if (!ParseManifest(last->value, &manifest) || manifest.chunks > static_cast<uint64_t>(high - low)) {
          return fall_back(fmt::format("the last manifest (slot {}) does not read", slot));
        }
        prefix = SlotPrefix(slot);  // older windows: this slot alone
        std::erase_if(records, [&](const auto& r) { return !r.first.starts_with(prefix); });
      }
      uint64_t have = 0;
      for (uint64_t i = 0; i < manifest.chunks; ++i) have += Find(records, fmt::format("{}chunk/{}", prefix, i)) != nullptr;
      if (have == manifest.chunks) break;
      width = static_cast<int64_t>(manifest.chunks - have) + 16;  // the chunks come right before it
    }
    if (slot < 0) return std::nullopt;  // read to the start: no manifest of this name
    std::vector<Checkpoint> good;
    std::vector<std::string> unused;  // the fall-back names the problem
    Assemble(records, slot, Find(records, prefix + "manifest")->value, &good, &unused);
    if (!good.empty()) return std::move(good.front());
    return fall_back(fmt::format("the newest checkpoint (slot {}) does not read back", slot));
  }

  std::string Describe() const override { return fmt::format("topic {}[{}]", topic_, partition_); }

 private:
  static void OnDelivery(void* context, void*, bool delivered, const char* error) {
    auto* self = static_cast<TopicCheckpointStore*>(context);
    if (!delivered) {
      ++self->failures_;
      self->last_error_ = error != nullptr ? error : "not delivered";
    }
  }

  // A transactional call, retried while its error is retriable. A fatal error (fenced) loses
  // the writer; any other aborts the transaction, and the next checkpoint tries again.
  template <typename Call>
  absl::Status Transact(std::string_view what, const Call& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int attempt = 1;; ++attempt) {
      rd_kafka_error_t* e = call();
      if (e == nullptr) return absl::OkStatus();
      const bool fatal = rd_kafka_error_is_fatal(e);
      const bool retriable = rd_kafka_error_is_retriable(e);
      const std::string text = ErrorText(e);
      if (fatal) return Lost(text);
      if (!retriable || attempt == 50) return Abort(fmt::format("{}: {}", what, text));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  absl::Status Abort(const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rd_kafka_t* rk = writer_->handle();
    char reason[512];
    if (rd_kafka_fatal_error(rk, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) return Lost(reason);
    const int64_t deadline = NowMs() + 60000;  // Claim waits for mu_ meanwhile
    while (rd_kafka_error_t* e = rd_kafka_abort_transaction(rk, 30000)) {
      const bool fatal = rd_kafka_error_is_fatal(e);
      const bool retriable = rd_kafka_error_is_retriable(e);
      const std::string text = ErrorText(e);
      if (fatal || !retriable || NowMs() >= deadline) return Lost(fmt::format("{}; the abort failed: {}", why, text));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string delivery = failures_ > 0 ? fmt::format(" ({} writes failed: {})", failures_, last_error_) : "";
    return absl::UnavailableError(fmt::format("checkpoint: {} in {}{}", why, Describe(), delivery));
  }

  // The writer cannot go on: fenced by a newer claim of the name, or its transaction is stuck.
  // kAborted: an instance owning partitions stops, and a restart claims the name anew.
  absl::Status Lost(const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const bool fenced = rd_kafka_fatal_error(writer_->handle(), nullptr, 0) == RD_KAFKA_RESP_ERR__FENCED ||
                        text.find("fenced") != std::string::npos;
    rd_kafka_purge(writer_->handle(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    writer_.reset();
    if (fenced) {
      return absl::AbortedError(fmt::format(
          "checkpoint: fenced: another instance has claimed the name {} in {} (a standby took over, or two "
          "instances share the name): {}",
          name_, Describe(), text));
    }
    return absl::AbortedError(fmt::format(
        "checkpoint: the writer of {} in {} cannot go on ({}); a restart claims the name anew", name_, Describe(), text));
  }

  // A consumer of the checkpoint partition (not in a group, no commits).
  absl::StatusOr<KafkaHandle> Reader(const char* isolation, const Properties& tuning) const {
    Properties user = options_.properties;
    user.erase("isolation.level");  // chosen here: committed records, the true end
    Properties defaults = tuning;
    defaults["bootstrap.servers"] = options_.brokers;
    auto conf = BuildConf(defaults, user,
                          {{"group.id", "ccpulse-checkpoint-reader"},
                           {"enable.auto.commit", "false"},
                           {"isolation.level", isolation}});
    if (!conf.ok()) return conf.status();
    char error[512];
    KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error)));
    if (!consumer) return absl::UnavailableError(fmt::format("checkpoint reader: {}", error));
    (void)conf->release();  // owned by the consumer now
    return consumer;
  }

  // The partition's first offset and its high watermark, asked as read_uncommitted: a
  // read_committed handle is told the last stable offset, which lags a transaction just
  // committed (its markers come after), so a read would end before the newest checkpoint, or
  // inside it.
  absl::StatusOr<std::pair<int64_t, int64_t>> Ends() const {
    int64_t low = 0, high = 0;
    auto probe = Reader("read_uncommitted", {});
    if (!probe.ok()) return probe.status();
    if (rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(probe->get(), topic_.c_str(), partition_, &low, &high, 30000)) {
      return absl::UnavailableError(fmt::format("checkpoint: {}: {}", Describe(), rd_kafka_err2str(err)));
    }
    return std::make_pair(low, high);
  }

  static constexpr int64_t kReadMs = 120000;  // a load's time limit

  // "<name>/<slot>/": the keys of one of the two alternating checkpoints.
  std::string SlotPrefix(int slot) const { return fmt::format("{}/{}/", name_, slot); }

  // A manifest's value: "<sequence> <chunks> <bytes>".
  struct Manifest {
    uint64_t sequence = 0, chunks = 0, size = 0;
  };
  static bool ParseManifest(const std::string& value, Manifest* m) {
    unsigned long long sequence = 0, chunks = 0, size = 0;
    if (std::sscanf(value.c_str(), "%llu %llu %llu", &sequence, &chunks, &size) != 3) return false;
    *m = {sequence, chunks, size};
    return true;
  }

  struct Record {
    int64_t offset = 0;
    std::string value;
    bool deleted = false;  // a tombstone: kept, so an older value read later does not revive the key
  };
  using Records = std::map<std::string, Record>;

  static const Record* Find(const Records& records, const std::string& key) {
    auto it = records.find(key);
    return it == records.end() || it->second.deleted ? nullptr : &it->second;
  }

  // Adds the committed records at offsets [from, to) whose key starts with `prefix` to
  // `*records`, each key keeping its value of the highest offset read (as compaction keeps).
  absl::Status Read(int64_t from, int64_t to, int64_t deadline, const std::string& prefix, Records* records) const {
    if (from >= to) return absl::OkStatus();
    // The log ends with a transaction marker, which is no message: the end is known from the
    // position, which an empty fetch moves past it (so fetches must neither wait nor back off
    // long: the defaults added 0.5-1 s to every load). Fetches of 4 MiB into a queue of up to
    // 256 MiB: a fetch that fills the queue stalls the fetcher (64 MiB fetches into the
    // default 64 MiB queue read 462 MB in 2.2 s; these settings in 0.25-0.32 s).
    // librdkafka refuses a fetch.max.bytes below message.max.bytes (the user's, if set).
    int64_t fetch_max = 16 << 20;
    if (auto it = options_.properties.find("message.max.bytes"); it != options_.properties.end()) {
      fetch_max = std::max<int64_t>(fetch_max, std::atoll(it->second.c_str()));
    }
    auto consumer = Reader("read_committed", {{"enable.partition.eof", "true"},
                                              {"auto.offset.reset", "earliest"},  // `from` deleted meanwhile
                                              {"fetch.wait.max.ms", "10"},
                                              {"fetch.error.backoff.ms", "10"},
                                              {"max.partition.fetch.bytes", "4194304"},
                                              {"fetch.max.bytes", std::to_string(fetch_max)},
                                              {"queued.max.messages.kbytes", "262144"}});
    if (!consumer.ok()) return consumer.status();
    ListPtr parts(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(parts.get(), topic_.c_str(), partition_)->offset = from;
    if (rd_kafka_resp_err_t err = rd_kafka_assign(consumer->get(), parts.get())) {
      return absl::UnavailableError(fmt::format("checkpoint: {}: {}", Describe(), rd_kafka_err2str(err)));
    }
    absl::Status status;
    int64_t position = RD_KAFKA_OFFSET_INVALID;
    // Read up to `to` by position, which moves past transaction markers too. An open
    // transaction of any name in this partition holds it (and the end the consumer sees) back
    // until it ends (transaction.timeout.ms at most), so a newer checkpoint behind it is not missed.
    while (position < to) {
      if (NowMs() >= deadline) {
        status = absl::DeadlineExceededError(fmt::format(
            "checkpoint: reading {} took over {} s (at offset {} of {}: an open transaction holds it back)",
            Describe(), kReadMs / 1000, position, to));
        break;
      }
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer->get(), 100)) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          status = absl::UnavailableError(fmt::format("checkpoint: reading {}: {}", Describe(), rd_kafka_message_errstr(m)));
          rd_kafka_message_destroy(m);
          break;
        }
        // The end, also where compaction left no record (a marker) to move the position.
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->offset >= to) position = m->offset;
        const std::string_view key(static_cast<const char*>(m->key), m->key != nullptr ? m->key_len : 0);
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset < to && key.starts_with(prefix)) {
          auto [it, added] = records->try_emplace(std::string(key));
          if (added || it->second.offset < m->offset) {
            it->second.offset = m->offset;
            it->second.deleted = m->payload == nullptr;
            it->second.value.assign(static_cast<const char*>(m->payload), m->payload != nullptr ? m->len : 0);
          }
        }
        rd_kafka_message_destroy(m);
      }
      if (rd_kafka_position(consumer->get(), parts.get()) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        position = std::max(position, parts->elems[0].offset);
      }
    }
    rd_kafka_consumer_close(consumer->get());
    return status;
  }

  // Appends the checkpoint of `slot` (its manifest `manifest`) to `*good`, or why not to `*problems`.
  void Assemble(const Records& records, int slot, const std::string& manifest_value, std::vector<Checkpoint>* good,
                std::vector<std::string>* problems) const {
    const std::string prefix = SlotPrefix(slot);
    const std::string where = fmt::format("{} key {}*", Describe(), prefix);
    Manifest manifest;
    if (!ParseManifest(manifest_value, &manifest)) {
      problems->push_back(fmt::format("checkpoint {}: unreadable manifest", where));
      return;
    }
    const uint64_t sequence = manifest.sequence;
    std::string bytes;
    if (manifest.size <= manifest.chunks * kChunkBytes) bytes.reserve(manifest.size);
    for (uint64_t i = 0; i < manifest.chunks; ++i) {
      const Record* chunk = Find(records, fmt::format("{}chunk/{}", prefix, i));
      uint64_t chunk_sequence = 0;
      if (chunk != nullptr && chunk->value.size() >= sizeof(uint64_t)) {
        std::memcpy(&chunk_sequence, chunk->value.data(), sizeof(chunk_sequence));
      }
      if (chunk_sequence != sequence) {
        problems->push_back(fmt::format("checkpoint {}: chunk {} of checkpoint {} is missing or from another checkpoint",
                                        where, i, sequence));
        return;
      }
      bytes.append(chunk->value, sizeof(uint64_t));
    }
    DecodeInto(bytes, where, good, problems);
  }

  ProducerOptions options_;
  std::unique_ptr<KafkaProducer> producer_;  // topic creation and metadata
  std::string topic_;
  std::string name_;
  int32_t partition_ = 0;
  // Claim (fetch thread) and Write (writer thread).
  absl::Mutex mu_;
  std::unique_ptr<KafkaProducer> writer_ ABSL_GUARDED_BY(mu_);  // transactional; null until claimed
  int failures_ = 0;  // deliveries of the transaction in flight
  std::string last_error_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointStore>> MakeTopicCheckpointStore(const ProducerOptions& options,
                                                                         std::string topic, std::string name) {
  auto store = std::make_unique<TopicCheckpointStore>(options, std::move(topic), std::move(name));
  if (absl::Status s = store->Open(); !s.ok()) return s;
  return store;
}

// ---------------------------------------------------------------------------------------------
// Repartitioner

absl::StatusOr<std::unique_ptr<Repartitioner>> Repartitioner::Create(RepartitionOptions options) {
  if (options.topic.empty()) return absl::InvalidArgumentError("repartition: no internal topic");
  if (!options.key_of) return absl::InvalidArgumentError("repartition: no key function");
  std::unique_ptr<Repartitioner> self(new Repartitioner(std::move(options)));
  const RepartitionOptions& o = self->options_;
  ProducerOptions producer_options{o.brokers, o.producer_properties};
  producer_options.properties["transactional.id"] = o.transactional_id;
  auto producer = KafkaProducer::Create(producer_options);
  if (!producer.ok()) return producer.status();
  self->producer_ = std::move(*producer);

  SourceOptions source;
  source.brokers = o.brokers;
  source.group = o.group;
  source.topics = o.topics;
  source.properties = o.consumer_properties;
  // Offsets another stage committed in a transaction still open are waited for (stable
  // offsets), and aborted input records are skipped.
  source.properties["isolation.level"] = "read_committed";
  auto conf = ConsumerConf(source);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_opaque(conf->get(), self.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), [](rd_kafka_t*, rd_kafka_resp_err_t err,
                                                 rd_kafka_topic_partition_list_t* parts, void* opaque) {
    static_cast<Repartitioner*>(opaque)->OnRebalance(err, parts);
  });
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), error, sizeof(error));
  if (rk == nullptr) return absl::InvalidArgumentError(fmt::format("repartition consumer: {}", error));
  conf->release();
  self->consumer_.reset(rk);
  rd_kafka_poll_set_consumer(rk);

  // The internal topic, looked up by the consumer (which does not auto-create it); created with
  // as many partitions as the widest input topic unless configured.
  int widest = 0;
  for (const std::string& topic : o.topics) {
    auto count = PartitionsOf(rk, topic, 10000);
    if (!count.ok()) return absl::UnavailableError(fmt::format("repartition: input {}", std::string(count.status().message())));
    widest = std::max(widest, *count);
    for (int p = 0; p < *count; ++p) self->origins_.push_back(fmt::format("{}[{}]", topic, p));
  }
  auto existing = PartitionsOf(rk, o.topic, 5000);
  if (!existing.ok()) {
    const int partitions = o.partitions > 0 ? o.partitions : widest;
    // Retention counts from the stage's append, not the input's timestamps: a replayed backlog
    // of old events is not deleted before the engines read it.
    if (absl::Status s = self->producer_->CreateTopic(o.topic, partitions, 10000,
                                                      {{"message.timestamp.type", "LogAppendTime"}});
        !s.ok()) {
      return s;
    }
    existing = PartitionsOf(rk, o.topic, 10000);
    if (!existing.ok()) return existing.status();
  } else if (o.partitions > 0 && *existing != o.partitions) {
    std::fprintf(stderr, "ccpulse: repartition: topic %s exists with %d partitions, not the configured %d; using %d\n",
                 o.topic.c_str(), *existing, o.partitions, *existing);
  }
  self->internal_partitions_ = *existing;

  if (rd_kafka_error_t* e = rd_kafka_init_transactions(self->producer_->handle(), 30000)) {
    return absl::UnavailableError(fmt::format("repartition: init transactions ({}): {}", o.transactional_id, ErrorText(e)));
  }
  // The first commit took 0.74 s without it, holding the first ~0.5 s of input back.
  if (absl::Status s = self->producer_->LearnTopic(o.topic, 5000); !s.ok()) {
    std::fprintf(stderr, "ccpulse: repartition: %s; the first commit may be slow\n", std::string(s.message()).c_str());
  }
  ListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(o.topics.size())));
  for (const std::string& t : o.topics) rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.get())) {
    return absl::UnavailableError(fmt::format("repartition subscribe: {}", rd_kafka_err2str(err)));
  }
  return self;
}

Repartitioner::~Repartitioner() {
  for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
  held_.clear();
  if (consumer_) rd_kafka_consumer_close(consumer_.get());
}

std::vector<uint64_t> Repartitioner::delay_buckets() const {
  std::vector<uint64_t> counts;
  for (const auto& count : delay_buckets_) counts.push_back(count.load(std::memory_order_relaxed));
  return counts;
}

// Runs inside consumer_poll, never while a transaction is open. Held records of revoked
// partitions are dropped: their offsets were not committed, so the next owner reads them.

void Repartitioner::OnRebalance(int err, void* partitions) {
  auto* parts = static_cast<rd_kafka_topic_partition_list_t*>(partitions);
  rd_kafka_t* rk = consumer_.get();
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
      std::fprintf(stderr, "ccpulse: repartition: incremental assign: %s\n", ErrorText(e).c_str());
    }
    return;
  }
  std::erase_if(held_, [parts](rd_kafka_message_t* m) {
    if (!rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt), m->partition)) return false;
    rd_kafka_message_destroy(m);
    return true;
  });
  if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) {
    std::fprintf(stderr, "ccpulse: repartition: incremental unassign: %s\n", ErrorText(e).c_str());
  }
}

absl::Status Repartitioner::Run(const std::atomic<bool>& stop) {
  rd_kafka_t* rk = consumer_.get();
  int aborted_in_a_row = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    // Collect a batch: wait up to 100 ms for a first record, then until batch_records or
    // batch_ms. Rebalances happen here, outside any transaction; after an abort this backs off
    // and polls at least once, so the rebalance that caused it is served.
    const int64_t deadline = NowMs() + options_.batch_ms;
    int timeout = aborted_in_a_row > 0 ? std::min(100 * aborted_in_a_row, 1000) : held_.empty() ? 100 : 0;
    for (bool first = true; first || static_cast<int>(held_.size()) < options_.batch_records; first = false) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, timeout);
      if (m == nullptr) {
        if (held_.empty() || NowMs() >= deadline || stop.load(std::memory_order_relaxed)) break;
        timeout = static_cast<int>(std::max<int64_t>(1, deadline - NowMs()));
        continue;
      }
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          std::fprintf(stderr, "ccpulse: repartition consumer: %s\n", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        continue;
      }
      held_.push_back(m);
      timeout = static_cast<int>(std::max<int64_t>(0, deadline - NowMs()));
    }
    if (held_.empty()) continue;
    auto committed = CommitHeld(stop);
    if (!committed.ok()) return committed.status();
    if (*committed) {
      aborted_in_a_row = 0;
    } else if (++aborted_in_a_row >= kMaxAbortsInARow) {
      return absl::UnavailableError(fmt::format("repartition: {} transactions in a row aborted; the last: {}",
                                                aborted_in_a_row, last_abort_));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Repartitioner::CommitHeld(const std::atomic<bool>& stop) {
  rd_kafka_t* producer = producer_->handle();
  const auto fatal = [&](std::string_view what, const std::string& text) {
    return absl::UnavailableError(fmt::format("repartition: {} ({}): {}", what, options_.transactional_id, text));
  };
  // Aborts the open transaction; the held records are sent again in the next one.
  const auto abort = [&](std::string why) -> absl::StatusOr<bool> {
    std::fprintf(stderr, "ccpulse: repartition: %s; aborting, the batch is sent again\n", why.c_str());
    last_abort_ = std::move(why);
    ++aborted_;
    while (rd_kafka_error_t* e = rd_kafka_abort_transaction(producer, 30000)) {
      const bool retry = rd_kafka_error_is_retriable(e) && !stop.load(std::memory_order_relaxed);
      const std::string text = ErrorText(e);
      if (!retry) return fatal("abort", text);
    }
    return false;
  };
  // A transactional call: retried while its error is retriable; a fatal error (fenced by a
  // newer life) ends the stage; any other aborts the transaction.
  const auto call = [&](std::string_view what, const auto& fn) -> std::optional<absl::StatusOr<bool>> {
    while (rd_kafka_error_t* e = fn()) {
      const bool is_fatal = rd_kafka_error_is_fatal(e);
      const bool retry = rd_kafka_error_is_retriable(e) && !stop.load(std::memory_order_relaxed);
      const std::string text = ErrorText(e);
      if (is_fatal) return fatal(what, text);
      if (!retry) return abort(fmt::format("{}: {}", what, text));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  };
  if (auto failed = call("begin transaction", [&] { return rd_kafka_begin_transaction(producer); })) return *failed;
  // Next offset per input partition; records of a partition are held in offset order.
  // Keyed by the topic names librdkafka holds (NUL-terminated), alive with the held messages.
  std::map<std::pair<std::string_view, int32_t>, int64_t> next;
  uint64_t unkeyed = 0, too_large = 0;
  std::string origin;
  std::vector<KafkaProducer::Header> origin_header(1);
  for (rd_kafka_message_t* m : held_) {
    const std::string_view topic = rd_kafka_topic_name(m->rkt);
    const std::string_view value(static_cast<const char*>(m->payload), m->len);
    std::string_view key = options_.key_of(topic, value);
    const bool keyed = !key.empty();
    if (!keyed) key = std::string_view(static_cast<const char*>(m->key), m->key_len);
    origin.clear();
    fmt::format_to(std::back_inserter(origin), "{}[{}]@{}", topic, m->partition, m->offset);
    origin_header[0] = {"ccpulse-origin", origin};
    absl::Status s = producer_->Produce(options_.topic, key, value, origin_header, m, nullptr, -1,
                                        rd_kafka_message_timestamp(m, nullptr));
    if (s.ok() && !keyed) ++unkeyed;
    if (s.code() == absl::StatusCode::kInvalidArgument) {
      // Too large to forward with its origin: a dead letter (key and headers, no value) in the
      // same transaction names it, so it is counted and can be found in the input.
      ++too_large;
      const auto letter = DeadLetterHeaders(fmt::format("record_too_large: {}", std::string(s.message())), topic,
                                            std::to_string(m->partition), m->offset);
      std::vector<KafkaProducer::Header> headers;
      for (const auto& [name, text] : letter) headers.push_back({name, text});
      s = producer_->Produce(options_.dead_letter_topic, std::string_view(static_cast<const char*>(m->key), m->key_len),
                             {}, headers);
    }
    if (!s.ok()) {
      if (rd_kafka_fatal_error(producer, nullptr, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) return fatal("produce", std::string(s.message()));
      return abort(std::string(s.message()));
    }
    next[{topic, m->partition}] = m->offset + 1;
  }
  ListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(next.size())));
  for (const auto& [tp, offset] : next) {
    rd_kafka_topic_partition_list_add(offsets.get(), tp.first.data(), tp.second)->offset = offset;
  }
  rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata(consumer_.get());
  auto failed = call("send offsets", [&] { return rd_kafka_send_offsets_to_transaction(producer, offsets.get(), group, -1); });
  rd_kafka_consumer_group_metadata_destroy(group);
  if (failed) return *failed;
  if (auto failed_commit = call("commit", [&] { return rd_kafka_commit_transaction(producer, -1); })) return *failed_commit;
  forwarded_ += held_.size() - too_large;
  unkeyed_ += unkeyed;
  too_large_ += too_large;
  ++transactions_;
  const int64_t committed_ms = absl::ToUnixMillis(absl::Now());  // wall clock, as the records' timestamps
  uint64_t delay_sum_ms = 0;
  for (rd_kafka_message_t* m : held_) {
    const int64_t timestamp_ms = rd_kafka_message_timestamp(m, nullptr);
    if (timestamp_ms <= 0) continue;
    const int64_t delay_ms = std::max<int64_t>(0, committed_ms - timestamp_ms);
    delay_buckets_[LatencyBucketOf(static_cast<double>(delay_ms) / 1000)].fetch_add(1, std::memory_order_relaxed);
    delay_sum_ms += static_cast<uint64_t>(delay_ms);
  }
  delay_sum_ms_.fetch_add(delay_sum_ms, std::memory_order_relaxed);
  for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
  held_.clear();
  return true;
}

// ---------------------------------------------------------------------------------------------
// KafkaDeadLetters

struct KafkaDeadLetters::Letter {
  std::string key, value;
  std::vector<std::pair<std::string, std::string>> headers;  // original + ccpulse-*
  int32_t partition = 0;
  int64_t offset = 0;
  int attempts = 0;
  KafkaDeadLetters* owner = nullptr;
};

absl::StatusOr<std::unique_ptr<KafkaTeamFeed>> KafkaTeamFeed::Create(ProducerOptions options, std::string topic,
                                                                    int partitions) {
  std::unique_ptr<KafkaTeamFeed> feed(new KafkaTeamFeed());
  // A record that fails for good fails every later one of the producer too: the team tier
  // never sees a later record past a missing one.
  options.properties["enable.gapless.guarantee"] = "true";
  // Created here with its partition count, never by the broker's defaults.
  options.properties["allow.auto.create.topics"] = "false";
  auto producer = KafkaProducer::Create(std::move(options), &KafkaTeamFeed::OnDelivery, feed.get());
  if (!producer.ok()) return producer.status();
  feed->producer_ = std::move(*producer);
  feed->topic_ = std::move(topic);
  absl::StatusOr<int> count = feed->producer_->PartitionCount(feed->topic_, 5000);
  if (!count.ok()) {
    if (absl::Status s = feed->producer_->CreateTopic(feed->topic_, partitions); !s.ok()) return s;
    // A topic just created may not show at once: learn it (asking again) before counting.
    if (absl::Status s = feed->producer_->LearnTopic(feed->topic_, 5000); !s.ok()) return s;
    count = feed->producer_->PartitionCount(feed->topic_);
    if (!count.ok()) return count.status();
  }
  if (*count != partitions) {
    return absl::FailedPreconditionError(fmt::format(
        "team feed topic {} has {} partitions, but kafka.team_stage.partitions is {}; a team's partition is a hash "
        "modulo the count, so the two must agree",
        feed->topic_, *count, partitions));
  }
  return feed;
}

absl::Status KafkaTeamFeed::Send(int partition, std::string_view record) {
  const uint64_t sequence = sent_;
  absl::Status s = producer_->Produce(topic_, {}, record, {}, nullptr,
                                      reinterpret_cast<void*>(static_cast<uintptr_t>(sequence)), partition);
  if (!s.ok()) return s;
  pending_.insert(sequence);
  ++sent_;
  return absl::OkStatus();
}

void KafkaTeamFeed::OnDelivery(void* context, void* opaque, bool delivered, const char* error) {
  auto* self = static_cast<KafkaTeamFeed*>(context);
  const auto sequence = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(opaque));
  if (delivered) {
    self->pending_.erase(sequence);
    return;
  }
  // The idempotent producer has retried already: the record stays pending (no checkpoint after
  // it becomes durable) and the worker restarts from the last one, which sends it again.
  ++self->failed_;
  std::fprintf(stderr, "ccpulse: team feed record %llu to %s lost: %s\n", static_cast<unsigned long long>(sequence),
               self->topic_.c_str(), error != nullptr ? error : "unknown error");
}

absl::StatusOr<std::unique_ptr<KafkaDeadLetters>> KafkaDeadLetters::Create(ProducerOptions options,
                                                                          std::string topic) {
  std::unique_ptr<KafkaDeadLetters> sink(new KafkaDeadLetters());
  auto producer = KafkaProducer::Create(std::move(options), &KafkaDeadLetters::OnDelivery, sink.get());
  if (!producer.ok()) return producer.status();
  sink->producer_ = std::move(*producer);
  sink->topic_ = std::move(topic);
  return sink;
}

bool KafkaDeadLetters::Write(const SourceRecord& record, std::string_view source_name,
                             std::string_view reason, std::string_view message) {
  auto* letter = new Letter();
  letter->key.assign(record.key);
  letter->value.assign(record.value);
  letter->partition = record.partition;
  letter->offset = record.offset;
  letter->owner = this;
  if (record.handle != nullptr) {
    rd_kafka_headers_t* original = nullptr;
    if (rd_kafka_message_headers(static_cast<const rd_kafka_message_t*>(record.handle), &original) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(original, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        letter->headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : "");
      }
    }
  }
  const std::optional<TopicPartition> parsed = ParsePartitionName(source_name);
  const std::string partition = parsed ? std::to_string(parsed->partition) : "";
  for (auto& header : DeadLetterHeaders(fmt::format("{}: {}", reason, message), parsed ? parsed->topic : source_name,
                                        partition, record.offset)) {
    letter->headers.push_back(std::move(header));
  }
  pending_[record.partition].insert(record.offset);
  return Send(letter);
}

bool KafkaDeadLetters::Send(Letter* letter) {
  std::vector<KafkaProducer::Header> headers;
  headers.reserve(letter->headers.size());
  for (const auto& [n, v] : letter->headers) headers.push_back({n, v});
  ++letter->attempts;
  if (absl::Status s = producer_->Produce(topic_, letter->key, letter->value, headers, nullptr, letter); !s.ok()) {
    std::fprintf(stderr, "ccpulse: dead letter for %d@%lld not queued: %s\n", letter->partition,
                 static_cast<long long>(letter->offset), std::string(s.message()).c_str());
    ++failed_;
    delete letter;  // stays pending: its source offset is never committed
    return false;
  }
  return true;
}

void KafkaDeadLetters::OnDelivery(void* context, void* opaque, bool delivered, const char* error) {
  auto* self = static_cast<KafkaDeadLetters*>(context);
  auto* letter = static_cast<Letter*>(opaque);
  if (delivered) {
    ++self->delivered_;
    auto it = self->pending_.find(letter->partition);
    if (it != self->pending_.end()) {
      it->second.erase(it->second.find(letter->offset));
      if (it->second.empty()) self->pending_.erase(it);
    }
    delete letter;
    return;
  }
  if (letter->attempts < 4) {
    ++self->retried_;
    self->Send(letter);
    return;
  }
  ++self->failed_;
  std::fprintf(stderr, "ccpulse: dead letter for partition %d offset %lld lost after %d attempts: %s; "
               "its offset will not be committed\n",
               letter->partition, static_cast<long long>(letter->offset), letter->attempts,
               error ? error : "?");
  delete letter;
}

void KafkaDeadLetters::Poll() { producer_->Poll(0); }

int64_t KafkaDeadLetters::LowestPendingOffset(int32_t partition) const {
  auto it = pending_.find(partition);
  if (it == pending_.end() || it->second.empty()) return INT64_MAX;
  return *it->second.begin();
}

absl::Status KafkaDeadLetters::Flush(int timeout_ms) { return producer_->Flush(timeout_ms); }

// ---------------------------------------------------------------------------------------------
// MockCluster

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Create(int brokers) {
  std::unique_ptr<MockCluster> mock(new MockCluster());
  ConfPtr conf(rd_kafka_conf_new());
  char error[512];
  rd_kafka_conf_set(conf.get(), "log_level", "3", error, sizeof(error));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error, sizeof(error));
  if (rk == nullptr) return absl::InternalError(fmt::format("mock cluster host: {}", error));
  conf.release();
  mock->host_.reset(rk);
  mock->cluster_ = rd_kafka_mock_cluster_new(rk, brokers);
  if (mock->cluster_ == nullptr) return absl::InternalError("librdkafka mock cluster could not start");
  return mock;
}

MockCluster::~MockCluster() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
}

std::string MockCluster::bootstrap_servers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

absl::Status MockCluster::CreateTopic(const std::string& topic, int partitions) {
  if (rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1)) {
    return absl::InternalError(fmt::format("mock topic {}: {}", topic, rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

}  // namespace ccpulse::kafka
