// The HTTP endpoints of DESIGN §7 on top of Server: /metrics, /api/v1/teams,
// /api/v1/teams/{tenant}/{team}, /api/v1/alerts, /api/v1/stream (server-sent events for the
// wallboard), /healthz, /readyz and the wallboard at /.
#ifndef CCPULSE_PIPELINE_HTTP_API_H_
#define CCPULSE_PIPELINE_HTTP_API_H_

#include <atomic>
#include <functional>
#include <string>

#include "operators/snapshot.h"
#include "pipeline/http/server.h"
#include "pipeline/metrics/exposition.h"
#include "pipeline/metrics/publisher.h"

namespace ccpulse::http {

// Team directory data the API adds to the metrics (from the roster): display name, site, manager.
struct TeamDirectoryEntry {
  std::string name;
  std::string site;
  std::string manager;
};
using TeamDirectory = std::function<const TeamDirectoryEntry*(std::string_view tenant, std::string_view team)>;

// Alerts as JSON (an array), provided by the drift detector when it runs.
using AlertsJson = std::function<std::string()>;

struct ApiSources {
  const metrics::Publisher<operators::MetricsSnapshot>* snapshots = nullptr;
  const metrics::SelfMetrics* self_metrics = nullptr;
  const std::atomic<bool>* ready = nullptr;
  TeamDirectory directory;  // may be empty
  AlertsJson alerts;        // may be empty
  int64_t stale_after_ms = 120'000;  // no input for this long: the board says "stale"
};

// Registers every route on `server`. The sources must outlive it.
void RegisterApi(Server& server, const ApiSources& sources);

// The wallboard page (pipeline/http/assets/wallboard.html, embedded at build time).
extern const char kWallboardHtml[];

}  // namespace ccpulse::http

#endif  // CCPULSE_PIPELINE_HTTP_API_H_
