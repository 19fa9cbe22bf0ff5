// Alert delivery in wall time (DESIGN §5 lifecycle and sinks): a firing alert is sent at once
// and re-sent every minute with endsAt = now + 4 m; a resolved one is sent and re-sent for 5
// minutes. Sinks: Alertmanager v2, PagerDuty Events v2 (critical only), a Kafka topic and the
// structured log. Retries with backoff on 429/5xx and network errors, not on other 4xx; a dead
// sink never blocks processing: its own thread, a bounded queue, everything counted.
#ifndef CCPULSE_PIPELINE_ALERTING_DISPATCHER_H_
#define CCPULSE_PIPELINE_ALERTING_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "pipeline/alerting/alerts.h"

namespace ccpulse::alerting {

// Counters per sink (thread-safe reads).
struct SinkStats {
  std::atomic<uint64_t> sent{0};       // messages accepted by the receiver
  std::atomic<uint64_t> retried{0};    // attempts that will be tried again
  std::atomic<uint64_t> failed{0};     // given up (4xx, or retries exhausted)
  std::atomic<uint64_t> dropped{0};    // queue full
};

// Result of one HTTP POST: status code, or 0 with an error for network failures.
struct HttpResult {
  long status = 0;
  std::string error;
};
// POSTs `body` as JSON. Blocking, bounded by `timeout_ms`.
HttpResult PostJson(const std::string& url, const std::string& body, int64_t timeout_ms);

// Thread-safe: Submit from the worker, everything else on the dispatcher's thread.
class AlertDispatcher {
 public:
  // Produces to the alerts topic (key, value); returns false when not even queued.
  using KafkaSend = std::function<bool(const std::string& key, const std::string& value)>;

  AlertDispatcher(AlertingConfig config, KafkaSend kafka_send);
  ~AlertDispatcher();

  // Queues an alert change. Never blocks; counted as dropped when the queue is full.
  void Submit(AlertRecord alert);
  // After the changes queued so far, forgets the firing alerts without resolving them (the
  // instance stands by; the one taking its partitions over sends them on, same keys). Resolved
  // ones are still re-sent until resolved_resend.
  void Retire();
  // The same for the alerts of `keys` only (their teams' partition went to another instance,
  // which decides about them from then on).
  void Retire(std::vector<uint64_t> keys);
  // Alerts firing now, and resolved ones still being re-sent, as a JSON array (for the API).
  std::string ActiveJson() const;
  size_t firing() const;

  SinkStats alertmanager, pagerduty, kafka, log;

  // Stops after a last attempt to deliver what is pending (bounded by the HTTP timeout).
  void Stop();

 private:
  struct Active {
    AlertRecord record;            // current state
    int64_t last_sent_ms = 0;      // Alertmanager
    int64_t resolved_at_ms = 0;    // wall time of resolution, 0 while firing
    bool paged = false;            // a PagerDuty trigger was sent
  };
  struct Delivery {
    std::string url;
    std::string body;
    std::string key;  // deliveries with the same key go out in order (PagerDuty dedup key)
    int attempts = 0;
    int64_t next_ms = 0;
    SinkStats* stats = nullptr;
  };
  void Run();
  void Apply(AlertRecord record, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(active_mu_);
  void SendAlertmanager(int64_t now_ms, bool force_all);
  void Enqueue(Delivery delivery);
  void Deliver(int64_t now_ms);
  static std::string AlertmanagerJson(const AlertRecord& a, int64_t now_ms, int64_t ends_ms);

  const AlertingConfig config_;
  KafkaSend kafka_send_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  absl::Mutex queue_mu_;
  std::deque<AlertRecord> queue_ ABSL_GUARDED_BY(queue_mu_);
  // Retire() calls since the last pass: after how many of the changes queued, and of which keys.
  struct Retirement {
    size_t at = 0;
    bool all = false;
    std::vector<uint64_t> keys;
  };
  std::vector<Retirement> retirements_ ABSL_GUARDED_BY(queue_mu_);
  mutable absl::Mutex active_mu_;
  std::map<uint64_t, Active> active_ ABSL_GUARDED_BY(active_mu_);
  std::deque<Delivery> deliveries_;  // dispatcher thread only
};

}  // namespace ccpulse::alerting

#endif  // CCPULSE_PIPELINE_ALERTING_DISPATCHER_H_
