// The traffic generator; see simulator.h. A discrete-event simulation of one M/G/c queue with
// abandonment per team, in event-time order.
#include "operators/simulator.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "pipeline/json_writer.h"
#include "schemas/time_format.h"

namespace ccpulse::operators {
namespace {

using schemas::Channel;
using schemas::EventType;
using schemas::kHourMs;
using schemas::kMinuteMs;
using schemas::kSecondMs;

constexpr const char* kTeamWords[] = {"billing",  "tech-support", "sales",    "retention",
                                      "claims",   "onboarding",   "payments", "fraud",
                                      "mobile",   "broadband",    "business", "collections"};
constexpr const char* kReasons[] = {"billing-question", "outage",    "upgrade",  "cancel",
                                    "payment-failed",   "password",  "delivery", "complaint"};

// Relative arrival intensity per hour of day (UTC), peak = 1.
constexpr double kIntraday[24] = {0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.2,  0.45,
                                  0.8,  1.0,  0.95, 0.9,  0.7,  0.8,  0.9,  0.85,
                                  0.75, 0.6,  0.45, 0.35, 0.25, 0.18, 0.12, 0.08};

struct ChannelProfile {
  Channel channel;
  double share;
  double handle_median_s;
  double patience_mean_s;  // 0 = never abandons
};
constexpr ChannelProfile kChannels[] = {
    {Channel::kVoice, 0.60, 240, 120},
    {Channel::kChat, 0.25, 420, 300},
    {Channel::kEmail, 0.10, 600, 0},
    {Channel::kMessaging, 0.05, 360, 0},
};

const ChannelProfile& Profile(Channel channel) {
  for (const auto& p : kChannels) {
    if (p.channel == channel) return p;
  }
  return kChannels[0];
}

}  // namespace

schemas::Event SimEvent::View(const std::string& tenant) const {
  schemas::Event e;
  e.type = type;
  e.channel = channel;
  e.time_ms = time_ms;
  e.event_id = event_id;
  e.interaction_id = interaction_id;
  e.tenant = tenant;
  e.team = team;
  e.customer_id = customer_id;
  e.agent = agent;
  e.to_team = to_team;
  e.reason = reason;
  return e;
}

std::string SimEvent::ToJson(const std::string& tenant) const {
  std::string out;
  out.reserve(256);
  JsonWriter json(&out);
  json.BeginObject();
  json.Key("event_id").String(event_id);
  json.Key("type").String(schemas::EventTypeName(type));
  json.Key("time").String(schemas::FormatRfc3339(time_ms));
  json.Key("interaction_id").String(interaction_id);
  if (tenant != "default") json.Key("tenant").String(tenant);
  json.Key("team").String(team);
  if (!customer_id.empty()) json.Key("customer_id").String(customer_id);
  if (!agent.empty()) json.Key("agent").String(agent);
  if (!to_team.empty()) json.Key("to_team").String(to_team);
  json.Key("channel").String(schemas::ChannelName(channel));
  if (!reason.empty()) json.Key("reason").String(reason);
  json.EndObject();
  return out;
}

Simulator::Simulator(SimulatorOptions options)
    : options_(std::move(options)), rng_(options_.seed), end_ms_(options_.start_ms + options_.duration_ms) {
  if (options_.customers <= 0) options_.customers = 20000LL * options_.teams;
  std::uniform_real_distribution<double> u(0, 1);
  const int words = static_cast<int>(std::size(kTeamWords));
  for (int t = 0; t < options_.teams; ++t) {
    Team team;
    team.name = options_.teams <= words ? kTeamWords[t]
                : options_.teams <= words * 9 ? fmt::format("{}-{}", kTeamWords[t % words], t / words + 1)
                : fmt::format("team-{:05d}", t);
    team.agents = options_.min_agents +
                  static_cast<int>(rng_() % static_cast<uint64_t>(options_.max_agents - options_.min_agents + 1));
    for (int a = team.agents - 1; a >= 0; --a) team.free_agents.push_back(a);
    team.escalation_p = 0.04 + 0.06 * u(rng_);
    team.transfer_p = 0.03 + 0.05 * u(rng_);
    team.closed_p = 0.04 + 0.06 * u(rng_);
    // Capacity: agents / mean handle time (voice-weighted ~330 s), times the peak utilisation.
    team.arrivals_per_ms_at_peak =
        team.agents * options_.peak_utilisation * options_.load_factor / (330.0 * 1000.0);
    team_names_.push_back(team.name);
    teams_.push_back(std::move(team));
  }
  for (uint32_t t = 0; t < teams_.size(); ++t) ScheduleNextArrival(t, options_.start_ms);
}

double Simulator::Curve(TimeMs time) const {
  const int64_t ms_of_day = ((time % schemas::kDayMs) + schemas::kDayMs) % schemas::kDayMs;
  const int hour = static_cast<int>(ms_of_day / kHourMs);
  const double frac = static_cast<double>(ms_of_day % kHourMs) / kHourMs;
  return kIntraday[hour] + (kIntraday[(hour + 1) % 24] - kIntraday[hour]) * frac;
}

bool Simulator::Drifting(uint32_t team, TimeMs time) const {
  return options_.drift != SimulatorOptions::Drift::kNone && static_cast<int>(team) == options_.drift_team &&
         time >= options_.start_ms + options_.drift_after_ms;
}

void Simulator::Schedule(TimeMs time, Step step, uint32_t team, uint32_t contact) {
  happenings_.push(Happening{time, seq_++, step, team, contact});
}

void Simulator::ScheduleNextArrival(uint32_t team, TimeMs after) {
  // Thinning: candidate arrivals at the peak rate, kept with probability Curve(t).
  const double rate = teams_[team].arrivals_per_ms_at_peak;
  if (rate <= 0) return;
  std::exponential_distribution<double> gap(rate);
  std::uniform_real_distribution<double> u(0, 1);
  TimeMs t = after;
  while (true) {
    t += static_cast<TimeMs>(std::ceil(gap(rng_)));
    if (t >= end_ms_) return;
    if (u(rng_) <= Curve(t)) break;
  }
  Schedule(t, Step::kArrival, team, UINT32_MAX);
}

TimeMs Simulator::HandleTime(Channel channel, uint32_t team, TimeMs time) {
  double median = Profile(channel).handle_median_s;
  if (Drifting(team, time) && options_.drift == SimulatorOptions::Drift::kHandleTimeGrows) median *= 1.6;
  std::lognormal_distribution<double> handle(std::log(median), 0.5);
  return std::max<TimeMs>(10 * kSecondMs, static_cast<TimeMs>(handle(rng_) * 1000.0));
}

void Simulator::Emit(EventType type, TimeMs time, const Contact& c, uint32_t team,
                     const std::string& to_team) {
  SimEvent e;
  e.type = type;
  e.channel = c.channel;
  e.time_ms = time;
  e.emit_ms = time;
  e.event_id = fmt::format("s{}-{}", options_.seed, generated_);
  e.interaction_id = fmt::format("c{}", c.id);
  e.team = teams_[team].name;
  if (c.customer != 0) e.customer_id = fmt::format("cust-{}", c.customer);
  if (c.agent >= 0 && type != EventType::kQueued && type != EventType::kAbandoned) {
    e.agent = fmt::format("{}-agent-{:02d}", teams_[team].name, c.agent + 1);
  }
  e.to_team = to_team;
  if (type == EventType::kQueued) e.reason = c.reason;
  ++generated_;
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<TimeMs> delay(1, options_.max_delay_ms);
  if (u(rng_) < options_.duplicate_share) {
    SimEvent copy = e;
    copy.emit_ms = time + delay(rng_);
    pending_.push(Pending{copy.emit_ms, seq_++, std::move(copy)});
  }
  if (u(rng_) < options_.out_of_order_share) e.emit_ms = time + delay(rng_);
  pending_.push(Pending{e.emit_ms, seq_++, std::move(e)});
}

void Simulator::StartArrival(uint32_t team, TimeMs time, uint64_t customer, Channel channel,
                             const std::string& reason) {
  uint32_t index;
  if (free_contacts_.empty()) {
    index = static_cast<uint32_t>(contacts_.size());
    contacts_.emplace_back();
  } else {
    index = free_contacts_.back();
    free_contacts_.pop_back();
  }
  Contact& c = contacts_[index];
  c = Contact{};
  c.id = next_contact_id_++;
  c.customer = customer;
  c.team = team;
  c.channel = channel;
  c.reason = reason;
  Offer(team, index, time);
}

void Simulator::Offer(uint32_t team, uint32_t index, TimeMs time) {
  Contact& c = contacts_[index];
  c.team = team;
  c.queued_at = time;
  c.agent = -1;
  const double patience_mean = Profile(c.channel).patience_mean_s;
  c.patience_ms = patience_mean > 0
                      ? static_cast<TimeMs>(std::exponential_distribution<double>(1.0 / patience_mean)(rng_) * 1000.0)
                      : INT64_MAX / 4;
  Emit(EventType::kQueued, time, c, team);
  Team& t = teams_[team];
  if (!t.free_agents.empty() && t.queue.empty()) {
    const int agent = t.free_agents.back();
    t.free_agents.pop_back();
    // Even a free agent needs a moment to pick up.
    Answer(team, index, agent, time + 1000 + static_cast<TimeMs>(rng_() % 4000));
    return;
  }
  t.queue.push_back(index);
  if (c.patience_ms < INT64_MAX / 4) Schedule(time + c.patience_ms, Step::kAbandonCheck, team, index);
}

void Simulator::Answer(uint32_t team, uint32_t index, int agent, TimeMs time) {
  Contact& c = contacts_[index];
  c.agent = agent;
  Emit(EventType::kAnswered, time, c, team);
  Schedule(time + HandleTime(c.channel, team, time), Step::kHandleEnd, team, index);
}

void Simulator::AgentFree(uint32_t team, int agent, TimeMs time) {
  Team& t = teams_[team];
  while (!t.queue.empty()) {
    const uint32_t next = t.queue.front();
    t.queue.pop_front();
    Contact& c = contacts_[next];
    if (c.done || c.agent >= 0) continue;
    Answer(team, next, agent, time + 500 + static_cast<TimeMs>(rng_() % 2500));
    return;
  }
  t.free_agents.push_back(agent);
}

void Simulator::HandleEnd(uint32_t team, uint32_t index, TimeMs time) {
  Contact& c = contacts_[index];
  Team& t = teams_[team];
  std::uniform_real_distribution<double> u(0, 1);
  double escalation_p = t.escalation_p;
  if (Drifting(team, time) && options_.drift == SimulatorOptions::Drift::kEscalationDoubles) escalation_p *= 2;
  const double r = u(rng_);
  const int agent = c.agent;
  if (c.legs < 2 && r < escalation_p + t.transfer_p && teams_.size() > 1) {
    const bool escalate = r < escalation_p;
    uint32_t target = static_cast<uint32_t>(rng_() % (teams_.size() - 1));
    if (target >= team) ++target;
    Emit(escalate ? EventType::kEscalated : EventType::kTransferred, time, c, team, teams_[target].name);
    ++c.legs;
    AgentFree(team, agent, time);
    Offer(target, index, time + 1000);
    return;
  }
  const bool closed = r < escalation_p + t.transfer_p + t.closed_p;
  Emit(closed ? EventType::kClosed : EventType::kResolved, time, c, team);
  c.done = true;
  // Customers whose issue stayed open call back (repeat contacts), some soon, some hours later.
  const double callback_p = closed ? 0.35 : (c.legs > 0 ? 0.15 : 0.06);
  if (c.customer != 0 && u(rng_) < callback_p) {
    std::lognormal_distribution<double> delay_h(std::log(3.0), 1.0);
    const TimeMs at = time + static_cast<TimeMs>(delay_h(rng_) * kHourMs);
    if (at < end_ms_) Schedule(at, Step::kCallback, c.team, index);
    else free_contacts_.push_back(index);
  } else {
    free_contacts_.push_back(index);
  }
  AgentFree(team, agent, time);
}

bool Simulator::Pump() {
  if (happenings_.empty()) return false;
  const Happening h = happenings_.top();
  happenings_.pop();
  switch (h.step) {
    case Step::kArrival: {
      std::uniform_real_distribution<double> u(0, 1);
      const double pick = u(rng_);
      double acc = 0;
      Channel channel = Channel::kVoice;
      for (const auto& p : kChannels) {
        acc += p.share;
        if (pick <= acc) {
          channel = p.channel;
          break;
        }
      }
      const uint64_t customer = rng_() % 10 == 0 ? 0 : 1 + rng_() % static_cast<uint64_t>(options_.customers);
      StartArrival(h.team, h.time, customer, channel, kReasons[rng_() % std::size(kReasons)]);
      ScheduleNextArrival(h.team, h.time);
      break;
    }
    case Step::kAbandonCheck: {
      Contact& c = contacts_[h.contact];
      if (c.done || c.agent >= 0 || c.team != h.team) break;
      if (h.time - c.queued_at < c.patience_ms) break;  // a later leg of the same contact
      Emit(EventType::kAbandoned, h.time, c, h.team);
      c.done = true;
      auto& queue = teams_[h.team].queue;
      queue.erase(std::find(queue.begin(), queue.end(), h.contact));
      free_contacts_.push_back(h.contact);
      break;
    }
    case Step::kHandleEnd:
      HandleEnd(h.team, h.contact, h.time);
      break;
    case Step::kCallback: {
      const Contact old = contacts_[h.contact];
      free_contacts_.push_back(h.contact);
      StartArrival(old.team, h.time, old.customer, old.channel, old.reason);
      break;
    }
  }
  return true;
}

bool Simulator::Next(SimEvent* out) {
  while (true) {
    // A pending event is safe to deliver once no happening can produce an earlier one.
    if (!pending_.empty() && (happenings_.empty() || pending_.top().emit_ms <= happenings_.top().time)) {
      *out = std::move(const_cast<Pending&>(pending_.top()).event);
      pending_.pop();
      return true;
    }
    if (!Pump()) {
      if (pending_.empty()) return false;
    }
  }
}

}  // namespace ccpulse::operators
