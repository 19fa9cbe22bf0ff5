// Tests for SlidingWindows: every window equals a brute-force recomputation over the raw
// entries, across retractions, eviction, 16-bit slice wrap-around and ring growth.
#include "pipeline/window/sliding_windows.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ccpulse::window {
namespace {

constexpr int kKinds = 4;

// Counts per kind and the sum of values: invertible, so Apply(+1) then Apply(-1) restores it.
struct Agg {
  std::array<int64_t, kKinds> counts{};
  int64_t sum = 0;

  void Apply(uint8_t kind, uint32_t value, int sign) {
    counts[kind] += sign;
    sum += sign * static_cast<int64_t>(value);
  }
  friend bool operator==(const Agg&, const Agg&) = default;
};

std::string ToString(const Agg& a) {
  std::string s = "{counts=[";
  for (int k = 0; k < kKinds; ++k) s += (k ? "," : "") + std::to_string(a.counts[k]);
  return s + "] sum=" + std::to_string(a.sum) + "}";
}

void PrintTo(const Agg& a, std::ostream* os) { *os << ToString(a); }

// The multi-window aggregate SlidingWindows drives: one Agg per window.
struct PerWindow {
  std::vector<Agg> per;
  void Apply(size_t window, uint8_t kind, uint32_t value, int sign) {
    per[window].Apply(kind, value, sign);
  }
  const Agg& window(size_t i) const { return per[i]; }
};

SlidingWindows<PerWindow> Make(std::span<const int64_t> lengths) {
  return SlidingWindows<PerWindow>(lengths, PerWindow{std::vector<Agg>(lengths.size())});
}

struct Entry {
  int64_t slice;
  uint8_t kind;
  uint32_t value;
  bool retracted = false;
};

// The raw-entry model the windows are checked against.
class Model {
 public:
  explicit Model(std::vector<int64_t> lengths) : lengths_(std::move(lengths)) {
    for (int64_t l : lengths_) max_length_ = std::max(max_length_, l);
  }

  void Add(int64_t slice, uint8_t kind, uint32_t value) {
    entries_.push_back({slice, kind, value});
    end_ = std::max(end_, slice + 1);
  }
  void AdvanceTo(int64_t end) { end_ = std::max(end_, end); }

  // An entry can be taken back while some window can still hold it: slice in
  // [end - longest, end).
  bool Retract(int64_t slice, uint8_t kind, uint32_t value) {
    if (end_ == INT64_MIN || slice < end_ - max_length_ || slice >= end_) return false;
    for (Entry& e : entries_) {
      if (!e.retracted && e.slice == slice && e.kind == kind && e.value == value) {
        e.retracted = true;
        return true;
      }
    }
    return false;
  }

  Agg Window(size_t i) const {
    Agg agg;
    if (end_ == INT64_MIN) return agg;
    for (const Entry& e : entries_) {
      if (!e.retracted && e.slice >= end_ - lengths_[i] && e.slice < end_) {
        agg.Apply(e.kind, e.value, +1);
      }
    }
    return agg;
  }

  int64_t end() const { return end_; }
  const std::vector<Entry>& entries() const { return entries_; }

  // Drops entries no window can hold any more, so brute force stays cheap.
  void Prune() {
    if (end_ == INT64_MIN) return;
    std::erase_if(entries_, [&](const Entry& e) { return e.slice < end_ - max_length_; });
  }

 private:
  std::vector<int64_t> lengths_;
  std::vector<Entry> entries_;
  int64_t max_length_ = 0;
  int64_t end_ = INT64_MIN;
};

template <typename W>
void ExpectMatches(const W& windows, const Model& model, const std::vector<int64_t>& lengths,
                   const std::string& where) {
  ASSERT_EQ(windows.end(), model.end()) << where;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const Agg want = model.Window(i);
    ASSERT_EQ(windows.agg().window(i), want)
        << where << " window " << i << " (length " << lengths[i] << ", end " << model.end()
        << ") got " << ToString(windows.agg().window(i)) << " want " << ToString(want);
  }
}

TEST(SlidingWindowsTest, AddPutsEntryInEveryWindowAndEvictsPerLength) {
  const std::vector<int64_t> lengths = {1, 3, 10};
  auto w = Make(lengths);
  ASSERT_EQ(w.window_count(), 3u);
  w.Add(100, 0, 7);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(w.agg().window(i).sum, 7);
  EXPECT_EQ(w.end(), 101);
  w.AdvanceTo(102);  // slice 100 leaves the 1-slice window
  EXPECT_EQ(w.agg().window(0).sum, 0);
  EXPECT_EQ(w.agg().window(1).sum, 7);
  w.AdvanceTo(104);  // [101, 104) no longer holds 100
  EXPECT_EQ(w.agg().window(1).sum, 0);
  EXPECT_EQ(w.agg().window(2).sum, 7);
  w.AdvanceTo(110);  // [100, 110) still holds it
  EXPECT_EQ(w.agg().window(2).sum, 7);
  w.AdvanceTo(111);
  EXPECT_EQ(w.agg().window(2).sum, 0);
  w.AdvanceTo(50);  // never backwards
  EXPECT_EQ(w.end(), 111);
}

