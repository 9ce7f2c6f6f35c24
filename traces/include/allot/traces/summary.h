#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "allot/traces/workload.h"

namespace allot::traces {

// A workload's summary as `allot trace inspect --json` prints it: counts
// (jobs, task_records, task_instances, machines, users, roles, ...), the
// records whose start and end the trace gives ("recorded"), the time span,
// percentiles (p50/p90/p99/max/mean) of per-instance durations, users'
// estimates (where the trace has them) and demands (each record weighted by its count), records and
// instances per job, total machine capacity, the `top` users and roles by task instances, and the
// trace's meta. JSON, so that the CLI, scripts and Python read the same thing.
nlohmann::json summarizeWorkload(const Workload& workload, std::size_t top = 10);

// The load the workload offers, per dimension of its table: what its task
// instances ask for over their run times, over the machines' total capacity
// for the span of the submissions (as the Parallel Workloads Archive defines
// it). NaN for a dimension without capacity, or a workload without span.
std::vector<double> offeredLoad(const Workload& workload);

}  // namespace allot::traces
