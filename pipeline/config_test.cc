// The `run` configuration (pipeline/config.h): the shipped sample parses, defaults apply when a
// section is missing, and every kind of error names the key path and the line it is on
// (DESIGN §7). Also what `run` checks beyond the file: brokers, topics, HTTP and the
// librdkafka properties ccpulse manages itself (CheckForRun, CheckRunConfig, CheckSourceOptions).
#include "pipeline/config.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/kafka/kafka.h"
#include "pipeline/topology.h"

namespace ccpulse {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kName = "ccpulse.yaml";

std::string SourcePath(const std::string& relative) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path() / relative).string();
}

// The error message of parsing `text`, or "" when it parsed.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<Config> config = ParseConfig(text, kName);
  if (config.ok()) return "";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

// Asserts that `text` is rejected with a message that names `path` and `line` (1-based).
// The error names the line, the key's path and (when given) what is wrong.
void ExpectErrorAt(const std::string& text, int line, const std::string& path, const std::string& what = "") {
  const std::string error = ErrorOf(text);
  ASSERT_FALSE(error.empty()) << "accepted:\n" << text;
  EXPECT_THAT(error, StartsWith(kName + ":" + std::to_string(line) + ": ")) << text;
  EXPECT_THAT(error, HasSubstr("`" + path + "`")) << text;
  EXPECT_THAT(error, HasSubstr(what)) << text;
}

// A minimal file `run` accepts.
constexpr char kMinimal[] = "kafka:\n  brokers: localhost:9092\n  topics: interactions\n";

// --- The sample and the defaults --------------------------------------------------------------

TEST(ConfigTest, SampleDeployConfigParsesWithItsValues) {
  absl::StatusOr<Config> config = LoadConfig(SourcePath("deploy/ccpulse.yaml"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka.brokers, "kafka-0.kafka:9092,kafka-1.kafka:9092,kafka-2.kafka:9092");
  EXPECT_EQ(config->kafka.group, "ccpulse");
  EXPECT_EQ(config->kafka.topics, std::vector<std::string>{"contact-centre.interactions"});
  EXPECT_EQ(config->kafka.dead_letter_topic, "ccpulse-dead-letters");
  EXPECT_EQ(config->kafka.max_queued_bytes, size_t{64} << 20);
  EXPECT_EQ(config->kafka.properties.at("client.id"), "ccpulse");
  EXPECT_EQ(config->kafka.consumer_properties.at("auto.offset.reset"), "earliest");
  EXPECT_EQ(config->kafka.producer_properties.at("compression.type"), "lz4");
  EXPECT_EQ(config->metrics.windows_ms,
            (std::vector<int64_t>{5 * operators::kMinuteMs, 15 * operators::kMinuteMs, operators::kHourMs}));
  EXPECT_EQ(config->metrics.slice_ms, 10 * operators::kSecondMs);
  EXPECT_EQ(config->metrics.expiry_ms[static_cast<size_t>(schemas::Channel::kEmail)], 14 * operators::kDayMs);
  EXPECT_EQ(config->metrics.tenant_time_zones.at("default"), "Europe/London");
  EXPECT_DOUBLE_EQ(config->metrics.drift.odds_ratio, 2);
  EXPECT_EQ(config->metrics.drift.min_history_ms, 7 * operators::kDayMs);
  EXPECT_EQ(config->http.address, "127.0.0.1:9650");
  EXPECT_EQ(config->alerting.labels.at("source"), "ccpulse");
  EXPECT_EQ(config->alerting.resend_ms, operators::kMinuteMs);
  EXPECT_EQ(config->alerting.queue_limit, 10000u);
  ASSERT_EQ(config->teams.size(), 2u);
  EXPECT_EQ(config->teams[0].team, "sales");
  EXPECT_EQ(config->teams[0].manager, "ana.silva");
  EXPECT_EQ(config->teams[0].site, "lisbon");
  EXPECT_EQ(config->teams[0].time_zone, "Europe/Lisbon");
  EXPECT_EQ(config->teams[0].labels.at("department"), "commercial");
  EXPECT_DOUBLE_EQ(config->teams[0].baseline.at("escalation_ratio"), 0.06);
  EXPECT_EQ(config->teams[1].team, "care");
  EXPECT_EQ(config->teams[1].tenant, "default");  // not given: the default tenant
  // Everything `run` checks offline passes too, librdkafka properties included.
  EXPECT_TRUE(CheckRunConfig(*config).ok()) << CheckRunConfig(*config);
}

TEST(ConfigTest, MissingFileIsNotFoundAndNamesThePath) {
  absl::StatusOr<Config> config = LoadConfig("/nonexistent/ccpulse.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/ccpulse.yaml"));
}

