// Erlang C staffing (DESIGN §4 "required agents"): the smallest number of agents that meets a
// service-level target for a given arrival rate and average handle time.
#ifndef CCPULSE_OPERATORS_STAFFING_H_
#define CCPULSE_OPERATORS_STAFFING_H_

#include <optional>

namespace ccpulse::operators {

// Probability that an arriving contact waits (Erlang C) with `agents` servers and offered load
// `erlangs` = arrival rate * AHT. 1 when agents <= erlangs (the queue is unstable).
double ErlangCWaitProbability(int agents, double erlangs);

// Service level with `agents`: P(wait <= threshold) = 1 - C * exp(-(agents - A) * t / AHT).
double ErlangCServiceLevel(int agents, double erlangs, double threshold_s, double aht_s);

// Smallest agent count reaching `target` service level; nullopt when there is no traffic or no
// handle time to base it on, or when more than `max_agents` would be needed.
std::optional<int> RequiredAgents(double arrivals_per_s, double aht_s, double threshold_s,
                                  double target, int max_agents = 100000);

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_STAFFING_H_
