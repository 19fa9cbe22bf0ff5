// YAML configuration; see config.h. yaml-cpp throws; nothing escapes this file.
#include "pipeline/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <cmath>
#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "absl/time/time.h"

namespace ccpulse {
namespace {

using operators::ParseDurationMs;

// Walks the document with key paths; the first error wins.
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(const YAML::Node& node, const std::string& path, const std::string& why) {
    if (!error_.empty()) return;
    const int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    error_ = line > 0 ? fmt::format("{}:{}: `{}`: {}", name_, line, path, why)
                      : fmt::format("{}: `{}`: {}", name_, path, why);
  }

  // Calls `fn(key, value, path)` for each entry of a mapping; unknown keys are errors.
  void Map(const YAML::Node& node, const std::string& path, const std::vector<std::string>& keys,
           const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn) {
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) return Fail(node, path, "expected a mapping");
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      const std::string child = path.empty() ? key : path + "." + key;
      if (!keys.empty() && std::find(keys.begin(), keys.end(), key) == keys.end()) {
        return Fail(entry.first, child, fmt::format("unknown key (expected one of: {})", fmt::join(keys, ", ")));
      }
      fn(key, entry.second, child);
      if (!ok()) return;
    }
  }

  std::string String(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      Fail(node, path, "expected a string");
      return "";
    }
    return node.Scalar();
  }
  int64_t Duration(const YAML::Node& node, const std::string& path) {
    int64_t ms = 0;
    if (!node.IsScalar() || !ParseDurationMs(node.Scalar(), &ms)) {
      Fail(node, path, fmt::format("expected a duration like 500ms, 10s, 5m, 1h or 3d, got \"{}\"",
                                   node.IsScalar() ? node.Scalar() : "a non-scalar"));
    }
    return ms;
  }
  double Number(const YAML::Node& node, const std::string& path) {
    try {
      return node.as<double>();
    } catch (const YAML::Exception&) {
      Fail(node, path, "expected a number");
      return 0;
    }
  }
  // A whole number in [low, high]; `what` says what is expected when it is not.
  int64_t Whole(const YAML::Node& node, const std::string& path, int64_t low, int64_t high, std::string_view what) {
    const double n = Number(node, path);
    if (ok() && !(n >= static_cast<double>(low) && n <= static_cast<double>(high) && n == std::floor(n))) {
      Fail(node, path, std::string(what));
    }
    return ok() ? static_cast<int64_t>(n) : 0;
  }
  bool Bool(const YAML::Node& node, const std::string& path) {
    try {
      return node.as<bool>();
    } catch (const YAML::Exception&) {
      Fail(node, path, "expected true or false");
      return false;
    }
  }
  int64_t Bytes(const YAML::Node& node, const std::string& path) {
    const std::string text = node.IsScalar() ? node.Scalar() : "";
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(text, &used);
    } catch (...) {
      Fail(node, path, "expected a size like 64MiB");
      return 0;
    }
    const std::string unit = text.substr(used);
    int shift = -1;
    if (unit == "" || unit == "B") shift = 0;
    else if (unit == "KiB") shift = 10;
    else if (unit == "MiB") shift = 20;
    else if (unit == "GiB") shift = 30;
    if (shift < 0) {
      Fail(node, path, "expected a size like 64MiB (units B, KiB, MiB, GiB)");
      return 0;
    }
    if (value < 0 || value > (int64_t{1} << 50) >> shift) {
      Fail(node, path, fmt::format("\"{}\" is out of range (0 to 1PiB)", text));
      return 0;
    }
    return value << shift;
  }
  std::map<std::string, std::string> Properties(const YAML::Node& node, const std::string& path) {
    std::map<std::string, std::string> out;
    Map(node, path, {}, [&](const std::string& key, const YAML::Node& value, const std::string& child) {
      out[key] = String(value, child);
    });
    return out;
  }
  std::vector<std::string> Strings(const YAML::Node& node, const std::string& path) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) out.push_back(String(node[i], fmt::format("{}[{}]", path, i)));
    } else {
      Fail(node, path, "expected a list of strings");
    }
    return out;
  }

 private:
  std::string name_;
  std::string error_;
};

