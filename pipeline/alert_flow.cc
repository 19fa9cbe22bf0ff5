// Alert flow; see alert_flow.h.
#include "pipeline/alert_flow.h"

#include "absl/time/time.h"
#include "pipeline/json_writer.h"

namespace ccpulse {

AlertFlow::AlertFlow(const Config& config, bool dispatch, alerting::AlertDispatcher::KafkaSend kafka_send)
    : config_(config), roster_(config.teams) {
  if (dispatch) dispatcher_ = std::make_unique<alerting::AlertDispatcher>(config.alerting, std::move(kafka_send));
  for (const RosterEntry& e : roster_.entries()) directory_[{e.tenant, e.team}] = {e.name, e.site, e.manager};
}

void AlertFlow::ApplyRoster(operators::Engine& engine) const {
  for (const RosterEntry& e : roster_.entries()) {
    operators::Engine::TeamProfile profile;
    profile.sl_target = e.sl_target;
    if (!e.time_zone.empty()) {
      absl::TimeZone zone;
      if (absl::LoadTimeZone(e.time_zone, &zone)) profile.zone = zone;  // checked by the config
    }
    for (const auto& [metric, rate] : e.baseline) {
      for (int m = 0; m < operators::drift::kProportionCount; ++m) {
        if (operators::drift::MetricName(static_cast<operators::drift::Metric>(m)) == metric) {
          profile.baseline_rates[m] = rate;
        }
      }
    }
    engine.SetTeamProfile(e.tenant, e.team, profile);
  }
}

size_t AlertFlow::Resume(const operators::Engine& engine) {
  const auto open = engine.OpenAlerts();
  SubmitRestored(engine, open);
  return open.size();
}

void AlertFlow::SubmitRestored(const operators::Engine& engine, const std::vector<operators::drift::AlertState>& open) {
  for (const operators::drift::AlertState& state : open) {
    const operators::TeamState& team = engine.team(state.team);
    alerting::AlertRecord record = alerting::Describe(state, team.tenant, team.team, roster_, config_.alerting);
    record.restored = true;
    if (dispatcher_) dispatcher_->Submit(std::move(record));
  }
}

size_t AlertFlow::Take(operators::Engine& engine, std::string* lines) {
  // A restored team partition's firing alerts go on here (as after a restart); a removed one's
  // are retired, not resolved: its new reader decides.
  SubmitRestored(engine, engine.TakeRestoredAlerts());
  std::vector<uint64_t> handed_over = engine.TakeHandedOver();
  if (dispatcher_) dispatcher_->Retire(std::move(handed_over));
  const auto changes = engine.TakeAlertChanges();
  for (const operators::drift::AlertState& change : changes) {
    const operators::TeamState& team = engine.team(change.team);
    alerting::AlertRecord record = alerting::Describe(change, team.tenant, team.team, roster_, config_.alerting);
    if (lines != nullptr) {
      JsonWriter json(lines);
      json.BeginObject().Key("alert");
      alerting::WriteAlert(record, json);
      json.EndObject();
      lines->push_back('\n');
    }
    if (observer_) observer_(record);
    if (dispatcher_) dispatcher_->Submit(std::move(record));
  }
  return changes.size();
}

http::TeamDirectory AlertFlow::Directory() const {
  return [this](std::string_view tenant, std::string_view team) -> const http::TeamDirectoryEntry* {
    auto it = directory_.find({std::string(tenant), std::string(team)});
    return it == directory_.end() ? nullptr : &it->second;
  };
}

http::AlertsJson AlertFlow::Alerts() const {
  return [this]() -> std::string { return dispatcher_ ? dispatcher_->ActiveJson() : "[]"; };
}

size_t AlertFlow::Unrostered(operators::Engine& engine) const {
  size_t n = 0;
  for (operators::TeamIndex i : engine.TeamsInOrder()) {
    const operators::TeamState& t = engine.team(i);
    n += roster_.Find(t.tenant, t.team) == nullptr;
  }
  return n;
}

void AppendDetectors(operators::Engine& engine, std::string* out) {
  for (operators::TeamIndex i : engine.TeamsInOrder()) {
    const auto detectors = engine.Detectors(i);
    if (detectors.empty()) continue;
    const operators::TeamState& team = engine.team(i);
    JsonWriter json(out);
    json.BeginObject().Key("detectors").BeginObject();
    json.Key("tenant").String(team.tenant);
    json.Key("team").String(team.team);
    alerting::WriteDetectors(detectors, json);
    json.EndObject().EndObject();
    out->push_back('\n');
  }
}

}  // namespace ccpulse
