// Tests of RFC 3339 parsing and formatting and of the civil-date arithmetic under them.
#include "schemas/time_format.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ccpulse::schemas {
namespace {

// 2026-03-02T09:15:00Z, the sample day of schemas/samples.
constexpr TimeMs kSampleMs = 1772442900000;

struct AcceptCase {
  std::string_view text;
  TimeMs expected_ms;
};

class ParseRfc3339AcceptTest : public testing::TestWithParam<AcceptCase> {};

TEST_P(ParseRfc3339AcceptTest, Parses) {
  const AcceptCase& c = GetParam();
  const std::optional<TimeMs> parsed = ParseRfc3339(c.text);
  ASSERT_TRUE(parsed.has_value()) << c.text;
  EXPECT_EQ(*parsed, c.expected_ms) << c.text;
}

// Expected values computed independently (Python datetime).
INSTANTIATE_TEST_SUITE_P(
    Table, ParseRfc3339AcceptTest,
    testing::Values(
        AcceptCase{"1970-01-01T00:00:00Z", 0},
        AcceptCase{"2026-03-02T09:15:00Z", kSampleMs},
        AcceptCase{"2026-03-02t09:15:00z", kSampleMs},  // lowercase 't' and 'z'
        AcceptCase{"2026-03-02T09:15:00+00:00", kSampleMs},
        AcceptCase{"2026-03-02T09:15:00-00:00", kSampleMs},  // "offset unknown" is still UTC
        AcceptCase{"2026-03-02T11:15:00+02:00", kSampleMs},
        AcceptCase{"2026-03-02T04:15:00-05:00", kSampleMs},
        AcceptCase{"2026-03-02T14:45:00+05:30", kSampleMs},
        AcceptCase{"2026-03-02T09:15:00+23:59", 1772356560000},
        AcceptCase{"2026-03-02T09:15:00-23:59", 1772529240000},
        AcceptCase{"2024-02-29T12:00:00Z", 1709208000000},  // leap year
        AcceptCase{"2000-02-29T00:00:00Z", 11016 * kDayMs},  // divisible by 400: leap
        AcceptCase{"2016-12-31T23:59:60Z", 1483228799000},   // leap second folds to :59
        AcceptCase{"2016-12-31T23:59:59Z", 1483228799000},
        AcceptCase{"2038-01-19T03:14:08Z", 2147483648000},   // past 32-bit seconds
        AcceptCase{"1969-07-20T20:17:40Z", -14182940000},    // before the epoch
        AcceptCase{"1969-12-31T23:59:59.999Z", -1},
        // Fractions of 1 to 9 digits; digits beyond milliseconds are truncated.
        AcceptCase{"2026-03-02T09:15:00.1Z", kSampleMs + 100},
        AcceptCase{"2026-03-02T09:15:00.12Z", kSampleMs + 120},
        AcceptCase{"2026-03-02T09:15:00.123Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.1234Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.12345Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.123456Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.1234567Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.12345678Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.123456789Z", kSampleMs + 123},
        AcceptCase{"2026-03-02T09:15:00.999999999Z", kSampleMs + 999},
        AcceptCase{"2026-03-02T09:15:00.000Z", kSampleMs},
        AcceptCase{"2026-03-02T11:15:00.250+02:00", kSampleMs + 250}));

class ParseRfc3339RejectTest : public testing::TestWithParam<std::string_view> {};

TEST_P(ParseRfc3339RejectTest, Rejects) {
  EXPECT_EQ(ParseRfc3339(GetParam()), std::nullopt) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseRfc3339RejectTest,
    testing::Values(
        "",                                 // empty
        "2026-03-02",                       // date only
        "2026-03-02T09:15:00",              // missing offset
        "2026-03-02T09:15:00.123",          // missing offset after a fraction
        "2026-03-02 09:15:00Z",             // space separator
        "2026-03-02_09:15:00Z",             // other separator
        "2026-03-02T09:15Z",                // no seconds
        "2026-3-2T09:15:00Z",               // unpadded month and day
        "26-03-02T09:15:00Z",               // two-digit year
        "+2026-03-02T09:15:00Z",            // signed year
        " 2026-03-02T09:15:00Z",            // leading space
        "2026-03-02T09:15:00Z ",            // trailing space
        "2026-03-02T09:15:00Zjunk",         // trailing text
        "2026-03-02T09:15:00+02:00Z",       // two offsets
        "2023-02-29T00:00:00Z",             // Feb 29 on a non-leap year
        "1900-02-29T00:00:00Z",             // divisible by 100, not by 400: not leap
        "2026-02-30T00:00:00Z",             // no Feb 30
        "2026-04-31T00:00:00Z",             // April has 30 days
        "2026-00-10T00:00:00Z",             // month 0
        "2026-13-10T00:00:00Z",             // month 13
        "2026-03-00T00:00:00Z",             // day 0
        "2026-03-32T00:00:00Z",             // day 32
        "2026-03-02T24:00:00Z",             // hour 24
        "2026-03-02T09:60:00Z",             // minute 60
        "2026-03-02T09:15:61Z",             // second 61
        "2026-03-02T09:15:00.Z",            // dot without digits
        "2026-03-02T09:15:00,5Z",           // comma fraction
        "2026-03-02T09:15:00+24:00",        // offset hour 24
        "2026-03-02T09:15:00+01:60",        // offset minute 60
        "2026-03-02T09:15:00+0100",         // offset without colon
        "2026-03-02T09:15:00+01",           // offset without minutes
        "2026-03-02T09:15:00+01:0",         // offset minute with one digit
        "2026-03-02T09:15:00+",             // sign only
        "2026-03-02T09:15:00UTC",           // zone name
        "2026-O3-02T09:15:00Z",             // letter O for zero
        "yesterday at noon, roughly"));

TEST(FormatRfc3339Test, FormatsTheEpoch) { EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z"); }

TEST(FormatRfc3339Test, OmitsZeroMilliseconds) {
  EXPECT_EQ(FormatRfc3339(kSampleMs), "2026-03-02T09:15:00Z");
}

TEST(FormatRfc3339Test, WritesNonZeroMillisecondsAsThreeDigits) {
  EXPECT_EQ(FormatRfc3339(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(FormatRfc3339(kSampleMs + 120), "2026-03-02T09:15:00.120Z");
  EXPECT_EQ(FormatRfc3339(kSampleMs + 999), "2026-03-02T09:15:00.999Z");
}

TEST(FormatRfc3339Test, FormatsTimesBeforeTheEpoch) {
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(-1000), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(-kDayMs), "1969-12-31T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-kDayMs - 1), "1969-12-30T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339(-14182940000), "1969-07-20T20:17:40Z");
  EXPECT_EQ(FormatRfc3339(-719162 * kDayMs), "0001-01-01T00:00:00Z");
}

TEST(FormatRfc3339Test, FormatsLeapDays) {
  EXPECT_EQ(FormatRfc3339(1709208000000), "2024-02-29T12:00:00Z");
  EXPECT_EQ(FormatRfc3339(11016 * kDayMs), "2000-02-29T00:00:00Z");
}

TEST(Rfc3339RoundTripTest, ParseOfFormatIsIdentityOverRandomTimes) {
  std::mt19937_64 rng(20260302);
  // Year 0001 to 9999: the range FormatRfc3339 writes with four-digit years.
  std::uniform_int_distribution<TimeMs> dist(-719162 * kDayMs, 2932897 * kDayMs - 1);
  for (int i = 0; i < 20000; ++i) {
    const TimeMs t = dist(rng);
    const std::string text = FormatRfc3339(t);
    const std::optional<TimeMs> parsed = ParseRfc3339(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    ASSERT_EQ(*parsed, t) << text;
  }
}

TEST(Rfc3339RoundTripTest, RoundTripsWholeSecondsNearTheEpoch) {
  for (TimeMs t = -5 * kDayMs; t <= 5 * kDayMs; t += 7 * kMinuteMs + 13 * kSecondMs) {
    const std::optional<TimeMs> parsed = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(parsed.has_value()) << t;
    ASSERT_EQ(*parsed, t);
  }
}

struct CivilCase {
  int64_t year;
  unsigned month;
  unsigned day;
  int64_t days;
};

class DaysFromCivilTest : public testing::TestWithParam<CivilCase> {};

TEST_P(DaysFromCivilTest, MatchesKnownValue) {
  const CivilCase& c = GetParam();
  EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), c.days)
      << c.year << "-" << c.month << "-" << c.day;
}

// Expected values from Python's datetime.date arithmetic.
INSTANTIATE_TEST_SUITE_P(Table, DaysFromCivilTest,
                         testing::Values(CivilCase{1970, 1, 1, 0},       //
                                         CivilCase{1970, 1, 2, 1},       //
                                         CivilCase{1969, 12, 31, -1},    //
                                         CivilCase{2000, 1, 1, 10957},   //
                                         CivilCase{2000, 2, 29, 11016},  //
                                         CivilCase{2000, 3, 1, 11017},   //
                                         CivilCase{2024, 2, 29, 19782},  //
                                         CivilCase{2026, 3, 2, 20514},   //
                                         CivilCase{1900, 3, 1, -25508},  //
                                         CivilCase{1600, 1, 1, -135140},  //
                                         CivilCase{1, 1, 1, -719162},    //
                                         CivilCase{2400, 2, 29, 157113},  //
                                         CivilCase{9999, 12, 31, 2932896}));

TEST(DaysFromCivilTest, ConsecutiveDatesAreOneDayApart) {
  // Walk 1999-01-01 .. 2004-12-31 by calendar and check the day count advances by one.
  static constexpr unsigned kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t expected = DaysFromCivil(1999, 1, 1);
  for (int64_t year = 1999; year <= 2004; ++year) {
    for (unsigned month = 1; month <= 12; ++month) {
      unsigned days = kDaysInMonth[month - 1];
      if (month == 2 && year % 4 == 0) ++days;  // no century years in this range
      for (unsigned day = 1; day <= days; ++day) {
        ASSERT_EQ(DaysFromCivil(year, month, day), expected) << year << "-" << month << "-" << day;
        ++expected;
      }
    }
  }
}

}  // namespace
}  // namespace ccpulse::schemas
