// The HTTP API (pipeline/http/api.h) over a snapshot of a small hand-made stream (four teams in
// two tenants, fed to an operators::Engine, built by SnapshotBuilder and published), served on
// 127.0.0.1 with an ephemeral port and read with libcurl: the team list with its windows and
// filters, a team's detail, 404s, readiness, alerts, the wallboard and its event stream.
#include "pipeline/http/api.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operators/engine.h"
#include "operators/snapshot.h"

namespace ccpulse::http {
namespace {

using operators::kMinuteMs;
using operators::kSecondMs;
using schemas::EventType;
using ::testing::HasSubstr;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

struct HttpResponse {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string error;
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

HttpResponse Get(const std::string& url) {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type != nullptr) response.content_type = type;
  } else {
    response.error = curl_easy_strerror(code);
  }
  curl_easy_cleanup(curl);
  return response;
}

// Reads a server-sent event stream until `until` has arrived (or the timeout).
HttpResponse ReadStreamUntil(const std::string& url, const std::string& until, long timeout_ms) {
  struct State {
    std::string body, until;
  } state{"", until};
  HttpResponse response;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
    auto* s = static_cast<State*>(out);
    s->body.append(data, size * n);
    const size_t at = s->body.find(s->until);
    return at != std::string::npos && s->body.find("\n\n", at) != std::string::npos ? 0 : size * n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr) response.content_type = type;
  if (code != CURLE_OK && code != CURLE_WRITE_ERROR) response.error = curl_easy_strerror(code);
  curl_easy_cleanup(curl);
  response.body = state.body;
  return response;
}

constexpr operators::TimeMs kT0 = 1'772'442'000'000;  // 2026-03-02T09:00:00Z

// Collects events and feeds them to an engine in event-time order; keeps the strings the
// events point into.
class EventFeed {
 public:
  explicit EventFeed(operators::Engine* engine) : engine_(engine) {}
  void Add(EventType type, int64_t offset_s, const std::string& interaction, const std::string& team,
           const std::string& tenant = "default") {
    schemas::Event e;
    e.type = type;
    e.time_ms = kT0 + offset_s * kSecondMs;
    e.event_id = Keep(interaction + "-" + std::to_string(events_.size()));
    e.interaction_id = Keep(interaction);
    e.team = Keep(team);
    e.tenant = Keep(tenant);
    e.channel = schemas::Channel::kVoice;
    events_.push_back(e);
  }
  // Applies everything, then ends the input (the windows include every event).
  void Finish() {
    std::stable_sort(events_.begin(), events_.end(),
                     [](const schemas::Event& a, const schemas::Event& b) { return a.time_ms < b.time_ms; });
    for (const schemas::Event& e : events_) {
      ASSERT_EQ(engine_->OnEvent(e, 0), operators::Engine::Accepted::kApplied);
      engine_->Advance(0, kMinuteMs, [](operators::TimeMs) {});
    }
    engine_->Finish(kMinuteMs, [](operators::TimeMs) {});
  }

 private:
  std::string_view Keep(std::string s) { return strings_.emplace_back(std::move(s)); }
  operators::Engine* engine_;
  std::deque<std::string> strings_;
  std::vector<schemas::Event> events_;
};

