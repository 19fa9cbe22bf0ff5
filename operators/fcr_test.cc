// Repeat-contact tracking: forwards, repeats, windows, reopens, verdicts.
#include "operators/fcr.h"

#include <map>
#include <random>

#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

constexpr TimeMs kT0 = 1'772'442'000'000;
constexpr uint64_t kCustomer = 77;

Contribution End(TimeMs t, TeamIndex team, uint64_t interaction, bool first_touch,
                 uint64_t customer = kCustomer) {
  return Contribution{t, customer, interaction, team, first_touch ? uint32_t{kContactResolvedFirstTouch} : 0u,
                      Kind::kContactEnd, 1};
}
Contribution Start(TimeMs t, TeamIndex team, uint64_t interaction, uint64_t customer = kCustomer) {
  return Contribution{t, customer, interaction, team, 0, Kind::kContactStart, 1};
}
Contribution Reopen(TimeMs t, TeamIndex team, uint64_t interaction, uint64_t customer = kCustomer) {
  return Contribution{t, customer, interaction, team, 0, Kind::kContactReopen, 1};
}

class RepeatContactsTest : public ::testing::Test {
 protected:
  MetricOptions options_;
  RepeatContacts fcr_{&options_};
  std::vector<Contribution> effects_;
};

TEST_F(RepeatContactsTest, ContactWithinForwardGapIsNotARepeat) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  fcr_.OnContactStart(Start(kT0 + options_.forward_gap_ms, 2, 101), &effects_);
  EXPECT_TRUE(effects_.empty());
}

TEST_F(RepeatContactsTest, RepeatIsChargedToTheResolvingTeamAndTakesBackProvisional) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  const TimeMs later = kT0 + options_.forward_gap_ms + 1;
  fcr_.OnContactStart(Start(later, 2, 101), &effects_);
  ASSERT_EQ(effects_.size(), 2u);
  EXPECT_EQ(effects_[0].kind, Kind::kRepeat);
  EXPECT_EQ(effects_[0].team, 1u);
  EXPECT_EQ(effects_[0].time, later);
  EXPECT_EQ(effects_[1].kind, Kind::kFcrProvisional);
  EXPECT_EQ(effects_[1].sign, -1);
  EXPECT_EQ(effects_[1].time, kT0);
  // A second repeat is charged again, but the provisional credit is only taken back once.
  effects_.clear();
  fcr_.OnContactStart(Start(later + 1000, 3, 102), &effects_);
  ASSERT_EQ(effects_.size(), 1u);
  EXPECT_EQ(effects_[0].kind, Kind::kRepeat);
}

TEST_F(RepeatContactsTest, ContactAfterTheWindowIsNotARepeat) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  fcr_.OnContactStart(Start(kT0 + options_.repeat_window_ms, 1, 101), &effects_);
  EXPECT_TRUE(effects_.empty());
}

TEST_F(RepeatContactsTest, TheSameInteractionIsNotItsOwnRepeat) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  fcr_.OnContactStart(Start(kT0 + kHourMs, 1, 100), &effects_);
  EXPECT_TRUE(effects_.empty());
}

TEST_F(RepeatContactsTest, VerdictsAtWindowClose) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));                      // confirmed
  fcr_.OnContactEnd(End(kT0 + 1000, 2, 200, false, 88));          // not first touch: failed
  fcr_.OnContactEnd(End(kT0 + 2000, 3, 300, true, 99));           // repeated below: failed
  fcr_.OnContactStart(Start(kT0 + kHourMs, 3, 301, 99), &effects_);
  std::vector<Contribution> verdicts;
  fcr_.TakeVerdicts(kT0 + options_.repeat_window_ms, &verdicts);
  EXPECT_TRUE(verdicts.empty()) << "the window closes at end + repeat_window, exclusive";
  EXPECT_EQ(fcr_.NextVerdictTime(), kT0 + options_.repeat_window_ms);
  fcr_.TakeVerdicts(kT0 + options_.repeat_window_ms + 3000, &verdicts);
  ASSERT_EQ(verdicts.size(), 3u);
  EXPECT_EQ(verdicts[0].kind, Kind::kFcrConfirmed);
  EXPECT_EQ(verdicts[0].team, 1u);
  EXPECT_EQ(verdicts[0].time, kT0 + options_.repeat_window_ms);
  EXPECT_EQ(verdicts[1].kind, Kind::kFcrFailed);
  EXPECT_EQ(verdicts[2].kind, Kind::kFcrFailed);
  EXPECT_EQ(fcr_.tracked_customers(), 0u);
  EXPECT_EQ(fcr_.tracked_contacts(), 0u);
}

TEST_F(RepeatContactsTest, ReopenOfTheTrackedContactFailsIt) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  fcr_.OnContactReopen(Reopen(kT0 + kHourMs, 1, 999), &effects_);
  EXPECT_TRUE(effects_.empty()) << "a different interaction";
  fcr_.OnContactReopen(Reopen(kT0 + kHourMs, 1, 100), &effects_);
  ASSERT_EQ(effects_.size(), 1u);
  EXPECT_EQ(effects_[0].kind, Kind::kFcrProvisional);
  EXPECT_EQ(effects_[0].sign, -1);
  std::vector<Contribution> verdicts;
  fcr_.TakeVerdicts(INT64_MAX, &verdicts);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].kind, Kind::kFcrFailed);
}

