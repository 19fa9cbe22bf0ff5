// What operators emit: a signed, timestamped effect on one team ("contribution"). The
// interaction fold produces them as events arrive; the engine orders them on the timeline and
// delivers them to windows, backlog and repeat-contact tracking once the watermark passes.
#ifndef CCPULSE_OPERATORS_CONTRIBUTION_H_
#define CCPULSE_OPERATORS_CONTRIBUTION_H_

#include <cstdint>
#include <tuple>

#include "schemas/event.h"

namespace ccpulse::operators {

using schemas::TimeMs;

// Dense team index, assigned in order of first appearance; see TeamRegistry (customer_stage.h).
using TeamIndex = uint32_t;

enum class Kind : uint8_t {
  // Windowed counters (one per contribution).
  kInflow = 0,       // queued at the team
  kAnswered,
  kAnsweredInSl,     // answered within sl_threshold
  kAbandoned,        // abandoned after short_abandon (or with unknown wait)
  kAbandonedShort,   // abandoned within short_abandon: excluded from the ratios
  kResolved,
  kClosed,
  kTransferred,
  kEscalated,
  kReopened,
  kFcrProvisional,   // resolved on first touch; taken back on repeat or reopen
  kFcrConfirmed,     // repeat window closed without a repeat
  kFcrFailed,        // repeat window closed; not resolved on first touch, reopened or repeated
  kRepeat,           // a repeat contact, charged to the team that resolved the first contact
  kExpired,          // an open interaction that never ended
  kGap,              // an event whose predecessor never arrived
  kCounterKinds,
  // Windowed durations; value = milliseconds.
  kWait = kCounterKinds,
  kHandle,
  kWindowedKinds,
  // Backlog transitions at the watermark; aux = interaction.
  kWaitStart = kWindowedKinds,
  kWaitEnd,
  kWorkStart,
  kWorkEnd,
  // Repeat-contact facts; aux = customer, aux2 = interaction, value = ContactFlags (end only).
  kContactStart,
  kContactEnd,
  kContactReopen,
};
inline constexpr int kCounterKindCount = static_cast<int>(Kind::kCounterKinds);

constexpr bool IsWindowed(Kind kind) { return kind < Kind::kWindowedKinds; }

// Flags of a kContactEnd.
enum ContactFlags : uint32_t {
  kContactResolvedFirstTouch = 1,  // resolved, never transferred/escalated, never reopened
};

struct Contribution {
  TimeMs time = 0;
  uint64_t aux = 0;
  uint64_t aux2 = 0;
  TeamIndex team = 0;
  uint32_t value = 0;
  Kind kind = Kind::kInflow;
  int8_t sign = 1;

  // Identity without the sign: a +1 and a -1 of the same key cancel.
  auto Key() const { return std::tie(time, team, kind, aux, aux2, value); }
  friend bool operator<(const Contribution& a, const Contribution& b) {
    return std::tie(a.time, a.team, a.kind, a.aux, a.aux2, a.value, a.sign) <
           std::tie(b.time, b.team, b.kind, b.aux, b.aux2, b.value, b.sign);
  }
  friend bool operator==(const Contribution&, const Contribution&) = default;
};

// A contribution on its way from the customer stage to the team stage, in the slice the
// customer stage's watermark passed. An effect of a repeat-contact fact (a repeat charged, a
// provisional FCR taken back) changes the windows at its own time's slice, after the slice's
// own contributions, and is not a drift observation.
struct Delivered {
  Contribution c;
  bool effect = false;
};

// Hash of a contribution's identity without the sign (for cancelling retractions).
struct ContributionHash {
  size_t operator()(const Contribution& c) const {
    uint64_t h = static_cast<uint64_t>(c.time) * 0x9e3779b97f4a7c15ULL;
    h ^= (c.aux + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2));
    h ^= (c.aux2 + 0x85ebca6b + (h << 6) + (h >> 2));
    h ^= ((uint64_t{c.team} << 32 | c.value) + (h << 6) + (h >> 2));
    h ^= (static_cast<uint64_t>(c.kind) + (h << 6) + (h >> 2));
    return static_cast<size_t>(h);
  }
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_CONTRIBUTION_H_
