// The interaction fold and table; see interactions.h.
#include "operators/interactions.h"

#include <algorithm>

namespace ccpulse::operators {
namespace {

using schemas::EventType;

bool IsOpen(Phase phase) {
  return phase == Phase::kWaiting || phase == Phase::kWorking || phase == Phase::kHandedOff;
}

Kind OutcomeKind(EventType type) {
  switch (type) {
    case EventType::kResolved: return Kind::kResolved;
    case EventType::kClosed: return Kind::kClosed;
    case EventType::kTransferred: return Kind::kTransferred;
    default: return Kind::kEscalated;
  }
}

uint32_t ClampMs(TimeMs ms) {
  if (ms < 0) return 0;
  return ms > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(ms);
}

// Running state of one fold.
class Folder {
 public:
  Folder(uint64_t key, const MetricOptions& options, std::vector<Contribution>* out,
         const FoldState& state = FoldState{})
      : key_(key), options_(options), out_(out), s_(state) {}

  void Step(const InteractionEvent& e) {
    if (s_.end.phase != Phase::kNone) {
      const TimeMs gap = e.time - s_.end.last_time;
      if (IsOpen(s_.end.phase) && gap > Expiry()) {
        Expire();
      } else if (!IsOpen(s_.end.phase) && gap > options_.interaction_retention_ms) {
        Reset();
      }
    }
    if (e.channel != schemas::Channel::kOther) s_.end.channel = e.channel;
    if (s_.customer == 0 && e.customer != 0) {
      s_.customer = e.customer;
      Emit(e.time, e.team, Kind::kContactStart, 0, s_.customer, key_);
    }
    switch (e.type) {
      case EventType::kQueued: Queued(e); break;
      case EventType::kAnswered: Answered(e); break;
      case EventType::kAbandoned: Abandoned(e); break;
      case EventType::kReopened: Reopened(e); break;
      default: Outcome(e); break;
    }
    s_.end.last_time = e.time;
  }

  // Called by the table when the interaction is evicted while still open.
  void Expire() {
    const TimeMs at = s_.end.last_time + Expiry();
    EndPhase(at, /*gap=*/false);
    Emit(at, s_.end.team, Kind::kExpired);
    Reset();
  }

  const FoldEnd& end() const { return s_.end; }
  const FoldState& state() const { return s_; }

 private:
  int64_t Expiry() const { return options_.expiry_ms[static_cast<size_t>(s_.end.channel)]; }

  void Emit(TimeMs time, TeamIndex team, Kind kind, uint32_t value = 0, uint64_t aux = 0,
            uint64_t aux2 = 0) {
    out_->push_back(Contribution{time, aux, aux2, team, value, kind, 1});
  }

  void Reset() {
    FoldState fresh;
    fresh.end.channel = s_.end.channel;
    fresh.end.redundant = s_.end.redundant;
    s_ = fresh;
  }

  // Leaves the current open phase without its expected next event.
  void EndPhase(TimeMs time, bool gap) {
    if (s_.end.phase == Phase::kWaiting) {
      Emit(time, s_.end.team, Kind::kWaitEnd, 0, key_);
    } else if (s_.end.phase == Phase::kWorking) {
      Emit(time, s_.end.team, Kind::kWorkEnd, 0, key_);
    } else {
      return;
    }
    if (gap) Emit(time, s_.end.team, Kind::kGap);
  }

  bool At(Phase phase, TeamIndex team) const { return s_.end.phase == phase && s_.end.team == team; }

  void Queued(const InteractionEvent& e) {
    if (At(Phase::kWaiting, e.team)) {
      ++s_.end.redundant;
      return;
    }
    EndPhase(e.time, /*gap=*/true);
    Emit(e.time, e.team, Kind::kInflow);
    Emit(e.time, e.team, Kind::kWaitStart, 0, key_);
    s_.end.phase = Phase::kWaiting;
    s_.end.team = e.team;
    s_.wait_start = e.time;
  }

