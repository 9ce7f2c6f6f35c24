// The flow policy end to end in the simulator: frameworks publish demand,
// the policy sizes offers to tasks, rounds follow events.
#include <gtest/gtest.h>

#include <string>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"

namespace allot::sim {
namespace {

using traces::Job;
using traces::Machine;
using traces::Task;
using traces::Workload;

constexpr std::int64_t kSec = 1'000'000;

Scalars cpuMem(double cpus, double mem) {
  Scalars s = Scalars::Zero();
  s[0] = cpus;
  s[1] = mem;
  return s;
}

// A hand-made workload: machines, then jobs of one task record each.
struct Builder {
  Workload w;

  Builder() {
    w.users = {"alice", "bob"};
    w.roles = {"*"};
  }
  Builder& machine(double cpus, double mem) {
    w.machines.push_back(
        Machine{static_cast<std::int64_t>(w.machines.size()), cpuMem(cpus, mem), {}});
    return *this;
  }
  // A job of `count` instances of (cpus, mem) lasting `seconds`.
  Builder& job(double submitS, std::uint32_t user, std::uint32_t count, double cpus, double mem,
               double seconds, bool gang = false, bool differentMachine = false) {
    Job j;
    j.traceId = static_cast<std::int64_t>(w.jobs.size()) + 1;
    j.submit = fromMicros(static_cast<std::int64_t>(submitS * kSec));
    j.user = user;
    j.gang = gang;
    j.firstTask = w.tasks.size();
    j.taskCount = 1;
    Task t;
    t.job = static_cast<std::uint32_t>(w.jobs.size());
    t.demand = cpuMem(cpus, mem);
    t.duration = Duration{static_cast<std::int64_t>(seconds * kSec)};
    t.count = count;
    t.differentMachine = differentMachine;
    w.jobs.push_back(j);
    w.tasks.push_back(t);
    return *this;
  }
};

// Runs flow with `params` and the demand window it declares, as `allot sim` does.
Result run(const Workload& w, const std::string& params = "") {
  Config c;
  for (const PolicyInfo& info : builtinPolicies()) {
    if (info.name == "flow") c.demandWindow = info.demand;
  }
  auto allocator = makeAllocator("flow", Params::parse(params));
  return simulate(w, *allocator, c);
}

// A mixed workload (two users, shapes of different proportions, a gang, a
// job whose instances must run on different machines, more work than fits
// at once) runs to the end, and every offer is used: nothing is declined.
TEST(FlowSimTest, RunsToTheEndWithEveryOfferUsed) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096).machine(2, 8192);
  b.job(0, 0, 6, 1, 512, 30)
      .job(0, 1, 3, 0.5, 3072, 20)
      .job(1, 0, 3, 2, 1024, 10, /*gang=*/true)
      .job(2, 1, 8, 0.25, 256, 5)
      .job(3, 0, 2, 4, 4096, 15)
      .job(4, 1, 3, 0.5, 256, 10, /*gang=*/false, /*differentMachine=*/true);
  const Result r = run(b.w);
  for (const JobRecord& j : r.jobs) EXPECT_EQ(j.state, JobState::kFinished);
  EXPECT_EQ(r.counters.declines, 0u);
  EXPECT_EQ(r.counters.instancesLaunched, 25u);
}

// With a window smaller than the pending work and no event after the first
// round, the rest still starts: the policy asks the simulator for the next
// round itself (wakeAt). Window 5 takes whole records: two jobs of 4
// instances at 0 s, the third at 1 s.
TEST(FlowSimTest, WindowedWorkStartsInLaterRounds) {
  Builder b;
  b.machine(16, 16384)
      .job(0, 0, 4, 1, 512, 1000)
      .job(0, 0, 4, 1, 512, 1000)
      .job(0, 0, 4, 1, 512, 1000);
  const Result r = run(b.w, "window=5");
  ASSERT_EQ(r.jobs.size(), 3u);
  for (const JobRecord& j : r.jobs) EXPECT_EQ(j.state, JobState::kFinished);
  EXPECT_EQ(r.jobs[0].firstStart, fromMicros(0));
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(0));
  EXPECT_EQ(r.jobs[2].firstStart, fromMicros(1 * kSec));
}

}  // namespace
}  // namespace allot::sim
