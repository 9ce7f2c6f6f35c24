#pragma once

#include "allot/core/time.h"
#include "allot/sim/result.h"
#include "allot/traces/workload.h"

namespace allot::sim {

// TaskRecord::machine of a recorded launch on a machine the workload's table
// does not name.
inline constexpr std::uint32_t kNoMachine = 0xffffffff;

// The schedule the trace itself records (each task record's Task::outcome:
// the SWF wait and run times, Google's SCHEDULE to terminal event, Alibaba's
// start and end), as a Result a replay can be compared with metric by
// metric: the same job and task records, summarized by the same summarize().
//
// - A task record with a recorded start (at or before `stopAt`) is one
//   launch: its instances start then on the recorded machine and end at the
//   recorded end (unfinished when the trace does not say, or later than
//   `stopAt`). Records are in order of start, as a replay's are in launch order.
// - A job is finished when every one of its records has a recorded start
//   and end; its first start and end are the earliest start and the latest
//   end. It is ready at its submission, or when the last job it depends on
//   ended in the trace.
// - The run spans what a replay's does: from the first submission or
//   machine event to the last recorded start or end (to `stopAt` when some
//   come later); utilization integrates the recorded launches and the
//   machines' capacity over it (machines without events up throughout, the
//   others as their events say).
// - The time series is sampled as a replay's with `sampleInterval` (0:
//   about 5,000 samples over the submit span): pending instances are those
//   of ready jobs not started yet, nothing is ever offered, and Jain's index
//   is over one framework per user and role (a replay's default frameworks)
//   with work.
// - Counters are of launches only. TaskRecord::machine is kNoMachine where
//   the trace names no machine (SWF) or one not in the workload's table.
//
// policy is "history". Throws InvalidArgument when no record has a recorded
// start (a synthetic workload: there is no history to compare with).
Result historyResult(const traces::Workload& workload, TimePoint stopAt = kTimeNever,
                     Duration sampleInterval = Duration::zero());

}  // namespace allot::sim
