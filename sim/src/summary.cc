#include <fmt/format.h>

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "allot/core/huge_pages.h"
#include "allot/sim/config.h"
#include "allot/sim/result.h"
#include "allot/sim/simulator.h"

namespace allot::sim {
namespace {

// Nearest-rank percentile of sorted values (p in [0, 100]); NaN when empty.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nan("");
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const auto index = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return std::nan("");
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// Adds name_mean, name_p50, name_p95 and name_p99 of `values` (sorted here).
void describe(std::map<std::string, double>& out, const std::string& name,
              std::vector<double>& values) {
  std::sort(values.begin(), values.end());
  out[name + "_mean"] = mean(values);
  out[name + "_p50"] = percentile(values, 50);
  out[name + "_p95"] = percentile(values, 95);
  out[name + "_p99"] = percentile(values, 99);
}

double secondsBetween(TimePoint from, TimePoint to) {
  return static_cast<double>(toMicros(to) - toMicros(from)) / 1e6;
}

}  // namespace

void summarize(Result& result) {
  auto& out = result.summary;
  out.clear();
  // Bounded slowdown's floor on run time, the usual 10 s of the HPC literature.
  constexpr double kBound = 10.0;

  std::vector<double> jct, wait, slowdown, bounded;
  for (auto* values : {&jct, &wait, &slowdown, &bounded}) reserveHuge(*values, result.jobs.size());
  double finished = 0, unschedulable = 0, failed = 0, unfinished = 0, notSubmitted = 0;
  TimePoint first = kTimeNever, last = kTimeZero;
  for (const JobRecord& j : result.jobs) {
    switch (j.state) {
      case JobState::kFinished:
        ++finished;
        break;
      case JobState::kUnschedulable:
        ++unschedulable;
        break;
      case JobState::kFailed:
        ++failed;
        break;
      case JobState::kUnfinished:
        ++unfinished;
        break;
      case JobState::kNotSubmitted:
        ++notSubmitted;
        break;
    }
    if (j.state == JobState::kUnschedulable) continue;
    first = std::min(first, j.submit);
    if (j.state != JobState::kFinished) continue;
    last = std::max(last, j.end);
    const double t = secondsBetween(j.submit, j.end);
    const double run = toSeconds(j.work);
    jct.push_back(t);
    wait.push_back(secondsBetween(j.submit, j.firstStart));
    slowdown.push_back(run > 0 ? t / run : 1.0);
    bounded.push_back(std::max(1.0, t / std::max(run, kBound)));
  }
  out["jobs"] = static_cast<double>(result.jobs.size());
  out["jobs_finished"] = finished;
  out["jobs_unschedulable"] = unschedulable;
  out["jobs_failed"] = failed;
  out["jobs_unfinished"] = unfinished;
  if (notSubmitted > 0) out["jobs_not_submitted"] = notSubmitted;
  describe(out, "jct_s", jct);
  describe(out, "wait_s", wait);
  describe(out, "slowdown", slowdown);
  describe(out, "bounded_slowdown", bounded);
  out["makespan_s"] = finished > 0 ? secondsBetween(first, last) : std::nan("");

  // Placement latency: launch minus ready, per instance (records weighted by
  // their instance counts, through repetition-free weighted percentiles).
  // One launch writes its records one after another with one ready and start
  // time (a gang of 64 one-cpu tasks: 64 records): runs of equal latency are
  // one entry of their summed count, which sorts several times fewer entries
  // (HPC2N: 1.29 M records) to the same percentiles.
  std::vector<std::pair<double, double>> latency;
  double weighted = 0, instances = 0;
  for (const TaskRecord& t : result.tasks) {
    const double s = secondsBetween(t.ready, t.start);
    if (latency.empty() || latency.back().first != s) {
      growHuge(latency);
      latency.emplace_back(s, 0.0);
    }
    latency.back().second += t.count;
    weighted += s * t.count;
    instances += t.count;
  }
  std::sort(latency.begin(), latency.end());
  auto weightedPercentile = [&](double p) {
    if (latency.empty()) return std::nan("");
    const double rank = std::max(1.0, std::ceil(p / 100.0 * instances));
    double seen = 0;
    for (const auto& [value, count] : latency) {
      seen += count;
      if (seen >= rank) return value;
    }
    return latency.back().first;
  };
  out["placement_latency_s_mean"] = instances > 0 ? weighted / instances : std::nan("");
  out["placement_latency_s_p50"] = weightedPercentile(50);
  out["placement_latency_s_p95"] = weightedPercentile(95);
  out["placement_latency_s_p99"] = weightedPercentile(99);

  for (std::size_t d = 0; d < result.dimensions.size() && d < result.usedIntegral.size(); ++d) {
    const double cap = result.capacityIntegral[d];
    // Dimensions no machine has (SWF logs without memory) have no utilization.
    if (cap > 0) out["utilization_" + result.dimensions[d]] = result.usedIntegral[d] / cap;
  }
  const std::vector<double>& jain = result.series.jain;
  out["jain_fairness_mean"] = jain.empty() ? std::nan("") : mean(jain);

  const Counters& c = result.counters;
  out["events"] = static_cast<double>(c.events);
  out["rounds"] = static_cast<double>(c.rounds);
  out["offers"] = static_cast<double>(c.offers);
  out["declines"] = static_cast<double>(c.declines);
  out["rescinds"] = static_cast<double>(c.rescinds);
  out["instances_launched"] = static_cast<double>(c.instancesLaunched);
  out["instances_lost"] = static_cast<double>(c.instancesLost);
  out["instances_preempted"] = static_cast<double>(c.instancesPreempted);
  if (c.machineFailures > 0) out["machine_failures"] = static_cast<double>(c.machineFailures);
  out["end_s"] = static_cast<double>(toMicros(result.end)) / 1e6;
  if (result.idleEnd != kTimeNever) {
    out["idle_end_s"] = static_cast<double>(toMicros(result.idleEnd)) / 1e6;
  }
  if (result.stalledAt != kTimeNever) {
    out["stalled_at_s"] = static_cast<double>(toMicros(result.stalledAt)) / 1e6;
  }
}

std::string cutShortWarning(const std::map<std::string, double>& summary,
                            const OptionSpelling& spelling, bool holdOffers) {
  const auto unfinishedAt = summary.find("jobs_unfinished");
  const double unfinished = unfinishedAt == summary.end() ? 0.0 : unfinishedAt->second;
  // What the frameworks did with the offers, and the option that changes
  // it: frameworks that kept them are pointed at the offer timeout, not at
  // keeping them.
  const std::string heldOrDeclined =
      holdOffers ? fmt::format(
                       "the frameworks hold offers no unit of theirs fits, e.g. gangs "
                       "wider than what each holds; {} gives held offers back after a "
                       "while",
                       spelling.offerTimeout)
                 : fmt::format(
                       "the frameworks decline every offer, e.g. gangs wider than what "
                       "each is offered; {} lets gang frameworks keep offers",
                       spelling.holdOffers);
  if (const auto stalled = summary.find("stalled_at_s"); stalled != summary.end()) {
    return fmt::format(
        "stopped as stalled at {:.0f} s of simulated time with {:.0f} jobs unfinished: nothing "
        "ran and nothing launched in the last {} allocation rounds, with every job submitted ({})",
        stalled->second, unfinished, kStallRounds, heldOrDeclined);
  }
  if (const auto idle = summary.find("idle_end_s"); idle != summary.end()) {
    // Out of events with work pending: nothing left to happen (not a stop at
    // Config::stopAt).
    return fmt::format(
        "the run ended at {:.0f} s of simulated time with {:.0f} jobs unfinished: nothing was "
        "left to happen (the policy offered nothing their tasks could use, or {}{})",
        idle->second, unfinished, heldOrDeclined,
        holdOffers ? "" : fmt::format(", {} makes declines expire", spelling.refuseSeconds));
  }
  return {};
}

std::string offerChurnNote(const Progress& progress, std::uint32_t demandWindow,
                           const OptionSpelling& spelling) {
  constexpr std::uint64_t kMinOffers = 2'000'000;
  constexpr std::uint64_t kOffersPerInstance = 10;
  if (demandWindow > 0 || progress.offers < kMinOffers ||
      progress.offers / kOffersPerInstance < progress.instancesLaunched) {
    return {};
  }
  return fmt::format(
      "{:.1f} M offers so far for {} instances launched: frameworks that publish no demand are "
      "offered whole agents and decline nearly all of them (Mesos' offer model), which is where "
      "this run spends its time. With {} they publish their pending work and offers are sized "
      "to it: usually several times faster, but a different model, so results differ",
      static_cast<double>(progress.offers) / 1e6, progress.instancesLaunched, spelling.demand);
}

Spread spreadOf(std::span<const double> values) {
  Spread s;
  s.mean = s.halfWidth95 = s.min = s.max = std::nan("");
  double sum = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    s.min = s.n == 0 ? v : std::min(s.min, v);
    s.max = s.n == 0 ? v : std::max(s.max, v);
    sum += v;
    ++s.n;
  }
  if (s.n == 0) return s;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n < 2) return s;
  double squares = 0;  // about the mean: no cancellation for large, close values
  for (double v : values) {
    if (std::isfinite(v)) squares += (v - s.mean) * (v - s.mean);
  }
  const double n = static_cast<double>(s.n);
  const boost::math::students_t t(n - 1);
  s.halfWidth95 = boost::math::quantile(t, 0.975) * std::sqrt(squares / (n - 1) / n);
  return s;
}

