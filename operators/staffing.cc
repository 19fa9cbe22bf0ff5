// Erlang C; see staffing.h. Uses the Erlang B recursion, which is stable for thousands of
// agents where the textbook factorial formula overflows.
#include "operators/staffing.h"

#include <cmath>

namespace ccpulse::operators {

double ErlangCWaitProbability(int agents, double erlangs) {
  if (erlangs <= 0) return 0.0;
  if (agents <= erlangs) return 1.0;
  double b = 1.0;  // Erlang B with 0 agents
  for (int n = 1; n <= agents; ++n) b = erlangs * b / (n + erlangs * b);
  const double rho = erlangs / agents;
  return b / (1.0 - rho + rho * b);
}

double ErlangCServiceLevel(int agents, double erlangs, double threshold_s, double aht_s) {
  if (erlangs <= 0) return 1.0;
  if (agents <= erlangs) return 0.0;
  const double c = ErlangCWaitProbability(agents, erlangs);
  return 1.0 - c * std::exp(-(agents - erlangs) * threshold_s / aht_s);
}

std::optional<int> RequiredAgents(double arrivals_per_s, double aht_s, double threshold_s,
                                  double target, int max_agents) {
  if (arrivals_per_s <= 0 || aht_s <= 0) return std::nullopt;
  const double erlangs = arrivals_per_s * aht_s;
  int agents = static_cast<int>(std::floor(erlangs)) + 1;
  // Erlang B is carried incrementally so the search is O(answer), not O(answer^2).
  double b = 1.0;
  for (int n = 1; n <= agents; ++n) b = erlangs * b / (n + erlangs * b);
  while (agents <= max_agents) {
    const double rho = erlangs / agents;
    const double c = b / (1.0 - rho + rho * b);
    const double sl = 1.0 - c * std::exp(-(agents - erlangs) * threshold_s / aht_s);
    if (sl >= target) return agents;
    ++agents;
    b = erlangs * b / (agents + erlangs * b);
  }
  return std::nullopt;
}

}  // namespace ccpulse::operators
