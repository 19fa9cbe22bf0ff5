// SipHash-2-4; see ids.h.
#include "schemas/ids.h"

#include <cstring>

namespace ccpulse::schemas {
namespace {

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  explicit SipState(const HashKey& key)
      : v0(key.k0 ^ 0x736f6d6570736575ULL),
        v1(key.k1 ^ 0x646f72616e646f6dULL),
        v2(key.k0 ^ 0x6c7967656e657261ULL),
        v3(key.k1 ^ 0x7465646279746573ULL) {}
  inline void Round() {
    v0 += v1; v1 = Rotl(v1, 13); v1 ^= v0; v0 = Rotl(v0, 32);
    v2 += v3; v3 = Rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = Rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = Rotl(v1, 17); v1 ^= v2; v2 = Rotl(v2, 32);
  }
  inline void Absorb(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
  inline uint64_t Finish(uint64_t last) {
    Absorb(last);
    v2 ^= 0xff;
    Round(); Round(); Round(); Round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

// Streams bytes into 8-byte little-endian words.
class SipStream {
 public:
  explicit SipStream(const HashKey& key) : state_(key) {}
  void Update(std::string_view data) {
    for (unsigned char c : data) Push(c);
  }
  void Push(unsigned char c) {
    tail_ |= static_cast<uint64_t>(c) << (8 * (length_ & 7));
    ++length_;
    if ((length_ & 7) == 0) {
      state_.Absorb(tail_);
      tail_ = 0;
    }
  }
  uint64_t Finish() { return state_.Finish(tail_ | (static_cast<uint64_t>(length_) << 56)); }

 private:
  SipState state_;
  uint64_t tail_ = 0;
  uint64_t length_ = 0;
};

}  // namespace

uint64_t SipHash24(const HashKey& key, std::string_view data) {
  SipState state(key);
  const size_t whole = data.size() & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t m;
    std::memcpy(&m, data.data() + i, 8);  // x86-64 and aarch64 Linux are little-endian
    state.Absorb(m);
  }
  uint64_t last = static_cast<uint64_t>(data.size()) << 56;
  for (size_t i = whole; i < data.size(); ++i) {
    last |= static_cast<uint64_t>(static_cast<unsigned char>(data[i])) << (8 * (i - whole));
  }
  return state.Finish(last);
}

uint64_t SipHash24Pair(const HashKey& key, std::string_view a, std::string_view b) {
  SipStream stream(key);
  stream.Update(a);
  stream.Push(0x1f);
  stream.Update(b);
  return stream.Finish();
}

}  // namespace ccpulse::schemas
