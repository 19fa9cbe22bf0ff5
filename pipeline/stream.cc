// The worker loop; see stream.h.
#include "pipeline/stream.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "pipeline/check.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "topic[3]" -> "topic".
std::string_view TopicOf(std::string_view partition_name) {
  const std::optional<TopicPartition> parsed = ParsePartitionName(partition_name);
  return parsed ? parsed->topic : partition_name;
}

}  // namespace

StreamProcessor::StreamProcessor(Options options, RecordSource* source, DeadLetterSink* dead_letters,
                                 BoundaryFn on_boundary, TickFn on_tick)
    : options_(std::move(options)),
      source_(source),
      dead_letters_(dead_letters),
      on_boundary_(std::move(on_boundary)),
      on_tick_(std::move(on_tick)),
      engine_(MakeEngine()) {
  for (size_t i = 0; i < options_.origins.size(); ++i) origin_index_[options_.origins[i]] = static_cast<int32_t>(i);
  CCPULSE_CHECK(options_.split.role != operators::Engine::Split::Role::kCustomers || options_.checkpoints == nullptr ||
                    options_.partition_checkpoints != nullptr,
                "the customer tier checkpoints each input partition apart (partition_checkpoints)");
}

std::unique_ptr<operators::Engine> StreamProcessor::MakeEngine() {
  operators::Engine::Split split = options_.split;
  if (split.role == operators::Engine::Split::Role::kCustomers) {
    CCPULSE_CHECK(options_.team_feed != nullptr, "a customer engine has somewhere to send its records");
    // An input partition's channel is its number in the (one) input topic.
    split.channel_of = [this](int partition) {
      const std::string name = source_->PartitionName(partition);
      const std::optional<TopicPartition> parsed = ParsePartitionName(name);
      return static_cast<uint32_t>(parsed ? parsed->partition : partition);
    };
    split.channels_per_partition = ChannelsPer();
    split.send = [this](int partition, std::string_view record) {
      // After a failure nothing more is sent: a later record would hide the gap from the team
      // tier. The run stops; a restart from the checkpoint sends from there.
      if (!fatal_.ok()) return;
      if (absl::Status s = options_.team_feed->Send(partition, record); !s.ok()) {
        fatal_ = absl::Status(s.code(), fmt::format("team feed: {}; restarting from the checkpoint sends it again",
                                                    std::string(s.message())));
      }
    };
  }
  return std::make_unique<operators::Engine>(options_.metrics, std::move(split));
}

void StreamProcessor::ProcessTeamFeed(const SourceRecord& record, int64_t now_ms) {
  if (absl::Status s = engine_->OnTeamFeed(record.value, record.partition, now_ms); !s.ok()) {
    ++counters_.invalid_team_feed;
    DeadLetter(record, "invalid_team_feed", std::string(s.message()));
  } else {
    ++counters_.decoded;
  }
}

int32_t StreamProcessor::ChannelOf(const SourceRecord& record) {
  if (options_.origins.empty()) return record.partition;
  const absl::string_view origin(record.origin.data(), record.origin.size());
  auto it = origin_index_.find(origin);
  if (it != origin_index_.end()) return record.partition * ChannelsPer() + it->second;
  // An input partition added since start, or a record without the header: one channel of its
  // own per partition, so it cannot push a known origin's channel ahead.
  if (unknown_origins_.size() < 100 && unknown_origins_.insert(std::string(origin)).second) {
    std::fprintf(stderr, "ccpulse: records from input partition \"%.*s\" that was not there at start; restart to "
                 "track it apart\n", static_cast<int>(origin.size()), origin.data());
  }
  return record.partition * ChannelsPer() + ChannelsPer() - 1;
}

