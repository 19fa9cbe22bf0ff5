// The HTTP server (pipeline/http/server.h) on 127.0.0.1 with an ephemeral port, driven by
// libcurl: routing by longest prefix, 404 and 405 as JSON errors, HEAD, query parameters,
// oversized requests answered with a 4xx (and the server still serving), basic auth with
// public routes left open, server-sent event streams, and start/stop behaviour.
#include "pipeline/http/server.h"

#include <curl/curl.h>

#include <chrono>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccpulse::http {
namespace {

using ::testing::HasSubstr;

struct HttpResponse {
  long status = 0;  // 0: no HTTP answer (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  const std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t start = line.find_first_not_of(' ', colon + 1);
    const size_t end = line.find_last_not_of("\r\n");
    (*static_cast<std::map<std::string, std::string>*>(out))[name] =
        start == std::string::npos || end < start ? "" : line.substr(start, end - start + 1);
  }
  return size * n;
}

HttpResponse Fetch(const std::string& url, const std::string& method = "GET",
                   const std::vector<std::string>& headers = {}, const std::string& user_password = "") {
  HttpResponse response;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{}");
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!user_password.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, user_password.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  } else {
    response.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return response;
}

Response Text(std::string body) {
  Response r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

ServerOptions Local() {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 4;
  return options;
}

// A server with routes at several depths, registered shortest first.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Route("/", [](const Request& r) {
      if (r.path != "/") return Error(404, "no such path");
      return Text("root");
    });
    server_.Route("/api", [](const Request&) { return Text("api"); });
    server_.Route("/api/v1", [](const Request& r) { return Text("v1 " + std::string(r.path)); });
    server_.Route("/api/v1/teams", [](const Request& r) { return Text("teams " + std::string(r.path)); });
    server_.Route("/echo", [](const Request& r) {
      return Text(std::string(r.query) + "|" + r.Param("x") + "|" + r.Param("y") + "|" + r.Param("missing"));
    });
    server_.Route("/healthz", [](const Request&) { return Text("ok"); }, /*public_route=*/true);
    server_.Route("/created", [](const Request&) {
      Response r = Text("made");
      r.status = 201;
      r.headers.emplace_back("X-Test", "yes");
      return r;
    });
  }
  void Start(ServerOptions options = Local()) {
    const absl::Status status = server_.Start(options);
    ASSERT_TRUE(status.ok()) << status;
  }
  std::string Url(const std::string& path) const { return server_.url() + path; }

  Server server_;
};

TEST_F(ServerTest, BindsAnEphemeralPortOnLoopback) {
  Start();
  EXPECT_GT(server_.port(), 0);
  EXPECT_EQ(server_.url(), "http://127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(Fetch(Url("/")).body, "root");
}

TEST_F(ServerTest, RoutesByLongestPrefix) {
  Start();
  EXPECT_EQ(Fetch(Url("/api")).body, "api");
  EXPECT_EQ(Fetch(Url("/api/other")).body, "api");
  EXPECT_EQ(Fetch(Url("/api/v1")).body, "v1 /api/v1");
  EXPECT_EQ(Fetch(Url("/api/v1/alerts")).body, "v1 /api/v1/alerts");
  EXPECT_EQ(Fetch(Url("/api/v1/teams")).body, "teams /api/v1/teams");
  EXPECT_EQ(Fetch(Url("/api/v1/teams/default/sales")).body, "teams /api/v1/teams/default/sales");
  // A prefix matches whole path segments only.
  EXPECT_EQ(Fetch(Url("/api/v1/teamsx")).body, "v1 /api/v1/teamsx");
  EXPECT_EQ(Fetch(Url("/apix")).status, 404);
}

TEST_F(ServerTest, UnknownPathIsAJson404) {
  Start();
  HttpResponse r = Fetch(Url("/nope/at/all"));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.headers["content-type"], HasSubstr("application/json"));
  EXPECT_THAT(r.body, HasSubstr("\"status\":404"));
  EXPECT_THAT(r.body, HasSubstr("/nope/at/all"));
}

