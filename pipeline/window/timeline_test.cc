// Tests for Timeline: records inserted in any slice order come out whole slices at a time in
// slice order; checked against a std::multimap model over many random operations.
#include "pipeline/window/timeline.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ccpulse::window {
namespace {

struct Record {
  int64_t id;
  int64_t time;
  friend bool operator==(const Record&, const Record&) = default;
};

TEST(TimelineTest, EmptyTimeline) {
  Timeline<int> t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.slice_count(), 0u);
  EXPECT_EQ(t.FirstSlice(), INT64_MAX);
  std::vector<int> out = {1, 2, 3};
  EXPECT_EQ(t.TakeFirstBefore(INT64_MAX, &out), INT64_MAX);
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3})) << "untouched when nothing is taken";
}

TEST(TimelineTest, RandomInsertOrderComesOutInSliceOrder) {
  std::mt19937_64 rng(5);
  std::vector<int64_t> slices;
  for (int64_t s = -20; s < 80; ++s) {
    for (int k = 0; k < static_cast<int>(s % 4) + 1; ++k) slices.push_back(s);
  }
  std::shuffle(slices.begin(), slices.end(), rng);
  Timeline<Record> t;
  std::map<int64_t, std::vector<Record>> want;
  for (size_t i = 0; i < slices.size(); ++i) {
    const Record r{static_cast<int64_t>(i), slices[i] * 10};
    t.Insert(slices[i], r);
    want[slices[i]].push_back(r);
  }
  EXPECT_EQ(t.size(), slices.size());
  EXPECT_EQ(t.slice_count(), want.size());
  EXPECT_EQ(t.FirstSlice(), -20);

  std::vector<Record> out;
  size_t taken = 0;
  for (const auto& [slice, records] : want) {
    ASSERT_EQ(t.FirstSlice(), slice);
    ASSERT_EQ(t.TakeFirstBefore(INT64_MAX, &out), slice);
    EXPECT_EQ(out, records) << "slice " << slice << ": all records, in insertion order";
    taken += out.size();
    EXPECT_EQ(t.size(), slices.size() - taken);
  }
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.FirstSlice(), INT64_MAX);
}

TEST(TimelineTest, TakeFirstBeforeRespectsTheLimit) {
  Timeline<int> t;
  t.Insert(10, 1);
  t.Insert(12, 2);
  t.Insert(10, 3);
  std::vector<int> out;
  EXPECT_EQ(t.TakeFirstBefore(10, &out), INT64_MAX) << "limit is exclusive";
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.TakeFirstBefore(11, &out), 10);
  EXPECT_EQ(out, (std::vector<int>{1, 3}));
  EXPECT_EQ(t.TakeFirstBefore(12, &out), INT64_MAX);
  EXPECT_EQ(out, (std::vector<int>{1, 3})) << "untouched when nothing is taken";
  EXPECT_EQ(t.FirstSlice(), 12);
  EXPECT_EQ(t.TakeFirstBefore(13, &out), 12);
  EXPECT_EQ(out, (std::vector<int>{2}));
  EXPECT_EQ(t.size(), 0u);
}

TEST(TimelineTest, TakeReplacesPreviousContentsOfOut) {
  Timeline<int> t;
  t.Insert(1, 7);
  std::vector<int> out = {100, 200, 300};
  EXPECT_EQ(t.TakeFirstBefore(2, &out), 1);
  EXPECT_EQ(out, (std::vector<int>{7}));
}

TEST(TimelineTest, InsertIntoAnEarlierSliceAfterTakes) {
  // A calendar queue accepts records for slices before ones already taken (a late record
  // within lateness): they come out first.
  Timeline<int> t;
  t.Insert(5, 1);
  t.Insert(9, 2);
  std::vector<int> out;
  ASSERT_EQ(t.TakeFirstBefore(6, &out), 5);
  t.Insert(3, 3);
  t.Insert(9, 4);
  EXPECT_EQ(t.FirstSlice(), 3);
  ASSERT_EQ(t.TakeFirstBefore(100, &out), 3);
  EXPECT_EQ(out, (std::vector<int>{3}));
  ASSERT_EQ(t.TakeFirstBefore(100, &out), 9);
  EXPECT_EQ(out, (std::vector<int>{2, 4}));
}

