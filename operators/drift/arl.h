// Average run lengths of the control charts ccpulse uses, by Markov-chain approximation
// (Brook & Evans 1972): how many observations pass, on average, before a chart signals. The
// drift detectors derive their thresholds from a requested in-control ARL instead of
// hand-set constants, and report the ARL their threshold implies.
#ifndef CCPULSE_OPERATORS_DRIFT_ARL_H_
#define CCPULSE_OPERATORS_DRIFT_ARL_H_

namespace ccpulse::operators::drift {

// One-sided upper CUSUM S = max(0, S + x - k) on x ~ N(shift, 1), signalling at S >= h.
double NormalCusumArl(double k, double h, double shift, int states = 200);

// Two-sided CUSUM (upper and lower, each with k and h): 1/ARL = 1/ARL+ + 1/ARL- (Siegmund).
double TwoSidedNormalCusumArl(double k, double h, double shift, int states = 200);

// EWMA z = (1 - lambda) z + lambda x on x ~ N(shift, 1), signalling when |z| exceeds
// L * sqrt(lambda / (2 - lambda)) (asymptotic limits).
double EwmaArl(double lambda, double l, double shift, int states = 201);

// Bernoulli CUSUM tuned to detect the odds of an outcome multiplying by `odds_ratio` from a
// baseline probability `p0` (Steiner et al. 2000 weights):
//   y = 1: log(R / (1 - p0 + R p0)),  y = 0: -log(1 - p0 + R p0)
// Run length in observations when outcomes occur with probability `p_true`. Exact up to the
// weights' rounding to a grid of at most `max_states` steps below the threshold.
double BernoulliCusumArl(double p0, double odds_ratio, double h, double p_true, int max_states = 4000);

// Probability under the alternative: odds multiplied by `odds_ratio`.
double OddsShifted(double p0, double odds_ratio);

// Smallest threshold h whose in-control ARL (p_true = p0) is at least `target_arl`.
double BernoulliCusumThreshold(double p0, double odds_ratio, double target_arl);

}  // namespace ccpulse::operators::drift

#endif  // CCPULSE_OPERATORS_DRIFT_ARL_H_
