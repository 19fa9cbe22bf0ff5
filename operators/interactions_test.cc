// Tests of the interaction fold and table: each lifecycle path, duplicates, order independence,
// gaps, expiry.
#include "operators/interactions.h"

#include <algorithm>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

using schemas::Channel;
using schemas::EventType;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

constexpr uint64_t kKey = 42;
constexpr TimeMs kT0 = 1'772'442'000'000;  // 2026-03-02T09:00:00Z

InteractionEvent Ev(EventType type, TimeMs offset_s, TeamIndex team, uint64_t id,
                    uint64_t customer = 0, Channel channel = Channel::kVoice) {
  InteractionEvent e;
  e.time = kT0 + offset_s * 1000;
  e.type = type;
  e.team = team;
  e.event_key = id;
  e.customer = customer;
  e.channel = channel;
  return e;
}

Contribution C(Kind kind, TimeMs offset_s, TeamIndex team, uint32_t value = 0, uint64_t aux = 0,
               uint64_t aux2 = 0) {
  return Contribution{kT0 + offset_s * 1000, aux, aux2, team, value, kind, 1};
}

std::vector<Contribution> Fold(std::vector<InteractionEvent> events, FoldEnd* end = nullptr) {
  std::sort(events.begin(), events.end());
  MetricOptions options;
  std::vector<Contribution> out;
  FoldEnd e = FoldInteraction(events, kKey, options, &out);
  if (end) *end = e;
  return out;
}

TEST(FoldTest, ResolvedOnFirstTouch) {
  FoldEnd end;
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1, 7), Ev(EventType::kAnswered, 15, 1, 2),
                   Ev(EventType::kResolved, 315, 1, 3)},
                  &end);
  EXPECT_THAT(out, UnorderedElementsAreArray({
                       C(Kind::kContactStart, 0, 1, 0, 7, kKey),
                       C(Kind::kInflow, 0, 1),
                       C(Kind::kWaitStart, 0, 1, 0, kKey),
                       C(Kind::kAnswered, 15, 1),
                       C(Kind::kWait, 15, 1, 15000),
                       C(Kind::kAnsweredInSl, 15, 1),
                       C(Kind::kWaitEnd, 15, 1, 0, kKey),
                       C(Kind::kWorkStart, 15, 1, 0, kKey),
                       C(Kind::kResolved, 315, 1),
                       C(Kind::kHandle, 315, 1, 300000),
                       C(Kind::kWorkEnd, 315, 1, 0, kKey),
                       C(Kind::kFcrProvisional, 315, 1),
                       C(Kind::kContactEnd, 315, 1, kContactResolvedFirstTouch, 7, kKey),
                   }));
  EXPECT_EQ(end.phase, Phase::kDone);
  EXPECT_EQ(end.redundant, 0u);
}

TEST(FoldTest, ClosedIsHandledButNotFirstContactResolution) {
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1), Ev(EventType::kAnswered, 30, 1, 2),
                   Ev(EventType::kClosed, 90, 1, 3)});
  EXPECT_EQ(std::count(out.begin(), out.end(), C(Kind::kClosed, 90, 1)), 1);
  EXPECT_EQ(std::count(out.begin(), out.end(), C(Kind::kAnsweredInSl, 30, 1)), 0)
      << "30 s wait is over the 20 s threshold";
  EXPECT_EQ(std::count(out.begin(), out.end(), C(Kind::kFcrProvisional, 90, 1)), 0);
  EXPECT_EQ(std::count(out.begin(), out.end(), C(Kind::kContactEnd, 90, 1, 0, 0, kKey)), 1);
}

