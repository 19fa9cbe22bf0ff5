// Asterisk queue_log lines ("epoch|callid|queue|agent|EVENT|data1|...") -> ccpulse events.
// Mapping: schemas/README.md, "asterisk-queue-log".
#include <charconv>

#include <fmt/format.h>

#include "schemas/adapters.h"

namespace ccpulse::schemas::adapters {
namespace {

constexpr int kMaxFields = 10;  // time, callid, queue, agent, event, data1..data5

// queue_log events that are not a step of a queued call (members, pauses, reloads, ring attempts
// of single members, callers turned away before joining).
bool IsIgnored(std::string_view verb) {
  for (std::string_view name :
       {"ADDMEMBER", "REMOVEMEMBER", "AGENTDUMP", "AGENTLOGIN", "AGENTLOGOFF", "AGENTCALLBACKLOGIN",
        "AGENTCALLBACKLOGOFF", "PAUSE", "PAUSEALL", "UNPAUSE", "UNPAUSEALL", "PAUSECUSTOM",
        "RINGNOANSWER", "RINGCANCELED", "CONFIGRELOAD", "QUEUESTART", "DID", "INFO", "SYSCOMPAT",
        "JOINEMPTY", "JOINUNAVAIL"}) {
    if (verb == name) return true;
  }
  return false;
}

std::optional<EventType> EventTypeOf(std::string_view verb) {
  if (verb == "ENTERQUEUE") return EventType::kQueued;
  if (verb == "CONNECT") return EventType::kAnswered;
  if (verb == "COMPLETEAGENT" || verb == "COMPLETECALLER") return EventType::kResolved;
  if (verb == "ABANDON" || verb == "EXITWITHTIMEOUT" || verb == "EXITWITHKEY" || verb == "EXITEMPTY") {
    return EventType::kAbandoned;
  }
  if (verb == "TRANSFER" || verb == "BLINDTRANSFER" || verb == "ATTENDEDTRANSFER") return EventType::kTransferred;
  return std::nullopt;
}

// "1366720340" or "1366720340.123" (seconds since the epoch) -> milliseconds.
std::optional<TimeMs> ParseEpochSeconds(std::string_view text) {
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || seconds < 0 || seconds > INT64_MAX / 1000) return std::nullopt;
  TimeMs ms = seconds * 1000;
  std::string_view rest(end, static_cast<size_t>(text.data() + text.size() - end));
  if (rest.empty()) return ms;
  if (rest[0] != '.' || rest.size() == 1) return std::nullopt;
  int scale = 100;
  for (char c : rest.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    ms += (c - '0') * scale;
    scale /= 10;
  }
  return ms;
}

class AsteriskQueueLogDecoder final : public RecordDecoder {
 public:
  using RecordDecoder::RecordDecoder;

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override;
};

DecodeStatus AsteriskQueueLogDecoder::DecodeRecord(std::string_view record, DecodedRecord* out) {
  std::array<std::string_view, kMaxFields> fields;
  int count = 0;
  for (size_t start = 0; count < kMaxFields;) {
    const size_t bar = record.find('|', start);
    fields[count++] = record.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  if (count < 5) {
    return Fail(DecodeError::kMalformedRecord,
                fmt::format("{} '|'-separated fields, a queue_log line has at least 5 (time|callid|queue|agent|event)", count));
  }
  const std::string_view verb = fields[4];
  const std::optional<EventType> type = EventTypeOf(verb);
  if (!type) {
    if (IsIgnored(verb)) return {};
    return Fail(DecodeError::kUnknownType, fmt::format("field 5 (event): unknown queue_log event \"{}\"", verb.substr(0, 40)));
  }
  const std::optional<TimeMs> time = ParseEpochSeconds(fields[0]);
  if (!time) {
    return Fail(DecodeError::kBadTime, fmt::format("field 1 (time): \"{}\" is not seconds since the epoch", fields[0].substr(0, 40)));
  }
  if (DecodeStatus s = CheckTime(*time, "time"); !s.ok()) return s;
  const std::string_view callid = fields[1], queue = fields[2], agent = fields[3];
  if (callid.empty() || callid == "NONE" || queue.empty() || queue == "NONE") {
    return Fail(DecodeError::kMissingField, fmt::format("{} needs a call id and a queue (fields 2 and 3)", verb));
  }
  if (queue.size() > kMaxNameBytes || agent.size() > kMaxIdBytes) {
    return Fail(DecodeError::kFieldTooLong, fmt::format("field {}: over its byte limit", queue.size() > kMaxNameBytes ? "3 (queue)" : "4 (agent)"));
  }
  Event& e = out->Add();
  e.type = *type;
  e.time_ms = *time;
  e.channel = Channel::kVoice;
  e.interaction_id = callid;
  e.queue = queue;
  if (agent != "NONE") e.agent = agent;
  // ENTERQUEUE|url|callerid|position
  if (*type == EventType::kQueued && count > 6 && fields[6] != "unknown" && fields[6].size() <= kMaxIdBytes) {
    e.customer_id = fields[6];
  }
  std::string& suffix = Scratch(1);
  suffix.assign(queue).append(":").append(EventTypeName(*type));
  if (DecodeStatus s = JoinId(&Scratch(0), callid, suffix, &e.event_id); !s.ok()) return s;
  return AssignTeam(e);
}

}  // namespace

std::unique_ptr<RecordDecoder> NewAsteriskQueueLogDecoder(RecordDecoder::Options options) {
  return std::make_unique<AsteriskQueueLogDecoder>(options);
}

}  // namespace ccpulse::schemas::adapters
