// Trailing windows of several lengths over one stream of slice-stamped entries, with
// subtract-on-evict: each window aggregate holds exactly the entries of slices
// [end - length, end). Entries are stored once, 8 bytes each, in slice order.
#ifndef CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_
#define CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace ccpulse::window {

// `Agg` is an invertible aggregate: `void Apply(uint8_t kind, uint32_t value, int sign)` with
// Apply(k, v, +1) followed by Apply(k, v, -1) restoring the previous value exactly.
//
// Invariants: entries are added in non-decreasing slice order; window i's aggregate equals the
// sum of the non-retracted entries with slice in [end - length_i, end). Slices are kept as the
// low 16 bits of their index, so the longest window must be shorter than 32768 slices.
// Worker-local; not thread-safe.
template <typename Agg>
class SlidingWindows {
 public:
  static constexpr int64_t kMaxLengthSlices = 32767;

  SlidingWindows() = default;
  explicit SlidingWindows(std::span<const int64_t> lengths_in_slices)
      : lengths_(lengths_in_slices.begin(), lengths_in_slices.end()),
        windows_(lengths_.size()),
        cursors_(lengths_.size(), 0) {
    for (int64_t length : lengths_) {
      if (length > max_length_) max_length_ = length;
    }
  }

  size_t window_count() const { return windows_.size(); }
  int64_t end() const { return end_; }

  // Window `i` as of the current end. Call AdvanceTo first to read at a later end.
  const Agg& window(size_t i) const { return windows_[i]; }

  // Moves every window's end forward to `end` (never backwards), evicting entries.
  void AdvanceTo(int64_t end) {
    if (end <= end_) return;
    end_ = end;
    for (size_t w = 0; w < windows_.size(); ++w) {
      const int64_t start = end_ - lengths_[w];
      while (cursors_[w] < tail_ && SliceAt(cursors_[w], start) < start) {
        const Stored& s = At(cursors_[w]);
        if (!s.retracted) windows_[w].Apply(s.kind, s.value, -1);
        ++cursors_[w];
      }
    }
    const int64_t oldest = end_ - max_length_;
    while (head_ < tail_ && SliceAt(head_, oldest) < oldest) ++head_;
  }

  // Adds an entry to `slice` and moves the end to slice + 1, so it is in every window at once.
  // `slice` must be >= the slice of every earlier entry.
  void Add(int64_t slice, uint8_t kind, uint32_t value) {
    AdvanceTo(slice + 1);
    if (tail_ - head_ == ring_.size()) Grow();
    At(tail_) = Stored{value, static_cast<uint16_t>(slice), kind, false};
    ++tail_;
    for (Agg& w : windows_) w.Apply(kind, value, +1);
  }

  // Takes back one earlier entry (kind, value) of `slice` from the windows that still hold it.
  // Returns false when no such entry is held any more (it was evicted or never added).
  bool Retract(int64_t slice, uint8_t kind, uint32_t value) {
    for (uint64_t i = tail_; i > head_; --i) {
      Stored& s = At(i - 1);
      const int64_t at = SliceAt(i - 1, slice);
      if (at < slice) return false;
      if (at != slice || s.retracted || s.kind != kind || s.value != value) continue;
      s.retracted = true;
      for (size_t w = 0; w < windows_.size(); ++w) {
        if (i - 1 >= cursors_[w]) windows_[w].Apply(kind, value, -1);
      }
      return true;
    }
    return false;
  }

  // Bytes held by this object, for the memory benchmarks.
  size_t HeapBytes() const {
    return ring_.capacity() * sizeof(Stored) + windows_.capacity() * sizeof(Agg) +
           lengths_.capacity() * sizeof(int64_t) + cursors_.capacity() * sizeof(uint64_t);
  }

 private:
  struct Stored {
    uint32_t value;
    uint16_t slice;  // low 16 bits of the slice index
    uint8_t kind;
    bool retracted;
  };
  static_assert(sizeof(Stored) == 8);

  Stored& At(uint64_t seq) { return ring_[seq & (ring_.size() - 1)]; }
  const Stored& At(uint64_t seq) const { return ring_[seq & (ring_.size() - 1)]; }

  // Full slice index of entry `seq`, reconstructed near `reference` (within +-32767 slices).
  int64_t SliceAt(uint64_t seq, int64_t reference) const {
    const int16_t delta = static_cast<int16_t>(At(seq).slice - static_cast<uint16_t>(reference));
    return reference + delta;
  }

  void Grow() {
    std::vector<Stored> bigger(ring_.empty() ? 16 : ring_.size() * 2);
    const uint64_t mask = bigger.size() - 1;
    for (uint64_t seq = head_; seq < tail_; ++seq) bigger[seq & mask] = At(seq);
    ring_.swap(bigger);
  }

  std::vector<int64_t> lengths_;
  std::vector<Agg> windows_;
  std::vector<uint64_t> cursors_;  // per window: first entry still inside it
  std::vector<Stored> ring_;       // power-of-two circular buffer of entries [head_, tail_)
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  int64_t max_length_ = 0;
  int64_t end_ = INT64_MIN;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_