  void Answered(const InteractionEvent& e) {
    if (At(Phase::kWorking, e.team)) {
      ++s_.end.redundant;
      return;
    }
    Emit(e.time, e.team, Kind::kAnswered);
    if (At(Phase::kWaiting, e.team)) {
      const TimeMs wait = e.time - s_.wait_start;
      Emit(e.time, e.team, Kind::kWait, ClampMs(wait));
      if (wait <= options_.sl_threshold_ms) Emit(e.time, e.team, Kind::kAnsweredInSl);
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kGap);
    }
    Emit(e.time, e.team, Kind::kWorkStart, 0, key_);
    s_.end.phase = Phase::kWorking;
    s_.end.team = e.team;
    s_.work_start = e.time;
  }

  void Abandoned(const InteractionEvent& e) {
    if (At(Phase::kDone, e.team)) {
      ++s_.end.redundant;
      return;
    }
    if (At(Phase::kWaiting, e.team)) {
      const bool short_abandon = e.time - s_.wait_start < options_.short_abandon_ms;
      Emit(e.time, e.team, short_abandon ? Kind::kAbandonedShort : Kind::kAbandoned);
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kAbandoned);
      Emit(e.time, e.team, Kind::kGap);
    }
    s_.end.phase = Phase::kDone;
    s_.end.team = e.team;
  }

  void Outcome(const InteractionEvent& e) {
    if ((At(Phase::kDone, e.team) || At(Phase::kHandedOff, e.team))) {
      ++s_.end.redundant;
      return;
    }
    Emit(e.time, e.team, OutcomeKind(e.type));
    if (At(Phase::kWorking, e.team)) {
      Emit(e.time, e.team, Kind::kHandle, ClampMs(e.time - s_.work_start));
      Emit(e.time, e.team, Kind::kWorkEnd, 0, key_);
    } else if (At(Phase::kWaiting, e.team)) {
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
      Emit(e.time, e.team, Kind::kGap);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kGap);
    }
    s_.end.team = e.team;
    if (e.type == EventType::kTransferred || e.type == EventType::kEscalated) {
      s_.handed_off = true;
      s_.end.phase = Phase::kHandedOff;
      return;
    }
    s_.end.phase = Phase::kDone;
    if (s_.reopened) return;  // a reworked contact was already counted (and failed) once
    const bool first_touch = e.type == EventType::kResolved && !s_.handed_off;
    if (first_touch) Emit(e.time, e.team, Kind::kFcrProvisional);
    Emit(e.time, e.team, Kind::kContactEnd, first_touch ? uint32_t{kContactResolvedFirstTouch} : 0u,
         s_.customer, key_);
  }

  void Reopened(const InteractionEvent& e) {
    if (s_.end.phase != Phase::kDone && s_.end.phase != Phase::kNone) {
      ++s_.end.redundant;
      return;
    }
    Emit(e.time, e.team, Kind::kReopened);
    Emit(e.time, e.team, Kind::kContactReopen, 0, s_.customer, key_);
    Emit(e.time, e.team, Kind::kWorkStart, 0, key_);
    s_.reopened = true;
    s_.end.phase = Phase::kWorking;
    s_.end.team = e.team;
    s_.work_start = e.time;
  }

  const uint64_t key_;
  const MetricOptions& options_;
  std::vector<Contribution>* out_;
  FoldState s_;
};

// Appends to `*diff` the multiset difference after - before (signed).
void AppendDiff(std::vector<Contribution>& before, std::vector<Contribution>& after,
                std::vector<Contribution>* diff) {
  size_t common = 0;
  while (common < before.size() && common < after.size() && before[common] == after[common]) {
    ++common;
  }
  auto b = before.begin() + static_cast<ptrdiff_t>(common);
  auto a = after.begin() + static_cast<ptrdiff_t>(common);
  std::sort(b, before.end());
  std::sort(a, after.end());
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && *b < *a)) {
      Contribution c = *b++;
      c.sign = -1;
      diff->push_back(c);
    } else if (b == before.end() || *a < *b) {
      diff->push_back(*a++);
    } else {
      ++a;
      ++b;
    }
  }
}

}  // namespace

FoldEnd FoldInteraction(std::span<const InteractionEvent> events, uint64_t key,
                        const MetricOptions& options, std::vector<Contribution>* out) {
  Folder folder(key, options, out);
  for (const InteractionEvent& e : events) folder.Step(e);
  return folder.end();
}

InteractionTable::InteractionTable(const MetricOptions* options)
    : options_(options), slices_(options->slice_ms) {}

