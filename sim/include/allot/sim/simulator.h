#pragma once

#include "allot/policies/allocator.h"
#include "allot/sim/config.h"
#include "allot/sim/result.h"
#include "allot/traces/workload.h"

namespace allot::sim {

// Replays `workload` against `allocator` in a deterministic, single-threaded
// discrete-event simulation and returns what happened, summarized.
//
// The simulator is the allocator's host, as the runtime master is: machines
// become agents (addAgent, removeAgent, updateAgentTotal), simulated
// frameworks register, receive the allocations of each round as offers,
// launch pending tasks that fit (a gang launches whole or not at all),
// decline the rest with filters after their decision latency, suppress when
// idle and revive when work arrives; finished tasks' resources are recovered.
// Jobs enter at their submit time, or when the jobs they depend on finish.
//
// REQUIRES: `allocator` is fresh (no agents or frameworks); it is used only
// during the call. The same workload, allocator (policy and parameters) and
// config give the same Result. Throws InvalidArgument for a bad config.
Result simulate(const traces::Workload& workload, Allocator& allocator, const Config& config,
                const Hooks& hooks = {});

// The scalar dimensions tasks of `workload` ask for but no machine ever has
// (e.g. Google's disk, whose machine sizes the trace does not give): the
// simulator leaves them out of placement. Empty when machines have none of
// what tasks ask for: the simulator refuses such a workload instead.
std::vector<std::string> ignoredDimensions(const traces::Workload& workload);

// What to tell the user, before a run, when its stop time comes no later than
// the workload's first submission: nothing would run. Simulated time counts
// from the trace's own time 0 (an SWF log's UnixStartTime), which can be days
// before its first job (KTH SP2's cleaned log: 6 days). Empty otherwise.
std::string stopBeforeWorkWarning(const traces::Workload& workload, const Config& config,
                                  const OptionSpelling& spelling);

// Why `workload`, read from `source` (a path), cannot be replayed at all: it
// has no jobs, or no machines (every job would be unschedulable), with what
// gives it machines, in the host's spelling. Empty when it can be. Hosts
// refuse such a workload (InvalidArgument) before any run.
std::string unreplayableReason(const traces::Workload& workload, std::string_view source,
                               const OptionSpelling& spelling);

// Options set in `config` that cannot change a run of `workload`, one note
// each saying why: an offer timeout for frameworks that do not hold offers
// (each is answered within the decision latency, which the timeout exceeds),
// a refuse time for frameworks that do (they decline nothing), exact
// estimates without published demand (estimates reach policies only in it),
// a limit of attempts where no machine is ever removed (only instances lost
// with their machine are retried). Also injected failures that may keep the
// run from ending: without a limit of attempts or a stop, the longest task
// outlives its machine's up time with probability below 1%. Empty when
// every option set has an effect and none does that. One text for every host.
std::vector<std::string> inertOptionNotes(const traces::Workload& workload, const Config& config,
                                          const OptionSpelling& spelling);

// What to tell the user, once, when a run with `demandWindow` 0 spends its
// time on offers that frameworks decline (2 M of them and ten per instance
// launched so far): why, and which option sizes offers to pending work.
// Empty otherwise. One text for every host.
std::string offerChurnNote(const Progress& progress, std::uint32_t demandWindow,
                           const OptionSpelling& spelling);

}  // namespace allot::sim
