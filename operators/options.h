// Parameters of the contact-centre metrics (DESIGN §3, §4) with their defaults.
#ifndef CCPULSE_OPERATORS_OPTIONS_H_
#define CCPULSE_OPERATORS_OPTIONS_H_

#include <array>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "operators/drift/drift.h"
#include "schemas/event.h"
#include "schemas/ids.h"

namespace ccpulse::operators {

using schemas::kDayMs;
using schemas::kHourMs;
using schemas::kMinuteMs;
using schemas::kSecondMs;

struct MetricOptions {
  // Windows and time.
  int64_t slice_ms = 10 * kSecondMs;
  std::vector<int64_t> windows_ms = {5 * kMinuteMs, 15 * kMinuteMs, kHourMs};
  int64_t allowed_lateness_ms = 2 * kMinuteMs;
  int64_t idle_partition_ms = 30 * kSecondMs;
  // How long a finished interaction is remembered (duplicates, a quick reopen). >= lateness.
  int64_t interaction_retention_ms = 10 * kMinuteMs;
  // Open interactions with no event for this long expire, per channel (schemas::Channel order:
  // other, voice, chat, email, messaging, social).
  std::array<int64_t, schemas::kChannelCount> expiry_ms = {
      24 * kHourMs, 4 * kHourMs, 4 * kHourMs, 14 * kDayMs, 14 * kDayMs, 14 * kDayMs};

  // Service level and abandonment.
  int64_t sl_threshold_ms = 20 * kSecondMs;
  double sl_target = 0.80;
  int64_t short_abandon_ms = 5 * kSecondMs;

  // First-contact resolution.
  int64_t repeat_window_ms = 72 * kHourMs;
  int64_t forward_gap_ms = 10 * kMinuteMs;
  bool fcr_same_reason = false;

  // Customer ids are hashed with this key at ingest.
  schemas::HashKey hash_key;

  // Tenant -> IANA time zone for the "today" window; tenants not listed use UTC.
  absl::flat_hash_map<std::string, std::string> tenant_time_zones;

  // Drift detection (DESIGN §5).
  drift::DriftOptions drift;

  // Checks ranges and relations; the message names the option.
  absl::Status Validate() const;
};

// Formats a duration the way windows are labelled: "5m", "1h", "90s", "2d".
std::string DurationLabel(int64_t ms);
// Parses "250ms", "10s", "5m", "1h", "3d" (a single unit); false on anything else.
bool ParseDurationMs(std::string_view text, int64_t* ms);

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_OPTIONS_H_
