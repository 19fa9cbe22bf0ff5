// HTTP endpoints; see api.h. Every handler reads the latest published snapshot only.
#include "pipeline/http/api.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "absl/time/clock.h"
#include "pipeline/alerting/alerts.h"
#include "pipeline/json_writer.h"
#include "pipeline/report.h"
#include "schemas/time_format.h"

namespace ccpulse::http {
namespace {

using operators::MetricsSnapshot;
using operators::TeamView;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

bool Stale(const MetricsSnapshot& s, const ApiSources& sources, int64_t now) {
  return now - s.published_ms > 5000 || s.last_input_ms == 0 ||
         now - s.last_input_ms > sources.stale_after_ms;
}

void WriteMeta(const MetricsSnapshot& s, const ApiSources& sources, int64_t now, JsonWriter& json) {
  json.Key("published").String(schemas::FormatRfc3339(s.published_ms));
  json.Key("windows_end").String(schemas::FormatRfc3339(s.windows_end));
  json.Key("watermark").String(schemas::FormatRfc3339(s.watermark));
  json.Key("stale").Bool(Stale(s, sources, now));
  json.Key("windows").BeginArray();
  for (const std::string& w : s.window_labels) json.String(w);
  json.EndArray();
}

void WriteDirectory(const ApiSources& sources, const TeamView& t, JsonWriter& json) {
  const TeamDirectoryEntry* entry = sources.directory ? sources.directory(t.tenant, t.team) : nullptr;
  json.Key("name").String(entry && !entry->name.empty() ? entry->name : t.team);
  json.Key("site").String(entry ? entry->site : "");
  json.Key("manager").String(entry ? entry->manager : "");
}

// `window` empty: every window.
void WriteTeam(const MetricsSnapshot& s, size_t i, const ApiSources& sources, std::string_view window,
               bool detail, JsonWriter& json) {
  const TeamView& t = *s.teams[i];
  json.BeginObject();
  json.Key("tenant").String(t.tenant);
  json.Key("team").String(t.team);
  WriteDirectory(sources, t, json);
  const operators::TeamMetrics& first = t.windows.front();
  json.Key("health").String(operators::HealthName(first.health));
  json.Key("waiting").Int(s.live[i].waiting);
  json.Key("in_progress").Int(s.live[i].in_progress);
  json.Key("oldest_wait_seconds").Double(first.oldest_wait_s);
  json.Key("windows").BeginObject();
  for (size_t w = 0; w < t.windows.size() && w < s.window_labels.size(); ++w) {
    if (!window.empty() && s.window_labels[w] != window) continue;
    json.Key(s.window_labels[w]);
    WriteMetrics(t.windows[w], json);
  }
  json.EndObject();
  if (detail) {
    json.Key("totals").BeginObject();
    using operators::Kind;
    json.Key("contacts").Uint(t.totals.count(Kind::kInflow));
    json.Key("answered").Uint(t.totals.count(Kind::kAnswered));
    json.Key("abandoned").Uint(t.totals.count(Kind::kAbandoned));
    json.Key("resolved").Uint(t.totals.count(Kind::kResolved));
    json.Key("closed").Uint(t.totals.count(Kind::kClosed));
    json.Key("transferred").Uint(t.totals.count(Kind::kTransferred));
    json.Key("escalated").Uint(t.totals.count(Kind::kEscalated));
    json.Key("repeat_contacts").Uint(t.totals.count(Kind::kRepeat));
    json.Key("wait_seconds").Double(static_cast<double>(t.totals.wait_ms) / 1000.0);
    json.Key("handle_seconds").Double(static_cast<double>(t.totals.handle_ms) / 1000.0);
    json.EndObject();
    alerting::WriteDetectors(t.detectors, json);
    // Funnel position against the tenant's teams (info only), in the longest window.
    json.Key("peers").BeginArray();
    for (int m = 0; m < operators::kPeerMetricCount; ++m) {
      const operators::PeerPosition& p = t.peers[m];
      if (!p.compared) continue;
      json.BeginObject();
      json.Key("metric").String(operators::PeerMetricName(static_cast<operators::PeerMetric>(m)));
      json.Key("window").String(s.window_labels[s.window_labels.size() - 2]);
      json.Key("value").Double(p.value);
      json.Key("peer_rate").Double(p.peer_rate);
      json.Key("lower").Double(p.lower);
      json.Key("upper").Double(p.upper);
      json.Key("z").Double(p.z);
      json.Key("position").String(p.outlier > 0 ? "above" : p.outlier < 0 ? "below" : "within");
      json.EndObject();
    }
    json.EndArray();
    json.Key("history").BeginArray();
    if (t.history) {
      for (const operators::HistoryPoint& p : *t.history) {
        auto opt = [&](const char* key, float v) {
          json.Key(key);
          if (v < 0) json.Null();
          else json.Double(v);
        };
        json.BeginObject();
        json.Key("time").String(schemas::FormatRfc3339(p.time));
        opt("escalation_ratio", p.escalation);
        opt("fcr_provisional_ratio", p.fcr);
        opt("service_level", p.service_level);
        opt("abandon_ratio", p.abandon);
        opt("aht_seconds", p.aht_s);
        opt("asa_seconds", p.asa_s);
        json.Key("waiting").Int(p.waiting);
        json.Key("handled").Int(p.handled);
        json.EndObject();
      }
    }
    json.EndArray();
  }
  json.EndObject();
}

bool Matches(const ApiSources& sources, const TeamView& t, const std::string& tenant, const std::string& site) {
  if (!tenant.empty() && t.tenant != tenant) return false;
  if (site.empty()) return true;
  const TeamDirectoryEntry* entry = sources.directory ? sources.directory(t.tenant, t.team) : nullptr;
  return entry != nullptr && entry->site == site;
}

Response Json(std::string body) {
  Response r;
  r.body = std::move(body);
  return r;
}

Response Teams(const Request& request, const ApiSources& sources) {
  auto snapshot = sources.snapshots->Latest();
  if (!snapshot) return Error(503, "no metrics yet: the pipeline is starting");
  const int64_t now = NowMs();
  std::string_view rest = request.path.substr(std::string_view("/api/v1/teams").size());
  if (!rest.empty() && rest != "/") {
    // /{tenant}/{team}
    rest.remove_prefix(1);
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size() ||
        rest.find('/', slash + 1) != std::string_view::npos) {
      return Error(404, "expected /api/v1/teams/{tenant}/{team}");
    }
    const int i = snapshot->Find(rest.substr(0, slash), rest.substr(slash + 1));
    if (i < 0) return Error(404, fmt::format("no team {}", rest));
    std::string body;
    JsonWriter json(&body);
    json.BeginObject();
    WriteMeta(*snapshot, sources, now, json);
    json.Key("team");
    WriteTeam(*snapshot, static_cast<size_t>(i), sources, "", /*detail=*/true, json);
    json.EndObject();
    return Json(std::move(body));
  }
  const std::string window = request.Param("window");
  if (!window.empty() &&
      std::find(snapshot->window_labels.begin(), snapshot->window_labels.end(), window) == snapshot->window_labels.end()) {
    return Error(400, fmt::format("unknown window \"{}\"", window));
  }
  const std::string tenant = request.Param("tenant"), site = request.Param("site");
  std::string body;
  JsonWriter json(&body);
  json.BeginObject();
  WriteMeta(*snapshot, sources, now, json);
  json.Key("teams").BeginArray();
  for (size_t i = 0; i < snapshot->teams.size(); ++i) {
    if (!Matches(sources, *snapshot->teams[i], tenant, site)) continue;
    WriteTeam(*snapshot, i, sources, window, /*detail=*/false, json);
  }
  json.EndArray().EndObject();
  return Json(std::move(body));
}

// The wallboard's compact view: one small object per team.
std::string Board(const MetricsSnapshot& s, const ApiSources& sources, const std::string& window,
                  const std::string& alerts_json) {
  size_t w = 0;
  for (; w < s.window_labels.size() && s.window_labels[w] != window; ++w) {}
  if (w == s.window_labels.size()) w = std::min<size_t>(1, s.window_labels.size() - 1);
  std::string body;
  JsonWriter json(&body);
  const int64_t now = NowMs();
  json.BeginObject();
  WriteMeta(s, sources, now, json);
  json.Key("window").String(s.window_labels.empty() ? "" : s.window_labels[w]);
  json.Key("sl_target").Double(s.sl_target);
  json.Key("sl_threshold_seconds").Double(static_cast<double>(s.sl_threshold_ms) / 1000.0);
  json.Key("teams").BeginArray();
  for (size_t i = 0; i < s.teams.size(); ++i) {
    const TeamView& t = *s.teams[i];
    const operators::TeamMetrics& m = t.windows[w];
    json.BeginObject();
    json.Key("tenant").String(t.tenant);
    json.Key("team").String(t.team);
    WriteDirectory(sources, t, json);
    json.Key("health").String(operators::HealthName(t.windows.front().health));
    json.Key("escalation_ratio").OptionalDouble(m.escalation.value());
    json.Key("fcr_ratio").OptionalDouble(m.fcr_provisional.value());
    json.Key("service_level").OptionalDouble(m.service_level.value());
    json.Key("handled").Uint(m.handled);
    json.Key("waiting").Int(s.live[i].waiting);
    json.Key("oldest_wait_seconds").Double(t.windows.front().oldest_wait_s);
    json.EndObject();
  }
  json.EndArray();
  json.Key("alerts").Raw(alerts_json.empty() ? "[]" : alerts_json);
  json.EndObject();
  return body;
}

}  // namespace

