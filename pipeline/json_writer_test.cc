// Tests for JsonWriter: structure and commas, string escaping, number formatting.
#include "pipeline/json_writer.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ccpulse {
namespace {

std::string DoubleJson(double v) {
  std::string out;
  JsonWriter(&out).Double(v);
  return out;
}

TEST(JsonWriterTest, EmptyContainers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray().BeginObject().EndObject().BeginArray().EndArray().EndArray();
  EXPECT_EQ(out, "[{},[]]");
}

TEST(JsonWriterTest, NestingAndCommas) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a").Int(1);
  w.Key("b")
      .BeginArray()
      .Int(1)
      .Int(-2)
      .Uint(3)
      .BeginObject()
      .Key("x")
      .Null()
      .EndObject()
      .BeginArray()
      .EndArray()
      .Bool(true)
      .Bool(false)
      .EndArray();
  w.Key("c").BeginObject().Key("d").String("e").Key("f").BeginObject().EndObject().EndObject();
  w.Key("g").String("");
  w.EndObject();
  EXPECT_EQ(out, R"({"a":1,"b":[1,-2,3,{"x":null},[],true,false],"c":{"d":"e","f":{}},"g":""})");
}

TEST(JsonWriterTest, AppendsToExistingStringAndSeparatesTopLevelValues) {
  std::string out = "prefix ";
  JsonWriter w(&out);
  w.BeginObject().Key("k").Int(1).EndObject();
  EXPECT_EQ(out, R"(prefix {"k":1})");
}

TEST(JsonWriterTest, IntegerExtremes) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray()
      .Int(std::numeric_limits<int64_t>::min())
      .Int(std::numeric_limits<int64_t>::max())
      .Int(0)
      .Uint(std::numeric_limits<uint64_t>::max())
      .EndArray();
  EXPECT_EQ(out, "[-9223372036854775808,9223372036854775807,0,18446744073709551615]");
}

TEST(JsonWriterTest, EscapesQuotesBackslashAndControlCharacters) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("k\"ey\\").String("a\"b\\c\n\r\t\x01\x1f\b\f/\x7f").EndObject();
  EXPECT_EQ(out, R"({"k\"ey\\":"a\"b\\c\n\r\t\u0001\u001f\u0008\u000c/)"
                 "\x7f"
                 R"("})");
}

TEST(JsonWriterTest, EscapesNulAndKeepsUtf8) {
  std::string text("x\0y", 3);
  text += "caf\xc3\xa9 \xe2\x82\xac";  // "café €"
  std::string out;
  JsonWriter::Escape(text, &out);
  EXPECT_EQ(out, "x\\u0000ycaf\xc3\xa9 \xe2\x82\xac");
}

TEST(JsonWriterTest, EscapeEveryControlCharacter) {
  for (int c = 0; c < 0x20; ++c) {
    std::string out;
    JsonWriter::Escape(std::string(1, static_cast<char>(c)), &out);
    if (c == '\n') {
      EXPECT_EQ(out, "\\n");
    } else if (c == '\r') {
      EXPECT_EQ(out, "\\r");
    } else if (c == '\t') {
      EXPECT_EQ(out, "\\t");
    } else {
      char want[8];
      std::snprintf(want, sizeof(want), "\\u%04x", c);
      EXPECT_EQ(out, want) << "char " << c;
    }
  }
}

TEST(JsonWriterTest, DoublesAreShortestRoundTrip) {
  EXPECT_EQ(DoubleJson(0.1), "0.1");
  EXPECT_EQ(DoubleJson(1.5), "1.5");
  EXPECT_EQ(DoubleJson(100.0), "100");
  EXPECT_EQ(DoubleJson(0.0), "0");
  EXPECT_EQ(DoubleJson(-2.25), "-2.25");
  EXPECT_EQ(DoubleJson(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(DoubleJson(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(DoubleJson(1e21), "1e+21");
  EXPECT_EQ(DoubleJson(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(DoubleJson(5e-324), "5e-324");
}

TEST(JsonWriterTest, DoublesRoundTripExactly) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    double v;
    if (i % 2 == 0) {
      v = std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    } else {
      const uint64_t bits = rng();
      std::memcpy(&v, &bits, sizeof(v));
      if (!std::isfinite(v)) continue;
    }
    const std::string s = DoubleJson(v);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
    ASSERT_LE(s.size(), 24u) << s;
  }
}

TEST(JsonWriterTest, NonFiniteDoublesAreNull) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray()
      .Double(std::numeric_limits<double>::quiet_NaN())
      .Double(std::numeric_limits<double>::infinity())
      .Double(-std::numeric_limits<double>::infinity())
      .Double(2.0)
      .EndArray();
  EXPECT_EQ(out, "[null,null,null,2]");
}

TEST(JsonWriterTest, NonFiniteDoubleAfterKeyKeepsObjectValid) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("a").Double(NAN).Key("b").Double(1.0).EndObject();
  EXPECT_EQ(out, R"({"a":null,"b":1})");
}

TEST(JsonWriterTest, OptionalDoubles) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("none")
      .OptionalDouble(std::nullopt)
      .Key("some")
      .OptionalDouble(0.25)
      .Key("nan")
      .OptionalDouble(std::optional<double>(NAN))
      .EndObject();
  EXPECT_EQ(out, R"({"none":null,"some":0.25,"nan":null})");
}

TEST(JsonWriterTest, RawInsertsOneValue) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("a").Raw(R"({"x":[1,2]})").Key("b").Int(1).EndObject();
  EXPECT_EQ(out, R"({"a":{"x":[1,2]},"b":1})");
  std::string array;
  JsonWriter(&array).BeginArray().Raw("1").Raw("\"s\"").Raw("null").EndArray();
  EXPECT_EQ(array, R"([1,"s",null])");
}

}  // namespace
}  // namespace ccpulse
