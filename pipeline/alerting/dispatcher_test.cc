// AlertDispatcher (pipeline/alerting/dispatcher.h) against a tiny HTTP receiver in the test on
// 127.0.0.1: the Alertmanager v2 payload, re-sending firing and resolved alerts, PagerDuty for
// critical alerts only (trigger then resolve, one dedup key, in order), retry with backoff on
// 429/5xx but not on other 4xx, the Kafka and log sinks, a dead endpoint that never blocks
// Submit, and the bounded queue that drops the oldest change. Durations are shortened.
#include "pipeline/alerting/dispatcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "schemas/time_format.h"

namespace ccpulse::alerting {
namespace {

using operators::drift::AlertState;
using operators::drift::DriftMonitor;
using operators::drift::Metric;
using operators::drift::Severity;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Polls `done` every 10 ms until it holds or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& done, int64_t timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  while (!done()) {
    if (NowMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A one-request-per-connection HTTP/1.1 receiver on 127.0.0.1:<any port>. Records every
// request; answers with the status `respond` returns (200 by default). Thread-safe.
class Receiver {
 public:
  struct Request {
    std::string method, path, content_type, body;
    int64_t received_ms = 0;
  };

  Receiver() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(listener_, 64), 0);
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~Receiver() {
    {
      absl::MutexLock lock(&mu_);
      held_ = false;
    }
    stopping_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Decides the status of each request from its path and how many came to that path before.
  void SetResponder(std::function<int(const std::string& path, int previous)> respond) {
    absl::MutexLock lock(&mu_);
    respond_ = std::move(respond);
  }
  // While held, requests are read and recorded but not answered.
  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    held_ = hold;
  }

  std::vector<Request> Requests(const std::string& path) const {
    absl::MutexLock lock(&mu_);
    std::vector<Request> out;
    for (const Request& r : requests_) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }
  size_t Count(const std::string& path) const { return Requests(path).size(); }

 private:
  void Serve() {
    while (!stopping_) {
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      timeval timeout{2, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      Request request;
      if (!Read(fd, &request)) {
        close(fd);
        continue;
      }
      request.received_ms = NowMs();
      int status = 200;
      {
        absl::MutexLock lock(&mu_);
        int previous = 0;
        for (const Request& r : requests_) previous += r.path == request.path;
        if (respond_) status = respond_(request.path, previous);
        requests_.push_back(request);
        mu_.Await(absl::Condition(
            +[](Receiver* self) { return !self->held_ || self->stopping_.load(); }, this));
      }
      const std::string response = "HTTP/1.1 " + std::to_string(status) +
                                   " Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
      (void)send(fd, response.data(), response.size(), MSG_NOSIGNAL);  // the client may be gone
      close(fd);
    }
  }

  static bool Read(int fd, Request* request) {
    std::string data;
    char buffer[4096];
    size_t header_end = std::string::npos;
    size_t length = 0;
    while (true) {
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          const std::string head = data.substr(0, header_end);
          const size_t space = head.find(' ');
          request->method = head.substr(0, space);
          request->path = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
          std::string lower = head;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
            length = std::stoul(head.substr(at + 17));
          }
          if (size_t at = lower.find("\r\ncontent-type:"); at != std::string::npos) {
            const size_t start = head.find_first_not_of(' ', at + 15);
            request->content_type = head.substr(start, head.find("\r\n", start) - start);
          }
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + length) {
        request->body = data.substr(header_end + 4, length);
        return true;
      }
      const ssize_t n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) return false;
      data.append(buffer, static_cast<size_t>(n));
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::function<int(const std::string&, int)> respond_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
};

constexpr char kAlertsPath[] = "/api/v2/alerts";
constexpr char kPagerDutyPath[] = "/v2/enqueue";

AlertingConfig Config(const Receiver& receiver) {
  AlertingConfig config;
  config.alertmanager_url = receiver.url();
  config.log = false;
  config.resend_ms = 60'000;  // tests that look at re-sending shorten it
  config.resolved_resend_ms = 60'000;
  config.ends_after_ms = 4 * 60'000;
  config.timeout_ms = 2000;
  return config;
}

AlertRecord Alert(const std::string& team, Severity severity, bool firing = true) {
  AlertState s;
  s.key = DriftMonitor::AlertKey("default", team, Metric::kEscalation, true);
  s.metric = Metric::kEscalation;
  s.severity = severity;
  s.firing = firing;
  s.starts_at = NowMs() - 20 * 60'000;
  s.changed_at = NowMs();
  s.baseline = 0.05;
  s.alarm_level = 0.095;
  s.observed = 0.12;
  RosterEntry entry;
  entry.team = "sales";
  entry.manager = "ana.silva";
  AlertingConfig config;
  config.labels = {{"source", "test"}};
  return Describe(s, "default", team, Roster({entry}), config);
}

// The alerts of one Alertmanager POST body.
struct PostedAlert {
  std::map<std::string, std::string> labels, annotations;
  std::set<std::string> fields;
  int64_t starts_ms = 0, ends_ms = 0;
};
std::vector<PostedAlert> ParseAlertmanager(const std::string& body) {
  std::vector<PostedAlert> out;
  simdjson::dom::parser parser;
  simdjson::dom::array alerts;
  const auto error = parser.parse(body).get(alerts);
  EXPECT_EQ(error, simdjson::SUCCESS) << body;
  if (error) return out;
  for (simdjson::dom::element element : alerts) {
    PostedAlert a;
    for (auto [key, value] : element.get_object()) a.fields.insert(std::string(key));
    for (auto [key, value] : element["labels"].get_object()) {
      a.labels[std::string(key)] = std::string(value.get_string().value());
    }
    for (auto [key, value] : element["annotations"].get_object()) {
      a.annotations[std::string(key)] = std::string(value.get_string().value());
    }
    a.starts_ms = schemas::ParseRfc3339(element["startsAt"].get_string().value()).value_or(-1);
    a.ends_ms = schemas::ParseRfc3339(element["endsAt"].get_string().value()).value_or(-1);
    out.push_back(std::move(a));
  }
  return out;
}

TEST(AlertDispatcherTest, FiringAlertIsPostedInAlertmanagerV2Shape) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.alertmanager_url += "/";  // a trailing slash does not double the path's
  AlertDispatcher dispatcher(config, nullptr);
  const AlertRecord alert = Alert("sales", Severity::kWarning);
  dispatcher.Submit(alert);
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  const Receiver::Request request = receiver.Requests(kAlertsPath)[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.content_type, "application/json");
  const std::vector<PostedAlert> posted = ParseAlertmanager(request.body);
  ASSERT_EQ(posted.size(), 1u) << request.body;
  EXPECT_EQ(posted[0].labels, alert.labels);
  EXPECT_EQ(posted[0].annotations, alert.annotations);
  for (const std::string& field : posted[0].fields) {
    EXPECT_THAT(field, testing::AnyOf("labels", "annotations", "startsAt", "endsAt", "generatorURL"));
  }
  EXPECT_TRUE(posted[0].fields.count("startsAt") && posted[0].fields.count("endsAt"));
  EXPECT_EQ(posted[0].starts_ms, alert.starts_at_ms);  // the onset (event time), before now
  // endsAt = now + ends_after, "now" being when it was sent.
  EXPECT_NEAR(static_cast<double>(posted[0].ends_ms - request.received_ms), config.ends_after_ms, 1500);
  EXPECT_EQ(dispatcher.firing(), 1u);
  EXPECT_TRUE(WaitFor([&] { return dispatcher.alertmanager.sent.load() == 1; }, 2000));
  EXPECT_EQ(dispatcher.alertmanager.failed.load(), 0u);
}

TEST(AlertDispatcherTest, OnsetInTheFutureOfTheWallClockIsClampedToNow) {
  Receiver receiver;
  AlertDispatcher dispatcher(Config(receiver), nullptr);
  AlertRecord alert = Alert("sales", Severity::kWarning);
  alert.starts_at_ms = NowMs() + 3'600'000;  // event time ahead of the wall clock
  dispatcher.Submit(alert);
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  const Receiver::Request request = receiver.Requests(kAlertsPath)[0];
  const PostedAlert posted = ParseAlertmanager(request.body).at(0);
  EXPECT_LE(posted.starts_ms, request.received_ms);
  EXPECT_LT(posted.starts_ms, posted.ends_ms);
}

TEST(AlertDispatcherTest, FiringAlertIsResentEveryResendWithAMovingEndsAt) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.resend_ms = 400;
  config.ends_after_ms = 3000;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 4; }, 5000));
  const auto requests = receiver.Requests(kAlertsPath);
  for (size_t i = 1; i < requests.size(); ++i) {
    // Never more often than `resend` (the dispatcher wakes every 200 ms).
    EXPECT_GE(requests[i].received_ms - requests[i - 1].received_ms, config.resend_ms - 50);
    EXPECT_LE(requests[i].received_ms - requests[i - 1].received_ms, config.resend_ms + 600);
    const PostedAlert previous = ParseAlertmanager(requests[i - 1].body).at(0);
    const PostedAlert current = ParseAlertmanager(requests[i].body).at(0);
    EXPECT_GT(current.ends_ms, previous.ends_ms);
    EXPECT_EQ(current.starts_ms, previous.starts_ms);
  }
  EXPECT_EQ(dispatcher.firing(), 1u);
}

