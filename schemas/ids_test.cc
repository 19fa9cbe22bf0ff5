// Tests of the keyed hashes behind the strong ids: SipHash-2-4 against the reference vectors,
// the pair hash against the joined string, and key separation.
#include "schemas/ids.h"

#include <array>
#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace ccpulse::schemas {
namespace {

// The reference key: bytes 00..0f read as two little-endian words.
constexpr HashKey kReferenceKey{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};

// SipHash-2-4 outputs for the messages 00, 00 01, ..., 00..3e under kReferenceKey, from the
// reference implementation's vectors.h (vectors_sip64, read as little-endian words). An
// independent Python implementation gives the same values.
constexpr std::array<uint64_t, 64> kVectorsSip64 = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
    0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
    0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
    0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
    0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
    0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
    0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
    0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
    0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
    0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
    0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
    0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
    0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

// The reference message of length n: bytes 00, 01, ..., n-1.
std::string ReferenceMessage(size_t n) {
  std::string message(n, '\0');
  for (size_t i = 0; i < n; ++i) message[i] = static_cast<char>(i);
  return message;
}

TEST(SipHash24Test, MatchesReferenceVectors) {
  for (size_t n = 0; n < kVectorsSip64.size(); ++n) {
    EXPECT_EQ(SipHash24(kReferenceKey, ReferenceMessage(n)), kVectorsSip64[n]) << "length " << n;
  }
}

TEST(SipHash24Test, PairMatchesReferenceVectorsWhenSplitAroundA1fByte) {
  // Message 00..1f has 0x1f at index 31: the pair (00..1e, 20..n-1) is the same byte string.
  for (size_t n = 32; n < kVectorsSip64.size(); ++n) {
    const std::string message = ReferenceMessage(n);
    EXPECT_EQ(SipHash24Pair(kReferenceKey, message.substr(0, 31), message.substr(32)),
              kVectorsSip64[n])
        << "length " << n;
  }
}

TEST(SipHash24Test, IsDeterministic) {
  const HashKey key;
  EXPECT_EQ(SipHash24(key, "customer-42"), SipHash24(key, "customer-42"));
}

TEST(SipHash24Test, DistinguishesNearbyInputs) {
  const HashKey key;
  EXPECT_NE(SipHash24(key, "customer-42"), SipHash24(key, "customer-43"));
  EXPECT_NE(SipHash24(key, ""), SipHash24(key, std::string(1, '\0')));
  EXPECT_NE(SipHash24(key, std::string(7, '\0')), SipHash24(key, std::string(8, '\0')));
}

TEST(SipHash24Test, DifferentKeysGiveDifferentHashes) {
  const HashKey default_key;
  const HashKey other_k0{default_key.k0 ^ 1, default_key.k1};
  const HashKey other_k1{default_key.k0, default_key.k1 ^ 1};
  for (const std::string_view data :
       {"", "a", "customer-42", "a much longer customer id 0123456789"}) {
    const uint64_t hash = SipHash24(default_key, data);
    EXPECT_NE(hash, SipHash24(other_k0, data)) << data;
    EXPECT_NE(hash, SipHash24(other_k1, data)) << data;
    EXPECT_NE(hash, SipHash24(kReferenceKey, data)) << data;
  }
}

TEST(SipHash24PairTest, EqualsHashOfJoinedString) {
  const HashKey key;
  // Lengths around the 8-byte block boundary on both sides of the separator.
  const std::array<std::string_view, 8> parts = {
      "", "a", "tenant", "default", "acme-eu", "abcdefghijklmno", "abcdefghijklmnop",
      "interaction-0000000000000000000001"};
  for (const std::string_view a : parts) {
    for (const std::string_view b : parts) {
      const std::string joined = std::string(a) + "\x1f" + std::string(b);
      EXPECT_EQ(SipHash24Pair(key, a, b), SipHash24(key, joined)) << a << " | " << b;
    }
  }
}

TEST(SipHash24PairTest, SeparatesTheTwoParts) {
  const HashKey key;
  EXPECT_NE(SipHash24Pair(key, "ab", "c"), SipHash24Pair(key, "a", "bc"));
  EXPECT_NE(SipHash24Pair(key, "default", "t1"), SipHash24Pair(key, "t1", "default"));
}

TEST(SipHash24PairTest, DifferentKeysGiveDifferentHashes) {
  const HashKey default_key;
  EXPECT_NE(SipHash24Pair(default_key, "default", "i-1"),
            SipHash24Pair(kReferenceKey, "default", "i-1"));
}

TEST(StrongIdTest, ComparesByValue) {
  const InteractionKey a{1}, b{1}, c{2};
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_LT(a, c);
}

}  // namespace
}  // namespace ccpulse::schemas
