// Machine failures injected by the simulator (Config::meanTimeBetweenFailures).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using traces::MachineEvent;
using traces::Workload;

using testing::Builder;
using testing::cpuMem;
using testing::kSec;

// One line of the event log: its simulated time (us) and its text.
struct Line {
  std::int64_t us;
  std::string text;
};

struct LoggedRun {
  Result result;
  std::vector<Line> log;
};

LoggedRun runLogged(const Workload& w, const std::string& policy, const Config& config) {
  Params params;
  if (policy == "drf" || policy == "random") params.set("seed", std::to_string(config.seed));
  auto allocator = makeAllocator(policy, params);
  LoggedRun out;
  Hooks hooks;
  hooks.eventLog = [&](std::string_view line) {
    const std::size_t space = line.find(' ');
    const double seconds = std::stod(std::string(line.substr(0, space)));
    out.log.push_back(
        {static_cast<std::int64_t>(seconds * 1e6 + 0.5), std::string(line.substr(space + 1))});
  };
  out.result = simulate(w, *allocator, config, hooks);
  return out;
}

// The injected failure and repair lines of a log.
std::vector<Line> failureLines(const std::vector<Line>& log) {
  std::vector<Line> lines;
  for (const Line& l : log) {
    if (l.text.starts_with("machine-fail ") || l.text.starts_with("machine-repair ")) {
      lines.push_back(l);
    }
  }
  return lines;
}

bool sameLines(const std::vector<Line>& a, const std::vector<Line>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](auto& x, auto& y) {
           return x.us == y.us && x.text == y.text;
         });
}

// The first line at or after `fromUs` that starts with `prefix`, or nullptr.
const Line* find(const std::vector<Line>& log, const std::string& prefix, std::int64_t fromUs = 0) {
  for (const Line& l : log) {
    if (l.us >= fromUs && l.text.starts_with(prefix)) return &l;
  }
  return nullptr;
}

// The first machine line about machine `m` at or after `fromUs`, or nullptr.
const Line* findMachine(const std::vector<Line>& log, std::uint32_t m, std::int64_t fromUs) {
  const std::string id = "m=" + std::to_string(m);
  for (const Line& l : log) {
    if (l.us < fromUs || !l.text.starts_with("machine-")) continue;
    const std::size_t at = l.text.find(" " + id);
    const std::size_t after = at + 1 + id.size();
    if (at != std::string::npos && (after == l.text.size() || l.text[after] == ' ')) return &l;
  }
  return nullptr;
}

// Four one-cpu machines, 40 one-cpu tasks of 1,000 s arriving over 10,000 s.
Builder smallCluster() {
  Builder b;
  for (int m = 0; m < 4; ++m) b.machine(1, 0);
  for (int j = 0; j < 40; ++j) b.job(j * 250.0, static_cast<std::uint32_t>(j % 3), 1, 1, 0, 1000);
  return b;
}

Config failing(double mtbfS, double mttrS, std::uint64_t seed = 0) {
  Config c;
  c.seed = seed;
  c.meanTimeBetweenFailures = secondsToDuration(mtbfS);
  c.meanTimeToRepair = secondsToDuration(mttrS);
  return c;
}

