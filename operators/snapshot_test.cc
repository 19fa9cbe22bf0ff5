// SnapshotBuilder: the first snapshot is complete; later recomputes are spread over Builds and
// publish every team view at once, at one windows' end; windows that move mid-way restart the
// recompute, and it then finishes in one go.
#include "operators/snapshot.h"

#include <string>

#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

constexpr TimeMs kT0 = 1'772'442'000'000;  // 2026-03-02T09:00:00Z
constexpr int kTeams = 400;

class SnapshotBuilderTest : public ::testing::Test {
 protected:
  SnapshotBuilderTest() {
    for (int t = 0; t < kTeams; ++t) Queue("t" + std::to_string(t), kT0);
    MoveTo(kT0 + 5 * kMinuteMs);
  }

  void Queue(const std::string& team, TimeMs time) {
    const std::string id = std::to_string(next_++);
    interaction_ = "i" + id;
    event_id_ = "e" + id;
    schemas::Event e;
    e.type = schemas::EventType::kQueued;
    e.time_ms = time;
    e.interaction_id = interaction_;
    e.event_id = event_id_;
    e.team = team;
    e.channel = schemas::Channel::kVoice;
    ASSERT_EQ(engine_.OnEvent(e, 0), Engine::Accepted::kApplied);
    engine_.Advance(0, kMinuteMs, nullptr);
  }
  // An event at `time` moves the watermark, and with it the windows' end.
  void MoveTo(TimeMs time) {
    const TimeMs before = engine_.windows_end();
    Queue("t0", time);
    ASSERT_GT(engine_.windows_end(), before);
  }

  Engine engine_{MetricOptions{}};
  int next_ = 0;
  std::string interaction_, event_id_;
};

TEST_F(SnapshotBuilderTest, FirstBuildIsCompleteThenRecomputesAreSpreadAndPublishedAtOnce) {
  SnapshotBuilder builder(/*refresh_ms=*/0, /*step_budget_us=*/1);
  const auto first = builder.Build(engine_, 1000);
  EXPECT_FALSE(builder.recomputing());
  ASSERT_EQ(first->teams.size(), static_cast<size_t>(kTeams));
  EXPECT_EQ(first->windows_end, engine_.windows_end());

  MoveTo(kT0 + 15 * kMinuteMs);
  const TimeMs end = engine_.windows_end();
  int steps = 0;
  std::shared_ptr<const MetricsSnapshot> s;
  do {
    s = builder.Build(engine_, 1'000'000 + steps);  // well past the 5 % refresh bound
    ++steps;
    if (s->windows_end != end) {
      // Until the last team is done, the published views are the previous ones, untouched.
      ASSERT_TRUE(builder.recomputing()) << s->windows_end << " " << end << " " << first->windows_end << " step " << steps;
      EXPECT_EQ(s->windows_end, first->windows_end);
      ASSERT_EQ(s->teams.size(), first->teams.size());
      for (size_t i = 0; i < s->teams.size(); ++i) ASSERT_EQ(s->teams[i], first->teams[i]);
    }
  } while (s->windows_end != end && steps < 100'000);
  EXPECT_GT(steps, 1) << "a 1 µs budget cannot recompute 400 teams in one step";
  EXPECT_FALSE(builder.recomputing());
  ASSERT_EQ(s->teams.size(), static_cast<size_t>(kTeams));
  for (size_t i = 0; i < s->teams.size(); ++i) EXPECT_NE(s->teams[i], first->teams[i]);
  // The views are the engine's at the new end.
  const int t0 = s->Find("default", "t0");
  ASSERT_GE(t0, 0);
  EXPECT_EQ(s->teams[t0]->windows[0].inflow, engine_.WindowMetrics(engine_.TeamsInOrder()[t0], 0).inflow);
}

TEST_F(SnapshotBuilderTest, WindowsMovingMidwayRestartAndTheSecondRestartFinishesAtOnce) {
  SnapshotBuilder builder(0, 1);
  builder.Build(engine_, 1000);
  MoveTo(kT0 + 15 * kMinuteMs);
  builder.Build(engine_, 1'000'000);
  ASSERT_TRUE(builder.recomputing());
  MoveTo(kT0 + 25 * kMinuteMs);  // restart 1: still in steps
  builder.Build(engine_, 1'000'001);
  ASSERT_TRUE(builder.recomputing());
  MoveTo(kT0 + 35 * kMinuteMs);  // restart 2: done in this Build
  const auto s = builder.Build(engine_, 1'000'002);
  EXPECT_FALSE(builder.recomputing());
  EXPECT_EQ(s->windows_end, engine_.windows_end());
  EXPECT_EQ(s->teams.size(), static_cast<size_t>(kTeams));
}

TEST_F(SnapshotBuilderTest, ForceFinishesTheRecomputeNow) {
  SnapshotBuilder builder(0, 1);
  builder.Build(engine_, 1000);
  MoveTo(kT0 + 15 * kMinuteMs);
  builder.Build(engine_, 1'000'000);
  ASSERT_TRUE(builder.recomputing());
  const auto s = builder.Build(engine_, 1'000'001, 0, /*force=*/true);
  EXPECT_FALSE(builder.recomputing());
  EXPECT_EQ(s->windows_end, engine_.windows_end());
}

TEST_F(SnapshotBuilderTest, RecomputeWaitsForTheRefreshInterval) {
  SnapshotBuilder builder(/*refresh_ms=*/1000, /*step_budget_us=*/0);
  const auto first = builder.Build(engine_, 10'000);
  MoveTo(kT0 + 15 * kMinuteMs);
  EXPECT_EQ(builder.Build(engine_, 10'999)->windows_end, first->windows_end);  // within refresh_ms
  EXPECT_EQ(builder.Build(engine_, 1'000'000)->windows_end, engine_.windows_end());
}

}  // namespace
}  // namespace ccpulse::operators
