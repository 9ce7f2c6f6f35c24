#include "src/series.h"

#include <algorithm>
#include <iterator>

#include "allot/core/resources.h"

namespace allot::sim::detail {

std::int64_t alignUp(std::int64_t t, std::int64_t interval) {
  if (interval <= 0) return t;
  const std::int64_t r = t % interval;
  if (r == 0) return t;
  return t >= 0 ? t + (interval - r) : t - r;
}

std::int64_t runStart(const traces::Workload& w, TimePoint stopAt) {
  std::int64_t start = 0;
  if (!w.jobs.empty()) start = toMicros(w.jobs.front().submit);
  if (!w.machineEvents.empty()) start = std::min(start, toMicros(w.machineEvents.front().time));
  return std::min(start, toMicros(stopAt));
}

void markNotSubmitted(Result& result) {
  for (JobRecord& j : result.jobs) {
    if (j.state == JobState::kUnfinished && j.submit > result.end)
      j.state = JobState::kNotSubmitted;
  }
}

std::int64_t sampleInterval(const traces::Workload& w, std::int64_t startUs, TimePoint stopAt,
                            Duration configured) {
  if (configured > Duration::zero()) return toMicros(configured);
  std::int64_t span = 0;
  if (!w.jobs.empty()) {
    span = std::min(toMicros(w.jobs.back().submit), toMicros(stopAt)) - startUs;
  }
  return std::max<std::int64_t>(1'000'000, alignUp(span / 5000, 1'000'000));
}

void keepEvenSamples(TimeSeries& s, std::size_t roles) {
  auto keepEven = [](auto& values, std::size_t stride) {
    if (stride == 0) return;
    const std::size_t samples = values.size() / stride;
    for (std::size_t i = 0; 2 * i < samples; ++i) {
      std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(2 * i * stride), stride,
                  values.begin() + static_cast<std::ptrdiff_t>(i * stride));
    }
    values.resize((samples + 1) / 2 * stride);
  };
  keepEven(s.timeUs, 1);
  for (auto* v : {&s.used, &s.allocated, &s.total}) keepEven(*v, kMaxScalarDims);
  for (auto* v : {&s.pendingInstances, &s.runningInstances, &s.outstandingOffers}) keepEven(*v, 1);
  keepEven(s.roleShare, roles);
  keepEven(s.jain, 1);
}

}  // namespace allot::sim::detail
