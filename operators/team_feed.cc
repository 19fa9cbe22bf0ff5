// Records from customer stages to team stages; see team_feed.h.
#include "operators/team_feed.h"

#include <algorithm>

#include <fmt/format.h>

#include "operators/state_archive.h"
#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {
namespace {

// 2: varints (a record is about a quarter of 1's size) and flags. 1 (fixed width) is still
// read, for records an earlier build sent before an upgrade.
constexpr uint8_t kFeedVersion = 2;
constexpr uint8_t kPause = 0x01;
constexpr uint32_t kNotNamed = UINT32_MAX;

// A contribution's first byte (version 2): kind in the low 5 bits, then retraction, effect, and
// whether aux is 8 raw bytes (a hash: as a varint it would take 9 or 10).
constexpr uint8_t kKindMask = 0x1f;
constexpr uint8_t kRetraction = 0x20;
constexpr uint8_t kEffect = 0x40;
constexpr uint8_t kWideAux = 0x80;
constexpr uint64_t kWideFrom = uint64_t{1} << 56;

// Bounds that keep slice and time arithmetic far from overflow (times: ±557 years of ms).
constexpr int64_t kMaxTimeMs = int64_t{1} << 44;
// Slices: small enough that StartOf(slice) does not overflow for slices of up to 2 h.
constexpr int64_t kMaxSlice = int64_t{1} << 40;
// |x| <= bound, without std::abs (undefined for INT64_MIN, which a varint can carry).
bool InRange(int64_t x, int64_t bound) { return x >= -bound && x <= bound; }

// The fewest bytes a team name pair and a contribution take (version 2), to bound counts.
constexpr size_t kMinTeamBytes = 2;
constexpr size_t kMinContributionBytes = 7;

template <typename T>
T Raw(StateReader& in) {
  T value{};
  in(value);
  return value;
}

std::string Name(StateReader& in, uint64_t size) {
  std::string name;
  if (size > in.left()) {
    in.Fail(fmt::format("a name of {} bytes with {} left", size, in.left()));
    return name;
  }
  name.resize(size);
  in.Bytes(name.data(), size);
  return name;
}

// Fails unless `count` items of at least `item_bytes` each can follow.
void CheckCount(StateReader& in, uint64_t count, size_t item_bytes, std::string_view what) {
  if (in.ok() && count > in.left() / item_bytes) {
    in.Fail(fmt::format("{} count {} does not fit in the {} bytes left", what, count, in.left()));
  }
}

// Version 1: u32 channel, i64 from, i64 to, u32 teams (u16 + bytes each, tenant and team), u32
// contributions (i64 slice, i64 time, u64 aux, u64 aux2, u32 team, u32 value, u8 kind, i8 sign,
// u8 effect: 43 bytes).
void DecodeVersion1(StateReader& in, TeamFeed* feed) {
  feed->channel = Raw<uint32_t>(in);
  feed->from_slice = Raw<int64_t>(in);
  feed->to_slice = Raw<int64_t>(in);
  const auto team_count = Raw<uint32_t>(in);
  CheckCount(in, team_count, 4, "team");
  for (uint32_t i = 0; in.ok() && i < team_count; ++i) {
    std::string tenant = Name(in, Raw<uint16_t>(in));
    std::string team = Name(in, Raw<uint16_t>(in));
    feed->teams.emplace_back(std::move(tenant), std::move(team));
  }
  const auto count = Raw<uint32_t>(in);
  CheckCount(in, count, 43, "contribution");
  for (uint32_t i = 0; in.ok() && i < count; ++i) {
    auto& [slice, d] = feed->delivered.emplace_back();
    in(slice, d.c.time, d.c.aux, d.c.aux2, d.c.team, d.c.value);
    d.c.kind = static_cast<Kind>(Raw<uint8_t>(in));
    d.c.sign = Raw<int8_t>(in);
    const auto effect = Raw<uint8_t>(in);
    if (effect > 1) in.Fail(fmt::format("effect {}", effect));
    d.effect = effect != 0;
  }
}

void DecodeVersion2(StateReader& in, TeamFeed* feed) {
  const auto record_flags = Raw<uint8_t>(in);
  if (in.ok() && (record_flags & ~kPause) != 0) in.Fail(fmt::format("record flags {:#x}", record_flags));
  feed->pause = (record_flags & kPause) != 0;
  const uint64_t channel = in.Varint();
  if (in.ok() && channel > UINT32_MAX) in.Fail(fmt::format("channel {}", channel));
  feed->channel = static_cast<uint32_t>(channel);
  feed->from_slice = in.SignedVarint();
  const uint64_t width = in.Varint();
  if (in.ok() && (!InRange(feed->from_slice, kMaxSlice) || width > uint64_t{kMaxSlice})) {
    in.Fail(fmt::format("slice range from {} over {} slices is out of range", feed->from_slice, width));
  }
  if (!in.ok()) return;
  feed->to_slice = feed->from_slice + static_cast<int64_t>(width);
  const uint64_t team_count = in.Varint();
  CheckCount(in, team_count, kMinTeamBytes, "team");
  for (uint64_t i = 0; in.ok() && i < team_count; ++i) {
    std::string tenant = Name(in, in.Varint());
    std::string team = Name(in, in.Varint());
    feed->teams.emplace_back(std::move(tenant), std::move(team));
  }
  const uint64_t count = in.Varint();
  CheckCount(in, count, kMinContributionBytes, "contribution");
  if (in.ok()) feed->delivered.reserve(count);
  int64_t time = 0;
  for (uint64_t i = 0; in.ok() && i < count; ++i) {
    auto& [slice, d] = feed->delivered.emplace_back();
    const auto flags = Raw<uint8_t>(in);
    d.c.kind = static_cast<Kind>(flags & kKindMask);
    d.c.sign = (flags & kRetraction) != 0 ? -1 : 1;
    d.effect = (flags & kEffect) != 0;
    const uint64_t offset = in.Varint();
    const int64_t delta = in.SignedVarint();
    if (in.ok() && (offset > uint64_t{kMaxSlice} || !InRange(delta, kMaxTimeMs) || !InRange(time + delta, kMaxTimeMs))) {
      in.Fail(fmt::format("contribution {}: slice offset {} or time {} + {} out of range", i, offset, time, delta));
    }
    if (!in.ok()) break;
    slice = feed->from_slice + static_cast<int64_t>(offset);
    time += delta;
    d.c.time = time;
    d.c.aux = (flags & kWideAux) != 0 ? Raw<uint64_t>(in) : in.Varint();
    d.c.aux2 = in.Varint();
    const uint64_t team = in.Varint();
    const uint64_t value = in.Varint();
    d.c.team = static_cast<TeamIndex>(std::min<uint64_t>(team, UINT32_MAX));
    if (in.ok() && value > UINT32_MAX) in.Fail(fmt::format("value {}", value));
    d.c.value = static_cast<uint32_t>(value);
  }
}

}  // namespace