TEST(ConfigTest, MissingSectionsTakeTheirDefaults) {
  absl::StatusOr<Config> config = ParseConfig(kMinimal, kName);
  ASSERT_TRUE(config.ok()) << config.status();
  const Config defaults;
  EXPECT_EQ(config->path, kName);
  EXPECT_EQ(config->kafka.topics, std::vector<std::string>{"interactions"});  // a string is a list of one
  EXPECT_EQ(config->kafka.group, "ccpulse");
  EXPECT_EQ(config->kafka.dead_letter_topic, "ccpulse-dead-letters");
  EXPECT_EQ(config->kafka.max_queued_bytes, size_t{64} << 20);
  EXPECT_TRUE(config->kafka.properties.empty());
  EXPECT_EQ(config->metrics.windows_ms, defaults.metrics.windows_ms);
  EXPECT_EQ(config->metrics.slice_ms, 10 * operators::kSecondMs);
  EXPECT_EQ(config->metrics.allowed_lateness_ms, 2 * operators::kMinuteMs);
  EXPECT_EQ(config->metrics.sl_threshold_ms, 20 * operators::kSecondMs);
  EXPECT_DOUBLE_EQ(config->metrics.sl_target, 0.8);
  EXPECT_EQ(config->metrics.repeat_window_ms, 72 * operators::kHourMs);
  EXPECT_TRUE(config->metrics.tenant_time_zones.empty());
  EXPECT_TRUE(config->metrics.drift.enabled);
  EXPECT_DOUBLE_EQ(config->metrics.drift.warning_arl, 5000);
  EXPECT_DOUBLE_EQ(config->metrics.drift.critical_arl, 50000);
  EXPECT_EQ(config->http.address, "127.0.0.1:9650");
  EXPECT_TRUE(config->http.enabled);
  EXPECT_TRUE(config->http.basic_auth_user.empty());
  EXPECT_TRUE(config->output.path.empty());
  EXPECT_EQ(config->output.every_ms, operators::kMinuteMs);
  EXPECT_TRUE(config->alerting.alertmanager_url.empty());
  EXPECT_TRUE(config->alerting.pagerduty_routing_key.empty());
  EXPECT_TRUE(config->alerting.log);
  EXPECT_EQ(config->alerting.resend_ms, operators::kMinuteMs);
  EXPECT_EQ(config->alerting.resolved_resend_ms, 5 * operators::kMinuteMs);
  EXPECT_EQ(config->alerting.ends_after_ms, 4 * operators::kMinuteMs);
  EXPECT_EQ(config->alerting.timeout_ms, 5 * operators::kSecondMs);
  EXPECT_EQ(config->alerting.queue_limit, 10000u);
  EXPECT_TRUE(config->teams.empty());
  EXPECT_TRUE(CheckForRun(*config).ok());
}

TEST(ConfigTest, EmptySectionsTakeTheirDefaults) {
  absl::StatusOr<Config> config =
      ParseConfig(std::string(kMinimal) + "metrics:\ndrift:\nhttp:\noutput:\nalerting:\nteams:\n", kName);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics.windows_ms, Config().metrics.windows_ms);
  EXPECT_EQ(config->http.address, "127.0.0.1:9650");
  EXPECT_TRUE(config->teams.empty());
}

