// Funnel comparison of teams against their peers; see peers.h.
#include "operators/peers.h"

#include <algorithm>
#include <cmath>

namespace ccpulse::operators {

std::string_view PeerMetricName(PeerMetric metric) {
  static constexpr std::string_view kNames[kPeerMetricCount] = {
      "escalation_ratio", "transfer_ratio", "abandon_ratio", "service_level", "fcr_provisional_ratio"};
  return kNames[static_cast<int>(metric)];
}

const Ratio& PeerRatio(const TeamMetrics& m, PeerMetric metric) {
  switch (metric) {
    case PeerMetric::kEscalation: return m.escalation;
    case PeerMetric::kTransfer: return m.transfer;
    case PeerMetric::kAbandon: return m.abandon;
    case PeerMetric::kServiceLevel: return m.service_level;
    case PeerMetric::kFcrProvisional: return m.fcr_provisional;
  }
  return m.escalation;
}

void ComparePeers(const std::vector<const TeamMetrics*>& metrics, const PeerOptions& options,
                  std::vector<PeerPositions>* out) {
  out->assign(metrics.size(), PeerPositions{});
  std::vector<size_t> teams;
  std::vector<double> zs;
  for (int m = 0; m < kPeerMetricCount; ++m) {
    const auto metric = static_cast<PeerMetric>(m);
    teams.clear();
    double events = 0, trials = 0;
    for (size_t i = 0; i < metrics.size(); ++i) {
      const Ratio& r = PeerRatio(*metrics[i], metric);
      if (r.denominator < options.min_denominator) continue;
      teams.push_back(i);
      events += static_cast<double>(r.numerator);
      trials += static_cast<double>(r.denominator);
    }
    if (static_cast<int>(teams.size()) < options.min_peers) continue;
    const double theta = events / trials;
    if (theta <= 0 || theta >= 1) continue;  // no spread to compare against
    const double var1 = theta * (1 - theta);
    // Over-dispersion: the mean squared z-score with the top and bottom 10 % pulled in to the
    // 10th and 90th percentiles, so the outliers being looked for do not hide themselves.
    zs.clear();
    for (size_t i : teams) {
      const Ratio& r = PeerRatio(*metrics[i], metric);
      const double z = (*r.value() - theta) / std::sqrt(var1 / static_cast<double>(r.denominator));
      zs.push_back(z);
    }
    std::vector<double> sorted = zs;
    std::sort(sorted.begin(), sorted.end());
    const size_t k = sorted.size() / 10;
    const double lo = sorted[k], hi = sorted[sorted.size() - 1 - k];
    double phi = 0;
    for (double z : zs) phi += std::pow(std::clamp(z, lo, hi), 2);
    phi = std::max(1.0, phi / static_cast<double>(zs.size()));
    for (size_t j = 0; j < teams.size(); ++j) {
      const Ratio& r = PeerRatio(*metrics[teams[j]], metric);
      const double sd = std::sqrt(phi * var1 / static_cast<double>(r.denominator));
      PeerPosition& p = (*out)[teams[j]][m];
      p.compared = true;
      p.value = *r.value();
      p.peer_rate = theta;
      p.lower = std::max(0.0, theta - options.z_limit * sd);
      p.upper = std::min(1.0, theta + options.z_limit * sd);
      p.z = (p.value - theta) / sd;
      p.outlier = p.z > options.z_limit ? 1 : p.z < -options.z_limit ? -1 : 0;
    }
  }
}

}  // namespace ccpulse::operators