int TeamPartition(std::string_view tenant, std::string_view team, int partitions) {
  CCPULSE_CHECK(partitions > 0, "a team-keyed topic has partitions");
  // A fixed key: every instance must place a team in the same partition.
  return static_cast<int>(schemas::SipHash24Pair(schemas::HashKey{}, tenant, team) % static_cast<uint64_t>(partitions));
}

TeamFeedWriter::TeamFeedWriter(uint32_t channel, int partitions) : channel_(channel), pending_(partitions) {
  CCPULSE_CHECK(partitions > 0, "a team-keyed topic has partitions");
}

void TeamFeedWriter::Add(int64_t slice, std::span<const Delivered> delivered, const TeamRegistry& teams) {
  CCPULSE_CHECK(slice >= last_slice_ && (from_slice_ == INT64_MIN || slice >= from_slice_),
                "slices are delivered in order, none before what was sent");
  last_slice_ = slice;
  if (from_slice_ == INT64_MIN) from_slice_ = slice;
  for (const Delivered& d : delivered) {
    const TeamIndex team = d.c.team;
    if (team >= partition_of_.size()) {
      partition_of_.resize(teams.size(), -1);
      local_.resize(teams.size(), kNotNamed);
    }
    if (partition_of_[team] < 0) partition_of_[team] = TeamPartition(teams.tenant(team), teams.team(team), partitions());
    Pending& p = pending_[partition_of_[team]];
    if (local_[team] == kNotNamed) {
      local_[team] = static_cast<uint32_t>(p.teams.size());
      p.teams.push_back(team);
    }
    p.delivered.emplace_back(slice, d);
    largest_pending_ = std::max(largest_pending_, p.delivered.size());
  }
}

