// Record decoders: one source record (a Kafka record value or a file line) in one of the supported
// formats -> zero or more ccpulse Events, or a DecodeError. The front of the flow for every input
// (DESIGN §1); the mapping of each platform format is documented in schemas/README.md.
#ifndef CCPULSE_SCHEMAS_RECORD_DECODER_H_
#define CCPULSE_SCHEMAS_RECORD_DECODER_H_

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "schemas/event.h"
#include "schemas/json_decoder.h"

namespace ccpulse::schemas {

// The wire formats a topic (or a replayed file) can be in.
enum class RecordFormat : uint8_t {
  kCcpulseV1 = 0,      // schemas/interaction-event.v1.schema.json
  kAmazonConnect,      // Amazon Connect contact events (EventBridge)
  kTwilioTaskRouter,   // Twilio TaskRouter events (Event Streams CloudEvents)
  kGenesysCloud,       // Genesys Cloud conversation detail events
  kAsteriskQueueLog,   // Asterisk queue_log lines
  kAnonymousBankCsv,   // the Anonymous Bank call-log CSV (one row per call)
};
inline constexpr int kRecordFormatCount = 6;

// "ccpulse.v1", "amazon-connect", "twilio-taskrouter", "genesys-cloud", "asterisk-queue-log",
// "anonymous-bank-csv".
std::string_view RecordFormatName(RecordFormat format);
std::optional<RecordFormat> ParseRecordFormat(std::string_view name);
// All names, comma-separated, for messages.
std::string RecordFormatNames();

// Team attribution for platforms whose records name a queue or an agent but no team. A record's
// team is queues[queue] if listed, else agents[agent] if listed, else the team the format itself
// carries (only anonymous-bank-csv has one); otherwise the record is dead-lettered as
// `unmapped_team`. Keys are the values that land in the event's `queue` / `agent` fields.
struct TeamMap {
  std::map<std::string, std::string, std::less<>> agents;
  std::map<std::string, std::string, std::less<>> queues;

  // The team for an event with this queue and agent ("" when unmapped and no native team).
  std::string_view Resolve(std::string_view queue, std::string_view agent,
                           std::string_view native_team) const;
};

// The events one record became. Fixed capacity: no record of any format yields more.
struct DecodedRecord {
  static constexpr int kMaxEvents = 4;
  std::array<Event, kMaxEvents> events;
  int count = 0;

  std::span<const Event> view() const { return {events.data(), static_cast<size_t>(count)}; }
  // Appends a default event; the caller fills it.
  Event& Add() {
    events[count] = Event{};
    return events[count++];
  }
};

// Decodes records of one format. Not thread-safe: one decoder per thread, reused for every
// record. The events' string views point into the decoder (and its TeamMap) and stay valid until
// the next Decode. A record that maps to nothing (a platform event ccpulse has no use for, a CSV
// header) decodes ok with zero events.
class RecordDecoder {
 public:
  struct Options {
    size_t max_record_bytes = 1 << 20;
    // Events later than this are rejected as kTimeOutOfRange (keep at wall clock + allowance).
    TimeMs latest_time_ms = INT64_MAX;
    // Must outlive the decoder; nullptr = empty maps.
    const TeamMap* teams = nullptr;
  };

  explicit RecordDecoder(Options options);
  virtual ~RecordDecoder() = default;
  RecordDecoder(const RecordDecoder&) = delete;
  RecordDecoder& operator=(const RecordDecoder&) = delete;

  void SetLatestTime(TimeMs latest_time_ms) { options_.latest_time_ms = latest_time_ms; }

  // Clears `*out` and decodes `record` into it. On error `*out` holds no events.
  DecodeStatus Decode(std::string_view record, DecodedRecord* out);

 protected:
  // The format's own decoding; size and emptiness are already checked.
  virtual DecodeStatus DecodeRecord(std::string_view record, DecodedRecord* out) = 0;

  const Options& options() const { return options_; }
  // kTimeOutOfRange unless 0 <= time <= latest_time_ms; `field` names the source field.
  DecodeStatus CheckTime(TimeMs time_ms, std::string_view field) const;
  // Sets event.team from the team map (see TeamMap); kUnmappedTeam naming the queue and agent
  // when there is none.
  DecodeStatus AssignTeam(Event& event, std::string_view native_team = {}) const;
  // Derived strings (event ids): slot i of the decoder's scratch, rebuilt per record.
  std::string& Scratch(int slot) { return scratch_[slot]; }

 private:
  Options options_;
  TeamMap empty_teams_;
  std::array<std::string, 2 * DecodedRecord::kMaxEvents> scratch_;
};

// A decoder for `format`.
std::unique_ptr<RecordDecoder> MakeRecordDecoder(RecordFormat format, RecordDecoder::Options options);

}  // namespace ccpulse::schemas

#endif  // CCPULSE_SCHEMAS_RECORD_DECODER_H_
