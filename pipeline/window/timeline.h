// A calendar queue of records keyed by event-time slice: operators put records at the slice of
// their time as events arrive (in any order); the worker takes whole slices in time order once
// the watermark has passed them. This is what makes order-sensitive logic (repeat contacts,
// oldest wait, expiry) see events in event-time order without buffering whole events.
#ifndef CCPULSE_PIPELINE_WINDOW_TIMELINE_H_
#define CCPULSE_PIPELINE_WINDOW_TIMELINE_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"

namespace ccpulse::window {

// Worker-local. Vectors of taken slices are recycled, so steady-state inserts do not allocate.
template <typename Record>
class Timeline {
 public:
  void Insert(int64_t slice, const Record& record) {
    if (slice != cached_slice_ || cached_ == nullptr) {
      auto [it, inserted] = slices_.try_emplace(slice);
      if (inserted && !spare_.empty()) {
        it->second = std::move(spare_.back());
        spare_.pop_back();
      }
      cached_slice_ = slice;
      cached_ = &it->second;
    }
    cached_->push_back(record);
    ++size_;
  }

  // Earliest slice holding records, or INT64_MAX when empty.
  int64_t FirstSlice() const { return slices_.empty() ? INT64_MAX : slices_.begin()->first; }

  // Moves the records of the earliest slice into `*out` when that slice is < `limit`; returns the
  // slice, or INT64_MAX when there is none. The previous buffer of `*out` is kept for reuse.
  int64_t TakeFirstBefore(int64_t limit, std::vector<Record>* out) {
    if (slices_.empty() || slices_.begin()->first >= limit) return INT64_MAX;
    auto it = slices_.begin();
    const int64_t slice = it->first;
    out->clear();
    out->swap(it->second);
    spare_.push_back(std::move(it->second));
    slices_.erase(it);
    cached_ = nullptr;
    size_ -= out->size();
    return slice;
  }

  template <typename Ar>
  void Persist(Ar& ar) {
    ar(slices_, size_);
    cached_slice_ = INT64_MIN;
    cached_ = nullptr;
  }

  size_t size() const { return size_; }
  size_t slice_count() const { return slices_.size(); }

 private:
  absl::btree_map<int64_t, std::vector<Record>> slices_;
  std::vector<std::vector<Record>> spare_;
  int64_t cached_slice_ = INT64_MIN;
  std::vector<Record>* cached_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_TIMELINE_H_
