// Peer comparison (DESIGN §5, info only): where each team's rate sits in the funnel of its
// tenant's teams on the same metric and window. A funnel plot (Spiegelhalter 2005): the
// peers' pooled rate θ, each team's z-score against θ at its own volume, and control limits
// θ ± z·sqrt(φ·θ(1−θ)/n) widened by the over-dispersion φ the teams show beyond binomial noise
// (estimated from winsorised z-scores), so teams that are merely different do not all stand out.
#ifndef CCPULSE_OPERATORS_PEERS_H_
#define CCPULSE_OPERATORS_PEERS_H_

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "operators/team_metrics.h"

namespace ccpulse::operators {

enum class PeerMetric : uint8_t { kEscalation, kTransfer, kAbandon, kServiceLevel, kFcrProvisional };
inline constexpr int kPeerMetricCount = 5;
std::string_view PeerMetricName(PeerMetric metric);  // the ratio's exported name
const Ratio& PeerRatio(const TeamMetrics& metrics, PeerMetric metric);

struct PeerPosition {
  bool compared = false;  // false: too few contacts, or too few peers
  double value = 0, peer_rate = 0, lower = 0, upper = 0;
  double z = 0;           // (value − peer_rate) / sd, over-dispersion included
  int8_t outlier = 0;     // +1 above the upper limit, −1 below the lower one
};
using PeerPositions = std::array<PeerPosition, kPeerMetricCount>;

struct PeerOptions {
  double z_limit = 3.09;         // 99.8 % two-sided limits
  uint64_t min_denominator = 30; // a team's contacts in the window to be compared
  int min_peers = 5;             // compared teams per tenant and metric
};

// Positions for one tenant's teams: `metrics[i]` is team i's window, `out[i]` receives its
// positions.
void ComparePeers(const std::vector<const TeamMetrics*>& metrics, const PeerOptions& options,
                  std::vector<PeerPositions>* out);

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_PEERS_H_
