// Checkpoints (pipeline/checkpoint.h): the file format rejects corrupt and truncated files, the
// directory backend keeps the newest and falls back past a bad one, and a processor that
// crashes and restores from its checkpoints produces exactly what an uninterrupted one does.
#include "pipeline/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operators/engine.h"
#include "operators/simulator.h"
#include "operators/state_archive.h"
#include "pipeline/alert_flow.h"
#include "pipeline/memory_sources.h"
#include "pipeline/report.h"
#include "pipeline/stream.h"
#include "schemas/ids.h"
#include "schemas/json_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/ccpulse-checkpoint-test-XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Checkpoint Sample(uint64_t sequence) {
  Checkpoint c;
  c.sequence = sequence;
  c.created_ms = 1'700'000'000'000 + static_cast<int64_t>(sequence);
  c.partitions = {{"events[0]", 42}, {"events[1]", -1}};
  c.origins = {"raw[0]", "raw[1]", "raw[2]"};
  c.engine_state = fmt::format("state of checkpoint {}", sequence);
  return c;
}

TEST(CheckpointFormatTest, RoundTrips) {
  auto decoded = DecodeCheckpoint(EncodeCheckpoint(Sample(7)), "memory");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->sequence, 7u);
  EXPECT_EQ(decoded->created_ms, 1'700'000'000'007);
  EXPECT_EQ(decoded->partitions, Sample(7).partitions);
  EXPECT_EQ(decoded->origins, Sample(7).origins);
  EXPECT_EQ(decoded->engine_state, "state of checkpoint 7");
}

// Files of format version 1 (no origins) are still read.
TEST(CheckpointFormatTest, ReadsVersionOne) {
  const Checkpoint c = Sample(3);
  std::string bytes(24, '\0');
  operators::StateWriter ar(&bytes);
  ar(c.sequence, c.created_ms, c.partitions, c.engine_state);
  SealCheckpoint(&bytes);
  const uint32_t one = 1;
  std::memcpy(bytes.data() + 8, &one, sizeof(one));  // the version is outside the checksum
  auto decoded = DecodeCheckpoint(bytes, "v1");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->partitions, c.partitions);
  EXPECT_TRUE(decoded->origins.empty());
  EXPECT_EQ(decoded->engine_state, c.engine_state);
}

TEST(CheckpointFormatTest, RejectsCorruptTruncatedAndForeignBytes) {
  const std::string good = EncodeCheckpoint(Sample(1));
  std::string flipped = good;
  flipped[good.size() - 3] ^= 0x10;
  EXPECT_THAT(std::string(DecodeCheckpoint(flipped, "f.ckpt").status().message()),
              HasSubstr("checkpoint f.ckpt: checksum mismatch"));
  EXPECT_THAT(std::string(DecodeCheckpoint(good.substr(0, good.size() - 5), "t.ckpt").status().message()),
              HasSubstr("truncated: the header says"));
  EXPECT_THAT(std::string(DecodeCheckpoint("hello", "x").status().message()), HasSubstr("not a ccpulse checkpoint"));
  std::string version = good;
  version[8] = 9;
  EXPECT_THAT(std::string(DecodeCheckpoint(version, "v").status().message()), HasSubstr("format version 9, this build reads 1-2"));
}

// Parts of one forked encoding: framed, each found by its index; a cut one is named.
TEST(CheckpointFormatTest, FramesPartsAndNamesACutOne) {
  std::string frames;
  for (std::string_view part : {"first", "", "third part"}) AppendFrame(part, &frames);
  for (size_t i = 0; i < 3; ++i) {
    auto part = FrameOf(frames, i);
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_EQ(*part, (std::vector<std::string_view>{"first", "", "third part"})[i]);
  }
  EXPECT_THAT(FrameOf(frames, 3).status().message(), HasSubstr("holds 3 parts, not part 3"));
  EXPECT_THAT(FrameOf(frames.substr(0, frames.size() - 1), 2).status().message(), HasSubstr("part 2 of the snapshot is cut short"));
}

TEST(DirectoryStoreTest, KeepsTheNewestAndFallsBackPastACorruptOne) {
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path(), /*keep=*/2);
  for (uint64_t s = 1; s <= 4; ++s) ASSERT_TRUE(store->Write(s, EncodeCheckpoint(Sample(s))).ok());
  std::vector<std::string> problems;
  auto all = store->LoadAll(&problems);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u) << "older than the newest 2 are deleted";
  EXPECT_EQ((*all)[0].sequence, 4u);
  EXPECT_EQ((*all)[1].sequence, 3u);
  EXPECT_TRUE(problems.empty());

  // A crash mid-write leaves a temporary file (ignored); a corrupt newest file is reported and
  // skipped.
  std::ofstream(dir.path() + "/checkpoint-00000000000000000005.ckpt.tmp") << "partial";
  const std::string newest = dir.path() + "/checkpoint-00000000000000000004.ckpt";
  std::filesystem::resize_file(newest, std::filesystem::file_size(newest) - 1);
  all = store->LoadAll(&problems);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].sequence, 3u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0], HasSubstr(newest));
  EXPECT_THAT(problems[0], HasSubstr("truncated"));
}

// An assignment of several team partitions loads them side by side: each partition's newest
// checkpoint, nothing for one without any, an error for one whose store cannot be made, and a
// checkpoint of another partition under a partition's name is not resumed from.
// A revoked partition's store is closed by Release and made anew when needed again; but not
// one loaded again for a new assignment whose result the worker has not taken yet.
TEST(PartitionCheckpointsTest, ReleaseClosesAStoreButNotOneLoadedAgain) {
  TempDir dir;
  int made = 0;
  PartitionCheckpoints stores([&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
    ++made;
    return MakeDirectoryStore(dir.path() + "/" + partition);
  });
  ASSERT_TRUE(stores.StoreOf("t[0]").ok());
  ASSERT_TRUE((*stores.StoreOf("t[0]"))->Write(1, EncodeCheckpoint(Sample(1), nullptr, 0, /*seal=*/true)).ok());
  stores.Release("t[0]");
  ASSERT_TRUE(stores.StoreOf("t[0]").ok());
  EXPECT_EQ(made, 2) << "released, then made anew";
  stores.Release("t[0]");
  (void)stores.Load({"t[0]"}, stderr);  // assigned back before the revoke is handled
  EXPECT_EQ(made, 3);
  stores.Release("t[0]");
  auto loaded = stores.Take("t[0]");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->has_value()) << "the load survived the release";
  ASSERT_TRUE(stores.StoreOf("t[0]").ok());
  EXPECT_EQ(made, 3) << "its store too";
}

