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

namespace ccpulse {

struct KafkaConfig {
  std::string brokers;
  std::string group = "ccpulse";
  std::vector<std::string> topics;
  std::string dead_letter_topic = "ccpulse-dead-letters";
  std::map<std::string, std::string> properties;           // consumer and producers
  std::map<std::string, std::string> consumer_properties;  // consumer only
  std::map<std::string, std::string> producer_properties;  // producers only
  size_t max_queued_bytes = 64 << 20;
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

struct Config {
  std::string path;  // where it was loaded from
  KafkaConfig kafka;
  operators::MetricOptions metrics;
  HttpConfig http;
  OutputConfig output;
};

// Parses and validates a config file.
absl::StatusOr<Config> LoadConfig(const std::string& path);
// Same, from text (`name` is used in messages).
absl::StatusOr<Config> ParseConfig(const std::string& text, const std::string& name);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_CONFIG_H_
