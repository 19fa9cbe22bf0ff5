// Alert descriptions; see alerts.h.
#include "pipeline/alerting/alerts.h"

#include <cmath>

#include <fmt/format.h>

#include "schemas/time_format.h"

namespace ccpulse::alerting {
namespace {

using operators::drift::Metric;

bool IsProportion(Metric m) { return static_cast<int>(m) < operators::drift::kProportionCount; }

std::string Percent(double v) { return fmt::format("{:.1f} %", v * 100); }

std::string Seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  const int64_t total = std::llround(s);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, total / 60 % 60);
}

std::string Label(Metric m) {
  switch (m) {
    case Metric::kEscalation: return "Escalation ratio";
    case Metric::kTransfer: return "Transfer ratio";
    case Metric::kAbandon: return "Abandon ratio";
    case Metric::kFcrFailure: return "First-contact resolution failure ratio";
    case Metric::kServiceLevelMiss: return "Service-level miss ratio";
    case Metric::kHandleTime: return "Handle time";
    case Metric::kWaitTime: return "Wait time";
    case Metric::kOldestWait: return "Oldest wait";
  }
  return "Metric";
}

}  // namespace

Roster::Roster(const std::vector<RosterEntry>& teams) : entries_(teams) {
  for (size_t i = 0; i < entries_.size(); ++i) index_[{entries_[i].tenant, entries_[i].team}] = i;
}

