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
  for (size_t i = 0; i < kEventTypeNames.size(); ++i) {
    if (kEventTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string_view ChannelName(Channel channel) { return kChannelNames[static_cast<size_t>(channel)]; }

std::optional<Channel> ParseChannel(std::string_view name) {
  for (size_t i = 0; i < kChannelNames.size(); ++i) {
    if (kChannelNames[i] == name) return static_cast<Channel>(i);
  }
  return std::nullopt;
}

}  // namespace ccpulse::schemas