void RegisterApi(Server& server, const ApiSources& sources) {
  server.Route("/metrics", [&sources](const Request&) {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    auto snapshot = sources.snapshots->Latest();
    metrics::RenderMetrics(*sources.self_metrics, snapshot.get(), NowMs(), &r.body);
    return r;
  });
  server.Route("/healthz", [](const Request&) { return Json("{\"status\":\"ok\"}"); }, /*public_route=*/true);
  server.Route(
      "/readyz",
      [&sources](const Request&) {
        auto snapshot = sources.snapshots->Latest();
        const bool ready = sources.ready->load() && snapshot && NowMs() - snapshot->published_ms < 10'000;
        if (!ready) return Error(503, "not ready: starting, restoring state or not consuming");
        return Json("{\"status\":\"ready\"}");
      },
      /*public_route=*/true);
  server.Route("/api/v1/teams", [&sources](const Request& request) { return Teams(request, sources); });
  server.Route("/api/v1/alerts", [&sources](const Request&) {
    return Json(fmt::format("{{\"alerts\":{}}}", sources.alerts ? sources.alerts() : "[]"));
  });
  server.RouteStream("/api/v1/stream", [&sources](const Request& request, Stream& stream) {
    const std::string window = request.Param("window");
    int64_t sent_published = -1;
    int64_t last_send = 0, last_ping = 0;
    while (!stream.stopping()) {
      auto snapshot = sources.snapshots->Latest();
      const int64_t now = NowMs();
      if (snapshot && (snapshot->published_ms != sent_published || now - last_send > 5000) &&
          now - last_send >= 1000) {
        const std::string data = "event: board\ndata: " +
                                 Board(*snapshot, sources, window, sources.alerts ? sources.alerts() : "") + "\n\n";
        if (!stream.Send(data)) return;
        sent_published = snapshot->published_ms;
        last_send = last_ping = now;
      } else if (now - last_ping >= 2000) {
        // A sign of life between boards, so the page can tell a quiet board from a dead link.
        if (!stream.Send("event: ping\ndata: {}\n\n")) return;
        last_ping = now;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  server.Route("/", [](const Request& request) {
    if (request.path != "/" && request.path != "/index.html") return Error(404, fmt::format("no such path: {}", request.path));
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kWallboardHtml;
    return r;
  });
}

}  // namespace ccpulse::http
