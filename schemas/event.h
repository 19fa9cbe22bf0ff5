// The interaction event: the value every decoder produces and every operator consumes.
// See schemas/interaction-event.v1.schema.json and DESIGN §2.
#ifndef CCPULSE_SCHEMAS_EVENT_H_
#define CCPULSE_SCHEMAS_EVENT_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace ccpulse::schemas {

// Event time in milliseconds since the Unix epoch (UTC).
using TimeMs = int64_t;

inline constexpr TimeMs kSecondMs = 1000;
inline constexpr TimeMs kMinuteMs = 60 * kSecondMs;
inline constexpr TimeMs kHourMs = 60 * kMinuteMs;
inline constexpr TimeMs kDayMs = 24 * kHourMs;

// The lifecycle step an event records. The order is the tie-break for events with equal time:
// a contact is queued before it is answered before it ends.
enum class EventType : uint8_t {
  kQueued = 0,
  kAnswered,
  kAbandoned,
  kTransferred,
  kEscalated,
  kResolved,
  kClosed,
  kReopened,
};
inline constexpr int kEventTypeCount = 8;

enum class Channel : uint8_t { kOther = 0, kVoice, kChat, kEmail, kMessaging, kSocial };
inline constexpr int kChannelCount = 6;

std::string_view EventTypeName(EventType type);
std::optional<EventType> ParseEventType(std::string_view name);
std::string_view ChannelName(Channel channel);
std::optional<Channel> ParseChannel(std::string_view name);

// True for the four outcomes an agent produces ("handled outcomes", DESIGN §4).
constexpr bool IsHandledOutcome(EventType type) {
  return type == EventType::kResolved || type == EventType::kClosed ||
         type == EventType::kTransferred || type == EventType::kEscalated;
}

// Where a record came from: input partition and offset (file line for replay).
struct SourcePosition {
  int32_t partition = 0;
  int64_t offset = 0;
};

// Limits of DESIGN §2, in bytes of UTF-8.
inline constexpr size_t kMaxIdBytes = 128;    // event_id, interaction_id, customer_id, agent
inline constexpr size_t kMaxNameBytes = 64;   // team, to_team, queue, reason, tenant

// One decoded event. The string views point into the decoder's buffers and are valid until the
// next decode on the same decoder; operators copy what they keep (as hashes or interned ids).
struct Event {
  TimeMs time_ms = 0;
  EventType type = EventType::kQueued;
  Channel channel = Channel::kOther;
  std::string_view event_id;
  std::string_view interaction_id;
  std::string_view tenant = "default";
  std::string_view team;
  std::string_view customer_id;  // empty when absent
  std::string_view agent;
  std::string_view to_team;
  std::string_view queue;
  std::string_view reason;
  SourcePosition position;
};

}  // namespace ccpulse::schemas

#endif  // CCPULSE_SCHEMAS_EVENT_H_