// Failed machines lose their running instances, which run again as new
// attempts; no instance runs on a machine while it is down, and the down
// time is missing from the capacity.
TEST(FailuresTest, FailedMachinesLoseTheirTasksAndRunNothingUntilRepaired) {
  const Builder b = smallCluster();
  const LoggedRun run = runLogged(b.w, "drf", failing(3000, 500));
  const Result& r = run.result;
  EXPECT_EQ(r.summary.at("jobs_finished"), 40);
  EXPECT_GT(r.counters.machineFailures, 0u);
  EXPECT_EQ(r.summary.at("machine_failures"), static_cast<double>(r.counters.machineFailures));
  EXPECT_GT(r.counters.instancesLost, 0u);

  // Down intervals per machine, from the log.
  std::map<std::uint32_t, std::vector<std::pair<std::int64_t, std::int64_t>>> down;
  std::uint64_t fails = 0;
  for (const Line& l : failureLines(run.log)) {
    unsigned m = 0;
    if (std::sscanf(l.text.c_str(), "machine-fail m=%u", &m) == 1) {
      ++fails;
      down[m].emplace_back(l.us, std::numeric_limits<std::int64_t>::max());
    } else {
      ASSERT_EQ(std::sscanf(l.text.c_str(), "machine-repair m=%u", &m), 1) << l.text;
      ASSERT_FALSE(down[m].empty());
      down[m].back().second = l.us;
    }
  }
  EXPECT_EQ(fails, r.counters.machineFailures);

  std::uint64_t lost = 0;
  double downCpuSeconds = 0;
  for (const auto& [m, spans] : down) {
    for (const auto& [from, to] : spans) {
      downCpuSeconds += static_cast<double>(std::min(to, toMicros(r.end)) - from) / 1e6;
    }
  }
  for (const TaskRecord& t : r.tasks) {
    const std::int64_t start = toMicros(t.start), end = toMicros(t.end);
    for (const auto& [from, to] : down[t.machine]) {
      EXPECT_FALSE(start < to && from < end)
          << "task " << t.job << " ran on m" << t.machine << " from " << start << " to " << end
          << ", down from " << from << " to " << to;
    }
    if (t.state == TaskState::kLost) {
      ++lost;
      // It ended when its machine failed.
      EXPECT_TRUE(std::any_of(down[t.machine].begin(), down[t.machine].end(),
                              [&](const auto& span) { return span.first == end; }));
    }
  }
  EXPECT_EQ(lost, r.counters.instancesLost);
  const double seconds = static_cast<double>(toMicros(r.end)) / 1e6;
  EXPECT_NEAR(r.capacityIntegral[0], 4 * seconds - downCpuSeconds, 1e-6 * seconds);
}

// A machine's failures come from its own stream of the seed, drawn as it
// goes up and down: every policy sees the same ones, the same seed gives
// the same run, another seed other failures.
TEST(FailuresTest, FailuresDependOnTheSeedAloneNotOnThePolicy) {
  const Builder b = smallCluster();
  const LoggedRun drf = runLogged(b.w, "drf", failing(3000, 500, 7));
  const LoggedRun fifo = runLogged(b.w, "fifo", failing(3000, 500, 7));
  std::vector<Line> a = failureLines(drf.log), c = failureLines(fifo.log);
  ASSERT_GT(a.size(), 4u);
  ASSERT_GT(c.size(), 4u);
  const std::size_t common = std::min(a.size(), c.size());
  a.resize(common);
  c.resize(common);
  EXPECT_TRUE(sameLines(a, c));

  const LoggedRun again = runLogged(b.w, "drf", failing(3000, 500, 7));
  EXPECT_TRUE(sameLines(drf.log, again.log));
  EXPECT_EQ(drf.result.summary, again.result.summary);

  const LoggedRun other = runLogged(b.w, "drf", failing(3000, 500, 8));
  EXPECT_FALSE(sameLines(failureLines(drf.log), failureLines(other.log)));
}

// The mean time between failures is what the draws show: 40 machines over
// 1,000,000 s with a mean of 10,000 s up and 1,000 s down fail about
// 40 * 1e6 / 11,000 = 3,636 times.
TEST(FailuresTest, FailureCountFollowsTheMeanTimes) {
  Builder b;
  for (int m = 0; m < 40; ++m) b.machine(1, 0);
  b.job(0, 0, 1, 1, 0, 2'000'000);  // keeps the run going (failures keep it from finishing)
  Config c = failing(10'000, 1'000);
  c.stopAt = fromMicros(1'000'000 * kSec);
  const Result r = runLogged(b.w, "drf", c).result;
  ASSERT_EQ(r.end, c.stopAt);
  const double expected = 40 * 1e6 / 11'000;
  // The count is Poisson-like: 5 standard deviations is about 300.
  EXPECT_NEAR(static_cast<double>(r.counters.machineFailures), expected, 5 * std::sqrt(expected));
  // Machines are up 10,000 / 11,000 of the time. The down fraction, 1/11,
  // is a mean over some 3,600 exponential repairs: about 1.7% relative error
  // per standard deviation, so 0.0015; 5 of them is 0.008.
  EXPECT_NEAR(r.capacityIntegral[0] / (40 * 1e6), 10.0 / 11.0, 0.008);
}