TEST(PartitionCheckpointsTest, LoadsEveryAssignedPartitionAtOnce) {
  TempDir dir;
  const auto make = [&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
    if (partition == "t[9]") return absl::UnavailableError("no broker");
    return MakeDirectoryStore(dir.path() + "/" + partition);
  };
  for (int p = 0; p < 3; ++p) {
    auto store = *make(fmt::format("t[{}]", p));
    for (uint64_t sequence = 1; sequence <= 2; ++sequence) {
      Checkpoint c = Sample(sequence);
      // t[2] holds a checkpoint of t[0] (a misconfigured name).
      c.partitions = {{fmt::format("t[{}]", p == 2 ? 0 : p), static_cast<int64_t>(100 * p + sequence)}};
      ASSERT_TRUE(store->Write(sequence, EncodeCheckpoint(c)).ok());
    }
  }
  PartitionCheckpoints checkpoints(make);
  const auto positions = checkpoints.Load({"t[0]", "t[1]", "t[2]", "t[3]", "t[9]"}, stderr);
  EXPECT_EQ(positions, (std::vector<std::pair<std::string, int64_t>>{{"t[0]", 2}, {"t[1]", 102}}));
  for (const char* name : {"t[0]", "t[1]"}) {
    auto taken = checkpoints.Take(name);
    ASSERT_TRUE(taken.ok() && taken->has_value()) << name;
    EXPECT_EQ((*taken)->sequence, 2u);
    auto again = checkpoints.Take(name);
    EXPECT_TRUE(again.ok() && !again->has_value()) << "taken once";
    EXPECT_TRUE(checkpoints.StoreOf(name).ok());
  }
  auto foreign = checkpoints.Take("t[2]");
  ASSERT_TRUE(foreign.ok() && foreign->has_value()) << "the restore names the problem";
  EXPECT_EQ((*foreign)->partitions[0].first, "t[0]");
  auto none = checkpoints.Take("t[3]");
  EXPECT_TRUE(none.ok() && !none->has_value());
  EXPECT_THAT(checkpoints.Take("t[9]").status().message(), HasSubstr("no broker"));
  EXPECT_FALSE(checkpoints.StoreOf("t[9]").ok());
}

// Loading while the writer prunes old files (a restarted test, or an operator's `ccpulse
// checkpoint` reading a live directory): a file that vanishes is a problem, never a throw.
TEST(DirectoryStoreTest, LoadingRacesTheWritersPruning) {
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path(), /*keep=*/1);
  ASSERT_TRUE(store->Write(1, EncodeCheckpoint(Sample(1))).ok());
  std::atomic<bool> done{false};
  std::jthread writer([&] {  // joined on any exit, a failed assertion too
    for (uint64_t s = 2; s <= 400; ++s) EXPECT_TRUE(store->Write(s, EncodeCheckpoint(Sample(s))).ok());
    done = true;
  });
  uint64_t newest = 0;
  int loads = 0;
  while (!done) {
    std::vector<std::string> problems;
    auto all = store->LoadAll(&problems);
    ASSERT_TRUE(all.ok());
    for (const Checkpoint& c : *all) {
      EXPECT_EQ(c.engine_state, fmt::format("state of checkpoint {}", c.sequence));
      newest = std::max(newest, c.sequence);
    }
    for (const std::string& p : problems) EXPECT_THAT(p, HasSubstr("cannot open")) << "only a vanished file";
    ++loads;
  }
  writer.join();
  EXPECT_GT(loads, 1);
  EXPECT_GT(newest, 1u);
}

// A header that takes the child a while to encode (~30 MB), so it is still running when the
// test kills it.
Checkpoint LargeHeader(uint64_t sequence) {
  Checkpoint header = Sample(sequence);
  header.partitions.clear();
  for (int p = 0; p < 1'000'000; ++p) header.partitions.emplace_back(fmt::format("events[{}]", p), p);
  return header;
}

TEST(ForkedEncodingTest, TheChildWritesWhatTheWorkerWouldAndADeadChildFailsTheCheckpoint) {
  // An engine with state: three teams over an hour.
  operators::Engine engine{operators::MetricOptions{}};
  operators::SimulatorOptions sim;
  sim.seed = 3;
  sim.teams = 3;
  sim.duration_ms = operators::kHourMs;
  operators::Simulator simulator(sim);
  operators::SimEvent sim_event;
  schemas::JsonEventDecoder decoder;
  schemas::Event event;
  while (simulator.Next(&sim_event)) {
    if (decoder.Decode(sim_event.ToJson(sim.tenant), &event).ok()) engine.OnEvent(event, 0);
  }
  engine.Advance(0, operators::kMinuteMs, nullptr);
  std::string state;
  engine.SaveState(&state);
  ASSERT_GT(state.size(), 50'000u);

  TempDir dir;
  auto store = MakeDirectoryStore(dir.path());
  CheckpointWriter writer(store.get());

  Checkpoint header = LargeHeader(1);  // built once: a million partitions
  auto killed = ForkedEncoding::Start(header, engine, 0);
  ASSERT_TRUE(killed.ok()) << killed.status();
  ASSERT_EQ(::kill(killed->pid(), SIGKILL), 0);
  writer.Submit(1, *std::move(killed));
  ASSERT_TRUE(writer.Drain(60000));
  std::optional<CheckpointWriter::Result> result = writer.TakeResult();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->sequence, 1u);
  EXPECT_THAT(std::string(result->status.message()), HasSubstr("was killed by signal 9 after"));
  EXPECT_FALSE(writer.TakeResult().has_value()) << "a result is taken once";

  header.sequence = 2;
  auto forked = ForkedEncoding::Start(header, engine, 0);
  ASSERT_TRUE(forked.ok()) << forked.status();
  writer.Submit(2, *std::move(forked));
  ASSERT_TRUE(writer.Drain(60000));
  result = writer.TakeResult();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->status.ok()) << result->status;
  EXPECT_EQ(result->bytes, EncodeCheckpoint(header, &engine).size());
  std::vector<std::string> problems;
  auto all = store->LoadAll(&problems);
  ASSERT_TRUE(all.ok() && all->size() == 1u) << ::testing::PrintToString(problems);
  EXPECT_EQ((*all)[0].sequence, 2u);
  EXPECT_EQ((*all)[0].engine_state, state);
  EXPECT_EQ((*all)[0].partitions, header.partitions);

  // Dropped before collection (a processor torn down mid-checkpoint): the child is reaped.
  header.sequence = 3;
  auto dropped = ForkedEncoding::Start(header, engine, 0);
  ASSERT_TRUE(dropped.ok());
  const int pid = dropped->pid();
  *dropped = std::move(*ForkedEncoding::Start(Sample(4), engine, 0));
  EXPECT_EQ(::kill(pid, 0), -1) << "the abandoned child is gone";
}

// Everything a run shows the outside: window records per boundary, alert changes, and the
// final records and detectors after the input ends.
struct Observed {
  std::map<operators::TimeMs, std::string> boundaries;
  std::set<std::string> alerts;
  std::string final_state;
};

StreamProcessor::Options TestOptions() {
  StreamProcessor::Options options;
  options.checkpoint_interval_ms = INT64_MAX;  // taken by the test
  // Detectors arm after an hour, so alerts fire within the simulated day.
  options.metrics.drift.min_history_ms = operators::kHourMs;
  options.metrics.drift.min_baseline = 50;
  options.metrics.drift.warning_arl = 300;  // alerts (some false) in a short test stream
  options.metrics.drift.critical_arl = 3000;
  return options;
}

