// The ccpulse command line: one binary, one subcommand per job (DESIGN §7).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "operators/options.h"
#include "pipeline/config.h"
#include "pipeline/replay.h"
#include "pipeline/topology.h"
#include "pipeline/simulate.h"
#include "schemas/time_format.h"

namespace {

using ccpulse::operators::ParseDurationMs;

// A CLI11 validator + converter for durations like 10s, 5m, 1h.
void AddDuration(CLI::App* app, const std::string& name, int64_t* target, const std::string& help) {
  app->add_option_function<std::string>(
         name,
         [target, name](const std::string& text) {
           if (!ParseDurationMs(text, target)) {
             throw CLI::ValidationError(name, "expected a duration like 500ms, 20s, 5m, 1h or 3d, got \"" + text + "\"");
           }
         },
         help)
      ->default_str(ccpulse::operators::DurationLabel(*target));
}

void AddMetricFlags(CLI::App* app, ccpulse::operators::MetricOptions* m,
                    std::vector<std::string>* windows, std::vector<std::string>* zones) {
  app->add_option("--windows", *windows, "Sliding window lengths")
      ->delimiter(',')
      ->default_str("5m,15m,1h");
  AddDuration(app, "--slice", &m->slice_ms, "Slice length: the unit of window updates");
  AddDuration(app, "--lateness", &m->allowed_lateness_ms, "Allowed lateness behind the largest event time");
  AddDuration(app, "--retention", &m->interaction_retention_ms,
              "How long a finished interaction is remembered for duplicates and quick reopens");
  AddDuration(app, "--sl-threshold", &m->sl_threshold_ms, "Service-level answer threshold");
  app->add_option("--sl-target", m->sl_target, "Service-level target (0..1)")->capture_default_str();
  AddDuration(app, "--short-abandon", &m->short_abandon_ms, "Abandons quicker than this are excluded");
  AddDuration(app, "--repeat-window", &m->repeat_window_ms, "FCR repeat-contact window");
  AddDuration(app, "--forward-gap", &m->forward_gap_ms, "A new contact within this gap is a forward, not a repeat");
  app->add_flag("--same-reason", m->fcr_same_reason, "Only a contact with the same reason counts as a repeat");
  app->add_option("--tz", *zones, "Tenant time zone for the today window, TENANT=ZONE (repeatable)");
}

bool FinishMetricOptions(const std::vector<std::string>& windows, const std::vector<std::string>& zones,
                         ccpulse::operators::MetricOptions* m) {
  if (!windows.empty()) {
    m->windows_ms.clear();
    for (const std::string& w : windows) {
      int64_t ms;
      if (!ParseDurationMs(w, &ms)) {
        std::fprintf(stderr, "ccpulse: --windows: \"%s\" is not a duration\n", w.c_str());
        return false;
      }
      m->windows_ms.push_back(ms);
    }
  }
  for (const std::string& z : zones) {
    const size_t eq = z.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == z.size()) {
      std::fprintf(stderr, "ccpulse: --tz: expected TENANT=ZONE, got \"%s\"\n", z.c_str());
      return false;
    }
    m->tenant_time_zones[z.substr(0, eq)] = z.substr(eq + 1);
  }
  if (auto status = m->Validate(); !status.ok()) {
    std::fprintf(stderr, "ccpulse: %s\n", std::string(status.message()).c_str());
    return false;
  }
  return true;
}

// --format FORMAT and --team-map FILE, shared by replay and validate.
void AddFormatFlags(CLI::App* app, std::string* format, std::string* team_map) {
  std::vector<std::string> names;
  for (int i = 0; i < ccpulse::schemas::kRecordFormatCount; ++i) {
    names.emplace_back(ccpulse::schemas::RecordFormatName(static_cast<ccpulse::schemas::RecordFormat>(i)));
  }
  app->add_option("--format", *format, "Record format of the input")
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  app->add_option("--team-map", *team_map,
                  "YAML file with queue -> team and agent -> team maps ({queues: {...}, agents: {...}})");
}

