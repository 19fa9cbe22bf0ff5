// First-contact resolution and repeat contacts (DESIGN §4): tracks, per customer, the latest
// finished contact whose repeat window is still open; a new contact of the same customer after
// the forward gap is a repeat, charged to the team that finished the first contact. Verdicts
// (confirmed / failed) are issued when a contact's repeat window closes.
// Fed in event-time order by the engine's timeline, so results do not depend on arrival order.
#ifndef CCPULSE_OPERATORS_FCR_H_
#define CCPULSE_OPERATORS_FCR_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "operators/contribution.h"
#include "operators/options.h"

namespace ccpulse::operators {

// Worker-local. Memory: one 24-byte pending record per finished contact in the last repeat
// window (in blocks of 4096, so at most one block is slack), plus one 16-byte map slot per
// customer with such a contact.
class RepeatContacts {
 public:
  explicit RepeatContacts(const MetricOptions* options) : options_(options) {}

  // Each handler may append effects to `*effects`: kRepeat (+1) for the team charged, and
  // kFcrProvisional with sign -1 stamped at the first contact's end time (a retraction).
  void OnContactStart(const Contribution& c, std::vector<Contribution>* effects);
  void OnContactEnd(const Contribution& c);
  void OnContactReopen(const Contribution& c, std::vector<Contribution>* effects);

  // Appends a kFcrConfirmed or kFcrFailed contribution for every contact whose repeat window
  // closes before `before_ms`, stamped at the closing time, and forgets those contacts.
  void TakeVerdicts(TimeMs before_ms, std::vector<Contribution>* out);

  // Time the next verdict is due, or INT64_MAX.
  TimeMs NextVerdictTime() const;

  size_t tracked_contacts() const { return tail_ - head_; }
  size_t tracked_customers() const { return customers_.size(); }
  size_t MemoryBytes() const;

  // Checkpoints: the pending contacts in order, then the customer index.
  template <typename Ar>
  void Persist(Ar& ar) {
    uint64_t head = head_, tail = tail_;
    ar(head, tail);
    if constexpr (Ar::kLoading) {
      if (tail < head) ar.Fail("repeat-contact sequence");
      blocks_.clear();
      head_ = tail_ = head;
      for (uint64_t seq = head; seq < tail && ar.ok(); ++seq) ar(Append());
    } else {
      for (uint64_t seq = head; seq < tail; ++seq) ar(At(seq));
    }
    ar(customers_);
  }

 private:
  struct Pending {
    TimeMs end = 0;            // when the contact finished
    uint64_t customer = 0;     // 0 = unknown customer: only transfers and reopens can fail it
    uint32_t team : 30 = 0;    // the team that finished it and is charged for repeats
    uint32_t failed : 1 = 0;
    uint32_t provisional_counted : 1 = 0;
    uint32_t interaction = 0;  // low 32 bits of the interaction key, to match reopens
  };
  static_assert(sizeof(Pending) == 24);

  static constexpr int kBlockBits = 12;
  static constexpr uint64_t kBlockMask = (uint64_t{1} << kBlockBits) - 1;
  using Block = std::array<Pending, size_t{1} << kBlockBits>;

  Pending* Find(uint64_t customer);
  // A new pending contact at tail_ (then tail_ + 1).
  Pending& Append();
  void Fail(Pending& p, std::vector<Contribution>* effects);
  Pending& At(uint64_t seq) { return (*blocks_[(seq >> kBlockBits) - (head_ >> kBlockBits)])[seq & kBlockMask]; }
  const Pending& At(uint64_t seq) const {
    return (*blocks_[(seq >> kBlockBits) - (head_ >> kBlockBits)])[seq & kBlockMask];
  }

  const MetricOptions* options_;
  // Pending contacts [head_, tail_) in end order, by sequence number: blocks_[0] holds the block
  // of head_. A block that empties is kept as the spare, so the steady state does not allocate.
  std::deque<std::unique_ptr<Block>> blocks_;
  std::unique_ptr<Block> spare_;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  absl::flat_hash_map<uint64_t, uint64_t> customers_;  // customer -> seq of its latest contact
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_FCR_H_
