// Snapshot publication: one writer replaces the latest immutable value, any number of readers
// take it. Readers never block the writer and never see a half-built value.
#ifndef CCPULSE_PIPELINE_METRICS_PUBLISHER_H_
#define CCPULSE_PIPELINE_METRICS_PUBLISHER_H_

#include <atomic>
#include <memory>

namespace ccpulse::metrics {

// Thread-safe.
template <typename T>
class Publisher {
 public:
  void Publish(std::shared_ptr<const T> value) { latest_.store(std::move(value), std::memory_order_release); }
  std::shared_ptr<const T> Latest() const { return latest_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::shared_ptr<const T>> latest_;
};

}  // namespace ccpulse::metrics

#endif  // CCPULSE_PIPELINE_METRICS_PUBLISHER_H_