schemas::RecordDecoder& StreamProcessor::DecoderFor(int32_t partition) {
  const auto index = static_cast<size_t>(partition);
  if (index >= partition_decoders_.size()) partition_decoders_.resize(index + 1, nullptr);
  if (schemas::RecordDecoder* decoder = partition_decoders_[index]) return *decoder;
  const std::string name = source_->PartitionName(partition);
  auto it = options_.topic_formats.find(TopicOf(name));
  const auto format = it == options_.topic_formats.end() ? schemas::RecordFormat::kCcpulseV1 : it->second;
  auto& decoder = decoders_[static_cast<size_t>(format)];
  if (decoder == nullptr) {
    decoder = schemas::MakeRecordDecoder(format, {options_.max_record_bytes, INT64_MAX, &options_.team_map});
  }
  partition_decoders_[index] = decoder.get();
  return *decoder;
}

absl::Status StreamProcessor::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && fatal_.ok()) Step(50);
  // A customer instance stopping cleanly (a rolling update) asks the team tier to wait for it
  // (other roles send nothing); the shutdown checkpoint below covers that record too.
  if (owned_count_ > 0 && fatal_.ok()) engine_->Pause();
  // Clean shutdown: the batch in hand is done; make dead letters durable, then commit (with
  // checkpoints: a last one, so a restart continues exactly here; none when owning nothing, so a
  // standby never replaces the active instance's checkpoint, nor after a fatal error).
  if (options_.checkpoints != nullptr) {
    if (owned_count_ > 0 && fatal_.ok() && !TakeCheckpoint(/*wait=*/true)) {
      std::fprintf(stderr, "ccpulse: the shutdown checkpoint did not become durable; a restart resumes from the "
                           "previous one\n");
    }
  } else if (dead_letters_ != nullptr) {
    if (absl::Status s = dead_letters_->Flush(10000); !s.ok()) {
      std::fprintf(stderr, "ccpulse: %s\n", std::string(s.message()).c_str());
    }
    dead_letters_->Poll();
  }
  if (options_.team_feed != nullptr) {
    if (absl::Status s = options_.team_feed->Flush(10000); !s.ok()) {
      std::fprintf(stderr, "ccpulse: team feed: %s\n", std::string(s.message()).c_str());
    }
    options_.team_feed->Poll();
  }
  CommitApplied(/*sync=*/true);
  Tick(WallMs());
  return fatal_;
}

bool StreamProcessor::Step(int poll_timeout_ms) {
  SourceBatch batch = source_->Poll(poll_timeout_ms);
  const int64_t now = WallMs();
  bool got = false;
  switch (batch.kind) {
    case SourceBatch::Kind::kRecords:
      Process(batch, now);
      source_->Release(batch);
      got = true;
      break;
    case SourceBatch::Kind::kAssigned:
      Assign(batch.partitions, now);
      got = true;
      break;
    case SourceBatch::Kind::kRevoked:
      Revoke(batch.partitions, batch.lost);
      got = true;
      break;
    case SourceBatch::Kind::kEnds:
      // Queued after the partitions' records, which are applied by now.
      for (const SourcePosition& end : batch.ends) {
        const auto index = static_cast<size_t>(end.partition);
        if (index >= owned_.size() || !owned_[index]) continue;
        int64_t& next = applied_next_.try_emplace(end.partition, end.next_offset).first->second;
        next = std::max(next, end.next_offset);
      }
      got = true;
      break;
    case SourceBatch::Kind::kEmpty:
      break;
  }
  engine_->Advance(now, options_.every_ms, [&](operators::TimeMs at) {
    if (on_boundary_) on_boundary_(*engine_, at);
  });
  if (dead_letters_ != nullptr) dead_letters_->Poll();
  if (options_.team_feed != nullptr) {
    options_.team_feed->Poll();
    if (options_.team_feed->failed() > 0 && fatal_.ok()) {
      fatal_ = absl::UnavailableError(fmt::format(
          "team feed: {} records could not be delivered; restarting from the checkpoint sends them again",
          options_.team_feed->failed()));
    }
  }
  if (options_.checkpoints != nullptr) {
    AdvanceCheckpoints();
    if (now - last_checkpoint_ms_ >= options_.checkpoint_interval_ms) (void)TakeCheckpoint(/*wait=*/false);
  }
  if (now - last_commit_ms_ >= options_.commit_interval_ms) CommitApplied(/*sync=*/false);
  if (now - last_tick_ms_ >= options_.tick_interval_ms) Tick(now);
  return got;
}

