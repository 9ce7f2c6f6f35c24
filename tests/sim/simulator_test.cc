#include "allot/sim/simulator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/sim/result_file.h"
#include "allot/traces/load.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using traces::Job;
using traces::Machine;
using traces::MachineEvent;
using traces::Task;
using traces::Workload;

using testing::Builder;
using testing::cpuMem;
using testing::kSec;

Result run(const Workload& w, const std::string& policy, const Config& config = {},
           const Hooks& hooks = {}) {
  Params params;
  if (policy == "drf" || policy == "random") params.set("seed", std::to_string(config.seed));
  std::unique_ptr<Allocator> allocator = makeAllocator(policy, params);
  return simulate(w, *allocator, config, hooks);
}

// Instances of job `j` running at time `t` (seconds).
std::uint64_t runningAt(const Result& r, std::uint32_t j, double t) {
  const auto at = fromMicros(static_cast<std::int64_t>(t * kSec));
  std::uint64_t n = 0;
  for (const TaskRecord& rec : r.tasks) {
    if (rec.job == j && rec.start <= at && at < rec.end) n += rec.count;
  }
  return n;
}

std::string shared(const std::string& rel) {
  return std::string(ALLOT_SHARED_TRACES_DIR) + "/" + rel;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The DRF paper example as a simulation: one machine of <9 CPU, 18 GB>,
// user A's tasks <1 CPU, 4 GB>, user B's <3 CPU, 1 GB>, tasks far longer
// than the allocation rounds. With one launch per offer (progressive
// filling) and no decline filters, the steady state is A 3 tasks, B 2.
TEST(SimulatorTest, DrfPaperExampleReachesThreeAndTwoTasks) {
  Builder b;
  b.machine(9, 18 * 1024).job(0, 0, 10, 1, 4 * 1024, 1000).job(0, 1, 10, 3, 1024, 1000);
  Config c;
  c.launchesPerOffer = 1;
  c.refuseFor = Duration{0};
  for (std::uint64_t seed : {0u, 1u, 2u, 3u}) {
    c.seed = seed;
    const Result r = run(b.w, "drf", c);
    EXPECT_EQ(runningAt(r, 0, 100), 3u) << "seed " << seed;
    EXPECT_EQ(runningAt(r, 1, 100), 2u) << "seed " << seed;
  }
}

// Role weights and quotas of a run reach the allocator: two roles with the
// same long tasks on one machine of 12 CPUs split it 6/6 by default, 8/4
// with role a's weight 2 (weighted DRF), 9/3 with role b limited to 3 CPUs,
// and 2/10 with a guarantee of 10 CPUs for b (met before fair sharing).
TEST(SimulatorTest, RoleWeightsAndQuotasShapeTheDrfSplit) {
  Builder b;
  b.w.roles = {"a", "b"};
  b.machine(12, 48 * 1024).job(0, 0, 20, 1, 1024, 1000).job(0, 1, 20, 1, 1024, 1000);
  b.w.jobs[1].role = 1;
  Config c;
  c.grouping = Grouping::kRole;
  c.launchesPerOffer = 1;
  c.refuseFor = Duration{0};
  auto split = [&](std::vector<RoleSetting> roles) {
    c.roles = std::move(roles);
    const Result r = run(b.w, "drf", c);
    return std::pair{runningAt(r, 0, 100), runningAt(r, 1, 100)};
  };
  auto role = [](std::string name, double weight, std::string guarantee, std::string limit) {
    RoleSetting s;
    s.role = std::move(name);
    s.weight = weight;
    s.guarantee = std::move(guarantee);
    s.limit = std::move(limit);
    return s;
  };
  EXPECT_EQ(split({}), (std::pair<std::uint64_t, std::uint64_t>{6, 6}));
  EXPECT_EQ(split({role("a", 2, "", "")}), (std::pair<std::uint64_t, std::uint64_t>{8, 4}));
  EXPECT_EQ(split({role("b", 1, "", "cpus:3")}), (std::pair<std::uint64_t, std::uint64_t>{9, 3}));
  EXPECT_EQ(split({role("b", 1, "cpus:10", "")}), (std::pair<std::uint64_t, std::uint64_t>{2, 10}));

  // Bad settings are refused naming the role and the part.
  auto refused = [&](RoleSetting setting, const std::string& words) {
    c.roles = {std::move(setting)};
    try {
      run(b.w, "drf", c);
      ADD_FAILURE() << "accepted; wanted: " << words;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused(role("a", 0, "", ""), "role 'a': weight must be a positive number");
  refused(role("a", 1, "cpus:x", ""), "role 'a': guarantee 'cpus:x'");
  refused(role("a", 1, "", "cpus(a):2"), "role 'a': limit cpus(a):2: quota is unreserved");
  refused(role("a", 1, "cpus:4", "cpus:2"), "exceeds its limit");
  c.roles = {role("a", 2, "", ""), role("a", 3, "", "")};
  EXPECT_THROW(run(b.w, "drf", c), InvalidArgument);

  // A role no framework is in: the run says so.
  c.roles = {role("nobody", 2, "", "")};
  const std::vector<std::string> notes = inertOptionNotes(b.w, c, kCliSpelling);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("role 'nobody' have no effect: no framework of this run is in it "
                          "(its roles: a, b)"),
            std::string::npos)
      << notes[0];
}

// The same cluster under fifo, frameworks launching all that fits: the first
// framework takes what it can use, the second gets the rest. The contrast
// shows the DRF test measures the policy.
TEST(SimulatorTest, FifoFillsTheFirstFrameworkFirst) {
  Builder b;
  b.machine(9, 18 * 1024).job(0, 0, 10, 1, 4 * 1024, 1000).job(0, 1, 10, 3, 1024, 1000);
  const Result r = run(b.w, "fifo");
  EXPECT_EQ(runningAt(r, 0, 100), 4u);  // 16 GB of 18
  EXPECT_EQ(runningAt(r, 1, 100), 1u);  // 3 of the 5 CPUs left
}

// A strict FCFS queue holds back a small job behind a wide one that does not
// fit yet (no backfilling); first-fit lets the small one through.
// Instances fit an offer within fitsIn's tolerance (a hair more than it
// holds); they must take only what it holds, or each gives a hair more back
// at its end than was lent, the framework's books on the agent come up short
// while its long task runs, and that task's end fails the run. Here 20 short
// tasks each ask 5e-10 (relative) more memory than the last one had.
TEST(SimulatorTest, TasksFittingWithinToleranceKeepTheBooksExact) {
  Builder b;
  b.machine(2, 1.0).job(0, 0, 1, 1, 0.5, 3000);  // holds half the memory throughout
  double mem = 0.5;
  for (int k = 1; k <= 20; ++k) {
    mem *= 1 + 5e-10;
    b.job(100.0 * k, 0, 1, 1, mem, 10);
  }
  Result r;
  ASSERT_NO_THROW(r = run(b.w, "fifo"));
  for (const JobRecord& job : r.jobs) EXPECT_EQ(job.state, JobState::kFinished) << job.traceId;
}

TEST(SimulatorTest, FcfsBlocksBehindTheHeadFirstFitDoesNot) {
  Builder b;
  b.machine(2, 0).machine(2, 0);
  b.job(0, 0, 3, 1, 0, 100, true);  // takes 3 of 4 CPUs until t=100
  b.job(1, 0, 4, 1, 0, 10, true);   // needs all 4: waits for t=100
  b.job(2, 0, 1, 1, 0, 10, true);   // fits now, but queued behind job 2
  Config c;
  c.grouping = Grouping::kSingle;
  c.holdOffers = true;
  c.queue = Queue::kFcfs;
  Result r = run(b.w, "fifo", c);
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(100 * kSec));
  EXPECT_EQ(r.jobs[2].firstStart, fromMicros(110 * kSec));
  c.queue = Queue::kFirstFit;
  r = run(b.w, "fifo", c);
  EXPECT_EQ(r.jobs[2].firstStart, fromMicros(2 * kSec));
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(100 * kSec));
}