TEST(SlidingWindowsTest, RetractTakesBackFromWindowsStillHoldingIt) {
  const std::vector<int64_t> lengths = {1, 5};
  auto w = Make(lengths);
  w.Add(10, 1, 3);
  w.Add(10, 1, 3);
  w.Add(11, 2, 4);
  EXPECT_EQ(w.agg().window(0).counts[1], 0);  // window [11, 12)
  EXPECT_EQ(w.agg().window(1).counts[1], 2);
  EXPECT_TRUE(w.Retract(10, 1, 3));
  EXPECT_EQ(w.agg().window(0).counts[1], 0);
  EXPECT_EQ(w.agg().window(1).counts[1], 1);
  EXPECT_EQ(w.agg().window(1).sum, 3 + 4);
  EXPECT_TRUE(w.Retract(10, 1, 3));
  EXPECT_FALSE(w.Retract(10, 1, 3)) << "both copies are already retracted";
  EXPECT_FALSE(w.Retract(10, 1, 4)) << "never added";
  EXPECT_FALSE(w.Retract(11, 1, 3)) << "wrong slice";
  EXPECT_FALSE(w.Retract(12, 2, 4)) << "slice at or after the end";
  EXPECT_EQ(w.agg().window(1).sum, 4);
  // A retracted entry is not subtracted again when it is evicted.
  w.AdvanceTo(20);
  EXPECT_EQ(w.agg().window(1), Agg{});
}

TEST(SlidingWindowsTest, RetractOfEvictedEntryReturnsFalseAndChangesNothing) {
  const std::vector<int64_t> lengths = {2, 6};
  auto w = Make(lengths);
  w.Add(100, 0, 1);
  w.Add(104, 1, 2);
  w.AdvanceTo(107);  // 100 left both windows ([101,107) and [105,107))
  const Agg short_before = w.agg().window(0);
  const Agg long_before = w.agg().window(1);
  EXPECT_FALSE(w.Retract(100, 0, 1));
  EXPECT_EQ(w.agg().window(0), short_before);
  EXPECT_EQ(w.agg().window(1), long_before);
  EXPECT_EQ(w.agg().window(1).counts[1], 1);
  // Evicted from the short window only: retract still applies to the long one.
  EXPECT_TRUE(w.Retract(104, 1, 2));
  EXPECT_EQ(w.agg().window(0), Agg{});
  EXPECT_EQ(w.agg().window(1), Agg{});
}

TEST(SlidingWindowsTest, RetractFarInThePastDoesNotAliasAcrossSixteenBitWrap) {
  // Slices are stored as their low 16 bits; a retraction 65536 slices back has the same low bits
  // as a live entry and must not take it back (FCR retracts provisional outcomes days later).
  const std::vector<int64_t> lengths = {30, 360};
  auto w = Make(lengths);
  const int64_t now = 200'000'000;
  w.Add(now, 3, 0);
  const Agg before = w.agg().window(1);
  EXPECT_FALSE(w.Retract(now - 65536, 3, 0));
  EXPECT_FALSE(w.Retract(now - 3 * 65536, 3, 0));
  EXPECT_FALSE(w.Retract(now + 65536, 3, 0));
  EXPECT_EQ(w.agg().window(0), before);
  EXPECT_EQ(w.agg().window(1), before);
  EXPECT_TRUE(w.Retract(now, 3, 0));
}

TEST(SlidingWindowsTest, LargeJumpOfTheEndEvictsEverything) {
  // An idle team's windows may jump far ahead (a quiet weekend is ~17k 10 s slices; a
  // 1 s slice setup crosses 32768 slices in 9 hours). Old entries must still be evicted.
  const std::vector<int64_t> lengths = {3, 360};
  for (int64_t jump : {int64_t{32767}, int64_t{32768}, int64_t{40000}, int64_t{65536},
                       int64_t{65536 + 1}, int64_t{65536 + 100}, int64_t{3 * 65536 + 5}}) {
    auto w = Make(lengths);
    w.Add(1000, 0, 1);
    w.Add(1001, 1, 2);
    w.AdvanceTo(1001 + jump);
    EXPECT_EQ(w.agg().window(0), Agg{}) << "jump " << jump;
    EXPECT_EQ(w.agg().window(1), Agg{}) << "jump " << jump;
    EXPECT_FALSE(w.Retract(1001, 1, 2)) << "jump " << jump;
    // And the windows keep working after the jump.
    w.Add(1001 + jump, 2, 5);
    EXPECT_EQ(w.agg().window(0).sum, 5) << "jump " << jump;
    EXPECT_EQ(w.agg().window(1).sum, 5) << "jump " << jump;
    w.AdvanceTo(1001 + jump + 3);
    EXPECT_EQ(w.agg().window(0).sum, 5);
    w.AdvanceTo(1001 + jump + 4);
    EXPECT_EQ(w.agg().window(0), Agg{});
    EXPECT_EQ(w.agg().window(1).sum, 5);
  }
}