void StreamProcessor::Process(SourceBatch& batch, int64_t now_ms) {
  ++counters_.batches;
  last_input_ms_ = now_ms;
  const int64_t latest_ms = now_ms + options_.max_future_ms;
  for (const SourceRecord& record : batch.records) {
    ++counters_.records;
    fresh_ = false;
    if (record.partition >= partition_count_) partition_count_ = record.partition + 1;
    if (static_cast<size_t>(record.partition) >= owned_.size() || !owned_[static_cast<size_t>(record.partition)]) {
      Own(record.partition);
    }
    if (options_.split.role == operators::Engine::Split::Role::kTeams) {
      ProcessTeamFeed(record, now_ms);
    } else {
      ProcessEvents(record, latest_ms, now_ms);
    }
    applied_next_[record.partition] = record.offset + 1;
    if (record.timestamp_ms > 0) pending_latency_ts_.push_back(record.timestamp_ms);
    // The watermark moves with every record, as in replay, so whether a record is late does
    // not depend on how records were batched.
    engine_->Advance(now_ms, options_.every_ms, [&](operators::TimeMs at) {
      if (on_boundary_) on_boundary_(*engine_, at);
    });
  }
}

void StreamProcessor::ProcessEvents(const SourceRecord& record, int64_t latest_ms, int64_t now_ms) {
  schemas::RecordDecoder& decoder = DecoderFor(record.partition);
  decoder.SetLatestTime(latest_ms);
  const schemas::DecodeStatus status = decoder.Decode(record.value, &decoded_);
  if (!status.ok()) {
    ++counters_.invalid[static_cast<size_t>(status.error)];
    DeadLetter(record, schemas::DecodeErrorName(status.error), status.message);
    return;
  }
  ++counters_.decoded;
  // A record's events are applied together; the record is dead-lettered once, for its first
  // event that could not be applied.
  std::string_view reason;
  std::string message;
  const int32_t channel = ChannelOf(record);
  for (int i = 0; i < decoded_.count; ++i) {
    schemas::Event& event = decoded_.events[i];
    event.position = {channel, record.offset};
    switch (engine_->OnEvent(event, now_ms)) {
      case operators::Engine::Accepted::kLate:
        ++counters_.late;
        if (reason.empty()) {
          reason = "late";
          message = fmt::format("event time {} is before the watermark {}", schemas::FormatRfc3339(event.time_ms),
                                schemas::FormatRfc3339(engine_->WatermarkOf(channel)));
        }
        break;
      case operators::Engine::Accepted::kTooManyEvents:
        ++counters_.too_many_events;
        if (reason.empty()) {
          reason = "too_many_events";
          message = "the interaction has more events than ccpulse keeps";
        }
        break;
      default:
        break;
    }
  }
  if (!reason.empty()) DeadLetter(record, reason, message);
}

void StreamProcessor::Own(int32_t partition) {
  const auto index = static_cast<size_t>(partition);
  if (index >= owned_.size()) owned_.resize(index + 1, 0);
  if (owned_[index]) return;
  owned_[index] = 1;
  ++owned_count_;
}

void StreamProcessor::Assign(const std::vector<int32_t>& partitions, int64_t now_ms) {
  assigned_once_ = true;
  if (options_.partition_checkpoints != nullptr && options_.checkpoints != nullptr) {
    // Each partition's state comes with it, before its channels are assigned and its records read.
    for (int32_t p : partitions) {
      if (static_cast<size_t>(p) < owned_.size() && owned_[static_cast<size_t>(p)]) continue;
      if (absl::Status s = RestorePartition(p, now_ms); !s.ok()) {
        fatal_ = s;
        return;
      }
    }
    now_ms = WallMs();  // the restores took time
  } else if (owned_count_ == 0 && fresh_ && !partitions.empty() && options_.checkpoints != nullptr && options_.on_takeover) {
    assigning_ = &partitions;  // Restore drops the checkpoint's partitions that went elsewhere
    const absl::Status s = options_.on_takeover(*this);
    assigning_ = nullptr;
    if (!s.ok()) {
      fatal_ = s;
      return;
    }
    now_ms = WallMs();  // the restore took time
  }
  for (int32_t p : partitions) {
    // Every known channel of the partition holds the watermark back until it sends or idles
    // out (the unknown-origin channel only once it has sent).
    const int32_t known = std::max<int32_t>(1, static_cast<int32_t>(options_.origins.size()));
    for (int32_t c = 0; c < known; ++c) engine_->AssignPartition(p * ChannelsPer() + c, now_ms);
    partition_count_ = std::max(partition_count_, p + 1);
    Own(p);
  }
}