TEST(AlertDispatcherTest, ResolvedAlertIsResentForResolvedResendThenForgotten) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.resend_ms = 250;
  config.resolved_resend_ms = 900;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  const size_t firing_posts = receiver.Count(kAlertsPath);
  const int64_t resolved_at = NowMs();
  dispatcher.Submit(Alert("sales", Severity::kWarning, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 0; }, 2000));
  // Sent at once and re-sent while resolved_resend lasts, then no more.
  std::this_thread::sleep_for(std::chrono::milliseconds(config.resolved_resend_ms + 800));
  const auto requests = receiver.Requests(kAlertsPath);
  std::vector<Receiver::Request> resolved;
  for (size_t i = firing_posts; i < requests.size(); ++i) {
    const PostedAlert a = ParseAlertmanager(requests[i].body).at(0);
    if (a.ends_ms <= requests[i].received_ms) resolved.push_back(requests[i]);
  }
  ASSERT_GE(resolved.size(), 3u) << "resolved alert sent once, then re-sent every 250 ms for 900 ms";
  for (const auto& r : resolved) {
    EXPECT_LE(r.received_ms - resolved_at, config.resolved_resend_ms + 500);
    const PostedAlert a = ParseAlertmanager(r.body).at(0);
    EXPECT_GE(a.ends_ms, resolved_at - 1000);  // endsAt = when it resolved
  }
  const size_t settled = receiver.Count(kAlertsPath);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(receiver.Count(kAlertsPath), settled) << "a resolved alert was still re-sent after resolved_resend";
  EXPECT_EQ(dispatcher.ActiveJson(), "[]");
}