TEST(SlidingWindowsTest, AddBehindTheEndOnlyCountsInWindowsCoveringIt) {
  // The end can be moved past the next entry's slice (the watermark runs ahead of delivery);
  // an entry then belongs only to the windows whose range covers its slice.
  const std::vector<int64_t> lengths = {1, 5, 50};
  auto w = Make(lengths);
  w.Add(100, 0, 1);
  w.AdvanceTo(110);
  w.Add(107, 1, 2);  // inside [105,110) and [60,110), not [109,110)
  EXPECT_EQ(w.end(), 110);
  EXPECT_EQ(w.agg().window(0), Agg{});
  EXPECT_EQ(w.agg().window(1).counts[0], 0);
  EXPECT_EQ(w.agg().window(1).counts[1], 1);
  EXPECT_EQ(w.agg().window(2).counts[0], 1);
  EXPECT_EQ(w.agg().window(2).counts[1], 1);
  w.AdvanceTo(111);  // the 1-slice window must not subtract an entry it never held
  EXPECT_EQ(w.agg().window(0), Agg{});
  EXPECT_EQ(w.agg().window(1).counts[1], 1);
  EXPECT_TRUE(w.Retract(107, 1, 2));
  EXPECT_EQ(w.agg().window(0), Agg{});
  EXPECT_EQ(w.agg().window(1), Agg{});
  EXPECT_EQ(w.agg().window(2).counts[1], 0);
  // Before every window's start (but not before earlier entries): counts nowhere.
  w.AdvanceTo(200);
  w.Add(120, 2, 3);
  EXPECT_EQ(w.end(), 200);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(w.agg().window(i), Agg{}) << "window " << i;
  EXPECT_FALSE(w.Retract(120, 2, 3));
  w.Add(199, 3, 4);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(w.agg().window(i).sum, 4) << "window " << i;
}

TEST(SlidingWindowsTest, WrapAroundNearMultiplesOf65536) {
  const std::vector<int64_t> lengths = {1, 3, 30, 360};
  for (int64_t base :
       {int64_t{65536} - 20, int64_t{2} * 65536 - 200, int64_t{32768} - 10, int64_t{200'000'000},
        int64_t{200'000'000} / 65536 * 65536 - 7, int64_t{-65536} - 5, int64_t{1} << 40}) {
    auto w = Make(lengths);
    Model model(lengths);
    for (int64_t s = base; s < base + 800; ++s) {
      const auto kind = static_cast<uint8_t>(s & 3);
      const auto value = static_cast<uint32_t>((s - base) * 3 + 1);
      w.Add(s, kind, value);
      model.Add(s, kind, value);
      if ((s - base) % 5 == 0) {
        ASSERT_EQ(w.Retract(s - 2, static_cast<uint8_t>((s - 2) & 3),
                            static_cast<uint32_t>((s - 2 - base) * 3 + 1)),
                  model.Retract(s - 2, static_cast<uint8_t>((s - 2) & 3),
                                static_cast<uint32_t>((s - 2 - base) * 3 + 1)));
      }
      ExpectMatches(w, model, lengths,
                    "base " + std::to_string(base) + " slice " + std::to_string(s));
      model.Prune();
    }
  }
}

TEST(SlidingWindowsTest, RingGrowthKeepsContents) {
  const std::vector<int64_t> lengths = {4, 1000};
  auto w = Make(lengths);
  Model model(lengths);
  // Wrap the ring's head first, so growth has to copy a wrapped range.
  for (int i = 0; i < 12; ++i) {
    w.Add(i, 0, 1);
    model.Add(i, 0, 1);
  }
  w.AdvanceTo(1008);  // evicts slices < 8 from the long window
  model.AdvanceTo(1008);
  ExpectMatches(w, model, lengths, "after eviction");
  int64_t slice = 1008;
  for (int i = 0; i < 5000; ++i) {
    if (i % 7 == 0) ++slice;
    const auto kind = static_cast<uint8_t>(i % kKinds);
    w.Add(slice, kind, static_cast<uint32_t>(i));
    model.Add(slice, kind, static_cast<uint32_t>(i));
    if ((i & (i - 1)) == 0 || i % 97 == 0) {
      ExpectMatches(w, model, lengths, "entry " + std::to_string(i));
    }
  }
  ExpectMatches(w, model, lengths, "end");
  // Retracting one of the earliest entries still held works after several growths.
  ASSERT_TRUE(model.Retract(1009, 0, 0));
  ASSERT_TRUE(w.Retract(1009, 0, 0));
  ExpectMatches(w, model, lengths, "after retract");
  EXPECT_GT(w.HeapBytes(), 5000 * 8u);
}

