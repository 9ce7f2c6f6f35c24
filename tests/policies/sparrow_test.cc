#include "policies/sparrow.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;

constexpr char kSlot[] = "cpus:1;mem:100";

std::unique_ptr<SparrowAllocator> make(const std::string& params = "") {
  return std::make_unique<SparrowAllocator>(Params::parse(params));
}

std::string name(int i) {
  return "a" + std::to_string(i);
}

// `agents` one-slot agents, each fully used by the framework "hog" (which
// asks for nothing more), and the framework "F" that publishes jobs.
void busyCluster(SparrowAllocator& p, int agents) {
  p.addFramework(framework("hog", "r"));
  p.suppress(FrameworkId("hog"));
  p.addFramework(framework("F", "r"));
  for (int i = 0; i < agents; ++i) {
    const std::pair<FrameworkId, Resources> used{FrameworkId("hog"), Resources::parse(kSlot)};
    p.addAgent(agent(name(i), kSlot), std::span(&used, 1));
  }
}

// The hog's task on agent `i` ends.
void freeAgent(SparrowAllocator& p, int i, double t) {
  p.recoverResources(FrameworkId("hog"), AgentId(name(i)), Resources::parse(kSlot), std::nullopt,
                     at(t));
}

PendingTask job(std::uint64_t key, std::uint32_t count, double submittedS = 0) {
  PendingTask t = testing::pending(kSlot, count, key);
  t.submitted = at(submittedS);
  return t;
}

std::vector<std::string> agentsOf(const std::vector<Allocation>& offers) {
  std::vector<std::string> out;
  for (const Allocation& a : offers) out.push_back(a.agent.str());
  return out;
}

std::size_t queuedAt(const SparrowAllocator& p, int i) {
  return p.queued(*p.state().findAgent(AgentId(name(i))));
}

// Batch sampling places ceil(d * m) reservations for a job of m tasks, on
// distinct agents while there are enough.
TEST(SparrowTest, BatchPlacesDTimesMReservations) {
  for (const double d : {1.0, 2.0, 3.0, 1.5}) {
    SCOPED_TRACE(d);
    auto p = make("probe_ratio=" + std::to_string(d));
    busyCluster(*p, 40);
    p->updateDemand(FrameworkId("F"), {job(1, 5)});
    EXPECT_TRUE(p->allocate(at(0)).empty());
    const auto expected = static_cast<std::size_t>(std::ceil(d * 5));
    EXPECT_EQ(p->stats().reservations, expected);
    std::size_t agentsProbed = 0;
    for (int i = 0; i < 40; ++i) {
      EXPECT_LE(queuedAt(*p, i), 1u);
      agentsProbed += queuedAt(*p, i);
    }
    EXPECT_EQ(agentsProbed, expected);
  }
}

// Late binding: a job's tasks go to the first probed agents to free up, in
// the order they free up, not to the agents probed first.
TEST(SparrowTest, LateBindingServesTheFirstAgentsToFreeUp) {
  auto p = make();
  busyCluster(*p, 4);  // 2 tasks x d = 2: every agent holds a reservation
  p->updateDemand(FrameworkId("F"), {job(1, 2)});
  EXPECT_TRUE(p->allocate(at(0)).empty());
  freeAgent(*p, 2, 1);
  EXPECT_EQ(agentsOf(p->allocate(at(1))), std::vector<std::string>{"a2"});
  freeAgent(*p, 0, 2);
  const auto offers = p->allocate(at(2));
  EXPECT_EQ(agentsOf(offers), std::vector<std::string>{"a0"});
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].task, 1u);
  EXPECT_EQ(offers[0].resources, Resources::parse(kSlot));
}

