// The task-placing policies (tetris, bestfit, worstfit) end to end in the
// simulator: frameworks publish demand, the policy sizes offers to tasks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

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
               double seconds, bool gang = false) {
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
    w.jobs.push_back(j);
    w.tasks.push_back(t);
    return *this;
  }
};

// Runs `policy` with the demand window it declares, as `allot sim` does.
Result run(const Workload& w, const std::string& policy) {
  Config c;
  for (const PolicyInfo& info : builtinPolicies()) {
    if (info.name == policy) c.demandWindow = info.demand;
  }
  auto allocator = makeAllocator(policy);
  return simulate(w, *allocator, c);
}

// Each task-placing policy runs a small mixed workload (two users, shapes of
// different proportions, a gang, more work than fits at once) to the end,
// and frameworks use every offer whole: offers are sized to the tasks they
// name, so nothing is declined.
TEST(PlacingSimTest, RunsToTheEndWithOffersUsedWhole) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096).machine(2, 8192);
  b.job(0, 0, 6, 1, 512, 30)
      .job(0, 1, 3, 0.5, 3072, 20)
      .job(1, 0, 3, 2, 1024, 10, /*gang=*/true)
      .job(2, 1, 8, 0.25, 256, 5)
      .job(3, 0, 2, 4, 4096, 15);
  for (const char* policy : {"tetris", "bestfit", "worstfit"}) {
    SCOPED_TRACE(policy);
    const Result r = run(b.w, policy);
    for (const JobRecord& j : r.jobs) EXPECT_EQ(j.state, JobState::kFinished);
    EXPECT_EQ(r.counters.declines, 0u);
    EXPECT_EQ(r.counters.instancesLaunched, 22u);
  }
}

// The instances of a gang start together, in one round.
TEST(PlacingSimTest, GangInstancesStartTogether) {
  Builder b;
  b.machine(2, 2048).machine(2, 2048).job(0, 0, 1, 2, 2048, 50).job(1, 1, 3, 1, 512, 10, true);
  const Result r = run(b.w, "tetris");
  std::vector<TimePoint> starts;
  for (const TaskRecord& t : r.tasks) {
    if (t.job == 1) starts.insert(starts.end(), t.count, t.start);
  }
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts.front(), starts.back());
  // It needs three CPUs: it waits for the first job's machine.
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(50 * kSec));
}

// Best fit packs two small tasks on one machine and keeps the other whole
// for a wide task that comes next; worst fit spreads them, and the wide
// task waits for one to end.
TEST(PlacingSimTest, BestFitKeepsRoomThatWorstFitFragments) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096);
  b.job(0, 0, 2, 1, 1024, 100).job(1, 1, 1, 4, 4096, 10);
  EXPECT_EQ(run(b.w, "bestfit").jobs[1].firstStart, fromMicros(1 * kSec));
  EXPECT_EQ(run(b.w, "worstfit").jobs[1].firstStart, fromMicros(100 * kSec));
}

}  // namespace
}  // namespace allot::sim