// default/sales: 4 handled (1 escalated, 1 transferred, 1 resolved, 1 closed);
// default/care: 2 resolved and one still waiting; default/night shift: 1 resolved;
// acme/support: 1 abandoned, nothing handled.
void FeedSmallStream(operators::Engine& engine) {
  EventFeed f(&engine);
  f.Add(EventType::kQueued, 0, "s1", "sales");
  f.Add(EventType::kAnswered, 10, "s1", "sales");
  f.Add(EventType::kResolved, 100, "s1", "sales");
  f.Add(EventType::kQueued, 5, "s2", "sales");
  f.Add(EventType::kAnswered, 30, "s2", "sales");
  f.Add(EventType::kEscalated, 120, "s2", "sales");
  f.Add(EventType::kQueued, 10, "s3", "sales");
  f.Add(EventType::kAnswered, 15, "s3", "sales");
  f.Add(EventType::kTransferred, 60, "s3", "sales");
  f.Add(EventType::kQueued, 20, "s4", "sales");
  f.Add(EventType::kAnswered, 22, "s4", "sales");
  f.Add(EventType::kClosed, 200, "s4", "sales");
  f.Add(EventType::kQueued, 30, "c1", "care");
  f.Add(EventType::kAnswered, 40, "c1", "care");
  f.Add(EventType::kResolved, 90, "c1", "care");
  f.Add(EventType::kQueued, 50, "c2", "care");
  f.Add(EventType::kAnswered, 55, "c2", "care");
  f.Add(EventType::kResolved, 150, "c2", "care");
  f.Add(EventType::kQueued, 200, "c3", "care");
  f.Add(EventType::kQueued, 40, "n1", "night shift");
  f.Add(EventType::kAnswered, 45, "n1", "night shift");
  f.Add(EventType::kResolved, 140, "n1", "night shift");
  f.Add(EventType::kQueued, 10, "a1", "support", "acme");
  f.Add(EventType::kAbandoned, 70, "a1", "support", "acme");
  f.Finish();
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : engine_(operators::MetricOptions{}) {}

  void SetUp() override {
    FeedSmallStream(engine_);
    directory_[{"default", "sales"}] = {"Sales", "lisbon", "ana.silva"};
    directory_[{"default", "care"}] = {"Customer care", "berlin", "tom.becker"};
    sources_.snapshots = &snapshots_;
    sources_.self_metrics = &self_metrics_;
    sources_.ready = &ready_;
    sources_.directory = [this](std::string_view tenant, std::string_view team) -> const TeamDirectoryEntry* {
      auto it = directory_.find({std::string(tenant), std::string(team)});
      return it == directory_.end() ? nullptr : &it->second;
    };
    sources_.alerts = [] { return std::string(R"([{"key":"00000000000000ab","status":"firing"}])"); };
    RegisterApi(server_, sources_);
    ServerOptions options;
    options.address = "127.0.0.1:0";
    options.threads = 4;
    const absl::Status status = server_.Start(options);
    ASSERT_TRUE(status.ok()) << status;
  }

  void Publish() {
    const int64_t now = NowMs();
    snapshot_ = builder_.Build(engine_, now, now);
    snapshots_.Publish(snapshot_);
  }

  HttpResponse Fetch(const std::string& path) const { return Get(server_.url() + path); }

  // The body as JSON (fails the test when it is not).
  simdjson::dom::element Json(const HttpResponse& r) {
    simdjson::dom::element root;
    const auto error = parser_.parse(r.body).get(root);
    EXPECT_EQ(error, simdjson::SUCCESS) << r.body;
    return root;
  }

  static std::vector<std::string> TeamIds(simdjson::dom::element root) {
    std::vector<std::string> out;
    for (simdjson::dom::element t : root["teams"].get_array()) {
      out.push_back(std::string(t["tenant"].get_string().value()) + "/" + std::string(t["team"].get_string().value()));
    }
    return out;
  }

  static std::set<std::string> Keys(simdjson::dom::object object) {
    std::set<std::string> out;
    for (auto [key, value] : object) out.insert(std::string(key));
    return out;
  }

  operators::Engine engine_;
  operators::SnapshotBuilder builder_;
  std::shared_ptr<const operators::MetricsSnapshot> snapshot_;
  metrics::Publisher<operators::MetricsSnapshot> snapshots_;
  metrics::SelfMetrics self_metrics_;
  std::atomic<bool> ready_{false};
  std::map<std::pair<std::string, std::string>, TeamDirectoryEntry> directory_;
  ApiSources sources_;
  Server server_;  // last: stops before the sources go
  simdjson::dom::parser parser_;
};