TEST(ConfigTest, ReadsDurationsSizesAndListsInEveryUnit) {
  absl::StatusOr<Config> config = ParseConfig(
      "kafka:\n"
      "  topics: [a, b]\n"
      "  max_queued_bytes: 512KiB\n"
      "metrics:\n"
      "  windows: [1m, 2h]\n"
      "  slice: 30s\n"
      "  allowed_lateness: 500ms\n"
      "  repeat_window: 3d\n"
      "  expiry:\n"
      "    voice: 1h\n"
      "alerting:\n"
      "  resend: 1500ms\n",
      kName);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka.topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config->kafka.max_queued_bytes, size_t{512} << 10);
  EXPECT_EQ(config->metrics.windows_ms, (std::vector<int64_t>{operators::kMinuteMs, 2 * operators::kHourMs}));
  EXPECT_EQ(config->metrics.slice_ms, 30 * operators::kSecondMs);
  EXPECT_EQ(config->metrics.allowed_lateness_ms, 500);
  EXPECT_EQ(config->metrics.repeat_window_ms, 3 * operators::kDayMs);
  EXPECT_EQ(config->metrics.expiry_ms[static_cast<size_t>(schemas::Channel::kVoice)], operators::kHourMs);
  // Channels not listed keep their default.
  EXPECT_EQ(config->metrics.expiry_ms[static_cast<size_t>(schemas::Channel::kChat)], 4 * operators::kHourMs);
  EXPECT_EQ(config->alerting.resend_ms, 1500);
}

// --- Errors name the key path and the line ----------------------------------------------------

TEST(ConfigTest, UnknownTopLevelKeyNamesKeyAndLine) {
  ExpectErrorAt(std::string(kMinimal) + "metrix:\n  slice: 10s\n", 4, "metrix");
  EXPECT_THAT(ErrorOf("kafak:\n  brokers: x\n"), HasSubstr("unknown key"));
}

TEST(ConfigTest, UnknownNestedKeyNamesFullPathAndLine) {
  ExpectErrorAt("metrics:\n  windows: [5m]\n  slcie: 10s\n", 3, "metrics.slcie");
  ExpectErrorAt("metrics:\n  expiry:\n    voice: 4h\n    fax: 1h\n", 4, "metrics.expiry.fax");
  ExpectErrorAt("http:\n  basic_auth:\n    user: u\n    pasword: p\n", 4, "http.basic_auth.pasword");
  ExpectErrorAt("teams:\n  - team: a\n  - team: b\n    mangaer: x\n", 4, "teams[1].mangaer");
  ExpectErrorAt("teams:\n  - team: a\n    baseline:\n      escalation: 0.1\n", 4, "teams[0].baseline.escalation");
  // The message lists what is allowed.
  EXPECT_THAT(ErrorOf("drift:\n  odds: 2\n"), HasSubstr("odds_ratio"));
}

TEST(ConfigTest, WrongTypeNamesKeyAndLine) {
  ExpectErrorAt("http:\n  address: 127.0.0.1:1\n  enabled: maybe\n", 3, "http.enabled");
  ExpectErrorAt("drift:\n  odds_ratio: two\n", 2, "drift.odds_ratio");
  ExpectErrorAt("kafka:\n  brokers: [a, b]\n", 2, "kafka.brokers");
  ExpectErrorAt("kafka:\n  topics:\n    a: b\n", 3, "kafka.topics");
  ExpectErrorAt("metrics:\n  windows: 5m\n", 2, "metrics.windows");
  ExpectErrorAt("metrics:\n  hash_key: not-hex\n", 2, "metrics.hash_key");
  ExpectErrorAt("alerting:\n  labels: [a, b]\n", 2, "alerting.labels");
  ExpectErrorAt("teams:\n  team: a\n", 2, "teams");
  ExpectErrorAt("teams:\n  - team: a\n    sl_target: high\n", 3, "teams[0].sl_target");
  EXPECT_THAT(ErrorOf("http:\n  enabled: maybe\n"), HasSubstr("expected true or false"));
  EXPECT_THAT(ErrorOf("drift:\n  odds_ratio: two\n"), HasSubstr("expected a number"));
}

TEST(ConfigTest, BadDurationNamesKeyLineAndValue) {
  for (const std::string bad : {"10 s", "10sec", "-5s", "5", "s", "1.5h", "1h30m"}) {
    SCOPED_TRACE(bad);
    const std::string text = "metrics:\n  windows: [5m]\n  slice: \"" + bad + "\"\n";
    ExpectErrorAt(text, 3, "metrics.slice");
    EXPECT_THAT(ErrorOf(text), HasSubstr("expected a duration"));
  }
  ExpectErrorAt("metrics:\n  windows: [5m, 15min]\n", 2, "metrics.windows[1]");
  ExpectErrorAt("alerting:\n  resend: 1m\n  timeout: soon\n", 3, "alerting.timeout");
  ExpectErrorAt("drift:\n  half_life: 4w\n", 2, "drift.half_life");
  ExpectErrorAt("output:\n  every: 1 minute\n", 2, "output.every");
}

