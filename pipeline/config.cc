// YAML configuration; see config.h. yaml-cpp throws; nothing escapes this file.
#include "pipeline/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>

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
    if (unit == "" || unit == "B") return value;
    if (unit == "KiB") return value << 10;
    if (unit == "MiB") return value << 20;
    if (unit == "GiB") return value << 30;
    Fail(node, path, "expected a size like 64MiB (units B, KiB, MiB, GiB)");
    return 0;
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

void ReadKafka(Reader& r, const YAML::Node& node, KafkaConfig* k) {
  r.Map(node, "kafka",
        {"brokers", "group", "topics", "dead_letter_topic", "properties", "consumer", "producer",
         "max_queued_bytes"},
        [&](const std::string& key, const YAML::Node& v, const std::string& path) {
          if (key == "brokers") k->brokers = r.String(v, path);
          else if (key == "group") k->group = r.String(v, path);
          else if (key == "topics") k->topics = r.Strings(v, path);
          else if (key == "dead_letter_topic") k->dead_letter_topic = r.String(v, path);
          else if (key == "properties") k->properties = r.Properties(v, path);
          else if (key == "consumer") k->consumer_properties = r.Properties(v, path);
          else if (key == "producer") k->producer_properties = r.Properties(v, path);
          else if (key == "max_queued_bytes") k->max_queued_bytes = static_cast<size_t>(r.Bytes(v, path));
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

void ReadOutput(Reader& r, const YAML::Node& node, OutputConfig* o) {
  r.Map(node, "output", {"path", "every"}, [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "path") o->path = r.String(v, path);
    else if (key == "every") o->every_ms = r.Duration(v, path);
  });
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
    r.Map(root, "", {"kafka", "metrics", "http", "output"},
          [&](const std::string& key, const YAML::Node& v, const std::string&) {
            if (key == "kafka") ReadKafka(r, v, &config.kafka);
            else if (key == "metrics") ReadMetrics(r, v, &config.metrics);
            else if (key == "http") ReadHttp(r, v, &config.http);
            else if (key == "output") ReadOutput(r, v, &config.output);
          });
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", name, e.mark.line + 1, e.msg));
  }
  if (!r.ok()) return absl::InvalidArgumentError(r.error());
  if (config.kafka.brokers.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: `kafka.brokers`: required (host:port,...)", name));
  }
  if (config.kafka.topics.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: `kafka.topics`: at least one input topic", name));
  }
  if (absl::Status s = config.metrics.Validate(); !s.ok()) {
    // Validate names the option; point at the metrics block.
    const int line = root["metrics"].IsDefined() ? root["metrics"].Mark().line + 1 : 0;
    std::string message(s.message());
    if (!message.empty() && message[0] == '`') message.insert(1, "metrics.");
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", name, line, message));
  }
  if (config.output.every_ms <= 0 || config.output.every_ms % config.metrics.slice_ms != 0) {
    return absl::InvalidArgumentError(fmt::format("{}: `output.every`: must be a multiple of metrics.slice", name));
  }
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace ccpulse