void StreamProcessor::Revoke(const std::vector<int32_t>& partitions, bool lost) {
  // What the partitions' state did since the last tick (an alert that fired) is published first,
  // so that the checkpoint a team partition's next reader restores holds no change published
  // here; a team tier's firing alerts of the partitions are handed over after the drop.
  Tick(WallMs());
  // Everything fetched before the revoke is applied: make it durable and commit it before the
  // partitions go to another consumer. Lost ones (the session expired) may be another's
  // already, restored from the shared checkpoints (standbys, the team tier's partitions): no
  // new checkpoint to compete with the new owner's (each is consistent, but a stale one would
  // cost a longer replay, or, in an unfenced directory, pass for the newest).
  if (lost && (options_.on_standby || options_.partition_checkpoints)) {
    std::fprintf(stderr, "ccpulse: %zu partition(s) lost (the group's session expired): no checkpoint of them here\n",
                 partitions.size());
  } else if (options_.checkpoints != nullptr) {
    // A customer tier's partitions say they move (the team tier waits for them to go on
    // elsewhere), in records the checkpoint covers.
    engine_->Pause(partitions);
    (void)TakeCheckpoint(/*wait=*/true);
  } else {
    if (dead_letters_ != nullptr) {
      (void)dead_letters_->Flush(10000);
      dead_letters_->Poll();
    }
    CommitApplied(/*sync=*/true);
  }
  for (int32_t p : partitions) {
    for (int32_t c = 0; c < ChannelsPer(); ++c) engine_->RemovePartition(p * ChannelsPer() + c);
    applied_next_.erase(p);
    committed_next_.erase(p);
    // Never commit for a partition another consumer now owns.
    durable_next_.erase(p);
    if (saved_) saved_->offsets.erase(p);
    if (writing_) writing_->offsets.erase(p);
    if (static_cast<size_t>(p) < owned_.size() && owned_[static_cast<size_t>(p)]) {
      owned_[static_cast<size_t>(p)] = 0;
      --owned_count_;
    }
  }
  Tick(WallMs());
  // The revoked partitions' stores go once their last checkpoint has settled (one still being
  // written, or lost partitions', stay: the writer may hold them).
  if (options_.partition_checkpoints != nullptr && !lost && !saved_ && !writing_) {
    for (int32_t p : partitions) options_.partition_checkpoints->Release(source_->PartitionName(p));
  }
  if (lost && options_.on_standby) {
    // A write under way (perhaps still waiting for its forked encoding) ends, or is fenced,
    // before the revoke is acknowledged, so before this instance can be given partitions and
    // claim the name again: it must not land under that newer claim. Within the fetch thread's
    // 30 s wait for the acknowledgement; a write longer than that is not waited for.
    saved_.reset();
    if (writing_) {
      (void)options_.checkpoints->Drain(25000);
      AdvanceCheckpoints();
    }
  }
  source_->AcknowledgeRevoke();
  if (owned_count_ == 0 && options_.checkpoints != nullptr && options_.on_standby) {
    // Owning nothing, the state is the last checkpoint's and may go stale: another instance may
    // take these partitions over and checkpoint newer state. Hold none until assigned again.
    engine_ = MakeEngine();
    applied_next_.clear();
    committed_next_.clear();
    durable_next_.clear();
    saved_.reset();  // a checkpoint still being written settles as usual (its offsets are gone)
    fresh_ = true;
    pending_latency_ts_.clear();
    options_.on_standby(*this);
  }
}