// Once a job's tasks are all granted, its other reservations are cancelled
// when they reach the front: the agents freeing up later get nothing.
TEST(SparrowTest, CancelledReservationsDoNotGrant) {
  auto p = make();
  busyCluster(*p, 4);
  p->updateDemand(FrameworkId("F"), {job(1, 2)});
  p->allocate(at(0));
  freeAgent(*p, 2, 1);
  freeAgent(*p, 0, 1);
  EXPECT_EQ(p->allocate(at(1)).size(), 2u);
  freeAgent(*p, 1, 2);
  freeAgent(*p, 3, 2);
  EXPECT_TRUE(p->allocate(at(2)).empty());
  EXPECT_EQ(p->stats().cancelled, 2u);
  EXPECT_EQ(queuedAt(*p, 1) + queuedAt(*p, 3), 0u);
}

// Per-task sampling binds each task at probe time to its less loaded probe:
// the task waits for that agent, even when another agent frees up first.
TEST(SparrowTest, PerTaskBindsAtProbeTime) {
  auto p = make("mode=per-task");
  busyCluster(*p, 2);  // d = 2 probes: both agents
  // Job 1 binds somewhere; job 2 must then pick the other, less loaded agent.
  p->updateDemand(FrameworkId("F"), {job(1, 1)});
  p->allocate(at(0));
  const int first = queuedAt(*p, 0) == 1 ? 0 : 1;
  p->updateDemand(FrameworkId("F"), {job(1, 1), job(2, 1, 1)});
  p->allocate(at(1));
  EXPECT_EQ(queuedAt(*p, 0), 1u);
  EXPECT_EQ(queuedAt(*p, 1), 1u);
  EXPECT_EQ(p->stats().reservations, 2u);
  // The second agent frees up first: it serves job 2 only, bound there.
  freeAgent(*p, 1 - first, 2);
  const auto offers = p->allocate(at(2));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].task, 2u);
}

// Random placement binds each task to one agent drawn at random, distinct
// within the job: m reservations, no sampling.
TEST(SparrowTest, RandomBindsOneAgentPerTask) {
  auto p = make("mode=random");
  busyCluster(*p, 10);
  p->updateDemand(FrameworkId("F"), {job(1, 4)});
  p->allocate(at(0));
  EXPECT_EQ(p->stats().reservations, 4u);
  std::size_t probed = 0;
  for (int i = 0; i < 10; ++i) probed += queuedAt(*p, i) > 0 ? 1u : 0u;
  EXPECT_EQ(probed, 4u);
}

// Batch sampling without late binding binds the job's tasks to the least
// loaded of the probed agents at probe time.
TEST(SparrowTest, BatchBoundPicksTheLeastLoadedProbes) {
  auto p = make("mode=batch-bound");
  busyCluster(*p, 2);
  p->updateDemand(FrameworkId("F"), {job(1, 1)});
  p->allocate(at(0));
  const int loaded = queuedAt(*p, 0) == 1 ? 0 : 1;
  p->updateDemand(FrameworkId("F"), {job(1, 1), job(2, 1, 1)});
  p->allocate(at(1));
  EXPECT_EQ(queuedAt(*p, 1 - loaded), 1u);
  EXPECT_EQ(queuedAt(*p, loaded), 1u);
}

// The omniscient baseline places tasks at once on any agent with room, in
// global FIFO order of submission across frameworks.
TEST(SparrowTest, OmniscientIsGlobalFifoOnFreeAgents) {
  auto p = make("mode=omniscient");
  busyCluster(*p, 3);
  p->addFramework(framework("G", "r"));
  freeAgent(*p, 1, 0);
  // G's job was submitted first, though F registered first.
  p->updateDemand(FrameworkId("F"), {job(1, 1, 5)});
  p->updateDemand(FrameworkId("G"), {job(7, 2, 4)});
  const auto offers = p->allocate(at(6));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework, FrameworkId("G"));
  EXPECT_EQ(offers[0].agent, AgentId("a1"));
  EXPECT_EQ(p->stats().reservations, 0u);
  freeAgent(*p, 0, 7);
  freeAgent(*p, 2, 7);
  const auto next = p->allocate(at(7));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].framework, FrameworkId("G"));
  EXPECT_EQ(next[1].framework, FrameworkId("F"));
}