std::unique_ptr<StreamProcessor> MakeProcessor(StreamProcessor::Options options, RecordSource* source,
                                               Observed* seen, std::string* mismatch) {
  return std::make_unique<StreamProcessor>(
      std::move(options), source, nullptr,
      [seen, mismatch](operators::Engine& engine, operators::TimeMs at) {
        std::string text;
        AppendBoundaryRecords(engine, /*final=*/false, &text);
        auto [it, inserted] = seen->boundaries.try_emplace(at, text);
        if (!inserted && it->second != text && mismatch->empty()) {
          *mismatch = fmt::format("boundary {} emitted twice with different records", at);
        }
      },
      nullptr);
}

// A team tier processor reading one customer instance's records; with `partitions`, it
// checkpoints each team partition on its own through `writer`.
StreamProcessor::Options TeamTierOptions(CheckpointWriter* writer = nullptr,
                                         PartitionCheckpoints* partitions = nullptr) {
  StreamProcessor::Options options = TestOptions();
  options.split.role = operators::Engine::Split::Role::kTeams;
  options.split.channels = 1;
  options.checkpoints = writer;
  options.partition_checkpoints = partitions;
  return options;
}

// `changes`, when given, counts the changes taken (the set keeps each once).
void TakeAlerts(operators::Engine& engine, Observed* seen, size_t* changes = nullptr) {
  for (const auto& a : engine.TakeAlertChanges()) {
    if (changes != nullptr) ++*changes;
    seen->alerts.insert(fmt::format("{:016x} firing={} severity={} at={}", a.key, a.firing,
                                    static_cast<int>(a.severity), a.changed_at));
  }
}

void Drain(StreamProcessor& processor, Observed* seen, int64_t until_consumed, const LogSource& source) {
  while (source.consumed() < until_consumed && processor.Step(0)) TakeAlerts(processor.engine(), seen);
}

void Finish(StreamProcessor& processor, Observed* seen) {
  operators::Engine& engine = processor.engine();
  engine.Finish(operators::kMinuteMs, [](operators::TimeMs) {});
  AppendBoundaryRecords(engine, /*final=*/true, &seen->final_state);
  AppendDetectors(engine, &seen->final_state);
  TakeAlerts(engine, seen);
}

// Both ways of encoding: by a forked child (the default) and by the worker.
class CrashRestoreTest : public ::testing::TestWithParam<bool> {
 protected:
  StreamProcessor::Options Options(CheckpointWriter* writer) const {
    StreamProcessor::Options options = TestOptions();
    options.checkpoints = writer;
    options.fork_snapshots = GetParam();
    // Periodic checkpoints too, taken while processing goes on (with a fork, the worker
    // changes the state the child is encoding); a crash may restore from one of them.
    options.checkpoint_interval_ms = 20;
    return options;
  }
};
INSTANTIATE_TEST_SUITE_P(Encoding, CrashRestoreTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "Forked" : "ByTheWorker"; });

TEST_P(CrashRestoreTest, CrashesAndRestoresGiveTheUninterruptedResult) {
  // Six teams over a day, one drifting; events keyed by customer into two partitions.
  operators::SimulatorOptions sim;
  sim.seed = 5;
  sim.teams = 6;
  sim.duration_ms = 14 * operators::kHourMs;
  sim.drift = operators::SimulatorOptions::Drift::kEscalationDoubles;
  sim.drift_team = 1;
  sim.drift_after_ms = 6 * operators::kHourMs;
  operators::Simulator simulator(sim);
  std::vector<std::vector<std::string>> log(2);
  operators::SimEvent event;
  while (simulator.Next(&event)) {
    const std::string& key = event.customer_id.empty() ? event.interaction_id : event.customer_id;
    log[std::hash<std::string>{}(key) % 2].push_back(event.ToJson(sim.tenant));
  }
  const int64_t total = static_cast<int64_t>(log[0].size() + log[1].size());

  Observed reference;
  std::string mismatch;
  {
    LogSource source({log[0], log[1]}, {0, 0}, 7);
    auto processor = MakeProcessor(TestOptions(), &source, &reference, &mismatch);
    Drain(*processor, &reference, total, source);
    Finish(*processor, &reference);
  }
  ASSERT_GT(reference.boundaries.size(), 600u);
  ASSERT_GE(reference.alerts.size(), 4u) << "alerts fire and resolve in the test stream";

  // Crash (destroy without a shutdown checkpoint) at seeded points, each some way past the last
  // checkpoint, and restore from the newest one on disk.
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path());
  Observed crashed;
  std::mt19937_64 rng(99);
  std::vector<int64_t> start = {0, 0};
  bool restored = false;
  int crashes = 0;
  uint64_t forked = 0;
  uint64_t taken = 0;
  for (; crashes < 4; ++crashes) {
    CheckpointWriter writer(store.get());
    LogSource source({log[0], log[1]}, start, 7);
    auto processor = MakeProcessor(Options(&writer), &source, &crashed, &mismatch);
    if (restored) {
      std::vector<std::string> problems;
      auto all = store->LoadAll(&problems);
      ASSERT_TRUE(all.ok() && !all->empty());
      ASSERT_TRUE(processor->Restore(all->front()).ok());
    }
    const int64_t checkpoint_at = source.consumed() + static_cast<int64_t>(rng() % (total / 5)) + 1;
    Drain(*processor, &crashed, checkpoint_at, source);
    ASSERT_TRUE(processor->TakeCheckpoint(/*wait=*/true));
    forked += processor->checkpoint_stats().forked;
    taken += processor->checkpoint_stats().taken;
    EXPECT_EQ(source.committed.size(), 2u) << "offsets committed once durable";
    Drain(*processor, &crashed, source.consumed() + static_cast<int64_t>(rng() % 3000), source);
    // The restarted consumer starts where the checkpoint's offsets say.
    std::vector<std::string> problems;
    auto all = store->LoadAll(&problems);
    ASSERT_TRUE(all.ok() && !all->empty());
    for (size_t p = 0; p < 2; ++p) start[p] = std::max<int64_t>(0, all->front().partitions[p].second);
    restored = true;
  }
  {
    CheckpointWriter writer(store.get());
    LogSource source({log[0], log[1]}, start, 7);
    auto processor = MakeProcessor(Options(&writer), &source, &crashed, &mismatch);
    std::vector<std::string> problems;
    auto all = store->LoadAll(&problems);
    ASSERT_TRUE(all.ok() && !all->empty());
    ASSERT_TRUE(processor->Restore(all->front()).ok());
    Drain(*processor, &crashed, total, source);
    Finish(*processor, &crashed);
  }
  EXPECT_EQ(mismatch, "");
  EXPECT_EQ(crashes, 4);
  EXPECT_EQ(forked > 0, GetParam()) << forked << " checkpoints encoded by a forked child";
  EXPECT_GT(taken, static_cast<uint64_t>(crashes)) << "periodic checkpoints were taken besides the 4 explicit ones";
  ASSERT_EQ(crashed.boundaries.size(), reference.boundaries.size());
  for (const auto& [at, text] : reference.boundaries) {
    ASSERT_EQ(crashed.boundaries[at], text) << "boundary " << at;
  }
  EXPECT_EQ(crashed.alerts, reference.alerts);
  EXPECT_EQ(crashed.final_state, reference.final_state);
}

