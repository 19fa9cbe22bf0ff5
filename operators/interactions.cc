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
  Folder(uint64_t key, const MetricOptions& options, std::vector<Contribution>* out)
      : key_(key), options_(options), out_(out) {}

  void Step(const InteractionEvent& e) {
    if (end_.phase != Phase::kNone) {
      const TimeMs gap = e.time - end_.last_time;
      if (IsOpen(end_.phase) && gap > Expiry()) {
        Expire();
      } else if (!IsOpen(end_.phase) && gap > options_.interaction_retention_ms) {
        Reset();
      }
    }
    if (e.channel != schemas::Channel::kOther) end_.channel = e.channel;
    if (customer_ == 0 && e.customer != 0) {
      customer_ = e.customer;
      Emit(e.time, e.team, Kind::kContactStart, 0, customer_, key_);
    }
    switch (e.type) {
      case EventType::kQueued: Queued(e); break;
      case EventType::kAnswered: Answered(e); break;
      case EventType::kAbandoned: Abandoned(e); break;
      case EventType::kReopened: Reopened(e); break;
      default: Outcome(e); break;
    }
    end_.last_time = e.time;
  }

  // Called by the table when the interaction is evicted while still open.
  void Expire() {
    const TimeMs at = end_.last_time + Expiry();
    EndPhase(at, /*gap=*/false);
    Emit(at, end_.team, Kind::kExpired);
    Reset();
  }

  const FoldEnd& end() const { return end_; }
  void RedirectTo(std::vector<Contribution>* out) { out_ = out; }

 private:
  int64_t Expiry() const { return options_.expiry_ms[static_cast<size_t>(end_.channel)]; }

  void Emit(TimeMs time, TeamIndex team, Kind kind, uint32_t value = 0, uint64_t aux = 0,
            uint64_t aux2 = 0) {
    out_->push_back(Contribution{time, aux, aux2, team, value, kind, 1});
  }

  void Reset() {
    const schemas::Channel channel = end_.channel;
    const uint32_t redundant = end_.redundant;
    end_ = FoldEnd{};
    end_.channel = channel;
    end_.redundant = redundant;
    customer_ = 0;
    handed_off_ = reopened_ = false;
  }

  // Leaves the current open phase without its expected next event.
  void EndPhase(TimeMs time, bool gap) {
    if (end_.phase == Phase::kWaiting) {
      Emit(time, end_.team, Kind::kWaitEnd, 0, key_);
    } else if (end_.phase == Phase::kWorking) {
      Emit(time, end_.team, Kind::kWorkEnd, 0, key_);
    } else {
      return;
    }
    if (gap) Emit(time, end_.team, Kind::kGap);
  }

  bool At(Phase phase, TeamIndex team) const { return end_.phase == phase && end_.team == team; }

  void Queued(const InteractionEvent& e) {
    if (At(Phase::kWaiting, e.team)) {
      ++end_.redundant;
      return;
    }
    EndPhase(e.time, /*gap=*/true);
    Emit(e.time, e.team, Kind::kInflow);
    Emit(e.time, e.team, Kind::kWaitStart, 0, key_);
    end_.phase = Phase::kWaiting;
    end_.team = e.team;
    wait_start_ = e.time;
  }

  void Answered(const InteractionEvent& e) {
    if (At(Phase::kWorking, e.team)) {
      ++end_.redundant;
      return;
    }
    Emit(e.time, e.team, Kind::kAnswered);
    if (At(Phase::kWaiting, e.team)) {
      const TimeMs wait = e.time - wait_start_;
      Emit(e.time, e.team, Kind::kWait, ClampMs(wait));
      if (wait <= options_.sl_threshold_ms) Emit(e.time, e.team, Kind::kAnsweredInSl);
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kGap);
    }
    Emit(e.time, e.team, Kind::kWorkStart, 0, key_);
    end_.phase = Phase::kWorking;
    end_.team = e.team;
    work_start_ = e.time;
  }

  void Abandoned(const InteractionEvent& e) {
    if (At(Phase::kDone, e.team)) {
      ++end_.redundant;
      return;
    }
    if (At(Phase::kWaiting, e.team)) {
      const bool short_abandon = e.time - wait_start_ < options_.short_abandon_ms;
      Emit(e.time, e.team, short_abandon ? Kind::kAbandonedShort : Kind::kAbandoned);
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kAbandoned);
      Emit(e.time, e.team, Kind::kGap);
    }
    end_.phase = Phase::kDone;
    end_.team = e.team;
  }

  void Outcome(const InteractionEvent& e) {
    if ((At(Phase::kDone, e.team) || At(Phase::kHandedOff, e.team))) {
      ++end_.redundant;
      return;
    }
    Emit(e.time, e.team, OutcomeKind(e.type));
    if (At(Phase::kWorking, e.team)) {
      Emit(e.time, e.team, Kind::kHandle, ClampMs(e.time - work_start_));
      Emit(e.time, e.team, Kind::kWorkEnd, 0, key_);
    } else if (At(Phase::kWaiting, e.team)) {
      Emit(e.time, e.team, Kind::kWaitEnd, 0, key_);
      Emit(e.time, e.team, Kind::kGap);
    } else {
      EndPhase(e.time, /*gap=*/true);
      Emit(e.time, e.team, Kind::kGap);
    }
    end_.team = e.team;
    if (e.type == EventType::kTransferred || e.type == EventType::kEscalated) {
      handed_off_ = true;
      end_.phase = Phase::kHandedOff;
      return;
    }
    end_.phase = Phase::kDone;
    if (reopened_) return;  // a reworked contact was already counted (and failed) once
    const bool first_touch = e.type == EventType::kResolved && !handed_off_;
    if (first_touch) Emit(e.time, e.team, Kind::kFcrProvisional);
    Emit(e.time, e.team, Kind::kContactEnd, first_touch ? uint32_t{kContactResolvedFirstTouch} : 0u,
         customer_, key_);
  }

  void Reopened(const InteractionEvent& e) {
    if (end_.phase != Phase::kDone && end_.phase != Phase::kNone) {
      ++end_.redundant;
      return;
    }
    Emit(e.time, e.team, Kind::kReopened);
    Emit(e.time, e.team, Kind::kContactReopen, 0, customer_, key_);
    Emit(e.time, e.team, Kind::kWorkStart, 0, key_);
    reopened_ = true;
    end_.phase = Phase::kWorking;
    end_.team = e.team;
    work_start_ = e.time;
  }

  const uint64_t key_;
  const MetricOptions& options_;
  std::vector<Contribution>* out_;
  FoldEnd end_;
  uint64_t customer_ = 0;
  TimeMs wait_start_ = 0;
  TimeMs work_start_ = 0;
  bool handed_off_ = false;
  bool reopened_ = false;
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

  before_.clear();
  after_.clear();
  if (!inserted) FoldInteraction(record.events, key, *options_, &before_);
  record.events.insert(std::upper_bound(record.events.begin(), record.events.end(), event), event);
  const FoldEnd end = FoldInteraction(record.events, key, *options_, &after_);
  AppendDiff(before_, after_, diff);

  TrackLive(record.end, -1);
  TrackLive(end, +1);
  redundant_total_ += static_cast<int64_t>(end.redundant) - static_cast<int64_t>(record.end.redundant);
  record.end = end;
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
      if (IsOpen(record.end.phase)) {
        // Re-fold, then let the folder expire the open tail: stamped exactly as a later event
        // of this interaction would have stamped it.
        scratch_.clear();
        Folder folder(key, *options_, &scratch_);
        for (const InteractionEvent& e : record.events) folder.Step(e);
        folder.RedirectTo(out);
        folder.Expire();
      }
      TrackLive(record.end, -1);
      record.events.clear();
      record.events.shrink_to_fit();
      record.end = FoldEnd{};
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
