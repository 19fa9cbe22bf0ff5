// Checkpoints (DESIGN §6): the engine's whole state plus the input offsets it reflects, in a
// versioned binary file with a checksum, kept by a state backend: a local directory (write,
// fsync, rename) or a compacted Kafka topic (chunks, so state can follow a consumer to another
// machine). A background writer makes them durable without stalling the worker; the worker
// commits consumer-group offsets only once the checkpoint that covers them is durable.
#ifndef CCPULSE_PIPELINE_CHECKPOINT_H_
#define CCPULSE_PIPELINE_CHECKPOINT_H_

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ccpulse {
namespace operators {
class Engine;
}  // namespace operators

struct Checkpoint {
  uint64_t sequence = 0;
  int64_t created_ms = 0;  // wall clock
  // Every input partition the worker has indexed, in its dense-index order ("topic[3]"), with
  // the next offset to apply (-1: nothing applied yet).
  std::vector<std::pair<std::string, int64_t>> partitions;
  // Reading a repartitioned topic: the input partitions the engine's watermark channels stand
  // for (StreamProcessor::Options::origins); empty otherwise, and in format version 1.
  std::vector<std::string> origins;
  std::string engine_state;  // operators::Engine::SaveState
};

// File layout (little-endian): magic "CCPCKPT\n", u32 format version, u32 CRC-32 of the
// payload, u64 payload size, payload. The payload holds the sequence, time, partitions, origins
// (from version 2; version 1 files are read too) and engine state. `where` names the source in error messages.
// With `engine`, its state is saved in place of checkpoint.engine_state (no extra copy).
// `reserve`: expected size (the previous checkpoint's), to spare the string's regrowth.
// Unsealed, the header's checksum and size are left for SealCheckpoint (the writer thread does
// it, so the worker's pause is the serialization alone).
std::string EncodeCheckpoint(const Checkpoint& checkpoint, const operators::Engine* engine = nullptr,
                             size_t reserve = 0, bool seal = true);
void SealCheckpoint(std::string* bytes);
absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view bytes, std::string_view where);
// For the backends' LoadAll: appends the decoded checkpoint to `*good`, or its error to `*problems`.
void DecodeInto(std::string_view bytes, std::string_view where, std::vector<Checkpoint>* good,
                std::vector<std::string>* problems);

// A copy-on-write snapshot (DESIGN §6: checkpoints without stalling processing): a forked copy
// of the process encodes the checkpoint from its frozen view of the engine, seals it into a
// memory file and exits, while the parent goes on. The worker's pause is the fork alone (page
// tables, not state); the cost is the pages the parent changes while the child runs, copied by
// the kernel. Move-only; dropping one that was not collected kills and reaps the child.
class ForkedEncoding {
 public:
  // Forks (worker thread, between records). `reserve` as for EncodeCheckpoint.
  static absl::StatusOr<ForkedEncoding> Start(const Checkpoint& header, const operators::Engine& engine,
                                              size_t reserve);
  // The same with what the child writes given by `encode` (run in the child only: sealed
  // checkpoints, e.g. several framed by AppendFrame).
  static absl::StatusOr<ForkedEncoding> Start(const std::function<std::string()>& encode);
  ForkedEncoding(ForkedEncoding&& other) noexcept;
  ForkedEncoding& operator=(ForkedEncoding&& other) noexcept;
  ~ForkedEncoding();

  // Waits for the child and maps what it wrote: the sealed checkpoint, valid while this object
  // lives (writer thread). An error names how the child ended (exit status or signal) and how
  // many bytes it had written.
  absl::StatusOr<std::string_view> Collect();
  int pid() const { return pid_; }  // the child's, until collected

 private:
  ForkedEncoding(int pid, int fd) : pid_(pid), fd_(fd) {}
  void Abandon();

  int pid_ = -1;
  int fd_ = -1;  // the memory file
  void* mapped_ = nullptr;
  size_t size_ = 0;
};

// A checkpoint handed to the writer: encoded by the worker (unsealed bytes), or by a forked
// child still at work.
using EncodedCheckpoint = std::variant<std::string, ForkedEncoding>;

// Several sealed checkpoints in one forked encoding: each as its u64 size and bytes.
void AppendFrame(std::string_view checkpoint, std::string* out);
// Frame `index` of `frames`, or why it is not there.
absl::StatusOr<std::string_view> FrameOf(std::string_view frames, size_t index);

// A state backend. Write is called from the writer thread, Load* before processing starts.
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  // Makes this process the only writer of its checkpoints, before it loads one to take over: a
  // write by a previous owner of the name (a paused instance a standby replaced, or another
  // instance given the same name) then fails with kAborted ("fenced"). The directory backend,
  // local to one machine, does not fence.
  virtual absl::Status Claim() { return absl::OkStatus(); }
  // Makes checkpoint `sequence` durable; older ones beyond the retention may be deleted.
  virtual absl::Status Write(uint64_t sequence, std::string_view bytes) = 0;
  // Checkpoints that decode, newest first (a corrupt or truncated one is skipped with a message
  // in `*problems` naming it and why).
  virtual absl::StatusOr<std::vector<Checkpoint>> LoadAll(std::vector<std::string>* problems) = 0;
  // The newest checkpoint that decodes (none: nullopt), reading older ones only as needed.
  virtual absl::StatusOr<std::optional<Checkpoint>> LoadNewest(std::vector<std::string>* problems) {
    auto all = LoadAll(problems);
    if (!all.ok()) return all.status();
    if (all->empty()) return std::nullopt;
    return std::move(all->front());
  }
  virtual std::string Describe() const = 0;
};