void ReadFormats(Reader& r, const YAML::Node& node, const std::string& path,
                 std::map<std::string, schemas::RecordFormat, std::less<>>* formats) {
  r.Map(node, path, {}, [&](const std::string& topic, const YAML::Node& v, const std::string& child) {
    const std::string name = r.String(v, child);
    if (!r.ok()) return;
    if (auto format = schemas::ParseRecordFormat(name)) {
      (*formats)[topic] = *format;
    } else {
      r.Fail(v, child, fmt::format("unknown format \"{}\" (expected one of: {})", name, schemas::RecordFormatNames()));
    }
  });
}

void ReadTeamMap(Reader& r, const YAML::Node& node, const std::string& path, schemas::TeamMap* teams) {
  r.Map(node, path, {"queues", "agents"}, [&](const std::string& key, const YAML::Node& v, const std::string& child) {
    auto& map = key == "queues" ? teams->queues : teams->agents;
    for (auto& [from, team] : r.Properties(v, child)) {
      if (team.empty() || team.size() > schemas::kMaxNameBytes) {
        return r.Fail(v[from], fmt::format("{}.{}", child, from),
                      fmt::format("a team name of 1 to {} bytes", schemas::kMaxNameBytes));
      }
      map[from] = team;
    }
  });
}

void ReadRepartition(Reader& r, const YAML::Node& node, const std::string& path, KafkaConfig* k) {
  r.Map(node, path, {"topic", "partitions"}, [&](const std::string& key, const YAML::Node& v, const std::string& child) {
    if (key == "topic") {
      k->repartition_topic = r.String(v, child);
      if (r.ok() && k->repartition_topic.empty()) r.Fail(v, child, "a topic name");
    } else {
      k->repartition_partitions = static_cast<int>(
          r.Whole(v, child, 0, 10000, "a whole number of partitions, 1 to 10000 (0: as the widest input topic)"));
    }
  });
}

void ReadTeamStage(Reader& r, const YAML::Node& node, const std::string& path, KafkaConfig* k) {
  const auto whole = [&](const YAML::Node& v, const std::string& child, int low, int high, std::string_view what) {
    return static_cast<int>(r.Whole(v, child, low, high, what));
  };
  r.Map(node, path, {"role", "topic", "partitions", "channel", "channels"},
        [&](const std::string& key, const YAML::Node& v, const std::string& child) {
          if (key == "role") {
            const std::string role = r.String(v, child);
            if (role == "customers") k->team_stage_role = KafkaConfig::TeamStageRole::kCustomers;
            else if (role == "teams") k->team_stage_role = KafkaConfig::TeamStageRole::kTeams;
            else if (r.ok()) r.Fail(v, child, "customers or teams");
          } else if (key == "topic") {
            k->team_stage_topic = r.String(v, child);
            if (r.ok() && k->team_stage_topic.empty()) r.Fail(v, child, "a topic name");
          } else if (key == "partitions") {
            k->team_stage_partitions = whole(v, child, 1, 10000, "a whole number of partitions, 1 to 10000");
          } else if (key == "channel") {
            r.Fail(v, child, "nothing: no longer used. Each input partition is a channel of its own (its number "
                             "in the input topic), whichever customer instance reads it; remove it, and set the team "
                             "tier's channels to the input topic's partition count");
          } else {
            k->team_stage_channels = whole(v, child, 1, 10000,
                                           "the customer tier's input partition count (of its input topic, or of "
                                           "kafka.repartition's topic), 1 to 10000");
          }
        });
  if (!r.ok()) return;
  const auto need = [&](bool ok, std::string_view what) {
    if (!ok && r.ok()) r.Fail(node, path, std::string(what));
  };
  need(k->team_stage_role != KafkaConfig::TeamStageRole::kNone, "a role: customers or teams");
  need(k->team_stage_partitions > 0, "partitions: the team topic's partition count (the same on every instance)");
  if (k->team_stage_role == KafkaConfig::TeamStageRole::kTeams) {
    need(k->team_stage_channels > 0, "channels: the customer tier's input partition count (one channel each)");
  }
}

