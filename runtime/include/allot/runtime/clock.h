#pragma once

#include "allot/core/time.h"

namespace allot::runtime {

// Where runtime code reads the time. Real processes use SystemClock (wall
// time since the Unix epoch, in microseconds); tests inject ManualClock so
// that no test sleeps to wait for a timer.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

// A clock that moves only when told. Not thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = fromMicros(1'000'000)) : now_(start) {}
  TimePoint now() const override { return now_; }
  void advance(Duration d) { now_ += d; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace allot::runtime
