// The task-placing policies (tetris, bestfit, worstfit) end to end in the
// simulator: frameworks publish demand, the policy sizes offers to tasks.
#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using traces::Job;
using traces::Machine;
using traces::Task;
using traces::Workload;

using testing::Builder;
using testing::cpuMem;
using testing::kSec;

Result run(const Workload& w, const std::string& policy) {
  return testing::runPolicy(w, policy);
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

// Tetris' remaining-work term (the paper's shortest remaining work first):
// three jobs that each need the whole machine arrive together, the longest
// first. With durations known, tetris runs them shortest first; fifo in
// arrival order. By hand (a round follows each release, decisions take no
// time): tetris ends them at 10, 30 and 60 s (mean JCT 33.3 s), fifo at 30,
// 50 and 60 s (mean 46.7 s).
TEST(PlacingSimTest, TetrisRunsLessRemainingWorkFirst) {
  Builder b;
  b.machine(4, 4096);
  b.job(0, 0, 1, 4, 4096, 30).job(0, 1, 1, 4, 4096, 20).job(0, 2, 1, 4, 4096, 10);
  // Each job's end, in seconds, in job order; every job finished.
  auto ends = [](const Result& r) {
    std::vector<double> out;
    for (const JobRecord& j : r.jobs) {
      EXPECT_EQ(j.state, JobState::kFinished);
      out.push_back(toSeconds(j.end - j.submit));
    }
    return out;
  };
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  };
  Config exact;
  exact.exactEstimates = true;
  const std::vector<double> packed = ends(testing::runPolicy(b.w, "tetris", "", exact));
  EXPECT_EQ(packed, (std::vector<double>{60, 30, 10}));
  EXPECT_NEAR(mean(packed), (10.0 + 30.0 + 60.0) / 3, 1e-9);

  const std::vector<double> inOrder = ends(testing::runPolicy(b.w, "fifo", "", exact));
  EXPECT_EQ(inOrder, (std::vector<double>{30, 50, 60}));
  EXPECT_NEAR(mean(inOrder), (30.0 + 50.0 + 60.0) / 3, 1e-9);

  // The order follows the remaining work, not the frameworks: shuffled
  // durations come out shortest first again.
  Builder shuffled;
  shuffled.machine(4, 4096);
  shuffled.job(0, 0, 1, 4, 4096, 20).job(0, 1, 1, 4, 4096, 10).job(0, 2, 1, 4, 4096, 30);
  EXPECT_EQ(ends(testing::runPolicy(shuffled.w, "tetris", "", exact)),
            (std::vector<double>{30, 10, 60}));

  // Equal shapes tie on alignment, so the above would hold without the SRPT
  // term too. Here the longer job aligns better (all of the machine against
  // all its cpus and half its memory): packing alone runs it first, and the
  // SRPT term (weight 1: 1.75 mean alignment per 20 s mean work) overrules.
  Builder aligned;
  aligned.machine(4, 4096);
  aligned.job(0, 0, 1, 4, 4096, 30).job(0, 1, 1, 4, 2048, 10);
  EXPECT_EQ(ends(testing::runPolicy(aligned.w, "tetris", "", exact)),
            (std::vector<double>{40, 10}));
  EXPECT_EQ(ends(testing::runPolicy(aligned.w, "tetris", "srpt_weight=0", exact)),
            (std::vector<double>{30, 40}));
}

}  // namespace
}  // namespace allot::sim