// A gang starts all of its instances at once, across machines.
TEST(SimulatorTest, GangStartsWholeAcrossMachines) {
  Builder b;
  b.machine(1, 0).machine(1, 0).machine(1, 0);
  b.job(0, 0, 1, 1, 0, 50, true).job(0, 0, 3, 1, 0, 10, true);
  Config c;
  c.grouping = Grouping::kSingle;
  c.holdOffers = true;
  c.queue = Queue::kFcfs;
  const Result r = run(b.w, "fifo", c);
  std::vector<std::uint32_t> machines;
  for (const TaskRecord& t : r.tasks) {
    if (t.job != 1) continue;
    EXPECT_EQ(t.start, fromMicros(50 * kSec));
    machines.push_back(t.machine);
  }
  EXPECT_EQ(machines.size(), 3u);
  EXPECT_EQ(r.jobs[1].end, fromMicros(60 * kSec));
}

// A gang that fits only in part takes nothing: what it placed on the way is
// given back, and a task of the same demand later in the queue finds that
// room in the same decision.
TEST(SimulatorTest, GangThatDoesNotFitLeavesItsRoomToLikeTasks) {
  Builder b;
  b.machine(1, 1).machine(1, 1).machine(1, 0.5).machine(0.5, 1);
  b.job(0, 0, 1, 1, 1, 100);  // holds one of the two (1, 1) machines
  // At 1 s, room for the gang's sum, but for one of its (1 cpu, 1 mem)
  // tasks only; then the same demand alone, behind it in the queue.
  b.job(1, 0, 2, 1, 1, 10, true);
  b.job(1, 0, 1, 1, 1, 10);
  const Result r = run(b.w, "drf");
  EXPECT_EQ(r.jobs[2].firstStart, fromMicros(1 * kSec));
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(100 * kSec));
}

// A decision skips its first-fit walk when the offers cannot hold the
// queue's smallest demand. A small task behind a long queue of tasks that do
// not fit yet still starts at once: when queued with them, and when it
// arrives after walks have found only large ones.
TEST(SimulatorTest, SmallTaskBehindALongBlockedQueueStartsAtOnce) {
  Builder b;
  b.machine(2, 2).machine(2, 2);
  b.job(0, 0, 2, 1.5, 1.5, 100);  // leaves (0.5, 0.5) on each machine until t=100
  for (int i = 0; i < 20; ++i) b.job(0.5, 0, 1, 1, 1, 10);
  b.job(0.5, 0, 1, 0.25, 0.25, 10);  // job 21
  b.job(5, 0, 1, 0.25, 0.25, 10);    // job 22
  const Result r = run(b.w, "drf");
  EXPECT_EQ(r.jobs[21].firstStart, fromMicros(1 * kSec));
  EXPECT_EQ(r.jobs[22].firstStart, fromMicros(5 * kSec));
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(100 * kSec));
}

// A job waits for the jobs it depends on to finish, then starts.
TEST(SimulatorTest, DependenciesAreHonoured) {
  Builder b;
  b.machine(4, 0);
  b.job(0, 0, 1, 1, 0, 30).job(0, 0, 1, 1, 0, 5, false, {0});
  const Result r = run(b.w, "drf");
  EXPECT_EQ(r.jobs[1].ready, fromMicros(30 * kSec));
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(30 * kSec));
  EXPECT_EQ(r.jobs[1].state, JobState::kFinished);
}

// ignoredDimensions names the dimensions tasks ask for and no machine has
// (left out of placement, with a note from `allot sim`); those of entries of
// Workload::demands no task names do not count.
TEST(SimulatorTest, IgnoredDimensionsAreThoseNoMachineHas) {
  Builder b;
  b.machine(4, 1024).job(0, 0, 1, 1, 100, 10);
  EXPECT_TRUE(ignoredDimensions(b.w).empty());
  const int gpus = *b.w.dims->find("gpus");
  Scalars withGpu = cpuMem(1, 100);
  withGpu[gpus] = 1;
  b.w.demands.push_back(withGpu);  // no task names it yet
  EXPECT_TRUE(ignoredDimensions(b.w).empty());
  b.w.tasks[0].demand = static_cast<std::uint32_t>(b.w.demands.size() - 1);
  EXPECT_EQ(ignoredDimensions(b.w), std::vector<std::string>{"gpus"});
  b.w.machines[0].capacity[gpus] = 2;
  EXPECT_TRUE(ignoredDimensions(b.w).empty());
  // Machines with none of what tasks ask for: refused, nothing left out.
  for (Machine& m : b.w.machines) m.capacity = Scalars::Zero();
  b.w.machines[0].capacity[*b.w.dims->find("disk")] = 1;
  b.w.tasks[0].demand = 0;
  EXPECT_TRUE(ignoredDimensions(b.w).empty());
}