TEST_F(ApiTest, TeamsIsUnavailableBeforeTheFirstSnapshot) {
  const HttpResponse r = Fetch("/api/v1/teams");
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("\"status\":503"));
}

TEST_F(ApiTest, TeamsListsEveryTeamInOrderWithAllWindows) {
  Publish();
  const HttpResponse r = Fetch("/api/v1/teams");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.content_type, HasSubstr("application/json"));
  simdjson::dom::element root = Json(r);
  EXPECT_EQ(TeamIds(root), (std::vector<std::string>{"acme/support", "default/care", "default/night shift",
                                                      "default/sales"}));
  std::vector<std::string> windows;
  for (auto w : root["windows"].get_array()) windows.push_back(std::string(w.get_string().value()));
  EXPECT_EQ(windows, (std::vector<std::string>{"5m", "15m", "1h", "today"}));
  for (simdjson::dom::element t : root["teams"].get_array()) {
    EXPECT_EQ(Keys(t["windows"].get_object().value()), (std::set<std::string>{"5m", "15m", "1h", "today"}));
  }
  simdjson::dom::element sales = root["teams"].at(3);
  EXPECT_EQ(sales["name"].get_string().value(), "Sales");
  EXPECT_EQ(sales["site"].get_string().value(), "lisbon");
  EXPECT_EQ(sales["manager"].get_string().value(), "ana.silva");
  for (const char* w : {"5m", "15m", "1h", "today"}) {
    SCOPED_TRACE(w);
    simdjson::dom::element escalation = sales["windows"][w]["escalation_ratio"];
    EXPECT_EQ(escalation["numerator"].get_uint64().value(), 1u);
    EXPECT_EQ(escalation["denominator"].get_uint64().value(), 4u);
    EXPECT_DOUBLE_EQ(escalation["value"].get_double().value(), 0.25);
    EXPECT_EQ(sales["windows"][w]["handled"].get_uint64().value(), 4u);
  }
  simdjson::dom::element support = root["teams"].at(0);
  EXPECT_TRUE(support["windows"]["1h"]["escalation_ratio"]["value"].is_null());  // nothing handled
  EXPECT_EQ(support["name"].get_string().value(), "support");                     // not in the directory
  EXPECT_EQ(support["manager"].get_string().value(), "");
  EXPECT_EQ(root["teams"].at(1)["waiting"].get_int64().value(), 1);
  EXPECT_EQ(root["teams"].at(1)["windows"]["1h"]["backlog"]["waiting"].get_int64().value(), 1);
}

TEST_F(ApiTest, TenantFilterKeepsThatTenantsTeams) {
  Publish();
  EXPECT_EQ(TeamIds(Json(Fetch("/api/v1/teams?tenant=acme"))), (std::vector<std::string>{"acme/support"}));
  EXPECT_EQ(TeamIds(Json(Fetch("/api/v1/teams?tenant=default"))).size(), 3u);
  EXPECT_TRUE(TeamIds(Json(Fetch("/api/v1/teams?tenant=nobody"))).empty());
}

TEST_F(ApiTest, SiteFilterUsesTheDirectory) {
  Publish();
  EXPECT_EQ(TeamIds(Json(Fetch("/api/v1/teams?site=lisbon"))), (std::vector<std::string>{"default/sales"}));
  EXPECT_EQ(TeamIds(Json(Fetch("/api/v1/teams?site=berlin&tenant=default"))),
            (std::vector<std::string>{"default/care"}));
  EXPECT_TRUE(TeamIds(Json(Fetch("/api/v1/teams?site=berlin&tenant=acme"))).empty());
  EXPECT_TRUE(TeamIds(Json(Fetch("/api/v1/teams?site=nowhere"))).empty());
}

