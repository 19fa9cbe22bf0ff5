// The benchmarks' seeded synthetic stream: 10,000 teams of 10-15 agents and 1,000,000
// customers at their morning peak for 2 hours of event time (about 7 million records), 1 %
// late and 0.5 % duplicate deliveries. Built once per process. CCPULSE_BENCH_TEAMS=N scales
// it (N teams, 100 customers per team): 22000 gives about 1 GB of checkpointed state.
#ifndef CCPULSE_BENCHMARKS_STREAM_H_
#define CCPULSE_BENCHMARKS_STREAM_H_

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "operators/simulator.h"

namespace ccpulse::benchmarks {

inline const std::vector<std::string>& Stream() {
  static const std::vector<std::string> stream = [] {
    operators::SimulatorOptions options;
    options.seed = 42;
    options.teams = 10000;
    if (const char* teams = std::getenv("CCPULSE_BENCH_TEAMS")) {
      const std::string_view text(teams);
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), options.teams);
      if (error != std::errc() || end != text.data() + text.size() || options.teams <= 0) {
        std::fprintf(stderr, "CCPULSE_BENCH_TEAMS=%s: expected a positive number of teams\n", teams);
        std::exit(2);
      }
    }
    options.customers = options.teams * 100;
    options.start_ms += 8 * schemas::kHourMs;  // 08:00, the ramp to the peak
    options.duration_ms = 2 * schemas::kHourMs;
    options.out_of_order_share = 0.01;
    options.duplicate_share = 0.005;
    operators::Simulator simulator(options);
    std::vector<std::string> records;
    operators::SimEvent event;
    while (simulator.Next(&event)) records.push_back(event.ToJson(options.tenant));
    return records;
  }();
  return stream;
}

}  // namespace ccpulse::benchmarks

#endif  // CCPULSE_BENCHMARKS_STREAM_H_
