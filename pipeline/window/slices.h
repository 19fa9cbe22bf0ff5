// Event time cut into fixed slices: every event time maps to exactly one slice; windows are
// whole numbers of slices, so a slice is the unit of window update and eviction.
#ifndef CCPULSE_PIPELINE_WINDOW_SLICES_H_
#define CCPULSE_PIPELINE_WINDOW_SLICES_H_

#include <cstdint>

namespace ccpulse::window {

// Maps epoch milliseconds to slice indexes. Value class.
class SliceAssigner {
 public:
  explicit SliceAssigner(int64_t slice_ms) : slice_ms_(slice_ms) {}

  int64_t slice_ms() const { return slice_ms_; }
  // Floor division, also for times before the epoch.
  int64_t SliceOf(int64_t time_ms) const {
    const int64_t q = time_ms / slice_ms_;
    return (time_ms % slice_ms_ < 0) ? q - 1 : q;
  }
  int64_t StartOf(int64_t slice) const { return slice * slice_ms_; }

 private:
  int64_t slice_ms_;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_SLICES_H_
