// Local calendar days in a time zone, for "today" windows (since local midnight). Caches the
// current day's bounds, so the common case is two comparisons.
#ifndef CCPULSE_PIPELINE_WINDOW_LOCAL_DAYS_H_
#define CCPULSE_PIPELINE_WINDOW_LOCAL_DAYS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace ccpulse::window {

// Value class; not thread-safe (the cache mutates on lookups).
class LocalDays {
 public:
  explicit LocalDays(absl::TimeZone zone = absl::UTCTimeZone()) : zone_(zone) {}

  // Day number (days since 1970-01-01 in the zone's calendar) containing `time_ms`.
  int64_t DayOf(int64_t time_ms) {
    if (time_ms < start_ms_ || time_ms >= end_ms_) Load(time_ms);
    return day_;
  }
  // Start (local midnight, epoch ms) of the day containing `time_ms`.
  int64_t StartOf(int64_t time_ms) {
    DayOf(time_ms);
    return start_ms_;
  }

 private:
  void Load(int64_t time_ms) {
    const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMillis(time_ms), zone_);
    day_ = day - absl::CivilDay(1970, 1, 1);
    start_ms_ = Midnight(day);
    end_ms_ = Midnight(day + 1);
  }
  // First instant of `day`; where DST skips midnight, the day starts at the transition.
  int64_t Midnight(absl::CivilDay day) const {
    const absl::TimeZone::TimeInfo info = zone_.At(absl::CivilSecond(day));
    return absl::ToUnixMillis(info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre);
  }

  absl::TimeZone zone_;
  int64_t start_ms_ = 1;
  int64_t end_ms_ = 0;
  int64_t day_ = 0;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_LOCAL_DAYS_H_
