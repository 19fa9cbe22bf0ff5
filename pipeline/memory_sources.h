// In-memory record sources for tests and benchmarks: a scripted sequence of batches, and
// partitions read from in-memory logs. Header-only; not linked into ccpulse.
#ifndef CCPULSE_PIPELINE_MEMORY_SOURCES_H_
#define CCPULSE_PIPELINE_MEMORY_SOURCES_H_

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/source.h"

namespace ccpulse {

inline std::string EventsPartitionName(int32_t partition) {
  return "events[" + std::to_string(partition) + "]";
}

// Records what the processor commits and acknowledges; partitions are named "events[p]"
// unless `names` says otherwise.
class RecordingSource : public RecordSource {
 public:
  void Release(SourceBatch&) override {}
  void Commit(const std::vector<SourcePosition>& positions, bool) override {
    for (const SourcePosition& p : positions) {
      commits.emplace_back(p.partition, p.next_offset);
      committed[p.partition] = p.next_offset;
    }
  }
  void AcknowledgeRevoke() override { acknowledged = true; }
  std::string PartitionName(int32_t partition) const override {
    return static_cast<size_t>(partition) < names.size() ? names[static_cast<size_t>(partition)]
                                                         : EventsPartitionName(partition);
  }
  std::vector<std::pair<int32_t, int64_t>> HighWatermarks() override { return {}; }

  std::vector<std::string> names;
  std::vector<std::pair<int32_t, int64_t>> commits;  // every position, in order
  std::map<int32_t, int64_t> committed;              // the last per partition
  bool acknowledged = false;
};

// Polls return the script's batches in turn, then empty ones. Record views point into the
// caller's storage.
class ScriptedSource final : public RecordingSource {
 public:
  explicit ScriptedSource(std::vector<SourceBatch> script) : script_(std::move(script)) {}
  static SourceBatch Records(std::vector<SourceRecord> records) {
    SourceBatch batch;
    batch.kind = SourceBatch::Kind::kRecords;
    batch.records = std::move(records);
    return batch;
  }
  static SourceBatch Assigned(std::vector<int32_t> partitions) {
    return Ownership(SourceBatch::Kind::kAssigned, std::move(partitions));
  }
  static SourceBatch Revoked(std::vector<int32_t> partitions) {
    return Ownership(SourceBatch::Kind::kRevoked, std::move(partitions));
  }
  static SourceBatch Ends(std::vector<SourcePosition> ends) {
    SourceBatch batch;
    batch.kind = SourceBatch::Kind::kEnds;
    batch.ends = std::move(ends);
    return batch;
  }

  SourceBatch Poll(int) override { return next_ < script_.size() ? std::move(script_[next_++]) : SourceBatch{}; }

 private:
  static SourceBatch Ownership(SourceBatch::Kind kind, std::vector<int32_t> partitions) {
    SourceBatch batch;
    batch.kind = kind;
    batch.partitions = std::move(partitions);
    return batch;
  }

  std::vector<SourceBatch> script_;
  size_t next_ = 0;
};

// Partition p reads log[p] from start[p], up to `batch` records per poll, taking the partitions
// in turn (so their records interleave).
class LogSource final : public RecordingSource {
 public:
  // `assign_first`: the first poll assigns every partition, as a consumer group does.
  LogSource(std::vector<std::span<const std::string>> log, std::vector<int64_t> start, int batch,
            bool assign_first = false)
      : log_(std::move(log)), next_(std::move(start)), batch_(batch), assign_first_(assign_first) {}

  SourceBatch Poll(int) override {
    SourceBatch batch;
    if (std::exchange(assign_first_, false)) {
      batch.kind = SourceBatch::Kind::kAssigned;
      for (size_t p = 0; p < log_.size(); ++p) batch.partitions.push_back(static_cast<int32_t>(p));
      return batch;
    }
    for (size_t tries = 0; tries < log_.size() && batch.records.empty(); ++tries) {
      const size_t p = turn_++ % log_.size();
      for (int i = 0; i < batch_ && next_[p] < std::ssize(log_[p]); ++i, ++next_[p]) {
        batch.records.push_back({{}, log_[p][static_cast<size_t>(next_[p])], static_cast<int32_t>(p), next_[p]});
      }
    }
    if (!batch.records.empty()) batch.kind = SourceBatch::Kind::kRecords;
    return batch;
  }

  bool done() const {
    for (size_t p = 0; p < log_.size(); ++p) {
      if (next_[p] < std::ssize(log_[p])) return false;
    }
    return true;
  }
  int64_t consumed() const {
    int64_t n = 0;
    for (int64_t next : next_) n += next;
    return n;
  }

 private:
  std::vector<std::span<const std::string>> log_;
  std::vector<int64_t> next_;
  int batch_;
  bool assign_first_;
  size_t turn_ = 0;
};

// Dead letters kept in memory ("partition@offset:reason"), all durable at once.
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

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_MEMORY_SOURCES_H_
