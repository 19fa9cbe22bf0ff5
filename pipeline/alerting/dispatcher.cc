// Alert dispatcher and sinks; see dispatcher.h.
#include "pipeline/alerting/dispatcher.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "absl/time/clock.h"
#include "schemas/time_format.h"

namespace ccpulse::alerting {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

constexpr int kMaxAttempts = 6;
// A key for the superseded (warning) label set of an alert that escalated to critical.
constexpr uint64_t kSupersededTag = 0x5eedf00d5eedf00dULL;

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

bool Retryable(long status) { return status == 0 || status == 429 || status >= 500; }

}  // namespace

HttpResult PostJson(const std::string& url, const std::string& body, int64_t timeout_ms) {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  HttpResult result;
  if (!initialised) {
    result.error = "libcurl did not initialise";
    return result;
  }
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  const CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  } else {
    result.error = curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

AlertDispatcher::AlertDispatcher(AlertingConfig config, KafkaSend kafka_send)
    : config_(std::move(config)), kafka_send_(std::move(kafka_send)) {
  thread_ = std::thread([this] { Run(); });
}

AlertDispatcher::~AlertDispatcher() { Stop(); }

void AlertDispatcher::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
}

void AlertDispatcher::Submit(AlertRecord alert) {
  absl::MutexLock lock(&queue_mu_);
  if (queue_.size() >= config_.queue_limit) {
    queue_.pop_front();
    ++alertmanager.dropped;
    for (Retirement& r : retirements_) r.at -= r.at > 0;
  }
  queue_.push_back(std::move(alert));
}

void AlertDispatcher::Retire() {
  absl::MutexLock lock(&queue_mu_);
  // The dispatcher thread applies the changes queued so far, then forgets the firing ones.
  retirements_.push_back({queue_.size(), true, {}});
}

void AlertDispatcher::Retire(std::vector<uint64_t> keys) {
  if (keys.empty()) return;
  absl::MutexLock lock(&queue_mu_);
  retirements_.push_back({queue_.size(), false, std::move(keys)});
}

size_t AlertDispatcher::firing() const {
  absl::MutexLock lock(&active_mu_);
  size_t n = 0;
  for (const auto& [key, a] : active_) n += a.record.firing && a.record.key == key;
  return n;
}

std::string AlertDispatcher::ActiveJson() const {
  std::string out;
  JsonWriter json(&out);
  json.BeginArray();
  absl::MutexLock lock(&active_mu_);
  for (const auto& [key, a] : active_) {
    if (a.record.key != key) continue;  // superseded label sets are Alertmanager bookkeeping
    WriteAlert(a.record, json);
  }
  json.EndArray();
  return out;
}

std::string AlertDispatcher::AlertmanagerJson(const AlertRecord& a, int64_t now_ms, int64_t ends_ms) {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject();
  json.Key("labels").BeginObject();
  for (const auto& [k, v] : a.labels) json.Key(k).String(v);
  json.EndObject();
  json.Key("annotations").BeginObject();
  for (const auto& [k, v] : a.annotations) json.Key(k).String(v);
  json.EndObject();
  // The onset is in event time; Alertmanager needs startsAt <= endsAt in wall time.
  json.Key("startsAt").String(schemas::FormatRfc3339(std::min(a.starts_at_ms, now_ms)));
  json.Key("endsAt").String(schemas::FormatRfc3339(ends_ms));
  json.EndObject();
  return out;
}

void AlertDispatcher::Apply(AlertRecord record, int64_t now_ms) {
  const uint64_t key = record.key;
  // Structured log and Kafka: every change.
  std::string line;
  JsonWriter json(&line);
  json.BeginObject().Key("alert");
  WriteAlert(record, json);
  json.EndObject();
  if (config_.log && !record.restored) {
    std::fprintf(stderr, "%s\n", line.c_str());
    ++log.sent;
  }
  if (kafka_send_ && !record.restored) {
    if (kafka_send_(record.key_hex, line)) ++kafka.sent;
    else ++kafka.failed;
  }
  const auto [it, inserted] = active_.try_emplace(key);
  Active& active = it->second;
  if (!inserted && record.firing && active.record.firing && active.record.severity != record.severity) {
    // Escalated (or de-escalated) while firing. Alertmanager identifies alerts by labels: resolve
    // the previous severity's label set.
    Active superseded;
    superseded.record = active.record;
    superseded.record.firing = false;
    superseded.resolved_at_ms = now_ms;
    active_[key ^ kSupersededTag] = std::move(superseded);
  }
  const bool was_critical = active.record.severity == "critical";
  active.record = record;
  active.last_sent_ms = 0;  // send now
  active.resolved_at_ms = record.firing ? 0 : now_ms;
  // PagerDuty: critical only; trigger once, resolve if it was paged.
  if (!config_.pagerduty_routing_key.empty()) {
    std::string body;
    JsonWriter pd(&body);
    if (record.firing && record.severity == "critical" && !active.paged) {
      pd.BeginObject();
      pd.Key("routing_key").String(config_.pagerduty_routing_key);
      pd.Key("event_action").String("trigger");
      pd.Key("dedup_key").String(record.key_hex);
      pd.Key("payload").BeginObject();
      pd.Key("summary").String(record.annotations["summary"].substr(0, 1024));
      pd.Key("source").String("ccpulse");
      pd.Key("severity").String("critical");
      pd.Key("timestamp").String(schemas::FormatRfc3339(std::min(record.starts_at_ms, now_ms)));
      pd.Key("component").String(record.team);
      pd.Key("group").String(record.tenant);
      pd.Key("class").String(record.metric);
      pd.Key("custom_details").BeginObject();
      for (const auto& [k, v] : record.annotations) pd.Key(k).String(v);
      pd.Key("manager").String(record.manager);
      pd.EndObject();
      pd.EndObject();
      pd.EndObject();
      active.paged = true;
      Enqueue({config_.pagerduty_url, std::move(body), record.key_hex, 0, 0, &pagerduty});
    } else if (!record.firing && (active.paged || was_critical)) {
      pd.BeginObject();
      pd.Key("routing_key").String(config_.pagerduty_routing_key);
      pd.Key("event_action").String("resolve");
      pd.Key("dedup_key").String(record.key_hex);
      pd.EndObject();
      active.paged = false;
      Enqueue({config_.pagerduty_url, std::move(body), record.key_hex, 0, 0, &pagerduty});
    }
  }
}