// When no machine has any dimension the tasks ask for, leaving those out of
// placement would have the tasks ask for nothing: the run is refused, naming
// what the tasks ask for and what the machines have (sweep finding 13:
// `--cluster '3*gpus:1'` reported every job unfinished).
TEST(SimulatorTest, RefusesMachinesWithNoneOfWhatTasksAskFor) {
  Builder b;
  b.machine(4, 1024).job(0, 0, 1, 1, 100, 10);
  const int gpus = *b.w.dims->find("gpus");
  for (traces::Machine& m : b.w.machines) {
    m.capacity = Scalars::Zero();
    m.capacity[gpus] = 1;
  }
  try {
    run(b.w, "fifo");
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("tasks ask for cpus, mem and no machine has any"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("the machines have gpus"), std::string::npos) << e.what();
  }
  // One dimension in common is enough: the others are left out.
  b.w.machines[0].capacity[0] = 4;
  EXPECT_EQ(run(b.w, "fifo").jobs[0].state, JobState::kFinished);
}

// A min_allocatable whose every amount asks for a resource no machine has
// (a mistyped name) would have nothing offered, ever: refused, naming what
// the machines have. One amount the machines can meet is enough.
TEST(SimulatorTest, RefusesMinAllocatableNoMachineCanMeet) {
  Builder b;
  b.machine(4, 1024).job(0, 0, 1, 1, 100, 10);
  Params params;
  params.set("min_allocatable", "cpu:1");
  std::unique_ptr<Allocator> typo = makeAllocator("drf", params);
  try {
    simulate(b.w, *typo, Config{});
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(
        std::string(e.what()).find(
            "min_allocatable asks for a resource no machine has (the machines have cpus, mem)"),
        std::string::npos)
        << e.what();
  }
  params.set("min_allocatable", "cpu:1|mem:32");
  std::unique_ptr<Allocator> oneGood = makeAllocator("drf", params);
  EXPECT_EQ(simulate(b.w, *oneGood, Config{}).jobs[0].state, JobState::kFinished);
}

// Jobs that fit no machine (or, as gangs, not the whole cluster) are
// reported unschedulable, and so are the jobs waiting on them; they do not
// block the queue.
TEST(SimulatorTest, UnschedulableJobsAreReportedAndSkipped) {
  Builder b;
  b.machine(2, 100).machine(2, 100);
  b.job(0, 0, 1, 3, 0, 10);        // wider than any machine
  b.job(0, 0, 5, 1, 0, 10, true);  // gang wider than the cluster
  b.job(0, 0, 1, 1, 0, 10, false, {0});
  b.job(1, 0, 1, 1, 0, 10);
  Config c;
  c.grouping = Grouping::kSingle;
  c.queue = Queue::kFcfs;
  const Result r = run(b.w, "fifo", c);
  EXPECT_EQ(r.jobs[0].state, JobState::kUnschedulable);
  EXPECT_EQ(r.jobs[1].state, JobState::kUnschedulable);
  EXPECT_EQ(r.jobs[2].state, JobState::kUnschedulable);
  EXPECT_EQ(r.jobs[3].state, JobState::kFinished);
  EXPECT_EQ(r.jobs[3].firstStart, fromMicros(1 * kSec));
  EXPECT_EQ(r.summary.at("jobs_unschedulable"), 3.0);
}

// A machine that leaves loses its running instances; they are resubmitted
// as a second attempt and finish elsewhere.
TEST(SimulatorTest, LostInstancesAreResubmitted) {
  Builder b;
  b.machine(1, 0).machine(1, 0);
  b.job(0, 0, 1, 1, 0, 100);
  b.w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, cpuMem(1, 0)});
  b.w.machineEvents.push_back({fromMicros(10 * kSec), 1, MachineEvent::Kind::kAdd, cpuMem(1, 0)});
  b.w.machineEvents.push_back({fromMicros(20 * kSec), 0, MachineEvent::Kind::kRemove, {}});
  const Result r = run(b.w, "drf");
  ASSERT_EQ(r.tasks.size(), 2u);
  EXPECT_EQ(r.tasks[0].state, TaskState::kLost);
  EXPECT_EQ(r.tasks[0].machine, 0u);
  EXPECT_EQ(r.tasks[1].attempt, 1u);
  EXPECT_EQ(r.tasks[1].machine, 1u);
  EXPECT_EQ(r.tasks[1].start, fromMicros(20 * kSec));
  EXPECT_EQ(r.jobs[0].end, fromMicros(120 * kSec));
  EXPECT_EQ(r.jobs[0].lostInstances, 1u);
}

// With max_attempts, a job whose task is lost that often fails.
TEST(SimulatorTest, MaxAttemptsFailsTheJob) {
  Builder b;
  b.machine(1, 0);
  b.job(0, 0, 1, 1, 0, 100);
  b.w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, cpuMem(1, 0)});
  b.w.machineEvents.push_back({fromMicros(5 * kSec), 0, MachineEvent::Kind::kRemove, {}});
  Config c;
  c.maxAttempts = 1;
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.jobs[0].state, JobState::kFailed);
}