TEST(FoldTest, TransferChainAcrossThreeTeams) {
  // Team 1 transfers to 2, team 2 escalates to 3, team 3 resolves: nobody gets FCR credit,
  // and the contact is charged to team 3 for repeat tracking.
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1, 9), Ev(EventType::kAnswered, 10, 1, 2),
                   Ev(EventType::kTransferred, 70, 1, 3), Ev(EventType::kQueued, 71, 2, 4),
                   Ev(EventType::kAnswered, 80, 2, 5), Ev(EventType::kEscalated, 200, 2, 6),
                   Ev(EventType::kQueued, 201, 3, 7), Ev(EventType::kAnswered, 261, 3, 8),
                   Ev(EventType::kResolved, 400, 3, 9)});
  auto count = [&](Contribution c) { return std::count(out.begin(), out.end(), c); };
  EXPECT_EQ(count(C(Kind::kTransferred, 70, 1)), 1);
  EXPECT_EQ(count(C(Kind::kHandle, 70, 1, 60000)), 1);
  EXPECT_EQ(count(C(Kind::kInflow, 71, 2)), 1);
  EXPECT_EQ(count(C(Kind::kEscalated, 200, 2)), 1);
  EXPECT_EQ(count(C(Kind::kWait, 261, 3, 60000)), 1);
  EXPECT_EQ(count(C(Kind::kResolved, 400, 3)), 1);
  for (const Contribution& c : out) {
    EXPECT_NE(c.kind, Kind::kFcrProvisional);
    EXPECT_NE(c.kind, Kind::kGap);
  }
  EXPECT_EQ(count(C(Kind::kContactEnd, 400, 3, 0, 9, kKey)), 1);
  EXPECT_EQ(count(C(Kind::kContactStart, 0, 1, 0, 9, kKey)), 1) << "one contact, one start";
}

TEST(FoldTest, AbandonShortAndLong) {
  auto short_out = Fold({Ev(EventType::kQueued, 0, 1, 1), Ev(EventType::kAbandoned, 4, 1, 2)});
  EXPECT_EQ(std::count(short_out.begin(), short_out.end(), C(Kind::kAbandonedShort, 4, 1)), 1);
  auto long_out = Fold({Ev(EventType::kQueued, 0, 1, 1), Ev(EventType::kAbandoned, 5, 1, 2)});
  EXPECT_EQ(std::count(long_out.begin(), long_out.end(), C(Kind::kAbandoned, 5, 1)), 1)
      << "exactly short_abandon (5 s) is not short";
  for (const auto& c : long_out) EXPECT_NE(c.kind, Kind::kContactEnd) << "abandons are not FCR contacts";
}

TEST(FoldTest, MissingPredecessorIsCountedAsGapAndDurationLeftOut) {
  auto out = Fold({Ev(EventType::kAnswered, 10, 1, 2), Ev(EventType::kResolved, 70, 1, 3)});
  auto count = [&](Kind k) {
    return std::count_if(out.begin(), out.end(), [&](const Contribution& c) { return c.kind == k; });
  };
  EXPECT_EQ(count(Kind::kAnswered), 1);
  EXPECT_EQ(count(Kind::kGap), 1);
  EXPECT_EQ(count(Kind::kWait), 0);
  EXPECT_EQ(count(Kind::kHandle), 1);
  EXPECT_EQ(count(Kind::kInflow), 0);
}

TEST(FoldTest, RepeatedTransitionIsRedundantAndChangesNothing) {
  std::vector<InteractionEvent> base = {Ev(EventType::kQueued, 0, 1, 1),
                                        Ev(EventType::kAnswered, 10, 1, 2),
                                        Ev(EventType::kResolved, 70, 1, 3)};
  FoldEnd end_base, end_dup;
  auto expected = Fold(base, &end_base);
  auto with_dups = base;
  with_dups.push_back(Ev(EventType::kResolved, 75, 1, 4));  // second resolve, new event id
  with_dups.push_back(Ev(EventType::kAnswered, 12, 1, 5));  // second answer while working
  auto out = Fold(with_dups, &end_dup);
  EXPECT_EQ(out, expected);
  EXPECT_EQ(end_dup.redundant, 2u);
}

