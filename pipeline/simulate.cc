// simulate; see simulate.h.
#include "pipeline/simulate.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

namespace ccpulse {

int RunSimulate(const SimulateOptions& options, std::FILE* out, std::FILE* err) {
  operators::Simulator simulator(options.simulator);
  operators::SimEvent event;
  std::string buffer;
  auto wall_start = std::chrono::steady_clock::now();
  bool pacing = false;
  int64_t count = 0;
  while (simulator.Next(&event)) {
    if (options.speed > 0 && event.emit_ms >= options.paced_from_ms) {
      if (!pacing) {
        pacing = true;
        wall_start = std::chrono::steady_clock::now();
      }
      const int64_t origin = std::max(options.simulator.start_ms, options.paced_from_ms);
      const double offset_ms = static_cast<double>(event.emit_ms - origin) / options.speed;
      const auto due = wall_start + std::chrono::microseconds(static_cast<int64_t>(offset_ms * 1000));
      if (due > std::chrono::steady_clock::now()) {
        std::fwrite(buffer.data(), 1, buffer.size(), out);
        std::fflush(out);
        buffer.clear();
        std::this_thread::sleep_until(due);
      }
    }
    buffer += event.ToJson(options.simulator.tenant);
    buffer.push_back('\n');
    if (buffer.size() > (1 << 20)) {
      if (std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
        std::fprintf(err, "ccpulse: simulate: write failed\n");
        return 2;
      }
      buffer.clear();
    }
    if (options.limit > 0 && ++count >= options.limit) break;
  }
  std::fwrite(buffer.data(), 1, buffer.size(), out);
  std::fflush(out);
  return 0;
}

}  // namespace ccpulse