void StreamProcessor::DeadLetter(const SourceRecord& record, std::string_view reason,
                                 std::string_view message) {
  if (dead_letters_ == nullptr) return;
  if (dead_letters_->Write(record, source_->PartitionName(record.partition), reason, message)) {
    ++counters_.dead_letters_queued;
  } else {
    ++counters_.dead_letter_write_failures;
  }
}

void StreamProcessor::CommitApplied(bool sync) {
  last_commit_ms_ = WallMs();
  std::vector<SourcePosition> positions;
  // With checkpoints, only what a durable checkpoint covers: a restart resumes from there.
  const auto& applied = options_.checkpoints != nullptr ? durable_next_ : applied_next_;
  for (const auto& [partition, next] : applied) {
    int64_t safe = next;
    if (dead_letters_ != nullptr) safe = std::min(safe, dead_letters_->LowestPendingOffset(partition));
    auto it = committed_next_.find(partition);
    if (it != committed_next_.end() && it->second >= safe) continue;
    positions.push_back({partition, safe});
    committed_next_[partition] = safe;
  }
  if (positions.empty()) return;
  ++counters_.commits;
  source_->Commit(positions, sync);
}

void StreamProcessor::Tick(int64_t now_ms) {
  last_tick_ms_ = now_ms;
  if (now_ms - last_lag_ms_ >= 1000) {
    last_lag_ms_ = now_ms;
    high_watermarks_ = source_->HighWatermarks();
  }
  int64_t visible_ms = now_ms;
  if (on_tick_) visible_ms = on_tick_(*engine_, *this);
  for (int64_t ts : pending_latency_ts_) {
    const int64_t ms = std::max<int64_t>(0, visible_ms - ts);
    const double seconds = static_cast<double>(ms) / 1000.0;
    const size_t bucket = LatencyBucketOf(seconds);
    ++counters_.latency_buckets[bucket];
    counters_.latency_sum_s += seconds;
    ++counters_.latency_count;
    if (options_.keep_latency_samples) latency_samples_.push_back(ms);
  }
  pending_latency_ts_.clear();
}

absl::Status StreamProcessor::RestorePartition(int32_t partition, int64_t now_ms) {
  const std::string name = source_->PartitionName(partition);
  absl::StatusOr<std::optional<Checkpoint>> loaded = options_.partition_checkpoints->Take(name);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(), fmt::format("cannot load the checkpoints of {}: {}", name,
                                                            std::string(loaded.status().message())));
  }
  if (!loaded->has_value()) return absl::OkStatus();  // none yet: empty, from the committed offset
  const Checkpoint& checkpoint = **loaded;
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status s = SameOrigins(checkpoint); !s.ok()) return s;
  if (checkpoint.partitions.size() != 1 || checkpoint.partitions[0].first != name) {
    return absl::FailedPreconditionError(fmt::format("checkpoint {} in {} is not {}'s alone", checkpoint.sequence,
                                                     options_.partition_checkpoints->Describe(name), name));
  }
  if (absl::Status s = engine_->RestorePartitionState(partition, checkpoint.engine_state, now_ms); !s.ok()) {
    return absl::Status(s.code(), fmt::format("cannot restore {} from checkpoint {} in {}: {}", name,
                                              checkpoint.sequence, options_.partition_checkpoints->Describe(name),
                                              std::string(s.message())));
  }
  const int64_t next = checkpoint.partitions[0].second;
  if (next >= 0) {
    applied_next_[partition] = next;
    durable_next_[partition] = next;
  }
  // Later checkpoints of the partition must sort after this one, whoever wrote it.
  checkpoint_sequence_ = std::max(checkpoint_sequence_, checkpoint.sequence);
  fresh_ = false;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "ccpulse: restored %s from checkpoint %llu in %s (%.1f kB of state): claimed and read in "
                       "%.0f ms, restored in %.1f ms; %zu teams held now; resuming at offset %lld\n",
               name.c_str(), static_cast<unsigned long long>(checkpoint.sequence),
               options_.partition_checkpoints->Describe(name).c_str(),
               static_cast<double>(checkpoint.engine_state.size()) / 1e3,
               options_.partition_checkpoints->load_ms(name), ms, engine_->teams_held(), static_cast<long long>(next));
  return absl::OkStatus();
}

