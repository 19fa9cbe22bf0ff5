// Peer funnel: a clear outlier stands out, binomial noise and genuine but ordinary spread do
// not, small teams and small tenants are not compared.
#include "operators/peers.h"

#include <random>

#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

// Teams with `n` contacts each, escalating with the given true rates (binomial draws).
std::vector<TeamMetrics> Teams(const std::vector<double>& rates, uint64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TeamMetrics> teams(rates.size());
  for (size_t i = 0; i < rates.size(); ++i) {
    std::binomial_distribution<uint64_t> draw(n, rates[i]);
    teams[i].escalation = {draw(rng), n};
    teams[i].service_level = {n - draw(rng) / 2, n};
  }
  return teams;
}

std::vector<PeerPositions> Compare(const std::vector<TeamMetrics>& teams, PeerOptions options = {}) {
  std::vector<const TeamMetrics*> pointers;
  for (const auto& t : teams) pointers.push_back(&t);
  std::vector<PeerPositions> out;
  ComparePeers(pointers, options, &out);
  return out;
}

constexpr int kEsc = static_cast<int>(PeerMetric::kEscalation);

TEST(PeersTest, AClearOutlierStandsOutAndNoiseDoesNot) {
  std::vector<double> rates(20, 0.05);
  rates[7] = 0.12;
  const auto positions = Compare(Teams(rates, 1000, 1));
  for (size_t i = 0; i < rates.size(); ++i) {
    ASSERT_TRUE(positions[i][kEsc].compared);
    EXPECT_EQ(positions[i][kEsc].outlier, i == 7 ? 1 : 0) << "team " << i << " z " << positions[i][kEsc].z;
  }
  const PeerPosition& p = positions[7][kEsc];
  EXPECT_NEAR(p.peer_rate, (0.05 * 19 + 0.12) / 20, 0.01);
  EXPECT_GT(p.value, p.upper);
  EXPECT_LT(p.lower, p.peer_rate);
}

TEST(PeersTest, OrdinarySpreadBetweenTeamsIsAllowedFor) {
  // Real teams differ (3 % to 9 %) beyond binomial noise at 5,000 contacts; without the
  // over-dispersion allowance most of them would be flagged.
  std::vector<double> rates;
  for (int i = 0; i < 30; ++i) rates.push_back(0.03 + 0.06 * i / 29.0);
  const auto positions = Compare(Teams(rates, 5000, 2));
  int outliers = 0;
  for (const auto& p : positions) outliers += p[kEsc].outlier != 0;
  EXPECT_LE(outliers, 1);
  // Binomial-only limits at this volume: ±3.09 · sqrt(0.06 · 0.94 / 5000) ≈ ±1 point.
  EXPECT_GT(positions[0][kEsc].upper - positions[0][kEsc].lower, 0.04);
}

TEST(PeersTest, LowServiceLevelIsBelowTheFunnel) {
  std::vector<double> rates(12, 0.2);  // service level ≈ 0.9
  auto teams = Teams(rates, 800, 3);
  teams[4].service_level = {520, 800};  // 0.65
  const auto positions = Compare(teams);
  EXPECT_EQ(positions[4][static_cast<int>(PeerMetric::kServiceLevel)].outlier, -1);
}

TEST(PeersTest, SmallTeamsAndSmallTenantsAreNotCompared) {
  std::vector<double> rates(8, 0.05);
  auto teams = Teams(rates, 1000, 4);
  teams[0].escalation = {5, 20};  // under min_denominator
  auto positions = Compare(teams);
  EXPECT_FALSE(positions[0][kEsc].compared);
  EXPECT_TRUE(positions[1][kEsc].compared);
  teams.resize(4);  // four peers: fewer than min_peers
  positions = Compare(teams);
  for (const auto& p : positions) EXPECT_FALSE(p[kEsc].compared);
}

}  // namespace
}  // namespace ccpulse::operators
