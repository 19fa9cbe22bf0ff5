// A minimal streaming JSON writer into a std::string: objects, arrays, escaped strings,
// integers and shortest round-trip doubles. Used for replay output and the HTTP API.
#ifndef CCPULSE_PIPELINE_JSON_WRITER_H_
#define CCPULSE_PIPELINE_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccpulse {

// Appends to a caller-owned string (reuse it to avoid allocation). Commas are inserted
// automatically; keys are written with Key() before each value inside an object.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // Non-finite values are written as null (JSON has no NaN).
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  JsonWriter& OptionalDouble(const std::optional<double>& value) {
    return value ? Double(*value) : Null();
  }
  // Inserts already-serialised JSON as one value.
  JsonWriter& Raw(std::string_view json);

  // Appends `text` with JSON string escaping (no quotes).
  static void Escape(std::string_view text, std::string* out);

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  void Separate();

  std::string* out_;
  std::vector<bool> first_ = {true};  // per nesting level: no value written yet
  bool after_key_ = false;
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_JSON_WRITER_H_