void TeamFeedWriter::Flush(int64_t to_slice, const TeamRegistry& teams, std::vector<std::string>* records,
                           bool pause) {
  CCPULSE_CHECK(from_slice_ == INT64_MIN || to_slice >= from_slice_, "a flush covers the slices added");
  CCPULSE_CHECK(last_slice_ == INT64_MIN || to_slice > last_slice_, "a flush covers the slices added");
  records->resize(pending_.size());
  const int64_t from = from_slice_ == INT64_MIN ? to_slice : from_slice_;
  for (size_t partition = 0; partition < pending_.size(); ++partition) {
    Pending& p = pending_[partition];
    std::string& out = (*records)[partition];
    out.clear();
    StateWriter ar(&out);
    ar(kFeedVersion, static_cast<uint8_t>(pause ? kPause : 0));
    ar.Varint(channel_);
    ar.SignedVarint(from);
    ar.Varint(static_cast<uint64_t>(to_slice - from));
    ar.Varint(p.teams.size());
    for (TeamIndex team : p.teams) {
      for (const std::string& name : {teams.tenant(team), teams.team(team)}) {
        ar.Varint(name.size());
        ar.Bytes(name.data(), name.size());
      }
    }
    ar.Varint(p.delivered.size());
    int64_t time = 0;
    for (const auto& [slice, d] : p.delivered) {
      const bool wide = d.c.aux >= kWideFrom;
      ar(static_cast<uint8_t>(static_cast<uint8_t>(d.c.kind) | (d.c.sign < 0 ? kRetraction : 0) |
                              (d.effect ? kEffect : 0) | (wide ? kWideAux : 0)));
      ar.Varint(static_cast<uint64_t>(slice - from));
      ar.SignedVarint(d.c.time - time);
      time = d.c.time;
      if (wide) {
        ar(d.c.aux);
      } else {
        ar.Varint(d.c.aux);
      }
      ar.Varint(d.c.aux2);
      ar.Varint(local_[d.c.team]);
      ar.Varint(d.c.value);
    }
    for (TeamIndex team : p.teams) local_[team] = kNotNamed;
    p.teams.clear();
    p.delivered.clear();
  }
  from_slice_ = to_slice;
  largest_pending_ = 0;
}

absl::StatusOr<TeamFeed> DecodeTeamFeed(std::string_view bytes) {
  StateReader in(bytes, "team feed record");
  TeamFeed feed;
  const auto version = Raw<uint8_t>(in);
  if (in.ok() && version != kFeedVersion && version != 1) {
    return absl::InvalidArgumentError(
        fmt::format("team feed version {} is not one this build reads (1, {})", version, kFeedVersion));
  }
  if (version == 1) {
    DecodeVersion1(in, &feed);
  } else {
    DecodeVersion2(in, &feed);
  }
  if (in.ok() && (feed.to_slice < feed.from_slice || !InRange(feed.from_slice, kMaxSlice) ||
                  !InRange(feed.to_slice, kMaxSlice))) {
    in.Fail(fmt::format("slice range [{}, {}) is reversed or out of range", feed.from_slice, feed.to_slice));
  }
  for (size_t i = 0; in.ok() && i < feed.delivered.size(); ++i) {
    const auto& [slice, d] = feed.delivered[i];
    if (d.c.team >= feed.teams.size() || d.c.kind >= Kind::kContactStart || (d.c.sign != 1 && d.c.sign != -1) ||
        (d.c.sign < 0 && !d.effect) || slice < feed.from_slice || slice >= feed.to_slice ||
        !InRange(d.c.time, kMaxTimeMs)) {
      in.Fail(fmt::format("contribution {} is not valid (team {} of {}, kind {}, sign {}, effect {}, slice {} "
                          "outside [{}, {}), time {})",
                          i, d.c.team, feed.teams.size(), static_cast<int>(d.c.kind), d.c.sign, d.effect, slice,
                          feed.from_slice, feed.to_slice, d.c.time));
    }
  }
  if (in.ok() && !in.at_end()) in.Fail(fmt::format("{} bytes after the end of the record", in.left()));
  if (!in.ok()) return absl::DataLossError(in.error());
  return feed;
}

}  // namespace ccpulse::operators
