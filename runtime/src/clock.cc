#include "allot/runtime/clock.h"

#include <chrono>

namespace allot::runtime {

TimePoint SystemClock::now() const {
  auto since = std::chrono::system_clock::now().time_since_epoch();
  return fromMicros(std::chrono::duration_cast<std::chrono::microseconds>(since).count());
}

}  // namespace allot::runtime