TEST(ConfigTest, BadSizeNamesKeyAndLine) {
  for (const std::string bad : {"64MB", "lots", "64 MiB", "MiB", "1.5GiB"}) {
    SCOPED_TRACE(bad);
    const std::string text = "kafka:\n  brokers: b\n  max_queued_bytes: " + bad + "\n";
    ExpectErrorAt(text, 3, "kafka.max_queued_bytes");
    EXPECT_THAT(ErrorOf(text), HasSubstr("expected a size"));
  }
}

// A negative or overflowing size would turn the bounded fetch queue into an unbounded one.
TEST(ConfigTest, NegativeOrOverflowingSizeIsRejected) {
  ExpectErrorAt("kafka:\n  brokers: b\n  max_queued_bytes: -1MiB\n", 3, "kafka.max_queued_bytes");
  ExpectErrorAt("kafka:\n  brokers: b\n  max_queued_bytes: 99999999999GiB\n", 3, "kafka.max_queued_bytes");
}

TEST(ConfigTest, OutOfRangeDriftValuesNameKeyAndLine) {
  ExpectErrorAt("drift:\n  enabled: true\n  odds_ratio: 1\n", 3, "drift.odds_ratio");
  ExpectErrorAt("drift:\n  odds_ratio: 0.5\n", 2, "drift.odds_ratio");
  EXPECT_THAT(ErrorOf("drift:\n  odds_ratio: 1\n"), HasSubstr("must be above 1"));
  ExpectErrorAt("drift:\n  warning_arl: 5\n", 2, "drift.warning_arl");
  ExpectErrorAt("drift:\n  critical_arl: 9\n", 2, "drift.critical_arl");
  ExpectErrorAt("drift:\n  half_life: 0s\n", 2, "drift.half_life");
  // The relation between two keys: names the second one.
  const std::string error = ErrorOf("drift:\n  warning_arl: 60000\n  critical_arl: 50000\n");
  EXPECT_THAT(error, HasSubstr("`drift.critical_arl`"));
  EXPECT_THAT(error, HasSubstr("warning_arl"));
  EXPECT_THAT(error, testing::ContainsRegex("^ccpulse\\.yaml:[0-9]+: "));
}

TEST(ConfigTest, OutOfRangeRosterValuesNameKeyAndLine) {
  ExpectErrorAt("teams:\n  - team: a\n    sl_target: 1.2\n", 3, "teams[0].sl_target");
  ExpectErrorAt("teams:\n  - team: a\n    sl_target: 0\n", 3, "teams[0].sl_target");
  ExpectErrorAt("teams:\n  - team: a\n    baseline:\n      transfer_ratio: 1.5\n", 4,
                "teams[0].baseline.transfer_ratio");
}

// metrics.* ranges are checked after reading (MetricOptions::Validate): the message must still
// point at the offending key, not at the start of the metrics block.
TEST(ConfigTest, OutOfRangeMetricNamesItsOwnLine) {
  ExpectErrorAt("metrics:\n  slice: 10s\n  sl_target: 1.5\n", 3, "metrics.sl_target");
  ExpectErrorAt("metrics:\n  slice: 10s\n  windows: [5m, 25s]\n", 3, "metrics.windows");
}

// The key in the file is `metrics.retention`; the message must use that name.
TEST(ConfigTest, RetentionShorterThanLatenessNamesTheKeyAsWritten) {
  const std::string text = "metrics:\n  retention: 1m\n  allowed_lateness: 5m\n";
  const std::string error = ErrorOf(text);
  ASSERT_FALSE(error.empty());
  EXPECT_THAT(error, HasSubstr("`metrics.retention`"));
}

TEST(ConfigTest, UnknownTimeZoneInMetricsNamesTenantKeyAndLine) {
  const std::string text =
      "metrics:\n"
      "  slice: 10s\n"
      "  time_zones:\n"
      "    default: Europe/Paris\n"
      "    acme: Mars/Olympus_Mons\n";
  const std::string error = ErrorOf(text);
  ASSERT_FALSE(error.empty());
  EXPECT_THAT(error, HasSubstr("`metrics.time_zones.acme`"));
  EXPECT_THAT(error, HasSubstr("Mars/Olympus_Mons"));
  EXPECT_THAT(error, StartsWith(kName + ":5: "));
}