// Frameworks answer offers after their decision latency.
TEST(SimulatorTest, DecisionLatencyDelaysLaunches) {
  Builder b;
  b.machine(4, 0).job(3, 0, 1, 1, 0, 10);
  Config c;
  c.decisionLatency = std::chrono::milliseconds(250);
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.jobs[0].firstStart, fromMicros(3 * kSec + 250'000));
}

// Rounds run on multiples of the allocation interval: work submitted at
// 1.5 s waits for the round at 2 s.
TEST(SimulatorTest, RoundsRunOnTheIntervalGrid) {
  Builder b;
  b.machine(4, 0).job(1.5, 0, 1, 1, 0, 10);
  const Result r = run(b.w, "drf");
  EXPECT_EQ(r.jobs[0].firstStart, fromMicros(2 * kSec));
}

// A hoarded offer held past the offer timeout is rescinded.
TEST(SimulatorTest, OfferTimeoutRescindsHeldOffers) {
  Builder b;
  b.machine(1, 0).machine(1, 0);
  b.job(0, 0, 1, 1, 0, 100, true);
  // Needs both machines: the framework holds the free one while job 0 runs.
  b.job(1, 0, 2, 1, 0, 10, true);
  Config c;
  c.grouping = Grouping::kSingle;
  c.holdOffers = true;
  c.offerTimeout = std::chrono::seconds(30);
  c.stopAt = fromMicros(50 * kSec);
  const Result r = run(b.w, "fifo", c);
  EXPECT_GE(r.counters.rescinds, 1u);
}

// Frameworks that publish their pending shapes are offered what covers
// them, not the whole cluster; the schedule is the same here.
TEST(SimulatorTest, PublishedDemandCapsOffers) {
  Builder b;
  for (int i = 0; i < 10; ++i) b.machine(1, 1024);
  b.job(0, 0, 2, 1, 100, 10);
  Config c;
  const Result whole = run(b.w, "drf", c);
  c.demandWindow = 8;
  const Result capped = run(b.w, "drf", c);
  EXPECT_EQ(whole.counters.offers, 10u);
  EXPECT_EQ(capped.counters.offers, 2u);
  EXPECT_EQ(capped.jobs[0].end, whole.jobs[0].end);
}

// Grants the last task each framework published, sized to it, on the first
// agent with room, newest framework first; reclaims everything of the
// framework that holds agent 0 when another framework waits, once. Tests the host's side of hints
// and reclaims, not a policy anyone would use.
class LastFirstPolicy final : public Allocator {
 public:
  bool preemptOnce = false;
  std::vector<std::uint64_t> recoveredTasks;

 private:
  std::string_view name() const override { return "last-first"; }
  void decide(TimePoint /*now*/) override {
    const ClusterState& s = state();
    for (FrameworkIndex fw = static_cast<FrameworkIndex>(s.frameworkSlots()); fw-- > 0;) {
      const FrameworkState& f = s.framework(fw);
      if (!f.alive || f.suppressed || f.demand.empty()) continue;
      const PendingTask& t = f.demand.back();
      bool granted = false;
      for (AgentIndex a = 0; a < s.agentSlots() && !granted; ++a) {
        if (s.agent(a).alive && s.offerable(fw, a).contains(t.shape)) {
          granted = grant(fw, a, t.shape, t.key);
        }
      }
      if (granted || !preemptOnce) continue;
      for (FrameworkIndex other = 0; other < s.frameworkSlots(); ++other) {
        if (other != fw && !s.allocatedOn(other, 0).empty()) {
          reclaim(other, 0, s.allocatedOn(other, 0));
          preemptOnce = false;
          break;
        }
      }
    }
  }
  void onRecovered(FrameworkIndex /*fw*/, AgentIndex /*agent*/, const Resources& /*resources*/,
                   std::uint64_t task) override {
    if (task != kNoTask) recoveredTasks.push_back(task);
  }
};

// An offer the policy sized to a named task launches that task, even when
// an earlier task of the queue would fit it: job 2 (granted first) starts at
// 0 and job 1 after it. The finished task's key comes back with its resources.
TEST(SimulatorTest, HintedOffersLaunchTheNamedTask) {
  Builder b;
  b.machine(1, 1024).job(0, 0, 1, 1, 100, 10).job(0, 0, 1, 1, 100, 5);
  Config c;
  c.grouping = Grouping::kSingle;
  c.queue = Queue::kFcfs;
  c.demandWindow = 10;
  LastFirstPolicy policy;
  const Result r = simulate(b.w, policy, c);
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(0));
  EXPECT_EQ(r.jobs[0].firstStart, fromMicros(5 * kSec));
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_EQ(policy.recoveredTasks.size(), 2u);
}

// A reclaim kills the holder's newest running instances on that agent; they
// are recorded as preempted and come back as a new attempt, which finishes.
TEST(SimulatorTest, ReclaimPreemptsAndResubmits) {
  Builder b;
  b.machine(1, 1024).job(0, 0, 1, 1, 100, 100).job(5, 1, 1, 1, 100, 10);
  Config c;
  c.demandWindow = 10;
  LastFirstPolicy policy;
  policy.preemptOnce = true;
  const Result r = simulate(b.w, policy, c);
  EXPECT_EQ(r.counters.instancesPreempted, 1u);
  ASSERT_EQ(r.tasks.size(), 3u);
  EXPECT_EQ(r.tasks[0].state, TaskState::kPreempted);
  EXPECT_EQ(r.tasks[0].end, fromMicros(5 * kSec));
  // The kill frees the machine at once, and a round at the same time gives it to job 2.
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(5 * kSec));
  EXPECT_EQ(r.tasks[2].attempt, 1u);
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_EQ(r.jobs[0].end, fromMicros(115 * kSec));
  EXPECT_EQ(r.jobs[0].lostInstances, 0u);  // preempted is not lost
}

// Offers agent 0 to framework 0 and, in the same decision, reclaims what
// framework 0 holds there: a policy at odds with itself (fair and capacity
// with preemption once did this at the edge of a queue's share).
class GrantThenReclaimPolicy final : public Allocator {
 private:
  std::string_view name() const override { return "grant-then-reclaim"; }
  void decide(TimePoint /*now*/) override {
    const ClusterState& s = state();
    if (s.frameworkSlots() == 0 || !s.framework(0).alive || s.agentSlots() == 0) return;
    const Resources free = s.offerable(0, 0);
    if (!free.empty()) grant(0, 0, free);
    if (!s.allocatedOn(0, 0).empty()) reclaim(0, 0, s.allocatedOn(0, 0));
  }
};

// A reclaim that only takes back offers asks for the next round strictly
// later, as an offer timeout does: rounds at one instant would repeat the
// same grant and reclaim forever, and the run never ended.
TEST(SimulatorTest, ReclaimingOnlyOffersLetsTimeMoveOn) {
  Builder b;
  b.machine(1, 1024).job(0, 0, 1, 1, 100, 10);
  Config c;
  c.stopAt = fromMicros(5 * kSec);
  GrantThenReclaimPolicy policy;
  const Result r = simulate(b.w, policy, c);
  EXPECT_EQ(r.end, fromMicros(5 * kSec));
  // One grant and one rescind a round, a round a second.
  EXPECT_LE(r.counters.rescinds, 6u);
  EXPECT_GE(r.counters.rescinds, 5u);
}