// Applies --format and --team-map (which wins over a config's team_map); false after an error.
bool FinishFormatFlags(const std::string& format, const std::string& team_map, ccpulse::ReplayOptions* options) {
  options->format = *ccpulse::schemas::ParseRecordFormat(format);
  if (team_map.empty()) return true;
  auto teams = ccpulse::LoadTeamMap(team_map);
  if (!teams.ok()) {
    std::fprintf(stderr, "ccpulse: --team-map: %s\n", std::string(teams.status().message()).c_str());
    return false;
  }
  options->team_map = *std::move(teams);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ccpulse: real-time contact-centre analytics over Kafka"};
  app.require_subcommand(1);

  ccpulse::ReplayOptions replay;
  std::vector<std::string> windows, zones;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay", "Run the operators over files of records (JSON Lines or --format) in event time; metrics as JSON Lines on stdout");
  replay_cmd->add_option("files", replay.files, "Input files ('-' for stdin)")->required();
  AddDuration(replay_cmd, "--every", &replay.every_ms, "Emit metrics at every multiple of this event time");
  replay_cmd->add_flag("-q,--quiet", replay.quiet, "Do not print bad or late lines to stderr");
  replay_cmd->add_option("--http", replay.http_address, "Serve metrics, API and wallboard at HOST:PORT while replaying");
  replay_cmd->add_option("--speed", replay.speed, "Pace by event time: N event seconds per wall second (0 = full speed)");
  replay_cmd->add_flag("--hold", replay.hold, "With --http: keep serving after the input ends, until Ctrl-C");
  std::string replay_config;
  replay_cmd->add_option("-c,--config", replay_config,
                         "Take metric, drift, roster and alerting settings from a ccpulse YAML file");
  replay_cmd->add_flag("--send-alerts", replay.send_alerts,
                       "Deliver alerts to the configured sinks (off: a backtest pages nobody)");
  bool no_detectors = false;
  replay_cmd->add_flag("--no-detectors", no_detectors, "Do not print the drift detectors at the end");
  std::string replay_format = "ccpulse.v1", replay_team_map;
  AddFormatFlags(replay_cmd, &replay_format, &replay_team_map);
  AddMetricFlags(replay_cmd, &replay.metrics, &windows, &zones);

  ccpulse::ReplayOptions validate;
  CLI::App* validate_cmd = app.add_subcommand("validate", "Check that every line of the files decodes (ccpulse.v1 schema or --format)");
  validate_cmd->add_option("files", validate.files, "Input files ('-' for stdin)")->required();
  std::string validate_format = "ccpulse.v1", validate_team_map;
  AddFormatFlags(validate_cmd, &validate_format, &validate_team_map);

  ccpulse::SimulateOptions simulate;
  std::string start_text = ccpulse::schemas::FormatRfc3339(simulate.simulator.start_ms);
  std::string drift_text = "none";
  CLI::App* simulate_cmd = app.add_subcommand(
      "simulate", "Generate realistic contact-centre events as JSON Lines (seeded, reproducible)");
  auto& sim = simulate.simulator;
  simulate_cmd->add_option("--seed", sim.seed, "Random seed")->capture_default_str();
  simulate_cmd->add_option("--teams", sim.teams, "Number of teams")->capture_default_str()->check(CLI::Range(1, 1000000));
  simulate_cmd->add_option("--min-agents", sim.min_agents, "Fewest agents per team")->capture_default_str();
  simulate_cmd->add_option("--max-agents", sim.max_agents, "Most agents per team")->capture_default_str();
  simulate_cmd->add_option("--customers", sim.customers, "Customer pool (0 = 20,000 per team)")->capture_default_str();
  simulate_cmd->add_option("--start", start_text, "Event time of the first event (RFC 3339)")->capture_default_str();
  AddDuration(simulate_cmd, "--duration", &sim.duration_ms, "Simulated period");
  simulate_cmd->add_option("--tenant", sim.tenant, "Tenant of every event")->capture_default_str();
  simulate_cmd->add_option("--load", sim.load_factor, "Scale arrival rates")->capture_default_str();
  simulate_cmd->add_option("--out-of-order", sim.out_of_order_share, "Share of late deliveries")->capture_default_str();
  simulate_cmd->add_option("--duplicates", sim.duplicate_share, "Share of duplicate deliveries")->capture_default_str();
  simulate_cmd->add_option("--drift", drift_text, "Inject drift: none, escalation (probability doubles) or handle (handle time grows)")
      ->check(CLI::IsMember({"none", "escalation", "handle"}))->capture_default_str();
  simulate_cmd->add_option("--drift-team", sim.drift_team, "Index of the drifting team")->capture_default_str();
  AddDuration(simulate_cmd, "--drift-after", &sim.drift_after_ms, "Drift starts this long after --start");
  simulate_cmd->add_option("--speed", simulate.speed, "0 = as fast as possible, 1 = real time, N = N times real time")->capture_default_str();
  simulate_cmd->add_option("--limit", simulate.limit, "Stop after this many events (0 = no limit)")->capture_default_str();

  std::string brokers, topic;
  int partitions = 0;
  simulate_cmd->add_option("--brokers", brokers, "Produce to Kafka at these brokers instead of stdout");
  simulate_cmd->add_option("--topic", topic, "Kafka topic (with --brokers)")->capture_default_str();
  simulate_cmd->add_option("--partitions", partitions, "Create the topic with this many partitions (0 = leave as is)");

  std::string config_path;
  bool check_config = false;
  CLI::App* run_cmd = app.add_subcommand("run", "Consume from Kafka and serve live metrics (production)");
  run_cmd->add_option("-c,--config", config_path, "YAML configuration (see deploy/ccpulse.yaml)")->required();
  run_cmd->add_flag("--check-config", check_config, "Only validate the configuration and exit");

  ccpulse::DemoOptions demo;
  std::string demo_duration = "0s";
  CLI::App* demo_cmd = app.add_subcommand(
      "demo", "No setup: in-process Kafka mock cluster, simulated teams (one drifting), live metrics");
  demo_cmd->add_option("--teams", demo.teams, "Simulated teams")->capture_default_str()->check(CLI::Range(1, 10000));
  demo_cmd->add_option("--speed", demo.speed, "Simulated seconds per wall second")->capture_default_str()->check(CLI::PositiveNumber);
  demo_cmd->add_option("--seed", demo.seed, "Random seed")->capture_default_str();
  demo_cmd->add_option("--drift-team", demo.drift_team, "Index of the team that drifts")->capture_default_str();
  AddDuration(demo_cmd, "--drift-after", &demo.drift_after_ms, "Simulated time into the live day before the drift starts");
  AddDuration(demo_cmd, "--history", &demo.history_ms, "Simulated history replayed first, so detectors know each team's normal");
  demo_cmd->add_option("--http", demo.http_address, "HTTP address (port 0 picks a free one)")->capture_default_str();
  AddDuration(demo_cmd, "--duration", &demo.duration_ms, "Stop after this wall time (0 = at Ctrl-C)");
  demo_cmd->add_option("--summary-every", demo.summary_every_s, "Seconds between terminal summaries")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  std::atomic<bool> stop{false};
  if (run_cmd->parsed()) {
    auto config = ccpulse::LoadConfig(config_path);
    if (!config.ok()) {
      std::fprintf(stderr, "ccpulse: %s\n", std::string(config.status().message()).c_str());
      return 2;
    }
    if (check_config) {
      if (absl::Status s = ccpulse::CheckRunConfig(*config); !s.ok()) {
        std::fprintf(stderr, "ccpulse: %s\n", std::string(s.message()).c_str());
        return 2;
      }
      std::fprintf(stderr, "ccpulse: %s is valid\n", config_path.c_str());
      return 0;
    }
    ccpulse::InstallStopSignals(&stop);
    return ccpulse::RunPipeline(*config, stop, stderr);
  }
  if (demo_cmd->parsed()) {
    if (demo.drift_team < 0 || demo.drift_team >= demo.teams) {
      std::fprintf(stderr, "ccpulse: --drift-team: must be in [0, %d)\n", demo.teams);
      return 2;
    }
    ccpulse::InstallStopSignals(&stop);
    return ccpulse::RunDemo(demo, stop, stdout, stderr);
  }

  if (simulate_cmd->parsed()) {
    auto start = ccpulse::schemas::ParseRfc3339(start_text);
    if (!start) {
      std::fprintf(stderr, "ccpulse: --start: \"%s\" is not an RFC 3339 time\n", start_text.c_str());
      return 2;
    }
    sim.start_ms = *start;
    if (sim.min_agents < 1 || sim.max_agents < sim.min_agents) {
      std::fprintf(stderr, "ccpulse: --min-agents/--max-agents: need 1 <= min <= max\n");
      return 2;
    }
    using Drift = ccpulse::operators::SimulatorOptions::Drift;
    sim.drift = drift_text == "escalation" ? Drift::kEscalationDoubles
                : drift_text == "handle"   ? Drift::kHandleTimeGrows
                                           : Drift::kNone;
    if (sim.drift != Drift::kNone && (sim.drift_team < 0 || sim.drift_team >= sim.teams)) {
      std::fprintf(stderr, "ccpulse: --drift-team: must be in [0, %d)\n", sim.teams);
      return 2;
    }
    if (!brokers.empty()) {
      if (topic.empty()) {
        std::fprintf(stderr, "ccpulse: --topic is needed with --brokers\n");
        return 2;
      }
      ccpulse::InstallStopSignals(&stop);
      return ccpulse::SimulateToKafka(simulate, brokers, topic, partitions, stop, stderr);
    }
    return ccpulse::RunSimulate(simulate, stdout, stderr);
  }

  if (replay_cmd->parsed()) {
    replay.detectors = !no_detectors;
    if (!replay_config.empty()) {
      for (const char* flag : {"--windows", "--slice", "--lateness", "--retention", "--sl-threshold", "--sl-target",
                               "--short-abandon", "--repeat-window", "--forward-gap", "--same-reason", "--tz"}) {
        if (replay_cmd->count(flag) > 0) {
          std::fprintf(stderr, "ccpulse: %s and --config: set it in the file's metrics section instead\n", flag);
          return 2;
        }
      }
      auto config = ccpulse::LoadConfig(replay_config);
      if (!config.ok()) {
        std::fprintf(stderr, "ccpulse: %s\n", std::string(config.status().message()).c_str());
        return 2;
      }
      replay.config = *config;
      replay.metrics = config->metrics;
      replay.team_map = config->team_map;
    } else if (!FinishMetricOptions(windows, zones, &replay.metrics)) {
      return 2;
    }
    if (!FinishFormatFlags(replay_format, replay_team_map, &replay)) return 2;
    if (replay.every_ms <= 0 || replay.every_ms % replay.metrics.slice_ms != 0) {
      std::fprintf(stderr, "ccpulse: --every must be a positive multiple of --slice\n");
      return 2;
    }
    ccpulse::InstallStopSignals(&stop);
    replay.stop = &stop;
    return ccpulse::RunReplay(replay, stdout, stderr);
  }
  if (validate_cmd->parsed()) {
    if (!FinishFormatFlags(validate_format, validate_team_map, &validate)) return 2;
    return ccpulse::RunValidate(validate, stdout, stderr);
  }
  return 2;
}
