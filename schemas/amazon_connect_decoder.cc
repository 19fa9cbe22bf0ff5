// Amazon Connect contact events (EventBridge detail-type "Amazon Connect Contact Event") ->
// ccpulse events. Mapping and sources: schemas/README.md, "amazon-connect".
#include <unordered_map>

#include <fmt/format.h>

#include "schemas/adapters.h"

namespace ccpulse::schemas::adapters {
namespace {

// Contacts remembered per generation; two generations bound the memory to twice this.
constexpr size_t kRememberedContacts = 1 << 16;

Channel ConnectChannel(std::string_view name) {
  auto is = [&](std::string_view want) {
    return name.size() == want.size() &&
           std::equal(name.begin(), name.end(), want.begin(), [](char a, char b) { return (a | 0x20) == (b | 0x20); });
  };
  if (is("voice")) return Channel::kVoice;
  if (is("chat")) return Channel::kChat;
  if (is("email")) return Channel::kEmail;
  return Channel::kOther;  // TASK and anything newer
}

// Not queue work: agent-initiated calls and supervisor monitoring.
bool IsOutbound(std::string_view method) {
  return method == "OUTBOUND" || method == "EXTERNAL_OUTBOUND" || method == "MONITOR";
}

// Stateless apart from one thing Connect does not put in the record: a transfer creates a new
// contact that names the previous one (previousContactId) but not its queue. The decoder
// remembers the team of recently queued or connected contacts so the transfer can be charged to
// it, and which contacts were transferred so their DISCONNECTED is not also counted as an outcome.
class AmazonConnectDecoder final : public RecordDecoder {
 public:
  using RecordDecoder::RecordDecoder;

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override;

 private:
  struct Contact {
    std::string team;
    bool transferred = false;
  };

  Contact* Remembered(std::string_view contact_id);
  void Remember(std::string_view contact_id, std::string_view team);
  // The event at `time` (or the envelope time), with id "<contact_id>:<type>".
  DecodeStatus Emit(EventType type, std::optional<TimeMs> time, std::string_view time_field,
                    std::string_view contact_id, DecodedRecord* out, Event** event);

