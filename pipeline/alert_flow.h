// From the engine's drift changes to the outside: alert records with roster labels, written as
// {"alert": ...} JSON Lines (replay) and handed to the dispatcher (run, demo, replay --http).
// Also applies the roster's team profiles to the engine.
#ifndef CCPULSE_PIPELINE_ALERT_FLOW_H_
#define CCPULSE_PIPELINE_ALERT_FLOW_H_

#include <functional>
#include <memory>
#include <string>

#include "operators/engine.h"
#include "pipeline/alerting/alerts.h"
#include "pipeline/alerting/dispatcher.h"
#include "pipeline/config.h"
#include "pipeline/http/api.h"

namespace ccpulse {

// Worker-thread object (the dispatcher inside is thread-safe).
class AlertFlow {
 public:
  // `dispatch`: run a dispatcher (sinks per config.alerting); `kafka_send` feeds the alerts topic.
  AlertFlow(const Config& config, bool dispatch, alerting::AlertDispatcher::KafkaSend kafka_send = nullptr);

  // Team profiles (service-level target, baseline seeds) from the roster.
  void ApplyRoster(operators::Engine& engine) const;
  // Takes the engine's alert changes; appends {"alert": ...} lines to `*lines` when not null.
  // Returns how many changes there were.
  size_t Take(operators::Engine& engine, std::string* lines);
  // After a checkpoint is restored: hands the alerts firing in it to the dispatcher again (it
  // does not outlive the process), marked restored. Returns how many.
  size_t Resume(const operators::Engine& engine);

  // (Take also hands over those of team partitions restored since the last call.)

  // Called with every alert change (the demo prints them).
  void SetObserver(std::function<void(const alerting::AlertRecord&)> observer) { observer_ = std::move(observer); }

  const alerting::Roster& roster() const { return roster_; }
  alerting::AlertDispatcher* dispatcher() { return dispatcher_.get(); }
  // For the API: team names, sites and managers; alerts firing or recently resolved.
  http::TeamDirectory Directory() const;
  http::AlertsJson Alerts() const;
  // Teams the engine has seen that the roster does not list (their alerts take the default route).
  size_t Unrostered(operators::Engine& engine) const;

 private:
  void SubmitRestored(const operators::Engine& engine, const std::vector<operators::drift::AlertState>& open);

  Config config_;
  alerting::Roster roster_;
  std::unique_ptr<alerting::AlertDispatcher> dispatcher_;
  std::map<std::pair<std::string, std::string>, http::TeamDirectoryEntry> directory_;
  std::function<void(const alerting::AlertRecord&)> observer_;
};

// Appends one {"detectors": {...}} line per team with drift detectors (replay output).
void AppendDetectors(operators::Engine& engine, std::string* out);

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_ALERT_FLOW_H_