// A framework holding offers (hold_offers) with nothing left to launch gives
// them back once another framework has work: user 1's job runs on the
// machines user 0 held (it waited forever). A framework alone keeps them
// for its next work, declining nothing.
TEST(SimulatorTest, IdleHoardersGiveOffersBackToFrameworksWithWork) {
  Builder b;
  b.machine(2, 0).machine(2, 0);
  b.job(0, 0, 1, 1, 0, 100);
  b.job(200, 1, 2, 2, 0, 50, true);
  Config c;
  c.holdOffers = true;
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.jobs[1].state, JobState::kFinished);
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(200 * kSec));
  c.grouping = Grouping::kSingle;
  const Result alone = run(b.w, "drf", c);
  EXPECT_EQ(alone.jobs[1].firstStart, fromMicros(200 * kSec));
  EXPECT_EQ(alone.counters.declines, 0u);
}

// With a launch cap of one instance per offer, an agent's leftover comes
// back at the next round (progressive filling), not once its free resources
// grow: four 0.25-cpu instances on one cpu start a second apart.
TEST(SimulatorTest, LaunchCapLeftoversComeBackNextRound) {
  Builder b;
  b.machine(1, 0).job(0, 0, 4, 0.25, 0, 100);
  Config c;
  c.launchesPerOffer = 1;
  const Result r = run(b.w, "drf", c);
  ASSERT_EQ(r.tasks.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(r.tasks[i].start, fromMicros(static_cast<std::int64_t>(i) * kSec)) << i;
  }
}

// A gang wider than the launch cap allows in one decision (cap x machines)
// can never start: it is reported unschedulable, not left waiting (its
// warning blamed the offers). One that fits the cap runs.
TEST(SimulatorTest, GangsBeyondTheLaunchCapAreUnschedulable) {
  Builder b;
  b.machine(4, 0).machine(4, 0);
  b.job(0, 0, 4, 1, 0, 10, true).job(0, 1, 2, 1, 0, 10, true);
  Config c;
  c.launchesPerOffer = 1;
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.jobs[0].state, JobState::kUnschedulable);
  EXPECT_EQ(r.jobs[1].state, JobState::kFinished);
}

// An offer timeout not longer than the decision latency would rescind every
// offer before its framework answers: refused, naming both.
TEST(SimulatorTest, OfferTimeoutNotAfterTheLatencyIsRefused) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 1);
  Config c;
  c.decisionLatency = std::chrono::seconds(3);
  c.offerTimeout = std::chrono::seconds(2);
  try {
    run(b.w, "fifo", c);
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("offer timeout (2 s) must be longer than the decision "
                                         "latency (3 s)"),
              std::string::npos)
        << e.what();
  }
  c.offerTimeout = std::chrono::seconds(4);
  EXPECT_EQ(run(b.w, "fifo", c).jobs[0].state, JobState::kFinished);
}

// Only instances lost with their machine count towards maxAttempts: a task
// preempted once and then lost once fails no job with maxAttempts 2.
TEST(SimulatorTest, PreemptionsDoNotCountTowardsMaxAttempts) {
  Builder b;
  b.machine(1, 1024).job(0, 0, 1, 1, 100, 100).job(5, 1, 1, 1, 100, 10);
  // Up at 0 (a machine with events starts down), gone from 20 s to 30 s.
  for (const auto& [at, kind] : {std::pair{0, traces::MachineEvent::Kind::kAdd},
                                 std::pair{20, traces::MachineEvent::Kind::kRemove},
                                 std::pair{30, traces::MachineEvent::Kind::kAdd}}) {
    traces::MachineEvent e;
    e.time = fromMicros(at * kSec);
    e.kind = kind;
    e.capacity = cpuMem(1, 1024);
    b.w.machineEvents.push_back(e);
  }
  Config c;
  c.demandWindow = 10;
  c.maxAttempts = 2;
  LastFirstPolicy policy;
  policy.preemptOnce = true;
  const Result r = simulate(b.w, policy, c);
  EXPECT_EQ(r.counters.instancesPreempted, 1u);
  EXPECT_EQ(r.counters.instancesLost, 1u);
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  c.maxAttempts = 1;
  LastFirstPolicy again;
  again.preemptOnce = true;
  EXPECT_EQ(simulate(b.w, again, c).jobs[0].state, JobState::kFailed);
}

// The run ends when its last job does: a filter's wake long after (here
// 1,000 s) changes nothing and stretched the end, lowering utilization.
TEST(SimulatorTest, RunEndsWhenTheLastJobDoes) {
  Builder b;
  b.machine(2, 0).job(0, 0, 1, 1, 0, 100);
  Config c;
  c.refuseFor = secondsToDuration(1000);
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.end, fromMicros(100 * kSec));
  EXPECT_DOUBLE_EQ(r.summary.at("utilization_cpus"), 0.5);
}

// A job with no task instances starts and ends when it becomes ready: its
// wait is 0, not the distance to the end of time.
TEST(SimulatorTest, JobWithoutInstancesWaitsNothing) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 10).job(3, 0, 1, 1, 0, 10);
  b.w.jobs[1].taskCount = 0;  // job 2 has no task records
  b.w.tasks.pop_back();
  const Result r = run(b.w, "drf", Config{});
  EXPECT_EQ(r.jobs[1].state, JobState::kFinished);
  EXPECT_EQ(r.jobs[1].firstStart, fromMicros(3 * kSec));
  EXPECT_LT(r.summary.at("wait_s_p99"), 1.0);
}

// The warning of a run cut short suggests keeping offers only to a run that
// did not: one that held them is pointed at the offer timeout.
TEST(SimulatorTest, CutShortWarningFitsTheRunsOptions) {
  const std::map<std::string, double> stalled{{"stalled_at_s", 100}, {"jobs_unfinished", 2}};
  const std::map<std::string, double> idle{{"idle_end_s", 100}, {"jobs_unfinished", 2}};
  for (const auto* summary : {&stalled, &idle}) {
    const std::string declining = cutShortWarning(*summary, kCliSpelling, false);
    const std::string holding = cutShortWarning(*summary, kCliSpelling, true);
    EXPECT_NE(declining.find("--hold-offers"), std::string::npos) << declining;
    EXPECT_EQ(holding.find("--hold-offers"), std::string::npos) << holding;
    EXPECT_NE(holding.find("--offer-timeout gives held offers back"), std::string::npos) << holding;
    EXPECT_NE(holding.find("2 jobs unfinished"), std::string::npos) << holding;
  }
  EXPECT_EQ(cutShortWarning({{"jobs_unfinished", 2}}, kCliSpelling, true), "");
}