TEST_F(ApiTest, WindowFilterKeepsOneWindow) {
  Publish();
  for (const std::string w : {"15m", "today"}) {
    simdjson::dom::element root = Json(Fetch("/api/v1/teams?window=" + w));
    for (simdjson::dom::element t : root["teams"].get_array()) {
      EXPECT_EQ(Keys(t["windows"].get_object().value()), std::set<std::string>{w});
    }
  }
}

TEST_F(ApiTest, UnknownWindowIs400NamingIt) {
  Publish();
  const HttpResponse r = Fetch("/api/v1/teams?window=bogus");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("bogus"));
  EXPECT_EQ(Json(r)["error"]["status"].get_int64().value(), 400);
}

TEST_F(ApiTest, TeamDetailHasTotalsDetectorsPeersAndHistory) {
  Publish();
  const HttpResponse r = Fetch("/api/v1/teams/default/sales");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::element root = Json(r);
  simdjson::dom::element team = root["team"];
  EXPECT_EQ(team["tenant"].get_string().value(), "default");
  EXPECT_EQ(team["team"].get_string().value(), "sales");
  EXPECT_EQ(team["name"].get_string().value(), "Sales");
  EXPECT_EQ(Keys(team["windows"].get_object().value()), (std::set<std::string>{"5m", "15m", "1h", "today"}));
  simdjson::dom::element totals = team["totals"];
  EXPECT_EQ(totals["contacts"].get_uint64().value(), 4u);
  EXPECT_EQ(totals["answered"].get_uint64().value(), 4u);
  EXPECT_EQ(totals["resolved"].get_uint64().value(), 1u);
  EXPECT_EQ(totals["closed"].get_uint64().value(), 1u);
  EXPECT_EQ(totals["transferred"].get_uint64().value(), 1u);
  EXPECT_EQ(totals["escalated"].get_uint64().value(), 1u);
  EXPECT_DOUBLE_EQ(totals["wait_seconds"].get_double().value(), 10 + 25 + 5 + 2);
  EXPECT_DOUBLE_EQ(totals["handle_seconds"].get_double().value(), 90 + 90 + 45 + 178);
  simdjson::dom::array detectors = team["detectors"].get_array().value();
  EXPECT_GT(detectors.size(), 0u);  // drift is on by default
  std::set<std::string> metrics;
  for (simdjson::dom::element d : detectors) {
    metrics.insert(std::string(d["metric"].get_string().value()));
    EXPECT_EQ(d["state"].get_string().value(), "low_volume");
  }
  EXPECT_TRUE(metrics.count("escalation_ratio"));
  EXPECT_TRUE(team["peers"].is_array());
  for (simdjson::dom::element p : team["peers"].get_array()) {
    EXPECT_EQ(p["window"].get_string().value(), "1h");
    EXPECT_THAT(std::string(p["position"].get_string().value()), testing::AnyOf("above", "below", "within"));
  }
  simdjson::dom::array history = team["history"].get_array().value();
  ASSERT_GE(history.size(), 1u);
  EXPECT_DOUBLE_EQ(history.at(0)["escalation_ratio"].get_double().value(), 0.25);
  EXPECT_EQ(history.at(0)["handled"].get_int64().value(), 4);
}

TEST_F(ApiTest, TeamWithASpaceIsReachableUrlEncoded) {
  Publish();
  const HttpResponse r = Fetch("/api/v1/teams/default/night%20shift");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["team"]["team"].get_string().value(), "night shift");
}

TEST_F(ApiTest, UnknownOrMalformedTeamPathIs404) {
  Publish();
  for (const std::string path : {"/api/v1/teams/default/nobody", "/api/v1/teams/acme/sales",
                                 "/api/v1/teams/default", "/api/v1/teams/default/", "/api/v1/teams//sales",
                                 "/api/v1/teams/default/sales/extra"}) {
    SCOPED_TRACE(path);
    const HttpResponse r = Fetch(path);
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(Json(r)["error"]["status"].get_int64().value(), 404);
  }
}

