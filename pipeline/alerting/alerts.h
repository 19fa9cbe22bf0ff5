// Drift alerts as the outside world sees them (DESIGN §5): labels for routing
// (alertname="TeamMetricDrift", tenant, team, metric, direction, severity, manager and the
// roster's routing labels), annotations with the evidence, and the JSON of
// schemas/alert.v1.schema.json used by replay output, the API, the Kafka topic and the log.
#ifndef CCPULSE_PIPELINE_ALERTING_ALERTS_H_
#define CCPULSE_PIPELINE_ALERTING_ALERTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "operators/drift/drift.h"
#include "pipeline/config.h"
#include "pipeline/json_writer.h"

namespace ccpulse::alerting {

// Team directory built from the config's roster. Thread-safe after construction.
class Roster {
 public:
  explicit Roster(const std::vector<RosterEntry>& teams);
  const RosterEntry* Find(std::string_view tenant, std::string_view team) const;
  const std::vector<RosterEntry>& entries() const { return entries_; }

 private:
  std::vector<RosterEntry> entries_;
  std::map<std::pair<std::string, std::string>, size_t, std::less<>> index_;
};

// One alert change, with everything a sink needs. Value type.
struct AlertRecord {
  uint64_t key = 0;
  std::string key_hex;   // the dedup key as 16 hex digits
  bool firing = true;
  std::string severity;  // "warning" | "critical" (of the firing alert; the last one when resolved)
  std::string tenant, team, team_name, manager, metric, direction, unit;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  int64_t starts_at_ms = 0;   // onset, event time
  int64_t changed_at_ms = 0;  // event time of this change
  double baseline = 0, alarm_level = 0, observed = 0, observed_low = 0, observed_high = 0;
  double statistic = 0, threshold = 0, arl0 = 0;
  uint64_t recent_contacts = 0;
  bool rostered = false;
  // Firing when a checkpoint was restored: the log and the alerts topic had it before the
  // restart; Alertmanager and PagerDuty get it again (idempotent: same labels, same dedup key).
  bool restored = false;
};

AlertRecord Describe(const operators::drift::AlertState& state, std::string_view tenant,
                     std::string_view team, const Roster& roster, const AlertingConfig& config);

// The alert object ({"key", "status", ...}) into `json`.
void WriteAlert(const AlertRecord& alert, JsonWriter& json);

// "detectors": [...] (one object per detector: state, baseline, statistic, thresholds, ARLs)
// into the open object of `json`; shared by the team API and replay's detector records.
void WriteDetectors(const std::vector<operators::drift::DetectorInfo>& detectors, JsonWriter& json);

}  // namespace ccpulse::alerting

#endif  // CCPULSE_PIPELINE_ALERTING_ALERTS_H_
