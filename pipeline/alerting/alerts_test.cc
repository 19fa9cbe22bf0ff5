// Alert descriptions (pipeline/alerting/alerts.h): the routing labels (alerting.labels, then the
// roster's labels, then the fixed ones; manager and site only for rostered teams), the
// annotations with the evidence, and the alert.v1 JSON checked against the schema's own lists
// of required and allowed fields (schemas/alert.v1.schema.json, read with simdjson).
#include "pipeline/alerting/alerts.h"

#include <simdjson.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "schemas/time_format.h"

namespace ccpulse::alerting {
namespace {

using operators::drift::AlertState;
using operators::drift::DriftMonitor;
using operators::drift::Metric;
using operators::drift::Severity;
using ::testing::HasSubstr;

constexpr int64_t kOnset = 1'772'442'000'000;  // 2026-03-02T09:00:00Z

std::string SourcePath(const std::string& relative) {
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / relative).string();
}

AlertState EscalationUp(Severity severity, bool firing = true) {
  AlertState s;
  s.key = DriftMonitor::AlertKey("default", "sales", Metric::kEscalation, true);
  s.metric = Metric::kEscalation;
  s.up = true;
  s.severity = severity;
  s.firing = firing;
  s.starts_at = kOnset;
  s.changed_at = kOnset + 25 * 60'000;
  s.baseline = 0.05;
  s.alarm_level = 0.095;
  s.observed = 0.12;
  s.observed_low = 0.09;
  s.observed_high = 0.155;
  s.recent_contacts = 300;
  s.statistic = 5.25;
  s.threshold = 4.5;
  s.arl0 = 50000;
  return s;
}

RosterEntry Sales() {
  RosterEntry e;
  e.team = "sales";
  e.name = "Sales";
  e.manager = "ana.silva";
  e.site = "lisbon";
  e.labels = {{"department", "commercial"}, {"pager", "sales-oncall"}};
  return e;
}

AlertingConfig Alerting() {
  AlertingConfig config;
  config.labels = {{"source", "ccpulse"}, {"department", "unknown"}};
  config.runbook_url = "https://runbooks.example/drift";
  return config;
}

TEST(RosterTest, FindsTeamsByTenantAndName) {
  RosterEntry acme = Sales();
  acme.tenant = "acme";
  acme.manager = "someone.else";
  const Roster roster({Sales(), acme});
  ASSERT_NE(roster.Find("default", "sales"), nullptr);
  EXPECT_EQ(roster.Find("default", "sales")->manager, "ana.silva");
  ASSERT_NE(roster.Find("acme", "sales"), nullptr);
  EXPECT_EQ(roster.Find("acme", "sales")->manager, "someone.else");
  EXPECT_EQ(roster.Find("default", "care"), nullptr);
  EXPECT_EQ(roster.Find("other", "sales"), nullptr);
}

TEST(DescribeTest, RosteredTeamGetsConfiguredRosterAndFixedLabels) {
  const AlertRecord a = Describe(EscalationUp(Severity::kCritical), "default", "sales", Roster({Sales()}), Alerting());
  const std::map<std::string, std::string> expected = {
      {"alertname", "TeamMetricDrift"}, {"tenant", "default"},      {"team", "sales"},
      {"metric", "escalation_ratio"},   {"direction", "up"},        {"severity", "critical"},
      {"manager", "ana.silva"},         {"site", "lisbon"},         {"source", "ccpulse"},
      {"department", "commercial"},  // the roster's label wins over alerting.labels
      {"pager", "sales-oncall"}};
  EXPECT_EQ(a.labels, expected);
  EXPECT_TRUE(a.rostered);
  EXPECT_EQ(a.team_name, "Sales");
  EXPECT_EQ(a.manager, "ana.silva");
}

TEST(DescribeTest, FixedLabelsCannotBeOverriddenByConfigOrRoster) {
  RosterEntry entry = Sales();
  entry.labels = {{"severity", "info"}, {"team", "someone-else"}, {"alertname", "Other"}};
  AlertingConfig config = Alerting();
  config.labels["metric"] = "x";
  config.labels["tenant"] = "y";
  const AlertRecord a = Describe(EscalationUp(Severity::kWarning), "default", "sales", Roster({entry}), config);
  EXPECT_EQ(a.labels.at("severity"), "warning");
  EXPECT_EQ(a.labels.at("team"), "sales");
  EXPECT_EQ(a.labels.at("alertname"), "TeamMetricDrift");
  EXPECT_EQ(a.labels.at("metric"), "escalation_ratio");
  EXPECT_EQ(a.labels.at("tenant"), "default");
}

TEST(DescribeTest, UnrosteredTeamHasNoManagerOrSiteLabel) {
  const AlertRecord a = Describe(EscalationUp(Severity::kWarning), "default", "care", Roster({Sales()}), Alerting());
  EXPECT_FALSE(a.rostered);
  EXPECT_EQ(a.labels.count("manager"), 0u);
  EXPECT_EQ(a.labels.count("site"), 0u);
  EXPECT_EQ(a.labels.count("pager"), 0u);  // the other team's roster labels do not leak
  EXPECT_EQ(a.labels.at("source"), "ccpulse");
  EXPECT_EQ(a.labels.at("department"), "unknown");
  EXPECT_EQ(a.manager, "");
  EXPECT_EQ(a.team_name, "care");  // no display name: the team id
}

TEST(DescribeTest, RosteredTeamWithoutManagerOrSiteHasNoEmptyLabels) {
  RosterEntry entry;
  entry.team = "sales";
  const AlertRecord a = Describe(EscalationUp(Severity::kWarning), "default", "sales", Roster({entry}), Alerting());
  EXPECT_TRUE(a.rostered);
  EXPECT_EQ(a.labels.count("manager"), 0u);
  EXPECT_EQ(a.labels.count("site"), 0u);
  EXPECT_EQ(a.team_name, "sales");
}

TEST(DescribeTest, AnnotationsCarryTheEvidence) {
  const AlertState s = EscalationUp(Severity::kCritical);
  const AlertRecord a = Describe(s, "default", "sales", Roster({Sales()}), Alerting());
  EXPECT_EQ(a.key, s.key);
  EXPECT_THAT(a.key_hex, testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(std::stoull(a.key_hex, nullptr, 16), s.key);
  EXPECT_EQ(a.annotations.at("dedup_key"), a.key_hex);
  EXPECT_EQ(a.annotations.at("onset"), "2026-03-02T09:00:00Z");
  EXPECT_EQ(a.annotations.at("runbook_url"), "https://runbooks.example/drift");
  EXPECT_EQ(a.annotations.at("baseline"), "5.0 %");
  EXPECT_THAT(a.annotations.at("observed"), HasSubstr("12.0 %"));
  EXPECT_THAT(a.annotations.at("observed"), HasSubstr("9.0 % - 15.5 %"));
  EXPECT_THAT(a.annotations.at("observed"), HasSubstr("300 contacts"));
  EXPECT_THAT(a.annotations.at("statistic"), HasSubstr("5.25"));
  EXPECT_THAT(a.annotations.at("statistic"), HasSubstr("4.50"));
  EXPECT_THAT(a.annotations.at("summary"), HasSubstr("Escalation ratio of Sales is up"));
  EXPECT_EQ(a.unit, "ratio");
  EXPECT_EQ(a.starts_at_ms, s.starts_at);
  EXPECT_EQ(a.changed_at_ms, s.changed_at);
  EXPECT_EQ(a.direction, "up");
  EXPECT_EQ(a.severity, "critical");
}

TEST(DescribeTest, ResolvedAlertSaysBackToNormalAndKeepsItsSeverity) {
  const AlertRecord a = Describe(EscalationUp(Severity::kCritical, /*firing=*/false), "default", "sales",
                                 Roster({Sales()}), Alerting());
  EXPECT_FALSE(a.firing);
  EXPECT_EQ(a.severity, "critical");
  EXPECT_THAT(a.annotations.at("summary"), HasSubstr("back to normal"));
}

TEST(DescribeTest, DurationMetricsAreInSeconds) {
  AlertState s = EscalationUp(Severity::kWarning);
  s.metric = Metric::kHandleTime;
  s.key = DriftMonitor::AlertKey("default", "sales", Metric::kHandleTime, true);
  s.baseline = 240;
  s.observed = 3725;
  const AlertRecord a = Describe(s, "default", "sales", Roster({}), Alerting());
  EXPECT_EQ(a.unit, "seconds");
  EXPECT_EQ(a.metric, "handle_time");
  EXPECT_EQ(a.annotations.at("baseline"), "4m00s");
  EXPECT_THAT(a.annotations.at("observed"), HasSubstr("1h02m"));

  s.metric = Metric::kOldestWait;
  s.baseline = 30;
  s.alarm_level = 95;
  const AlertRecord backlog = Describe(s, "default", "sales", Roster({}), Alerting());
  EXPECT_EQ(backlog.unit, "seconds");
  EXPECT_EQ(backlog.annotations.at("baseline"), "p75 30s / p95 1m35s");
}

TEST(DescribeTest, DedupKeyIsStablePerTeamMetricAndDirection) {
  const uint64_t key = DriftMonitor::AlertKey("default", "sales", Metric::kEscalation, true);
  EXPECT_EQ(key, DriftMonitor::AlertKey("default", "sales", Metric::kEscalation, true));
  EXPECT_NE(key, DriftMonitor::AlertKey("default", "sales", Metric::kEscalation, false));
  EXPECT_NE(key, DriftMonitor::AlertKey("default", "sales", Metric::kTransfer, true));
  EXPECT_NE(key, DriftMonitor::AlertKey("default", "care", Metric::kEscalation, true));
  EXPECT_NE(key, DriftMonitor::AlertKey("acme", "sales", Metric::kEscalation, true));
  // Warning and critical share the key, so a page escalates instead of duplicating.
  const Roster roster({Sales()});
  EXPECT_EQ(Describe(EscalationUp(Severity::kWarning), "default", "sales", roster, Alerting()).key_hex,
            Describe(EscalationUp(Severity::kCritical), "default", "sales", roster, Alerting()).key_hex);
}

// --- alert.v1 JSON --------------------------------------------------------------------------

struct Schema {
  std::set<std::string> required, properties, label_required, annotation_required;
  std::map<std::string, std::set<std::string>> enums;
};

Schema LoadSchema() {
  Schema schema;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const auto error = parser.load(SourcePath("schemas/alert.v1.schema.json")).get(root);
  EXPECT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error);
  if (error) return schema;
  for (auto v : root["required"].get_array()) schema.required.insert(std::string(v.get_string().value()));
  for (auto [key, value] : root["properties"].get_object()) {
    schema.properties.insert(std::string(key));
    simdjson::dom::array values;
    if (value["enum"].get(values) == simdjson::SUCCESS) {
      for (auto e : values) schema.enums[std::string(key)].insert(std::string(e.get_string().value()));
    }
  }
  for (auto v : root["properties"]["labels"]["required"].get_array()) {
    schema.label_required.insert(std::string(v.get_string().value()));
  }
  for (auto v : root["properties"]["annotations"]["required"].get_array()) {
    schema.annotation_required.insert(std::string(v.get_string().value()));
  }
  return schema;
}

// Checks one alert object against the schema's required, allowed and enumerated fields.
void ExpectConformsToSchema(const std::string& json) {
  static const Schema schema = LoadSchema();
  ASSERT_FALSE(schema.required.empty());
  simdjson::dom::parser parser;
  simdjson::dom::object alert;
  const auto error = parser.parse(json).get(alert);
  ASSERT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error) << "\n" << json;
  std::set<std::string> present;
  for (auto [key, value] : alert) {
    const std::string name(key);
    EXPECT_TRUE(present.insert(name).second) << "duplicate field " << name;
    EXPECT_TRUE(schema.properties.count(name)) << "field not in the schema: " << name;
    if (schema.enums.count(name)) {
      std::string_view text;
      ASSERT_EQ(value.get(text), simdjson::SUCCESS) << name;
      EXPECT_TRUE(schema.enums.at(name).count(std::string(text))) << name << "=" << text;
    }
  }
  for (const std::string& name : schema.required) EXPECT_TRUE(present.count(name)) << "missing field " << name;

