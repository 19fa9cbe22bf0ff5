// Twilio TaskRouter events as delivered by Event Streams (CloudEvents, type
// "com.twilio.taskrouter.<event>") -> ccpulse events. Mapping: schemas/README.md,
// "twilio-taskrouter".
#include <fmt/format.h>

#include "schemas/adapters.h"

namespace ccpulse::schemas::adapters {
namespace {

constexpr std::string_view kTypePrefix = "com.twilio.taskrouter.";

Channel TwilioChannel(std::string_view name) {
  if (name == "voice") return Channel::kVoice;
  if (name == "chat") return Channel::kChat;
  if (name == "sms" || name == "messaging") return Channel::kMessaging;
  if (name == "email") return Channel::kEmail;
  return Channel::kOther;
}

// TaskRouter events ccpulse has no use for: worker, activity, workflow and queue administration,
// reservation offers that were not taken, wrap-up start (the task ends at task.completed).
bool IsIgnored(std::string_view type) {
  for (std::string_view prefix : {"worker.", "activity.", "workflow.", "workspace.", "task-queue."}) {
    if (type.starts_with(prefix)) return true;
  }
  for (std::string_view name :
       {"reservation.created", "reservation.rejected", "reservation.timeout", "reservation.canceled",
        "reservation.rescinded", "reservation.completed", "reservation.wrapup", "reservation.failed",
        "task.updated", "task.wrapup", "task.deleted", "task.system-deleted", "task.transfer-failed",
        "task.transfer-attempt-failed", "task.transfer-canceled", "task.transfer-completed"}) {
    if (type == name) return true;
  }
  return false;
}

class TwilioTaskRouterDecoder final : public RecordDecoder {
 public:
  using RecordDecoder::RecordDecoder;

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override;

 private:
  JsonDocument json_;
  JsonDocument attributes_json_;
};

DecodeStatus TwilioTaskRouterDecoder::DecodeRecord(std::string_view record, DecodedRecord* out) {
  dom::object root;
  if (DecodeStatus s = json_.Parse(record, &root); !s.ok()) return s;
  std::string_view type;
  if (DecodeStatus s = GetString(root, "type", "type", true, 0, &type); !s.ok()) return s;
  if (!type.starts_with(kTypePrefix)) {
    return Fail(DecodeError::kUnknownType, fmt::format("field `type`: \"{}\" is not a TaskRouter event", type.substr(0, 60)));
  }
  type.remove_prefix(kTypePrefix.size());
  std::optional<dom::object> data, payload;
  if (DecodeStatus s = GetObject(root, "data", "data", &data); !s.ok()) return s;
  if (!data) return Fail(DecodeError::kMissingField, "required field `data` is missing");
  if (DecodeStatus s = GetObject(*data, "payload", "data.payload", &payload); !s.ok()) return s;
  if (!payload) return Fail(DecodeError::kMissingField, "required field `data.payload` is missing");

  EventType event_type;
  if (type == "task.created" || type == "task-queue.entered") {
    event_type = EventType::kQueued;
  } else if (type == "reservation.accepted") {
    event_type = EventType::kAnswered;
  } else if (type == "task.completed") {
    event_type = EventType::kResolved;
  } else if (type == "task.canceled") {
    event_type = EventType::kAbandoned;
  } else if (type == "task.transfer-initiated") {
    event_type = EventType::kTransferred;
  } else if (IsIgnored(type)) {
    return {};
  } else {
    return Fail(DecodeError::kUnknownType, fmt::format("field `type`: unknown TaskRouter event \"{}\"", type.substr(0, 60)));
  }

  std::string_view task_sid, channel, attributes, transfer_to;
  Event& e = out->Add();
  e.type = event_type;
  if (DecodeStatus s = GetString(*payload, "task_sid", "data.payload.task_sid", true, kMaxIdBytes, &task_sid); !s.ok()) return s;
  if (DecodeStatus s = GetString(*payload, "task_queue_sid", "data.payload.task_queue_sid", false, kMaxNameBytes, &e.queue); !s.ok()) return s;
  if (DecodeStatus s = GetString(*payload, "worker_sid", "data.payload.worker_sid", false, kMaxIdBytes, &e.agent); !s.ok()) return s;
  if (DecodeStatus s = GetString(*payload, "task_channel_unique_name", "data.payload.task_channel_unique_name", false, 0, &channel); !s.ok()) return s;
  if (DecodeStatus s = GetString(*payload, "transfer_to", "data.payload.transfer_to", false, 0, &transfer_to); !s.ok()) return s;
  if (event_type == EventType::kQueued) {
    if (e.queue.empty()) {
      out->count = 0;  // created but not yet routed: task-queue.entered will follow
      return {};
    }
    e.agent = {};
  }
  std::optional<TimeMs> time;
  if (DecodeStatus s = GetTime(*payload, "timestamp", "data.payload.timestamp", &time); !s.ok()) return s;
  if (!time) return Fail(DecodeError::kMissingField, "required field `data.payload.timestamp` is missing");
  if (DecodeStatus s = CheckTime(*time, "data.payload.timestamp"); !s.ok()) return s;
  e.time_ms = *time;
  e.interaction_id = task_sid;
  e.channel = TwilioChannel(channel);

  // task_attributes is a JSON document in a string; voice tasks carry the caller in `from`.
  if (auto value = Find(*payload, "task_attributes"); value && value->get(attributes) == simdjson::SUCCESS &&
                                                       !attributes.empty()) {
    dom::object attribute_root;
    if (attributes_json_.Parse(attributes, &attribute_root).ok()) {
      std::string_view from;
      if (GetString(attribute_root, "from", "from", false, kMaxIdBytes, &from).ok()) e.customer_id = from;
    }
  }
  if (event_type == EventType::kTransferred) {
    if (const TeamMap* teams = options().teams; teams != nullptr) e.to_team = teams->Resolve(transfer_to, transfer_to, {});
  }
  // Queue entries are per queue (a task can be moved); every other step happens once per task.
  std::string& suffix = Scratch(1);
  suffix.assign(EventTypeName(event_type));
  if (event_type == EventType::kQueued) suffix.append(":").append(e.queue);
  if (DecodeStatus s = JoinId(&Scratch(0), task_sid, suffix, &e.event_id); !s.ok()) return s;
  return AssignTeam(e);
}

}  // namespace

std::unique_ptr<RecordDecoder> NewTwilioTaskRouterDecoder(RecordDecoder::Options options) {
  return std::make_unique<TwilioTaskRouterDecoder>(options);
}

}  // namespace ccpulse::schemas::adapters
