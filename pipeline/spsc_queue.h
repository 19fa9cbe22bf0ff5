// A bounded single-producer single-consumer queue: the hand-off between a source's fetch
// thread and its worker. Lock-free; capacity is a power of two.
#ifndef CCPULSE_PIPELINE_SPSC_QUEUE_H_
#define CCPULSE_PIPELINE_SPSC_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <optional>
#include <vector>

namespace ccpulse {

// Thread-safe for exactly one pushing thread and one popping thread.
template <typename T>
class SpscQueue {
 public:
  explicit SpscQueue(size_t capacity_pow2) : slots_(capacity_pow2), mask_(capacity_pow2 - 1) {}

  // False when full (the item is left untouched).
  bool TryPush(T& item) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) == slots_.size()) return false;
    slots_[tail & mask_] = std::move(item);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  std::optional<T> TryPop() {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return std::nullopt;
    std::optional<T> item(std::move(slots_[head & mask_]));
    head_.store(head + 1, std::memory_order_release);
    return item;
  }

  size_t size() const { return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire); }

 private:
  std::vector<T> slots_;
  const size_t mask_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_SPSC_QUEUE_H_