// Runs `a` and `b` give the same schedule: every launch's job, task,
// machine, start and end, and the same summary (NaN where the other has NaN:
// the JCT of a run that finished no job).
void expectSameSchedule(const Result& a, const Result& b) {
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    const TaskRecord& x = a.tasks[i];
    const TaskRecord& y = b.tasks[i];
    EXPECT_EQ(std::tie(x.job, x.task, x.count, x.machine, x.start, x.end),
              std::tie(y.job, y.task, y.count, y.machine, y.start, y.end))
        << "launch " << i;
  }
  ASSERT_EQ(a.summary.size(), b.summary.size());
  for (const auto& [name, value] : a.summary) {
    ASSERT_TRUE(b.summary.contains(name)) << name;
    const double other = b.summary.at(name);
    if (std::isnan(value) && std::isnan(other)) continue;
    EXPECT_EQ(value, other) << name;
  }
}

bool hasNote(const std::vector<std::string>& notes, std::string_view text) {
  return std::any_of(notes.begin(), notes.end(),
                     [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

// Each option inertOptionNotes calls without effect is noted where it is
// set, and only there, and the run it is noted for is the run without it:
// the claim each note makes holds on a cluster where offers are declined,
// held and left over (two users' jobs wider than a machine).
TEST(SimulatorTest, InertOptionsAreNotedAndChangeNothing) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096);
  for (std::uint32_t i = 0; i < 12; ++i) {
    b.job(3.0 * i, i % 2, 1 + i % 5, 1 + i % 3, 512.0 * (1 + i % 4), 5 + 7 * (i % 4));
  }
  b.w.tasks[3].estimate = Duration{60 * kSec};
  Config base;
  base.decisionLatency = Duration{kSec};
  EXPECT_TRUE(inertOptionNotes(b.w, base, kCliSpelling).empty());

  Config timeout = base;
  timeout.offerTimeout = Duration{2 * kSec};
  const auto timeoutNotes = inertOptionNotes(b.w, timeout, kCliSpelling);
  ASSERT_EQ(timeoutNotes.size(), 1u);
  EXPECT_TRUE(hasNote(timeoutNotes, "--offer-timeout has no effect without --hold-offers"));
  const Result declining = run(b.w, "drf", base);
  EXPECT_GT(declining.counters.declines, 0u);
  const Result timed = run(b.w, "drf", timeout);
  EXPECT_EQ(timed.counters.rescinds, 0u);
  expectSameSchedule(declining, timed);
  // Nor does the run end later when it ends idle with jobs unfinished (two
  // users' gangs of 3 on 4 machines starve each other).
  Builder starve;
  starve.machine(1, 0).machine(1, 0).machine(1, 0).machine(1, 0);
  starve.job(0, 0, 3, 1, 0, 100, /*gang=*/true).job(0, 1, 3, 1, 0, 100, /*gang=*/true);
  const Result starved = run(starve.w, "drf", base);
  EXPECT_EQ(starved.summary.at("jobs_unfinished"), 2);
  expectSameSchedule(starved, run(starve.w, "drf", timeout));

  Config hold = base;
  hold.holdOffers = true;
  hold.offerTimeout = Duration{2 * kSec};  // has an effect when offers are held
  EXPECT_TRUE(inertOptionNotes(b.w, hold, kCliSpelling).empty());
  Config refusing = hold;
  refusing.refuseFor = Duration{5 * kSec};
  EXPECT_TRUE(hasNote(inertOptionNotes(b.w, refusing, kPythonSpelling),
                      "refuse_seconds has no effect with hold_offers=True"));
  const Result held = run(b.w, "drf", hold);
  EXPECT_GT(held.counters.rescinds, 0u);
  expectSameSchedule(held, run(b.w, "drf", refusing));

  Config exact = base;
  exact.exactEstimates = true;
  EXPECT_TRUE(hasNote(inertOptionNotes(b.w, exact, kCliSpelling),
                      "--exact-estimates has no effect without published demand (--demand 256)"));
  expectSameSchedule(declining, run(b.w, "drf", exact));
  exact.demandWindow = 8;
  EXPECT_TRUE(inertOptionNotes(b.w, exact, kCliSpelling).empty());

  Config attempts = base;
  attempts.maxAttempts = 1;
  EXPECT_TRUE(hasNote(inertOptionNotes(b.w, attempts, kCliSpelling),
                      "--max-attempts has no effect on this workload"));
  expectSameSchedule(declining, run(b.w, "drf", attempts));
  b.w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, cpuMem(4, 4096)});
  b.w.machineEvents.push_back({fromMicros(10 * kSec), 0, MachineEvent::Kind::kRemove, {}});
  EXPECT_TRUE(inertOptionNotes(b.w, attempts, kCliSpelling).empty());
}

// A bad configuration is refused with a message naming it.
TEST(SimulatorTest, BadConfigIsRefused) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 1);
  Config c;
  c.allocationInterval = Duration{0};
  try {
    run(b.w, "drf", c);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("allocation interval"), std::string::npos);
  }
}

// Configured durations past 100 years are refused, not left to overflow the
// microsecond clock (a latency of 1e18 s once filled memory with samples).
TEST(SimulatorTest, DurationsPastACenturyAreRefused) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 1);
  Config c;
  c.decisionLatency = secondsToDuration(1e18);
  try {
    run(b.w, "drf", c);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("decision latency must be at most 100 years"),
              std::string::npos)
        << e.what();
  }
  // Filters that never expire are allowed, and schedule no wake at the end
  // of time: the run ends with its last task.
  c.decisionLatency = Duration{0};
  c.refuseFor = secondsToDuration(1e18);
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_EQ(r.end, fromMicros(1 * kSec));
}

