// Records from customer stages to team stages; see team_feed.h.
#include "operators/team_feed.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>

#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {
namespace {

constexpr uint8_t kFeedVersion = 1;
constexpr uint32_t kNotNamed = UINT32_MAX;

template <typename T>
void Put(std::string* out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

void PutName(std::string* out, std::string_view name) {
  Put(out, static_cast<uint16_t>(name.size()));
  out->append(name);
}

// Reads fixed-size values and names; the first failure sticks and names its offset.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  T Get(std::string_view what) {
    T value{};
    if (!Need(sizeof(T), what)) return value;
    std::memcpy(&value, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string Name(std::string_view what) {
    const uint16_t size = Get<uint16_t>(what);
    if (!Need(size, what)) return {};
    std::string name(in_.substr(pos_, size));
    pos_ += size;
    return name;
  }
  // Fails unless `count` items of at least `item_bytes` each can follow.
  void CheckCount(uint64_t count, size_t item_bytes, std::string_view what) {
    if (error_.empty() && count * item_bytes > in_.size() - pos_) {
      error_ = fmt::format("{} count {} at byte {} does not fit in the {} bytes left", what, count, pos_ - 4,
                           in_.size() - pos_);
    }
  }
  void Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  bool ok() const { return error_.empty(); }
  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ == in_.size(); }
  const std::string& error() const { return error_; }

 private:
  bool Need(size_t bytes, std::string_view what) {
    if (!error_.empty()) return false;
    if (in_.size() - pos_ < bytes) {
      error_ = fmt::format("{} at byte {} needs {} bytes, {} left", what, pos_, bytes, in_.size() - pos_);
      return false;
    }
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

constexpr size_t kContributionBytes = 8 + 8 + 8 + 8 + 4 + 4 + 1 + 1 + 1;
// Bounds that keep slice and time arithmetic far from overflow (times: ±557 years of ms).
constexpr int64_t kMaxTimeMs = int64_t{1} << 44;
// Slices: small enough that StartOf(slice) does not overflow for slices of up to 2 h.
constexpr int64_t kMaxSlice = int64_t{1} << 40;

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

void TeamFeedWriter::Flush(int64_t to_slice, const TeamRegistry& teams, std::vector<std::string>* records) {
  CCPULSE_CHECK(from_slice_ == INT64_MIN || to_slice >= from_slice_, "a flush covers the slices added");
  CCPULSE_CHECK(last_slice_ == INT64_MIN || to_slice > last_slice_, "a flush covers the slices added");
  records->resize(pending_.size());
  const int64_t from = from_slice_ == INT64_MIN ? to_slice : from_slice_;
  for (size_t partition = 0; partition < pending_.size(); ++partition) {
    Pending& p = pending_[partition];
    std::string& out = (*records)[partition];
    out.clear();
    Put(&out, kFeedVersion);
    Put(&out, channel_);
    Put(&out, from);
    Put(&out, to_slice);
    Put(&out, static_cast<uint32_t>(p.teams.size()));
    for (TeamIndex team : p.teams) {
      PutName(&out, teams.tenant(team));
      PutName(&out, teams.team(team));
    }
    Put(&out, static_cast<uint32_t>(p.delivered.size()));
    for (const auto& [slice, d] : p.delivered) {
      Put(&out, slice);
      Put(&out, d.c.time);
      Put(&out, d.c.aux);
      Put(&out, d.c.aux2);
      Put(&out, local_[d.c.team]);
      Put(&out, d.c.value);
      Put(&out, static_cast<uint8_t>(d.c.kind));
      Put(&out, d.c.sign);
      Put(&out, static_cast<uint8_t>(d.effect));
    }
    for (TeamIndex team : p.teams) local_[team] = kNotNamed;
    p.teams.clear();
    p.delivered.clear();
  }
  from_slice_ = to_slice;
  largest_pending_ = 0;
}

absl::StatusOr<TeamFeed> DecodeTeamFeed(std::string_view bytes) {
  Reader in(bytes);
  TeamFeed feed;
  const auto version = in.Get<uint8_t>("version");
  if (in.ok() && version != kFeedVersion) {
    return absl::InvalidArgumentError(
        fmt::format("team feed version {} is not the one this build reads ({})", version, kFeedVersion));
  }
  feed.channel = in.Get<uint32_t>("channel");
  feed.from_slice = in.Get<int64_t>("from_slice");
  feed.to_slice = in.Get<int64_t>("to_slice");
  if (in.ok() && (feed.to_slice < feed.from_slice || std::abs(feed.from_slice) > kMaxSlice ||
                   std::abs(feed.to_slice) > kMaxSlice)) {
    in.Fail(fmt::format("slice range [{}, {}) is reversed or out of range", feed.from_slice, feed.to_slice));
  }
  const auto team_count = in.Get<uint32_t>("team count");
  in.CheckCount(team_count, 4, "team");
  for (uint32_t i = 0; in.ok() && i < team_count; ++i) {
    std::string tenant = in.Name("tenant");
    std::string team = in.Name("team");
    feed.teams.emplace_back(std::move(tenant), std::move(team));
  }
  const auto count = in.Get<uint32_t>("contribution count");
  in.CheckCount(count, kContributionBytes, "contribution");
  if (in.ok()) feed.delivered.reserve(count);
  for (uint32_t i = 0; in.ok() && i < count; ++i) {
    const size_t at = in.pos();
    int64_t slice = in.Get<int64_t>("slice");
    Delivered d;
    d.c.time = in.Get<int64_t>("time");
    d.c.aux = in.Get<uint64_t>("aux");
    d.c.aux2 = in.Get<uint64_t>("aux2");
    d.c.team = in.Get<uint32_t>("team");
    d.c.value = in.Get<uint32_t>("value");
    const auto kind = in.Get<uint8_t>("kind");
    d.c.sign = in.Get<int8_t>("sign");
    const auto effect = in.Get<uint8_t>("effect");
    d.c.kind = static_cast<Kind>(kind);
    d.effect = effect != 0;
    if (!in.ok()) break;
    if (d.c.team >= feed.teams.size() || kind >= static_cast<uint8_t>(Kind::kContactStart) ||
        (d.c.sign != 1 && d.c.sign != -1) || effect > 1 || (d.c.sign < 0 && !d.effect) || slice < feed.from_slice ||
        slice >= feed.to_slice || std::abs(d.c.time) > kMaxTimeMs) {
      in.Fail(fmt::format("contribution at byte {} is not valid (team {} of {}, kind {}, sign {}, effect {}, "
                          "slice {} outside [{}, {}))",
                          at, d.c.team, feed.teams.size(), kind, d.c.sign, effect, slice, feed.from_slice,
                          feed.to_slice));
      break;
    }
    feed.delivered.emplace_back(slice, d);
  }
  if (in.ok() && !in.at_end()) in.Fail(fmt::format("{} bytes after the end of the record", bytes.size() - in.pos()));
  if (!in.ok()) return absl::DataLossError("team feed: " + in.error());
  return feed;
}

}  // namespace ccpulse::operators
