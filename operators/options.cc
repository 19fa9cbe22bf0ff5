// Option validation and duration text; see options.h.
#include "operators/options.h"

#include <charconv>

#include <fmt/format.h>
#include "absl/time/time.h"
#include "pipeline/window/sliding_windows.h"

namespace ccpulse::operators {

absl::Status MetricOptions::Validate() const {
  auto fail = [](std::string_view key, std::string_view why) {
    return absl::InvalidArgumentError(fmt::format("`{}`: {}", key, why));
  };
  if (slice_ms <= 0 || slice_ms > kHourMs) return fail("slice", "must be between 1ms and 1h");
  if (kMinuteMs % slice_ms != 0 && slice_ms % kMinuteMs != 0) {
    return fail("slice", "must divide a minute (e.g. 1s, 5s, 10s, 15s, 30s, 1m)");
  }
  if (windows_ms.empty()) return fail("windows", "at least one window is needed");
  if (windows_ms.size() > window::SlidingWindows<int>::kMaxWindows) {
    return fail("windows", "at most 7 sliding windows");
  }
  for (int64_t w : windows_ms) {
    if (w <= 0 || w % slice_ms != 0) {
      return fail("windows", fmt::format("{} is not a positive multiple of the slice ({})", DurationLabel(w), DurationLabel(slice_ms)));
    }
    if (w / slice_ms > window::SlidingWindows<int>::kMaxLengthSlices) {
      return fail("windows", fmt::format("{} spans more than 32767 slices; use a longer slice", DurationLabel(w)));
    }
  }
  if (allowed_lateness_ms < 0) return fail("allowed_lateness", "must not be negative");
  if (interaction_retention_ms < allowed_lateness_ms) {
    return fail("interaction_retention", "must be at least allowed_lateness");
  }
  for (int64_t e : expiry_ms) {
    if (e <= 0) return fail("expiry", "every channel needs a positive timeout");
  }
  if (sl_threshold_ms <= 0) return fail("sl_threshold", "must be positive");
  if (!(sl_target > 0.0 && sl_target < 1.0)) return fail("sl_target", "must be in (0, 1)");
  if (short_abandon_ms < 0) return fail("short_abandon", "must not be negative");
  if (repeat_window_ms <= forward_gap_ms) {
    return fail("repeat_window", "must be longer than forward_gap");
  }
  if (forward_gap_ms < 0) return fail("forward_gap", "must not be negative");
  for (const auto& [tenant, zone] : tenant_time_zones) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(zone, &tz)) {
      return fail(fmt::format("time_zones.{}", tenant), fmt::format("unknown time zone \"{}\"", zone));
    }
  }
  return absl::OkStatus();
}

std::string DurationLabel(int64_t ms) {
  if (ms % kDayMs == 0) return fmt::format("{}d", ms / kDayMs);
  if (ms % kHourMs == 0) return fmt::format("{}h", ms / kHourMs);
  if (ms % kMinuteMs == 0) return fmt::format("{}m", ms / kMinuteMs);
  if (ms % kSecondMs == 0) return fmt::format("{}s", ms / kSecondMs);
  return fmt::format("{}ms", ms);
}

bool ParseDurationMs(std::string_view text, int64_t* ms) {
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || ptr == text.data() || number < 0) return false;
  const std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  int64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = kSecondMs;
  else if (unit == "m") scale = kMinuteMs;
  else if (unit == "h") scale = kHourMs;
  else if (unit == "d") scale = kDayMs;
  else return false;
  if (number > INT64_MAX / scale) return false;
  *ms = number * scale;
  return true;
}

}  // namespace ccpulse::operators