  EXPECT_THAT(std::string(alert["key"].get_string().value()), testing::MatchesRegex("[0-9a-f]{16}"));
  for (const char* time : {"starts_at", "changed_at"}) {
    const std::string_view text = alert[time].get_string().value();
    EXPECT_TRUE(schemas::ParseRfc3339(text).has_value()) << time << "=" << text;
  }
  for (const char* number : {"baseline", "alarm_level", "observed", "observed_low", "observed_high", "statistic",
                             "threshold", "arl0"}) {
    double v = -1;
    ASSERT_EQ(alert[number].get(v), simdjson::SUCCESS) << number << " is not a number";
    EXPECT_GE(v, 0) << number;
  }
  uint64_t contacts = 0;
  EXPECT_EQ(alert["recent_contacts"].get(contacts), simdjson::SUCCESS);
  for (const auto& [field, required] : {std::pair{"labels", &schema.label_required},
                                        std::pair{"annotations", &schema.annotation_required}}) {
    simdjson::dom::object object;
    ASSERT_EQ(alert[field].get(object), simdjson::SUCCESS) << field;
    std::set<std::string> keys;
    for (auto [key, value] : object) {
      keys.insert(std::string(key));
      EXPECT_TRUE(value.is_string()) << field << "." << key << " is not a string";
    }
    for (const std::string& name : *required) EXPECT_TRUE(keys.count(name)) << field << " lacks " << name;
  }
}

