// Tests of the trace's own schedule as a Result (sim/include/allot/sim/history.h).
#include "allot/sim/history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "allot/core/error.h"
#include "allot/traces/load.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using testing::Builder;
using testing::kSec;

void recorded(traces::Workload& w, std::size_t task, double startS, double endS,
              std::int64_t machine = traces::kUnknown) {
  auto& o = w.tasks[task].outcome;
  o.startUs = startS < 0 ? traces::kUnknown : static_cast<std::int64_t>(startS * kSec);
  o.endUs = endS < 0 ? traces::kUnknown : static_cast<std::int64_t>(endS * kSec);
  o.machine = machine;
}

// A small history worked out by hand: what each job and record becomes, and
// the summary's job metrics, placement latency and utilization.
TEST(HistoryTest, RecordsAndSummaryOfAHandMadeHistory) {
  Builder b;
  b.machine(4, 100).machine(4, 100);
  b.job(10, 0, 2, 1, 10, 20);              // 0: waited 5 s, ran 20 s
  b.job(10, 1, 1, 4, 10, 30);              // 1: started at once on machine 1
  b.job(20, 0, 1, 1, 10, 10, false, {0});  // 2: depends on 0 (ended at 35)
  b.job(30, 2, 1, 1, 10, 50);              // 3: still running at the trace's end
  b.job(40, 2, 1, 1, 10, 50);              // 4: never started
  traces::Workload& w = b.w;
  recorded(w, 0, 15, 35, 0);
  recorded(w, 1, 10, 40, 1);
  recorded(w, 2, 36, 46, 77);  // a machine not in the table
  recorded(w, 3, 50, -1, 0);

  const Result r = historyResult(w);
  EXPECT_EQ(r.policy, "history");
  ASSERT_EQ(r.jobs.size(), 5u);
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_EQ(toMicros(r.jobs[0].firstStart), 15 * kSec);
  EXPECT_EQ(toMicros(r.jobs[0].end), 35 * kSec);
  EXPECT_EQ(r.jobs[0].instances, 2u);
  EXPECT_EQ(toMicros(r.jobs[2].ready), 35 * kSec);  // its dependency's end, not its submission
  EXPECT_EQ(r.jobs[3].state, JobState::kUnfinished);
  EXPECT_EQ(toMicros(r.jobs[3].firstStart), 50 * kSec);
  EXPECT_EQ(r.jobs[3].end, kTimeNever);
  EXPECT_EQ(r.jobs[4].firstStart, kTimeNever);

  // Records in order of start; machines mapped by trace id.
  ASSERT_EQ(r.tasks.size(), 4u);
  EXPECT_EQ(r.tasks[0].job, 1u);
  EXPECT_EQ(r.tasks[0].machine, 1u);
  EXPECT_EQ(r.tasks[1].job, 0u);
  EXPECT_EQ(r.tasks[1].count, 2u);
  EXPECT_EQ(r.tasks[2].machine, kNoMachine);
  EXPECT_EQ(r.tasks[3].state, TaskState::kUnfinished);
  EXPECT_EQ(r.counters.instancesLaunched, 5u);
  EXPECT_EQ(toMicros(r.end), 50 * kSec);  // the last recorded start

  const auto& s = r.summary;
  EXPECT_EQ(s.at("jobs_finished"), 3);
  EXPECT_EQ(s.at("jobs_unfinished"), 2);
  EXPECT_DOUBLE_EQ(s.at("jct_s_mean"), (25.0 + 30.0 + 26.0) / 3);
  EXPECT_DOUBLE_EQ(s.at("wait_s_mean"), (5.0 + 0.0 + 16.0) / 3);
  EXPECT_DOUBLE_EQ(s.at("makespan_s"), 46 - 10);
  // Per instance: 2 x 5 s (job 0), 0 s, 1 s (job 2 from its ready time), 20 s.
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_mean"), (2 * 5.0 + 0 + 1 + 20) / 5);
  // From the first submission (10 s) to the end (50 s): 8 cpus for 40 s;
  // used 2 x 20 + 4 x 30 + 10 + 0 (job 3 starts at the end) cpu-seconds.
  EXPECT_DOUBLE_EQ(s.at("utilization_cpus"), (40.0 + 120 + 10) / (8 * 40));
  // Sampled every second from 10 s to 50 s (the default: whole seconds).
  ASSERT_EQ(r.series.timeUs.size(), 41u);
  EXPECT_EQ(r.series.timeUs[5], 15 * kSec);
  EXPECT_EQ(r.series.runningInstances[5], 3u);  // job 0's two and job 1's one
  EXPECT_EQ(r.series.used[5 * kMaxScalarDims], 6.0);
  EXPECT_EQ(r.series.pendingInstances[0], 2u);   // job 0's, ready at 10 s (job 1 started)
  EXPECT_EQ(r.series.pendingInstances[30], 2u);  // at 40 s: jobs 3 and 4
  EXPECT_EQ(r.series.total[0], 8.0);
  // Frameworks per user and role, in the order of their first jobs.
  ASSERT_EQ(r.frameworks.size(), 3u);
  EXPECT_EQ(r.frameworks[1].name, "bob/*");
  EXPECT_EQ(r.jobs[3].framework, 2u);

  // Stopped at 36 s: job 2 starts at the stop and is unfinished; the run,
  // cut there, ends at it.
  const Result cut = historyResult(w, fromMicros(36 * kSec));
  EXPECT_EQ(cut.summary.at("jobs_finished"), 1);  // job 1 ends at 40 s
  EXPECT_EQ(toMicros(cut.end), 36 * kSec);
  EXPECT_EQ(cut.tasks.size(), 3u);
  EXPECT_DOUBLE_EQ(cut.summary.at("utilization_cpus"), (40.0 + 4 * 26) / (8 * 26));
}