TEST(ConfigTest, UnknownTimeZoneInRosterNamesEntryKeyAndLine) {
  ExpectErrorAt("teams:\n  - team: a\n    time_zone: Europe/Lisbon\n  - team: b\n    time_zone: Nowhere/City\n", 5,
                "teams[1].time_zone");
  EXPECT_THAT(ErrorOf("teams:\n  - team: a\n    time_zone: Nowhere/City\n"), HasSubstr("unknown time zone"));
  ExpectErrorAt("drift:\n  time_zone: Nowhere/City\n", 2, "drift.time_zone");
}

TEST(ConfigTest, RosterEntryWithoutTeamIsRejected) {
  ExpectErrorAt("teams:\n  - team: a\n  - name: Anonymous\n    manager: x\n", 3, "teams[1].team");
  EXPECT_THAT(ErrorOf("teams:\n  - name: Anonymous\n"), HasSubstr("required"));
  ExpectErrorAt("teams:\n  - team: \"\"\n", 2, "teams[0].team");
}

TEST(ConfigTest, SameTeamListedTwiceIsRejected) {
  ExpectErrorAt("teams:\n  - team: a\n  - team: a\n", 3, "teams[1].team");
  // The same team name in another tenant is another team.
  EXPECT_EQ(ErrorOf("teams:\n  - team: a\n  - team: a\n    tenant: acme\n"), "");
}

TEST(ConfigTest, BadAlertingUrlNamesKeyAndLine) {
  for (const std::string bad : {"alertmanager:9093", "ftp://alertmanager:9093", "//alertmanager:9093"}) {
    SCOPED_TRACE(bad);
    const std::string text = "alerting:\n  log: false\n  alertmanager_url: " + bad + "\n";
    ExpectErrorAt(text, 3, "alerting.alertmanager_url");
    EXPECT_THAT(ErrorOf(text), HasSubstr("http://"));
  }
  ExpectErrorAt("alerting:\n  pagerduty_url: events.pagerduty.com\n", 2, "alerting.pagerduty_url");
  EXPECT_EQ(ErrorOf("alerting:\n  alertmanager_url: https://am.example:9093/\n"), "");
}

TEST(ConfigTest, AlertingUrlWithoutHostIsRejected) {
  ExpectErrorAt("alerting:\n  alertmanager_url: \"http://\"\n", 2, "alerting.alertmanager_url");
}

// queue_limit 0 would make AlertDispatcher::Submit pop from an empty queue.
TEST(ConfigTest, AlertQueueLimitMustBePositive) {
  ExpectErrorAt("alerting:\n  queue_limit: 0\n", 2, "alerting.queue_limit");
  ExpectErrorAt("alerting:\n  queue_limit: -5\n", 2, "alerting.queue_limit");
}

TEST(ConfigTest, OutputEveryNotAMultipleOfTheSliceNamesKeyAndLine) {
  ExpectErrorAt("output:\n  path: \"-\"\n  every: 15s\n", 3, "output.every");
}

TEST(ConfigTest, YamlSyntaxErrorNamesTheLine) {
  std::string error = ErrorOf("kafka:\n  brokers: b\n  topics: [a, b\n  group: g\n");
  EXPECT_THAT(error, testing::ContainsRegex("^ccpulse\\.yaml:[34]: invalid YAML"));
  error = ErrorOf("kafka:\n  brokers: b\nmetrics:\n  slice: 10s\n   windows: [5m]\n");
  EXPECT_THAT(error, testing::ContainsRegex("^ccpulse\\.yaml:[45]: invalid YAML"));
}

TEST(ConfigTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(ErrorOf("- kafka\n- metrics\n"), HasSubstr("expected a YAML mapping"));
  EXPECT_THAT(ErrorOf("just text\n"), HasSubstr("expected a YAML mapping"));
}

// --- What `run` needs beyond a valid file ----------------------------------------------------