void ReadKafka(Reader& r, const YAML::Node& node, KafkaConfig* k) {
  r.Map(node, "kafka",
        {"brokers", "group", "topics", "formats", "dead_letter_topic", "properties", "consumer",
         "producer", "max_queued_bytes", "repartition", "team_stage"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "brokers") k->brokers = r.String(v, path);
          else if (key == "group") k->group = r.String(v, path);
          else if (key == "topics") k->topics = r.Strings(v, path);
          else if (key == "formats") ReadFormats(r, v, path, &k->formats);
          else if (key == "dead_letter_topic") k->dead_letter_topic = r.String(v, path);
          else if (key == "properties") k->properties = r.Properties(v, path);
          else if (key == "consumer") k->consumer_properties = r.Properties(v, path);
          else if (key == "producer") k->producer_properties = r.Properties(v, path);
          else if (key == "max_queued_bytes") k->max_queued_bytes = static_cast<size_t>(r.Bytes(v, path));
          else if (key == "repartition") ReadRepartition(r, v, path, k);
          else if (key == "team_stage") ReadTeamStage(r, v, path, k);
        });
}

void ReadMetrics(Reader& r, const YAML::Node& node, operators::MetricOptions* m) {
  r.Map(node, "metrics",
        {"windows", "slice", "allowed_lateness", "idle_partition", "retention", "expiry",
         "sl_threshold", "sl_target", "short_abandon", "repeat_window", "forward_gap",
         "same_reason", "hash_key", "time_zones"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "windows") {
            m->windows_ms.clear();
            if (!v.IsSequence()) return r.Fail(v, path, "expected a list of durations, e.g. [5m, 15m, 1h]");
            for (size_t i = 0; i < v.size(); ++i) m->windows_ms.push_back(r.Duration(v[i], fmt::format("{}[{}]", path, i)));
          } else if (key == "slice") m->slice_ms = r.Duration(v, path);
          else if (key == "allowed_lateness") m->allowed_lateness_ms = r.Duration(v, path);
          else if (key == "idle_partition") m->idle_partition_ms = r.Duration(v, path);
          else if (key == "retention") m->interaction_retention_ms = r.Duration(v, path);
          else if (key == "expiry") {
            r.Map(v, path, {"other", "voice", "chat", "email", "messaging", "social"},
                  [&](const std::string& channel, const YAML::Node& d, const std::string& p) {
                    m->expiry_ms[static_cast<size_t>(*schemas::ParseChannel(channel))] = r.Duration(d, p);
                  });
          } else if (key == "sl_threshold") m->sl_threshold_ms = r.Duration(v, path);
          else if (key == "sl_target") m->sl_target = r.Number(v, path);
          else if (key == "short_abandon") m->short_abandon_ms = r.Duration(v, path);
          else if (key == "repeat_window") m->repeat_window_ms = r.Duration(v, path);
          else if (key == "forward_gap") m->forward_gap_ms = r.Duration(v, path);
          else if (key == "same_reason") m->fcr_same_reason = r.Bool(v, path);
          else if (key == "hash_key") {
            const std::string hex = r.String(v, path);
            if (hex.size() != 32 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
              return r.Fail(v, path, "expected 32 hexadecimal digits (a 128-bit SipHash key)");
            }
            m->hash_key.k0 = std::stoull(hex.substr(0, 16), nullptr, 16);
            m->hash_key.k1 = std::stoull(hex.substr(16), nullptr, 16);
          } else if (key == "time_zones") {
            for (const auto& [tenant, zone] : r.Properties(v, path)) m->tenant_time_zones[tenant] = zone;
          }
        });
}