// A history that is a replay's own schedule measures as that replay does:
// every job and latency metric and both utilization integrals equal.
TEST(HistoryTest, AReplaysOwnScheduleSummarizesAsTheReplay) {
  Builder b;
  for (int m = 0; m < 4; ++m) b.machine(4, 64);
  for (int j = 0; j < 60; ++j) {
    b.job(j * 0.75, static_cast<std::uint32_t>(j % 3), 1, 1 + j % 3, 8, 5 + (j * 13) % 40);
  }
  traces::Workload& w = b.w;
  const Result replay = testing::runPolicy(w, "fifo");
  ASSERT_EQ(replay.tasks.size(), w.tasks.size());    // one launch per record: no relaunches
  ASSERT_GT(replay.summary.at("wait_s_mean"), 1.0);  // jobs queued
  for (const TaskRecord& rec : replay.tasks) {
    recorded(w, rec.task, static_cast<double>(toMicros(rec.start)) / kSec,
             static_cast<double>(toMicros(rec.end)) / kSec, w.machines[rec.machine].traceId);
  }
  const Result history = historyResult(w);
  for (const char* metric :
       {"jobs_finished", "jct_s_mean", "jct_s_p50", "jct_s_p95", "jct_s_p99", "wait_s_mean",
        "wait_s_p95", "slowdown_mean", "bounded_slowdown_mean", "makespan_s",
        "placement_latency_s_mean", "placement_latency_s_p99", "instances_launched"}) {
    EXPECT_DOUBLE_EQ(history.summary.at(metric), replay.summary.at(metric)) << metric;
  }
  EXPECT_EQ(history.end, replay.end);
  ASSERT_EQ(history.usedIntegral.size(), replay.usedIntegral.size());
  for (std::size_t d = 0; d < replay.usedIntegral.size(); ++d) {
    EXPECT_DOUBLE_EQ(history.usedIntegral[d], replay.usedIntegral[d]) << d;
    EXPECT_DOUBLE_EQ(history.capacityIntegral[d], replay.capacityIntegral[d]) << d;
  }
  EXPECT_DOUBLE_EQ(history.summary.at("utilization_cpus"), replay.summary.at("utilization_cpus"));
  EXPECT_DOUBLE_EQ(history.summary.at("jain_fairness_mean"),
                   replay.summary.at("jain_fairness_mean"));
  // The same samples, but for what only offers hold.
  const TimeSeries& h = history.series;
  const TimeSeries& p = replay.series;
  EXPECT_EQ(h.interval, p.interval);
  EXPECT_EQ(h.timeUs, p.timeUs);
  EXPECT_EQ(h.used, p.used);
  EXPECT_EQ(h.total, p.total);
  EXPECT_EQ(h.pendingInstances, p.pendingInstances);
  EXPECT_EQ(h.runningInstances, p.runningInstances);
  EXPECT_EQ(h.roleShare, p.roleShare);
  EXPECT_EQ(h.jain, p.jain);
  ASSERT_EQ(history.frameworks.size(), replay.frameworks.size());
  for (std::size_t f = 0; f < replay.frameworks.size(); ++f) {
    EXPECT_EQ(history.frameworks[f].name, replay.frameworks[f].name);
  }
  // A series that outgrows its samples keeps every other one, as a replay's.
  Config fine;
  fine.sampleInterval = Duration{1000};
  const Result replayFine = testing::runPolicy(w, "fifo", "", fine);
  const Result historyFine = historyResult(w, kTimeNever, fine.sampleInterval);
  EXPECT_GT(replayFine.series.interval, fine.sampleInterval);  // it did thin
  EXPECT_EQ(historyFine.series.interval, replayFine.series.interval);
  EXPECT_EQ(historyFine.series.timeUs, replayFine.series.timeUs);
  EXPECT_EQ(historyFine.series.used, replayFine.series.used);
}

