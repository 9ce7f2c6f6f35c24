#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/time.h"

namespace allot::sim {

// A run stops as stalled after this many allocation rounds in a row with
// nothing running, nothing launched and no job or machine event to come: the
// frameworks decline every offer, e.g. gangs wider than what each is offered
// once finite decline filters (Config::refuseFor) keep them asking. Such a
// livelock would otherwise never end (Result::stalledAt).
inline constexpr std::uint64_t kStallRounds = 10'000;
// The longest allocation interval, decision latency, offer timeout or sample
// interval a run accepts (100 years): times are int64 microseconds, and one
// this long is a typo.
inline constexpr Duration kMaxConfigDuration{std::int64_t{100} * 366 * 24 * 3600 * 1'000'000};

// Which simulated framework a job's tasks are given to.
enum class Grouping : std::uint8_t {
  kUser,    // one framework per (user, role) of the trace, as teams share a cluster
  kRole,    // one framework per role (queue)
  kJob,     // one framework per job, registered at submit, gone when the job ends
  kSingle,  // one framework for the whole trace (a batch queue; FCFS replays)
};

// How a framework walks its queue of pending work when it has offers.
enum class Queue : std::uint8_t {
  kFcfs,      // strictly in order: the first unit that does not fit blocks the rest
  kFirstFit,  // in order, but units that do not fit are passed over
};

// A role's weight and quota in a run: set on the allocator before the first
// event (Allocator::setRoleWeight, setQuota), as the runtime master's
// operators set them (allot weight, allot quota). Quota amounts in the
// resource syntax, unreserved scalars ("cpus:64;mem:262144"); empty: none.
struct RoleSetting {
  std::string role;
  double weight = 1.0;
  std::string guarantee;
  std::string limit;
};

// Everything a simulation run depends on besides the workload and the policy.
// Times are simulated microseconds. The defaults model a Mesos cluster whose
// frameworks launch what fits, decline the rest and revive when new work
// arrives.
struct Config {
  // Seed of the simulator's own draws (injected machine failures) and,
  // through the CLI and Python, the default `seed` of the policy.
  std::uint64_t seed = 0;

  // Allocation rounds run on multiples of this interval, and only after
  // something changed (Mesos' --allocation_interval, default 1 s). A round at
  // time t runs after every other event of time t.
  Duration allocationInterval = std::chrono::seconds(1);

  Grouping grouping = Grouping::kUser;
  Queue queue = Queue::kFirstFit;

  // How long a framework's scheduler takes to answer offers.
  Duration decisionLatency{0};
  // Offers a framework holds longer than this are rescinded (0: never).
  // Frameworks that do not hold offers (holdOffers) answer each within their
  // decision latency, which the timeout must exceed: it affects only those
  // that do.
  Duration offerTimeout{0};
  // Filter attached to declined resources. Unset: until the agent's free
  // resources grow or the framework revives (frameworks revive whenever new
  // work arrives), which misses no opportunity and costs no periodic
  // re-offers; set it (Mesos' default is 5 s) to model real frameworks.
  std::optional<Duration> refuseFor;
  // Frameworks keep every offer until they launch tasks in it or it is
  // rescinded (offerTimeout), instead of declining what they cannot use yet:
  // gang schedulers hoard so that a wide job can start. A framework whose
  // queue empties keeps its offers until another framework has work. With
  // kSingle and kFcfs this replays a classic FCFS batch queue that owns the
  // cluster.
  bool holdOffers = false;

  // Frameworks publish the shapes of their first `demandWindow` pending
  // instances (Allocator::updateDemand; 0: they publish nothing). Demand-
  // aware policies size offers to them, and every policy stops offering to
  // a framework once a round's offers cover them, instead of offering it
  // the whole cluster.
  std::uint32_t demandWindow = 0;

  // Frameworks publish each task's actual run time as its estimate (an
  // oracle: perfect user estimates, for backfilling and shortest-job
  // policies); otherwise the trace's own estimate (SWF requested time), or
  // none.
  bool exactEstimates = false;

  // Instances a framework launches in one offer at most (0: as many as fit).
  // 1 gives the progressive filling of the DRF paper: each framework takes
  // one task per offer and gives the rest back, without a filter (the agent
  // comes back at the next round).
  std::uint32_t launchesPerOffer = 0;

  // Instances lost with their machine are resubmitted, as a new attempt at
  // the back of their framework's queue, until a job has lost this many
  // attempts of one task record; then the job fails (0: always resubmit).
  // Preempted attempts do not count.
  std::uint32_t maxAttempts = 0;

  // Machine failures injected on top of the trace's own machine events:
  // while up, each machine fails after an exponential up time of mean
  // `meanTimeBetweenFailures` (0: none injected), losing its offers and its
  // running instances as when the trace removes it (they are resubmitted up
  // to maxAttempts), and comes back after an exponential repair time of mean
  // `meanTimeToRepair`. Each machine draws from its own stream of `seed`,
  // and only when it goes up or down, so the failures do not depend on the
  // policy: every policy run with one seed sees the same ones.
  Duration meanTimeBetweenFailures{0};
  Duration meanTimeToRepair = std::chrono::hours(1);

  // Time series sampling interval; 0 picks one that gives about 5,000 samples
  // over the trace's submit span, or up to stopAt when that comes first (at
  // least 1 s).
  Duration sampleInterval{0};

  // Weights and quotas of roles (the workload's roles: SWF queues, the
  // synthetic generator's; "*" for frameworks of a single grouping). A role
  // may appear once. Roles not set keep weight 1 and no quota.
  std::vector<RoleSetting> roles;

  // Simulated time at which the run stops (work still pending or running is
  // recorded as unfinished). A run cut by it ends there: the time from its
  // last event to the stop counts in the utilization and the samples.
  TimePoint stopAt = kTimeNever;
};

// Periodic report of a running simulation.
struct Progress {
  TimePoint now;
  std::uint64_t events = 0;
  std::uint64_t jobsDone = 0;  // finished or given up
  std::uint64_t jobsTotal = 0;
  std::uint64_t offers = 0;
  std::uint64_t instancesLaunched = 0;
};

// Optional observers. Both are called on the simulating thread.
struct Hooks {
  // Called about four times a second of wall time and once at the end.
  std::function<void(const Progress&)> progress;
  // When set, receives one line per simulator event, stamped with simulated
  // time (the golden-run log).
  std::function<void(std::string_view line)> eventLog;
};

std::string_view toString(Grouping grouping);
std::string_view toString(Queue queue);
// Parse the names toString gives. Throw InvalidArgument listing the names.
Grouping parseGrouping(std::string_view text);
Queue parseQueue(std::string_view text);

}  // namespace allot::sim