TEST(TimelineTest, VectorsAreRecycled) {
  Timeline<int> t;
  for (int i = 0; i < 100; ++i) t.Insert(1, i);
  t.Insert(2, 0);
  std::vector<int> out;
  ASSERT_EQ(t.TakeFirstBefore(10, &out), 1);
  const int* slice1_buffer = out.data();
  ASSERT_EQ(t.TakeFirstBefore(10, &out), 2);  // slice 1's buffer goes back to the timeline
  // A new slice reuses the returned buffer, and taking it hands that buffer out again.
  t.Insert(3, 42);
  std::vector<int> out2;
  ASSERT_EQ(t.TakeFirstBefore(10, &out2), 3);
  EXPECT_EQ(out2, (std::vector<int>{42}));
  EXPECT_EQ(out2.data(), slice1_buffer);
  EXPECT_GE(out2.capacity(), 100u);

  // Repeated insert/take cycles keep working with recycled buffers.
  for (int round = 0; round < 1000; ++round) {
    for (int k = 0; k <= round % 7; ++k) t.Insert(round, round * 10 + k);
    t.Insert(round + 1, -round);
    ASSERT_EQ(t.TakeFirstBefore(round + 1, &out), round);
    ASSERT_EQ(out.size(), static_cast<size_t>(round % 7 + 1));
    for (int k = 0; k <= round % 7; ++k) ASSERT_EQ(out[k], round * 10 + k);
    ASSERT_EQ(t.TakeFirstBefore(round + 2, &out), round + 1);
    ASSERT_EQ(out, (std::vector<int>{-round}));
    ASSERT_EQ(t.size(), 0u);
  }
}

TEST(TimelineTest, RandomOpsMatchMultimapModel) {
  std::mt19937_64 rng(99);
  Timeline<Record> t;
  std::multimap<int64_t, Record> model;  // equal keys keep insertion order
  std::vector<Record> out;
  int64_t next_id = 0;
  int64_t low = 1'000'000;  // drifting window of slices, like a moving watermark
  for (int op = 0; op < 10000; ++op) {
    const int action = std::uniform_int_distribution<int>(0, 99)(rng);
    if (action < 60) {
      // Inserts cluster on a few slices (exercises the cached-slice path) and jump around.
      const int64_t slice = (action < 30)
                                ? low + std::uniform_int_distribution<int64_t>(0, 3)(rng)
                                : low + std::uniform_int_distribution<int64_t>(-5, 200)(rng);
      const Record r{next_id++, slice};
      t.Insert(slice, r);
      model.emplace(slice, r);
    } else if (action < 95) {
      const int64_t limit = low + std::uniform_int_distribution<int64_t>(-10, 100)(rng);
      std::vector<Record> want;
      int64_t want_slice = INT64_MAX;
      if (!model.empty() && model.begin()->first < limit) {
        want_slice = model.begin()->first;
        auto [b, e] = model.equal_range(want_slice);
        for (auto it = b; it != e; ++it) want.push_back(it->second);
        model.erase(b, e);
      }
      const std::vector<Record> before = out;
      const int64_t got = t.TakeFirstBefore(limit, &out);
      ASSERT_EQ(got, want_slice) << "op " << op;
      if (got != INT64_MAX) {
        ASSERT_EQ(out, want) << "op " << op;
      } else {
        ASSERT_EQ(out, before) << "op " << op;
      }
    } else {
      low += std::uniform_int_distribution<int64_t>(0, 30)(rng);
    }
    ASSERT_EQ(t.size(), model.size()) << "op " << op;
    ASSERT_EQ(t.FirstSlice(), model.empty() ? INT64_MAX : model.begin()->first) << "op " << op;
    size_t distinct = 0;
    for (auto it = model.begin(); it != model.end(); it = model.upper_bound(it->first)) ++distinct;
    ASSERT_EQ(t.slice_count(), distinct) << "op " << op;
  }
  // Drain: everything left comes out in order.
  while (!model.empty()) {
    const int64_t slice = model.begin()->first;
    ASSERT_EQ(t.TakeFirstBefore(INT64_MAX, &out), slice);
    auto [b, e] = model.equal_range(slice);
    std::vector<Record> want;
    for (auto it = b; it != e; ++it) want.push_back(it->second);
    model.erase(b, e);
    ASSERT_EQ(out, want);
  }
  EXPECT_EQ(t.size(), 0u);
}

}  // namespace
}  // namespace ccpulse::window