  JsonDocument json_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using Contacts = std::unordered_map<std::string, Contact, Hash, std::equal_to<>>;
  Contacts current_, previous_;
  // Fields of the record being decoded, shared by every event it yields.
  Event common_;
  std::optional<TimeMs> envelope_time_;
};

AmazonConnectDecoder::Contact* AmazonConnectDecoder::Remembered(std::string_view contact_id) {
  if (auto it = current_.find(contact_id); it != current_.end()) return &it->second;
  if (auto it = previous_.find(contact_id); it != previous_.end()) return &it->second;
  return nullptr;
}

void AmazonConnectDecoder::Remember(std::string_view contact_id, std::string_view team) {
  if (Contact* seen = Remembered(contact_id)) {
    seen->team.assign(team);
    return;
  }
  if (current_.size() >= kRememberedContacts) {
    previous_ = std::move(current_);
    current_.clear();
  }
  current_[std::string(contact_id)].team.assign(team);
}

DecodeStatus AmazonConnectDecoder::Emit(EventType type, std::optional<TimeMs> time,
                                        std::string_view time_field, std::string_view contact_id,
                                        DecodedRecord* out, Event** event) {
  if (!time) time = envelope_time_;
  if (!time) {
    return Fail(DecodeError::kMissingField, fmt::format("required field `{}` is missing", time_field));
  }
  if (DecodeStatus s = CheckTime(*time, time_field); !s.ok()) return s;
  Event& e = out->Add();
  e = common_;
  e.type = type;
  e.time_ms = *time;
  *event = &e;
  return JoinId(&Scratch(out->count - 1), contact_id, EventTypeName(type), &e.event_id);
}

DecodeStatus AmazonConnectDecoder::DecodeRecord(std::string_view record, DecodedRecord* out) {
  dom::object root;
  if (DecodeStatus s = json_.Parse(record, &root); !s.ok()) return s;
  std::string_view detail_type;
  if (DecodeStatus s = GetString(root, "detail-type", "detail-type", false, 0, &detail_type); !s.ok()) return s;
  if (!detail_type.empty() && detail_type != "Amazon Connect Contact Event") return {};  // another Connect event
  if (DecodeStatus s = GetTime(root, "time", "time", &envelope_time_); !s.ok()) return s;
  // The EventBridge envelope, or only its detail (an input transformer's `$.detail`).
  std::optional<dom::object> detail_field;
  if (DecodeStatus s = GetObject(root, "detail", "detail", &detail_field); !s.ok()) return s;
  const dom::object detail = detail_field.value_or(root);

  std::string_view event_type, contact_id, initial_id, previous_id, method, channel;
  if (DecodeStatus s = GetString(detail, "eventType", "detail.eventType", true, 0, &event_type); !s.ok()) return s;
  if (DecodeStatus s = GetString(detail, "contactId", "detail.contactId", true, kMaxIdBytes, &contact_id); !s.ok()) return s;
  if (DecodeStatus s = GetString(detail, "initialContactId", "detail.initialContactId", false, kMaxIdBytes, &initial_id); !s.ok()) return s;
  if (DecodeStatus s = GetString(detail, "previousContactId", "detail.previousContactId", false, kMaxIdBytes, &previous_id); !s.ok()) return s;
  if (DecodeStatus s = GetString(detail, "initiationMethod", "detail.initiationMethod", false, 0, &method); !s.ok()) return s;
  if (DecodeStatus s = GetString(detail, "channel", "detail.channel", false, 0, &channel); !s.ok()) return s;
  common_ = Event{};
  if (DecodeStatus s = GetString(detail, "customerId", "detail.customerId", false, kMaxIdBytes, &common_.customer_id); !s.ok()) return s;
  common_.interaction_id = initial_id.empty() ? contact_id : initial_id;
  common_.channel = ConnectChannel(channel);

  std::optional<dom::object> queue_info, agent_info;
  std::optional<TimeMs> enqueued, connected, initiated, disconnected;
  if (DecodeStatus s = GetObject(detail, "queueInfo", "detail.queueInfo", &queue_info); !s.ok()) return s;
  if (DecodeStatus s = GetObject(detail, "agentInfo", "detail.agentInfo", &agent_info); !s.ok()) return s;
  if (queue_info) {
    std::string_view arn;
    if (DecodeStatus s = GetString(*queue_info, "queueArn", "detail.queueInfo.queueArn", false, 0, &arn); !s.ok()) return s;
    common_.queue = LastSegment(arn);
    if (common_.queue.size() > kMaxNameBytes) {
      return Fail(DecodeError::kFieldTooLong, fmt::format("field `detail.queueInfo.queueArn`: queue id of {} bytes, over the limit of {}",
                                                          common_.queue.size(), kMaxNameBytes));
    }
    if (DecodeStatus s = GetTime(*queue_info, "enqueueTimestamp", "detail.queueInfo.enqueueTimestamp", &enqueued); !s.ok()) return s;
  }
  if (agent_info) {
    std::string_view arn;
    if (DecodeStatus s = GetString(*agent_info, "agentArn", "detail.agentInfo.agentArn", false, 0, &arn); !s.ok()) return s;
    common_.agent = LastSegment(arn);
    if (common_.agent.size() > kMaxIdBytes) {
      return Fail(DecodeError::kFieldTooLong, fmt::format("field `detail.agentInfo.agentArn`: agent id of {} bytes, over the limit of {}",
                                                          common_.agent.size(), kMaxIdBytes));
    }
    if (DecodeStatus s = GetTime(*agent_info, "connectedToAgentTimestamp", "detail.agentInfo.connectedToAgentTimestamp", &connected); !s.ok()) return s;
  }
  if (DecodeStatus s = GetTime(detail, "initiationTimestamp", "detail.initiationTimestamp", &initiated); !s.ok()) return s;
  if (DecodeStatus s = GetTime(detail, "disconnectTimestamp", "detail.disconnectTimestamp", &disconnected); !s.ok()) return s;

  if (IsOutbound(method)) return {};
  Event* e = nullptr;
  if (event_type == "QUEUED") {
    if (common_.queue.empty()) {
      return Fail(DecodeError::kMissingField, "required field `detail.queueInfo.queueArn` is missing");
    }
    if (DecodeStatus s = Emit(EventType::kQueued, enqueued, "detail.queueInfo.enqueueTimestamp", contact_id, out, &e); !s.ok()) return s;
    if (DecodeStatus s = AssignTeam(*e); !s.ok()) return s;
    Remember(contact_id, e->team);
  } else if (event_type == "CONNECTED_TO_AGENT") {
    if (DecodeStatus s = Emit(EventType::kAnswered, connected, "detail.agentInfo.connectedToAgentTimestamp", contact_id, out, &e); !s.ok()) return s;
    if (DecodeStatus s = AssignTeam(*e); !s.ok()) return s;
    Remember(contact_id, e->team);
  } else if (event_type == "INITIATED") {
    // A transfer: the new contact names the previous one, which leaves its team.
    if ((method != "TRANSFER" && method != "QUEUE_TRANSFER") || previous_id.empty()) return {};
    Contact* previous = Remembered(previous_id);
    if (previous == nullptr || previous->transferred) return {};
    if (DecodeStatus s = Emit(EventType::kTransferred, initiated, "detail.initiationTimestamp", previous_id, out, &e); !s.ok()) return s;
    e->team = previous->team;
    e->queue = {};
    e->agent = {};
    previous->transferred = true;
  } else if (event_type == "DISCONNECTED") {
    if (const Contact* seen = Remembered(contact_id); seen != nullptr && seen->transferred) return {};
    EventType outcome;
    if (connected) {
      outcome = EventType::kResolved;
    } else if (enqueued) {
      outcome = EventType::kAbandoned;
    } else {
      return {};  // never reached a queue (ended in the flow)
    }
    if (DecodeStatus s = Emit(outcome, disconnected, "detail.disconnectTimestamp", contact_id, out, &e); !s.ok()) return s;
    if (DecodeStatus s = AssignTeam(*e); !s.ok()) return s;
  } else if (event_type == "COMPLETED" || event_type == "CONNECTED_TO_SYSTEM" ||
             event_type == "CONTACT_DATA_UPDATED" || event_type == "AMD_DISABLED" ||
             event_type == "PAUSED" || event_type == "RESUMED" || event_type == "WEBRTC_API") {
    return {};
  } else {
    return Fail(DecodeError::kUnknownType,
                fmt::format("field `detail.eventType`: unknown contact event type \"{}\"", event_type.substr(0, 40)));
  }
  return {};
}

}  // namespace

std::unique_ptr<RecordDecoder> NewAmazonConnectDecoder(RecordDecoder::Options options) {
  return std::make_unique<AmazonConnectDecoder>(options);
}

}  // namespace ccpulse::schemas::adapters
