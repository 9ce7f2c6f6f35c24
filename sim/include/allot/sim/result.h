#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/traces/swf_writer.h"

namespace allot::sim {

// What happened to one job of the workload.
enum class JobState : std::uint8_t {
  kFinished = 0,
  kUnschedulable = 1,  // wider than the cluster (or waits on such a job)
  kFailed = 2,         // a task lost more attempts than Config::maxAttempts
  kUnfinished = 3,     // still pending or running when the run stopped
  kNotSubmitted = 4,   // submitted after the run stopped (Config::stopAt)
};

struct JobRecord {
  std::uint32_t job = 0;  // index into Workload::jobs
  std::int64_t traceId = -1;
  std::uint32_t user = 0, role = 0;  // indexes into Workload::users / roles
  std::uint32_t framework = 0;       // index into Result::frameworks
  TimePoint submit;
  TimePoint ready;       // submit, or when the last job it depends on finished
  TimePoint firstStart;  // kTimeNever if it never started
  TimePoint end;         // kTimeNever unless finished
  Duration work{0};      // longest instance duration: the job's run time if never held up
  std::uint64_t instances = 0;
  std::uint32_t lostInstances = 0;  // instances lost with their machines
  JobState state = JobState::kUnfinished;
};

enum class TaskState : std::uint8_t {
  kFinished = 0,
  kLost = 1,  // with its machine
  kUnfinished = 2,
  kPreempted = 3,  // killed for a policy's reclaim (Allocator::reclaim)
};

// One launch: `count` identical instances of one task record started together
// on one machine (run-length encoded like the workload's task records).
struct TaskRecord {
  std::uint32_t job = 0;
  std::uint32_t task = 0;     // index into Workload::tasks
  std::uint32_t count = 0;    // instances
  std::uint32_t machine = 0;  // index into Workload::machines
  std::uint32_t attempt = 0;  // 0 for the first launch of these instances
  // Here, in the padding before the times: 48 bytes a record, not 56 (a
  // replay writes one per launch, 1.29 M of them for HPC2N).
  TaskState state = TaskState::kUnfinished;
  TimePoint ready;  // when these instances became ready to launch
  TimePoint start;
  TimePoint end;  // kTimeNever while unfinished
};
static_assert(sizeof(TaskRecord) == 48);

// Samples of cluster state at a fixed interval.
struct TimeSeries {
  Duration interval{0};
  std::vector<std::int64_t> timeUs;
  // Per sample, kMaxScalarDims values each (dimension d of sample i at
  // i * kMaxScalarDims + d), over Result::dimensions.
  std::vector<double> used;       // by running tasks
  std::vector<double> allocated;  // by tasks and outstanding offers (the allocator's view)
  std::vector<double> total;      // of machines up
  std::vector<std::uint64_t> pendingInstances, runningInstances, outstandingOffers;
  // Per sample, one value per role of Result::roles: the dominant share of
  // what the role's tasks use.
  std::vector<double> roleShare;
  // Jain's fairness index over the dominant shares of frameworks with work
  // (pending or running), 1 when fewer than two have work.
  std::vector<double> jain;
};

// Counters of the engine.
struct Counters {
  std::uint64_t events = 0;
  std::uint64_t rounds = 0;
  std::uint64_t offers = 0;
  std::uint64_t declines = 0;
  std::uint64_t rescinds = 0;
  std::uint64_t launches = 0;  // TaskRecords made
  std::uint64_t instancesLaunched = 0;
  std::uint64_t instancesLost = 0;
  std::uint64_t instancesPreempted = 0;
  std::uint64_t machineFailures = 0;  // injected (Config::meanTimeBetweenFailures)
};

struct FrameworkRecord {
  std::string name;
  std::uint32_t role = 0;  // index into Workload::roles
};

// The whole outcome of one run. Deterministic: the same workload, policy,
// parameters and config give the same Result, field by field.
struct Result {
  std::string policy;                         // registry name
  std::map<std::string, std::string> params;  // the policy's parameters
  std::vector<std::string> dimensions;        // names of the scalar dimensions
  std::vector<std::string> roles;             // Workload::roles
  std::vector<FrameworkRecord> frameworks;    // in registration order
  std::vector<JobRecord> jobs;                // in Workload::jobs order
  std::vector<TaskRecord> tasks;              // in launch order
  TimeSeries series;
  Counters counters;
  TimePoint end;  // simulated time of the last event
  // When the run stopped as stalled, with work pending that no framework
  // would launch (see summarize's stalled_at_s); kTimeNever otherwise.
  TimePoint stalledAt = kTimeNever;
  // When the run ended with jobs unfinished and no event left to come (not
  // at Config::stopAt): every framework had declined what it was offered
  // until something changes (see summarize's idle_end_s); kTimeNever
  // otherwise.
  TimePoint idleEnd = kTimeNever;
  // Per dimension, exact integrals over the run in unit-seconds (cpu-seconds,
  // MB-seconds): what tasks used and what machines held.
  std::vector<double> usedIntegral, capacityIntegral;
  // Derived metrics by name (see summarize()): "jct_mean_s", "utilization_cpus", ...
  std::map<std::string, double> summary;
};

// Fills result.summary from the records: job completion time (mean, p50,
// p95, p99), queueing delay, slowdown and bounded slowdown (run time floor
// 10 s), makespan, utilization per dimension, mean Jain's index, placement
// latency (per instance, launch minus ready), and the counters; and
// stalled_at_s when the run stopped as stalled, idle_end_s when it ended with
// jobs unfinished and no event left (only then). Jobs submitted after the
// run's end (one stopped by Config::stopAt) count as jobs_not_submitted, only
// there when some are; jobs_unfinished counts those submitted before.
void summarize(Result& result);

// One metric over repeated runs of a policy (seeds): the mean of the finite
// values (NaN ones, such as a mean JCT with no job finished, are left out),
// the half-width of the mean's 95% confidence interval by Student's t with
// n - 1 degrees of freedom (NaN when fewer than two values), the smallest,
// the largest and how many values counted.
struct Spread {
  double mean = 0, halfWidth95 = 0, min = 0, max = 0;
  std::size_t n = 0;
};
Spread spreadOf(std::span<const double> values);

// One policy against another over the same seeds: the spread of `other`'s
// value minus `baseline`'s, paired by seed (the k-th of one with the k-th of
// the other), so that what the seed does to both (the same --mtbf failures)
// cancels out of the difference. A policy whose runs no seed changes ran
// once: one value, paired with each of the other's. A pair with a value
// missing (NaN) is left out. Throws std::invalid_argument when the two have
// different numbers of values and neither has one.
Spread pairedDifferenceOf(std::span<const double> baseline, std::span<const double> other);

// One job's outcome as an SWF log records it (traces::writeSwf): its first
// start and end, and its state as an SWF status: finished 1 (completed),
// failed 0, unschedulable 5 (cancelled: it could never start), unfinished or
// not submitted -1 (unknown: the run stopped first).
traces::SwfJobSchedule swfScheduleOf(JobState state, TimePoint firstStart, TimePoint end);
// Every job's, in workload order: the run's schedule for traces::writeSwf.
std::vector<traces::SwfJobSchedule> swfScheduleOf(const Result& result);

// How a host spells the options a warning suggests: `allot sim`'s flags or
// the Python keywords.
struct OptionSpelling {
  std::string_view holdOffers;      // e.g. "--hold-offers"
  std::string_view refuseSeconds;   // e.g. "--refuse-seconds"
  std::string_view stopAt;          // e.g. "--stop-at"
  std::string_view demand;          // e.g. "--demand 256"
  std::string_view offerTimeout;    // e.g. "--offer-timeout"
  std::string_view exactEstimates;  // e.g. "--exact-estimates"
  std::string_view maxAttempts;     // e.g. "--max-attempts"
  std::string_view cluster;         // e.g. "--cluster '1300*cpus:64;mem:1'"
  std::string_view machines;        // e.g. "--machines"
  std::string_view machineEvents;   // e.g. "--machine-events"
  std::string_view mtbf;            // e.g. "--mtbf"
};
inline constexpr OptionSpelling kCliSpelling{
    "--hold-offers",   "--refuse-seconds",  "--stop-at",      "--demand 256",
    "--offer-timeout", "--exact-estimates", "--max-attempts", "--cluster '1300*cpus:64;mem:1'",
    "--machines",      "--machine-events",  "--mtbf"};
inline constexpr OptionSpelling kPythonSpelling{"hold_offers=True",
                                                "refuse_seconds",
                                                "stop_at",
                                                "demand=256",
                                                "offer_timeout",
                                                "exact_estimates=True",
                                                "max_attempts",
                                                "load_trace(..., cluster='1300*cpus:64;mem:1')",
                                                "load_trace(..., machines_file=...)",
                                                "a machine_events folder beside task_events",
                                                "mtbf"};

// What to tell the user when a run ended before its stop time with jobs
// unfinished (its summary holds stalled_at_s or idle_end_s): why, and which
// options change it; empty otherwise. One text for every host.
// `holdOffers`: the run's frameworks kept offers (Config::holdOffers), so
// the warning does not suggest it.
std::string cutShortWarning(const std::map<std::string, double>& summary,
                            const OptionSpelling& spelling, bool holdOffers = false);

}  // namespace allot::sim
