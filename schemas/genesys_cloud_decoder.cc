// Genesys Cloud conversation detail events (topics v2.detail.events.conversation.{id}.<kind>, as
// notifications or through the EventBridge integration) -> ccpulse events. Mapping:
// schemas/README.md, "genesys-cloud".
#include <fmt/format.h>

#include "schemas/adapters.h"

namespace ccpulse::schemas::adapters {
namespace {

constexpr std::string_view kTopicPrefix = "v2.detail.events.conversation.";

Channel GenesysChannel(std::string_view media) {
  if (media == "VOICE" || media == "CALLBACK") return Channel::kVoice;
  if (media == "CHAT") return Channel::kChat;
  if (media == "EMAIL") return Channel::kEmail;
  if (media == "MESSAGE") return Channel::kMessaging;
  return Channel::kOther;
}

bool IsTransfer(std::string_view disconnect_type) {
  return disconnect_type == "TRANSFER" || disconnect_type == "CONFERENCE_TRANSFER" ||
         disconnect_type == "CONSULT_TRANSFER" || disconnect_type == "FORWARD_TRANSFER";
}

class GenesysCloudDecoder final : public RecordDecoder {
 public:
  using RecordDecoder::RecordDecoder;

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override;

 private:
  JsonDocument json_;
};

DecodeStatus GenesysCloudDecoder::DecodeRecord(std::string_view record, DecodedRecord* out) {
  dom::object root;
  if (DecodeStatus s = json_.Parse(record, &root); !s.ok()) return s;
  // A notification {topicName, eventBody}, or an EventBridge event whose detail is one.
  std::optional<dom::object> detail, body;
  if (DecodeStatus s = GetObject(root, "detail", "detail", &detail); !s.ok()) return s;
  const dom::object notification = detail.value_or(root);
  std::string_view topic;
  if (DecodeStatus s = GetString(notification, "topicName", "topicName", true, 0, &topic); !s.ok()) return s;
  if (!topic.starts_with(kTopicPrefix)) {
    return Fail(DecodeError::kUnknownType,
                fmt::format("field `topicName`: \"{}\" is not a conversation detail event", topic.substr(0, 80)));
  }
  topic.remove_prefix(kTopicPrefix.size());
  const size_t dot = topic.find('.');
  const std::string_view kind = dot == std::string_view::npos ? std::string_view{} : topic.substr(dot + 1);
  if (DecodeStatus s = GetObject(notification, "eventBody", "eventBody", &body); !s.ok()) return s;
  if (!body) return Fail(DecodeError::kMissingField, "required field `eventBody` is missing");

  std::string_view outcome, disconnect_type, media, session, conversation;
  std::optional<TimeMs> interacting_ms;
  Event& e = out->Add();
  if (DecodeStatus s = GetString(*body, "acdOutcome", "eventBody.acdOutcome", false, 0, &outcome); !s.ok()) return s;
  if (DecodeStatus s = GetString(*body, "disconnectType", "eventBody.disconnectType", false, 0, &disconnect_type); !s.ok()) return s;
  if (DecodeStatus s = GetTime(*body, "interactingDurationMs", "eventBody.interactingDurationMs", &interacting_ms); !s.ok()) return s;
  if (kind == "acd.start") {
    e.type = EventType::kQueued;
  } else if (kind == "acd.end" && outcome == "ANSWERED") {
    e.type = EventType::kAnswered;
    if (DecodeStatus s = GetString(*body, "answeredUserId", "eventBody.answeredUserId", false, kMaxIdBytes, &e.agent); !s.ok()) return s;
  } else if (kind == "acd.end" && outcome == "ABANDON") {
    e.type = EventType::kAbandoned;
  } else if (kind == "acd.end" && outcome == "FLOW_OUT") {
    e.type = EventType::kTransferred;  // routed out of the queue by a flow
  } else if (kind == "user.end" && interacting_ms.value_or(0) > 0 && disconnect_type != "NO_ANSWER_TRANSFER" &&
             disconnect_type != "NOT_AVAILABLE_TRANSFER") {
    e.type = IsTransfer(disconnect_type) ? EventType::kTransferred : EventType::kResolved;
    if (DecodeStatus s = GetString(*body, "userId", "eventBody.userId", false, kMaxIdBytes, &e.agent); !s.ok()) return s;
  } else {
    out->count = 0;  // acw, customer/user start, flow, attribute and other detail events
    return {};
  }
  std::optional<TimeMs> time;
  if (DecodeStatus s = GetTime(*body, "eventTime", "eventBody.eventTime", &time); !s.ok()) return s;
  if (!time) return Fail(DecodeError::kMissingField, "required field `eventBody.eventTime` is missing");
  if (DecodeStatus s = CheckTime(*time, "eventBody.eventTime"); !s.ok()) return s;
  e.time_ms = *time;
  if (DecodeStatus s = GetString(*body, "conversationId", "eventBody.conversationId", true, kMaxIdBytes, &conversation); !s.ok()) return s;
  if (DecodeStatus s = GetString(*body, "sessionId", "eventBody.sessionId", false, kMaxIdBytes, &session); !s.ok()) return s;
  if (DecodeStatus s = GetString(*body, "queueId", "eventBody.queueId", false, kMaxNameBytes, &e.queue); !s.ok()) return s;
  if (DecodeStatus s = GetString(*body, "mediaType", "eventBody.mediaType", false, 0, &media); !s.ok()) return s;
  if (DecodeStatus s = GetString(*body, "ani", "eventBody.ani", false, kMaxIdBytes, &e.customer_id); !s.ok()) return s;
  if (e.customer_id.empty()) {
    if (DecodeStatus s = GetString(*body, "addressFrom", "eventBody.addressFrom", false, kMaxIdBytes, &e.customer_id); !s.ok()) return s;
  }
  e.interaction_id = conversation;
  e.channel = GenesysChannel(media);
  // One conversation queues once per ACD session: the session tells the steps apart.
  std::string& suffix = Scratch(1);
  suffix.assign(session.empty() ? std::string_view("-") : session).append(":").append(EventTypeName(e.type));
  if (DecodeStatus s = JoinId(&Scratch(0), conversation, suffix, &e.event_id); !s.ok()) return s;
  return AssignTeam(e);
}

}  // namespace

std::unique_ptr<RecordDecoder> NewGenesysCloudDecoder(RecordDecoder::Options options) {
  return std::make_unique<GenesysCloudDecoder>(options);
}

}  // namespace ccpulse::schemas::adapters
