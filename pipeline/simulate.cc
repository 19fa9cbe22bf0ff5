// simulate; see simulate.h.
#include "pipeline/simulate.h"

#include <chrono>
#include <string>
#include <thread>

namespace ccpulse {

int RunSimulate(const SimulateOptions& options, std::FILE* out, std::FILE* err) {
  operators::Simulator simulator(options.simulator);
  operators::SimEvent event;
  std::string buffer;
  const auto wall_start = std::chrono::steady_clock::now();
  int64_t count = 0;
  while (simulator.Next(&event)) {
    if (options.speed > 0) {
      const double offset_ms = static_cast<double>(event.emit_ms - options.simulator.start_ms) / options.speed;
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