// The team feed of a customer instance, held back until the test lets it through.
class HeldTeamFeed final : public TeamFeedSink {
 public:
  explicit HeldTeamFeed(int partitions) : records(partitions) {}
  absl::Status Send(int partition, std::string_view record) override {
    records[static_cast<size_t>(partition)].emplace_back(record);
    ++sent_;
    return absl::OkStatus();
  }
  void Poll() override {}
  absl::Status Flush(int) override { return held ? absl::DeadlineExceededError("held") : absl::OkStatus(); }
  uint64_t sent() const override { return sent_; }
  uint64_t durable_prefix() const override { return held ? 0 : sent_; }
  uint64_t failed() const override { return 0; }

  bool held = true;
  std::vector<std::vector<std::string>> records;  // per team partition

 private:
  uint64_t sent_ = 0;
};

// Half a day of 4 teams, one of which drifts after 4 h (alerts to compare).
operators::SimulatorOptions DriftingTeams(uint64_t seed) {
  operators::SimulatorOptions sim;
  sim.seed = seed;
  sim.teams = 4;
  sim.duration_ms = 12 * operators::kHourMs;
  sim.drift = operators::SimulatorOptions::Drift::kHandleTimeGrows;
  sim.drift_team = 1;
  sim.drift_after_ms = 4 * operators::kHourMs;
  return sim;
}