const RosterEntry* Roster::Find(std::string_view tenant, std::string_view team) const {
  auto it = index_.find(std::make_pair(std::string(tenant), std::string(team)));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

AlertRecord Describe(const operators::drift::AlertState& s, std::string_view tenant, std::string_view team,
                     const Roster& roster, const AlertingConfig& config) {
  AlertRecord a;
  a.key = s.key;
  a.key_hex = fmt::format("{:016x}", s.key);
  a.firing = s.firing;
  a.severity = std::string(operators::drift::SeverityName(s.severity));
  a.tenant = tenant;
  a.team = team;
  const RosterEntry* entry = roster.Find(tenant, team);
  a.rostered = entry != nullptr;
  a.team_name = entry && !entry->name.empty() ? entry->name : std::string(team);
  a.manager = entry ? entry->manager : "";
  a.metric = std::string(operators::drift::MetricName(s.metric));
  a.direction = s.up ? "up" : "down";
  a.unit = IsProportion(s.metric) ? "ratio" : "seconds";
  a.starts_at_ms = s.starts_at;
  a.changed_at_ms = s.changed_at;
  a.baseline = s.baseline;
  a.alarm_level = s.alarm_level;
  a.observed = s.observed;
  a.observed_low = s.observed_low;
  a.observed_high = s.observed_high;
  a.statistic = s.statistic;
  a.threshold = s.threshold;
  a.arl0 = s.arl0;
  a.recent_contacts = s.recent_contacts;

  a.labels = config.labels;
  if (entry) {
    for (const auto& [k, v] : entry->labels) a.labels[k] = v;
  }
  a.labels["alertname"] = "TeamMetricDrift";
  a.labels["tenant"] = a.tenant;
  a.labels["team"] = a.team;
  a.labels["metric"] = a.metric;
  a.labels["direction"] = a.direction;
  a.labels["severity"] = a.severity;
  if (!a.manager.empty()) a.labels["manager"] = a.manager;
  if (entry && !entry->site.empty()) a.labels["site"] = entry->site;

  const std::string label = Label(s.metric);
  std::string observed, baseline, statistic;
  if (s.metric == Metric::kOldestWait) {
    observed = Seconds(s.observed);
    baseline = fmt::format("p75 {} / p95 {}", Seconds(s.baseline), Seconds(s.alarm_level));
    statistic = fmt::format("above the hour-of-week p95 ({}) for the whole hold time (drift.backlog_hold)",
                            Seconds(s.alarm_level));
  } else if (IsProportion(s.metric)) {
    observed = fmt::format("{} (95 % interval {} - {}, {} contacts)", Percent(s.observed), Percent(s.observed_low),
                           Percent(s.observed_high), s.recent_contacts);
    baseline = Percent(s.baseline);
    statistic = fmt::format("CUSUM {:.2f} against threshold {:.2f} (one false alarm per {:.0f} contacts in control; "
                            "tuned to catch {})",
                            s.statistic, s.threshold, s.arl0, Percent(s.alarm_level));
  } else {
    observed = fmt::format("{} geometric mean over {} contacts in the last hour", Seconds(s.observed), s.recent_contacts);
    baseline = Seconds(s.baseline);
    statistic = fmt::format("CUSUM {:.2f} against threshold {:.2f} (one false alarm per {:.0f} hours in control)",
                            s.statistic, s.threshold, s.arl0);
  }
  a.annotations["summary"] = s.firing
      ? fmt::format("{} of {} is {}: {} against a baseline of {}", label, a.team_name,
                    s.up ? "up" : "down", observed, baseline)
      : fmt::format("{} of {} is back to normal: {} against a baseline of {}", label, a.team_name, observed, baseline);
  a.annotations["baseline"] = baseline;
  a.annotations["observed"] = observed;
  a.annotations["statistic"] = statistic;
  a.annotations["onset"] = schemas::FormatRfc3339(s.starts_at);
  a.annotations["runbook_url"] = config.runbook_url;
  a.annotations["dedup_key"] = a.key_hex;
  return a;
}

void WriteAlert(const AlertRecord& a, JsonWriter& json) {
  json.BeginObject();
  json.Key("key").String(a.key_hex);
  json.Key("status").String(a.firing ? "firing" : "resolved");
  json.Key("severity").String(a.severity);
  json.Key("tenant").String(a.tenant);
  json.Key("team").String(a.team);
  json.Key("team_name").String(a.team_name);
  json.Key("manager").String(a.manager);
  json.Key("metric").String(a.metric);
  json.Key("direction").String(a.direction);
  json.Key("starts_at").String(schemas::FormatRfc3339(a.starts_at_ms));
  json.Key("changed_at").String(schemas::FormatRfc3339(a.changed_at_ms));
  json.Key("unit").String(a.unit);
  json.Key("baseline").Double(a.baseline);
  json.Key("alarm_level").Double(a.alarm_level);
  json.Key("observed").Double(a.observed);
  json.Key("observed_low").Double(a.observed_low);
  json.Key("observed_high").Double(a.observed_high);
  json.Key("recent_contacts").Uint(a.recent_contacts);
  json.Key("statistic").Double(a.statistic);
  json.Key("threshold").Double(a.threshold);
  json.Key("arl0").Double(a.arl0);
  json.Key("labels").BeginObject();
  for (const auto& [k, v] : a.labels) json.Key(k).String(v);
  json.EndObject();
  json.Key("annotations").BeginObject();
  for (const auto& [k, v] : a.annotations) json.Key(k).String(v);
  json.EndObject();
  json.EndObject();
}

void WriteDetectors(const std::vector<operators::drift::DetectorInfo>& detectors, JsonWriter& json) {
  json.Key("detectors").BeginArray();
  for (const auto& d : detectors) {
    json.BeginObject();
    json.Key("metric").String(operators::drift::MetricName(d.metric));
    json.Key("state").String(d.state);
    json.Key("unit").String(d.unit);
    json.Key("baseline").Double(d.baseline);
    json.Key("baseline_weight").Double(d.baseline_contacts);
    json.Key("statistic").Double(d.statistic);
    json.Key("h_warning").Double(d.h_warning);
    json.Key("h_critical").Double(d.h_critical);
    json.Key("arl0_warning").Double(d.arl0_warning);
    json.Key("arl0_critical").Double(d.arl0_critical);
    json.Key("arl1_warning").Double(d.arl1_warning);
    json.EndObject();
  }
  json.EndArray();
}

}  // namespace ccpulse::alerting