// A grant the framework declines comes back to the policy, which places the
// task again (elsewhere, as the decline filters that agent).
TEST(SparrowTest, DeclinedGrantsArePlacedAgain) {
  auto p = make();
  p->addFramework(framework("F", "r"));
  p->addAgent(agent("a0", kSlot));
  p->addAgent(agent("a1", kSlot));
  p->updateDemand(FrameworkId("F"), {job(1, 1)});
  const auto offers = p->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  p->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources,
                      Filters{std::chrono::seconds(100)}, at(0));
  const auto again = p->allocate(at(1));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0].agent, offers[0].agent);
  EXPECT_EQ(again[0].task, 1u);
}

// Instances the framework launched (its published count drops) are not
// granted again when more agents free up.
TEST(SparrowTest, LaunchedInstancesAreNotGrantedAgain) {
  auto p = make();
  busyCluster(*p, 6);
  p->updateDemand(FrameworkId("F"), {job(1, 3)});
  p->allocate(at(0));
  int granted = 0;
  for (int i = 0; i < 6; ++i) {
    freeAgent(*p, i, 1 + i);
    granted += static_cast<int>(p->allocate(at(1 + i)).size());
    // The framework launches what it got and publishes what is left.
    if (granted < 3) {
      p->updateDemand(FrameworkId("F"), {job(1, static_cast<std::uint32_t>(3 - granted))});
    } else {
      p->updateDemand(FrameworkId("F"), {});
      p->suppress(FrameworkId("F"));  // idle, as frameworks are
    }
  }
  EXPECT_EQ(granted, 3);
}

// The same seed gives the same placements; another seed other ones.
TEST(SparrowTest, SeedDeterminesPlacements) {
  auto run = [](int seed) {
    auto p = make("seed=" + std::to_string(seed));
    busyCluster(*p, 50);
    p->updateDemand(FrameworkId("F"), {job(1, 10)});
    p->allocate(at(0));
    std::vector<std::string> placed;
    for (int i = 0; i < 50; ++i) {
      freeAgent(*p, i, 1);
    }
    for (const std::string& a : agentsOf(p->allocate(at(1)))) placed.push_back(a);
    return placed;
  };
  EXPECT_EQ(run(3).size(), 10u);
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

// Frameworks that publish no demand (the runtime master's) get whole
// agents, each agent once.
TEST(SparrowTest, WithoutDemandOffersWholeAgents) {
  auto p = make();
  for (int i = 0; i < 3; ++i) p->addAgent(agent(name(i), "cpus:4;mem:1000"));
  p->addFramework(framework("F", "r"));
  p->addFramework(framework("G", "r"));
  const auto offers = p->allocate(at(0));
  ASSERT_EQ(offers.size(), 3u);
  std::set<std::string> agents;
  for (const Allocation& a : offers) {
    EXPECT_EQ(a.resources, Resources::parse("cpus:4;mem:1000"));
    EXPECT_EQ(a.task, kNoTask);
    agents.insert(a.agent.str());
  }
  EXPECT_EQ(agents.size(), 3u);
}

// Probes go only to agents whose capacity can hold the task's shape.
TEST(SparrowTest, ProbesOnlyAgentsThatCanHoldTheShape) {
  auto p = make();
  busyCluster(*p, 10);
  const std::pair<FrameworkId, Resources> used{FrameworkId("hog"),
                                               Resources::parse("cpus:8;mem:800")};
  p->addAgent(agent("big", "cpus:8;mem:800"), std::span(&used, 1));
  PendingTask wide = testing::pending("cpus:4;mem:100", 1, 9);
  p->updateDemand(FrameworkId("F"), {wide});
  p->allocate(at(0));
  EXPECT_EQ(p->stats().reservations, 2u);
  EXPECT_EQ(p->queued(*p->state().findAgent(AgentId("big"))), 2u);
}

// A task that may run once per agent (spread) gets its instances on
// distinct agents in every mode, the second once a second agent comes.
TEST(SparrowTest, SpreadTasksGetOneInstancePerAgent) {
  for (const std::string mode : {"batch", "batch-bound", "per-task", "random", "omniscient"}) {
    SCOPED_TRACE(mode);
    auto p = make("mode=" + mode);
    p->addFramework(framework("F", "r"));
    p->addAgent(agent("a0", "cpus:4;mem:400"));
    PendingTask t = job(1, 2);
    t.spread = true;
    p->updateDemand(FrameworkId("F"), {t});
    EXPECT_EQ(agentsOf(p->allocate(at(0))), std::vector<std::string>{"a0"});
    EXPECT_TRUE(p->allocate(at(1)).empty());
    p->addAgent(agent("a1", "cpus:4;mem:400"));
    std::vector<std::string> later;
    for (int round = 2; round < 12 && later.empty(); ++round)
      later = agentsOf(p->allocate(at(round)));
    EXPECT_EQ(later, std::vector<std::string>{"a1"});
  }
}

// One agent of 2 cpus with 1 used; job 1 (2 cpus) published before job 2
// (1 cpu): the queue holds job 1's reservations ahead of job 2's.
std::vector<Allocation> headDoesNotFit(const std::string& params) {
  auto p = make(params);
  p->addFramework(framework("hog", "r"));
  p->suppress(FrameworkId("hog"));
  p->addFramework(framework("F", "r"));
  const std::pair<FrameworkId, Resources> used{FrameworkId("hog"),
                                               Resources::parse("cpus:1;mem:100")};
  p->addAgent(agent("a0", "cpus:2;mem:200"), std::span(&used, 1));
  PendingTask wide = testing::pending("cpus:2;mem:100", 1, 1);
  PendingTask narrow = testing::pending("cpus:1;mem:100", 1, 2);
  narrow.submitted = at(1);
  p->updateDemand(FrameworkId("F"), {wide, narrow});
  return p->allocate(at(2));
}

// Sparrow's FIFO queues: a reservation that does not fit the free room holds
// up the ones behind it.
TEST(SparrowTest, FifoQueueWaitsForItsHead) {
  EXPECT_TRUE(headDoesNotFit("").empty());
}

// With queue=first-fit, an agent serves the reservations behind one that
// does not fit.
TEST(SparrowTest, FirstFitQueuePassesOverWhatDoesNotFit) {
  const auto offers = headDoesNotFit("queue=first-fit");
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].task, 2u);
}

