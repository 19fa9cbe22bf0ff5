// Binary archives for checkpoints (DESIGN §6). Each stateful class lists its fields once, in a
// member `template <typename Ar> void Persist(Ar& ar) { ar(a_, b_, ...); }`, and the same list
// serves saving (StateWriter) and loading (StateReader), so the two cannot drift apart.
//
// Encoding: trivially copyable values are their bytes (little-endian hosts; the checkpoint
// header records the format version); containers are a u64 count then their elements; maps are
// (key, value) pairs; unique_ptr and optional a presence byte; time zones their IANA name.
// Readers never trust a count: a count larger than the bytes left, or any read past the end,
// fails the archive with a message naming the byte offset, and every later read is a no-op.
#ifndef CCPULSE_OPERATORS_STATE_ARCHIVE_H_
#define CCPULSE_OPERATORS_STATE_ARCHIVE_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"

namespace ccpulse::operators {

namespace archive_internal {

template <typename T, typename = void>
struct HasPersist : std::false_type {};
template <typename T>
struct HasPersist<T, std::void_t<decltype(&T::template Persist<struct Probe>)>> : std::true_type {};

template <typename T>
struct IsPair : std::false_type {};
template <typename A, typename B>
struct IsPair<std::pair<A, B>> : std::true_type {};

template <typename T>
struct IsSequence : std::false_type {};
template <typename T, typename A>
struct IsSequence<std::vector<T, A>> : std::true_type {};
template <typename T, typename A>
struct IsSequence<std::deque<T, A>> : std::true_type {};
template <typename T, size_t N, typename A>
struct IsSequence<absl::InlinedVector<T, N, A>> : std::true_type {};

template <typename T>
struct IsArray : std::false_type {};
template <typename T, size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};

template <typename T>
struct IsUniquePtr : std::false_type {};
template <typename T>
struct IsUniquePtr<std::unique_ptr<T>> : std::true_type {};

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T, typename = void>
struct IsMap : std::false_type {};
template <typename T>
struct IsMap<T, std::void_t<typename T::mapped_type, typename T::key_type>> : std::true_type {};

template <typename T>
constexpr bool kRaw = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !HasPersist<T>::value &&
                      !IsPair<T>::value && !std::is_same_v<T, absl::TimeZone>;

}  // namespace archive_internal

class StateWriter {
 public:
  static constexpr bool kLoading = false;
  explicit StateWriter(std::string* out) : out_(out) {}

  template <typename... T>
  void operator()(const T&... values) {
    (Put(values), ...);
  }
  void Bytes(const void* data, size_t size) { out_->append(static_cast<const char*>(data), size); }
  // LEB128: 7 bits a byte, low first (1 byte below 128, 10 for the largest).
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  // Small magnitudes of either sign in few bytes (zigzag: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...).
  void SignedVarint(int64_t v) { Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }

 private:
  template <typename T>
  void Put(const T& v) {
    using namespace archive_internal;
    if constexpr (HasPersist<T>::value) {
      // Persist is one non-const member for both directions; saving does not modify.
      const_cast<T&>(v).Persist(*this);
    } else if constexpr (kRaw<T>) {
      Bytes(&v, sizeof(T));
    } else if constexpr (std::is_same_v<T, std::string>) {
      Put(uint64_t{v.size()});
      Bytes(v.data(), v.size());
    } else if constexpr (IsPair<T>::value) {
      Put(v.first);
      Put(v.second);
    } else if constexpr (IsSequence<T>::value) {
      Put(uint64_t{v.size()});
      using E = typename T::value_type;
      if constexpr (kRaw<E> && !std::is_same_v<T, std::deque<E>>) {
        Bytes(v.data(), v.size() * sizeof(E));
      } else {
        for (const auto& e : v) Put(e);
      }
    } else if constexpr (IsArray<T>::value) {
      for (const auto& e : v) Put(e);
    } else if constexpr (IsMap<T>::value) {
      Put(uint64_t{v.size()});
      for (const auto& [key, value] : v) {
        Put(key);
        Put(value);
      }
    } else if constexpr (IsUniquePtr<T>::value || IsOptional<T>::value) {
      Put(static_cast<bool>(v));
      if (v) Put(*v);
    } else if constexpr (std::is_same_v<T, absl::TimeZone>) {
      Put(v.name());
    } else {
      static_assert(sizeof(T) == 0, "no archive encoding for this type");
    }
  }