// kafka.team_stage through the StreamProcessor: a customer instance writes a checkpoint only
// once the team feed records sent before it are durable (a restore must not skip a record
// that was lost), and a team instance reading those records, one damaged record among them
// (dead-lettered, the run goes on), gives the boundaries and alerts one whole instance gives;
// and a team instance whose partitions are revoked publishes their alert changes first.
TEST(TeamStageTest, CustomerCheckpointsWaitForTheFeedAndTheTeamTierEqualsOneInstance) {
  const operators::SimulatorOptions sim = DriftingTeams(8);
  operators::Simulator simulator(sim);
  std::vector<std::string> log;
  for (operators::SimEvent event; simulator.Next(&event);) log.push_back(event.ToJson(sim.tenant));
  const auto total = static_cast<int64_t>(log.size());
  std::string mismatch;
  Observed whole;
  {
    LogSource source({log}, {0}, 7);
    auto processor = MakeProcessor(TestOptions(), &source, &whole, &mismatch);
    Drain(*processor, &whole, total, source);
    Finish(*processor, &whole);
  }

  TempDir dir;
  // The customer tier checkpoints each input partition apart.
  PartitionCheckpoints stores([&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
    return MakeDirectoryStore(dir.path() + "/" + partition);
  });
  auto store = MakeDirectoryStore(dir.path() + "/" + EventsPartitionName(0));
  constexpr int kTeamPartitions = 2;
  HeldTeamFeed feed(kTeamPartitions);
  {
    CheckpointWriter writer(nullptr);
    LogSource source({log}, {0}, 7);
    StreamProcessor::Options options = TestOptions();
    options.checkpoints = &writer;
    options.partition_checkpoints = &stores;
    options.fork_snapshots = false;
    options.split.role = operators::Engine::Split::Role::kCustomers;
    options.split.team_partitions = kTeamPartitions;
    options.team_feed = &feed;
    Observed none;
    auto processor = MakeProcessor(options, &source, &none, &mismatch);
    Drain(*processor, &none, total / 2, source);
    ASSERT_GT(feed.sent(), 10u);
    ASSERT_TRUE(processor->TakeCheckpoint(/*wait=*/false));
    for (int i = 0; i < 20; ++i) processor->Step(0);
    (void)writer.Drain(5000);
    processor->Step(0);
    std::vector<std::string> problems;
    auto held = store->LoadAll(&problems);
    ASSERT_TRUE(held.ok()) << held.status();
    EXPECT_TRUE(held->empty()) << "written before the feed records before it were durable";
    EXPECT_EQ(processor->checkpoint_stats().durable, 0u);
    EXPECT_TRUE(source.committed.empty()) << "offsets committed before the checkpoint was durable";
    feed.held = false;
    processor->Step(0);
    (void)writer.Drain(5000);
    processor->Step(0);
    EXPECT_EQ(processor->checkpoint_stats().durable, 1u);
    auto one = store->LoadAll(&problems);
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(one->size(), 1u);
    Drain(*processor, &none, total, source);
    processor->engine().Finish(operators::kMinuteMs, nullptr);
    EXPECT_TRUE(none.boundaries.empty()) << "a customer instance has no team windows";
    // A clean stop: its last record on every team partition asks the team tier to wait for it.
    const std::atomic<bool> stop{true};
    ASSERT_TRUE(processor->Run(stop).ok());
    for (const std::vector<std::string>& partition : feed.records) {
      ASSERT_GE(partition.size(), 2u);
      auto last = operators::DecodeTeamFeed(partition.back());
      ASSERT_TRUE(last.ok()) << last.status();
      EXPECT_TRUE(last->pause);
      EXPECT_EQ(last->from_slice, last->to_slice);
      auto before = operators::DecodeTeamFeed(partition[partition.size() - 2]);
      ASSERT_TRUE(before.ok()) << before.status();
      EXPECT_FALSE(before->pause);
    }
  }

  // The team tier: both team partitions, a damaged record in the middle of partition 1.
  std::vector<std::string>& second = feed.records[1];
  second.insert(second.begin() + static_cast<std::ptrdiff_t>(second.size() / 2), std::string("\x01") + "damaged");
  LogSource source({feed.records[0], feed.records[1]}, {0, 0}, 5, /*assign_first=*/true);
  RecordingDeadLetters dead_letters;
  const StreamProcessor::Options options = TeamTierOptions();
  Observed teams;
  StreamProcessor processor(
      options, &source, &dead_letters,
      [&](operators::Engine& engine, operators::TimeMs at) {
        std::string text;
        AppendBoundaryRecords(engine, /*final=*/false, &text);
        teams.boundaries.try_emplace(at, text);
      },
      nullptr);
  const auto records = static_cast<int64_t>(feed.records[0].size() + feed.records[1].size());
  processor.Step(0);  // the assignment
  while (source.consumed() < records && processor.Step(0)) TakeAlerts(processor.engine(), &teams);
  Finish(processor, &teams);
  ASSERT_EQ(dead_letters.written.size(), 1u);
  EXPECT_THAT(dead_letters.written[0], HasSubstr("invalid_team_feed"));
  EXPECT_EQ(processor.counters().invalid_team_feed, 1u);
  EXPECT_EQ(mismatch, "");
  // The team tier's windows reach the end of the stream while it runs (the customer instance
  // sent its last slices at its end); the whole instance's, at its Finish (not recorded here).
  ASSERT_GT(teams.boundaries.size(), whole.boundaries.size() - 3);
  for (const auto& [at, text] : teams.boundaries) {
    if (at > whole.boundaries.rbegin()->first) break;
    auto it = whole.boundaries.find(at);
    ASSERT_NE(it, whole.boundaries.end()) << at;
    ASSERT_EQ(text, it->second) << "boundary " << at;
  }
  EXPECT_EQ(teams.final_state, whole.final_state);
  ASSERT_FALSE(whole.alerts.empty());
  EXPECT_EQ(teams.alerts, whole.alerts);

  // A team instance whose partitions are revoked publishes (a tick) what their stages did since
  // its last tick before it drops them: here no tick comes by time, so every alert change of
  // the stream is taken at the revoke, or lost with the stages.
  std::vector<SourceBatch> script;
  script.push_back(ScriptedSource::Assigned({0, 1}));
  for (int32_t p = 0; p < kTeamPartitions; ++p) {
    std::vector<SourceRecord> batch;
    for (size_t i = 0; i < feed.records[p].size(); ++i) {
      if (p == 1 && feed.records[p][i].starts_with("\x01")) continue;  // the damaged one
      batch.push_back({{}, feed.records[p][i], p, static_cast<int64_t>(i)});
    }
    script.push_back(ScriptedSource::Records(std::move(batch)));
  }
  script.push_back(ScriptedSource::Revoked({0, 1}));
  ScriptedSource scripted(std::move(script));
  StreamProcessor::Options revoking = TeamTierOptions();
  revoking.tick_interval_ms = INT64_MAX / 2;
  Observed revoked;
  size_t ticks = 0;
  StreamProcessor third(revoking, &scripted, &dead_letters, nullptr,
                            [&](operators::Engine& engine, const StreamProcessor&) {
                              ++ticks;
                              TakeAlerts(engine, &revoked);
                              return int64_t{0};
                            });
  for (int i = 0; i < 3; ++i) third.Step(0);  // the assignment, each partition's records
  EXPECT_EQ(ticks, 0u) << "no tick before the revoke";
  EXPECT_GT(third.engine().windows_end(), 0) << third.engine().OpenAlerts().size();
  third.Step(0);  // the revoke: a tick before the partitions are dropped, one after
  EXPECT_EQ(ticks, 2u);
  EXPECT_EQ(third.engine().teams_held(), 0u);
  EXPECT_FALSE(revoked.alerts.empty());
  for (const std::string& a : revoked.alerts) EXPECT_TRUE(whole.alerts.contains(a)) << a;

  // Checkpoints per team partition: partition 1 moves from team instance A to team instance B
  // with its state, mid-stream (its checkpoint written at the revoke, loaded at the assignment;
  // here a directory store per partition, on a real broker the topic store in crash_test.py
  // team_stage). Together they report every window record the whole instance does, once.
  TempDir moved_dir;
  PartitionCheckpoints partition_checkpoints(
      [&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
        return MakeDirectoryStore(moved_dir.path() + "/" + partition);
      });
  CheckpointWriter parts_writer(nullptr);
  StreamProcessor::Options moving = TeamTierOptions(&parts_writer, &partition_checkpoints);
  // No tick by time: A's alert changes are taken at the revoke's tick (before its checkpoint,
  // or B would publish them again) and at its end.
  moving.tick_interval_ms = INT64_MAX / 2;
  ASSERT_TRUE(moving.fork_snapshots) << "one forked child encodes every partition's part";
  std::map<std::string, int> lines;  // window record -> times reported (A and B)
  const auto record_lines = [&](operators::Engine& engine, operators::TimeMs at) {
    std::string text;
    AppendBoundaryRecords(engine, /*final=*/false, &text, at);
    for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      ++lines[text.substr(start, end - start)];
    }
  };
  Observed moved;
  size_t moved_changes = 0;  // alert changes taken, in A and B
  const auto take_alerts = [&](operators::Engine& engine, const StreamProcessor&) {
    TakeAlerts(engine, &moved, &moved_changes);
    return int64_t{0};
  };
  std::vector<std::vector<SourceRecord>> halves(4);  // partition 0's halves, then partition 1's
  std::vector<std::vector<std::string>> clean = feed.records;  // without the damaged record
  for (int32_t p = 0; p < kTeamPartitions; ++p) {
    std::erase_if(clean[p], [](const std::string& r) { return r.starts_with("\x01"); });
    for (size_t i = 0; i < clean[p].size(); ++i) {
      halves[static_cast<size_t>(2 * p) + (i >= clean[p].size() / 2)].push_back({{}, clean[p][i], p, static_cast<int64_t>(i)});
    }
  }
  // The drifting team's partition moves (its alerts too); the other stays with A.
  const int32_t mv = operators::TeamPartition(sim.tenant, simulator.team_names()[1], kTeamPartitions), st = 1 - mv;
  const auto half = [&](int32_t p, int part) { return ScriptedSource::Records(halves[static_cast<size_t>(2 * p + part)]); };
  const int64_t moved_at = static_cast<int64_t>(halves[static_cast<size_t>(2 * mv)].size());
  ScriptedSource a_source({ScriptedSource::Assigned({0, 1}), half(st, 0), half(mv, 0), ScriptedSource::Revoked({mv}),
                           half(st, 1)});
  StreamProcessor a(moving, &a_source, &dead_letters, record_lines, take_alerts);
  for (int i = 0; i < 4; ++i) a.Step(0);  // up to the revoke, which checkpoints both partitions
  EXPECT_EQ(a.checkpoint_stats().forked, 1u);
  EXPECT_EQ(a.checkpoint_stats().durable, 1u);
  EXPECT_EQ(a.checkpoint_stats().failed, 0u);
  // B is given the partition: its newest checkpoint is loaded (the fetch thread's part), B
  // restores it and reads on from where A stopped.
  const std::string mv_name = EventsPartitionName(mv);
  const auto positions = partition_checkpoints.Load({mv_name}, stderr);
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0], std::make_pair(mv_name, moved_at));
  ScriptedSource b_moved({ScriptedSource::Assigned({mv}), half(mv, 1)});
  StreamProcessor b(moving, &b_moved, &dead_letters, record_lines, take_alerts);
  b.Step(0);
  ASSERT_GT(b.engine().teams_held(), 0u) << "B restored the partition's teams";
  EXPECT_EQ(b.engine().teams_held() + a.engine().teams_held(), static_cast<size_t>(sim.teams));
  b.Step(0);
  a.Step(0);  // partition 0's second half
  for (StreamProcessor* p : {&a, &b}) {
    p->engine().Finish(operators::kMinuteMs, [&](operators::TimeMs at) { record_lines(p->engine(), at); });
    TakeAlerts(p->engine(), &moved, &moved_changes);
    EXPECT_EQ(p->engine().feed_counters().late, 0u);
    EXPECT_EQ(p->engine().feed_counters().gaps, 0u);
  }
  std::set<std::string> whole_lines;
  for (const auto& [at, text] : whole.boundaries) {
    for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      auto it = lines.find(text.substr(start, end - start));
      ASSERT_NE(it, lines.end()) << "boundary " << at << ": " << text.substr(start, end - start);
      EXPECT_EQ(it->second, 1) << "reported by both: " << it->first;
      whole_lines.insert(it->first);
    }
  }
  EXPECT_GT(whole_lines.size(), 1000u);
  // Nothing else, but for boundaries after the whole instance's last (its Finish records none).
  const std::string last_time = "{\"time\":\"" + schemas::FormatRfc3339(whole.boundaries.rbegin()->first);
  for (const auto& [line, count] : lines) {
    if (!whole_lines.contains(line)) {
      EXPECT_GT(line.substr(0, last_time.size()), last_time) << line;
    }
  }
  // Alert changes: A's before the move and B's after it are the whole instance's, each once.
  EXPECT_EQ(moved.alerts, whole.alerts);
  EXPECT_EQ(moved_changes, moved.alerts.size()) << "an alert change published by both";
}