absl::Status StreamProcessor::SameOrigins(const Checkpoint& checkpoint) const {
  // The watermark's channels are numbered by the origins: another list would mix them up.
  if (checkpoint.origins == options_.origins) return absl::OkStatus();
  const auto list = [](const std::vector<std::string>& o) {
    return o.empty() ? std::string("none (not repartitioned)") : fmt::format("{}", fmt::join(o, ","));
  };
  return absl::FailedPreconditionError(fmt::format(
      "checkpoint {}: taken with repartitioned input partitions {}, this run has {}; the topology changed "
      "(repartitioning turned on or off, or input partitions added): start this instance without its checkpoint",
      checkpoint.sequence, list(checkpoint.origins), list(options_.origins)));
}

absl::Status StreamProcessor::Restore(const Checkpoint& checkpoint) {
  if (absl::Status s = SameOrigins(checkpoint); !s.ok()) return s;
  for (size_t i = 0; i < checkpoint.partitions.size(); ++i) {
    const std::string name = source_->PartitionName(static_cast<int32_t>(i));
    if (name != checkpoint.partitions[i].first) {
      return absl::FailedPreconditionError(fmt::format(
          "checkpoint {}: input partition {} is {} there but {} here", checkpoint.sequence, i,
          checkpoint.partitions[i].first, name));
    }
  }
  if (absl::Status s = engine_->RestoreState(checkpoint.engine_state, WallMs()); !s.ok()) {
    return absl::Status(s.code(), fmt::format("checkpoint {}: {}", checkpoint.sequence, std::string(s.message())));
  }
  partition_count_ = static_cast<int32_t>(checkpoint.partitions.size());
  for (int32_t p = 0; p < partition_count_; ++p) {
    const int64_t next = checkpoint.partitions[static_cast<size_t>(p)].second;
    if (next < 0) continue;
    applied_next_[p] = next;
    durable_next_[p] = next;
  }
  checkpoint_sequence_ = checkpoint.sequence;
  last_checkpoint_ms_ = WallMs();
  fresh_ = false;
  if (assigning_ != nullptr) {
    // Restored while partitions are assigned: those of the checkpoint that went elsewhere get no
    // commits and no watermark channels (a team tier drops their teams), before the caller hands
    // the restored alerts to the dispatcher.
    std::vector<char> given(static_cast<size_t>(partition_count_), 0);
    for (int32_t p : *assigning_) {
      if (p < partition_count_) given[static_cast<size_t>(p)] = 1;
    }
    for (int32_t p = 0; p < partition_count_; ++p) {
      if (given[static_cast<size_t>(p)]) continue;
      for (int32_t c = 0; c < ChannelsPer(); ++c) engine_->RemovePartition(p * ChannelsPer() + c);
      applied_next_.erase(p);
      durable_next_.erase(p);
    }
  }
  return absl::OkStatus();
}