void ReadHttp(Reader& r, const YAML::Node& node, HttpConfig* h) {
  r.Map(node, "http", {"address", "enabled", "tls_certificate", "basic_auth"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "address") h->address = r.String(v, path);
          else if (key == "enabled") h->enabled = r.Bool(v, path);
          else if (key == "tls_certificate") h->tls_certificate = r.String(v, path);
          else if (key == "basic_auth") {
            r.Map(v, path, {"user", "password"}, [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
              if (k2 == "user") h->basic_auth_user = r.String(v2, p2);
              else h->basic_auth_password = r.String(v2, p2);
            });
          }
        });
}

void ReadDrift(Reader& r, const YAML::Node& node, operators::drift::DriftOptions* d) {
  r.Map(node, "drift",
        {"enabled", "odds_ratio", "warning_arl", "critical_arl", "min_baseline", "min_history", "shrinkage",
         "half_life", "resolve_after", "duration_k", "duration_h_warning", "duration_h_critical", "min_hourly_contacts",
         "backlog_hold", "time_zone"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "enabled") d->enabled = r.Bool(v, path);
          else if (key == "odds_ratio") d->odds_ratio = r.Number(v, path);
          else if (key == "warning_arl") d->warning_arl = r.Number(v, path);
          else if (key == "critical_arl") d->critical_arl = r.Number(v, path);
          else if (key == "min_baseline") d->min_baseline = r.Number(v, path);
          else if (key == "min_history") d->min_history_ms = r.Duration(v, path);
          else if (key == "shrinkage") d->shrinkage = r.Number(v, path);
          else if (key == "half_life") d->half_life_ms = r.Duration(v, path);
          else if (key == "resolve_after") d->resolve_after_ms = r.Duration(v, path);
          else if (key == "duration_k") d->duration_k = r.Number(v, path);
          else if (key == "duration_h_warning") d->duration_h_warning = r.Number(v, path);
          else if (key == "duration_h_critical") d->duration_h_critical = r.Number(v, path);
          else if (key == "min_hourly_contacts") d->min_hourly_contacts = static_cast<int>(r.Whole(v, path, 0, 1'000'000, "must be a whole number from 0 to 1000000"));
          else if (key == "backlog_hold") d->backlog_hold_ms = r.Duration(v, path);
          else if (key == "time_zone") {
            const std::string zone = r.String(v, path);
            if (!absl::LoadTimeZone(zone, &d->zone)) r.Fail(v, path, fmt::format("unknown time zone \"{}\"", zone));
          }
          if (!r.ok()) return;
          if ((key == "odds_ratio" && d->odds_ratio <= 1) || (key == "warning_arl" && d->warning_arl < 10) ||
              (key == "critical_arl" && d->critical_arl < 10) || (key == "half_life" && d->half_life_ms <= 0)) {
            r.Fail(v, path, key == "odds_ratio" ? "must be above 1" : key == "half_life" ? "must be positive"
                                                                                        : "must be at least 10");
          }
        });
  if (r.ok() && d->critical_arl <= d->warning_arl) {
    r.Fail(node, "drift.critical_arl", "must be larger than drift.warning_arl");
  }
}

void ReadAlerting(Reader& r, const YAML::Node& node, AlertingConfig* a) {
  r.Map(node, "alerting",
        {"alertmanager_url", "pagerduty_url", "pagerduty_routing_key", "kafka_topic", "log", "runbook_url",
         "labels", "resend", "resolved_resend", "ends_after", "timeout", "queue_limit"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "alertmanager_url") a->alertmanager_url = r.String(v, path);
          else if (key == "pagerduty_url") a->pagerduty_url = r.String(v, path);
          else if (key == "pagerduty_routing_key") a->pagerduty_routing_key = r.String(v, path);
          else if (key == "kafka_topic") a->kafka_topic = r.String(v, path);
          else if (key == "log") a->log = r.Bool(v, path);
          else if (key == "runbook_url") a->runbook_url = r.String(v, path);
          else if (key == "labels") a->labels = r.Properties(v, path);
          else if (key == "resend") a->resend_ms = r.Duration(v, path);
          else if (key == "resolved_resend") a->resolved_resend_ms = r.Duration(v, path);
          else if (key == "ends_after") a->ends_after_ms = r.Duration(v, path);
          else if (key == "timeout") a->timeout_ms = r.Duration(v, path);
          else if (key == "queue_limit") {
            a->queue_limit = static_cast<size_t>(r.Whole(v, path, 1, 10'000'000, "must be a whole number from 1 to 10000000"));
          }
          if (!r.ok()) return;
          if (key == "alertmanager_url" || key == "pagerduty_url") {
            const std::string& url = key == "alertmanager_url" ? a->alertmanager_url : a->pagerduty_url;
            const size_t scheme = url.starts_with("http://") ? 7 : url.starts_with("https://") ? 8 : 0;
            if (!url.empty() && (scheme == 0 || url.size() == scheme || url[scheme] == '/')) {
              r.Fail(v, path, "expected an http:// or https:// URL with a host");
            }
          }
        });
}