TEST(FoldTest, ReopenFailsFirstTouchAndStartsRework) {
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1, 5), Ev(EventType::kAnswered, 10, 1, 2),
                   Ev(EventType::kResolved, 70, 1, 3), Ev(EventType::kReopened, 200, 1, 4),
                   Ev(EventType::kResolved, 400, 1, 5)});
  auto count = [&](Contribution c) { return std::count(out.begin(), out.end(), c); };
  EXPECT_EQ(count(C(Kind::kReopened, 200, 1)), 1);
  EXPECT_EQ(count(C(Kind::kContactReopen, 200, 1, 0, 5, kKey)), 1);
  EXPECT_EQ(count(C(Kind::kHandle, 400, 1, 200000)), 1) << "rework handled from the reopen";
  EXPECT_EQ(count(C(Kind::kResolved, 400, 1)), 1);
  // Only the first resolution is an FCR contact; the rework is not counted again.
  EXPECT_EQ(std::count_if(out.begin(), out.end(),
                          [](const Contribution& c) { return c.kind == Kind::kContactEnd; }),
            1);
}

TEST(FoldTest, OpenInteractionExpiresWhenTheNextEventIsPastTheTimeout) {
  MetricOptions options;
  const TimeMs voice = options.expiry_ms[static_cast<size_t>(Channel::kVoice)] / 1000;
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1), Ev(EventType::kQueued, voice + 5, 1, 2)});
  auto count = [&](Contribution c) { return std::count(out.begin(), out.end(), c); };
  EXPECT_EQ(count(C(Kind::kExpired, voice, 1)), 1);
  EXPECT_EQ(count(C(Kind::kWaitEnd, voice, 1, 0, kKey)), 1);
  EXPECT_EQ(count(C(Kind::kInflow, voice + 5, 1)), 1) << "a new contact starts afresh";
}

TEST(FoldTest, EmailWaitsLongerThanVoiceBeforeExpiry) {
  auto out = Fold({Ev(EventType::kQueued, 0, 1, 1, 0, Channel::kEmail),
                   Ev(EventType::kAnswered, 6 * 3600, 1, 2, 0, Channel::kEmail)});
  for (const auto& c : out) EXPECT_NE(c.kind, Kind::kExpired);
  EXPECT_EQ(std::count(out.begin(), out.end(), C(Kind::kWait, 6 * 3600, 1, 6 * 3600 * 1000)), 1);
}

TEST(FoldTest, CausalityAddingALaterEventKeepsEarlierContributions) {
  std::mt19937_64 rng(7);
  const EventType types[] = {EventType::kQueued,   EventType::kAnswered,    EventType::kAbandoned,
                             EventType::kResolved, EventType::kTransferred, EventType::kReopened};
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<InteractionEvent> events;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      events.push_back(Ev(types[rng() % 6], static_cast<TimeMs>(rng() % 600), static_cast<TeamIndex>(rng() % 3),
                          static_cast<uint64_t>(i + 1), rng() % 2 ? 11 : 0));
    }
    std::sort(events.begin(), events.end());
    auto full = Fold(events);
    const TimeMs cut = events.back().time;
    std::vector<InteractionEvent> prefix(events.begin(), events.end() - 1);
    auto partial = Fold(prefix);
    std::vector<Contribution> before_full, before_partial;
    for (const auto& c : full) if (c.time < cut) before_full.push_back(c);
    for (const auto& c : partial) if (c.time < cut) before_partial.push_back(c);
    std::sort(before_full.begin(), before_full.end());
    std::sort(before_partial.begin(), before_partial.end());
    ASSERT_EQ(before_full, before_partial) << "trial " << trial;
  }
}

class TableTest : public ::testing::Test {
 protected:
  MetricOptions options_;
  InteractionTable table_{&options_};
  // Running sum of all signed contributions emitted so far.
  std::vector<Contribution> emitted_;

  InteractionTable::Outcome Apply(const InteractionEvent& e) {
    std::vector<Contribution> diff;
    auto outcome = table_.Apply(kKey, e, &diff);
    for (const Contribution& c : diff) {
      Contribution plus = c;
      plus.sign = 1;
      if (c.sign > 0) {
        emitted_.push_back(plus);
      } else {
        auto it = std::find(emitted_.begin(), emitted_.end(), plus);
        EXPECT_NE(it, emitted_.end()) << "retraction of something never emitted";
        if (it != emitted_.end()) emitted_.erase(it);
      }
    }
    return outcome;
  }
};