bool StreamProcessor::TakeCheckpoint(bool wait) {
  CheckpointWriter* writer = options_.checkpoints;
  if (writer == nullptr || owned_count_ == 0) return false;
  // Flushes dead letters, hands the saved checkpoint over, waits for the writer. Twice at most:
  // one in flight, then one that waited for its dead letters.
  auto settle = [&] {
    for (int round = 0; round < 2 && (saved_ || writing_); ++round) {
      if (dead_letters_ != nullptr) {
        (void)dead_letters_->Flush(10000);
        dead_letters_->Poll();
      }
      if (options_.team_feed != nullptr) {
        (void)options_.team_feed->Flush(10000);
        options_.team_feed->Poll();
      }
      AdvanceCheckpoints();
      (void)writer->Drain(60000);
      AdvanceCheckpoints();
    }
  };
  if (saved_ || writing_) {
    if (!wait) return false;
    settle();
  }
  const auto start = std::chrono::steady_clock::now();
  Checkpoint header;
  header.origins = options_.origins;
  header.sequence = ++checkpoint_sequence_;
  header.created_ms = WallMs();
  SavedCheckpoint saved;
  saved.sequence = header.sequence;
  if (options_.team_feed != nullptr) saved.feed_sent = options_.team_feed->sent();
  const size_t reserve = checkpoint_stats_.last_bytes + checkpoint_stats_.last_bytes / 8;
  bool is_forked = false;
  if (options_.partition_checkpoints != nullptr) {
    // One part per partition read here, each to its own store.
    struct PartOf {
      int32_t partition;
      std::string name;
      int64_t next;
      CheckpointStore* store;
    };
    std::vector<PartOf> parts;
    for (int32_t p = 0; p < partition_count_; ++p) {
      if (static_cast<size_t>(p) >= owned_.size() || !owned_[static_cast<size_t>(p)] || !engine_->reads_partition(p)) {
        continue;
      }
      const std::string name = source_->PartitionName(p);
      absl::StatusOr<CheckpointStore*> store = options_.partition_checkpoints->StoreOf(name);
      if (!store.ok()) {
        std::fprintf(stderr, "ccpulse: no checkpoint of %s this time: %s\n", name.c_str(),
                     std::string(store.status().message()).c_str());
        continue;
      }
      auto it = applied_next_.find(p);
      parts.push_back({p, name, it == applied_next_.end() ? -1 : it->second, *store});
    }
    const auto encode = [&](const PartOf& part) {
      Checkpoint checkpoint = header;
      checkpoint.partitions = {{part.name, part.next}};
      engine_->SavePartitionState(part.partition, &checkpoint.engine_state);
      return checkpoint;
    };
    if (options_.fork_snapshots && !parts.empty()) {
      // One child encodes every part (sealed, framed); the worker pauses for the fork alone.
      auto forked = ForkedEncoding::Start([&] {
        std::string frames;
        for (const PartOf& part : parts) AppendFrame(EncodeCheckpoint(encode(part), nullptr, 0, /*seal=*/true), &frames);
        return frames;
      });
      if (forked.ok()) {
        is_forked = true;
        for (size_t i = 0; i < parts.size(); ++i) {
          saved.parts.push_back({parts[i].store, i == 0 ? EncodedCheckpoint(*std::move(forked)) : EncodedCheckpoint(),
                                 static_cast<int>(i)});
        }
      } else if (!fork_failure_reported_) {
        fork_failure_reported_ = true;
        std::fprintf(stderr, "ccpulse: %s; the worker encodes the checkpoints that cannot fork (it pauses for them)\n",
                     std::string(forked.status().message()).c_str());
      }
    }
    for (const PartOf& part : parts) {
      if (!is_forked) saved.parts.push_back({part.store, EncodeCheckpoint(encode(part), nullptr, 0, /*seal=*/false)});
      saved.part_partitions.push_back(part.partition);
      if (part.next >= 0) saved.offsets[part.partition] = part.next;
    }
  } else {
    for (int32_t p = 0; p < partition_count_; ++p) {
      auto it = applied_next_.find(p);
      const int64_t next = it == applied_next_.end() ? -1 : it->second;
      header.partitions.emplace_back(source_->PartitionName(p), next);
      if (next >= 0) saved.offsets[p] = next;
    }
    EncodedCheckpoint encoded;
    if (options_.fork_snapshots) {
      auto forked = ForkedEncoding::Start(header, *engine_, reserve);
      if (forked.ok()) {
        encoded = *std::move(forked);
        is_forked = true;
      } else if (!fork_failure_reported_) {
        fork_failure_reported_ = true;
        std::fprintf(stderr, "ccpulse: %s; the worker encodes the checkpoints that cannot fork (it pauses for them)\n",
                     std::string(forked.status().message()).c_str());
      }
    }
    if (!is_forked) encoded = EncodeCheckpoint(header, engine_.get(), reserve, /*seal=*/false);
    saved.parts.push_back({nullptr, std::move(encoded)});
  }
  const double pause_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CheckpointStats& s = checkpoint_stats_;
  ++s.taken;
  if (is_forked) ++s.forked;
  s.last_pause_ms = pause_ms;
  s.pause_ms_sum += pause_ms;
  saved_ = std::move(saved);
  last_checkpoint_ms_ = WallMs();
  if (!wait) {
    AdvanceCheckpoints();
    return true;
  }
  settle();
  // (What became durable: with parts, those that did, whether or not all did.)
  CommitApplied(/*sync=*/true);
  return !saved_ && !writing_ && durable_sequence_ == header.sequence;
}

