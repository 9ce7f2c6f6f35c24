#pragma once

// checkWorkload (allot/traces/workload.h) in pieces, for a builder that
// checks records while they are in cache rather than in a second pass over
// tables larger than the cache: the store reader builds the job and task
// tables on two threads and calls these as it goes. checkWorkload is exactly
// checkSmallTables, checkJob for every job, checkTask for every task record,
// then checkTaskRanges; a check added to a piece applies to both.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "allot/traces/workload.h"

namespace allot::traces::detail {

// Rows of the tables job and task records index.
struct TableSizes {
  std::uint64_t jobs = 0;
  std::uint64_t tasks = 0;
  std::uint64_t demands = 0;
  std::uint64_t users = 0;
  std::uint64_t roles = 0;
};
TableSizes tableSizes(const Workload& w);

// The failures, out of line: each throws InvalidArgument naming the record.
[[noreturn, gnu::cold]] void badJobSubmit(const Job& job, std::size_t j);
[[noreturn, gnu::cold]] void badJobOwner(const Job& job, std::size_t j, const TableSizes& sizes);
[[noreturn, gnu::cold]] void badJobRange(const Job& job, std::size_t j, std::uint64_t tasks);
[[noreturn, gnu::cold]] void badDependency(const Job& job, std::size_t j, std::uint32_t d,
                                           std::uint64_t jobs);
[[noreturn, gnu::cold]] void badTaskJob(std::size_t t, std::uint32_t job, std::uint64_t jobs);
[[noreturn, gnu::cold]] void badTaskDemand(std::size_t t, std::uint32_t demand,
                                           std::uint64_t demands);
[[noreturn, gnu::cold]] void zeroTaskCount(std::size_t t);
[[noreturn, gnu::cold]] void badTaskDuration(std::size_t t, const char* what, Duration d);
[[noreturn, gnu::cold]] void badCoverage(std::uint64_t covered, std::uint64_t tasks);
[[noreturn, gnu::cold]] void taskOutsideItsJob(std::size_t t, std::uint32_t job,
                                               const std::vector<Job>& jobs);

inline bool timeInRange(std::int64_t us) {
  return us >= -kMaxTraceMicros && us <= kMaxTraceMicros;
}
inline bool durationInRange(std::int64_t us) {
  return us >= 0 && us <= kMaxTraceMicros;
}

// Dimensions, demands, machine capacities and machine events.
void checkSmallTables(const Workload& w);

// Job `j`'s submit time, user and role, task range (within `sizes.tasks`
// records) and dependencies. Readers may leave the user and role tables
// empty, with index 0.
inline void checkJob(const Job& job, std::size_t j, const TableSizes& sizes) {
  if (!timeInRange(toMicros(job.submit))) badJobSubmit(job, j);
  if (job.user >= std::max<std::uint64_t>(sizes.users, 1) ||
      job.role >= std::max<std::uint64_t>(sizes.roles, 1)) {
    badJobOwner(job, j, sizes);
  }
  if (job.firstTask > sizes.tasks || job.taskCount > sizes.tasks - job.firstTask) {
    badJobRange(job, j, sizes.tasks);
  }
  for (const std::uint32_t d : job.dependsOn) {
    if (d >= sizes.jobs || d == j) badDependency(job, j, d, sizes.jobs);
  }
}

// Task record `t`'s duration and estimate.
inline void checkTaskDurations(const Task& task, std::size_t t) {
  if (!durationInRange(toMicros(task.duration))) badTaskDuration(t, "duration", task.duration);
  if (!durationInRange(toMicros(task.estimate))) badTaskDuration(t, "estimate", task.estimate);
}

// Task record `t`'s job and demand indexes, count and durations.
inline void checkTask(const Task& task, std::size_t t, const TableSizes& sizes) {
  if (task.job >= sizes.jobs) badTaskJob(t, task.job, sizes.jobs);
  if (task.demand >= sizes.demands) badTaskDemand(t, task.demand, sizes.demands);
  if (task.count == 0) zeroTaskCount(t);
  checkTaskDurations(task, t);
}

// The jobs' task ranges (each within the table, checkJob) cover as many
// records as there are, and every record of job j's range names job j: then
// the ranges do not overlap and every record lies in the range of the job it
// names. firstOf(j), countOf(j): job j's range; jobOf(t): the job record t
// names (checked below the job count, checkTask). `jobs` names jobs in the
// message. One pass over each table.
template <class FirstOf, class CountOf, class JobOf>
void checkTaskRanges(const std::vector<Job>& jobs, std::uint64_t tasks, FirstOf firstOf,
                     CountOf countOf, JobOf jobOf) {
  std::uint64_t covered = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) covered += countOf(j);
  if (covered != tasks) badCoverage(covered, tasks);
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const std::uint64_t first = firstOf(j);
    const std::uint64_t end = first + countOf(j);
    for (std::uint64_t t = first; t < end; ++t) {
      if (const std::uint32_t named = jobOf(t); named != j) taskOutsideItsJob(t, named, jobs);
    }
  }
}

}  // namespace allot::traces::detail
