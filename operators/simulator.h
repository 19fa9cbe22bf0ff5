// A seeded, reproducible contact-centre traffic generator (`ccpulse simulate`, the demo, tests
// and benchmarks): teams of agents serving Poisson arrivals that follow an intraday curve,
// a channel mix, lognormal handle times, abandonment by patience, per-team escalation /
// transfer / resolution probabilities, customers who call back, a small share of out-of-order
// and duplicate deliveries, and optional drift injected into one team from a given time.
#ifndef CCPULSE_OPERATORS_SIMULATOR_H_
#define CCPULSE_OPERATORS_SIMULATOR_H_

#include <cstdint>
#include <deque>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "schemas/event.h"

namespace ccpulse::operators {

using schemas::TimeMs;

struct SimulatorOptions {
  uint64_t seed = 1;
  int teams = 12;
  int min_agents = 10;
  int max_agents = 15;
  int64_t customers = 0;            // pool size; 0 = 20,000 per team
  TimeMs start_ms = 1'772'409'600'000;  // 2026-03-02T00:00:00Z
  TimeMs duration_ms = 24 * schemas::kHourMs;
  std::string tenant = "default";
  // Peak offered load as a share of agent capacity (the intraday curve scales it down).
  double peak_utilisation = 0.9;
  // Scales every team's arrival rate (e.g. 0.1 for a quiet stream of many teams).
  double load_factor = 1.0;
  // Share of deliveries that arrive late (up to max_delay_ms after their event time) or twice.
  double out_of_order_share = 0.01;
  double duplicate_share = 0.005;
  TimeMs max_delay_ms = 30 * schemas::kSecondMs;

  enum class Drift { kNone, kEscalationDoubles, kHandleTimeGrows };
  Drift drift = Drift::kNone;
  int drift_team = 0;
  TimeMs drift_after_ms = 0;  // offset from start_ms
};

// One generated event, owning its strings.
struct SimEvent {
  schemas::EventType type = schemas::EventType::kQueued;
  schemas::Channel channel = schemas::Channel::kVoice;
  TimeMs time_ms = 0;      // event time
  TimeMs emit_ms = 0;      // when it is delivered (>= time_ms)
  std::string event_id, interaction_id, team, customer_id, agent, to_team, reason;

  // A view for the engine; valid while this object lives.
  schemas::Event View(const std::string& tenant) const;
  // The ccpulse.v1 JSON record (one line, no newline).
  std::string ToJson(const std::string& tenant) const;
};

// Not thread-safe. Events come out in delivery order (emit_ms), which is event-time order
// except for the configured share of late and duplicate deliveries.
class Simulator {
 public:
  explicit Simulator(SimulatorOptions options);

  // Fills `*out` with the next delivered event; false once the simulated period is over.
  bool Next(SimEvent* out);

  const SimulatorOptions& options() const { return options_; }
  const std::vector<std::string>& team_names() const { return team_names_; }
  uint64_t generated() const { return generated_; }

 private:
  enum class Step : uint8_t { kArrival, kAbandonCheck, kHandleEnd, kCallback };
  struct Happening {
    TimeMs time;
    uint64_t seq;
    Step step;
    uint32_t team;
    uint32_t contact;  // index into contacts_
    bool operator>(const Happening& o) const { return time != o.time ? time > o.time : seq > o.seq; }
  };
  struct Contact {
    uint64_t id;
    uint64_t customer;
    uint32_t team;
    schemas::Channel channel;
    TimeMs queued_at;
    TimeMs patience_ms;
    int agent = -1;
    int legs = 0;
    bool done = false;
    std::string reason;
  };
  struct Team {
    std::string name;
    int agents;
    std::vector<int> free_agents;
    std::deque<uint32_t> queue;  // waiting contacts, FIFO
    double escalation_p, transfer_p, closed_p;
    double arrivals_per_ms_at_peak;
  };

  void Schedule(TimeMs time, Step step, uint32_t team, uint32_t contact);
  void Emit(schemas::EventType type, TimeMs time, const Contact& c, uint32_t team,
            const std::string& to_team = "");
  void StartArrival(uint32_t team, TimeMs time, uint64_t customer, schemas::Channel channel,
                    const std::string& reason);
  void Offer(uint32_t team, uint32_t contact, TimeMs time);
  void AgentFree(uint32_t team, int agent, TimeMs time);
  void Answer(uint32_t team, uint32_t contact, int agent, TimeMs time);
  void HandleEnd(uint32_t team, uint32_t contact, TimeMs time);
  void ScheduleNextArrival(uint32_t team, TimeMs after);
  double Curve(TimeMs time) const;  // intraday multiplier in [0, 1]
  TimeMs HandleTime(schemas::Channel channel, uint32_t team, TimeMs time);
  bool Drifting(uint32_t team, TimeMs time) const;
  // Advances the simulation until an event can be delivered.
  bool Pump();

  SimulatorOptions options_;
  std::mt19937_64 rng_;
  std::vector<Team> teams_;
  std::vector<std::string> team_names_;
  std::vector<Contact> contacts_;
  std::vector<uint32_t> free_contacts_;
  std::priority_queue<Happening, std::vector<Happening>, std::greater<>> happenings_;
  // Generated events waiting for their delivery time, ordered by (emit_ms, sequence).
  struct Pending {
    TimeMs emit_ms;
    uint64_t seq;
    SimEvent event;
    bool operator>(const Pending& o) const {
      return emit_ms != o.emit_ms ? emit_ms > o.emit_ms : seq > o.seq;
    }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending_;
  uint64_t seq_ = 0;
  uint64_t next_contact_id_ = 0;
  uint64_t generated_ = 0;
  TimeMs end_ms_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_SIMULATOR_H_
