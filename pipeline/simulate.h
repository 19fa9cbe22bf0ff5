// `ccpulse simulate`: the traffic generator as JSON Lines on stdout, as fast as possible or
// paced in real time (Kafka output lives with the Kafka sinks).
#ifndef CCPULSE_PIPELINE_SIMULATE_H_
#define CCPULSE_PIPELINE_SIMULATE_H_

#include <cstdio>

#include "operators/simulator.h"

namespace ccpulse {

struct SimulateOptions {
  operators::SimulatorOptions simulator;
  double speed = 0;  // 0 = as fast as possible; 1 = real time; 60 = a minute per second
  int64_t limit = 0;  // stop after this many events (0 = the whole period)
  // Events before this event time are produced at full speed (history), pacing starts here.
  int64_t paced_from_ms = INT64_MIN;
};

// Writes events to `out`; returns the exit code.
int RunSimulate(const SimulateOptions& options, std::FILE* out, std::FILE* err);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_SIMULATE_H_
