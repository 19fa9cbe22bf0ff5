// JSON renderings; see report.h.
#include "pipeline/report.h"

#include "schemas/time_format.h"

namespace ccpulse {
namespace {

using operators::Ratio;

void WriteRatio(std::string_view key, const Ratio& r, JsonWriter& json) {
  json.Key(key).BeginObject();
  json.Key("value").OptionalDouble(r.value());
  json.Key("numerator").Uint(r.numerator);
  json.Key("denominator").Uint(r.denominator);
  json.EndObject();
}

}  // namespace

void WriteMetrics(const operators::TeamMetrics& m, JsonWriter& json) {
  json.BeginObject();
  json.Key("inflow").Uint(m.inflow);
  json.Key("answered").Uint(m.answered);
  json.Key("abandoned").Uint(m.abandoned);
  json.Key("abandoned_short").Uint(m.abandoned_short);
  json.Key("handled").Uint(m.handled);
  json.Key("resolved").Uint(m.resolved);
  json.Key("closed").Uint(m.closed);
  json.Key("transferred").Uint(m.transferred);
  json.Key("escalated").Uint(m.escalated);
  json.Key("reopened").Uint(m.reopened);
  json.Key("expired").Uint(m.expired);
  json.Key("gaps").Uint(m.gaps);
  WriteRatio("escalation_ratio", m.escalation, json);
  WriteRatio("transfer_ratio", m.transfer, json);
  WriteRatio("fcr_provisional_ratio", m.fcr_provisional, json);
  WriteRatio("fcr_confirmed_ratio", m.fcr_confirmed, json);
  WriteRatio("repeat_contact_ratio", m.repeat_contact, json);
  WriteRatio("abandon_ratio", m.abandon, json);
  json.Key("service_level").BeginObject();
  json.Key("value").OptionalDouble(m.service_level.value());
  json.Key("numerator").Uint(m.service_level.numerator);
  json.Key("denominator").Uint(m.service_level.denominator);
  json.Key("target").Double(m.sl_target);
  json.EndObject();
  json.Key("asa_seconds").OptionalDouble(m.asa_s);
  json.Key("wait_p50_seconds").OptionalDouble(m.wait_p50_s);
  json.Key("wait_p90_seconds").OptionalDouble(m.wait_p90_s);
  json.Key("wait_p99_seconds").OptionalDouble(m.wait_p99_s);
  json.Key("aht_seconds").OptionalDouble(m.aht_s);
  json.Key("handle_p50_seconds").OptionalDouble(m.handle_p50_s);
  json.Key("handle_p90_seconds").OptionalDouble(m.handle_p90_s);
  json.Key("handle_p99_seconds").OptionalDouble(m.handle_p99_s);
  json.Key("backlog").BeginObject();
  json.Key("waiting").Int(m.waiting);
  json.Key("in_progress").Int(m.in_progress);
  json.Key("oldest_wait_seconds").Double(m.oldest_wait_s);
  json.Key("inflow_per_minute").Double(m.inflow_per_min);
  json.Key("outflow_per_minute").Double(m.outflow_per_min);
  json.Key("net_flow_per_minute").Double(m.net_flow_per_min);
  json.Key("time_to_clear_seconds").OptionalDouble(m.time_to_clear_s);
  json.Key("growing").Bool(m.growing);
  json.Key("health").String(operators::HealthName(m.health));
  json.EndObject();
  json.Key("required_agents");
  if (m.required_agents) {
    json.Int(*m.required_agents);
  } else {
    json.Null();
  }
  json.EndObject();
}

void AppendWindowRecord(operators::TimeMs time, const operators::TeamState& team,
                        std::string_view window, const operators::TeamMetrics& m, bool final,
                        std::string* out) {
  JsonWriter json(out);
  json.BeginObject();
  json.Key("time").String(schemas::FormatRfc3339(time));
  json.Key("tenant").String(team.tenant);
  json.Key("team").String(team.team);
  json.Key("window").String(window);
  if (final) json.Key("final").Bool(true);
  json.Key("metrics");
  WriteMetrics(m, json);
  json.EndObject();
  out->push_back('\n');
}

void AppendBoundaryRecords(operators::Engine& engine, bool final, std::string* out,
                           std::optional<operators::TimeMs> boundary) {
  const operators::TimeMs at = boundary.value_or(engine.windows_end());
  const auto& windows = engine.options().windows_ms;
  for (operators::TeamIndex i : engine.TeamsInOrder()) {
    if ((boundary && !engine.InBoundary(i)) || !engine.HasActivity(i)) continue;
    for (size_t w = 0; w < windows.size(); ++w) {
      AppendWindowRecord(at, engine.team(i), operators::DurationLabel(windows[w]),
                         engine.WindowMetrics(i, w), final, out);
    }
    AppendWindowRecord(at, engine.team(i), "today", engine.TodayMetrics(i), final, out);
  }
}

void AppendSummary(const operators::Engine& engine, const InputCounts& input, std::string* out) {
  using operators::Kind;
  const auto& c = engine.counters();
  JsonWriter json(out);
  json.BeginObject().Key("summary").BeginObject();
  json.Key("records").Uint(input.records);
  json.Key("events_applied").Uint(c.applied);
  json.Key("duplicates").Uint(engine.duplicates());
  json.Key("duplicate_ids").Uint(c.duplicate_ids);
  json.Key("repeated_transitions").Uint(engine.redundant_transitions());
  json.Key("late").Uint(c.late);
  json.Key("expired").Uint(engine.TotalOf(Kind::kExpired));
  json.Key("gaps").Uint(engine.TotalOf(Kind::kGap));
  json.Key("too_many_events").Uint(c.too_many_events);
  json.Key("invalid").Uint(input.invalid_total());
  json.Key("invalid_by_reason").BeginObject();
  for (int r = 1; r < schemas::kDecodeErrorCount; ++r) {
    if (input.invalid[r] == 0) continue;
    json.Key(schemas::DecodeErrorName(static_cast<schemas::DecodeError>(r))).Uint(input.invalid[r]);
  }
  json.EndObject();
  json.Key("teams").Uint(engine.teams_held());
  json.Key("interactions_held").Uint(engine.interactions_held());
  if (engine.max_event_time() != window::WatermarkTracker::kNoWatermark) {
    json.Key("last_event_time").String(schemas::FormatRfc3339(engine.max_event_time()));
    json.Key("windows_end").String(schemas::FormatRfc3339(engine.windows_end()));
  }
  json.EndObject().EndObject();
  out->push_back('\n');
}

}  // namespace ccpulse
