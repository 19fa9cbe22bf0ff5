// The customer-keyed half of the engine; see customer_stage.h.
#include "operators/customer_stage.h"

#include <algorithm>

#include "pipeline/check.h"
#include "schemas/ids.h"

namespace ccpulse::operators {

void TeamRegistry::Key(std::string_view tenant, std::string_view team, std::string* out) {
  out->assign(tenant);
  out->push_back('\x1f');
  out->append(team);
}

std::pair<TeamIndex, bool> TeamRegistry::Intern(std::string_view tenant, std::string_view team) {
  Key(tenant, team, &key_);
  auto [it, added] = index_.try_emplace(key_, static_cast<TeamIndex>(names_.size()));
  if (added) names_.emplace_back(std::string(tenant), std::string(team));
  return {it->second, added};
}

std::optional<TeamIndex> TeamRegistry::Find(std::string_view tenant, std::string_view team) const {
  std::string key;
  Key(tenant, team, &key);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

size_t TeamRegistry::MemoryBytes() const {
  size_t bytes = index_.capacity() * (sizeof(std::string) + sizeof(TeamIndex) + 1) +
                 names_.capacity() * sizeof(names_[0]);
  for (const auto& [tenant, team] : names_) bytes += tenant.capacity() + team.capacity();
  return bytes;
}

CustomerStage::CustomerStage(const MetricOptions* options)
    : options_(*options),
      slices_(options_.slice_ms),
      watermark_(options_.allowed_lateness_ms, options_.idle_partition_ms),
      interactions_(options),
      fcr_(options) {}

CustomerStage::Accepted CustomerStage::OnEvent(const schemas::Event& event, int channel, int64_t now_ms) {
  if (watermark_.IsLate(event.time_ms)) {
    ++counters_.late;
    return Accepted::kLate;
  }
  const schemas::HashKey& key = options_.hash_key;
  InteractionEvent e;
  e.time = event.time_ms;
  e.type = event.type;
  e.channel = event.channel;
  e.team = teams_.Intern(event.tenant, event.team).first;
  e.event_key = schemas::SipHash24(key, event.event_id);
  if (!event.customer_id.empty()) {
    uint64_t customer = schemas::SipHash24Pair(key, event.tenant, event.customer_id);
    if (options_.fcr_same_reason) {
      const std::string_view bytes(reinterpret_cast<const char*>(&customer), sizeof(customer));
      customer = schemas::SipHash24Pair(key, bytes, event.reason);
    }
    e.customer = customer == 0 ? 1 : customer;
  }
  const uint64_t interaction = schemas::SipHash24Pair(key, event.tenant, event.interaction_id);

  diff_.clear();
  switch (interactions_.Apply(interaction, e, &diff_)) {
    case InteractionTable::Outcome::kDuplicateId:
      ++counters_.duplicate_ids;
      return Accepted::kDuplicate;
    case InteractionTable::Outcome::kTooManyEvents:
      ++counters_.too_many_events;
      return Accepted::kTooManyEvents;
    case InteractionTable::Outcome::kApplied:
      break;
  }
  for (const Contribution& c : diff_) timeline_.Insert(slices_.SliceOf(c.time), c);
  watermark_.Observe(channel, event.time_ms, now_ms);
  ++counters_.applied;
  return Accepted::kApplied;
}

int64_t CustomerStage::Advance(int64_t now_ms) {
  const int64_t wm = watermark_.Advance(now_ms);
  return wm == window::WatermarkTracker::kNoWatermark ? INT64_MIN : slices_.SliceOf(wm);
}

int64_t CustomerStage::AdvanceToEnd() {
  const int64_t wm = watermark_.AdvanceToEnd();
  return wm == window::WatermarkTracker::kNoWatermark ? INT64_MIN : slices_.SliceOf(wm) + 1;
}

int64_t CustomerStage::NextDataSlice() const {
  int64_t next = std::min(timeline_.FirstSlice(), interactions_.NextEvictionSlice());
  const TimeMs verdict = fcr_.NextVerdictTime();
  if (verdict != INT64_MAX) next = std::min(next, slices_.SliceOf(verdict));
  return next;
}

void CustomerStage::DeliverSlice(int64_t slice, std::vector<Delivered>* out) {
  CCPULSE_CHECK(slice >= end_, "contributions are only ever added at or after the watermark");
  end_ = slice + 1;
  out->clear();
  slice_records_.clear();
  if (timeline_.FirstSlice() == slice) timeline_.TakeFirstBefore(slice + 1, &slice_records_);
  interactions_.EvictDue(slice, &slice_records_);
  fcr_.TakeVerdicts(slices_.StartOf(slice + 1), &slice_records_);

  // A retraction (-1) always has its contribution (+1) in the same slice: cancel the pairs.
  retractions_.clear();
  for (const Contribution& c : slice_records_) {
    if (c.sign > 0) continue;
    Contribution key = c;
    key.sign = 1;
    ++retractions_[key];
  }
  // Windowed counts, sums and backlog gauges commute: they go out in arrival order (the team
  // stage applies backlog starts before ends). Repeat-contact facts depend on event-time order
  // and are sorted first.
  repeat_facts_.clear();
  for (const Contribution& c : slice_records_) {
    if (c.sign < 0) continue;
    if (!retractions_.empty()) {
      auto it = retractions_.find(c);
      if (it != retractions_.end() && it->second > 0) {
        --it->second;
        continue;
      }
    }
    if (c.kind >= Kind::kContactStart) {
      repeat_facts_.push_back(c);
    } else {
      out->push_back(Delivered{c, false});
    }
  }
  for (const auto& [key, left] : retractions_) {
    CCPULSE_CHECK(left == 0, "a retraction always follows the contribution it takes back");
  }
  std::sort(repeat_facts_.begin(), repeat_facts_.end());
  for (const Contribution& c : repeat_facts_) {
    switch (c.kind) {
      case Kind::kContactStart: fcr_.OnContactStart(c, &effects_); break;
      case Kind::kContactEnd: fcr_.OnContactEnd(c); break;
      case Kind::kContactReopen: fcr_.OnContactReopen(c, &effects_); break;
      default: break;
    }
  }
  for (const Contribution& e : effects_) out->push_back(Delivered{e, true});
  effects_.clear();
}

void CustomerStage::Save(StateWriter& ar) const {
  ar(watermark_, uint64_t{teams_.size()});
  for (TeamIndex i = 0; i < teams_.size(); ++i) ar(teams_.tenant(i), teams_.team(i));
  ar(interactions_, fcr_, timeline_, end_, counters_);
}

void CustomerStage::Load(StateReader& ar, int64_t now_ms) {
  uint64_t team_count = 0;
  ar(watermark_, team_count);
  for (uint64_t i = 0; i < team_count && ar.ok(); ++i) {
    std::string tenant, team;
    ar(tenant, team);
    if (ar.ok() && !teams_.Intern(tenant, team).second) {
      ar.Fail("team " + tenant + "/" + team + " appears twice");
    }
  }
  ar(interactions_, fcr_, timeline_, end_, counters_);
  watermark_.Resume(now_ms);
}

}  // namespace ccpulse::operators