void ReadTeams(Reader& r, const YAML::Node& node, std::vector<RosterEntry>* teams) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) return r.Fail(node, "teams", "expected a list of teams");
  for (size_t i = 0; i < node.size(); ++i) {
    RosterEntry e;
    const std::string base = fmt::format("teams[{}]", i);
    r.Map(node[i], base,
          {"tenant", "team", "name", "manager", "site", "time_zone", "sl_target", "labels", "baseline"},
          [&](const std::string& key, const YAML::Node& v, const std::string& path) {
            if (key == "tenant") e.tenant = r.String(v, path);
            else if (key == "team") e.team = r.String(v, path);
            else if (key == "name") e.name = r.String(v, path);
            else if (key == "manager") e.manager = r.String(v, path);
            else if (key == "site") e.site = r.String(v, path);
            else if (key == "time_zone") {
              e.time_zone = r.String(v, path);
              absl::TimeZone zone;
              if (r.ok() && !absl::LoadTimeZone(e.time_zone, &zone)) {
                r.Fail(v, path, fmt::format("unknown time zone \"{}\"", e.time_zone));
              }
            } else if (key == "sl_target") {
              e.sl_target = r.Number(v, path);
              if (r.ok() && !(e.sl_target > 0 && e.sl_target < 1)) r.Fail(v, path, "must be in (0, 1)");
            } else if (key == "labels") {
              e.labels = r.Properties(v, path);
            } else if (key == "baseline") {
              r.Map(v, path, {"escalation_ratio", "transfer_ratio", "abandon_ratio", "fcr_failure_ratio",
                              "service_level_miss_ratio"},
                    [&](const std::string& metric, const YAML::Node& rate, const std::string& p) {
                      e.baseline[metric] = r.Number(rate, p);
                      if (r.ok() && !(e.baseline[metric] > 0 && e.baseline[metric] < 1)) r.Fail(rate, p, "must be in (0, 1)");
                    });
            }
          });
    if (!r.ok()) return;
    if (e.team.empty()) return r.Fail(node[i], base + ".team", "required");
    for (const RosterEntry& other : *teams) {
      if (other.tenant == e.tenant && other.team == e.team) {
        return r.Fail(node[i], base + ".team", fmt::format("{}/{} is listed twice", e.tenant, e.team));
      }
    }
    teams->push_back(std::move(e));
  }
}

void ReadOutput(Reader& r, const YAML::Node& node, OutputConfig* o) {
  r.Map(node, "output", {"path", "every"}, [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "path") o->path = r.String(v, path);
    else if (key == "every") o->every_ms = r.Duration(v, path);
  });
}

