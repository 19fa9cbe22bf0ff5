// Checkpoint files and the directory backend; see checkpoint.h.
#include "pipeline/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "operators/engine.h"
#include "operators/state_archive.h"

namespace ccpulse {
namespace {

constexpr std::string_view kMagic = "CCPCKPT\n";
constexpr uint32_t kFormatVersion = 2;        // 2 added the origins
constexpr uint32_t kOldestFormatVersion = 1;  // still read
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;

uint32_t Crc32(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  for (size_t done = 0; done < data.size();) {
    const size_t n = std::min<size_t>(data.size() - done, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), static_cast<uInt>(n));
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

template <typename T>
T Read(std::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  return value;
}

std::string ErrnoText() { return std::strerror(errno); }

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(fmt::format("checkpoint: cannot write {}: {}", path, ErrnoText()));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(fmt::format("checkpoint: cannot open {}: {}", path, ErrnoText()));
  const int rc = ::fsync(fd);
  const std::string error = ErrnoText();
  ::close(fd);
  if (rc != 0) return absl::UnavailableError(fmt::format("checkpoint: fsync {}: {}", path, error));
  return absl::OkStatus();
}

class DirectoryStore final : public CheckpointStore {
 public:
  DirectoryStore(std::string dir, int keep) : dir_(std::move(dir)), keep_(std::max(keep, 1)) {}

  absl::Status Write(uint64_t sequence, std::string_view bytes) override {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return absl::UnavailableError(fmt::format("checkpoint: cannot create {}: {}", dir_, ec.message()));
    const std::string path = PathOf(sequence);
    const std::string temp = path + ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return absl::UnavailableError(fmt::format("checkpoint: cannot create {}: {}", temp, ErrnoText()));
    absl::Status status = WriteAll(fd, bytes, temp);
    if (status.ok() && ::fsync(fd) != 0) {
      status = absl::UnavailableError(fmt::format("checkpoint: fsync {}: {}", temp, ErrnoText()));
    }
    ::close(fd);
    if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
      status = absl::UnavailableError(fmt::format("checkpoint: rename {} -> {}: {}", temp, path, ErrnoText()));
    }
    if (status.ok()) status = FsyncPath(dir_, O_RDONLY | O_DIRECTORY);
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status;
    }
    // Retention: the newest `keep_`, so a corrupt newest one still has a predecessor.
    std::vector<uint64_t> sequences = List();
    for (size_t i = static_cast<size_t>(keep_); i < sequences.size(); ++i) {
      std::filesystem::remove(PathOf(sequences[i]), ec);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Checkpoint>> LoadAll(std::vector<std::string>* problems) override {
    return Load(problems, SIZE_MAX);
  }

  absl::StatusOr<std::optional<Checkpoint>> LoadNewest(std::vector<std::string>* problems) override {
    std::vector<Checkpoint> newest = Load(problems, 1);
    if (newest.empty()) return std::nullopt;
    return std::move(newest.front());
  }

  std::string Describe() const override { return fmt::format("directory {}", dir_); }

 private:
  // Up to `limit` checkpoints that decode, newest first.
  std::vector<Checkpoint> Load(std::vector<std::string>* problems, size_t limit) {
    std::vector<Checkpoint> good;
    for (uint64_t sequence : List()) {
      if (good.size() >= limit) break;
      const std::string path = PathOf(sequence);
      std::string bytes;
      if (absl::Status s = ReadFile(path, &bytes); !s.ok()) {
        problems->push_back(std::string(s.message()));
        continue;
      }
      DecodeInto(bytes, path, &good, problems);
    }
    return good;
  }

  std::string PathOf(uint64_t sequence) const { return fmt::format("{}/checkpoint-{:020}.ckpt", dir_, sequence); }

  // Sequences of the checkpoint files present, newest first.
  std::vector<uint64_t> List() const {
    std::vector<uint64_t> sequences;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      const std::string name = entry.path().filename().string();
      uint64_t sequence = 0;
      if (name.size() == 36 && name.starts_with("checkpoint-") && name.ends_with(".ckpt") &&
          std::sscanf(name.c_str() + 11, "%20lu", &sequence) == 1) {
        sequences.push_back(sequence);
      }
    }
    std::sort(sequences.rbegin(), sequences.rend());
    return sequences;
  }

