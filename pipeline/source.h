// The interfaces between the runtime and where records come from / go to (STYLE: "Source:
// poll batches, report positions, commit. Sink: write, flush with a deadline."). Kafka
// implements them in pipeline/kafka/; tests use in-memory fakes.
#ifndef CCPULSE_PIPELINE_SOURCE_H_
#define CCPULSE_PIPELINE_SOURCE_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ccpulse {

// Upper bounds (seconds) of the latency histograms, from a record's Kafka timestamp: to its
// effect in a published snapshot (processing latency), to its commit in the internal topic
// (the repartition stage's delay).
inline constexpr std::array<double, 14> kLatencyBucketsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// The bucket of a latency: the first bound >= it (kLatencyBucketsSeconds.size(): +Inf).
inline size_t LatencyBucketOf(double seconds) {
  return static_cast<size_t>(std::lower_bound(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end(), seconds) -
                             kLatencyBucketsSeconds.begin());
}

// A partition named as in messages, labels and checkpoints: "topic[3]".
struct TopicPartition {
  std::string_view topic;
  int32_t partition = 0;
};
// Splits "topic[3]"; nullopt when `name` is not of that form.
inline std::optional<TopicPartition> ParsePartitionName(std::string_view name) {
  const size_t bracket = name.rfind('[');
  if (bracket == std::string_view::npos || bracket == 0 || name.size() < bracket + 3 || name.back() != ']') {
    return std::nullopt;
  }
  const std::string_view digits = name.substr(bracket + 1, name.size() - bracket - 2);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // as written: "t[7]", not "t[07]"
  int32_t partition = 0;
  for (char c : digits) {
    if (c < '0' || c > '9' || partition > 100'000'000) return std::nullopt;
    partition = partition * 10 + (c - '0');
  }
  return TopicPartition{name.substr(0, bracket), partition};
}

// One input record. Views stay valid until the batch holding it is released.
struct SourceRecord {
  std::string_view key;
  std::string_view value;
  int32_t partition = 0;      // dense index over (topic, partition), see PartitionName
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // producer/broker timestamp, -1 when unknown
  const void* handle = nullptr;  // the source's own record (headers, for dead letters)
  std::string_view origin{};     // repartitioned: the input partition it came from ("topic[3]")
};

// What a poll returns: records, or a change of the partitions this consumer owns.
// A position to commit: the next offset to read in `partition`.
struct SourcePosition {
  int32_t partition = 0;
  int64_t next_offset = 0;
};

struct SourceBatch {
  // kEnds: the consumer read past offsets that hold no record (a transaction's commit marker)
  // after the last record it handed out of those partitions: once those records are applied,
  // the partitions' positions are `ends`, so that a topic written in transactions reads lag 0
  // at rest.
  enum class Kind { kRecords, kAssigned, kRevoked, kEnds, kEmpty };
  Kind kind = Kind::kEmpty;
  std::vector<SourceRecord> records;
  std::vector<int32_t> partitions;  // for kAssigned / kRevoked
  std::vector<SourcePosition> ends;  // for kEnds
  bool lost = false;  // kRevoked: the session had expired; another consumer may own them already
  void* owner = nullptr;            // source-private; passed back to Release
  size_t bytes = 0;
};

// A stream of records from one consumer. Poll/Release/Commit are called from one thread (the
// worker); implementations may run their own fetch thread behind it.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Waits up to `timeout_ms` for the next batch.
  virtual SourceBatch Poll(int timeout_ms) = 0;
  // Gives a batch's records back (frees them); also tells the source the worker kept up.
  virtual void Release(SourceBatch& batch) = 0;
  // Commits positions; only records before them have their effects applied. Asynchronous
  // unless `sync` (used before giving partitions up).
  virtual void Commit(const std::vector<SourcePosition>& positions, bool sync) = 0;
  // Acknowledges a kRevoked batch once its partitions' effects are committed.
  virtual void AcknowledgeRevoke() = 0;
  // "topic[partition]" for messages and labels.
  virtual std::string PartitionName(int32_t partition) const = 0;
  // Last known high watermark (next offset to be written) per owned partition, for lag.
  virtual std::vector<std::pair<int32_t, int64_t>> HighWatermarks() = 0;
};

// Where records that cannot be processed go, with the reason (DESIGN §2).
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Queues the record; `reason` is a short label (e.g. "missing_field", "late"), `message`
  // the full error. Returns false if it could not even be queued (counted by the caller).
  virtual bool Write(const SourceRecord& record, std::string_view source_name,
                     std::string_view reason, std::string_view message) = 0;
  // Serves delivery reports; returns the lowest offset per partition not yet durable, so the
  // caller never commits past a dead letter that might still be lost.
  virtual void Poll() = 0;
  virtual int64_t LowestPendingOffset(int32_t partition) const = 0;
  // Waits up to `timeout_ms` for everything queued to be delivered.
  virtual absl::Status Flush(int timeout_ms) = 0;
  virtual uint64_t delivered() const = 0;
  virtual uint64_t failed() const = 0;
};

// Where a customer engine's records for the team stages go (DESIGN §6: the team-keyed
// internal topic, one partition per team partition).
class TeamFeedSink {
 public:
  virtual ~TeamFeedSink() = default;
  // Queues a record for team partition `partition` (waiting while the queue is full); an error
  // when it cannot be queued.
  virtual absl::Status Send(int partition, std::string_view record) = 0;
  // Serves delivery reports.
  virtual void Poll() = 0;
  // Waits up to `timeout_ms` for everything queued to be delivered.
  virtual absl::Status Flush(int timeout_ms) = 0;
  // Records queued so far; every one of the first durable_prefix() is delivered.
  virtual uint64_t sent() const = 0;
  virtual uint64_t durable_prefix() const = 0;
  // Records that could not be delivered (they are lost to the team stages: the customer engine
  // must restart from its checkpoint and send them again).
  virtual uint64_t failed() const = 0;
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_SOURCE_H_
