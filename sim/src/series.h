#pragma once

// What a replay (simulator.cc) and the trace's own schedule (history.cc)
// share about a run's span and its time series, so that both are measured
// over the same times.

#include <cstddef>
#include <cstdint>

#include "allot/core/time.h"
#include "allot/sim/result.h"
#include "allot/traces/workload.h"

namespace allot::sim::detail {

// The time series keeps at most this many samples (about 25 MB): a run that
// outlasts what the interval was chosen for (the default one comes from the
// submit span) keeps every other sample and doubles its interval. Even, so
// that the kept samples stay on the doubled grid.
inline constexpr std::size_t kMaxSamples = 100'000;

// The first multiple of `interval` at or after `t`.
std::int64_t alignUp(std::int64_t t, std::int64_t interval);

// Where a run starts: at the first job or machine event, or at `stopAt` when
// that comes earlier (nothing happens then, and the run does not end after
// its stop time).
std::int64_t runStart(const traces::Workload& w, TimePoint stopAt);

// The sampling interval in microseconds: `configured`, or for 0 about 5,000
// samples over the submit span from `startUs` (to `stopAt` when that comes
// first), in whole seconds.
std::int64_t sampleInterval(const traces::Workload& w, std::int64_t startUs, TimePoint stopAt,
                            Duration configured);

// Marks the unfinished jobs of `result` submitted after result.end as never
// submitted: a run stopped early (Config::stopAt) never saw them.
void markNotSubmitted(Result& result);

// Keeps the even samples (start + 2k intervals) of `series`, whose samples
// hold `roles` role shares each; the caller doubles its interval.
void keepEvenSamples(TimeSeries& series, std::size_t roles);

// Jain's fairness index of values with this sum and sum of squares over `n`
// of them: 1 when fewer than two (or all zero).
inline double jainIndex(double sum, double sumSq, int n) {
  return n < 2 || sumSq <= 0 ? 1.0 : sum * sum / (n * sumSq);
}

}  // namespace allot::sim::detail