TEST_F(ServerTest, OtherMethodsThanGetAndHeadAre405WithAllow) {
  Start();
  for (const std::string method : {"POST", "PUT", "DELETE", "PATCH"}) {
    SCOPED_TRACE(method);
    HttpResponse r = Fetch(Url("/api/v1/teams"), method);
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers["allow"], "GET, HEAD");
    EXPECT_THAT(r.body, HasSubstr("\"status\":405"));
  }
}

TEST_F(ServerTest, HeadHasHeadersButNoBody) {
  Start();
  HttpResponse r = Fetch(Url("/api"), "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["content-length"], "3");
  EXPECT_EQ(r.headers["content-type"], "text/plain");
}

TEST_F(ServerTest, HandlerStatusAndHeadersAreSent) {
  Start();
  HttpResponse r = Fetch(Url("/created"));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.headers["x-test"], "yes");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_EQ(r.body, "made");
}

TEST_F(ServerTest, QueryParametersAreUrlDecoded) {
  Start();
  EXPECT_EQ(Fetch(Url("/echo?x=a%20b%2Fc&y=2")).body, "x=a%20b%2Fc&y=2|a b/c|2|");
  EXPECT_EQ(Fetch(Url("/echo?y=1&x=+plus")).body, "y=1&x=+plus| plus|1|");
  EXPECT_EQ(Fetch(Url("/echo?xx=1&x")).body, "xx=1&x|||");
  EXPECT_EQ(Fetch(Url("/echo")).body, "|||");
}

TEST_F(ServerTest, OversizedUrlGetsA4xxAndTheServerKeepsServing) {
  Start();
  HttpResponse r = Fetch(Url("/api/" + std::string(64 * 1024, 'a')));
  EXPECT_GE(r.status, 400) << r.error;
  EXPECT_LT(r.status, 500) << r.error;
  EXPECT_EQ(Fetch(Url("/api")).body, "api");
}

TEST_F(ServerTest, OversizedHeaderGetsA4xxAndTheServerKeepsServing) {
  Start();
  HttpResponse r = Fetch(Url("/api"), "GET", {"X-Big: " + std::string(64 * 1024, 'b')});
  EXPECT_GE(r.status, 400) << r.error;
  EXPECT_LT(r.status, 500) << r.error;
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("X-Header-" + std::to_string(i) + ": " + std::string(100, 'c'));
  const HttpResponse r2 = Fetch(Url("/api"), "GET", many);
  EXPECT_GE(r2.status, 400) << r2.error;
  EXPECT_LT(r2.status, 500) << r2.error;
  EXPECT_EQ(Fetch(Url("/api")).body, "api");
}

TEST_F(ServerTest, ConcurrentRequestsAreAllAnswered) {
  Start();
  std::vector<std::future<HttpResponse>> futures;
  for (int i = 0; i < 24; ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] { return Fetch(Url("/api/v1/teams/t" + std::to_string(i))); }));
  }
  for (int i = 0; i < 24; ++i) EXPECT_EQ(futures[i].get().body, "teams /api/v1/teams/t" + std::to_string(i));
}

// --- Basic auth ---------------------------------------------------------------------------

class AuthTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    ServerOptions options = Local();
    options.basic_auth_user = "prometheus";
    options.basic_auth_password = "s3cret:with:colons";
    Start(options);
  }
};

TEST_F(AuthTest, MissingCredentialsAre401WithAChallenge) {
  HttpResponse r = Fetch(Url("/api/v1/teams"));
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.headers["www-authenticate"], testing::StartsWith("Basic "));
  EXPECT_THAT(r.headers["www-authenticate"], HasSubstr("realm="));
  EXPECT_THAT(r.body, HasSubstr("\"status\":401"));
  EXPECT_THAT(r.body, testing::Not(HasSubstr("teams")));
}

TEST_F(AuthTest, WrongCredentialsAre401) {
  EXPECT_EQ(Fetch(Url("/api"), "GET", {}, "prometheus:wrong").status, 401);
  EXPECT_EQ(Fetch(Url("/api"), "GET", {}, "someone:s3cret:with:colons").status, 401);
  // Same length as the right value.
  EXPECT_EQ(Fetch(Url("/api"), "GET", {}, "prometheus:s3cret:with:colonz").status, 401);
  EXPECT_EQ(Fetch(Url("/api"), "GET", {"Authorization: Bearer s3cret"}).status, 401);
  EXPECT_EQ(Fetch(Url("/"), "HEAD").status, 401);
}