// The customer tier through the StreamProcessor: input partition 1 moves from customer instance
// A to B mid-stream. At the revoke A sends the partition's pause record (the team tier waits for
// its channel), checkpoints it (a directory store per partition here; the topic store in
// crash_test.py team_stage) and drops it; B loads and restores it, reads on from A's offset, and
// its channel continues where A's records ended. The team tier fed by both equals one whole
// instance reading both partitions.
TEST(TeamStageTest, AnInputPartitionMovesToAnotherCustomerInstanceWithItsState) {
  const operators::SimulatorOptions sim = DriftingTeams(9);
  operators::Simulator simulator(sim);
  constexpr int kInputs = 2, kTeamPartitions = 2;
  std::vector<std::vector<std::string>> log(kInputs);  // keyed by customer
  for (operators::SimEvent event; simulator.Next(&event);) {
    const std::string_view key = event.customer_id.empty() ? event.interaction_id : event.customer_id;
    log[schemas::SipHash24(schemas::HashKey{}, key) % kInputs].push_back(event.ToJson(sim.tenant));
  }
  const auto total = static_cast<int64_t>(log[0].size() + log[1].size());
  std::string mismatch;
  Observed whole;
  {
    LogSource source({log[0], log[1]}, {0, 0}, 7);
    auto processor = MakeProcessor(TestOptions(), &source, &whole, &mismatch);
    Drain(*processor, &whole, total, source);
    Finish(*processor, &whole);
  }

  TempDir dir;
  int made = 0;  // stores made
  PartitionCheckpoints stores([&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
    ++made;
    return MakeDirectoryStore(dir.path() + "/" + partition);
  });
  CheckpointWriter writer(nullptr);
  HeldTeamFeed feed(kTeamPartitions);  // the team topic both instances send to
  feed.held = false;
  StreamProcessor::Options options = TestOptions();
  options.checkpoints = &writer;
  options.partition_checkpoints = &stores;
  options.split.role = operators::Engine::Split::Role::kCustomers;
  options.split.team_partitions = kTeamPartitions;
  options.team_feed = &feed;
  std::vector<std::vector<SourceRecord>> halves(2 * kInputs);  // partition 0's halves, then 1's
  for (int32_t p = 0; p < kInputs; ++p) {
    for (size_t i = 0; i < log[p].size(); ++i) {
      halves[static_cast<size_t>(2 * p) + (i >= log[p].size() / 2)].push_back({{}, log[p][i], p, static_cast<int64_t>(i)});
    }
  }
  const auto half = [&](int32_t p, int part) { return ScriptedSource::Records(halves[static_cast<size_t>(2 * p + part)]); };
  ScriptedSource a_source({ScriptedSource::Assigned({0, 1}), half(0, 0), half(1, 0), ScriptedSource::Revoked({1}),
                           half(0, 1)});
  StreamProcessor a(options, &a_source, nullptr, nullptr, nullptr);
  for (int i = 0; i < 4; ++i) a.Step(0);  // up to the revoke
  EXPECT_FALSE(a.engine().reads_partition(1));
  EXPECT_EQ(a.checkpoint_stats().durable, 1u);
  // The last record of channel 1 on each team partition is a pause, at the end it reached.
  std::vector<int64_t> paused_at(kTeamPartitions, INT64_MIN);
  for (int t = 0; t < kTeamPartitions; ++t) {
    for (const std::string& record : feed.records[t]) {
      auto decoded = operators::DecodeTeamFeed(record);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      if (decoded->channel != 1) continue;
      EXPECT_FALSE(paused_at[t] != INT64_MIN && decoded->pause) << "one pause, the last";
      paused_at[t] = decoded->pause ? decoded->to_slice : INT64_MIN;
    }
    EXPECT_NE(paused_at[t], INT64_MIN) << "team partition " << t << ": channel 1 ends with a pause";
  }
  std::vector<size_t> before(kTeamPartitions);
  for (int t = 0; t < kTeamPartitions; ++t) before[t] = feed.records[t].size();
  a.Step(0);  // partition 0's second half

  // B is given partition 1: its newest checkpoint is loaded (the fetch thread's part), B restores
  // it and reads on from where A stopped.
  const std::string name = EventsPartitionName(1);
  const auto positions = stores.Load({name}, stderr);
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0], std::make_pair(name, static_cast<int64_t>(halves[2].size())));
  EXPECT_EQ(made, 3) << "A's store of partition 1 closed at the revoke; the assignment to B makes one anew";
  ScriptedSource b_source({ScriptedSource::Assigned({1}), half(1, 1)});
  StreamProcessor b(options, &b_source, nullptr, nullptr, nullptr);
  b.Step(0);
  EXPECT_TRUE(b.engine().reads_partition(1));
  EXPECT_GT(b.engine().interactions_held(), 0u) << "B restored the partition's interactions";
  b.Step(0);
  for (int t = 0; t < kTeamPartitions; ++t) {
    auto first = operators::DecodeTeamFeed(feed.records[t][before[t]]);
    for (size_t i = before[t]; i < feed.records[t].size() && first.ok() && first->channel != 1; ++i) {
      first = operators::DecodeTeamFeed(feed.records[t][i]);
    }
    ASSERT_TRUE(first.ok() && first->channel == 1);
    EXPECT_EQ(first->from_slice, paused_at[t]) << "B's channel 1 continues where A's ended";
  }
  for (StreamProcessor* p : {&a, &b}) p->engine().Finish(operators::kMinuteMs, nullptr);

  // The team tier reads the team topic: both channels of both instances.
  LogSource source({feed.records[0], feed.records[1]}, {0, 0}, 5, /*assign_first=*/true);
  StreamProcessor::Options team_options = TeamTierOptions();
  team_options.split.channels = kInputs;
  Observed teams;
  auto team = MakeProcessor(team_options, &source, &teams, &mismatch);
  const auto records = static_cast<int64_t>(feed.records[0].size() + feed.records[1].size());
  team->Step(0);  // the assignment
  Drain(*team, &teams, records, source);
  Finish(*team, &teams);
  EXPECT_EQ(mismatch, "");
  EXPECT_EQ(team->engine().feed_counters().gaps, 0u);
  EXPECT_EQ(team->engine().feed_counters().late, 0u);
  ASSERT_GT(teams.boundaries.size(), 100u);
  // Every boundary of the team tier up to the whole instance's last is the whole instance's
  // (the team tier's windows start at its first slice, the whole instance's one boundary earlier).
  ASSERT_GT(teams.boundaries.size(), whole.boundaries.size() - 3);
  size_t differ = 0;
  for (const auto& [at, text] : teams.boundaries) {
    if (at > whole.boundaries.rbegin()->first) break;
    auto it = whole.boundaries.find(at);
    if (it == whole.boundaries.end() || it->second != text) {
      if (differ++ == 0) ADD_FAILURE() << "boundary " << at << ": " << (it == whole.boundaries.end() ? "extra" : "differs");
    }
  }
  EXPECT_EQ(differ, 0u);
  EXPECT_TRUE(teams.final_state == whole.final_state) << "final states differ";
  ASSERT_FALSE(whole.alerts.empty());
  EXPECT_EQ(teams.alerts, whole.alerts);
}

