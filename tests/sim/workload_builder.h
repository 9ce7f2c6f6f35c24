#pragma once

// A hand-made workload for simulator tests: machines of (cpus, mem), then
// jobs of one task record each.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "allot/traces/workload.h"

namespace allot::sim::testing {

using traces::Job;
using traces::Machine;
using traces::Task;
using traces::Workload;

constexpr std::int64_t kSec = 1'000'000;

inline Scalars cpuMem(double cpus, double mem) {
  Scalars s = Scalars::Zero();
  s[0] = cpus;
  s[1] = mem;
  return s;
}

// A hand-made workload: machines, then jobs of one task record each.
struct Builder {
  Workload w;
  traces::DemandTable demands;

  Builder() {
    w.users = {"alice", "bob", "carol"};
    w.roles = {"*"};
  }
  Builder& machine(double cpus, double mem) {
    w.machines.push_back(
        Machine{static_cast<std::int64_t>(w.machines.size()), cpuMem(cpus, mem), {}});
    return *this;
  }
  // A job of `count` instances of (cpus, mem) lasting `seconds`.
  Builder& job(double submitS, std::uint32_t user, std::uint32_t count, double cpus, double mem,
               double seconds, bool gang = false, std::vector<std::uint32_t> deps = {}) {
    Job j;
    j.traceId = static_cast<std::int64_t>(w.jobs.size()) + 1;
    j.submit = fromMicros(static_cast<std::int64_t>(submitS * kSec));
    j.user = user;
    j.gang = gang;
    j.firstTask = w.tasks.size();
    j.taskCount = 1;
    j.dependsOn = std::move(deps);
    Task t;
    t.job = static_cast<std::uint32_t>(w.jobs.size());
    t.demand = demands.intern(cpuMem(cpus, mem), w.demands);
    t.duration = Duration{static_cast<std::int64_t>(seconds * kSec)};
    t.count = count;
    w.jobs.push_back(j);
    w.tasks.push_back(t);
    return *this;
  }
  // The last job's instances must run on different machines (Google's
  // different-machine constraint).
  Builder& onDifferentMachines() {
    w.tasks.back().differentMachine = true;
    return *this;
  }
};

// Runs `policy` with `params` and the demand window it declares, as `allot
// sim` does; the rest of the configuration is `base`.
inline Result runPolicy(const Workload& w, const std::string& policy,
                        const std::string& params = "", Config base = {}) {
  Config& c = base;
  for (const PolicyInfo& info : builtinPolicies()) {
    if (info.name == policy) c.demandWindow = info.demand;
  }
  auto allocator = makeAllocator(policy, Params::parse(params));
  return simulate(w, *allocator, c);
}

}  // namespace allot::sim::testing