void ReadCheckpoint(Reader& r, const YAML::Node& node, CheckpointConfig* c) {
  r.Map(node, "checkpoint", {"dir", "kafka_topic", "name", "standby", "interval", "keep", "snapshot"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "dir") {
            c->dir = r.String(v, path);
          } else if (key == "kafka_topic") {
            c->kafka_topic = r.String(v, path);
          } else if (key == "name") {
            c->name = r.String(v, path);
          } else if (key == "standby") {
            c->standby = r.Bool(v, path);
          } else if (key == "interval") {
            c->interval_ms = r.Duration(v, path);
            if (c->interval_ms < operators::kSecondMs) r.Fail(v, path, "must be at least 1s");
          } else if (key == "keep") {
            c->keep = static_cast<int>(r.Whole(v, path, 1, 100, "must be a whole number from 1 to 100"));
          } else if (key == "snapshot") {
            const std::string how = r.String(v, path);
            if (how != "fork" && how != "worker") r.Fail(v, path, "must be fork or worker");
            c->fork_snapshots = how == "fork";
          }
        });
  if (!c->dir.empty() && !c->kafka_topic.empty()) {
    r.Fail(node["kafka_topic"], "checkpoint.kafka_topic", "choose one backend: checkpoint.dir or checkpoint.kafka_topic");
  }
  if (c->standby && c->kafka_topic.empty()) {
    r.Fail(node["standby"], "checkpoint.standby",
           "needs checkpoint.kafka_topic: standbys restore the active instance's checkpoints from there, on any "
           "machine, and only that backend fences an instance a standby replaced");
  }
  if (c->standby && c->name.empty()) {
    r.Fail(node["standby"], "checkpoint.standby", "needs checkpoint.name, the name the active instance and its standbys share");
  }
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}: invalid YAML: {}", name, e.mark.line + 1, e.msg));
  }
  Config config;
  config.path = name;
  Reader r(name);
  if (!root.IsMap()) return absl::InvalidArgumentError(fmt::format("{}: expected a YAML mapping at the top", name));
  try {
    r.Map(root, "", {"kafka", "metrics", "drift", "http", "output", "alerting", "checkpoint", "teams", "team_map"},
          [&](const std::string& key, const YAML::Node& v, const std::string&) {
            if (key == "kafka") ReadKafka(r, v, &config.kafka);
            else if (key == "metrics") ReadMetrics(r, v, &config.metrics);
            else if (key == "drift") ReadDrift(r, v, &config.metrics.drift);
            else if (key == "http") ReadHttp(r, v, &config.http);
            else if (key == "output") ReadOutput(r, v, &config.output);
            else if (key == "checkpoint") ReadCheckpoint(r, v, &config.checkpoint);
            else if (key == "alerting") ReadAlerting(r, v, &config.alerting);
            else if (key == "teams") ReadTeams(r, v, &config.teams);
            else if (key == "team_map") ReadTeamMap(r, v, "team_map", &config.team_map);
          });
    for (const auto& [topic, format] : config.kafka.formats) {
      if (std::find(config.kafka.topics.begin(), config.kafka.topics.end(), topic) == config.kafka.topics.end()) {
        r.Fail(root["kafka"]["formats"][topic], "kafka.formats." + topic, "not one of kafka.topics");
      }
    }
    // The engine reads the internal topic in the input's one format.
    if (!config.kafka.repartition_topic.empty()) {
      std::set<schemas::RecordFormat> formats;
      for (const std::string& topic : config.kafka.topics) {
        auto it = config.kafka.formats.find(topic);
        formats.insert(it == config.kafka.formats.end() ? schemas::RecordFormat::kCcpulseV1 : it->second);
      }
      if (formats.size() > 1) {
        r.Fail(root["kafka"]["repartition"], "kafka.repartition",
               "the input topics are in different formats; repartition topics of one format");
      } else if (std::find(config.kafka.topics.begin(), config.kafka.topics.end(), config.kafka.repartition_topic) !=
                 config.kafka.topics.end()) {
        r.Fail(root["kafka"]["repartition"]["topic"], "kafka.repartition.topic", "must not be an input topic");
      } else if (!formats.empty()) {
        config.kafka.formats[config.kafka.repartition_topic] = *formats.begin();
      }
    }
    if (config.kafka.team_stage_role != KafkaConfig::TeamStageRole::kNone && config.checkpoint.standby) {
      r.Fail(root["checkpoint"]["standby"], "checkpoint.standby",
             "kafka.team_stage needs no standbys: in either tier each partition's checkpoints move with it to "
             "whichever instance of the tier the group gives it");
    } else if (config.kafka.team_stage_role == KafkaConfig::TeamStageRole::kTeams) {
      if (!config.kafka.repartition_topic.empty()) {
        r.Fail(root["kafka"]["team_stage"], "kafka.team_stage",
               "the team tier reads the team topic: kafka.repartition belongs to the customer tier");
      }
    } else if (config.kafka.team_stage_role == KafkaConfig::TeamStageRole::kCustomers) {
      if (!config.checkpoint.enabled()) {
        r.Fail(root["kafka"]["team_stage"], "kafka.team_stage",
               "the customer tier needs checkpoints (a checkpoint section): a restart without one would send the "
               "team stages an incomplete stream");
      } else if (config.kafka.topics.size() > 1 && config.kafka.repartition_topic.empty()) {
        r.Fail(root["kafka"]["topics"], "kafka.topics",
               "one topic in the customer tier: each of its partitions is a channel of the team tier, numbered by "
               "its partition; merge several topics with kafka.repartition");
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", name, e.mark.line + 1, e.msg));
  }
  if (!r.ok()) return absl::InvalidArgumentError(r.error());
  if (absl::Status s = config.metrics.Validate(); !s.ok()) {
    // Validate names the option "`name`: why"; report it under the key as written in the file, at
    // that key's line (or the metrics block's when the key was left at its default).
    const std::string message(s.message());
    const size_t close = message.find('`', 1);
    std::string option = message.substr(1, close - 1);
    if (option == "interaction_retention") option = "retention";
    YAML::Node at = root["metrics"];
    if (const size_t dot = option.find('.'); dot != std::string::npos) {
      if (YAML::Node child = at[option.substr(0, dot)][option.substr(dot + 1)]; child.IsDefined()) at = child;
    } else if (YAML::Node child = at[option]; child.IsDefined()) {
      at = child;
    }
    r.Fail(at, "metrics." + option, message.substr(std::min(message.size(), close + 3)));
    return absl::InvalidArgumentError(r.error());
  }
  if (config.output.every_ms <= 0 || config.output.every_ms % config.metrics.slice_ms != 0) {
    r.Fail(root["output"]["every"], "output.every", "must be a positive multiple of metrics.slice");
    return absl::InvalidArgumentError(r.error());
  }
  return config;
}

absl::Status CheckForRun(const Config& config) {
  if (config.kafka.brokers.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: `kafka.brokers`: required (host:port,...)", config.path));
  }
  if (config.kafka.topics.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: `kafka.topics`: at least one input topic", config.path));
  }
  const size_t colon = config.http.address.rfind(':');
  if (config.http.enabled && (colon == std::string::npos || colon + 1 == config.http.address.size())) {
    return absl::InvalidArgumentError(
        fmt::format("{}: `http.address`: expected host:port, got \"{}\"", config.path, config.http.address));
  }
  if (!config.http.tls_certificate.empty()) {
    std::ifstream pem(config.http.tls_certificate);
    if (!pem) {
      return absl::InvalidArgumentError(fmt::format("{}: `http.tls_certificate`: cannot read {}", config.path,
                                                    config.http.tls_certificate));
    }
  }
  if (!config.http.basic_auth_user.empty() && config.http.basic_auth_password.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: `http.basic_auth.password`: required with a user", config.path));
  }
  return absl::OkStatus();
}

absl::StatusOr<schemas::TeamMap> LoadTeamMap(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  schemas::TeamMap teams;
  Reader r(path);
  try {
    const YAML::Node root = YAML::Load(text.str());
    if (!root.IsMap()) return absl::InvalidArgumentError(fmt::format("{}: expected a mapping with queues and agents", path));
    ReadTeamMap(r, root, "", &teams);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  if (!r.ok()) return absl::InvalidArgumentError(r.error());
  return teams;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace ccpulse