TEST_F(TableTest, DiffsSumToTheFoldInAnyOrder) {
  std::vector<InteractionEvent> events = {
      Ev(EventType::kQueued, 0, 1, 1, 3),      Ev(EventType::kAnswered, 8, 1, 2),
      Ev(EventType::kTransferred, 60, 1, 3),   Ev(EventType::kQueued, 61, 2, 4),
      Ev(EventType::kAnswered, 70, 2, 5),      Ev(EventType::kResolved, 100, 2, 6)};
  auto expected = Fold(events);
  std::sort(expected.begin(), expected.end());
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    MetricOptions options;
    InteractionTable table(&options);
    emitted_.clear();
    std::shuffle(events.begin(), events.end(), rng);
    for (const auto& e : events) {
      std::vector<Contribution> diff;
      ASSERT_EQ(table.Apply(kKey, e, &diff), InteractionTable::Outcome::kApplied);
      for (const Contribution& c : diff) {
        Contribution plus = c;
        plus.sign = 1;
        if (c.sign > 0) {
          emitted_.push_back(plus);
        } else {
          auto it = std::find(emitted_.begin(), emitted_.end(), plus);
          ASSERT_NE(it, emitted_.end());
          emitted_.erase(it);
        }
      }
    }
    std::sort(emitted_.begin(), emitted_.end());
    ASSERT_EQ(emitted_, expected) << "trial " << trial;
  }
}

TEST_F(TableTest, DuplicateEventIdIsRejected) {
  EXPECT_EQ(Apply(Ev(EventType::kQueued, 0, 1, 1)), InteractionTable::Outcome::kApplied);
  const size_t before = emitted_.size();
  EXPECT_EQ(Apply(Ev(EventType::kQueued, 0, 1, 1)), InteractionTable::Outcome::kDuplicateId);
  EXPECT_EQ(emitted_.size(), before);
}

TEST_F(TableTest, LiveBacklogFollowsTheLatestState) {
  Apply(Ev(EventType::kQueued, 0, 1, 1));
  EXPECT_EQ(table_.live_waiting(1), 1);
  Apply(Ev(EventType::kAnswered, 5, 1, 2));
  EXPECT_EQ(table_.live_waiting(1), 0);
  EXPECT_EQ(table_.live_working(1), 1);
  Apply(Ev(EventType::kResolved, 50, 1, 3));
  EXPECT_EQ(table_.live_working(1), 0);
}

TEST_F(TableTest, TooManyEventsIsRefused) {
  InteractionTable::Outcome last = InteractionTable::Outcome::kApplied;
  for (size_t i = 0; i <= InteractionTable::kMaxEventsPerInteraction; ++i) {
    last = Apply(Ev(EventType::kQueued, static_cast<TimeMs>(i), 1, i + 1));
  }
  EXPECT_EQ(last, InteractionTable::Outcome::kTooManyEvents);
}

TEST_F(TableTest, OpenInteractionExpiresAtItsDeadlineWhenEvicted) {
  Apply(Ev(EventType::kQueued, 0, 1, 1));
  window::SliceAssigner slices(options_.slice_ms);
  const TimeMs deadline = kT0 + options_.expiry_ms[static_cast<size_t>(Channel::kVoice)];
  std::vector<Contribution> out;
  table_.EvictDue(slices.SliceOf(deadline) - 1, &out);
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(table_.size(), 1u);
  table_.EvictDue(slices.SliceOf(deadline), &out);
  EXPECT_THAT(out, UnorderedElementsAreArray({
                       Contribution{deadline, kKey, 0, 1, 0, Kind::kWaitEnd, 1},
                       Contribution{deadline, 0, 0, 1, 0, Kind::kExpired, 1},
                   }));
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(table_.live_waiting(1), 0);
}

TEST_F(TableTest, FinishedInteractionIsForgottenAfterRetention) {
  Apply(Ev(EventType::kQueued, 0, 1, 1));
  Apply(Ev(EventType::kAbandoned, 30, 1, 2));
  window::SliceAssigner slices(options_.slice_ms);
  std::vector<Contribution> out;
  table_.EvictDue(slices.SliceOf(kT0 + 30'000 + options_.interaction_retention_ms), &out);
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(table_.size(), 0u);
}

}  // namespace
}  // namespace ccpulse::operators