TimeMs InteractionTable::EvictTime(const FoldEnd& end) const {
  if (IsOpen(end.phase)) return end.last_time + options_->expiry_ms[static_cast<size_t>(end.channel)];
  return end.last_time + options_->interaction_retention_ms;
}

void InteractionTable::TrackLive(const FoldEnd& end, int delta) {
  if (end.phase != Phase::kWaiting && end.phase != Phase::kWorking) return;
  auto& gauge = end.phase == Phase::kWaiting ? live_waiting_ : live_working_;
  if (gauge.size() <= end.team) gauge.resize(end.team + 1, 0);
  gauge[end.team] += delta;
}

InteractionTable::Outcome InteractionTable::Apply(uint64_t key, const InteractionEvent& event,
                                                  std::vector<Contribution>* diff) {
  auto [it, inserted] = index_.try_emplace(key, 0);
  if (inserted) {
    if (free_slots_.empty()) {
      it->second = static_cast<uint32_t>(records_.size());
      records_.emplace_back();
    } else {
      it->second = free_slots_.back();
      free_slots_.pop_back();
    }
  }
  Record& record = records_[it->second];
  for (const InteractionEvent& seen : record.events) {
    if (seen.event_key == event.event_key) return Outcome::kDuplicateId;
  }
  if (record.events.size() >= kMaxEventsPerInteraction) return Outcome::kTooManyEvents;

  const FoldState previous = record.state;
  if (record.events.empty() || record.events.back() < event) {
    // In order (the common case): the fold is causal, so it simply continues.
    Folder folder(key, *options_, diff, record.state);
    folder.Step(event);
    record.state = folder.state();
    record.events.push_back(event);
  } else {
    // Out of order: fold again with the event in place and emit the difference.
    before_.clear();
    after_.clear();
    FoldInteraction(record.events, key, *options_, &before_);
    record.events.insert(std::upper_bound(record.events.begin(), record.events.end(), event), event);
    Folder folder(key, *options_, &after_);
    for (const InteractionEvent& e : record.events) folder.Step(e);
    record.state = folder.state();
    AppendDiff(before_, after_, diff);
  }
  const FoldEnd& end = record.state.end;
  TrackLive(previous.end, -1);
  TrackLive(end, +1);
  redundant_total_ += static_cast<int64_t>(end.redundant) - static_cast<int64_t>(previous.end.redundant);
  record.evict_at = EvictTime(end);
  const int64_t evict_slice = slices_.SliceOf(record.evict_at);
  if (evict_slice < record.scheduled_slice) {
    record.scheduled_slice = evict_slice;
    evictions_.Insert(evict_slice, key);
  }
  return Outcome::kApplied;
}

void InteractionTable::EvictDue(int64_t slice, std::vector<Contribution>* out) {
  while (evictions_.TakeFirstBefore(slice + 1, &due_) != INT64_MAX) {
    for (uint64_t key : due_) {
      auto it = index_.find(key);
      if (it == index_.end()) continue;
      Record& record = records_[it->second];
      const int64_t evict_slice = slices_.SliceOf(record.evict_at);
      if (evict_slice > slice) {
        if (record.scheduled_slice <= slice || record.scheduled_slice > evict_slice) {
          record.scheduled_slice = evict_slice;
          evictions_.Insert(evict_slice, key);
        }
        continue;
      }
      if (IsOpen(record.state.end.phase)) {
        // Let the folder expire the open tail: stamped exactly as a later event of this
        // interaction would have stamped it.
        Folder folder(key, *options_, out, record.state);
        folder.Expire();
      }
      TrackLive(record.state.end, -1);
      record.events.clear();
      record.events.shrink_to_fit();
      record.state = FoldState{};
      record.scheduled_slice = INT64_MAX;
      free_slots_.push_back(it->second);
      index_.erase(it);
    }
  }
}

size_t InteractionTable::MemoryBytes() const {
  size_t bytes = index_.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1) +
                 records_.capacity() * sizeof(Record) + free_slots_.capacity() * sizeof(uint32_t);
  for (const Record& r : records_) {
    if (r.events.size() > 4) bytes += r.events.capacity() * sizeof(InteractionEvent);
  }
  return bytes;
}

}  // namespace ccpulse::operators