TEST(AlertDispatcherTest, ActiveJsonListsFiringAlertsAsAlertObjects) {
  Receiver receiver;
  AlertDispatcher dispatcher(Config(receiver), nullptr);
  const AlertRecord alert = Alert("sales", Severity::kCritical);
  dispatcher.Submit(alert);
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 1; }, 3000));
  simdjson::dom::parser parser;
  simdjson::dom::array active = parser.parse(dispatcher.ActiveJson()).get_array().value();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active.at(0)["key"].get_string().value(), alert.key_hex);
  EXPECT_EQ(active.at(0)["status"].get_string().value(), "firing");
}

struct PagerDutyEvent {
  std::string action, dedup_key, routing_key, severity;
};
PagerDutyEvent ParsePagerDuty(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(body).value();
  PagerDutyEvent out;
  out.action = std::string(e["event_action"].get_string().value());
  out.dedup_key = std::string(e["dedup_key"].get_string().value());
  out.routing_key = std::string(e["routing_key"].get_string().value());
  std::string_view severity;
  if (e["payload"]["severity"].get(severity) == simdjson::SUCCESS) out.severity = std::string(severity);
  return out;
}

TEST(AlertDispatcherTest, PagerDutyIsPagedForCriticalOnlyThenResolvedWithTheSameDedupKey) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.pagerduty_routing_key = "routing-key-1";
  config.pagerduty_url = receiver.url() + kPagerDutyPath;
  AlertDispatcher dispatcher(config, nullptr);

  dispatcher.Submit(Alert("sales", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(receiver.Count(kPagerDutyPath), 0u) << "a warning must not page";

  const AlertRecord critical = Alert("sales", Severity::kCritical);
  dispatcher.Submit(critical);
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kPagerDutyPath) >= 1; }, 5000));
  dispatcher.Submit(Alert("sales", Severity::kCritical));  // the same state again: no second page
  dispatcher.Submit(Alert("sales", Severity::kCritical, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kPagerDutyPath) >= 2; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto pages = receiver.Requests(kPagerDutyPath);
  ASSERT_EQ(pages.size(), 2u);
  const PagerDutyEvent trigger = ParsePagerDuty(pages[0].body);
  const PagerDutyEvent resolve = ParsePagerDuty(pages[1].body);
  EXPECT_EQ(trigger.action, "trigger");
  EXPECT_EQ(trigger.severity, "critical");
  EXPECT_EQ(trigger.routing_key, "routing-key-1");
  EXPECT_EQ(trigger.dedup_key, critical.key_hex);
  EXPECT_EQ(resolve.action, "resolve");
  EXPECT_EQ(resolve.dedup_key, critical.key_hex);
  EXPECT_EQ(resolve.routing_key, "routing-key-1");
  EXPECT_EQ(dispatcher.pagerduty.sent.load(), 2u);
}