struct PropertyCase {
  std::vector<int64_t> lengths;
  int64_t start;
  uint64_t seed;
};

void RunProperty(const PropertyCase& c, int steps) {
  auto w = Make(c.lengths);
  Model model(c.lengths);
  std::mt19937_64 rng(c.seed);
  int64_t max_length = 0;
  for (int64_t l : c.lengths) max_length = std::max(max_length, l);
  int64_t next_slice = c.start;  // entries are added in non-decreasing slice order
  std::uniform_int_distribution<int> op(0, 99);
  std::uniform_int_distribution<int> kind_dist(0, kKinds - 1);
  std::uniform_int_distribution<uint32_t> value_dist(0, 5);  // small: many equal entries
  for (int step = 0; step < steps; ++step) {
    const int o = op(rng);
    std::string what;
    if (o < 55) {
      // Add: mostly the same or the next slice, sometimes a gap, rarely a big jump.
      const int g = op(rng);
      if (g < 50) {
      } else if (g < 85) {
        next_slice += 1;
      } else if (g < 97) {
        next_slice += std::uniform_int_distribution<int64_t>(2, 2 * max_length + 2)(rng);
      } else {
        next_slice += std::uniform_int_distribution<int64_t>(30000, 140000)(rng);
      }
      const auto kind = static_cast<uint8_t>(kind_dist(rng));
      const uint32_t value = value_dist(rng);
      w.Add(next_slice, kind, value);
      model.Add(next_slice, kind, value);
      what = "add " + std::to_string(next_slice);
    } else if (o < 75) {
      // AdvanceTo: small steps mostly, sometimes past the next entry, rarely a big jump.
      const int g = op(rng);
      int64_t to = model.end() == INT64_MIN ? c.start : model.end();
      if (g < 70) {
        to += std::uniform_int_distribution<int64_t>(-2, 3)(rng);
      } else if (g < 95) {
        to += std::uniform_int_distribution<int64_t>(0, 2 * max_length + 2)(rng);
      } else {
        to += std::uniform_int_distribution<int64_t>(30000, 140000)(rng);
      }
      w.AdvanceTo(to);
      model.AdvanceTo(to);
      what = "advance " + std::to_string(to);
    } else {
      // Retract: an earlier entry (held or evicted), or something never added.
      int64_t slice;
      uint8_t kind;
      uint32_t value;
      const auto& entries = model.entries();
      if (!entries.empty() && op(rng) < 80) {
        const Entry& e = entries[std::uniform_int_distribution<size_t>(0, entries.size() - 1)(rng)];
        slice = e.slice;
        kind = e.kind;
        value = e.value;
      } else {
        slice = (model.end() == INT64_MIN ? c.start : model.end()) -
                std::uniform_int_distribution<int64_t>(-1, max_length + 2)(rng);
        if (op(rng) < 10) slice -= 65536 * std::uniform_int_distribution<int64_t>(1, 3)(rng);
        kind = static_cast<uint8_t>(kind_dist(rng));
        value = value_dist(rng);
      }
      const bool want = model.Retract(slice, kind, value);
      ASSERT_EQ(w.Retract(slice, kind, value), want)
          << "step " << step << " retract slice " << slice << " end " << model.end();
      what = "retract " + std::to_string(slice);
    }
    ExpectMatches(w, model, c.lengths, "step " + std::to_string(step) + " " + what);
    if (::testing::Test::HasFatalFailure()) return;
    if (step % 64 == 0) model.Prune();
  }
}

TEST(SlidingWindowsTest, PropertyEqualsBruteForce) {
  const std::vector<PropertyCase> cases = {
      {{1}, 0, 1},
      {{3}, 65536 - 50, 2},
      {{1, 3, 30, 360}, 0, 3},
      {{360, 30, 3, 1}, 65536 * 3 - 400, 4},
      {{1, 3, 30, 360}, 200'000'000, 5},
      {{1, 3, 30, 360}, -1'000'000, 6},
      {{30, 90, 360}, (int64_t{1} << 33) - 1000, 7},
      {{32767, 5}, 32768 - 100, 8},
  };
  for (const PropertyCase& c : cases) {
    for (uint64_t run = 0; run < 4; ++run) {
      SCOPED_TRACE("case seed " + std::to_string(c.seed) + " run " + std::to_string(run));
      RunProperty({c.lengths, c.start, c.seed * 1000 + run}, 3000);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace ccpulse::window
