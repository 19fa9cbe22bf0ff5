// The `run` configuration (one YAML file, DESIGN §7): Kafka settings passed through to
// librdkafka, windows and metric parameters, HTTP, outputs. Every error names the file, the
// line and the key ("ccpulse.yaml:12: `metrics.slice`: expected a duration like 10s").
#ifndef CCPULSE_PIPELINE_CONFIG_H_
#define CCPULSE_PIPELINE_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "operators/options.h"
#include "schemas/record_decoder.h"

namespace ccpulse {

struct KafkaConfig {
  std::string brokers;
  std::string group = "ccpulse";
  std::vector<std::string> topics;
  // Wire format per input topic; topics not listed are ccpulse.v1.
  std::map<std::string, schemas::RecordFormat, std::less<>> formats;
  std::string dead_letter_topic = "ccpulse-dead-letters";
  std::map<std::string, std::string> properties;           // consumer and producers
  std::map<std::string, std::string> consumer_properties;  // consumer only
  std::map<std::string, std::string> producer_properties;  // producers only
  size_t max_queued_bytes = 64 << 20;
  // Repartitioning (DESIGN §6): when set, a repartition stage reads `topics` and writes them keyed
  // by customer (or interaction) to this internal topic, which the engine reads instead.
  std::string repartition_topic;
  int repartition_partitions = 0;  // of the internal topic when created; 0: as the widest input topic
  // Team-keyed scale-out (DESIGN §6, `kafka.team_stage`): an instance of the customer tier reads
  // the (customer-keyed) input and sends its slices to `team_stage_topic`, each input partition
  // as the channel numbered by its partition; an instance of the team tier reads that topic (its
  // own consumer group) from `team_stage_channels` channels and serves the team metrics and
  // alerts.
  enum class TeamStageRole { kNone, kCustomers, kTeams };
  TeamStageRole team_stage_role = TeamStageRole::kNone;
  std::string team_stage_topic = "ccpulse-teams";
  int team_stage_partitions = 0;
  int team_stage_channels = 0;
};

struct HttpConfig {
  std::string address = "127.0.0.1:9650";  // host:port; port 0 picks a free one
  std::string tls_certificate;             // PEM with certificate and key; empty = plain HTTP
  std::string basic_auth_user;
  std::string basic_auth_password;
  bool enabled = true;
};

struct OutputConfig {
  std::string path;  // JSON Lines of window records at every boundary ("-" = stdout); empty = off
  int64_t every_ms = operators::kMinuteMs;
};

// One team of the roster: who to page and how to show it.
struct RosterEntry {
  std::string tenant = "default";
  std::string team;
  std::string name;     // display name
  std::string manager;  // the `manager` label alerts are routed by
  std::string site;
  std::string time_zone;
  double sl_target = 0;  // 0: metrics.sl_target
  std::map<std::string, std::string> labels;  // extra routing labels
  std::map<std::string, double> baseline;     // seed rates by drift metric name
};

struct AlertingConfig {
  std::string alertmanager_url;  // e.g. http://alertmanager:9093 (POST /api/v2/alerts)
  std::string pagerduty_url = "https://events.pagerduty.com/v2/enqueue";
  std::string pagerduty_routing_key;  // empty: PagerDuty off
  std::string kafka_topic;            // alerts topic (run and demo); empty: off
  bool log = true;                    // one JSON line per change on stderr
  std::string runbook_url = "https://github.com/ccpulse/ccpulse/blob/main/README.md#alerts";
  std::map<std::string, std::string> labels;  // added to every alert
  int64_t resend_ms = operators::kMinuteMs;
  int64_t resolved_resend_ms = 5 * operators::kMinuteMs;
  int64_t ends_after_ms = 4 * operators::kMinuteMs;
  int64_t timeout_ms = 5 * operators::kSecondMs;
  size_t queue_limit = 10000;
};

// Checkpoints (DESIGN §6; `run` only): state and offsets, restored at start.
struct CheckpointConfig {
  // One backend: a local directory, or a compacted Kafka topic (state can then be restored on
  // another machine by an instance of the same name). Neither: no checkpoints.
  std::string dir;
  std::string kafka_topic;
  std::string name;  // the checkpoints' key; default: group.instance.id, else the host name
  // `name` is shared by an active instance and its standbys on a one-partition topic: a standby
  // given the partition restores the newest checkpoint under it, and an instance whose
  // partition is revoked drops its state and stands by.
  bool standby = false;
  int64_t interval_ms = 10 * operators::kSecondMs;
  int keep = 3;  // newest checkpoints kept (the older ones are fallbacks for a corrupt newest)
  // snapshot: fork (default; the worker pauses for a fork only) or worker (it encodes the state).
  bool fork_snapshots = true;
  bool enabled() const { return !dir.empty() || !kafka_topic.empty(); }
};

struct Config {
  std::string path;  // where it was loaded from
  KafkaConfig kafka;
  operators::MetricOptions metrics;
  HttpConfig http;
  OutputConfig output;
  AlertingConfig alerting;
  CheckpointConfig checkpoint;
  std::vector<RosterEntry> teams;
  // Agent -> team and queue -> team, for formats whose records carry no team.
  schemas::TeamMap team_map;
};

// Parses and validates a config file. `run` additionally needs kafka.brokers and kafka.topics
// (CheckForRun); replay uses the same file for metrics, drift, roster and alerting.
absl::StatusOr<Config> LoadConfig(const std::string& path);
// Same, from text (`name` is used in messages).
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& name);
// A team map file for `replay --team-map` / `validate --team-map`: the `team_map` section of a
// config on its own ({queues: {...}, agents: {...}}).
absl::StatusOr<schemas::TeamMap> LoadTeamMap(const std::string& path);
// What `run` needs beyond a valid file: brokers, topics, a valid HTTP address.
absl::Status CheckForRun(const Config& config);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_CONFIG_H_
