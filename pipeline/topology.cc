// Wiring of run, demo and simulate-to-Kafka; see topology.h.
#include "pipeline/topology.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "absl/time/clock.h"
#include "operators/snapshot.h"
#include "pipeline/alert_flow.h"
#include "pipeline/http/api.h"
#include "pipeline/kafka/kafka.h"
#include "pipeline/metrics/exposition.h"
#include "pipeline/metrics/publisher.h"
#include "pipeline/report.h"
#include "schemas/record_decoder.h"
#include "schemas/time_format.h"

namespace ccpulse {
namespace {

std::atomic<bool>* g_stop = nullptr;

void OnSignal(int) {
  if (g_stop == nullptr) return;
  if (g_stop->exchange(true)) std::_Exit(130);  // second Ctrl-C: leave now
}

int64_t WallMs() { return absl::ToUnixMillis(absl::Now()); }

kafka::Properties Merge(const std::map<std::string, std::string>& a,
                        const std::map<std::string, std::string>& b) {
  kafka::Properties out(a.begin(), a.end());
  for (const auto& [k, v] : b) out[k] = v;
  return out;
}

}  // namespace

void InstallStopSignals(std::atomic<bool>* stop) {
  g_stop = stop;
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Forked checkpoints are reaped with waitpid, which an inherited "ignore" would defeat.
  signal(SIGCHLD, SIG_DFL);
}

absl::Status CheckRunConfig(const Config& config) {
  if (absl::Status s = CheckForRun(config); !s.ok()) return s;
  kafka::SourceOptions source;
  source.brokers = config.kafka.brokers;
  source.group = config.kafka.group;
  source.topics = config.kafka.topics;
  source.properties = Merge(config.kafka.properties, config.kafka.consumer_properties);
  if (absl::Status s = kafka::CheckSourceOptions(source); !s.ok()) {
    return absl::InvalidArgumentError(fmt::format("{}: kafka consumer: {}", config.path, std::string(s.message())));
  }
  kafka::ProducerOptions producer;
  producer.brokers = config.kafka.brokers;
  producer.properties = Merge(config.kafka.properties, config.kafka.producer_properties);
  if (absl::Status s = kafka::CheckProducerOptions(producer); !s.ok()) {
    return absl::InvalidArgumentError(fmt::format("{}: kafka producer: {}", config.path, std::string(s.message())));
  }
  return absl::OkStatus();
}

namespace {

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

// The explicit static group member id (kafka.consumer or kafka.properties), or "".
std::string ExplicitInstanceId(const Config& config) {
  for (const auto* properties : {&config.kafka.consumer_properties, &config.kafka.properties}) {
    if (auto it = properties->find("group.instance.id"); it != properties->end()) return it->second;
  }
  return "";
}

// The key of the instance's checkpoints: checkpoint.name, else its static group member id, else
// the host name (a StatefulSet pod keeps its name when it moves to another node).
std::string CheckpointName(const Config& config) {
  if (!config.checkpoint.name.empty()) return config.checkpoint.name;
  if (std::string id = ExplicitInstanceId(config); !id.empty()) return id;
  return fmt::format("{}/{}", config.kafka.group, HostName());
}

// The instance's own name (static group membership, the stage's transactional id): the
// explicit member id, else its checkpoint name; with standbys, which share that name,
// "<name>@<host>" (sharing a transactional id, they would fence each other).
std::string InstanceId(const Config& config) {
  if (std::string id = ExplicitInstanceId(config); !id.empty()) return id;
  if (config.checkpoint.standby) return fmt::format("{}@{}", config.checkpoint.name, HostName());
  return CheckpointName(config);
}

// The repartition stage of `run`: its own consumer group, one transactional id per instance
// (the checkpoint name), and the engine's decoder to find each record's customer.
absl::StatusOr<std::unique_ptr<kafka::Repartitioner>> MakeRepartitioner(const Config& config) {
  kafka::RepartitionOptions o;
  o.brokers = config.kafka.brokers;
  o.group = config.kafka.group + "-repartition";
  o.topics = config.kafka.topics;
  o.topic = config.kafka.repartition_topic;
  o.partitions = config.kafka.repartition_partitions;
  o.dead_letter_topic = config.kafka.dead_letter_topic;
  o.consumer_properties = Merge(config.kafka.properties, config.kafka.consumer_properties);
  o.producer_properties = Merge(config.kafka.properties, config.kafka.producer_properties);
  // A named instance (group.instance.id or checkpoint.name) keeps its transactional id across
  // restarts, so a restart aborts its previous life's open transaction at once. Unnamed ones get one per process (two on one host must not fence each other): a
  // crashed life's open transaction then holds the internal topic's readers back until
  // transaction.timeout.ms.
  const bool named = !config.checkpoint.name.empty() || !ExplicitInstanceId(config).empty();
  o.transactional_id = named ? InstanceId(config) + "-repartition"
                             : fmt::format("{}-repartition-{}", InstanceId(config), ::getpid());
  o.producer_properties.try_emplace("transaction.timeout.ms", "10000");
  o.producer_properties.try_emplace("message.timeout.ms", "10000");  // librdkafka: <= the above
  const auto format = config.kafka.formats.at(config.kafka.repartition_topic);
  auto decoder = std::shared_ptr<schemas::RecordDecoder>(
      schemas::MakeRecordDecoder(format, {size_t{1} << 20, INT64_MAX, &config.team_map}));
  auto decoded = std::make_shared<schemas::DecodedRecord>();
  o.key_of = [decoder, decoded](std::string_view, std::string_view value) -> std::string_view {
    if (!decoder->Decode(value, decoded.get()).ok() || decoded->count == 0) return {};
    const schemas::Event& e = decoded->events[0];
    return e.customer_id.empty() ? e.interaction_id : e.customer_id;
  };
  return kafka::Repartitioner::Create(std::move(o));
}

}  // namespace

int RunPipeline(const Config& config, const std::atomic<bool>& stop, std::FILE* err,
                const RunHooks& hooks) {
  if (absl::Status s = CheckRunConfig(config); !s.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  const bool repartition = !config.kafka.repartition_topic.empty();
  kafka::SourceOptions source_options;
  source_options.brokers = config.kafka.brokers;
  source_options.group = config.kafka.group;
  // With a repartition stage the engine reads its internal, customer-keyed topic; in the team
  // tier, the team topic.
  using TeamStageRole = KafkaConfig::TeamStageRole;
  const TeamStageRole team_stage = config.kafka.team_stage_role;
  source_options.topics = repartition ? std::vector<std::string>{config.kafka.repartition_topic} : config.kafka.topics;
  if (team_stage == TeamStageRole::kTeams) source_options.topics = {config.kafka.team_stage_topic};
  source_options.properties = Merge(config.kafka.properties, config.kafka.consumer_properties);
  source_options.max_queued_bytes = config.kafka.max_queued_bytes;
  source_options.read_origin = repartition;
  // Exactly once needs the internal topic's aborted transactions unseen (librdkafka's default).
  if (repartition) source_options.properties["isolation.level"] = "read_committed";
  // With checkpoints, the instance keeps its partitions across a restart (static membership),
  // so its restored state meets the same partitions. Not with standbys: there an instance that
  // stops leaves the group (static members do not), so that a standby takes over at once.
  if (config.checkpoint.enabled() && !config.checkpoint.standby &&
      !source_options.properties.contains("group.instance.id")) {
    source_options.properties["group.instance.id"] = InstanceId(config);
  }
  // Checkpoints: when partitions are assigned to an instance that owns none (at start, or a
  // standby taking over), the newest checkpoint that reads back is loaded (on the fetch thread,
  // inside the rebalance); its partitions keep their indexes and continue at its offsets, and
  // the worker restores its state before their first record.
  kafka::ProducerOptions producer_options;
  producer_options.brokers = config.kafka.brokers;
  producer_options.properties = Merge(config.kafka.properties, config.kafka.producer_properties);
  std::atomic<bool> ready{false};     // /readyz
  std::atomic<bool> resuming{false};  // a checkpoint is being loaded or restored
  std::unique_ptr<CheckpointStore> checkpoint_store;
  struct Resumed {
    std::mutex mu;
    std::optional<Checkpoint> checkpoint;  // loaded, for the worker to restore
    absl::Status status;                   // of the load
    double load_ms = 0;
  } resumed;
  std::unique_ptr<PartitionCheckpoints> partition_checkpoints;
  if (config.checkpoint.enabled() && team_stage != TeamStageRole::kNone) {
    // Either tier: a series of checkpoints per partition read (a team partition, an input
    // partition), named after it (in the group, which the tier's instances share), restored
    // wherever the partition is assigned.
    partition_checkpoints = std::make_unique<PartitionCheckpoints>(
        [&config, producer_options](const std::string& partition) -> absl::StatusOr<std::unique_ptr<CheckpointStore>> {
          if (!config.checkpoint.dir.empty()) {
            return MakeDirectoryStore(fmt::format("{}/{}", config.checkpoint.dir, partition), config.checkpoint.keep);
          }
          return kafka::MakeTopicCheckpointStore(producer_options, config.checkpoint.kafka_topic,
                                                 fmt::format("{}/{}", config.kafka.group, partition));
        });
    source_options.resume = [&partition_checkpoints, &ready, &resuming, err](const std::vector<std::string>& assigned,
                                                                            bool) {
      resuming = true;  // unready until loaded (the worker restores them before their records)
      ready = false;
      auto positions = partition_checkpoints->Load(assigned, err);
      resuming = false;
      return positions;
    };
  } else if (config.checkpoint.enabled()) {
    if (!config.checkpoint.dir.empty()) {
      checkpoint_store = MakeDirectoryStore(config.checkpoint.dir, config.checkpoint.keep);
    } else {
      auto store = kafka::MakeTopicCheckpointStore(producer_options, config.checkpoint.kafka_topic,
                                                   CheckpointName(config));
      if (!store.ok()) {
        std::fprintf(err, "ccpulse: %s\n", std::string(store.status().message()).c_str());
        return 2;
      }
      checkpoint_store = std::move(*store);
    }
    // Each instance its own checkpoints: restored at start only (a later assignment continues
    // from the committed offsets with the state in memory). Standbys: at every takeover.
    source_options.resume = [&resumed, &checkpoint_store, &ready, &resuming, err,
                             standby = config.checkpoint.standby,
                             started = false](const std::vector<std::string>&, bool held_none) mutable {
      std::vector<std::pair<std::string, int64_t>> positions;
      if (!held_none || (started && !standby)) return positions;
      started = true;
      resuming = true;  // unready until the worker has restored it
      ready = false;
      std::vector<std::string> problems;
      const auto start = std::chrono::steady_clock::now();
      // Fence the name's previous writer first, so that what is loaded is its last word.
      auto newest = [&]() -> absl::StatusOr<std::optional<Checkpoint>> {
        if (absl::Status s = checkpoint_store->Claim(); !s.ok()) return s;
        return checkpoint_store->LoadNewest(&problems);
      }();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      for (const std::string& problem : problems) {
        std::fprintf(err, "ccpulse: %s; skipping it for an older checkpoint\n", problem.c_str());
      }
      std::lock_guard lock(resumed.mu);
      resumed.load_ms = ms;
      resumed.checkpoint.reset();
      resumed.status = newest.status();
      if (!newest.ok()) return positions;
      if (newest->has_value()) {
        positions = (**newest).partitions;
        resumed.checkpoint = std::move(**newest);
      } else if (!problems.empty()) {
        std::fprintf(err, "ccpulse: no usable checkpoint in %s: starting from empty state at the committed offsets\n",
                     checkpoint_store->Describe().c_str());
      }
      return positions;
    };
  }
  // The repartition stage first: it creates the internal topic the engine subscribes to.
  std::unique_ptr<kafka::Repartitioner> repartitioner;
  if (repartition) {
    auto created = MakeRepartitioner(config);
    if (!created.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(created.status().message()).c_str());
      return 2;
    }
    repartitioner = std::move(*created);
  }
  if (config.checkpoint.standby) {
    // Standbys share one checkpoint, which holds one engine's state: one instance at a time
    // may own what the engines read.
    int partitions = 0;
    std::vector<std::string> topics = config.kafka.topics;
    if (repartitioner) {
      partitions = repartitioner->internal_partitions();
      topics = {config.kafka.repartition_topic};
    } else {
      kafka::ProducerOptions lookup = producer_options;
      lookup.properties["allow.auto.create.topics"] = "false";  // a look, not a topic created
      auto probe = kafka::KafkaProducer::Create(lookup);
      for (size_t i = 0; probe.ok() && i < topics.size(); ++i) {
        auto count = (*probe)->PartitionCount(topics[i]);
        if (!count.ok()) probe = count.status();
        else partitions += *count;
      }
      if (!probe.ok()) {
        std::fprintf(err, "ccpulse: `checkpoint.standby`: %s\n", std::string(probe.status().message()).c_str());
        return 2;
      }
    }
    if (partitions != 1) {
      std::fprintf(err,
                   "ccpulse: `checkpoint.standby`: the instances sharing checkpoint name \"%s\" must read one "
                   "partition, but %s %s %d; use a one-partition topic (kafka.repartition with partitions: 1 and "
                   "a topic that does not exist yet) or give each instance its own checkpoint name\n",
                   config.checkpoint.name.c_str(), fmt::format("{}", fmt::join(topics, ", ")).c_str(),
                   topics.size() == 1 ? "has" : "have", partitions);
      return 2;
    }
  }
  // The customer tier sends its slices to the team topic (created here when missing).
  std::unique_ptr<kafka::KafkaTeamFeed> team_feed;
  if (team_stage == TeamStageRole::kCustomers) {
    auto created = kafka::KafkaTeamFeed::Create(producer_options, config.kafka.team_stage_topic,
                                                config.kafka.team_stage_partitions);
    if (!created.ok()) {
      std::fprintf(err, "ccpulse: `kafka.team_stage`: %s\n", std::string(created.status().message()).c_str());
      return 2;
    }
    team_feed = std::move(*created);
  }
  auto source = kafka::KafkaSource::Create(source_options);
  if (!source.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(source.status().message()).c_str());
    return 2;
  }
  absl::Mutex alert_producer_mu;
  auto dead_letters = kafka::KafkaDeadLetters::Create(producer_options, config.kafka.dead_letter_topic);
  if (!dead_letters.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(dead_letters.status().message()).c_str());
    return 2;
  }

  std::FILE* output = nullptr;
  if (config.output.path == "-") {
    output = stdout;
  } else if (!config.output.path.empty()) {
    output = std::fopen(config.output.path.c_str(), "a");
    if (output == nullptr) {
      std::fprintf(err, "ccpulse: `output.path`: cannot open %s\n", config.output.path.c_str());
      return 2;
    }
  }
  // Alerts: the roster's labels, the dispatcher and its sinks (the Kafka alerts topic shares the
  // dead-letter producer's settings).
  std::unique_ptr<kafka::KafkaProducer> alert_producer;
  if (!config.alerting.kafka_topic.empty()) {
    auto producer = kafka::KafkaProducer::Create(producer_options);
    if (!producer.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(producer.status().message()).c_str());
      return 2;
    }
    alert_producer = std::move(*producer);
  }
  AlertFlow alerts(config, /*dispatch=*/true,
                   alert_producer ? alerting::AlertDispatcher::KafkaSend(
                                        [&](const std::string& key, const std::string& value) {
                                          absl::MutexLock lock(&alert_producer_mu);
                                          const bool ok = alert_producer->Produce(config.alerting.kafka_topic, key, value).ok();
                                          alert_producer->Poll(0);
                                          return ok;
                                        })
                                  : nullptr);

  // Readers (HTTP, scrapes, wallboard) only ever see published snapshots.
  metrics::Publisher<operators::MetricsSnapshot> snapshots;
  metrics::SelfMetrics self_metrics;
  http::Server server;
  http::ApiSources api;
  api.snapshots = &snapshots;
  api.self_metrics = &self_metrics;
  api.ready = &ready;
  api.directory = alerts.Directory();
  api.alerts = alerts.Alerts();
  if (config.http.enabled) {
    http::RegisterApi(server, api);
    http::ServerOptions http_options;
    http_options.address = config.http.address;
    http_options.tls_certificate = config.http.tls_certificate;
    http_options.basic_auth_user = config.http.basic_auth_user;
    http_options.basic_auth_password = config.http.basic_auth_password;
    if (absl::Status s = server.Start(http_options); !s.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
      return 2;
    }
    std::fprintf(err, "ccpulse: serving %s  (wallboard %s/, metrics %s/metrics, API %s/api/v1/teams)\n",
                 server.url().c_str(), server.url().c_str(), server.url().c_str(), server.url().c_str());
    if (hooks.on_listening) hooks.on_listening(server.url());
  }
  // The worker stops on `stop` (seen at each tick) or when the repartition stage cannot go on.
  std::atomic<bool> halt{false};
  std::unique_ptr<CheckpointWriter> checkpoint_writer;
  if (checkpoint_store || partition_checkpoints) {
    checkpoint_writer = std::make_unique<CheckpointWriter>(checkpoint_store.get());
  }
  operators::SnapshotBuilder builder;
  int64_t last_self_update = 0;
  std::string buffer;
  StreamProcessor::Options options;
  options.metrics = config.metrics;
  options.every_ms = config.output.every_ms;
  options.keep_latency_samples = hooks.keep_latency_samples;
  options.topic_formats = config.kafka.formats;
  options.team_map = config.team_map;
  options.checkpoints = checkpoint_writer.get();
  options.partition_checkpoints = partition_checkpoints.get();
  options.checkpoint_interval_ms = config.checkpoint.interval_ms;
  options.fork_snapshots = config.checkpoint.fork_snapshots;
  if (repartitioner) options.origins = repartitioner->origins();
  if (team_stage == TeamStageRole::kCustomers) {
    options.split.role = operators::Engine::Split::Role::kCustomers;
    options.split.team_partitions = config.kafka.team_stage_partitions;
    options.team_feed = team_feed.get();
  } else if (team_stage == TeamStageRole::kTeams) {
    options.split.role = operators::Engine::Split::Role::kTeams;
    options.split.channels = config.kafka.team_stage_channels;
  }
  options.on_takeover = [&](StreamProcessor& self) -> absl::Status {
    ready = false;      // no tick runs until the restore is done
    resuming = false;
    std::lock_guard lock(resumed.mu);
    if (!resumed.status.ok()) {
      return absl::Status(resumed.status.code(), fmt::format("cannot load a checkpoint from {}: {}",
                                                             checkpoint_store->Describe(),
                                                             std::string(resumed.status.message())));
    }
    std::optional<Checkpoint> checkpoint = std::exchange(resumed.checkpoint, std::nullopt);
    if (!checkpoint) return absl::OkStatus();  // none yet: from the committed offsets
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = self.Restore(*checkpoint); !s.ok()) {
      return absl::Status(s.code(), fmt::format("cannot restore from {}: {}", checkpoint_store->Describe(),
                                                std::string(s.message())));
    }
    const size_t firing = alerts.Resume(self.engine());
    std::vector<std::string> positions;
    for (const auto& [name, next] : checkpoint->partitions) positions.push_back(fmt::format("{}@{}", name, next));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(err,
                 "ccpulse: restored checkpoint %llu from %s (%.1f MB of state, %zu teams, %zu interactions, %zu "
                 "alerts firing): read in %.0f ms, restored in %.0f ms; resuming at %s\n",
                 static_cast<unsigned long long>(checkpoint->sequence), checkpoint_store->Describe().c_str(),
                 static_cast<double>(checkpoint->engine_state.size()) / 1e6, self.engine().teams_held(),
                 self.engine().interactions_held(), firing, resumed.load_ms, ms,
                 fmt::format("{}", fmt::join(positions, ", ")).c_str());
    return absl::OkStatus();
  };
  if (config.checkpoint.standby) options.on_standby = [&](StreamProcessor& self) {
    alerts.ApplyRoster(self.engine());
    alerts.dispatcher()->Retire();
    std::fprintf(err, "ccpulse: every partition was revoked: state dropped; standing by (an assignment "
                      "restores the newest checkpoint then)\n");
  };
  StreamProcessor processor(
      options, source->get(), dead_letters->get(),
      [&](operators::Engine& engine, operators::TimeMs at) {
        if (output == nullptr) return;
        buffer.clear();
        AppendBoundaryRecords(engine, /*final=*/false, &buffer, at);
        std::fwrite(buffer.data(), 1, buffer.size(), output);
        std::fflush(output);
      },
      [&](operators::Engine& engine, const StreamProcessor& self) {
        buffer.clear();
        if (alerts.Take(engine, output != nullptr ? &buffer : nullptr) > 0 && output != nullptr) {
          std::fwrite(buffer.data(), 1, buffer.size(), output);
          std::fflush(output);
        }
        snapshots.Publish(builder.Build(engine, WallMs(), self.last_input_ms()));
        const int64_t visible = WallMs();
        if (visible - last_self_update >= 1000) {
          last_self_update = visible;
          const auto* dlq = self.dead_letters();
          self_metrics.Update(self.counters(), engine, self.Lag(), dlq ? dlq->delivered() : 0,
                              dlq ? dlq->failed() : 0);
          self_metrics.UpdateAlerts(*alerts.dispatcher(), alerts.Unrostered(engine));
          if (checkpoint_writer) self_metrics.UpdateCheckpoints(self.checkpoint_stats());
          if (team_stage != TeamStageRole::kNone) {
            const auto& fed = engine.feed_counters();
            self_metrics.UpdateTeamFeed({team_feed ? team_feed->sent() : 0, team_feed ? team_feed->failed() : 0,
                                         fed.records, fed.repeated, fed.late, fed.gaps});
            if (team_stage == TeamStageRole::kTeams) {
              std::vector<metrics::SelfMetrics::ChannelEnd> ends;
              for (const auto& e : engine.ChannelEnds()) {
                ends.push_back({(*source)->PartitionName(e.partition), e.channel, e.end});
              }
              self_metrics.UpdateChannelEnds(ends);
            }
          }
          if (repartitioner) {
            self_metrics.UpdateRepartition({repartitioner->forwarded(), repartitioner->unkeyed(),
                                            repartitioner->too_large(), repartitioner->transactions(),
                                            repartitioner->aborted(), repartitioner->delay_buckets(),
                                            repartitioner->delay_sum_seconds()});
          }
        }
        // Ready once the group has answered (partitions, restored; or none: a standby).
        ready = self.assigned_once() && !resuming;
        if (resuming) ready = false;  // a load began after the line above read `resuming`
        if (hooks.on_tick) hooks.on_tick(engine, self, visible);
        if (stop.load()) halt = true;
        return visible;
      });
  alerts.ApplyRoster(processor.engine());
  if (hooks.on_alert) alerts.SetObserver(hooks.on_alert);
  std::fprintf(err, "ccpulse: consuming %s from %s as group %s; dead letters to %s\n",
               fmt::format("{}", fmt::join(source_options.topics, ",")).c_str(), config.kafka.brokers.c_str(),
               config.kafka.group.c_str(), config.kafka.dead_letter_topic.c_str());
  if (team_stage == TeamStageRole::kCustomers) {
    std::fprintf(err, "ccpulse: customer tier (each input partition a channel, numbered by its partition): the team "
                      "metrics are computed by the team tier from %s (%d partitions)\n",
                 config.kafka.team_stage_topic.c_str(), config.kafka.team_stage_partitions);
  } else if (team_stage == TeamStageRole::kTeams) {
    std::fprintf(err, "ccpulse: team tier: team metrics and alerts from %d channels (the customer tier's input "
                      "partitions)\n",
                 config.kafka.team_stage_channels);
  }
  absl::Status repartition_status;
  std::atomic<bool> repartition_stop{false};
  std::thread repartition_thread;
  if (repartitioner) {
    std::fprintf(err, "ccpulse: repartitioning by customer into %s (%d partitions) as group %s-repartition\n",
                 config.kafka.repartition_topic.c_str(), repartitioner->internal_partitions(),
                 config.kafka.group.c_str());
    repartition_thread = std::thread([&] {
      repartition_status = repartitioner->Run(repartition_stop);
      if (!repartition_status.ok()) halt = true;
    });
  }
  absl::Status status = processor.Run(halt);
  ready = false;
  if (repartition_thread.joinable()) {
    repartition_stop = true;
    repartition_thread.join();
    repartitioner.reset();  // leaves its group
    if (status.ok() && !repartition_status.ok()) status = repartition_status;
  }
  (*source)->Close();
  alerts.dispatcher()->Stop();
  server.Stop();
  if (output != nullptr && output != stdout) std::fclose(output);
  const StreamCounters& c = processor.counters();
  std::fprintf(err,
               "ccpulse: stopped after %llu records (%llu applied, %llu invalid, %llu late, %llu dead letters)\n",
               static_cast<unsigned long long>(c.records),
               static_cast<unsigned long long>(team_stage == TeamStageRole::kTeams ? c.decoded
                                                                                   : processor.engine().counters().applied),
               static_cast<unsigned long long>(c.records - c.decoded),
               static_cast<unsigned long long>(c.late),
               static_cast<unsigned long long>(c.dead_letters_queued));
  if (!status.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

int SimulateToKafka(const SimulateOptions& options, const std::string& brokers,
                    const std::string& topic, int partitions, const std::atomic<bool>& stop,
                    std::FILE* err, const std::function<bool(int64_t produced)>& backlog) {
  kafka::ProducerOptions producer_options;
  producer_options.brokers = brokers;
  // No message is dropped on a timeout: it waits until the cluster takes it (a broker that is
  // still starting, a leader election); failures are counted and reported.
  producer_options.properties["message.timeout.ms"] = "0";
  std::atomic<uint64_t> failed{0};
  auto producer = kafka::KafkaProducer::Create(
      producer_options,
      [](void* context, void*, bool delivered, const char* error) {
        if (delivered) return;
        auto* count = static_cast<std::atomic<uint64_t>*>(context);
        if ((*count)++ == 0) std::fprintf(stderr, "ccpulse: simulate: delivery failed: %s\n", error ? error : "?");
      },
      &failed);
  if (!producer.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(producer.status().message()).c_str());
    return 2;
  }
  if (partitions > 0) {
    if (absl::Status s = (*producer)->CreateTopic(topic, partitions); !s.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  operators::Simulator simulator(options.simulator);
  operators::SimEvent event;
  auto wall_start = std::chrono::steady_clock::now();
  bool pacing = false;
  int64_t count = 0;
  while (!stop && simulator.Next(&event)) {
    while (backlog && !stop && !backlog(count)) {
      (*producer)->Poll(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (options.speed > 0 && event.emit_ms >= options.paced_from_ms) {
      if (!pacing) {  // history is out: real time starts now
        pacing = true;
        wall_start = std::chrono::steady_clock::now();
      }
      const int64_t origin = std::max(options.simulator.start_ms, options.paced_from_ms);
      const double offset_ms = static_cast<double>(event.emit_ms - origin) / options.speed;
      const auto due = wall_start + std::chrono::microseconds(static_cast<int64_t>(offset_ms * 1000));
      while (!stop && due > std::chrono::steady_clock::now()) {
        (*producer)->Poll(0);
        std::this_thread::sleep_until(std::min(due, std::chrono::steady_clock::now() + std::chrono::milliseconds(50)));
      }
    }
    const std::string json = event.ToJson(options.simulator.tenant);
    const std::string& key = event.customer_id.empty() ? event.interaction_id : event.customer_id;
    if (absl::Status s = (*producer)->Produce(topic, key, json); !s.ok()) {
      std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    (*producer)->Poll(0);
    ++count;
    if (options.limit > 0 && count >= options.limit) break;
  }
  if (absl::Status s = (*producer)->Flush(60000); !s.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (failed > 0) {
    std::fprintf(err, "ccpulse: simulate: %llu of %lld events were not delivered to %s\n",
                 static_cast<unsigned long long>(failed.load()), static_cast<long long>(count), topic.c_str());
    return 1;
  }
  return 0;
}

namespace {

// One line per team, worst health first: what an operations floor looks at.
void PrintSummary(operators::Engine& engine, const StreamProcessor& processor, std::FILE* out) {
  struct Row {
    std::string team;
    operators::TeamMetrics m;
    int64_t live_waiting;
  };
  std::vector<Row> rows;
  const size_t hour = engine.options().windows_ms.size() - 1;
  for (operators::TeamIndex i : engine.TeamsInOrder()) {
    rows.push_back({engine.team(i).team, engine.WindowMetrics(i, hour), engine.live_waiting(i)});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.m.health != b.m.health) return a.m.health > b.m.health;
    return a.m.escalation.value().value_or(0) > b.m.escalation.value().value_or(0);
  });
  auto pct = [](const operators::Ratio& r) {
    return r.value() ? fmt::format("{:5.1f}%", *r.value() * 100) : std::string("    - ");
  };
  std::string text = fmt::format(
      "\n{}  windows end {}  events {}  late {}  dead letters {}\n"
      "{:<16} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>8} {:>6}\n",
      schemas::FormatRfc3339(WallMs() / 1000 * 1000), schemas::FormatRfc3339(engine.windows_end()),
      engine.counters().applied, processor.counters().late, processor.counters().dead_letters_queued,
      "team (last 1h)", "calls", "esc", "xfer", "FCR", "SL", "wait", "oldest", "health");
  for (const Row& r : rows) {
    text += fmt::format("{:<16} {:>6} {} {} {} {} {:>5} {:>7.0f}s {:>6}\n", r.team.substr(0, 16),
                        r.m.inflow, pct(r.m.escalation), pct(r.m.transfer), pct(r.m.fcr_provisional),
                        pct(r.m.service_level), r.live_waiting, r.m.oldest_wait_s,
                        operators::HealthName(r.m.health));
  }
  std::fputs(text.c_str(), out);
  std::fflush(out);
}

int64_t DemoStart() {
  // Today 08:00 UTC, so the demo opens on the morning ramp whatever the wall clock says.
  const int64_t now = WallMs();
  return now - now % operators::kDayMs + 8 * operators::kHourMs;
}

}  // namespace

int RunDemo(const DemoOptions& options, const std::atomic<bool>& stop, std::FILE* out, std::FILE* err) {
  auto mock = kafka::MockCluster::Create(1);
  if (!mock.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(mock.status().message()).c_str());
    return 2;
  }
  const std::string topic = "interactions";
  // The mock cluster keeps a bounded log per partition: spread the week of history over 16
  // partitions and never let the producer run more than 50,000 events ahead of the consumer.
  if (absl::Status s = (*mock)->CreateTopic(topic, 16); !s.ok()) {
    std::fprintf(err, "ccpulse: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  (void)(*mock)->CreateTopic("ccpulse-dead-letters", 1);

  // A week of history at full speed (the drift detectors learn each team's normal), then the
  // live day in scaled real time, with one team's escalations doubling.
  SimulateOptions simulate;
  const int64_t live_from = DemoStart();
  simulate.simulator.seed = options.seed;
  simulate.simulator.teams = options.teams;
  simulate.simulator.start_ms = live_from - options.history_ms;
  simulate.simulator.duration_ms = options.history_ms + 24 * operators::kHourMs;
  simulate.simulator.drift = operators::SimulatorOptions::Drift::kEscalationDoubles;
  simulate.simulator.drift_team = options.drift_team;
  simulate.simulator.drift_after_ms = options.history_ms + options.drift_after_ms;
  simulate.speed = options.speed;
  simulate.paced_from_ms = live_from;
  const std::string brokers = (*mock)->bootstrap_servers();
  std::atomic<bool> stop_producer{false};
  std::atomic<int64_t> consumed{0};
  std::thread producer([&] {
    SimulateToKafka(simulate, brokers, topic, 0, stop_producer, err,
                    [&](int64_t produced) { return produced - consumed.load() < 50'000; });
  });

  Config config;
  config.kafka.brokers = brokers;
  config.kafka.topics = {topic};
  config.kafka.group = "ccpulse-demo";
  config.http.address = options.http_address;
  // Ten simulated seconds pass every wall second: lateness and idleness in simulated time.
  config.metrics.allowed_lateness_ms = 2 * operators::kMinuteMs;
  config.alerting.log = false;  // the demo prints alerts its own way

  std::fprintf(err,
               "ccpulse demo: %d teams; %s of history, then live from %s at %.0fx real time; team %d's "
               "escalation probability doubles %s into the live day. Ctrl-C stops.\n",
               options.teams, operators::DurationLabel(options.history_ms).c_str(),
               schemas::FormatRfc3339(live_from).c_str(), options.speed, options.drift_team,
               options.drift_after_ms == 0 ? "from the start" : operators::DurationLabel(options.drift_after_ms).c_str());
  const int64_t started = WallMs();
  int64_t last_summary = 0;
  RunHooks hooks;
  std::atomic<bool> stop_all{false};
  hooks.on_tick = [&](operators::Engine& engine, const StreamProcessor& processor, int64_t now) {
    consumed = static_cast<int64_t>(processor.counters().records);
    if (now - last_summary >= options.summary_every_s * 1000 && engine.teams_held() > 0) {
      last_summary = now;
      PrintSummary(engine, processor, out);
    }
    if (options.duration_ms > 0 && now - started >= options.duration_ms) stop_all = true;
  };
  hooks.on_alert = [&](const alerting::AlertRecord& a) {
    if (a.changed_at_ms < live_from) return;  // history's alerts are not news
    std::fprintf(out, "\n%s ALERT %s %s %s/%s: %s\n", schemas::FormatRfc3339(a.changed_at_ms).c_str(),
                 a.firing ? "FIRING" : "RESOLVED", a.severity.c_str(), a.team.c_str(), a.metric.c_str(),
                 a.annotations.at("summary").c_str());
    std::fflush(out);
  };
  std::thread watcher([&] {
    while (!stop && !stop_all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop_all = true;
  });
  const int rc = RunPipeline(config, stop_all, err, hooks);
  stop_all = true;
  watcher.join();
  stop_producer = true;
  producer.join();
  return rc;
}

}  // namespace ccpulse