TEST(ConfigTest, CheckpointBackendsIntervalAndKeep) {
  auto config = ParseConfig(std::string(kMinimal) + "checkpoint:\n  dir: /var/lib/ccpulse\n  interval: 30s\n  keep: 5\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->checkpoint.enabled());
  EXPECT_EQ(config->checkpoint.dir, "/var/lib/ccpulse");
  EXPECT_EQ(config->checkpoint.interval_ms, 30 * operators::kSecondMs);
  EXPECT_EQ(config->checkpoint.keep, 5);
  EXPECT_TRUE(config->checkpoint.fork_snapshots) << "forked snapshots by default";
  EXPECT_FALSE(ParseConfig(std::string(kMinimal) + "checkpoint:\n  dir: /d\n  snapshot: worker\n", "c.yaml")
                   ->checkpoint.fork_snapshots);
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  dir: /d\n  snapshot: thread\n", 6, "checkpoint.snapshot");
  EXPECT_FALSE(ParseConfig(kMinimal, "c.yaml")->checkpoint.enabled()) << "off by default";
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  dir: /d\n  kafka_topic: t\n", 6, "checkpoint.kafka_topic");
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  dir: /d\n  interval: 500ms\n", 6, "checkpoint.interval");
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  dir: /d\n  keep: 0\n", 6, "checkpoint.keep");
  EXPECT_FALSE(config->checkpoint.standby) << "each instance its own checkpoints by default";
  auto standby = ParseConfig(std::string(kMinimal) + "checkpoint:\n  kafka_topic: c\n  name: pair\n  standby: true\n", "c.yaml");
  ASSERT_TRUE(standby.ok()) << standby.status();
  EXPECT_TRUE(standby->checkpoint.standby);
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  kafka_topic: c\n  standby: true\n", 6, "checkpoint.standby");
  ExpectErrorAt(std::string(kMinimal) + "checkpoint:\n  dir: /shared\n  name: pair\n  standby: true\n", 7,
                "checkpoint.standby");
  EXPECT_THAT(ErrorOf(std::string(kMinimal) + "checkpoint:\n  dir: /shared\n  name: pair\n  standby: true\n"),
              HasSubstr("needs checkpoint.kafka_topic"));
}

TEST(ConfigTest, CheckForRunRequiresBrokersAndTopics) {
  absl::StatusOr<Config> no_brokers = ParseConfig("kafka:\n  topics: t\n", kName);
  ASSERT_TRUE(no_brokers.ok());
  EXPECT_THAT(std::string(CheckForRun(*no_brokers).message()), HasSubstr("`kafka.brokers`"));
  EXPECT_THAT(std::string(CheckForRun(*no_brokers).message()), StartsWith(kName));

  absl::StatusOr<Config> no_topics = ParseConfig("kafka:\n  brokers: b:9092\n", kName);
  ASSERT_TRUE(no_topics.ok());
  EXPECT_THAT(std::string(CheckForRun(*no_topics).message()), HasSubstr("`kafka.topics`"));

  absl::StatusOr<Config> empty_list = ParseConfig("kafka:\n  brokers: b:9092\n  topics: []\n", kName);
  ASSERT_TRUE(empty_list.ok());
  EXPECT_FALSE(CheckForRun(*empty_list).ok());

  // replay uses the same file without Kafka: parsing alone does not require them.
  EXPECT_TRUE(ParseConfig("metrics:\n  slice: 10s\n", kName).ok());
}

TEST(ConfigTest, CheckForRunChecksHttpSettings) {
  auto check = [](const std::string& http) {
    absl::StatusOr<Config> config = ParseConfig(std::string(kMinimal) + http, kName);
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? CheckForRun(*config) : config.status();
  };
  EXPECT_THAT(std::string(check("http:\n  address: localhost\n").message()), HasSubstr("`http.address`"));
  EXPECT_THAT(std::string(check("http:\n  address: \"localhost:\"\n").message()), HasSubstr("`http.address`"));
  EXPECT_TRUE(check("http:\n  address: localhost\n  enabled: false\n").ok());
  EXPECT_THAT(std::string(check("http:\n  basic_auth:\n    user: prometheus\n").message()),
              HasSubstr("`http.basic_auth.password`"));
  EXPECT_THAT(std::string(check("http:\n  tls_certificate: /nonexistent/cert.pem\n").message()),
              HasSubstr("`http.tls_certificate`"));
  EXPECT_TRUE(check("http:\n  address: 0.0.0.0:0\n  basic_auth:\n    user: u\n    password: p\n").ok());
}

TEST(ConfigTest, ManagedKafkaPropertiesAreRejected) {
  const std::pair<std::string, std::string> cases[] = {
      {"properties", "group.id: other"},
      {"properties", "enable.auto.commit: \"true\""},
      {"consumer", "enable.auto.offset.store: \"true\""},
      {"consumer", "partition.assignment.strategy: range"},
  };
  for (const auto& [section, property] : cases) {
    SCOPED_TRACE(property);
    absl::StatusOr<Config> config =
        ParseConfig(std::string(kMinimal) + "  " + section + ":\n    " + property + "\n", kName);
    ASSERT_TRUE(config.ok()) << config.status();  // passed through as given, checked for run
    const absl::Status status = CheckRunConfig(*config);
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(std::string(status.message()), HasSubstr("`" + property.substr(0, property.find(':')) + "`"));
    EXPECT_THAT(std::string(status.message()), StartsWith(kName));
  }
  // Setting them to what ccpulse uses anyway is fine.
  absl::StatusOr<Config> same =
      ParseConfig(std::string(kMinimal) + "  properties:\n    enable.auto.commit: \"false\"\n", kName);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(CheckRunConfig(*same).ok()) << CheckRunConfig(*same);
}

TEST(ConfigTest, RepartitionReadsItsTopicAndRejectsWhatCannotWork) {
  absl::StatusOr<Config> config = ParseConfig(
      "kafka:\n  brokers: b:9092\n  topics: [raw]\n  formats: {raw: amazon-connect}\n"
      "  repartition:\n    topic: by-customer\n    partitions: 12\n",
      kName);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka.repartition_topic, "by-customer");
  EXPECT_EQ(config->kafka.repartition_partitions, 12);
  EXPECT_EQ(config->kafka.formats.at("by-customer"), schemas::RecordFormat::kAmazonConnect)
      << "the engine reads the internal topic in the input's format";
  ExpectErrorAt("kafka:\n  topics: [a, b]\n  formats: {b: genesys-cloud}\n  repartition:\n    topic: x\n", 5,
                "kafka.repartition");
  ExpectErrorAt("kafka:\n  topics: [a]\n  repartition:\n    topic: a\n", 4, "kafka.repartition.topic");
  ExpectErrorAt("kafka:\n  topics: [a]\n  repartition:\n    topic: x\n    partitions: 2.5\n", 5,
                "kafka.repartition.partitions");
}