  static absl::Status ReadFile(const std::string& path, std::string* out) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::UnavailableError(fmt::format("checkpoint {}: cannot open: {}", path, ErrnoText()));
    // Size from the open descriptor: the path may be pruned by the writer meanwhile (and
    // std::filesystem::file_size reports an error as uintmax_t(-1), which reserve throws on).
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) out->reserve(static_cast<size_t>(st.st_size));
    std::vector<char> buffer(1 << 20);
    ssize_t n;
    while ((n = ::read(fd, buffer.data(), buffer.size())) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string error = ErrnoText();
        ::close(fd);
        return absl::UnavailableError(fmt::format("checkpoint {}: cannot read: {}", path, error));
      }
      out->append(buffer.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return absl::OkStatus();
  }

  std::string dir_;
  int keep_;
};

}  // namespace

std::string EncodeCheckpoint(const Checkpoint& checkpoint, const operators::Engine* engine, size_t reserve,
                             bool seal) {
  std::string out;
  out.reserve(reserve);
  out.resize(kHeaderBytes);
  operators::StateWriter ar(&out);
  ar(checkpoint.sequence, checkpoint.created_ms, checkpoint.partitions, checkpoint.origins);
  if (engine == nullptr) {
    ar(checkpoint.engine_state);
  } else {
    // The same encoding as a std::string: its size, then its bytes.
    const size_t size_at = out.size();
    ar(uint64_t{0});
    engine->SaveState(&out);
    const uint64_t state_bytes = out.size() - size_at - sizeof(uint64_t);
    std::memcpy(out.data() + size_at, &state_bytes, sizeof(state_bytes));
  }
  if (seal) SealCheckpoint(&out);
  return out;
}

void SealCheckpoint(std::string* bytes) {
  std::string& out = *bytes;
  const std::string_view payload = std::string_view(out).substr(kHeaderBytes);
  const uint32_t crc = Crc32(payload);
  const uint64_t size = payload.size();
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  std::memcpy(out.data() + 8, &kFormatVersion, sizeof(kFormatVersion));
  std::memcpy(out.data() + 12, &crc, sizeof(crc));
  std::memcpy(out.data() + 16, &size, sizeof(size));
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view bytes, std::string_view where) {
  if (bytes.size() < kHeaderBytes || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError(fmt::format("checkpoint {}: not a ccpulse checkpoint ({} bytes, no header)", where,
                                           bytes.size()));
  }
  const auto version = Read<uint32_t>(bytes, 8);
  const auto crc = Read<uint32_t>(bytes, 12);
  const auto size = Read<uint64_t>(bytes, 16);
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return absl::DataLossError(fmt::format("checkpoint {}: format version {}, this build reads {}-{}", where, version,
                                           kOldestFormatVersion, kFormatVersion));
  }
  const std::string_view payload = bytes.substr(kHeaderBytes);
  if (payload.size() != size) {
    return absl::DataLossError(fmt::format("checkpoint {}: truncated: the header says {} bytes of state, the file has {}",
                                           where, size, payload.size()));
  }
  if (Crc32(payload) != crc) {
    return absl::DataLossError(fmt::format("checkpoint {}: checksum mismatch (the file is corrupt)", where));
  }
  Checkpoint checkpoint;
  operators::StateReader ar(payload);
  ar(checkpoint.sequence, checkpoint.created_ms, checkpoint.partitions);
  if (version >= 2) ar(checkpoint.origins);
  ar(checkpoint.engine_state);
  if (ar.ok() && !ar.at_end()) ar.Fail("bytes after the checkpoint");
  if (!ar.ok()) return absl::DataLossError(fmt::format("checkpoint {}: {}", where, ar.error()));
  return checkpoint;
}

void DecodeInto(std::string_view bytes, std::string_view where, std::vector<Checkpoint>* good,
                std::vector<std::string>* problems) {
  auto checkpoint = DecodeCheckpoint(bytes, where);
  if (checkpoint.ok()) {
    good->push_back(*std::move(checkpoint));
  } else {
    problems->push_back(std::string(checkpoint.status().message()));
  }
}