Spread pairedDifferenceOf(std::span<const double> baseline, std::span<const double> other) {
  const std::size_t n = std::max(baseline.size(), other.size());
  if ((baseline.size() != n && baseline.size() != 1) || (other.size() != n && other.size() != 1)) {
    throw std::invalid_argument(fmt::format(
        "cannot pair {} runs with {}: a policy is compared over the same seeds, or ran once",
        other.size(), baseline.size()));
  }
  std::vector<double> differences;
  differences.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    differences.push_back(other[other.size() == 1 ? 0 : k] -
                          baseline[baseline.size() == 1 ? 0 : k]);
  }
  return spreadOf(differences);
}

traces::SwfJobSchedule swfScheduleOf(JobState state, TimePoint firstStart, TimePoint end) {
  traces::SwfJobSchedule s;
  if (firstStart != kTimeNever) s.startUs = toMicros(firstStart);
  if (end != kTimeNever) s.endUs = toMicros(end);
  switch (state) {
    case JobState::kFinished:
      s.status = 1;
      break;
    case JobState::kFailed:
      s.status = 0;
      break;
    case JobState::kUnschedulable:
      s.status = 5;
      break;
    case JobState::kUnfinished:
    case JobState::kNotSubmitted:
      s.status = -1;
      break;
  }
  return s;
}

std::vector<traces::SwfJobSchedule> swfScheduleOf(const Result& result) {
  std::vector<traces::SwfJobSchedule> out;
  out.reserve(result.jobs.size());
  for (const JobRecord& job : result.jobs) {
    out.push_back(swfScheduleOf(job.state, job.firstStart, job.end));
  }
  return out;
}

}  // namespace allot::sim
