// The flow policy end to end in the simulator: frameworks publish demand,
// the policy sizes offers to tasks, rounds follow events.
#include <gtest/gtest.h>

#include <string>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using testing::Builder;
using testing::kSec;
using traces::Workload;

// Runs flow with `params` and the demand window it declares, as `allot sim` does.
Result run(const Workload& w, const std::string& params = "") {
  return testing::runPolicy(w, "flow", params);
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
      .job(4, 1, 3, 0.5, 256, 10)
      .onDifferentMachines();
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

// Tasks that ask for nothing (Alibaba 2017 rows with empty cpu and memory
// requests) start, among tasks that do: more of them than the demand window
// (1,000 instances) holds at the head of a queue, a user whose jobs all ask
// for nothing, and a job that arrives when nothing else waits. Before, the
// policy could not grant them (an empty grant is no offer) and a window full
// of them stalled the queue behind it for good.
TEST(FlowSimTest, TasksThatAskForNothingStart) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096);
  b.job(0, 0, 1200, 0, 0, 5)
      .job(0, 0, 6, 1, 512, 10)
      .job(1, 0, 4, 2, 1024, 10)
      .job(2, 1, 30, 0, 0, 5)
      .job(3, 2, 3, 0.5, 256, 5)
      .job(100, 0, 3, 0, 0, 5);
  const Result r = run(b.w);
  ASSERT_EQ(r.jobs.size(), 6u);
  for (const JobRecord& j : r.jobs) EXPECT_EQ(j.state, JobState::kFinished);
  EXPECT_EQ(r.counters.instancesLaunched, 1200u + 6 + 4 + 30 + 3 + 3);
  // Alone in the cluster, it starts as it arrives.
  EXPECT_EQ(r.jobs[5].firstStart, fromMicros(100 * kSec));
}

}  // namespace
}  // namespace allot::sim