void AlertDispatcher::SendAlertmanager(int64_t now_ms, bool force_all) {
  // Resolved alerts are forgotten after resolved_resend whether or not Alertmanager is configured.
  const bool send = !config_.alertmanager_url.empty();
  std::string body = "[";
  size_t count = 0;
  {
    absl::MutexLock lock(&active_mu_);
    for (auto it = active_.begin(); it != active_.end();) {
      Active& a = it->second;
      if (!a.record.firing && now_ms - a.resolved_at_ms > config_.resolved_resend_ms) {
        it = active_.erase(it);
        continue;
      }
      if (send && (force_all || a.last_sent_ms == 0 || now_ms - a.last_sent_ms >= config_.resend_ms)) {
        if (count++ > 0) body += ",";
        body += AlertmanagerJson(a.record, now_ms,
                                 a.record.firing ? now_ms + config_.ends_after_ms : a.resolved_at_ms);
        a.last_sent_ms = now_ms;
      }
      ++it;
    }
  }
  body += "]";
  if (count == 0) return;
  std::string url = config_.alertmanager_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  Enqueue({url + "/api/v2/alerts", std::move(body), "", 0, 0, &alertmanager});
}

void AlertDispatcher::Enqueue(Delivery delivery) {
  if (deliveries_.size() >= config_.queue_limit) {
    ++deliveries_.front().stats->dropped;
    deliveries_.pop_front();
  }
  deliveries_.push_back(std::move(delivery));
}

void AlertDispatcher::Deliver(int64_t now_ms) {
  // A resolve must not overtake the trigger it resolves: once a key's delivery waits, the
  // later deliveries of that key wait behind it.
  std::vector<std::string> waiting;
  auto blocked = [&](const std::string& key) {
    return !key.empty() && std::find(waiting.begin(), waiting.end(), key) != waiting.end();
  };
  std::deque<Delivery> later;
  while (!deliveries_.empty()) {
    Delivery d = std::move(deliveries_.front());
    deliveries_.pop_front();
    if (d.next_ms > now_ms || blocked(d.key)) {
      if (!d.key.empty()) waiting.push_back(d.key);
      later.push_back(std::move(d));
      continue;
    }
    const HttpResult r = PostJson(d.url, d.body, config_.timeout_ms);
    ++d.attempts;
    if (r.status >= 200 && r.status < 300) {
      ++d.stats->sent;
      continue;
    }
    if (Retryable(r.status) && d.attempts < kMaxAttempts) {
      ++d.stats->retried;
      d.next_ms = now_ms + (1000LL << (d.attempts - 1));  // 1, 2, 4, 8, 16 s
      if (!d.key.empty()) waiting.push_back(d.key);
      later.push_back(std::move(d));
      continue;
    }
    ++d.stats->failed;
    std::fprintf(stderr, "ccpulse: alert delivery to %s failed after %d attempt(s): %s\n", d.url.c_str(),
                 d.attempts, r.status ? fmt::format("HTTP {}", r.status).c_str() : r.error.c_str());
  }
  deliveries_.swap(later);
}

void AlertDispatcher::Run() {
  while (true) {
    const bool stopping = stop_.load();
    const int64_t now = NowMs();
    std::deque<AlertRecord> batch;
    std::vector<Retirement> retirements;
    {
      absl::MutexLock lock(&queue_mu_);
      batch.swap(queue_);
      retirements.swap(retirements_);
    }
    {
      absl::MutexLock lock(&active_mu_);
      size_t r = 0;
      for (size_t i = 0; i <= batch.size(); ++i) {
        // Changes queued before Retire() first; then the firing alerts are forgotten (resolved
        // ones are still sent until resolved_resend); then what came after (a takeover's).
        for (; r < retirements.size() && retirements[r].at == i; ++r) {
          const Retirement& retire = retirements[r];
          std::erase_if(active_, [&](const auto& entry) {
            const AlertRecord& a = entry.second.record;
            return a.firing && (retire.all || std::find(retire.keys.begin(), retire.keys.end(), a.key) != retire.keys.end());
          });
        }
        if (i < batch.size()) Apply(std::move(batch[i]), now);
      }
    }
    SendAlertmanager(now, /*force_all=*/false);
    Deliver(now);
    if (stopping) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace ccpulse::alerting