// Machines with events are up as a replay has them: down until added,
// resized by updates, gone when removed.
TEST(HistoryTest, CapacityFollowsMachineEvents) {
  Builder b;
  b.machine(2, 10).machine(4, 10);
  b.job(0, 0, 1, 1, 1, 100);
  traces::Workload& w = b.w;
  using Kind = traces::MachineEvent::Kind;
  auto event = [&](double s, std::uint32_t m, Kind kind, double cpus) {
    w.machineEvents.push_back(
        {fromMicros(static_cast<std::int64_t>(s * kSec)), m, kind, testing::cpuMem(cpus, 10)});
  };
  event(10, 1, Kind::kAdd, 4);
  event(20, 1, Kind::kUpdate, 8);
  event(30, 1, Kind::kRemove, 0);
  event(40, 1, Kind::kUpdate, 16);  // down: ignored
  recorded(w, 0, 0, 100);
  const Result r = historyResult(w);
  // Machine 0: 2 cpus for 100 s; machine 1: 4 for 10 s, 8 for 10 s.
  EXPECT_DOUBLE_EQ(r.capacityIntegral[0], 200.0 + 40 + 80);
  const Result replay = testing::runPolicy(w, "fifo");
  EXPECT_DOUBLE_EQ(replay.capacityIntegral[0], r.capacityIntegral[0]);
}

TEST(HistoryTest, RefusesAWorkloadWithoutOutcomes) {
  Builder b;
  b.machine(1, 1).job(0, 0, 1, 1, 1, 10);
  EXPECT_THROW(
      {
        try {
          historyResult(b.w);
        } catch (const InvalidArgument& e) {
          EXPECT_THAT(e.what(), ::testing::HasSubstr("no history to compare with"));
          throw;
        }
      },
      InvalidArgument);
}

// The KTH SP2 log's recorded schedule: every job has a wait and run time.
TEST(HistoryTest, KthLogIsWhollyRecorded) {
  const traces::Workload w =
      traces::loadWorkload(std::string(ALLOT_SOURCE_DIR) +
                           "/tests/data/traces/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz");
  const Result r = historyResult(w);
  EXPECT_EQ(r.summary.at("jobs_finished"), 5000);
  EXPECT_EQ(r.tasks.size(), 5000u);
  const double u = r.summary.at("utilization_cpus");
  EXPECT_GT(u, 0.0);
  EXPECT_LE(u, 1.0);
}

}  // namespace
}  // namespace allot::sim