// A stop before the first submit ends the run there, with nothing done (the
// run used to end at the first submit, after its stop).
TEST(SimulatorTest, StopBeforeTheFirstSubmitEndsThere) {
  Builder b;
  b.machine(1, 0).job(100, 0, 1, 1, 0, 1);
  Config c;
  c.stopAt = fromMicros(50 * kSec);
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.end, fromMicros(50 * kSec));
  EXPECT_EQ(r.summary.at("end_s"), 50);
  // Stopped before it came, the job is not counted as unfinished work.
  EXPECT_EQ(r.summary.at("jobs_unfinished"), 0);
  EXPECT_EQ(r.summary.at("jobs_not_submitted"), 1);
  EXPECT_EQ(r.jobs[0].state, JobState::kNotSubmitted);
  EXPECT_TRUE(r.tasks.empty());
}

// A run cut by stopAt ends at the stop, not at its last event before it:
// the time between counts, as it does for the trace's own schedule
// (historyResult). One task holds the one cpu from 0 to 100 s.
TEST(SimulatorTest, StopAtEndsTheRunAtTheStop) {
  Builder b;
  b.machine(1, 0).job(0, 0, 1, 1, 0, 100);
  Config c;
  c.stopAt = fromMicros(50 * kSec);
  c.sampleInterval = std::chrono::seconds(10);
  const Result r = run(b.w, "drf", c);
  EXPECT_EQ(r.end, fromMicros(50 * kSec));
  EXPECT_EQ(r.summary.at("end_s"), 50);
  EXPECT_EQ(r.summary.at("utilization_cpus"), 1.0);
  EXPECT_EQ(r.summary.at("jobs_unfinished"), 1);
  ASSERT_FALSE(r.series.timeUs.empty());
  EXPECT_EQ(r.series.timeUs.back(), 50 * kSec);
  // A run that runs out of events before its stop still ends at its last event.
  c.stopAt = fromMicros(500 * kSec);
  const Result whole = run(b.w, "drf", c);
  EXPECT_EQ(whole.end, fromMicros(100 * kSec));
  EXPECT_EQ(whole.summary.at("jobs_finished"), 1);
}