TEST(ConfigTest, TeamStageReadsItsTierAndRejectsWhatCannotWork) {
  absl::StatusOr<Config> customers = ParseConfig(
      "kafka:\n  topics: [a]\n  team_stage:\n    role: customers\n    topic: t\n    partitions: 4\n"
      "checkpoint:\n  dir: /tmp/x\n",
      kName);
  ASSERT_TRUE(customers.ok()) << customers.status();
  EXPECT_EQ(customers->kafka.team_stage_role, KafkaConfig::TeamStageRole::kCustomers);
  EXPECT_EQ(customers->kafka.team_stage_topic, "t");
  EXPECT_EQ(customers->kafka.team_stage_partitions, 4);
  absl::StatusOr<Config> teams =
      ParseConfig("kafka:\n  topics: [a]\n  team_stage:\n    role: teams\n    partitions: 4\n    channels: 3\n", kName);
  ASSERT_TRUE(teams.ok()) << teams.status();
  EXPECT_EQ(teams->kafka.team_stage_role, KafkaConfig::TeamStageRole::kTeams);
  EXPECT_EQ(teams->kafka.team_stage_topic, "ccpulse-teams");
  EXPECT_EQ(teams->kafka.team_stage_channels, 3);

  const std::string head = "kafka:\n  topics: [a]\n  team_stage:\n";
  const std::string path = "kafka.team_stage";
  ExpectErrorAt(head + "    role: both\n", 4, path + ".role", "customers or teams");
  ExpectErrorAt(head + "    partitions: 2\n", 4, path, "a role: customers or teams");
  ExpectErrorAt(head + "    role: teams\n    channels: 2\n", 4, path, "partitions: the team topic's partition count");
  ExpectErrorAt(head + "    role: teams\n    partitions: 2\n", 4, path, "channels: the customer tier's input partition");
  ExpectErrorAt(head + "    role: customers\n    partitions: 2\n", 4, path, "needs checkpoints");
  ExpectErrorAt(head + "    role: customers\n    partitions: 2\ncheckpoint:\n  kafka_topic: c\n  name: n\n  standby: true\n", 9,
                "checkpoint.standby", "needs no standbys");
  ExpectErrorAt("kafka:\n  topics: [a, b]\n  team_stage:\n    role: customers\n    partitions: 2\ncheckpoint:\n"
                "  dir: x\n",
                2, "kafka.topics", "merge several topics with kafka.repartition");
  ExpectErrorAt("kafka:\n  topics: [a]\n  repartition:\n    topic: r\n  team_stage:\n    role: teams\n"
                "    partitions: 2\n    channels: 1\n",
                6, path, "kafka.repartition belongs to the customer tier");
  ExpectErrorAt(head + "    role: customers\n    partitions: 2\n    channel: 0\n", 6, path + ".channel",
                "no longer used. Each input partition is a channel of its own");
}

