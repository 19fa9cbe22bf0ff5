// Erlang C against the textbook example (10 Erlangs: 100 calls per 30 min at 180 s AHT) and an
// independent factorial-form computation.
#include "operators/staffing.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

// Erlang C from the factorial formula, fine for small agent counts.
double ReferenceErlangC(int n, double a) {
  double sum = 0, term = 1;
  for (int k = 0; k < n; ++k) {
    if (k > 0) term *= a / k;
    sum += term;
  }
  const double top = term * a / n * n / (n - a);
  return top / (sum + top);
}

TEST(ErlangCTest, TextbookTenErlangs) {
  EXPECT_NEAR(ErlangCWaitProbability(11, 10.0), 0.6821, 1e-4);
  EXPECT_NEAR(ErlangCWaitProbability(12, 10.0), 0.4494, 1e-4);
  EXPECT_NEAR(ErlangCWaitProbability(14, 10.0), 0.1741, 1e-4);
  EXPECT_NEAR(ErlangCServiceLevel(14, 10.0, 20, 180), 0.8884, 1e-4);
  EXPECT_EQ(RequiredAgents(100.0 / 1800.0, 180, 20, 0.80), 14);
  EXPECT_EQ(RequiredAgents(100.0 / 1800.0, 180, 20, 0.90), 15);
}

TEST(ErlangCTest, MatchesFactorialFormula) {
  for (double a : {0.5, 2.0, 7.3, 20.0, 45.5}) {
    for (int n = static_cast<int>(a) + 1; n < static_cast<int>(a) + 15; ++n) {
      EXPECT_NEAR(ErlangCWaitProbability(n, a), ReferenceErlangC(n, a), 1e-9) << a << " " << n;
    }
  }
}

TEST(ErlangCTest, UnstableAndEmptyCases) {
  EXPECT_EQ(ErlangCWaitProbability(10, 10.0), 1.0);
  EXPECT_EQ(ErlangCServiceLevel(5, 10.0, 20, 180), 0.0);
  EXPECT_EQ(RequiredAgents(0, 180, 20, 0.8), std::nullopt);
  EXPECT_EQ(RequiredAgents(1, 0, 20, 0.8), std::nullopt);
  EXPECT_EQ(RequiredAgents(1000, 1000, 20, 0.8, /*max_agents=*/100), std::nullopt);
}

TEST(ErlangCTest, LargeLoadIsStable) {
  // 2,000 Erlangs would overflow the factorial form; the recursion stays finite and monotone.
  auto agents = RequiredAgents(2000.0 / 300.0, 300, 20, 0.8);
  ASSERT_TRUE(agents.has_value());
  EXPECT_GT(*agents, 2000);
  EXPECT_LT(*agents, 2100);
  EXPECT_GE(ErlangCServiceLevel(*agents, 2000, 20, 300), 0.8);
  EXPECT_LT(ErlangCServiceLevel(*agents - 1, 2000, 20, 300), 0.8);
}

}  // namespace
}  // namespace ccpulse::operators