// Two users' gangs of 3 on 4 one-cpu machines: drf offers each user 2, and
// each declines. With filters that expire (Mesos' refuse_seconds) they ask
// again forever; the run stops as stalled instead, and says so. With filters
// until resources grow (the default), it simply runs out of events.
TEST(SimulatorTest, GangsThatStarveEachOtherStopAsStalled) {
  Builder b;
  for (int m = 0; m < 4; ++m) b.machine(1, 0);
  b.job(0, 0, 3, 1, 0, 100, true).job(0, 1, 3, 1, 0, 100, true);
  Config c;
  c.refuseFor = secondsToDuration(5);
  const Result stalled = run(b.w, "drf", c);
  EXPECT_EQ(stalled.summary.at("jobs_unfinished"), 2);
  ASSERT_NE(stalled.stalledAt, kTimeNever);
  EXPECT_EQ(stalled.summary.at("stalled_at_s"),
            static_cast<double>(toMicros(stalled.stalledAt)) / 1e6);
  EXPECT_GE(stalled.counters.rounds, 10'000u);
  EXPECT_EQ(stalled.counters.launches, 0u);
  EXPECT_EQ(stalled.idleEnd, kTimeNever);

  c.refuseFor.reset();
  const Result ended = run(b.w, "drf", c);
  EXPECT_EQ(ended.summary.at("jobs_unfinished"), 2);
  EXPECT_EQ(ended.stalledAt, kTimeNever);
  EXPECT_EQ(ended.summary.count("stalled_at_s"), 0u);
  // No event is left once both have declined: the run says when it ended so.
  EXPECT_EQ(ended.idleEnd, ended.end);
  EXPECT_EQ(ended.summary.at("idle_end_s"), static_cast<double>(toMicros(ended.end)) / 1e6);

  // Stopped by stopAt first, it did not end for want of events.
  c.stopAt = ended.end - Duration{1};
  const Result stopped = run(b.w, "drf", c);
  EXPECT_EQ(stopped.summary.at("jobs_unfinished"), 2);
  EXPECT_EQ(stopped.idleEnd, kTimeNever);
  EXPECT_EQ(stopped.summary.count("idle_end_s"), 0u);
  c.stopAt = kTimeNever;

  // A gang that fits runs, and idle rounds after it do not count as a stall.
  Builder one;
  for (int m = 0; m < 4; ++m) one.machine(1, 0);
  one.job(0, 0, 3, 1, 0, 100, true);
  c.refuseFor = secondsToDuration(5);
  const Result ran = run(one.w, "drf", c);
  EXPECT_EQ(ran.summary.at("jobs_finished"), 1);
  EXPECT_EQ(ran.stalledAt, kTimeNever);
  EXPECT_EQ(ran.idleEnd, kTimeNever);
}

// A run far longer than its submit span (one job of a year, where the
// default interval comes from a span of zero: 1 s) keeps at most 100,000
// samples, every other one dropped and the interval doubled as it outgrows
// them; the kept samples stay on the grid from the start.
TEST(SimulatorTest, TimeSeriesKeepsAtMostAHundredThousandSamples) {
  Builder b;
  b.machine(2, 0).job(0, 0, 1, 1, 0, 365.0 * 24 * 3600);
  const Result r = run(b.w, "drf");
  const TimeSeries& s = r.series;
  ASSERT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_LE(s.timeUs.size(), 100'000u);
  EXPECT_GE(s.timeUs.size(), 50'000u);
  EXPECT_EQ(toMicros(s.interval) % kSec, 0);
  EXPECT_EQ(std::popcount(static_cast<std::uint64_t>(toMicros(s.interval) / kSec)), 1);
  EXPECT_EQ(s.timeUs.front(), 0);
  for (std::size_t i = 1; i < s.timeUs.size(); ++i) {
    ASSERT_EQ(s.timeUs[i] - s.timeUs[i - 1], toMicros(s.interval)) << "sample " << i;
  }
  EXPECT_EQ(s.used.size(), s.timeUs.size() * kMaxScalarDims);
  EXPECT_EQ(s.jain.size(), s.timeUs.size());
  EXPECT_EQ(s.roleShare.size(), s.timeUs.size() * r.roles.size());
  // One cpu of two is used from the first sample to the last.
  EXPECT_EQ(s.used[0], 1.0);
  EXPECT_EQ(s.used[(s.timeUs.size() - 1) * kMaxScalarDims], 1.0);
  EXPECT_EQ(s.total[(s.timeUs.size() - 1) * kMaxScalarDims], 2.0);
}

// The default interval gives about 5,000 samples over the submit span, or
// over the part of it before stopAt: a run stopped early is sampled as
// finely as a whole one.
TEST(SimulatorTest, DefaultSampleIntervalFollowsStopAt) {
  Builder b;
  b.machine(2, 0).job(0, 0, 1, 1, 0, 10).job(100'000, 0, 1, 1, 0, 10);
  EXPECT_EQ(toMicros(run(b.w, "drf").series.interval), 20 * kSec);
  Config c;
  c.stopAt = fromMicros(10'000 * kSec);
  const Result stopped = run(b.w, "drf", c);
  EXPECT_EQ(toMicros(stopped.series.interval), 2 * kSec);
}

// Same workload, policy and seed: byte-identical result files. A different
// seed of the random policy gives different results, so the comparison can
// fail.
TEST(SimulatorTest, SameSeedGivesIdenticalResultFiles) {
  const Workload w = traces::loadWorkload(shared("swf/KTH-SP2-1996-2.1-cln.swf.gz"));
  Config c;
  c.stopAt = fromMicros(20LL * 24 * 3600 * kSec);
  const auto dir = std::filesystem::temp_directory_path();
  auto write = [&](const std::string& name, std::uint64_t seed) {
    c.seed = seed;
    // The pid keeps test runs of two checkouts on one machine apart.
    const std::string path = (dir / fmt::format("allot-sim-det-{}-{}", ::getpid(), name)).string();
    ResultFile file(path, "{}");
    for (const char* policy : {"drf", "random"}) file.write(policy, run(w, policy, c), "{}");
    return path;
  };
  const std::string a = write("a.h5", 7);
  const std::string b = write("b.h5", 7);
  const std::string other = write("c.h5", 8);
  // (EXPECT_TRUE, not EXPECT_EQ: a failure would print megabytes of HDF5.)
  EXPECT_TRUE(readFile(a) == readFile(b)) << a << " and " << b << " differ";
  EXPECT_TRUE(readFile(a) != readFile(other)) << "another seed gave the same results";
  EXPECT_EQ(readRunLabels(a), (std::vector<std::string>{"drf", "random"}));
  EXPECT_GT(readSummary(a, "drf").at("jobs_finished"), 1000);
  for (const auto& p : {a, b, other}) std::filesystem::remove(p);
}

// A result file reaches its path only when committed: until then (a crash,
// a kill) the path keeps what it held; discard() leaves it so too; an
// exception on its way commits the runs written so far (the destructor),
// unless there are none: a file of no run would replace what the path held.
TEST(SimulatorTest, ResultFileReachesItsPathOnlyWhenCommitted) {
  namespace fs = std::filesystem;
  const std::string path =
      (fs::temp_directory_path() / fmt::format("allot-sim-commit-{}.h5", ::getpid())).string();
  const std::string partial = path + ".partial";
  Builder b;
  b.machine(2, 2).job(0, 0, 1, 1, 1, 10);
  const Result r = run(b.w, "fifo");
  {
    ResultFile file(path, R"({"which":"first"})");
    file.write("fifo", r, "{}");
    EXPECT_FALSE(fs::exists(path));
    EXPECT_TRUE(fs::exists(partial));
    file.commit();
    EXPECT_THROW(file.write("again", r, "{}"), Error);
  }
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(readRunLabels(path), std::vector<std::string>{"fifo"});
  const std::string first = readFile(path);
  {
    ResultFile file(path, R"({"which":"second"})");
    file.write("drf", run(b.w, "drf"), "{}");
    EXPECT_TRUE(readFile(path) == first);  // the earlier file, whole, until commit
    file.discard();
  }
  EXPECT_TRUE(readFile(path) == first);
  EXPECT_FALSE(fs::exists(partial));
  try {
    ResultFile file(path, R"({"which":"third"})");
    file.write("drf", run(b.w, "drf"), "{}");
    throw std::runtime_error("a later run failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(readRunLabels(path), std::vector<std::string>{"drf"});
  EXPECT_FALSE(fs::exists(partial));
  const std::string third = readFile(path);
  try {
    ResultFile file(path, R"({"which":"fourth"})");
    throw std::runtime_error("the first run failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(readFile(path) == third);
  EXPECT_FALSE(fs::exists(partial));
  fs::remove(path);
}

// The golden run: a small seeded scenario's event log, stamped with
// simulated time, equals the checked-in one. Any change of behaviour shows
// in review as a diff of tests/data/sim/golden-drf.log. Regenerate with
// ALLOT_UPDATE_GOLDEN=1 after checking that the change is intended.
TEST(SimulatorTest, GoldenEventLog) {
  Builder b;
  b.machine(4, 8192).machine(2, 4096).machine(8, 16384);
  b.job(0, 0, 3, 1, 1024, 20).job(0.5, 1, 2, 2, 2048, 15).job(3, 2, 1, 6, 4096, 8);
  b.job(4, 0, 4, 1, 512, 5, true).job(7.25, 1, 1, 1, 1024, 3, false, {1});
  b.w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, cpuMem(4, 8192)});
  b.w.machineEvents.push_back({fromMicros(0), 1, MachineEvent::Kind::kAdd, cpuMem(2, 4096)});
  b.w.machineEvents.push_back({fromMicros(0), 2, MachineEvent::Kind::kAdd, cpuMem(8, 16384)});
  b.w.machineEvents.push_back({fromMicros(12 * kSec), 1, MachineEvent::Kind::kRemove, {}});
  Config c;
  c.seed = 42;
  c.decisionLatency = std::chrono::milliseconds(100);
  std::ostringstream log;
  Hooks hooks;
  hooks.eventLog = [&](std::string_view line) { log << line << '\n'; };
  run(b.w, "drf", c, hooks);
  const std::string path = std::string(ALLOT_SOURCE_DIR) + "/tests/data/sim/golden-drf.log";
  if (std::getenv("ALLOT_UPDATE_GOLDEN") != nullptr) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << log.str();
  }
  const std::string golden = readFile(path);
  ASSERT_FALSE(golden.empty()) << "missing " << path << " (ALLOT_UPDATE_GOLDEN=1 writes it)";
  EXPECT_EQ(log.str(), golden);
}

}  // namespace
}  // namespace allot::sim