TEST(AlertDispatcherTest, EscalationResolvesTheWarningLabelSetInAlertmanager) {
  Receiver receiver;
  AlertDispatcher dispatcher(Config(receiver), nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  dispatcher.Submit(Alert("sales", Severity::kCritical));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 2; }, 5000));
  const Receiver::Request second = receiver.Requests(kAlertsPath)[1];
  const std::vector<PostedAlert> posted = ParseAlertmanager(second.body);
  ASSERT_EQ(posted.size(), 2u) << second.body;
  std::map<std::string, const PostedAlert*> by_severity;
  for (const PostedAlert& a : posted) by_severity[a.labels.at("severity")] = &a;
  ASSERT_TRUE(by_severity.count("warning") && by_severity.count("critical"));
  EXPECT_LE(by_severity["warning"]->ends_ms, second.received_ms);  // resolved
  EXPECT_GT(by_severity["critical"]->ends_ms, second.received_ms);  // firing
  EXPECT_EQ(dispatcher.firing(), 1u);
}

TEST(AlertDispatcherTest, WarningThatResolvesNeverPages) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.pagerduty_routing_key = "routing-key-1";
  config.pagerduty_url = receiver.url() + kPagerDutyPath;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  dispatcher.Submit(Alert("sales", Severity::kWarning, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(receiver.Count(kPagerDutyPath), 0u);
}

TEST(AlertDispatcherTest, RetriesWithBackoffOn429And5xx) {
  Receiver receiver;
  receiver.SetResponder([](const std::string& path, int previous) {
    if (path != kPagerDutyPath) return 200;
    return previous == 0 ? 429 : previous == 1 ? 503 : 202;
  });
  AlertingConfig config = Config(receiver);
  config.alertmanager_url.clear();
  config.pagerduty_routing_key = "routing-key-1";
  config.pagerduty_url = receiver.url() + kPagerDutyPath;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kCritical));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kPagerDutyPath) >= 3; }, 8000));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.pagerduty.sent.load() == 1; }, 2000));
  const auto attempts = receiver.Requests(kPagerDutyPath);
  // Backoff 1 s, then 2 s; the same body every time.
  EXPECT_GE(attempts[1].received_ms - attempts[0].received_ms, 900);
  EXPECT_GE(attempts[2].received_ms - attempts[1].received_ms, 1900);
  EXPECT_GT(attempts[2].received_ms - attempts[1].received_ms, attempts[1].received_ms - attempts[0].received_ms);
  EXPECT_EQ(attempts[0].body, attempts[2].body);
  EXPECT_EQ(dispatcher.pagerduty.retried.load(), 2u);
  EXPECT_EQ(dispatcher.pagerduty.failed.load(), 0u);
}