TEST_F(ApiTest, ReadyzFollowsTheReadyFlagAndTheSnapshotAge) {
  EXPECT_EQ(Fetch("/readyz").status, 503);  // nothing published
  ready_ = true;
  EXPECT_EQ(Fetch("/readyz").status, 503);  // ready, but no snapshot yet
  Publish();
  EXPECT_EQ(Fetch("/readyz").status, 200);
  ready_ = false;
  EXPECT_EQ(Fetch("/readyz").status, 503);
  ready_ = true;
  // A worker that stopped publishing is not ready.
  auto stale = std::make_shared<operators::MetricsSnapshot>(*snapshot_);
  stale->published_ms = NowMs() - 60'000;
  snapshots_.Publish(stale);
  EXPECT_EQ(Fetch("/readyz").status, 503);
  EXPECT_EQ(Fetch("/healthz").status, 200);
}

TEST_F(ApiTest, AlertsWrapsTheAlertSource) {
  const HttpResponse r = Fetch("/api/v1/alerts");
  ASSERT_EQ(r.status, 200);
  simdjson::dom::element root = Json(r);
  EXPECT_EQ(root["alerts"].get_array().value().size(), 1u);
  EXPECT_EQ(root["alerts"].at(0)["key"].get_string().value(), "00000000000000ab");
}

TEST_F(ApiTest, MetricsIsPrometheusTextEvenBeforeTheFirstSnapshot) {
  HttpResponse r = Fetch("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE ccpulse_records_consumed_total counter"));
  EXPECT_THAT(r.body, testing::Not(HasSubstr("ccpulse_team_")));
  Publish();
  r = Fetch("/metrics");
  EXPECT_THAT(r.body, HasSubstr("ccpulse_team_contacts_total{tenant=\"default\",team=\"sales\"} 4\n"));
}

TEST_F(ApiTest, WallboardIsServedAtTheRootOnly) {
  HttpResponse r = Fetch("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.content_type, HasSubstr("text/html"));
  EXPECT_THAT(r.body, HasSubstr("<html"));
  EXPECT_EQ(Fetch("/index.html").status, 404);
  EXPECT_EQ(Fetch("/wallboard.js").status, 404);
}

TEST_F(ApiTest, StreamSendsABoardEvent) {
  Publish();
  const HttpResponse r = ReadStreamUntil(server_.url() + "/api/v1/stream?window=1h", "event: board", 5000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/event-stream");
  const size_t at = r.body.find("event: board\ndata: ");
  ASSERT_NE(at, std::string::npos) << r.body;
  const size_t start = at + std::string("event: board\ndata: ").size();
  const std::string data = r.body.substr(start, r.body.find("\n\n", start) - start);
  simdjson::dom::parser parser;
  simdjson::dom::element board;
  ASSERT_EQ(parser.parse(data).get(board), simdjson::SUCCESS) << data;
  EXPECT_EQ(board["window"].get_string().value(), "1h");
  EXPECT_EQ(board["teams"].get_array().value().size(), 4u);
  EXPECT_DOUBLE_EQ(board["sl_target"].get_double().value(), 0.8);
  EXPECT_EQ(board["alerts"].get_array().value().size(), 1u);
  simdjson::dom::element sales = board["teams"].at(3);
  EXPECT_EQ(sales["team"].get_string().value(), "sales");
  EXPECT_DOUBLE_EQ(sales["escalation_ratio"].get_double().value(), 0.25);
  EXPECT_EQ(sales["name"].get_string().value(), "Sales");
}

TEST_F(ApiTest, StreamDefaultsToTheSecondWindow) {
  Publish();
  const HttpResponse r = ReadStreamUntil(server_.url() + "/api/v1/stream", "event: board", 5000);
  const size_t at = r.body.find("data: ");
  ASSERT_NE(at, std::string::npos) << r.body;
  EXPECT_THAT(r.body.substr(at), HasSubstr("\"window\":\"15m\""));
}

}  // namespace
}  // namespace ccpulse::http