// checkpoint-<sequence>.ckpt files in a directory: written to a temporary name, fsynced,
// renamed, directory fsynced; the newest `keep` are kept.
std::unique_ptr<CheckpointStore> MakeDirectoryStore(std::string dir, int keep = 3);

struct CheckpointStats {
  uint64_t taken = 0;
  uint64_t forked = 0;  // of those taken, encoded by a forked child
  uint64_t durable = 0;
  uint64_t failed = 0;
  uint64_t last_bytes = 0;     // of the latest durable checkpoint
  double last_pause_ms = 0;    // worker time to save the state
  double last_write_ms = 0;    // writer time to make it durable (for a forked snapshot, the
                               // child's encoding included)
  double pause_ms_sum = 0;
};

// The background writer: one checkpoint in flight at a time.
class CheckpointWriter {
 public:
  // `store`: where Submit(sequence, encoded) writes (null: parts only).
  explicit CheckpointWriter(CheckpointStore* store);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // How a write ended.
  struct Result {
    uint64_t sequence = 0;
    absl::Status status;  // ok: durable (with parts: the first failure)
    std::vector<absl::Status> parts;  // with parts: each one's, in order
    uint64_t bytes = 0;   // of the sealed checkpoint (0 when it failed before that)
    double write_ms = 0;  // writer time, a forked child's encoding included
  };

  // Hands a checkpoint over (worker thread), once the previous one's result has been taken.
  void Submit(uint64_t sequence, EncodedCheckpoint encoded) {
    std::vector<Part> parts;
    parts.push_back({store_, std::move(encoded)});
    Submit(sequence, std::move(parts));
  }
  // A checkpoint in parts, each to its own store (the team tier's, one per input partition):
  // written in turn, each durable or not on its own (Result::parts).
  struct Part {
    CheckpointStore* store = nullptr;
    EncodedCheckpoint encoded;
    // >= 0: the part is frame `frame` of the forked encoding of the submission's first part
    // with a frame (which holds it; the others' `encoded` are unused).
    int frame = -1;
  };
  void Submit(uint64_t sequence, std::vector<Part> parts);
  // The result of the write submitted last, once it has ended (then once only).
  std::optional<Result> TakeResult();
  // Waits until nothing is in flight (up to timeout_ms); false on timeout.
  bool Drain(int timeout_ms);

 private:
  void Run();

  CheckpointStore* store_;
  // std::mutex, not absl::Mutex: ThreadSanitizer sees its ordering (Debian's libabsl is not
  // instrumented), so the tsan preset checks this class.
  mutable std::mutex mu_;
  std::condition_variable changed_;  // busy_ or stop_ changed
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Part> parts_ ABSL_GUARDED_BY(mu_);
  std::optional<Result> result_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The team tier's checkpoints (DESIGN §6: state moves with its partition): one series per input
// partition, in a store of its own named after the partition, so that whichever instance reads
// the partition next restores it there. Each checkpoint holds that partition alone (its name and
// next offset, and Engine::SavePartitionState). Stores are made on first use and kept.
class PartitionCheckpoints {
 public:
  using MakeStore = std::function<absl::StatusOr<std::unique_ptr<CheckpointStore>>(const std::string& partition)>;
  explicit PartitionCheckpoints(MakeStore make) : make_(std::move(make)) {}

  // Fetch thread, when partitions ("topic[3]") are assigned: claims each one's store (fencing
  // an earlier reader still writing there) and loads its newest checkpoint that reads back.
  // Returns the offsets to resume them at; a checkpoint skipped for an older one is reported to
  // `log`.
  std::vector<std::pair<std::string, int64_t>> Load(const std::vector<std::string>& partitions, std::FILE* log);
  // Worker thread, at the assignment: what Load found for `partition` (nullopt: nothing, start
  // it empty), or why it could not; once.
  absl::StatusOr<std::optional<Checkpoint>> Take(const std::string& partition);
  // Where `partition`'s checkpoints go (made and claimed now if Load has not seen it), or why
  // there is none.
  absl::StatusOr<CheckpointStore*> StoreOf(const std::string& partition);
  // The store's description, and how long the last Load of `partition` took (ms).
  std::string Describe(const std::string& partition);
  double load_ms(const std::string& partition);
  // Worker thread, once a revoked partition's last checkpoint has settled (no write of it is
  // under way): closes its store and its Kafka producers, so that an instance keeps the stores
  // of the partitions it reads only; a later assignment makes and claims one anew. Not while
  // Load works on it, nor after a Load whose result the worker has not taken (the partition
  // was assigned back meanwhile).
  void Release(const std::string& partition);

 private:
  struct Entry {
    std::unique_ptr<CheckpointStore> store;
    absl::StatusOr<std::optional<Checkpoint>> loaded = std::nullopt;
    double load_ms = 0;    // claim and load, at the last assignment
    bool loading = false;  // Load is claiming and reading it (without the lock)
    bool untaken = false;  // Load's result not yet taken by the worker
  };

  MakeStore make_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // erased by Release only
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_CHECKPOINT_H_