std::unique_ptr<CheckpointStore> MakeDirectoryStore(std::string dir, int keep) {
  return std::make_unique<DirectoryStore>(std::move(dir), keep);
}

void AppendFrame(std::string_view checkpoint, std::string* out) {
  const uint64_t size = checkpoint.size();
  out->append(reinterpret_cast<const char*>(&size), sizeof(size));
  out->append(checkpoint);
}

absl::StatusOr<std::string_view> FrameOf(std::string_view frames, size_t index) {
  for (size_t i = 0;; ++i) {
    uint64_t size = 0;
    if (frames.size() < sizeof(size)) {
      return absl::DataLossError(fmt::format("checkpoint: the snapshot holds {} parts, not part {}", i, index));
    }
    std::memcpy(&size, frames.data(), sizeof(size));
    frames.remove_prefix(sizeof(size));
    if (size > frames.size()) {
      return absl::DataLossError(fmt::format("checkpoint: part {} of the snapshot is cut short", i));
    }
    if (i == index) return frames.substr(0, size);
    frames.remove_prefix(size);
  }
}

absl::StatusOr<ForkedEncoding> ForkedEncoding::Start(const Checkpoint& header, const operators::Engine& engine,
                                                     size_t reserve) {
  return Start([&] { return EncodeCheckpoint(header, &engine, reserve, /*seal=*/true); });
}

absl::StatusOr<ForkedEncoding> ForkedEncoding::Start(const std::function<std::string()>& encode) {
  const int fd = ::memfd_create("ccpulse-checkpoint", MFD_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(fmt::format("checkpoint: cannot create a memory file for the snapshot: {}", ErrnoText()));
  }
  // Signals stay blocked across the fork, so the child never runs the parent's handlers.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: this thread alone, the engine as it was at the fork. It touches the engine,
    // the allocator (glibc keeps it usable after fork) and the memory file, and ends with
    // _exit (no destructors, no buffered output). It dies with its parent (the forking thread,
    // the worker); Ctrl-C is the parent's; it holds no other descriptor (sockets, earlier
    // snapshots' memory files).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(3);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGTERM, SIG_IGN);
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (fd > 3) ::close_range(3, static_cast<unsigned>(fd) - 1, 0);
    ::close_range(static_cast<unsigned>(fd) + 1, ~0U, 0);
    const std::string bytes = encode();
    // Copies it in 64 MiB pieces and gives each piece's pages back once copied, so the encoded
    // copy and the memory file together hold about one state's worth, not two.
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    for (size_t done = 0; done < bytes.size();) {
      const size_t n = std::min<size_t>(64 << 20, bytes.size() - done);
      if (!WriteAll(fd, std::string_view(bytes).substr(done, n), "the snapshot's memory file").ok()) ::_exit(2);
      const uintptr_t begin = (reinterpret_cast<uintptr_t>(bytes.data() + done) + page - 1) / page * page;
      const uintptr_t end = reinterpret_cast<uintptr_t>(bytes.data() + done + n) / page * page;
      if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
      done += n;
    }
    ::_exit(0);
  }
  const std::string error = pid < 0 ? ErrnoText() : "";
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    ::close(fd);
    return absl::UnavailableError(fmt::format("checkpoint: cannot fork for the snapshot: {}", error));
  }
  return ForkedEncoding(pid, fd);
}