std::string AlertJson(const AlertRecord& record) {
  std::string out;
  JsonWriter json(&out);
  WriteAlert(record, json);
  return out;
}

TEST(WriteAlertTest, FiringAlertMatchesTheSchema) {
  const AlertRecord a = Describe(EscalationUp(Severity::kCritical), "default", "sales", Roster({Sales()}), Alerting());
  const std::string json = AlertJson(a);
  ExpectConformsToSchema(json);
  simdjson::dom::parser parser;
  simdjson::dom::element alert = parser.parse(json).value();
  EXPECT_EQ(alert["key"].get_string().value(), a.key_hex);
  EXPECT_EQ(alert["status"].get_string().value(), "firing");
  EXPECT_EQ(alert["severity"].get_string().value(), "critical");
  EXPECT_EQ(alert["team_name"].get_string().value(), "Sales");
  EXPECT_EQ(alert["manager"].get_string().value(), "ana.silva");
  EXPECT_EQ(alert["starts_at"].get_string().value(), "2026-03-02T09:00:00Z");
  EXPECT_EQ(alert["changed_at"].get_string().value(), "2026-03-02T09:25:00Z");
  EXPECT_DOUBLE_EQ(alert["observed"].get_double().value(), 0.12);
  EXPECT_EQ(alert["recent_contacts"].get_uint64().value(), 300u);
  EXPECT_EQ(alert["labels"]["manager"].get_string().value(), "ana.silva");
  EXPECT_EQ(alert["annotations"]["dedup_key"].get_string().value(), a.key_hex);
}