// A gang (outside Sparrow's model) is placed whole, centrally, once room for
// all of it is free, never in part; declined, it is placed again.
TEST(SparrowTest, GangsStartWholeOrNotAtAll) {
  auto p = make();
  busyCluster(*p, 3);
  PendingTask gang = job(5, 3);
  gang.gang = true;
  p->updateDemand(FrameworkId("F"), {gang});
  freeAgent(*p, 0, 1);
  freeAgent(*p, 1, 1);
  EXPECT_TRUE(p->allocate(at(1)).empty());
  freeAgent(*p, 2, 2);
  const auto offers = p->allocate(at(2));
  EXPECT_EQ(offers.size(), 3u);
  for (const Allocation& a : offers) EXPECT_EQ(a.task, 5u);
  // Declined whole, it is placed again.
  for (const Allocation& a : offers) {
    p->recoverResources(a.framework, a.agent, a.resources, std::nullopt, at(3));
  }
  EXPECT_EQ(p->allocate(at(3)).size(), 3u);
}

// Bad parameters are refused with a message naming them.
TEST(SparrowTest, BadParametersAreRefused) {
  try {
    make("mode=fastest");
    FAIL() << "accepted mode=fastest";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("mode"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("fastest"), std::string::npos);
  }
  try {
    make("queue=lifo");
    FAIL() << "accepted queue=lifo";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("queue"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("lifo"), std::string::npos);
  }
  // Below 1, and so large that a job's probes could not be held (1e300 once
  // made no probe at all, and 1e12 ran out of memory).
  for (const char* ratio : {"0.5", "1001", "1e12", "1e300", "inf", "nan"}) {
    try {
      make(std::string("probe_ratio=") + ratio);
      FAIL() << "accepted probe_ratio=" << ratio;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("probe_ratio"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find(ratio), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("from 1 to 1000"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(make("probe_ratio=1000"));
}

}  // namespace
}  // namespace allot
