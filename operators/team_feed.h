// The records a customer stage sends to the team stages (DESIGN §6, team-keyed scale-out): per
// team partition, the contributions of a range of delivered slices for the teams that partition
// owns, with the names of those teams. A record with no contribution still moves the team
// stage's watermark for its channel (on that team partition, the input partition that sent it).
// A channel's records cover consecutive ranges, across restarts too: each starts where the one
// before ended, so a team stage can tell a missing record.
//
// Encoding (version 2; varints are LEB128, signed ones zigzag): u8 version, u8 flags (1: the
// sender stops now and will be back: wait for it), varint channel,
// signed from_slice, varint slice count, varint team count, then per team varint length + bytes
// of tenant and team; varint contribution count, then per contribution u8 kind | retraction
// 0x20 | effect 0x40 | wide aux 0x80, varint slice - from_slice, signed time - the previous
// contribution's time, aux (8 raw bytes when wide, else varint), varint aux2, varint team (index
// in the record's teams), varint value: 7 to 42 bytes (on the 10,000-team benchmark stream, records of version 2
// take 47 bytes per input event in all, version 1's 160).
// Version 1 (fixed width, 43 bytes a contribution) is still read.
#ifndef CCPULSE_OPERATORS_TEAM_FEED_H_
#define CCPULSE_OPERATORS_TEAM_FEED_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "operators/contribution.h"
#include "operators/customer_stage.h"

namespace ccpulse::operators {

// One decoded record. Team indexes in `delivered` are positions in `teams`.
struct TeamFeed {
  uint32_t channel = 0;
  bool pause = false;      // the sender stops after this record and will be back: wait for it
  int64_t from_slice = 0;  // every slice in [from_slice, to_slice) of the channel is in here
  int64_t to_slice = 0;
  std::vector<std::pair<std::string, std::string>> teams;  // (tenant, team)
  std::vector<std::pair<int64_t, Delivered>> delivered;    // (slice, contribution)
};

// The team partition that owns a team: a keyed hash of (tenant, team) modulo `partitions`.
int TeamPartition(std::string_view tenant, std::string_view team, int partitions);

// Splits a customer stage's delivered slices among `partitions` team partitions. Worker-local;
// buffers are reused between flushes.
class TeamFeedWriter {
 public:
  TeamFeedWriter(uint32_t channel, int partitions);

  // The next record starts at `slice` (after a restore: where the last one sent before the
  // checkpoint ended).
  void ResumeAt(int64_t slice) { from_slice_ = slice; }
  // Adds the contributions the customer stage delivered in `slice` (slices in increasing
  // order, none before the last flush's end); team indexes are the stage's, named by `teams`
  // (the same registry at every call).
  void Add(int64_t slice, std::span<const Delivered> delivered, const TeamRegistry& teams);
  // Contributions in the fullest partition's pending record: flush before it outgrows what the
  // broker takes in one message.
  size_t largest_pending() const { return largest_pending_; }
  // Encodes one record per team partition covering every slice from the previous flush up to
  // `to_slice` (exclusive; >= the last slice added + 1) into `records[partition]`; `pause`
  // marks them as the last before the sender stops.
  void Flush(int64_t to_slice, const TeamRegistry& teams, std::vector<std::string>* records, bool pause = false);

  int partitions() const { return static_cast<int>(pending_.size()); }

 private:
  struct Pending {
    std::vector<std::pair<int64_t, Delivered>> delivered;  // team = the stage's index
    std::vector<TeamIndex> teams;                          // stage indexes named in the record
  };
  uint32_t channel_;
  int64_t from_slice_ = INT64_MIN;
  int64_t last_slice_ = INT64_MIN;
  size_t largest_pending_ = 0;
  std::vector<Pending> pending_;
  std::vector<int> partition_of_;  // by the stage's team index; -1 = not yet computed
  std::vector<uint32_t> local_;    // by the stage's team index: position in the record's teams
};

// Decodes one record; the error names the byte offset where it went wrong.
absl::StatusOr<TeamFeed> DecodeTeamFeed(std::string_view bytes);

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_TEAM_FEED_H_
