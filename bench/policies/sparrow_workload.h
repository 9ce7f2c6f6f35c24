#pragma once

// The synthetic setup of the Sparrow paper's simulations (Ousterhout et al.,
// SOSP 2013, section 3; constants as in the authors' released simulator,
// radlab/sparrow simulation/): identical machines of `slots` cores, jobs of
// `tasksPerJob` one-core tasks with exponentially distributed durations
// (drawn per task), Poisson job arrivals at the rate that keeps `load` of
// the slots busy on average (durations may instead be constant, or drawn
// once per job, as the authors' simulator also allows):
//
//   rate = load * machines * slots / (tasksPerJob * meanTask).
//
// A job's response time is its completion minus its submission; its ideal,
// the longest of its tasks (no queueing anywhere). Shared by the benchmark
// (bench/policies/sparrow_curves.cc) and its reduced test
// (tests/sim/sparrow_sim_test.cc). Header-only: the test must not depend on
// the benchmark build.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "allot/traces/workload.h"

namespace allot::sparrowbench {

// How task durations are drawn (the authors' TaskDistributions: EXP_TASKS,
// CONSTANT, EXP_JOBS).
enum class Durations : std::uint8_t { kExpPerTask, kConstant, kExpPerJob };

struct Setup {
  std::uint32_t machines = 1000;
  std::uint32_t slots = 4;  // cores per machine; a task takes one
  std::uint32_t tasksPerJob = 100;
  double meanTaskS = 100;  // mean task duration, seconds
  Durations durations = Durations::kExpPerTask;
  double load = 0.8;  // fraction of slots busy on average
  std::uint32_t jobs = 2000;
  std::uint64_t seed = 1;
};

// Exponential draw from the raw generator output, so that a seed gives the
// same workload with any standard library.
inline double exponential(std::mt19937_64& rng, double mean) {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
  return -mean * std::log1p(-u);
}

inline traces::Workload workload(const Setup& s) {
  traces::Workload w;
  w.users = {"sparrow"};
  w.roles = {"*"};
  Scalars capacity = Scalars::Zero();
  capacity[0] = s.slots;           // cpus
  capacity[1] = 1024.0 * s.slots;  // mem: one slot's worth per task, as cpus
  for (std::uint32_t m = 0; m < s.machines; ++m) {
    w.machines.push_back(traces::Machine{static_cast<std::int64_t>(m), capacity, {}});
  }
  Scalars demand = Scalars::Zero();
  demand[0] = 1;
  demand[1] = 1024;
  w.demands.push_back(demand);  // every task's (Task::demand 0)
  const double rate = s.load * s.machines * s.slots / (s.tasksPerJob * s.meanTaskS);
  std::mt19937_64 rng(s.seed);
  double t = 0;
  for (std::uint32_t j = 0; j < s.jobs; ++j) {
    t += exponential(rng, 1.0 / rate);
    traces::Job job;
    job.traceId = j;
    job.submit = fromMicros(static_cast<std::int64_t>(std::llround(t * 1e6)));
    job.firstTask = w.tasks.size();
    job.taskCount = s.tasksPerJob;
    const double jobDuration =
        s.durations == Durations::kExpPerJob ? exponential(rng, s.meanTaskS) : s.meanTaskS;
    for (std::uint32_t i = 0; i < s.tasksPerJob; ++i) {
      traces::Task task;
      task.job = j;
      task.index = i;
      const double seconds =
          s.durations == Durations::kExpPerTask ? exponential(rng, s.meanTaskS) : jobDuration;
      const auto us = std::llround(seconds * 1e6);
      task.duration = Duration{std::max<std::int64_t>(1, static_cast<std::int64_t>(us))};
      w.tasks.push_back(task);
    }
    w.jobs.push_back(job);
  }
  w.meta["format"] = "synthetic-sparrow";
  return w;
}

// What one run gives, over the measured jobs: the middle of the arrivals
// (the first and last `trim` of jobs see a cluster filling up or emptying).
struct Outcome {
  std::uint64_t jobs = 0;        // measured and finished
  std::uint64_t unfinished = 0;  // measured but not finished
  double meanResponseS = 0;
  double meanIdealS = 0;
  double p50ResponseS = 0, p95ResponseS = 0, p99ResponseS = 0;
  // Mean response over mean ideal; the paper's "within x% of ideal" is
  // ratio - 1.
  double ratio() const { return meanIdealS > 0 ? meanResponseS / meanIdealS : 0; }
};

inline Outcome measure(const sim::Result& r, double trim = 0.1) {
  Outcome out;
  const std::size_t n = r.jobs.size();
  const auto first = static_cast<std::size_t>(std::floor(trim * static_cast<double>(n)));
  const std::size_t last = n - first;
  std::vector<double> responses;
  double ideal = 0;
  for (std::size_t j = first; j < last; ++j) {
    const sim::JobRecord& job = r.jobs[j];
    if (job.state != sim::JobState::kFinished) {
      ++out.unfinished;
      continue;
    }
    responses.push_back(static_cast<double>(toMicros(job.end - job.submit)) / 1e6);
    ideal += static_cast<double>(toMicros(job.work)) / 1e6;
  }
  out.jobs = responses.size();
  if (responses.empty()) return out;
  double sum = 0;
  for (double x : responses) sum += x;
  out.meanResponseS = sum / static_cast<double>(responses.size());
  out.meanIdealS = ideal / static_cast<double>(responses.size());
  std::sort(responses.begin(), responses.end());
  auto pct = [&](double p) {
    const auto i = static_cast<std::size_t>(p * static_cast<double>(responses.size() - 1));
    return responses[i];
  };
  out.p50ResponseS = pct(0.5);
  out.p95ResponseS = pct(0.95);
  out.p99ResponseS = pct(0.99);
  return out;
}

// The simulator set up as Sparrow's cluster: one framework per job (each job
// its own scheduler), every pending task published, rounds on a grid of
// `intervalS` seconds (choose it << meanTaskS so rounding does not count).
inline sim::Config config(double intervalS, std::uint64_t seed) {
  sim::Config c;
  c.seed = seed;
  c.allocationInterval = secondsToDuration(intervalS);
  c.grouping = sim::Grouping::kJob;
  c.demandWindow = 100000;
  return c;
}

// Runs `mode` of the sparrow policy on `w`.
inline sim::Result run(const traces::Workload& w, const std::string& mode, double intervalS,
                       std::uint64_t seed, double probeRatio = 2) {
  Params params;
  params.set("mode", mode);
  params.set("seed", std::to_string(seed));
  params.set("probe_ratio", std::to_string(probeRatio));
  std::unique_ptr<Allocator> policy = makeAllocator("sparrow", params);
  return sim::simulate(w, *policy, config(intervalS, seed));
}

}  // namespace allot::sparrowbench