// The trace's own events win: a machine the trace removes while it is in
// repair stays down until the trace adds it again, and a capacity update
// during the repair is what the repair brings back.
TEST(FailuresTest, TraceEventsDuringARepairWin) {
  Builder b;
  b.machine(1, 0).machine(1, 0);
  b.job(0, 0, 1, 1, 0, 1'000'000);  // keeps the run going
  b.w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, cpuMem(1, 0)});
  Config c = failing(20'000, 5'000, 3);
  c.stopAt = fromMicros(300'000 * kSec);

  // Where machine 0 first fails and is repaired with no other trace event.
  const LoggedRun base = runLogged(b.w, "drf", c);
  const Line* fail = find(base.log, "machine-fail m=0");
  ASSERT_NE(fail, nullptr);
  const Line* repair = find(base.log, "machine-repair m=0", fail->us);
  ASSERT_NE(repair, nullptr);
  const std::int64_t mid = (fail->us + repair->us) / 2;

  Builder removed = b;
  removed.w.machineEvents.push_back({fromMicros(mid), 0, MachineEvent::Kind::kRemove, {}});
  removed.w.machineEvents.push_back(
      {fromMicros(repair->us + 1000 * kSec), 0, MachineEvent::Kind::kAdd, cpuMem(2, 0)});
  const LoggedRun r1 = runLogged(removed.w, "drf", c);
  const Line* gone = findMachine(r1.log, 0, mid);
  ASSERT_NE(gone, nullptr);
  EXPECT_EQ(gone->us, mid);
  EXPECT_EQ(gone->text, "machine-remove m=0 (failed)");
  // No repair: the next line about machine 0 is the trace's add.
  const Line* next = findMachine(r1.log, 0, mid + 1);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->us, repair->us + 1000 * kSec) << next->text;
  EXPECT_TRUE(next->text.starts_with("machine-add m=0 capacity=cpus:2")) << next->text;

  // Removed and added back by the trace before its failure: the failure
  // drawn for that up time is void, and the machine draws a new one.
  Builder bounced = b;
  bounced.w.machineEvents.push_back(
      {fromMicros(fail->us - kSec), 0, MachineEvent::Kind::kRemove, {}});
  bounced.w.machineEvents.push_back(
      {fromMicros(fail->us + kSec), 0, MachineEvent::Kind::kAdd, cpuMem(1, 0)});
  const LoggedRun r3 = runLogged(bounced.w, "drf", c);
  const Line* after = findMachine(r3.log, 0, fail->us - kSec);
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE(after->text.starts_with("machine-remove m=0 running=")) << after->text;
  after = findMachine(r3.log, 0, after->us + 1);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->us, fail->us + kSec);
  EXPECT_TRUE(after->text.starts_with("machine-add m=0")) << after->text;
  const Line* refail = find(r3.log, "machine-fail m=0", fail->us - kSec);
  ASSERT_NE(refail, nullptr);
  EXPECT_GT(refail->us, fail->us + kSec);

  Builder updated = b;
  updated.w.machineEvents.push_back(
      {fromMicros(mid), 0, MachineEvent::Kind::kUpdate, cpuMem(3, 0)});
  const LoggedRun r2 = runLogged(updated.w, "drf", c);
  const Line* back = findMachine(r2.log, 0, mid + 1);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->text, "machine-repair m=0");
  back = find(r2.log, "machine-add m=0", mid + 1);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->us, repair->us);
  EXPECT_TRUE(back->text.starts_with("machine-add m=0 capacity=cpus:3")) << back->text;
}

