#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/traces/workload.h"

namespace allot::traces {

// Synthetic workloads, seeded and deterministic: the same options (seed
// included) give an identical Workload. Randomness comes from
// std::mt19937_64, whose output sequence the C++ standard fixes; every
// transform (uniform, exponential, normal, lognormal, discrete tables) is
// implemented here from its raw 64-bit draws, because std::*_distribution
// algorithms differ between libstdc++, libc++ and MSVC. What remains
// platform-dependent is libm (log, exp, cos, pow), which may round the last
// bit differently on another C library.

// A lognormal quantity clamped to [min, max], parameterized by the mean of
// the *clamped* distribution (the generator solves for the location), so the
// configured mean is what a large sample shows. sigma is the shape (log-space
// standard deviation); sigma around 2 gives the heavy tail of cluster traces.
// mean == 0 means the quantity is always 0.
struct ClampedLognormal {
  double mean = 1.0;
  double sigma = 1.0;
  double min = 0.0;
  double max = 1e300;
};

// Job sizes (task instances per job): 1 with probability singleTaskProb, otherwise a
// power law P(k) ~ k^-alpha on [2, maxTasks], where sizes that are powers of
// two weigh powerOfTwoWeight times more (HPC users ask for 2^k processors).
struct JobSizeSpec {
  double singleTaskProb = 0.5;
  std::uint32_t maxTasks = 1000;
  double alpha = 1.5;
  double powerOfTwoWeight = 1.0;
};

struct MachineClass {
  std::uint32_t count = 1;
  Scalars capacity = Scalars::Zero();  // over the standard dimensions
  Attributes attributes;
};

struct RoleSpec {
  std::string name;
  double weight = 1.0;                             // relative share of jobs
  std::int32_t priorityLow = 0, priorityHigh = 0;  // inclusive, drawn uniformly
};

enum class ArrivalProcess : std::uint8_t {
  kPoisson,  // constant rate
  kDiurnal,  // Poisson with rate * (1 + amplitude * sin(2 pi t / period))
};

// Bounds of SyntheticOptions' rates: beyond them a generation fills memory
// before its horizon.
inline constexpr double kMaxLoad = 10.0;
inline constexpr double kMaxJobsPerHour = 1e7;
// Bounds of its sizes, refused beyond (by generateWorkload, for every host):
// a typo, not a workload that fits in memory or in the simulator's 100 years.
inline constexpr std::uint32_t kMaxSyntheticMachines = 10'000'000;
inline constexpr std::uint32_t kMaxSyntheticUsers = 10'000'000;
inline constexpr std::uint64_t kMaxSyntheticJobs = std::uint64_t{1} << 32;
inline constexpr std::uint64_t kMaxSyntheticTasks = std::uint64_t{1} << 40;
inline constexpr Duration kMaxSyntheticHorizon = std::chrono::hours(24 * 366 * 100);

struct SyntheticOptions {
  std::string preset = "custom";  // recorded in Workload::meta
  std::uint64_t seed = 1;

  // Machines: the mix, scaled to `machines` machines when nonzero (largest
  // remainder rounding, so every class keeps its share).
  std::vector<MachineClass> machineMix;
  std::uint32_t machines = 0;

  // Generation ends at the first of: horizon reached, maxJobs jobs, maxTasks
  // task instances (0 = no limit; instances, i.e. the sum of Task::count;
  // a negative horizon is refused).
  // The last job is cut so the instance count is exact.
  Duration horizon = std::chrono::hours(6);
  std::uint64_t maxJobs = 0;
  std::uint64_t maxTasks = 0;

  // Arrival rate: jobsPerHour when > 0 (at most kMaxJobsPerHour); when 0,
  // derived so that the mean cpus in use equal `load` (in (0, kMaxLoad])
  // times the cluster's cpus (offered load, assuming independent job size,
  // demand and duration). Other values are refused, not replaced.
  ArrivalProcess arrivals = ArrivalProcess::kPoisson;
  double jobsPerHour = 0;
  double load = 0.5;
  double diurnalAmplitude = 0.5;  // in [0, 1]
  Duration diurnalPeriod = std::chrono::hours(24);

  // (Gangs are drawn no wider than the cluster holds at cpus.max per
  // instance: maxTasks is lowered to that where it is above.)
  JobSizeSpec jobSize;
  // Gang jobs start all tasks together; their tasks share one duration, so a
  // gang job is one Task record with count = its size. Other jobs have one
  // record (count 1) per task, each with its own duration.
  bool gang = false;
  // Probability that a multi-task job forbids two tasks on one machine.
  double differentMachineProb = 0.0;
  // Task duration in seconds (per job for gang jobs, per task otherwise).
  ClampedLognormal durationSeconds{600, 1.5, 1, 86400};
  // Give every task a user's run-time estimate (Task::estimate) as HPC users
  // request time: its duration rounded up to the next of the usual queue
  // limits 15 min, 1 h, 4 h, 12 h, 24 h, 48 h, 72 h (beyond 72 h, to the next
  // whole hour), so estimates are never short and mostly generous. Derived
  // from the duration, it draws nothing: the other fields are the same with
  // or without it. The hpc-like preset sets it; otherwise estimates are 0.
  bool userEstimates = false;
  // Per-task demand of cpus, mem and disk; a job's tasks share one shape.
  ClampedLognormal cpus{0.5, 0.5, 0.01, 1};
  ClampedLognormal mem{1, 0.5, 0.01, 1};
  ClampedLognormal disk{0, 0, 0, 0};
  // Correlation of log cpus and log mem (big tasks tend to be big in both).
  double cpuMemCorrelation = 0.5;

  // Users u0001.. with Zipf(userSkew) popularity; roles by weight.
  std::uint32_t users = 100;
  double userSkew = 1.0;
  std::vector<RoleSpec> roles{{"default", 1.0, 0, 0}};
  // Units note copied to Workload::meta["units"].
  std::string units = "cores, MB";
};

struct PresetInfo {
  std::string name, description;
};

// The named presets: "google-like" (12,583 machines in the published mix of
// the Google 2011 cell, normalized units, diurnal arrivals, heavy-tailed
// durations, mostly small jobs) and "hpc-like" (rigid gang jobs of
// one-processor tasks on identical nodes, as SWF logs describe).
std::vector<PresetInfo> syntheticPresets();

// Options of a preset, to adjust before generating. Throws InvalidArgument
// naming the known presets when `name` is not one.
SyntheticOptions syntheticPreset(std::string_view name);

// The Google 2011 machine mix (Reiss et al., SoCC 2012, Table 1): counts and
// normalized cpu and memory capacities; disk is set to 1 (normalized).
std::vector<MachineClass> googleMachineMix();

// Mean jobs per second the options produce (the rate described above).
// Throws InvalidArgument when the options cannot give a positive rate.
double arrivalRate(const SyntheticOptions& options);

// Mean tasks per job of `spec` (exact, from the discrete distribution).
double meanJobSize(const JobSizeSpec& spec);

// Generates the workload. Throws InvalidArgument on inconsistent options
// (no machines, negative means, min > max, no limit on the length, ...).
Workload generateWorkload(const SyntheticOptions& options);

}  // namespace allot::traces