// A store every write to fails, as a team partition's does once its new reader has claimed it.
class FencedStore final : public CheckpointStore {
 public:
  absl::Status Write(uint64_t, std::string_view) override {
    return absl::AbortedError("fenced: another instance has claimed the name");
  }
  absl::StatusOr<std::vector<Checkpoint>> LoadAll(std::vector<std::string>*) override {
    return std::vector<Checkpoint>{};
  }
  std::string Describe() const override { return "a fenced store"; }
};

// The team tier's checkpoints per partition: a partition whose store fails holds back its own
// offsets alone, and the processor goes on (the partition's revoke is on its way).
TEST(CheckpointRestoreTest, AFailingTeamPartitionStoreHoldsBackOnlyItsOffsets) {
  std::vector<std::vector<std::string>> topic(2);  // what a customer engine sends
  {
    operators::SimulatorOptions sim;
    sim.teams = 6;
    sim.duration_ms = 2 * operators::kHourMs;
    operators::Simulator simulator(sim);
    operators::Engine::Split split;
    split.role = operators::Engine::Split::Role::kCustomers;
    split.team_partitions = 2;
    split.send = [&topic](int partition, std::string_view record) { topic[partition].emplace_back(record); };
    operators::Engine customer(TestOptions().metrics, std::move(split));
    for (operators::SimEvent event; simulator.Next(&event);) {
      customer.OnEvent(event.View(sim.tenant), 0);
      customer.Advance(0, operators::kMinuteMs, nullptr);
    }
    customer.Finish(operators::kMinuteMs, nullptr);
  }
  TempDir dir;
  PartitionCheckpoints stores([&](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
    if (partition == EventsPartitionName(1)) return std::make_unique<FencedStore>();
    return MakeDirectoryStore(dir.path() + "/" + partition);
  });
  CheckpointWriter writer(nullptr);
  StreamProcessor::Options options = TeamTierOptions(&writer, &stores);
  options.fork_snapshots = false;  // the worker encodes the parts (a forked child does, above)
  std::vector<SourceBatch> script{ScriptedSource::Assigned({0, 1})};
  for (int32_t p = 0; p < 2; ++p) {
    ASSERT_GT(topic[p].size(), 10u);
    std::vector<SourceRecord> records;
    for (size_t i = 0; i < topic[p].size(); ++i) records.push_back({{}, topic[p][i], p, static_cast<int64_t>(i)});
    script.push_back(ScriptedSource::Records(std::move(records)));
  }
  ScriptedSource source(std::move(script));
  StreamProcessor processor(options, &source, nullptr, nullptr, nullptr);
  for (int i = 0; i < 3; ++i) processor.Step(0);
  EXPECT_FALSE(processor.TakeCheckpoint(/*wait=*/true)) << "not every part became durable";
  EXPECT_EQ(processor.checkpoint_stats().failed, 1u);
  EXPECT_EQ(source.committed.count(1), 0u) << "partition 1's offsets wait for a durable checkpoint of it";
  ASSERT_EQ(source.committed.count(0), 1u);
  EXPECT_EQ(source.committed[0], static_cast<int64_t>(topic[0].size()));
  std::vector<std::string> problems;
  auto written = MakeDirectoryStore(dir.path() + "/" + EventsPartitionName(0))->LoadNewest(&problems);
  ASSERT_TRUE(written.ok() && written->has_value()) << written.status();
  EXPECT_EQ((*written)->partitions, (std::vector<std::pair<std::string, int64_t>>{
                                        {EventsPartitionName(0), static_cast<int64_t>(topic[0].size())}}));
  // The processor goes on: a later checkpoint fails for partition 1 alone again.
  EXPECT_FALSE(processor.TakeCheckpoint(/*wait=*/true));
  EXPECT_EQ(processor.checkpoint_stats().failed, 2u);
}

// Records of two partitions, then partition 1 is revoked: its offsets are committed by the
// checkpoint taken at the revoke and never again by this consumer.
struct RevokingScript {
  RevokingScript() {
    std::vector<SourceRecord> records;
    for (int i = 0; i < 4; ++i) {
      values_.push_back(fmt::format(
          R"({{"event_id":"e{0}","type":"queued","time":"2026-03-02T09:00:00Z","interaction_id":"i{0}","team":"care"}})", i));
    }
    for (int i = 0; i < 4; ++i) records.push_back({{}, values_[static_cast<size_t>(i)], i % 2, i / 2});
    source = std::make_unique<ScriptedSource>(std::vector<SourceBatch>{ScriptedSource::Records(std::move(records)),
                                                                      ScriptedSource::Revoked({1})});
  }
  std::vector<std::string> values_;  // before `source`, which points into it
  std::unique_ptr<ScriptedSource> source;
};

TEST(CheckpointRestoreTest, ARevokedPartitionIsCommittedAtTheRevokeAndNeverAfter) {
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path());
  CheckpointWriter writer(store.get());
  StreamProcessor::Options options;
  options.checkpoints = &writer;
  options.checkpoint_interval_ms = INT64_MAX;
  RevokingScript script;
  ScriptedSource& source = *script.source;
  StreamProcessor processor(options, &source, nullptr, nullptr, nullptr);
  ASSERT_TRUE(processor.Step(0));
  EXPECT_TRUE(source.commits.empty()) << "nothing is committed before a checkpoint covers it";
  ASSERT_TRUE(processor.Step(0));  // the revoke: checkpoint, commit, acknowledge
  EXPECT_TRUE(source.acknowledged);
  EXPECT_THAT(source.commits, ::testing::UnorderedElementsAre(std::pair<int32_t, int64_t>{0, 2},
                                                               std::pair<int32_t, int64_t>{1, 2}));
  source.commits.clear();
  processor.CommitApplied(/*sync=*/false);  // the periodic commit, before the next checkpoint
  ASSERT_TRUE(processor.TakeCheckpoint(/*wait=*/true));
  for (const auto& [partition, next] : source.commits) EXPECT_NE(partition, 1) << "committed " << next;
  std::vector<std::string> problems;
  auto all = store->LoadAll(&problems);
  ASSERT_TRUE(all.ok() && !all->empty());
  EXPECT_EQ(all->front().partitions[1], (std::pair<std::string, int64_t>{"events[1]", -1}));
  EXPECT_EQ(all->front().partitions[0], (std::pair<std::string, int64_t>{"events[0]", 2}));
}

