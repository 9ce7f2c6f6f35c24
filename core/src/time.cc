#include "allot/core/time.h"

#include <cmath>

namespace allot {

Duration secondsToDuration(double seconds) {
  if (std::isnan(seconds) || seconds <= 0) return Duration{0};
  const double micros = seconds * 1e6;
  if (micros >= static_cast<double>(toMicros(kTimeNever.time_since_epoch()))) {
    return kTimeNever.time_since_epoch();
  }
  return Duration{static_cast<std::int64_t>(std::llround(micros))};
}

TimePoint saturatingAdd(TimePoint t, Duration d) {
  if (d.count() > 0 && toMicros(t) > toMicros(kTimeNever) - d.count()) return kTimeNever;
  return t + d;
}

}  // namespace allot
