// The Anonymous Bank call-log CSV (shared/data/anonymous-bank-call-log: one row per call, clock
// times of one day) -> the call's ccpulse events. Mapping: schemas/README.md, "anonymous-bank-csv".
#include <charconv>

#include <fmt/format.h>

#include "schemas/adapters.h"
#include "schemas/time_format.h"

namespace ccpulse::schemas::adapters {
namespace {

// vru+line,call_id,customer_id,priority,type,date,vru_entry,vru_exit,vru_time,q_start,q_exit,
// q_time,outcome,ser_start,ser_exit,ser_time,server
enum Column {
  kVruLine, kCallId, kCustomerId, kPriority, kType, kDate, kVruEntry, kVruExit, kVruTime,
  kQueueStart, kQueueExit, kQueueTime, kOutcome, kServiceStart, kServiceExit, kServiceTime,
  kServer, kColumnCount
};
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "vru+line", "call_id", "customer_id", "priority", "type", "date", "vru_entry", "vru_exit",
    "vru_time", "q_start", "q_exit", "q_time", "outcome", "ser_start", "ser_exit", "ser_time", "server"};

constexpr std::string_view kNeverQueued = "0:00:00";
// Scratch slot of the interaction id (slots 0.. hold the event ids).
constexpr int kInteractionSlot = 2 * DecodedRecord::kMaxEvents - 1;

bool ParseInt(std::string_view text, int64_t* value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

// "YYYY-MM-DD" -> midnight UTC in ms.
std::optional<TimeMs> ParseDate(std::string_view text) {
  int64_t year, month, day;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !ParseInt(text.substr(0, 4), &year) ||
      !ParseInt(text.substr(5, 2), &month) || !ParseInt(text.substr(8, 2), &day) || month < 1 ||
      month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kDayMs;
}

// "H:MM:SS" or "HH:MM:SS" -> ms since midnight.
std::optional<TimeMs> ParseClock(std::string_view text) {
  const size_t first = text.find(':');
  int64_t h, m, s;
  if (first == std::string_view::npos || text.size() != first + 6 || text[first + 3] != ':' ||
      !ParseInt(text.substr(0, first), &h) || !ParseInt(text.substr(first + 1, 2), &m) ||
      !ParseInt(text.substr(first + 4, 2), &s) || h > 23 || m > 59 || s > 59) {
    return std::nullopt;
  }
  return ((h * 60 + m) * 60 + s) * kSecondMs;
}

class AnonymousBankCsvDecoder final : public RecordDecoder {
 public:
  using RecordDecoder::RecordDecoder;

 protected:
  DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) override;

 private:
  DecodeStatus Time(Column column, TimeMs* out) const;
  DecodeStatus Emit(EventType type, TimeMs time, DecodedRecord* out);

  std::array<std::string_view, kColumnCount> fields_;
  TimeMs day_ms_ = 0;
  Event common_;
};

DecodeStatus AnonymousBankCsvDecoder::Time(Column column, TimeMs* out) const {
  const std::optional<TimeMs> clock = ParseClock(fields_[column]);
  if (!clock) {
    return Fail(DecodeError::kBadTime, fmt::format("column `{}`: \"{}\" is not a clock time H:MM:SS",
                                                   kColumnNames[column], fields_[column].substr(0, 20)));
  }
  *out = day_ms_ + *clock;
  return CheckTime(*out, kColumnNames[column]);
}

DecodeStatus AnonymousBankCsvDecoder::Emit(EventType type, TimeMs time, DecodedRecord* out) {
  Event& e = out->Add();
  e = common_;
  e.type = type;
  e.time_ms = time;
  if (type == EventType::kQueued || type == EventType::kAbandoned) e.agent = {};
  if (DecodeStatus s = JoinId(&Scratch(out->count - 1), common_.interaction_id, EventTypeName(type), &e.event_id); !s.ok()) return s;
  return AssignTeam(e, fields_[kType]);
}

DecodeStatus AnonymousBankCsvDecoder::DecodeRecord(std::string_view record, DecodedRecord* out) {
  if (!record.empty() && record.back() == '\r') record.remove_suffix(1);
  size_t count = 0;
  for (size_t start = 0;; ++count) {
    const size_t comma = record.find(',', start);
    if (count < kColumnCount) {
      fields_[count] = record.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  ++count;
  if (count != kColumnCount) {
    return Fail(DecodeError::kMalformedRecord, fmt::format("{} columns, a call-log row has {}", count, kColumnCount));
  }
  if (fields_[kVruLine] == kColumnNames[kVruLine]) return {};  // the header line

  const std::optional<TimeMs> day = ParseDate(fields_[kDate]);
  if (!day) return Fail(DecodeError::kBadTime, fmt::format("column `date`: \"{}\" is not YYYY-MM-DD", fields_[kDate].substr(0, 20)));
  day_ms_ = *day;
  for (Column c : {kCallId, kType, kOutcome}) {
    if (fields_[c].empty()) return Fail(DecodeError::kEmptyField, fmt::format("column `{}` is empty", kColumnNames[c]));
  }
  if (fields_[kType].size() > kMaxNameBytes) {
    return Fail(DecodeError::kFieldTooLong, fmt::format("column `type`: over the limit of {} bytes", kMaxNameBytes));
  }
  // call_id repeats within a day: the call is call_id at its VRU entry time.
  std::string& interaction = Scratch(kInteractionSlot);
  interaction.assign(fields_[kCallId]).append("@").append(fields_[kDate]).append("T").append(fields_[kVruEntry]);
  if (interaction.size() > kMaxIdBytes) {
    return Fail(DecodeError::kFieldTooLong, fmt::format("interaction id \"{}\": over the limit of {} bytes", interaction.substr(0, 64), kMaxIdBytes));
  }
  common_ = Event{};
  common_.interaction_id = interaction;
  common_.channel = Channel::kVoice;
  common_.queue = fields_[kType];
  if (fields_[kServer] != "NO_SERVER" && fields_[kServer].size() <= kMaxIdBytes) common_.agent = fields_[kServer];
  if (fields_[kCustomerId] != "0" && fields_[kCustomerId].size() <= kMaxIdBytes) common_.customer_id = fields_[kCustomerId];

  const std::string_view outcome = fields_[kOutcome];
  if (outcome != "AGENT" && outcome != "HANG" && outcome != "PHANTOM") {
    return Fail(DecodeError::kUnknownType, fmt::format("column `outcome`: \"{}\" is not AGENT, HANG or PHANTOM", outcome.substr(0, 20)));
  }
  const bool served = outcome == "AGENT";
  TimeMs queued, left_queue, service_start, service_end;
  if (fields_[kQueueStart] != kNeverQueued) {
    if (DecodeStatus s = Time(kQueueStart, &queued); !s.ok()) return s;
    if (DecodeStatus s = Time(kQueueExit, &left_queue); !s.ok()) return s;
    if (left_queue < queued) return Fail(DecodeError::kBadTime, "column `q_exit` is before `q_start`");
  } else if (served) {
    // Served straight from the VRU, without waiting in the queue.
    if (DecodeStatus s = Time(kServiceStart, &queued); !s.ok()) return s;
    left_queue = queued;
  } else {
    return {};  // hung up (or lost) in the VRU: it never reached a queue
  }
  if (DecodeStatus s = Emit(EventType::kQueued, queued, out); !s.ok()) return s;
  if (!served) return Emit(EventType::kAbandoned, left_queue, out);
  if (DecodeStatus s = Time(kServiceStart, &service_start); !s.ok()) return s;
  if (DecodeStatus s = Time(kServiceExit, &service_end); !s.ok()) return s;
  if (DecodeStatus s = Emit(EventType::kAnswered, left_queue, out); !s.ok()) return s;
  return Emit(EventType::kResolved, std::max(service_end, left_queue), out);
}

}  // namespace

std::unique_ptr<RecordDecoder> NewAnonymousBankCsvDecoder(RecordDecoder::Options options) {
  return std::make_unique<AnonymousBankCsvDecoder>(options);
}

}  // namespace ccpulse::schemas::adapters
