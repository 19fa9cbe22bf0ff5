// Trailing windows of several lengths over one stream of slice-stamped entries, with
// subtract-on-evict: each window aggregate holds exactly the entries of slices
// [end - length, end). Entries are stored once, 8 bytes each, in slice order.
#ifndef CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_
#define CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace ccpulse::window {

// `Agg` holds one invertible aggregate per window (laid out however suits it, e.g. struct of
// arrays): `void Apply(size_t window, uint8_t kind, uint32_t value, int sign)`, where
// Apply(w, k, v, +1) followed by Apply(w, k, v, -1) restores window w exactly.
//
// Invariants: entries are added in non-decreasing slice order; window i's aggregate equals the
// sum of the non-retracted entries with slice in [end - length_i, end); the ring holds exactly
// the entries with slice in [end - longest, end). Slices are kept as the low 16 bits of their
// index, so the longest window must be shorter than 32768 slices.
// Worker-local; not thread-safe.
//
// `lengths_in_slices` is not copied: it must outlive this object (engines share one array
// among all their teams). At most kMaxWindows windows.
template <typename Agg>
class SlidingWindows {
 public:
  static constexpr int64_t kMaxLengthSlices = 32767;
  static constexpr size_t kMaxWindows = 7;

  SlidingWindows(std::span<const int64_t> lengths_in_slices, Agg agg)
      : lengths_(lengths_in_slices), agg_(std::move(agg)) {
    for (int64_t length : lengths_) {
      if (length > max_length_) max_length_ = length;
    }
  }

  size_t window_count() const { return lengths_.size(); }
  int64_t end() const { return end_; }

  // The windows' aggregates as of the current end. Call AdvanceTo first to read at a later end.
  const Agg& agg() const { return agg_; }
  Agg& agg() { return agg_; }

  // Moves every window's end forward to `end` (never backwards), evicting entries.
  void AdvanceTo(int64_t end) {
    if (end <= end_) return;
    // Held entries lie in [end_ - max_length_, end_) of the old end, so their slices are
    // reconstructed near it: the new end may be any distance ahead (an idle stream).
    const int64_t old_end = end_;
    end_ = end;
    for (size_t w = 0; w < lengths_.size(); ++w) {
      const int64_t start = end_ - lengths_[w];
      while (cursors_[w] < tail_ && SliceAt(cursors_[w], old_end) < start) {
        const Stored& s = At(cursors_[w]);
        if (!s.retracted) agg_.Apply(w, s.kind, s.value, -1);
        ++cursors_[w];
      }
    }
    const int64_t oldest = end_ - max_length_;
    while (head_ < tail_ && SliceAt(head_, old_end) < oldest) ++head_;
  }

  // Adds an entry to `slice` and moves the end to slice + 1 when it is before that, so it is in
  // every window at once. When the end is already later, the entry goes only into the windows
  // whose range covers `slice` (none when it is older than the longest window).
  // `slice` must be >= the slice of every earlier entry.
  void Add(int64_t slice, uint8_t kind, uint32_t value) {
    AdvanceTo(slice + 1);
    if (slice < end_ - max_length_) return;
    if (tail_ - head_ == ring_.size()) Grow();
    At(tail_) = Stored{value, static_cast<uint16_t>(slice), kind, false};
    for (size_t w = 0; w < lengths_.size(); ++w) {
      if (slice >= end_ - lengths_[w]) {
        agg_.Apply(w, kind, value, +1);
      } else {
        // Every earlier entry is at or before `slice`, so already out of this window:
        // cursors_[w] == tail_, and the new entry starts out evicted too.
        cursors_[w] = tail_ + 1;
      }
    }
    ++tail_;
  }

  // Takes back one earlier entry (kind, value) of `slice` from the windows that still hold it.
  // Returns false when no such entry is held any more (it was evicted or never added).
  bool Retract(int64_t slice, uint8_t kind, uint32_t value) {
    // Only slices in [end_ - max_length_, end_) are held; checking first also keeps a slice
    // 65536 away from a held one from matching its low 16 bits.
    if (head_ == tail_ || slice >= end_ || slice < end_ - max_length_) return false;
    for (uint64_t i = tail_; i > head_; --i) {
      Stored& s = At(i - 1);
      const int64_t at = SliceAt(i - 1, end_);
      if (at < slice) return false;
      if (at != slice || s.retracted || s.kind != kind || s.value != value) continue;
      s.retracted = true;
      for (size_t w = 0; w < lengths_.size(); ++w) {
        if (i - 1 >= cursors_[w]) agg_.Apply(w, kind, value, -1);
      }
      return true;
    }
    return false;
  }

  // Checkpoints (operators/state_archive.h): the lengths are configuration, not state.
  template <typename Ar>
  void Persist(Ar& ar) {
    ar(end_, head_, tail_, ring_, cursors_, agg_);
    if constexpr (Ar::kLoading) {
      const bool ring_ok = (ring_.size() & (ring_.size() - 1)) == 0 && tail_ - head_ <= ring_.size();
      if (!ring_ok) ar.Fail("sliding window ring");
    }
  }

  // Bytes held by this object, for the memory benchmarks.
  size_t HeapBytes() const {
    return ring_.capacity() * sizeof(Stored);
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

  // Full slice index of entry `seq`, reconstructed near `reference`; exact when the true slice
  // is within [reference - 32768, reference + 32767]. Callers pass the end (or the end before
  // an advance): every held entry is within the longest window (< 32768 slices) before it.
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

  // Hot fields first: one event's contributions touch these together.
  int64_t end_ = INT64_MIN;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  std::vector<Stored> ring_;  // power-of-two circular buffer of entries [head_, tail_)
  std::array<uint64_t, kMaxWindows> cursors_{};  // per window: first entry still inside it
  std::span<const int64_t> lengths_;
  int64_t max_length_ = 0;
  Agg agg_;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_SLIDING_WINDOWS_H_