  std::string* out_;
};

class StateReader {
 public:
  static constexpr bool kLoading = true;
  // `what` names the bytes in errors ("state truncated or corrupt at byte 12: ...").
  explicit StateReader(std::string_view in, std::string_view what = "state") : in_(in), what_(what) {}

  template <typename... T>
  void operator()(T&... values) {
    (Get(values), ...);
  }
  bool Bytes(void* data, size_t size) {
    if (!ok()) return false;
    if (size == 0) return true;  // `data` may be null (an empty vector's)
    if (size > in_.size() - pos_) {
      Fail(fmt::format("needs {} bytes, {} left", size, in_.size() - pos_));
      return false;
    }
    std::memcpy(data, in_.data() + pos_, size);
    pos_ += size;
    return true;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t byte = 0;
      if (!Bytes(&byte, 1)) return 0;
      if (shift == 63 && byte > 1) break;  // more than 64 bits
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    Fail("a varint of more than 64 bits");
    return 0;
  }
  int64_t SignedVarint() {
    const uint64_t v = Varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  // Fails the archive (the first failure is kept).
  void Fail(std::string_view what) {
    if (ok()) error_ = fmt::format("{} truncated or corrupt at byte {}: {}", what_, pos_, what);
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return pos_ == in_.size(); }
  size_t left() const { return in_.size() - pos_; }

 private:
  // A count of elements of at least `min_bytes` each; 0 (and a failure) if they cannot fit.
  size_t Count(size_t min_bytes) {
    uint64_t n = 0;
    if (!Bytes(&n, sizeof(n))) return 0;
    if (n > (in_.size() - pos_) / (min_bytes == 0 ? 1 : min_bytes)) {
      Fail(fmt::format("a count of {} does not fit in the {} bytes left", n, in_.size() - pos_));
      return 0;
    }
    return static_cast<size_t>(n);
  }

  template <typename T>
  void Get(T& v) {
    using namespace archive_internal;
    if (!ok()) return;
    if constexpr (HasPersist<T>::value) {
      v.Persist(*this);
    } else if constexpr (kRaw<T>) {
      Bytes(&v, sizeof(T));
    } else if constexpr (std::is_same_v<T, std::string>) {
      v.resize(Count(1));
      Bytes(v.data(), v.size());
    } else if constexpr (IsPair<T>::value) {
      Get(v.first);
      Get(v.second);
    } else if constexpr (IsSequence<T>::value) {
      using E = typename T::value_type;
      const size_t n = Count(kRaw<E> ? sizeof(E) : 1);
      v.clear();
      if constexpr (kRaw<E> && !std::is_same_v<T, std::deque<E>>) {
        v.resize(n);
        Bytes(v.data(), n * sizeof(E));
      } else {
        for (size_t i = 0; i < n && ok(); ++i) Get(v.emplace_back());
      }
    } else if constexpr (IsArray<T>::value) {
      for (auto& e : v) Get(e);
    } else if constexpr (IsMap<T>::value) {
      const size_t n = Count(1);
      v.clear();
      for (size_t i = 0; i < n && ok(); ++i) {
        typename T::key_type key{};
        typename T::mapped_type value{};
        Get(key);
        Get(value);
        v.emplace(std::move(key), std::move(value));
      }
    } else if constexpr (IsUniquePtr<T>::value) {
      bool present = false;
      Get(present);
      v.reset();
      if (present) {
        v = std::make_unique<typename T::element_type>();
        Get(*v);
      }
    } else if constexpr (IsOptional<T>::value) {
      bool present = false;
      Get(present);
      v.reset();
      if (present) Get(v.emplace());
    } else if constexpr (std::is_same_v<T, absl::TimeZone>) {
      std::string name;
      Get(name);
      if (ok() && !absl::LoadTimeZone(name, &v)) Fail(fmt::format("unknown time zone \"{}\"", name));
    } else {
      static_assert(sizeof(T) == 0, "no archive encoding for this type");
    }
  }

  std::string_view in_;
  std::string_view what_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_STATE_ARCHIVE_H_
