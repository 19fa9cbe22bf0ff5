// RFC 3339 timestamps <-> epoch milliseconds, without allocation on the parse path.
#ifndef CCPULSE_SCHEMAS_TIME_FORMAT_H_
#define CCPULSE_SCHEMAS_TIME_FORMAT_H_

#include <optional>
#include <string>
#include <string_view>

#include "schemas/event.h"

namespace ccpulse::schemas {

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" (RFC 3339 §5.6; 'T', 'Z' in either
// case, a space is not accepted as separator). Fractions beyond milliseconds are truncated.
// Returns nullopt on any syntax or range error (month 13, second 61, offset ±24h ...).
std::optional<TimeMs> ParseRfc3339(std::string_view text);

// Formats as UTC "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" only when the milliseconds are non-zero.
std::string FormatRfc3339(TimeMs time_ms);

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace ccpulse::schemas

#endif  // CCPULSE_SCHEMAS_TIME_FORMAT_H_
