// Strong ids for what operators keep: 64-bit keyed hashes of the wire strings (SipHash-2-4).
// Customer ids are hashed at ingest and never leave the process in clear (DESIGN §2); the key
// makes the hashes useless to anyone without it.
#ifndef CCPULSE_SCHEMAS_IDS_H_
#define CCPULSE_SCHEMAS_IDS_H_

#include <cstdint>
#include <string_view>

namespace ccpulse::schemas {

// 128-bit SipHash key. Configure a secret one in production (config `hash_key`); checkpoints are
// only valid under the key they were written with.
struct HashKey {
  uint64_t k0 = 0x6363707573650001ULL;  // "ccpuse" + 1: the public default
  uint64_t k1 = 0x2d6b65792d763100ULL;
};

// SipHash-2-4 of `data` (Aumasson & Bernstein); matches the reference test vectors.
uint64_t SipHash24(const HashKey& key, std::string_view data);

// Hash of two strings joined by a 0x1f separator, without building the joined string.
uint64_t SipHash24Pair(const HashKey& key, std::string_view a, std::string_view b);

template <typename Tag>
struct StrongId {
  uint64_t value = 0;
  friend bool operator==(StrongId a, StrongId b) { return a.value == b.value; }
  friend bool operator!=(StrongId a, StrongId b) { return a.value != b.value; }
  friend bool operator<(StrongId a, StrongId b) { return a.value < b.value; }
  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.value);
  }
};

using InteractionKey = StrongId<struct InteractionTag>;  // hash(tenant, interaction_id)
using CustomerKey = StrongId<struct CustomerTag>;        // hash(tenant, customer_id); 0 = unknown
using EventKey = StrongId<struct EventTag>;              // hash(event_id)

}  // namespace ccpulse::schemas

#endif  // CCPULSE_SCHEMAS_IDS_H_