TEST_F(AuthTest, RightCredentialsAreServed) {
  HttpResponse r = Fetch(Url("/api/v1/teams"), "GET", {}, "prometheus:s3cret:with:colons");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "teams /api/v1/teams");
}

TEST_F(AuthTest, PublicRoutesNeedNoCredentials) {
  EXPECT_EQ(Fetch(Url("/healthz")).status, 200);
  EXPECT_EQ(Fetch(Url("/healthz"), "GET", {}, "prometheus:wrong").status, 200);
}

// --- Streams and lifecycle ----------------------------------------------------------------

// Reads a stream until `until` appears in it (or the timeout); returns what was read.
HttpResponse ReadStreamUntil(const std::string& url, const std::string& until, long timeout_ms) {
  struct State {
    std::string body;
    std::string until;
  } state{"", until};
  HttpResponse response;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
    auto* s = static_cast<State*>(out);
    s->body.append(data, size * n);
    return s->body.find(s->until) != std::string::npos ? 0 : size * n;  // 0 ends the transfer
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  const CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  if (code != CURLE_OK && code != CURLE_WRITE_ERROR) response.error = curl_easy_strerror(code);
  curl_easy_cleanup(curl);
  response.body = state.body;
  return response;
}

TEST(ServerStreamTest, StreamRouteSendsEventsWithEventStreamHeaders) {
  Server server;
  server.RouteStream("/events", [](const Request& r, Stream& stream) {
    for (int i = 0; i < 3 && !stream.stopping(); ++i) {
      if (!stream.Send("event: tick\ndata: " + r.Param("n") + std::to_string(i) + "\n\n")) return;
    }
  });
  ASSERT_TRUE(server.Start(Local()).ok());
  HttpResponse r = ReadStreamUntil(server.url() + "/events?n=x", "data: x2\n\n", 5000);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  EXPECT_EQ(r.body, "event: tick\ndata: x0\n\nevent: tick\ndata: x1\n\nevent: tick\ndata: x2\n\n");
}

TEST(ServerStreamTest, StopEndsAnOpenStreamPromptly) {
  Server server;
  std::atomic<bool> streaming{false};
  server.RouteStream("/events", [&](const Request&, Stream& stream) {
    streaming = true;
    while (!stream.stopping()) {
      if (!stream.Send(": keep-alive\n\n")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  ASSERT_TRUE(server.Start(Local()).ok());
  auto client = std::async(std::launch::async, [&] { return ReadStreamUntil(server.url() + "/events", "never", 10000); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!streaming && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(streaming);
  const auto start = std::chrono::steady_clock::now();
  server.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(client.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(ServerLifecycleTest, PortInUseIsAnErrorNamingTheAddress) {
  Server first;
  first.Route("/", [](const Request&) { return Text("first"); });
  ASSERT_TRUE(first.Start(Local()).ok());
  Server second;
  second.Route("/", [](const Request&) { return Text("second"); });
  ServerOptions options = Local();
  options.address = "127.0.0.1:" + std::to_string(first.port());
  const absl::Status status = second.Start(options);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("`http.address`"));
  EXPECT_EQ(Fetch(first.url() + "/").body, "first");
}

TEST(ServerLifecycleTest, AddressWithoutPortIsInvalid) {
  Server server;
  ServerOptions options = Local();
  options.address = "127.0.0.1";
  const absl::Status status = server.Start(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("host:port"));
}

TEST(ServerLifecycleTest, StoppedServerRefusesConnections) {
  Server server;
  server.Route("/", [](const Request&) { return Text("up"); });
  ASSERT_TRUE(server.Start(Local()).ok());
  const std::string url = server.url() + "/";
  EXPECT_EQ(Fetch(url).body, "up");
  server.Stop();
  server.Stop();  // idempotent
  EXPECT_EQ(Fetch(url).status, 0);
}

TEST(ErrorTest, IsAJsonObjectWithStatusAndEscapedMessage) {
  const Response r = Error(418, "a \"quoted\" path");
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":{"status":418,"message":"a \"quoted\" path"}})");
}

}  // namespace
}  // namespace ccpulse::http
