#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace allot {

// All allot time is integer microseconds. Simulated time starts at zero; real
// time counts from the Unix epoch. Nothing in core/ or policies/ reads a clock:
// hosts pass `now` in.
using Duration = std::chrono::duration<std::int64_t, std::micro>;

// The epoch of allot time points; a tag, not a clock that can be read.
struct AllotEpoch {
  using rep = std::int64_t;
  using period = std::micro;
  using duration = Duration;
  using time_point = std::chrono::time_point<AllotEpoch, Duration>;
  static constexpr bool is_steady = true;
};

using TimePoint = AllotEpoch::time_point;

inline constexpr TimePoint kTimeZero{};
inline constexpr TimePoint kTimeNever{Duration{std::numeric_limits<std::int64_t>::max()}};

constexpr std::int64_t toMicros(Duration d) {
  return d.count();
}
constexpr std::int64_t toMicros(TimePoint t) {
  return t.time_since_epoch().count();
}
constexpr TimePoint fromMicros(std::int64_t us) {
  return TimePoint{Duration{us}};
}
constexpr double toSeconds(Duration d) {
  return static_cast<double>(d.count()) / 1e6;
}

// Converts seconds to a Duration, saturating at kTimeNever for huge values
// (Mesos frameworks pass refuse_seconds = INT_MAX meaning "forever").
Duration secondsToDuration(double seconds);

// A positive number of seconds that secondsToDuration rounds to 0 (below half
// a microsecond, the resolution of allot time). Hosts refuse it: where 0 means
// "off" or "automatic", 1e-9 s would silently become that.
constexpr bool roundsToZero(double seconds) {
  return seconds > 0 && seconds * 1e6 < 0.5;
}

// Returns t + d without overflowing past kTimeNever.
TimePoint saturatingAdd(TimePoint t, Duration d);

}  // namespace allot
