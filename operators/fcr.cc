// Repeat-contact tracking; see fcr.h.
#include "operators/fcr.h"

namespace ccpulse::operators {

RepeatContacts::Pending* RepeatContacts::Find(uint64_t customer) {
  if (customer == 0) return nullptr;
  auto it = customers_.find(customer);
  if (it == customers_.end() || it->second < head_) return nullptr;
  return &At(it->second);
}

void RepeatContacts::Fail(Pending& p, std::vector<Contribution>* effects) {
  p.failed = 1;
  if (p.provisional_counted) {
    p.provisional_counted = 0;
    Contribution retract;
    retract.time = p.end;
    retract.team = p.team;
    retract.kind = Kind::kFcrProvisional;
    retract.sign = -1;
    effects->push_back(retract);
  }
}

void RepeatContacts::OnContactStart(const Contribution& c, std::vector<Contribution>* effects) {
  Pending* p = Find(c.aux);
  if (p == nullptr || p->interaction == static_cast<uint32_t>(c.aux2)) return;
  const TimeMs gap = c.time - p->end;
  if (gap <= options_->forward_gap_ms || gap >= options_->repeat_window_ms) return;
  Contribution repeat;
  repeat.time = c.time;
  repeat.team = p->team;
  repeat.kind = Kind::kRepeat;
  effects->push_back(repeat);
  Fail(*p, effects);
}

RepeatContacts::Pending& RepeatContacts::Append() {
  if ((tail_ >> kBlockBits) - (head_ >> kBlockBits) == blocks_.size()) {
    blocks_.push_back(spare_ != nullptr ? std::move(spare_) : std::make_unique<Block>());
  }
  return At(tail_++);
}

void RepeatContacts::OnContactEnd(const Contribution& c) {
  const uint64_t seq = tail_;
  Pending& p = Append();
  p.end = c.time;
  p.customer = c.aux;
  p.team = c.team;
  p.interaction = static_cast<uint32_t>(c.aux2);
  const bool first_touch = (c.value & kContactResolvedFirstTouch) != 0;
  p.provisional_counted = first_touch;
  p.failed = !first_touch;
  if (c.aux != 0) customers_[c.aux] = seq;
}

void RepeatContacts::OnContactReopen(const Contribution& c, std::vector<Contribution>* effects) {
  Pending* p = Find(c.aux);
  if (p == nullptr || p->interaction != static_cast<uint32_t>(c.aux2)) return;
  if (c.time - p->end >= options_->repeat_window_ms) return;
  Fail(*p, effects);
}

TimeMs RepeatContacts::NextVerdictTime() const {
  return head_ == tail_ ? INT64_MAX : At(head_).end + options_->repeat_window_ms;
}

void RepeatContacts::TakeVerdicts(TimeMs before_ms, std::vector<Contribution>* out) {
  while (head_ < tail_ && At(head_).end + options_->repeat_window_ms < before_ms) {
    const Pending& p = At(head_);
    Contribution verdict;
    verdict.time = p.end + options_->repeat_window_ms;
    verdict.team = p.team;
    verdict.kind = p.failed ? Kind::kFcrFailed : Kind::kFcrConfirmed;
    out->push_back(verdict);
    if (p.customer != 0) {
      auto it = customers_.find(p.customer);
      if (it != customers_.end() && it->second == head_) customers_.erase(it);
    }
    ++head_;
    if ((head_ & kBlockMask) == 0) {  // left the front block
      spare_ = std::move(blocks_.front());
      blocks_.pop_front();
    }
  }
}

size_t RepeatContacts::MemoryBytes() const {
  return (blocks_.size() + (spare_ != nullptr)) * sizeof(Block) +
         customers_.capacity() * (sizeof(std::pair<uint64_t, uint64_t>) + 1);
}

}  // namespace ccpulse::operators
