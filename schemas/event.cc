// Names of event types and channels as they appear on the wire.
#include "schemas/event.h"

#include <array>

namespace ccpulse::schemas {
namespace {

constexpr std::array<std::string_view, kEventTypeCount> kEventTypeNames = {
    "queued", "answered", "abandoned", "transferred", "escalated", "resolved", "closed", "reopened"};
constexpr std::array<std::string_view, kChannelCount> kChannelNames = {
    "other", "voice", "chat", "email", "messaging", "social"};

}  // namespace

std::string_view EventTypeName(EventType type) {
  return kEventTypeNames[static_cast<size_t>(type)];
}

std::optional<EventType> ParseEventType(std::string_view name) {
  // One comparison per name: the first byte (and for 'r' the third) tells them apart.
  auto is = [&](EventType type) -> std::optional<EventType> {
    if (name == kEventTypeNames[static_cast<size_t>(type)]) return type;
    return std::nullopt;
  };
  if (name.size() < 3) return std::nullopt;
  switch (name[0]) {
    case 'q': return is(EventType::kQueued);
    case 'a': return name[1] == 'n' ? is(EventType::kAnswered) : is(EventType::kAbandoned);
    case 't': return is(EventType::kTransferred);
    case 'e': return is(EventType::kEscalated);
    case 'r': return name[2] == 's' ? is(EventType::kResolved) : is(EventType::kReopened);
    case 'c': return is(EventType::kClosed);
    default: return std::nullopt;
  }
}

std::string_view ChannelName(Channel channel) { return kChannelNames[static_cast<size_t>(channel)]; }

std::optional<Channel> ParseChannel(std::string_view name) {
  for (size_t i = 0; i < kChannelNames.size(); ++i) {
    if (kChannelNames[i] == name) return static_cast<Channel>(i);
  }
  return std::nullopt;
}

}  // namespace ccpulse::schemas
