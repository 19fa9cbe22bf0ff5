// ARL computations against published values and against seeded simulation.
#include "operators/drift/arl.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace ccpulse::operators::drift {
namespace {

TEST(ArlTest, NormalCusumPublishedValues) {
  // Montgomery, Introduction to Statistical Quality Control, table 9.3 (k = 0.5, h = 4):
  // one-sided ARL0 = 336, so two-sided 168; ARL at a 1 sigma shift 8.38.
  EXPECT_NEAR(NormalCusumArl(0.5, 4.0, 0.0), 336, 336 * 0.01);
  EXPECT_NEAR(TwoSidedNormalCusumArl(0.5, 4.0, 0.0), 168, 168 * 0.01);
  EXPECT_NEAR(TwoSidedNormalCusumArl(0.5, 4.0, 1.0), 8.38, 8.38 * 0.01);
  // h = 5: two-sided ARL0 465, ARL(1) 10.4.
  EXPECT_NEAR(TwoSidedNormalCusumArl(0.5, 5.0, 0.0), 465, 465 * 0.01);
  EXPECT_NEAR(TwoSidedNormalCusumArl(0.5, 5.0, 1.0), 10.4, 10.4 * 0.015);
}

TEST(ArlTest, EwmaPublishedValue) {
  // Lucas & Saccucci (1990): lambda = 0.1, L = 2.814 gives ARL0 = 500.
  EXPECT_NEAR(EwmaArl(0.1, 2.814, 0.0), 500, 500 * 0.01);
  // and ARL at a 1 sigma shift of about 10.3.
  EXPECT_NEAR(EwmaArl(0.1, 2.814, 1.0), 10.3, 10.3 * 0.03);
}

// Mean run length of the Bernoulli CUSUM by simulation.
double SimulatedArl(double p0, double r, double h, double p_true, int runs, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution y(p_true);
  const double up = std::log(r / (1 - p0 + r * p0)), down = -std::log(1 - p0 + r * p0);
  double total = 0;
  for (int run = 0; run < runs; ++run) {
    double s = 0;
    int64_t n = 0;
    while (s < h) {
      s = std::max(0.0, s + (y(rng) ? up : down));
      ++n;
    }
    total += static_cast<double>(n);
  }
  return total / runs;
}

TEST(ArlTest, BernoulliCusumMatchesSimulation) {
  struct Case {
    double p0, h;
  } cases[] = {{0.06, 2.5}, {0.02, 3.0}, {0.2, 3.0}, {0.35, 2.0}};
  for (const Case& c : cases) {
    const double p1 = OddsShifted(c.p0, 2.0);
    for (double p_true : {c.p0, p1}) {
      const double chain = BernoulliCusumArl(c.p0, 2.0, c.h, p_true);
      const int runs = 4000;
      const double sim = SimulatedArl(c.p0, 2.0, c.h, p_true, runs, 42);
      // Run lengths are roughly geometric: the simulated mean's standard error is ~ARL/sqrt(runs).
      EXPECT_NEAR(chain, sim, 4.0 * sim / std::sqrt(runs) + 0.02 * sim)
          << "p0=" << c.p0 << " h=" << c.h << " p_true=" << p_true;
    }
  }
}

TEST(ArlTest, ThresholdsForTheConfiguredInControlArl) {
  for (double p0 : {0.01, 0.05, 0.1, 0.3}) {
    const double warning = BernoulliCusumThreshold(p0, 2.0, 5000);
    const double critical = BernoulliCusumThreshold(p0, 2.0, 50000);
    EXPECT_GE(BernoulliCusumArl(p0, 2.0, warning, p0), 5000);
    EXPECT_LT(BernoulliCusumArl(p0, 2.0, warning * 0.97, p0), 5000 * 1.05) << "threshold is tight";
    EXPECT_GT(critical, warning);
    // Detection is much faster than false alarms: ARL at doubled odds well below ARL0.
    EXPECT_LT(BernoulliCusumArl(p0, 2.0, warning, OddsShifted(p0, 2.0)), 5000 / 5.0) << p0;
  }
}

}  // namespace
}  // namespace ccpulse::operators::drift