TEST(AlertDispatcherTest, DoesNotRetryOnOther4xxAndCountsItFailed) {
  Receiver receiver;
  receiver.SetResponder([](const std::string&, int) { return 400; });
  AlertingConfig config = Config(receiver);
  config.pagerduty_routing_key = "routing-key-1";
  config.pagerduty_url = receiver.url() + kPagerDutyPath;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kCritical));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.alertmanager.failed.load() == 1 && dispatcher.pagerduty.failed.load() == 1; },
                      5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // longer than the first backoff
  EXPECT_EQ(receiver.Count(kAlertsPath), 1u);
  EXPECT_EQ(receiver.Count(kPagerDutyPath), 1u);
  EXPECT_EQ(dispatcher.alertmanager.retried.load(), 0u);
  EXPECT_EQ(dispatcher.pagerduty.retried.load(), 0u);
  EXPECT_EQ(dispatcher.alertmanager.sent.load(), 0u);
}

TEST(AlertDispatcherTest, ResolveWaitsBehindARetriedTriggerOfTheSameKey) {
  Receiver receiver;
  receiver.SetResponder([](const std::string& path, int previous) {
    return path == kPagerDutyPath && previous == 0 ? 503 : 202;
  });
  AlertingConfig config = Config(receiver);
  config.alertmanager_url.clear();
  config.pagerduty_routing_key = "routing-key-1";
  config.pagerduty_url = receiver.url() + kPagerDutyPath;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kCritical));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kPagerDutyPath) >= 1; }, 5000));
  dispatcher.Submit(Alert("sales", Severity::kCritical, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kPagerDutyPath) >= 3; }, 5000));
  const auto pages = receiver.Requests(kPagerDutyPath);
  EXPECT_EQ(ParsePagerDuty(pages[0].body).action, "trigger");
  EXPECT_EQ(ParsePagerDuty(pages[1].body).action, "trigger");
  EXPECT_EQ(ParsePagerDuty(pages[2].body).action, "resolve");
}

// The API lists "firing or recently resolved" alerts: without Alertmanager configured, a
// resolved alert must still leave the list once resolved_resend has passed.
TEST(AlertDispatcherTest, ResolvedAlertIsForgottenWithoutAlertmanager) {
  AlertingConfig config;
  config.log = false;
  config.resolved_resend_ms = 300;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  dispatcher.Submit(Alert("sales", Severity::kWarning, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.ActiveJson() != "[]"; }, 2000));
  EXPECT_TRUE(WaitFor([&] { return dispatcher.ActiveJson() == "[]"; }, 1500)) << dispatcher.ActiveJson();
}