TEST(WriteAlertTest, ResolvedAndUnrosteredAlertsMatchTheSchema) {
  const AlertRecord resolved = Describe(EscalationUp(Severity::kWarning, /*firing=*/false), "acme", "care",
                                        Roster({Sales()}), Alerting());
  ExpectConformsToSchema(AlertJson(resolved));
  simdjson::dom::parser parser;
  simdjson::dom::element alert = parser.parse(AlertJson(resolved)).value();
  EXPECT_EQ(alert["status"].get_string().value(), "resolved");
  EXPECT_EQ(alert["manager"].get_string().value(), "");
  EXPECT_EQ(alert["team_name"].get_string().value(), "care");
}

TEST(WriteAlertTest, EveryMetricMatchesTheSchema) {
  for (int m = 0; m < operators::drift::kMetricCount; ++m) {
    AlertState s = EscalationUp(m % 2 ? Severity::kWarning : Severity::kCritical);
    s.metric = static_cast<Metric>(m);
    s.up = m != 6;
    SCOPED_TRACE(operators::drift::MetricName(s.metric));
    ExpectConformsToSchema(AlertJson(Describe(s, "default", "sales", Roster({Sales()}), Alerting())));
  }
}

TEST(WriteAlertTest, NamesNeedingEscapesStayValidJson) {
  RosterEntry entry = Sales();
  entry.team = "night \"owls\"\\";
  entry.name = "Night\nOwls\t\x01";
  entry.labels = {{"note", "a \"quoted\" value"}};
  const AlertRecord a =
      Describe(EscalationUp(Severity::kWarning), "default", entry.team, Roster({entry}), Alerting());
  const std::string json = AlertJson(a);
  ExpectConformsToSchema(json);
  simdjson::dom::parser parser;
  simdjson::dom::element alert = parser.parse(json).value();
  EXPECT_EQ(alert["team"].get_string().value(), entry.team);
  EXPECT_EQ(alert["team_name"].get_string().value(), entry.name);
  EXPECT_EQ(alert["labels"]["note"].get_string().value(), "a \"quoted\" value");
}

}  // namespace
}  // namespace ccpulse::alerting