// A checkpoint of a repartitioned run restores only with the same origins (the watermark's
// channels are numbered by them).
// Ownership moves state: an instance that owns nothing restores the newest checkpoint when
// partitions come (at start or taking over from another instance), keeps only the partitions it
// was given, and drops its state when the last one is revoked (it stands by, writing no
// checkpoint that could replace the owner's).
TEST(CheckpointRestoreTest, TakeoverRestoresTheNewestCheckpointAndStandbyDropsTheState) {
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path());
  CheckpointWriter writer(store.get());
  auto queued = [](int i, int partition) {
    return fmt::format(R"({{"event_id":"e{0}","type":"queued","time":"2026-03-02T09:00:0{0}Z","interaction_id":"i{0}",)"
                       R"("team":"care{1}"}})", i, partition);
  };
  const std::vector<std::string> values = {queued(0, 0), queued(1, 1), queued(2, 0), queued(3, 0)};

  // The owner before: partitions 0 and 1, three records, checkpoint 1 at offsets 2 and 1.
  {
    ScriptedSource source({ScriptedSource::Records({{{}, values[0], 0, 0}, {{}, values[1], 1, 0}, {{}, values[2], 0, 1}})});
    StreamProcessor::Options options;
    options.checkpoints = &writer;
    options.checkpoint_interval_ms = INT64_MAX;
    StreamProcessor owner(options, &source, nullptr, nullptr, nullptr);
    ASSERT_TRUE(owner.Step(0));
    ASSERT_TRUE(owner.TakeCheckpoint(/*wait=*/true));
  }

  // This instance is given partition 0 only, loses it, stands by, and is given it again.
  ScriptedSource source({ScriptedSource::Assigned({0}), ScriptedSource::Records({{{}, values[3], 0, 2}}),
                         ScriptedSource::Revoked({0}), ScriptedSource::Assigned({0})});
  StreamProcessor::Options options;
  options.checkpoints = &writer;
  options.checkpoint_interval_ms = INT64_MAX;
  int takeovers = 0;
  int standbys = 0;
  std::vector<uint64_t> restored;
  options.on_takeover = [&](StreamProcessor& self) {
    ++takeovers;
    std::vector<std::string> problems;
    auto newest = store->LoadNewest(&problems);
    if (!newest.ok() || !newest->has_value()) return absl::InternalError("no checkpoint");
    restored.push_back((**newest).sequence);
    return self.Restore(**newest);
  };
  options.on_standby = [&](StreamProcessor&) { ++standbys; };
  StreamProcessor processor(options, &source, nullptr, nullptr, nullptr);
  EXPECT_FALSE(processor.TakeCheckpoint(/*wait=*/true)) << "owning nothing, it writes no checkpoint";

  ASSERT_TRUE(processor.Step(0));  // assigned: restores checkpoint 1
  EXPECT_EQ(takeovers, 1);
  EXPECT_EQ(processor.engine().team_count(), 2u) << "the state of both partitions is in checkpoint 1";
  ASSERT_TRUE(processor.Step(0));  // the fourth record
  EXPECT_EQ(processor.engine().counters().applied, 4u);
  source.commits.clear();
  ASSERT_TRUE(processor.Step(0));  // revoked: checkpoint 2, commit, stand by
  EXPECT_THAT(source.commits, ::testing::ElementsAre(std::pair<int32_t, int64_t>{0, 3}))
      << "partition 1 went elsewhere: this instance never commits it";
  EXPECT_TRUE(source.acknowledged);
  EXPECT_EQ(standbys, 1);
  EXPECT_EQ(processor.owned_partitions(), 0);
  EXPECT_EQ(processor.engine().counters().applied, 0u) << "standing by, it holds no state";
  EXPECT_FALSE(processor.TakeCheckpoint(/*wait=*/true));

  ASSERT_TRUE(processor.Step(0));  // assigned again: restores the newest, checkpoint 2
  EXPECT_EQ(takeovers, 2);
  EXPECT_EQ(restored, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(processor.engine().counters().applied, 4u);
  std::vector<std::string> problems;
  auto newest = store->LoadNewest(&problems);
  ASSERT_TRUE(newest.ok() && newest->has_value());
  EXPECT_EQ((**newest).partitions[0], (std::pair<std::string, int64_t>{"events[0]", 3}));
  EXPECT_EQ((**newest).partitions[1], (std::pair<std::string, int64_t>{"events[1]", -1}))
      << "no offset is claimed for the partition it was not given";
}

// A takeover whose checkpoint cannot be restored stops the processor with the reason.
TEST(CheckpointRestoreTest, AFailedTakeoverStopsTheRun) {
  TempDir dir;
  auto store = MakeDirectoryStore(dir.path());
  CheckpointWriter writer(store.get());
  ScriptedSource source({ScriptedSource::Assigned({0})});
  StreamProcessor::Options options;
  options.checkpoints = &writer;
  options.on_takeover = [](StreamProcessor&) { return absl::DataLossError("checkpoint 9: checksum mismatch"); };
  StreamProcessor processor(options, &source, nullptr, nullptr, nullptr);
  std::atomic<bool> stop{false};
  const absl::Status s = processor.Run(stop);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(processor.owned_partitions(), 0);
}

TEST(CheckpointRestoreTest, RefusesAnotherTopology) {
  RevokingScript script;
  ScriptedSource& source = *script.source;
  StreamProcessor::Options options;
  options.origins = {"raw[0]", "raw[1]"};
  StreamProcessor processor(options, &source, nullptr, nullptr, nullptr);
  Checkpoint checkpoint;
  checkpoint.sequence = 4;
  operators::Engine engine{operators::MetricOptions{}};
  engine.SaveState(&checkpoint.engine_state);
  const absl::Status s = processor.Restore(checkpoint);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("taken with repartitioned input partitions none (not repartitioned), "
                                                  "this run has raw[0],raw[1]"));
  checkpoint.origins = options.origins;
  StreamProcessor same(options, &source, nullptr, nullptr, nullptr);
  EXPECT_TRUE(same.Restore(checkpoint).ok());
}

TEST(CheckpointRestoreTest, RefusesStateSavedWithOtherWindows) {
  operators::Engine engine{operators::MetricOptions{}};
  std::string state;
  engine.SaveState(&state);
  operators::MetricOptions other;
  other.windows_ms = {operators::kHourMs};
  operators::Engine restored(other);
  const absl::Status s = restored.RestoreState(state, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("other metric options"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("windows=5m,15m,1h"));

  operators::Engine same{operators::MetricOptions{}};
  EXPECT_TRUE(same.RestoreState(state, 0).ok());
  operators::Engine truncated{operators::MetricOptions{}};
  EXPECT_EQ(truncated.RestoreState(state.substr(0, state.size() - 4), 0).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ccpulse