ForkedEncoding::ForkedEncoding(ForkedEncoding&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      fd_(std::exchange(other.fd_, -1)),
      mapped_(std::exchange(other.mapped_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

ForkedEncoding& ForkedEncoding::operator=(ForkedEncoding&& other) noexcept {
  if (this != &other) {
    Abandon();
    pid_ = std::exchange(other.pid_, -1);
    fd_ = std::exchange(other.fd_, -1);
    mapped_ = std::exchange(other.mapped_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

ForkedEncoding::~ForkedEncoding() { Abandon(); }

void ForkedEncoding::Abandon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (mapped_ != nullptr) ::munmap(std::exchange(mapped_, nullptr), size_);
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

absl::StatusOr<std::string_view> ForkedEncoding::Collect() {
  int status = 0;
  // Once only: waitpid(-1) would reap any child.
  if (pid_ <= 0) return absl::FailedPreconditionError("checkpoint: the snapshot process was already collected");
  const pid_t pid = std::exchange(pid_, -1);
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return absl::InternalError(fmt::format("checkpoint: cannot reap the snapshot process {}: {}", pid, ErrnoText()));
    }
  }
  struct stat file {};
  if (::fstat(fd_, &file) != 0) {
    return absl::InternalError(fmt::format("checkpoint: cannot size the snapshot of process {}: {}", pid, ErrnoText()));
  }
  size_ = static_cast<size_t>(file.st_size);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFSIGNALED(status) ? fmt::format("was killed by signal {}", WTERMSIG(status))
                                                : fmt::format("exited with status {}", WEXITSTATUS(status));
    return absl::InternalError(fmt::format("checkpoint: the snapshot process {} {} after {} bytes", pid, how, size_));
  }
  void* mapped = size_ == 0 ? MAP_FAILED : ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (mapped == MAP_FAILED) {
    return absl::InternalError(fmt::format("checkpoint: cannot map the snapshot of process {} ({} bytes): {}", pid,
                                           size_, size_ == 0 ? "empty" : ErrnoText()));
  }
  mapped_ = mapped;
  return std::string_view(static_cast<const char*>(mapped_), size_);
}

CheckpointWriter::CheckpointWriter(CheckpointStore* store) : store_(store), thread_([this] { Run(); }) {}

CheckpointWriter::~CheckpointWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void CheckpointWriter::Submit(uint64_t sequence, std::vector<Part> parts) {
  {
    std::lock_guard lock(mu_);
    sequence_ = sequence;
    parts_ = std::move(parts);
    result_.reset();
    busy_ = true;
  }
  changed_.notify_all();
}

std::optional<CheckpointWriter::Result> CheckpointWriter::TakeResult() {
  std::lock_guard lock(mu_);
  return std::exchange(result_, std::nullopt);
}

bool CheckpointWriter::Drain(int timeout_ms) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return !busy_; });
}

void CheckpointWriter::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [this] { return busy_ || stop_; });
    if (!busy_) return;  // stopping with nothing in flight
    const uint64_t sequence = sequence_;
    std::vector<Part> parts = std::exchange(parts_, {});
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    Result result;
    result.sequence = sequence;
    absl::StatusOr<std::string_view> frames = absl::FailedPreconditionError("checkpoint: a part without its snapshot");
    for (Part& part : parts) {
      absl::StatusOr<std::string_view> sealed;
      if (part.frame >= 0) {
        // The first framed part holds the forked encoding of them all (sealed by the child).
        if (auto* forked = std::get_if<ForkedEncoding>(&part.encoded)) frames = forked->Collect();
        sealed = frames.ok() ? FrameOf(*frames, static_cast<size_t>(part.frame)) : frames.status();
      } else if (auto* forked = std::get_if<ForkedEncoding>(&part.encoded)) {
        sealed = forked->Collect();  // sealed by the child
      } else {
        auto& bytes = std::get<std::string>(part.encoded);
        SealCheckpoint(&bytes);
        sealed = bytes;
      }
      CheckpointStore* store = part.store != nullptr ? part.store : store_;
      absl::Status status = sealed.ok() ? store->Write(sequence, *sealed) : sealed.status();
      if (result.status.ok()) result.status = status;
      result.parts.push_back(std::move(status));
      result.bytes += sealed.ok() ? sealed->size() : 0;
    }
    result.write_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    parts.clear();  // frees the buffers or memory files before taking the lock the worker polls
    lock.lock();
    result_ = std::move(result);
    busy_ = false;
    changed_.notify_all();
  }
}