TEST_F(RepeatContactsTest, UnknownCustomerStillGetsAVerdict) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true, /*customer=*/0));
  fcr_.OnContactStart(Start(kT0 + kHourMs, 1, 101, /*customer=*/0), &effects_);
  EXPECT_TRUE(effects_.empty());
  std::vector<Contribution> verdicts;
  fcr_.TakeVerdicts(INT64_MAX, &verdicts);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].kind, Kind::kFcrConfirmed);
}

TEST_F(RepeatContactsTest, LatestContactReplacesTheEarlierOneForRepeats) {
  fcr_.OnContactEnd(End(kT0, 1, 100, true));
  fcr_.OnContactEnd(End(kT0 + 60'000, 2, 101, true));  // a forward, finished by team 2
  fcr_.OnContactStart(Start(kT0 + kHourMs, 3, 102), &effects_);
  ASSERT_FALSE(effects_.empty());
  EXPECT_EQ(effects_[0].team, 2u) << "charged to the team that finished the latest contact";
}

TEST_F(RepeatContactsTest, MemoryStaysBoundedAsWindowsClose) {
  // One contact a minute for 10,000 minutes: at most a repeat window's worth is ever held.
  std::vector<Contribution> verdicts;
  size_t most_held = 0;
  for (int i = 0; i < 10000; ++i) {
    fcr_.OnContactEnd(End(kT0 + i * 60'000, 1, 1000 + i, true, 5000 + i));
    fcr_.TakeVerdicts(kT0 + i * 60'000, &verdicts);
    most_held = std::max(most_held, fcr_.tracked_contacts());
  }
  EXPECT_EQ(most_held, static_cast<size_t>(options_.repeat_window_ms / 60'000) + 1);
  fcr_.TakeVerdicts(INT64_MAX, &verdicts);
  EXPECT_EQ(verdicts.size(), 10000u);
  EXPECT_EQ(fcr_.tracked_customers(), 0u);
}

// Across many storage blocks (4096 contacts each): repeats and verdicts equal a plain model that
// keeps every contact in one vector.
TEST_F(RepeatContactsTest, ManyContactsAcrossBlocksMatchAPlainModel) {
  options_.repeat_window_ms = 6 * 3'600'000;
  struct Model {
    TimeMs end;
    TeamIndex team;
    uint64_t interaction;
    bool failed;
  };
  std::vector<Model> contacts;
  std::map<uint64_t, size_t> latest;  // customer -> index into contacts
  size_t head = 0;
  std::vector<Contribution> expected_verdicts, verdicts;
  size_t repeats = 0;
  std::mt19937_64 rng(7);
  TimeMs t = kT0;
  for (uint64_t i = 0; i < 30'000; ++i) {
    t += static_cast<TimeMs>(rng() % 20'000);
    const uint64_t customer = 1 + rng() % 800;
    const TeamIndex team = static_cast<TeamIndex>(rng() % 5);
    const uint64_t interaction = 10'000 + i;
    // A contact starts (maybe a repeat), then ends a little later in event time.
    effects_.clear();
    fcr_.OnContactStart(Start(t, team, interaction, customer), &effects_);
    std::vector<Contribution> want;
    if (auto it = latest.find(customer); it != latest.end() && it->second >= head) {
      Model& m = contacts[it->second];
      const TimeMs gap = t - m.end;
      if (gap > options_.forward_gap_ms && gap < options_.repeat_window_ms) {
        want.push_back(Contribution{t, 0, 0, m.team, 0, Kind::kRepeat, 1});
        ++repeats;
        if (!m.failed) want.push_back(Contribution{m.end, 0, 0, m.team, 0, Kind::kFcrProvisional, -1});
        m.failed = true;
      }
    }
    ASSERT_EQ(effects_.size(), want.size()) << i;
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(effects_[k].kind, want[k].kind) << i;
      EXPECT_EQ(effects_[k].team, want[k].team) << i;
      EXPECT_EQ(effects_[k].time, want[k].time) << i;
      EXPECT_EQ(effects_[k].sign, want[k].sign) << i;
    }
    const bool first_touch = rng() % 4 != 0;
    fcr_.OnContactEnd(End(t + 1000, team, interaction, first_touch, customer));
    contacts.push_back({t + 1000, team, interaction, !first_touch});
    latest[customer] = contacts.size() - 1;
    fcr_.TakeVerdicts(t, &verdicts);
    while (head < contacts.size() && contacts[head].end + options_.repeat_window_ms < t) {
      const Model& m = contacts[head++];
      expected_verdicts.push_back(Contribution{m.end + options_.repeat_window_ms, 0, 0, m.team, 0,
                                              m.failed ? Kind::kFcrFailed : Kind::kFcrConfirmed, 1});
    }
    ASSERT_EQ(fcr_.tracked_contacts(), contacts.size() - head) << i;
  }
  ASSERT_GT(contacts.size() - head, 1000u);  // many held at once, 30,000 in all: several blocks
  EXPECT_GT(repeats, 1000u);
  ASSERT_EQ(verdicts.size(), expected_verdicts.size());
  for (size_t k = 0; k < verdicts.size(); ++k) {
    EXPECT_EQ(verdicts[k].kind, expected_verdicts[k].kind) << k;
    EXPECT_EQ(verdicts[k].team, expected_verdicts[k].team) << k;
    EXPECT_EQ(verdicts[k].time, expected_verdicts[k].time) << k;
  }
  // Memory follows what is held: partial first and last blocks and one spare at most, plus the
  // customer map (800 customers).
  const size_t held = fcr_.tracked_contacts();
  EXPECT_LE(fcr_.MemoryBytes(), (held + 3 * 4096) * 24 + 4096 * 17);
}

}  // namespace
}  // namespace ccpulse::operators