// Counts are whole numbers within their range, wherever they are.
TEST(ConfigTest, CountsMustBeWholeNumbersInRange) {
  ExpectErrorAt("checkpoint:\n  dir: x\n  keep: 1.5\n", 3, "checkpoint.keep", "whole number from 1 to 100");
  ExpectErrorAt("checkpoint:\n  dir: x\n  keep: 0\n", 3, "checkpoint.keep", "whole number from 1 to 100");
  ExpectErrorAt("alerting:\n  queue_limit: 0\n", 2, "alerting.queue_limit", "whole number from 1 to 10000000");
  ExpectErrorAt("drift:\n  min_hourly_contacts: 2.5\n", 2, "drift.min_hourly_contacts", "whole number from 0");
  ExpectErrorAt("kafka:\n  topics: [a]\n  repartition:\n    topic: r\n    partitions: -1\n", 5,
                "kafka.repartition.partitions", "a whole number of partitions");
  ExpectErrorAt("checkpoint:\n  dir: x\n  keep: many\n", 3, "checkpoint.keep", "expected a number");
  absl::StatusOr<Config> config = ParseConfig("checkpoint:\n  dir: x\n  keep: 7\ndrift:\n  min_hourly_contacts: 0\n", kName);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checkpoint.keep, 7);
  EXPECT_EQ(config->metrics.drift.min_hourly_contacts, 0);
}

TEST(ConfigTest, UnknownKafkaPropertyIsRejectedForRun) {
  absl::StatusOr<Config> config =
      ParseConfig(std::string(kMinimal) + "  producer:\n    no.such.property: x\n", kName);
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(std::string(CheckRunConfig(*config).message()), HasSubstr("no.such.property"));
}

TEST(ConfigTest, CheckSourceOptionsRejectsManagedPropertiesAndMissingGroup) {
  kafka::SourceOptions options;
  options.brokers = "localhost:9092";
  options.group = "ccpulse";
  options.topics = {"interactions"};
  EXPECT_TRUE(kafka::CheckSourceOptions(options).ok());

  kafka::SourceOptions group = options;
  group.properties["group.id"] = "someone-else";
  EXPECT_THAT(std::string(kafka::CheckSourceOptions(group).message()), HasSubstr("`group.id`"));

  kafka::SourceOptions commit = options;
  commit.properties["enable.auto.commit"] = "true";
  EXPECT_THAT(std::string(kafka::CheckSourceOptions(commit).message()), HasSubstr("`enable.auto.commit`"));

  kafka::SourceOptions no_group = options;
  no_group.group = "";
  EXPECT_THAT(std::string(kafka::CheckSourceOptions(no_group).message()), HasSubstr("`kafka.group`"));

  kafka::SourceOptions no_topics = options;
  no_topics.topics.clear();
  EXPECT_THAT(std::string(kafka::CheckSourceOptions(no_topics).message()), HasSubstr("`kafka.topics`"));

  kafka::SourceOptions bad_value = options;
  bad_value.properties["session.timeout.ms"] = "soon";
  EXPECT_THAT(std::string(kafka::CheckSourceOptions(bad_value).message()), HasSubstr("session.timeout.ms"));
}

}  // namespace
}  // namespace ccpulse
