// Markov-chain ARL computations; see arl.h.
#include "operators/drift/arl.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ccpulse::operators::drift {
namespace {

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Solves (I - Q) x = 1 for a dense transient matrix Q (row-major, n x n) and returns x[start].
double SolveArl(std::vector<double> q, int n, int start) {
  // a = I - Q, right-hand side b = 1; Gaussian elimination with partial pivoting.
  std::vector<double>& a = q;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) a[i * n + j] = (i == j ? 1.0 : 0.0) - a[i * n + j];
  }
  std::vector<double> b(n, 1.0);
  for (int k = 0; k < n; ++k) {
    int pivot = k;
    for (int i = k + 1; i < n; ++i) {
      if (std::fabs(a[i * n + k]) > std::fabs(a[pivot * n + k])) pivot = i;
    }
    if (pivot != k) {
      for (int j = 0; j < n; ++j) std::swap(a[k * n + j], a[pivot * n + j]);
      std::swap(b[k], b[pivot]);
    }
    for (int i = k + 1; i < n; ++i) {
      const double f = a[i * n + k] / a[k * n + k];
      if (f == 0) continue;
      for (int j = k; j < n; ++j) a[i * n + j] -= f * a[k * n + j];
      b[i] -= f * b[k];
    }
  }
  std::vector<double> x(n);
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int j = i + 1; j < n; ++j) s -= a[i * n + j] * x[j];
    x[i] = s / a[i * n + i];
  }
  return x[start];
}

}  // namespace

double NormalCusumArl(double k, double h, double shift, int states) {
  // State 0 holds S in [0, w/2) (mostly the atom at 0); state i > 0 holds S near i * w.
  const int n = states;
  const double w = 2.0 * h / (2.0 * n - 1.0);
  std::vector<double> q(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i) {
    const double s = i * w;
    // Next S = s + x - k with x ~ N(shift, 1).
    q[i * n + 0] = Phi(0.5 * w - s + k - shift);
    for (int j = 1; j < n; ++j) {
      q[i * n + j] = Phi((j + 0.5) * w - s + k - shift) - Phi((j - 0.5) * w - s + k - shift);
    }
  }
  return SolveArl(std::move(q), n, 0);
}

double TwoSidedNormalCusumArl(double k, double h, double shift, int states) {
  const double up = NormalCusumArl(k, h, shift, states);
  const double down = NormalCusumArl(k, h, -shift, states);
  return 1.0 / (1.0 / up + 1.0 / down);
}

double EwmaArl(double lambda, double l, double shift, int states) {
  const int n = states | 1;  // odd, so that a state sits at 0
  const double limit = l * std::sqrt(lambda / (2.0 - lambda));
  const double w = 2.0 * limit / n;
  std::vector<double> q(static_cast<size_t>(n) * n);
  for (int i = 0; i < n; ++i) {
    const double z = -limit + (i + 0.5) * w;
    for (int j = 0; j < n; ++j) {
      // z' = (1 - lambda) z + lambda x lands in bin j.
      const double lo = -limit + j * w, hi = lo + w;
      const double x_lo = (lo - (1 - lambda) * z) / lambda, x_hi = (hi - (1 - lambda) * z) / lambda;
      q[i * n + j] = Phi(x_hi - shift) - Phi(x_lo - shift);
    }
  }
  return SolveArl(std::move(q), n, n / 2);
}

double OddsShifted(double p0, double odds_ratio) {
  return odds_ratio * p0 / (1.0 - p0 + odds_ratio * p0);
}

double BernoulliCusumArl(double p0, double odds_ratio, double h, double p_true, int max_states) {
  const double up = std::log(odds_ratio / (1.0 - p0 + odds_ratio * p0));
  const double down = std::log(1.0 - p0 + odds_ratio * p0);  // the step on y = 0 is -down
  // Grid unit: down / c for the c (1..32) whose `up` in units is nearest a whole number, so
  // both steps are (almost) exact; the chain is then banded.
  int best_c = 1;
  double best_error = 1e9;
  for (int c = 1; c <= 32; ++c) {
    const double units = up / (down / c);
    const double error = std::fabs(units - std::round(units)) / units;
    if (error < best_error - 1e-12) {
      best_error = error;
      best_c = c;
    }
    if (error < 0.002) break;
  }
  int c = best_c;
  double unit = down / c;
  int n = static_cast<int>(std::ceil(h / unit));
  if (n > max_states) {  // very small p: coarser grid
    unit = h / max_states;
    n = max_states;
    c = std::max(1, static_cast<int>(std::lround(down / unit)));
  }
  const int m = std::max(1, static_cast<int>(std::lround(up / unit)));
  // Banded system (I - Q) x = 1: from state i, up m units with p_true, down c units (floored
  // at 0) with 1 - p_true; state >= n is the signal. Lower bandwidth c, upper m: eliminate
  // without pivoting (an M-matrix).
  const int lower = c, upper = m, width = lower + upper + 1;
  std::vector<double> band(static_cast<size_t>(n) * width, 0.0);
  auto at = [&](int i, int j) -> double& { return band[static_cast<size_t>(i) * width + (j - i + lower)]; };
  std::vector<double> b(n, 1.0);
  for (int i = 0; i < n; ++i) {
    at(i, i) += 1.0;
    at(i, std::max(0, i - c)) -= 1.0 - p_true;
    if (i + m < n) at(i, i + m) -= p_true;
  }
  for (int k = 0; k < n; ++k) {
    const double pivot = at(k, k);
    for (int i = k + 1; i <= std::min(n - 1, k + lower); ++i) {
      const double f = at(i, k) / pivot;
      if (f == 0) continue;
      for (int j = k; j <= std::min(n - 1, k + upper); ++j) at(i, j) -= f * at(k, j);
      b[i] -= f * b[k];
    }
  }
  std::vector<double> x(n);
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int j = i + 1; j <= std::min(n - 1, i + upper); ++j) s -= at(i, j) * x[j];
    x[i] = s / at(i, i);
  }
  return x[0];
}

double BernoulliCusumThreshold(double p0, double odds_ratio, double target_arl) {
  double lo = 0.01, hi = 1.0;
  while (BernoulliCusumArl(p0, odds_ratio, hi, p0) < target_arl && hi < 1e3) hi *= 2;
  for (int iter = 0; iter < 40; ++iter) {
    const double mid = 0.5 * (lo + hi);
    if (BernoulliCusumArl(p0, odds_ratio, mid, p0) >= target_arl) hi = mid;
    else lo = mid;
  }
  return hi;
}

}  // namespace ccpulse::operators::drift