// An instance that stands by forgets its firing alerts without resolving them (the instance
// taking over sends them on under the same keys) and stops re-sending them; a resolve queued
// before is still delivered.
TEST(AlertDispatcherTest, RetiredAlertsAreNeitherResolvedNorResentButQueuedResolvesGoOut) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.resend_ms = 300;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  dispatcher.Submit(Alert("care", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1 && dispatcher.firing() == 2; }, 3000));
  dispatcher.Submit(Alert("care", Severity::kWarning, /*firing=*/false));
  dispatcher.Retire();
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 0; }, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // > 3 resend periods
  int sales_posts = 0, care_resolved = 0;
  int64_t last_sales_ms = 0;
  for (const auto& request : receiver.Requests(kAlertsPath)) {
    for (const PostedAlert& alert : ParseAlertmanager(request.body)) {
      if (alert.labels.at("team") == "sales") {
        ++sales_posts;
        last_sales_ms = request.received_ms;
        EXPECT_GT(alert.ends_ms, request.received_ms) << "a retired alert is never posted as resolved";
      } else if (alert.ends_ms <= request.received_ms) {
        ++care_resolved;
      }
    }
  }
  EXPECT_GE(sales_posts, 1);
  EXPECT_LT(NowMs() - last_sales_ms, 5000);
  EXPECT_GE(NowMs() - last_sales_ms, 900) << "re-sent after it was retired";
  EXPECT_GE(care_resolved, 1) << "the resolve queued before the retirement went out";
}

// A takeover right after a retirement (the same instance given its partitions back): the alerts
// it resumes are kept, though queued in the same pass as the retirement.
TEST(AlertDispatcherTest, AlertsSubmittedAfterRetireAreKept) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  dispatcher.Submit(Alert("care", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 2; }, 3000));
  dispatcher.Retire();
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // > 2 passes
  EXPECT_EQ(dispatcher.firing(), 1u) << dispatcher.ActiveJson();
  EXPECT_NE(dispatcher.ActiveJson().find("\"sales\""), std::string::npos) << dispatcher.ActiveJson();
}

// A team partition that went to another instance: only its teams' firing alerts are retired
// (not resolved, no longer re-sent); the others stay firing and are re-sent.
TEST(AlertDispatcherTest, RetiringKeysForgetsOnlyThoseAlerts) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.resend_ms = 300;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  dispatcher.Submit(Alert("care", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 2; }, 3000));
  dispatcher.Retire({DriftMonitor::AlertKey("default", "care", Metric::kEscalation, true)});
  ASSERT_TRUE(WaitFor([&] { return dispatcher.firing() == 1; }, 2000)) << dispatcher.ActiveJson();
  EXPECT_NE(dispatcher.ActiveJson().find("\"sales\""), std::string::npos) << dispatcher.ActiveJson();
  const int64_t retired_ms = NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // > 3 resend periods
  int64_t last_care_ms = 0, last_sales_ms = 0;
  for (const auto& request : receiver.Requests(kAlertsPath)) {
    for (const PostedAlert& alert : ParseAlertmanager(request.body)) {
      EXPECT_GT(alert.ends_ms, request.received_ms) << "nothing is posted as resolved";
      (alert.labels.at("team") == "care" ? last_care_ms : last_sales_ms) = request.received_ms;
    }
  }
  EXPECT_LT(last_care_ms, retired_ms + 300) << "a retired alert is not re-sent";
  EXPECT_GT(last_sales_ms, retired_ms + 300) << "the others are";
}

// A port nobody listens on: bind, read the port, close.
int RefusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(AlertDispatcherTest, ConnectionRefusedIsRetriedNotLost) {
  AlertingConfig config;
  config.log = false;
  config.alertmanager_url = "http://127.0.0.1:" + std::to_string(RefusedPort());
  config.timeout_ms = 1000;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("sales", Severity::kWarning));
  EXPECT_TRUE(WaitFor([&] { return dispatcher.alertmanager.retried.load() >= 1; }, 5000));
  EXPECT_EQ(dispatcher.alertmanager.sent.load(), 0u);
  EXPECT_EQ(dispatcher.alertmanager.failed.load(), 0u);  // still trying (backoff up to 16 s)
}