// Failures alone do not keep a run going: it ends with its last job, and a
// run where nothing can happen any more (gangs that starve each other under
// the default filters) ends, once every machine is back, as it does without
// failures, instead of failing and repairing machines for ever.
TEST(FailuresTest, FailuresAloneDoNotKeepARunGoing) {
  const Builder small = smallCluster();
  const Result done = runLogged(small.w, "drf", failing(3000, 500)).result;
  std::int64_t lastEnd = 0;
  for (const TaskRecord& t : done.tasks) lastEnd = std::max(lastEnd, toMicros(t.end));
  EXPECT_EQ(toMicros(done.end), lastEnd);

  // Machines fail and come back while the gangs are on their way.
  Builder b;
  for (int m = 0; m < 4; ++m) b.machine(1, 0);
  b.job(0, 2, 1, 1, 0, 1).job(1000, 0, 3, 1, 0, 100, true).job(1000, 1, 3, 1, 0, 100, true);
  const LoggedRun starved = runLogged(b.w, "drf", failing(50, 10));
  const Result& r = starved.result;
  EXPECT_EQ(r.summary.at("jobs_finished"), 1);
  EXPECT_EQ(r.summary.at("jobs_unfinished"), 2);
  EXPECT_GE(r.end, fromMicros(1000 * kSec));
  EXPECT_EQ(r.idleEnd, r.end);
  EXPECT_EQ(r.stalledAt, kTimeNever);
  // Every machine was up at the end: the last failure line is a repair.
  const std::vector<Line> lines = failureLines(starved.log);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back().text.starts_with("machine-repair")) << lines.back().text;
}

TEST(FailuresTest, BadMeanTimesAreRefused) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 1);
  auto refused = [&](const Config& c, const std::string& what) {
    try {
      runLogged(b.w, "drf", c);
      ADD_FAILURE() << "expected InvalidArgument with " << what;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused(failing(100, 0), "the mean time to repair must be positive when failures are injected");
  Config negative = failing(100, 10);
  negative.meanTimeBetweenFailures = Duration{-1};
  refused(negative, "failures' mean times must not be negative");
  refused(failing(1e18, 10), "mean time between failures must be at most 100 years");
  refused(failing(100, 1e18), "mean time to repair must be at most 100 years");
  // Without failures the repair time is not used.
  Config off;
  off.meanTimeToRepair = Duration{0};
  EXPECT_EQ(runLogged(b.w, "drf", off).result.summary.at("jobs_finished"), 1);
  EXPECT_EQ(runLogged(b.w, "drf", off).result.summary.count("machine_failures"), 0u);
}

// Notes before a run: a limit of attempts matters with injected failures
// even where the trace removes no machine, and failures that tasks rarely
// outlive are pointed out when nothing bounds the run.
TEST(FailuresTest, NotesSayWhatFailuresChange) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 500).job(0, 1, 1, 1, 0, 50);
  auto notes = [&](const Config& c) { return inertOptionNotes(b.w, c, kCliSpelling); };
  Config attempts;
  attempts.maxAttempts = 2;
  ASSERT_EQ(notes(attempts).size(), 1u);
  EXPECT_TRUE(notes(attempts)[0].starts_with(
      "--max-attempts has no effect on this workload: no machine of it is ever removed (nor "
      "fails: --mtbf)"))
      << notes(attempts)[0];
  Config failingAttempts = failing(1000, 10);
  failingAttempts.maxAttempts = 2;
  EXPECT_TRUE(notes(failingAttempts).empty());

  // The 500 s task outlives a mean up time of 1,000 s with probability 0.61;
  // of 100 s, 0.0067.
  EXPECT_TRUE(notes(failing(1000, 10)).empty());
  const std::vector<std::string> endless = notes(failing(100, 10));
  ASSERT_EQ(endless.size(), 1u);
  EXPECT_EQ(endless[0],
            "the longest task (500 s) runs to its end on a machine failing every 100 s on average "
            "with probability 0.0067: such tasks are lost and retried until one does, which can "
            "keep the run going for ever; --max-attempts or --stop-at bounds it");
  Config bounded = failing(100, 10);
  bounded.maxAttempts = 3;
  EXPECT_TRUE(notes(bounded).empty());
  bounded.maxAttempts = 0;
  bounded.stopAt = fromMicros(10'000 * kSec);
  EXPECT_TRUE(notes(bounded).empty());
  // Bounded, the run ends: the task fails its job after 3 losses.
  bounded.stopAt = kTimeNever;
  bounded.maxAttempts = 3;
  const Result r = runLogged(b.w, "drf", bounded).result;
  EXPECT_EQ(r.summary.at("jobs_failed") + r.summary.at("jobs_finished"), 2);
}

}  // namespace
}  // namespace allot::sim