std::vector<std::pair<std::string, int64_t>> PartitionCheckpoints::Load(const std::vector<std::string>& partitions,
                                                                        std::FILE* log) {
  std::vector<std::optional<std::pair<std::string, int64_t>>> found(partitions.size());
  const auto load = [&](size_t i) {
    const std::string& partition = partitions[i];
    // The claim and the read (milliseconds to seconds on a broker) without the lock, so that the
    // worker can look up the stores of the partitions it reads meanwhile; the entry is marked
    // loading, so that nothing else uses, replaces or releases its store.
    Entry* entry = nullptr;
    CheckpointStore* store = nullptr;
    {
      std::lock_guard lock(mu_);
      entry = &entries_[partition];
      entry->loading = true;
      store = entry->store.get();
    }
    const auto start = std::chrono::steady_clock::now();
    std::unique_ptr<CheckpointStore> made;
    absl::StatusOr<std::optional<Checkpoint>> loaded = std::nullopt;
    if (store == nullptr) {
      absl::StatusOr<std::unique_ptr<CheckpointStore>> opened = make_(partition);
      if (opened.ok()) {
        made = std::move(*opened);
        store = made.get();
      } else {
        loaded = opened.status();
      }
    }
    // Claimed at every assignment: a reader that lost the partition and still writes is fenced.
    if (store != nullptr) {
      if (absl::Status s = store->Claim(); !s.ok()) {
        loaded = s;
      } else {
        std::vector<std::string> problems;
        loaded = store->LoadNewest(&problems);
        for (const std::string& problem : problems) {
          std::fprintf(log, "ccpulse: %s: %s; skipping it for an older checkpoint\n", partition.c_str(),
                       problem.c_str());
        }
      }
    }
    if (loaded.ok() && loaded->has_value()) {
      const Checkpoint& checkpoint = **loaded;
      if (checkpoint.partitions.size() == 1 && checkpoint.partitions[0].first == partition) {
        found[i] = checkpoint.partitions[0];
      }  // otherwise the worker's restore names the problem
    }
    std::lock_guard lock(mu_);
    if (made) entry->store = std::move(made);
    entry->loaded = std::move(loaded);
    entry->untaken = true;
    entry->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    entry->loading = false;
  };
  // The partitions side by side: an assignment waits for the slowest claim, not their sum.
  std::vector<std::thread> others;
  for (size_t i = 1; i < partitions.size(); ++i) others.emplace_back(load, i);
  if (!partitions.empty()) load(0);
  for (std::thread& t : others) t.join();
  std::vector<std::pair<std::string, int64_t>> positions;
  for (auto& position : found) {
    if (position) positions.push_back(std::move(*position));
  }
  return positions;
}

absl::StatusOr<std::optional<Checkpoint>> PartitionCheckpoints::Take(const std::string& partition) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(partition);
  if (it == entries_.end()) return std::nullopt;
  it->second.untaken = false;
  return std::exchange(it->second.loaded, std::nullopt);
}

absl::StatusOr<CheckpointStore*> PartitionCheckpoints::StoreOf(const std::string& partition) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[partition];
  if (entry.loading) return absl::UnavailableError("its checkpoints are being claimed for a new assignment");
  if (entry.store != nullptr) return entry.store.get();
  // Not loaded at an assignment (a source without one): made and claimed here.
  absl::StatusOr<std::unique_ptr<CheckpointStore>> made = make_(partition);
  if (!made.ok()) return made.status();
  if (absl::Status s = (*made)->Claim(); !s.ok()) return s;
  entry.store = std::move(*made);
  return entry.store.get();
}

std::string PartitionCheckpoints::Describe(const std::string& partition) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(partition);
  return it == entries_.end() || it->second.store == nullptr ? partition : it->second.store->Describe();
}

void PartitionCheckpoints::Release(const std::string& partition) {
  std::unique_ptr<CheckpointStore> closing;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(partition);
    // Loaded again since (assigned back while the revoke was still being handled): kept.
    if (it == entries_.end() || it->second.loading || it->second.untaken) return;
    closing = std::move(it->second.store);
    entries_.erase(it);
  }
  // Closed without the lock (a producer's close may take a moment).
}

double PartitionCheckpoints::load_ms(const std::string& partition) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(partition);
  return it == entries_.end() ? 0 : it->second.load_ms;
}

}  // namespace ccpulse