TEST(AlertDispatcherTest, EndpointThatNeverAnswersDoesNotBlockSubmitAndStopIsBounded) {
  Receiver receiver;
  receiver.Hold(true);
  AlertingConfig config = Config(receiver);
  config.timeout_ms = 600;
  std::vector<AlertRecord> alerts;
  for (int i = 0; i < 2000; ++i) alerts.push_back(Alert("team-" + std::to_string(i % 50), Severity::kWarning));
  auto dispatcher = std::make_unique<AlertDispatcher>(config, nullptr);
  dispatcher->Submit(Alert("sales", Severity::kWarning));
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));  // now stuck in the POST
  const auto start = std::chrono::steady_clock::now();
  for (AlertRecord& alert : alerts) dispatcher->Submit(std::move(alert));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 200);
  ASSERT_TRUE(WaitFor([&] { return dispatcher->alertmanager.retried.load() >= 1; }, 3000))
      << "a timed-out POST is retried";
  const auto stop_start = std::chrono::steady_clock::now();
  dispatcher.reset();
  const auto stop_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_start).count();
  EXPECT_LT(stop_ms, 3 * config.timeout_ms + 500);
  receiver.Hold(false);
}

TEST(AlertDispatcherTest, FullQueueDropsTheOldestChangesAndCountsThem) {
  Receiver receiver;
  receiver.Hold(true);
  AlertingConfig config = Config(receiver);
  config.queue_limit = 3;
  config.resend_ms = 600'000;
  AlertDispatcher dispatcher(config, nullptr);
  dispatcher.Submit(Alert("first", Severity::kWarning));
  // The dispatcher's thread is now inside the POST of "first" and takes no changes.
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 1; }, 5000));
  for (int i = 0; i < 10; ++i) dispatcher.Submit(Alert("team-" + std::to_string(i), Severity::kWarning));
  EXPECT_EQ(dispatcher.alertmanager.dropped.load(), 7u);
  receiver.Hold(false);
  ASSERT_TRUE(WaitFor([&] { return receiver.Count(kAlertsPath) >= 2; }, 5000));
  std::set<std::string> teams;
  for (const PostedAlert& a : ParseAlertmanager(receiver.Requests(kAlertsPath)[1].body)) {
    teams.insert(a.labels.at("team"));
  }
  EXPECT_EQ(teams, (std::set<std::string>{"team-7", "team-8", "team-9"}));
}

TEST(AlertDispatcherTest, EveryChangeGoesToKafkaKeyedByDedupKey) {
  Receiver receiver;
  AlertingConfig config = Config(receiver);
  config.alertmanager_url.clear();
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> produced;
  bool accept = true;
  AlertDispatcher dispatcher(config, [&](const std::string& key, const std::string& value) {
    absl::MutexLock lock(&mu);
    produced.emplace_back(key, value);
    return accept;
  });
  const AlertRecord firing = Alert("sales", Severity::kWarning);
  dispatcher.Submit(firing);
  dispatcher.Submit(Alert("sales", Severity::kWarning, /*firing=*/false));
  ASSERT_TRUE(WaitFor([&] { return dispatcher.kafka.sent.load() == 2; }, 3000));
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(produced.size(), 2u);
    simdjson::dom::parser parser;
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(produced[i].first, firing.key_hex);
      simdjson::dom::element record = parser.parse(produced[i].second).value();
      EXPECT_EQ(record["alert"]["key"].get_string().value(), firing.key_hex);
      EXPECT_EQ(record["alert"]["status"].get_string().value(), i == 0 ? "firing" : "resolved");
    }
    accept = false;
  }
  dispatcher.Submit(Alert("care", Severity::kWarning));
  EXPECT_TRUE(WaitFor([&] { return dispatcher.kafka.failed.load() == 1; }, 3000));
}

}  // namespace
}  // namespace ccpulse::alerting