void StreamProcessor::AdvanceCheckpoints() {
  CheckpointWriter* writer = options_.checkpoints;
  if (writing_) {
    if (std::optional<CheckpointWriter::Result> result = writer->TakeResult()) {
      checkpoint_stats_.last_write_ms = result->write_ms;
      if (options_.partition_checkpoints != nullptr) {
        // Each partition's part is durable on its own: one that fails (its store fenced by the
        // partition's new reader, or unreachable) holds back only its own offsets.
        for (size_t i = 0; i < result->parts.size() && i < writing_->part_partitions.size(); ++i) {
          const int32_t p = writing_->part_partitions[i];
          if (!result->parts[i].ok()) {
            std::fprintf(stderr, "ccpulse: checkpoint %llu of %s failed: %s; its offsets stay at its last durable "
                                 "checkpoint\n",
                         static_cast<unsigned long long>(result->sequence), source_->PartitionName(p).c_str(),
                         std::string(result->parts[i].message()).c_str());
          } else if (auto it = writing_->offsets.find(p); it != writing_->offsets.end()) {
            durable_next_[p] = it->second;
          }
        }
        if (result->status.ok()) {
          durable_sequence_ = result->sequence;
          ++checkpoint_stats_.durable;
          checkpoint_stats_.last_bytes = result->bytes;
        } else {
          ++checkpoint_stats_.failed;
        }
      } else if (result->status.ok()) {
        durable_next_ = std::move(writing_->offsets);
        durable_sequence_ = result->sequence;
        ++checkpoint_stats_.durable;
        checkpoint_stats_.last_bytes = result->bytes;
      } else {
        ++checkpoint_stats_.failed;
        std::fprintf(stderr, "ccpulse: checkpoint %llu failed: %s; offsets stay at the last durable checkpoint\n",
                     static_cast<unsigned long long>(result->sequence),
                     std::string(result->status.message()).c_str());
        // Fenced: another instance writes under this name now; this one must not go on owning
        // partitions (one standing by already has nothing to write).
        if (result->status.code() == absl::StatusCode::kAborted && owned_count_ > 0) fatal_ = result->status;
      }
      writing_.reset();
    }
  }
  if (saved_ && !writing_) {
    // Its offsets may only be committed (and it may only be restored from) once the dead
    // letters of the records before them are durable too.
    if (dead_letters_ != nullptr) {
      for (const auto& [partition, next] : saved_->offsets) {
        if (dead_letters_->LowestPendingOffset(partition) < next) return;
      }
    }
    // Nor before the team feed records sent before it: a restore sends only what follows.
    if (options_.team_feed != nullptr && options_.team_feed->durable_prefix() < saved_->feed_sent) return;
    writer->Submit(saved_->sequence, std::move(saved_->parts));
    writing_ = std::move(saved_);
    saved_.reset();
  }
}

std::vector<std::pair<std::string, int64_t>> StreamProcessor::Lag() const {
  std::vector<std::pair<std::string, int64_t>> lag;
  for (const auto& [partition, high] : high_watermarks_) {
    auto it = applied_next_.find(partition);
    const int64_t next = it == applied_next_.end() ? 0 : it->second;
    lag.emplace_back(source_->PartitionName(partition), std::max<int64_t>(0, high - next));
  }
  return lag;
}

}  // namespace ccpulse
