#include "policies/flow.h"

#include <gtest/gtest.h>

#include <map>

#include "allot/core/error.h"
#include "flow_instances.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using testing::pending;

std::unique_ptr<FlowAllocator> flow(const std::string& params = "") {
  return std::make_unique<FlowAllocator>(Params::parse(params));
}

PendingTask waiting(const std::string& shape, std::uint32_t count, std::uint64_t key,
                    double submittedS) {
  PendingTask t = pending(shape, count, key);
  t.submitted = at(submittedS);
  return t;
}

// A task is granted, sized to its shape and with its key, on the agent where
// it fits, not on the one too small for it.
TEST(FlowTest, PlacesOnAFittingMachine) {
  auto p = flow();
  p->addAgent(agent("small", "cpus:1;mem:1024"));
  p->addAgent(agent("big", "cpus:4;mem:4096"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {pending("cpus:2;mem:512", 1, 7)});
  const auto offers = p->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent, AgentId("big"));
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:512"));
  EXPECT_EQ(offers[0].task, 7u);
}

// The fit cost chooses among fitting agents: pack takes the one the task
// leaves least of, spread the emptiest.
TEST(FlowTest, FitCostChoosesTheAgent) {
  auto run = [](const std::string& fit) {
    auto p = flow("fit=" + fit);
    p->addAgent(agent("snug", "cpus:3;mem:3072"));
    p->addAgent(agent("roomy", "cpus:16;mem:16384"));
    p->addFramework(framework("F", "r"));
    p->updateDemand(FrameworkId("F"), {pending("cpus:2;mem:2048", 1, 1)});
    const auto offers = p->allocate(at(0));
    EXPECT_EQ(offers.size(), 1u);
    return offers.empty() ? std::string() : offers[0].agent.str();
  };
  EXPECT_EQ(run("pack"), "snug");
  EXPECT_EQ(run("spread"), "roomy");
}

// With an unscheduled cost below the only placement's cost, a task first
// stays unscheduled (waiting for a better machine), and its waiting cost
// grows until placing it is cheaper: it is then placed, in a round the
// policy asked the host for.
TEST(FlowTest, WaitingCostEventuallySchedulesAnUnscheduledTask) {
  auto p = flow("unscheduled_cost=100,wait_cost=10");
  p->addAgent(agent("a", "cpus:10;mem:10240"));  // a 1-cpu task leaves 90%: cost 900
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {waiting("cpus:1;mem:1024", 1, 1, 0)});
  EXPECT_TRUE(p->allocate(at(0)).empty());
  EXPECT_EQ(p->lastRound().unscheduled, 1u);
  // It asks the host for a round when waiting will have made placing cheaper.
  EXPECT_EQ(p->takeWakeup(), std::optional<TimePoint>(at(81)));  // 100 + 810 > 900
  EXPECT_TRUE(p->allocate(at(50)).empty());                      // 100 + 500 < 900
  const auto offers = p->allocate(at(90));                       // 100 + 900 > 900
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].task, 1u);
}

// When more instances wait than fit, the ones that waited longest get the
// room: their unscheduled arcs cost most.
TEST(FlowTest, LongestWaitingTasksWinContendedRoom) {
  auto p = flow();
  p->addAgent(agent("a", "cpus:2;mem:2048"));
  p->addFramework(framework("F", "r"));
  p->addFramework(framework("G", "r"));
  p->updateDemand(FrameworkId("F"), {waiting("cpus:2;mem:1024", 1, 1, 30)});
  p->updateDemand(FrameworkId("G"), {waiting("cpus:2;mem:1024", 1, 2, 10)});
  const auto offers = p->allocate(at(40));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework, FrameworkId("G"));
}

// Instances beyond the direct candidates reach other agents through the
// cluster aggregator: with one candidate per task, all four instances are
// placed on four agents.
TEST(FlowTest, AggregatorPlacesBeyondTheCandidates) {
  auto p = flow("candidates=1");
  for (int i = 0; i < 4; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {pending("cpus:1;mem:512", 4, 1)});
  const auto offers = p->allocate(at(0));
  EXPECT_EQ(offers.size(), 4u);
  EXPECT_EQ(p->lastRound().placed, 4u);
}

// Tasks that ask for nothing (Alibaba 2017 has rows without cpu and memory
// requests) cannot be granted as they are: an empty grant is no offer. A
// framework whose published demand holds nothing else (its window full of
// them) is offered the token, a millionth of an average agent's cpus, under
// the oldest such task's key; they take no slot in the network, and tasks
// that ask for something are placed beside them.
TEST(FlowTest, TasksThatAskForNothingAreOfferedTheToken) {
  auto p = flow();
  p->addAgent(agent("a", "cpus:4;mem:4096"));
  p->addAgent(agent("b", "cpus:4;mem:4096"));
  p->addFramework(framework("Z", "r"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("Z"), {waiting("", 665, 1, 0), waiting("", 335, 2, 1)});
  p->updateDemand(FrameworkId("F"), {waiting("cpus:2;mem:2048", 2, 3, 2)});
  const auto offers = p->allocate(at(10));
  EXPECT_EQ(p->lastRound().instances, 2u);
  EXPECT_EQ(p->lastRound().placed, 2u);
  std::uint32_t tokens = 0;
  Scalars toF = Scalars::Zero();
  for (const Allocation& offer : offers) {
    if (offer.framework == FrameworkId("Z")) {
      ++tokens;
      EXPECT_EQ(offer.task, 1u);
      EXPECT_DOUBLE_EQ(offer.resources.totalScalars()[0], 4e-6);
      EXPECT_EQ(offer.resources.totalScalars()[1], 0);
    } else {
      EXPECT_EQ(offer.task, 3u);
      toF += offer.resources.totalScalars();
    }
  }
  EXPECT_EQ(tokens, 1u);
  EXPECT_EQ(toF[0], 4);
}

// No agent is ever granted more than it had free, on random instances where
// slots (the most instances of any shape that fit) over-promise room to
// mixed shapes.
TEST(FlowTest, NeverOverCommits) {
  std::uint64_t placed = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    auto [p, now] = testing::randomFlowInstance(seed, "", 2, 6, 4, 12);
    const ClusterState& s = p->state();
    std::map<std::string, Scalars> before;
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      before[s.agent(a).info.id.str()] = s.availableUnreserved(a);
    }
    std::map<std::string, Scalars> granted;
    for (const Allocation& offer : p->allocate(now)) {
      auto [it, fresh] = granted.try_emplace(offer.agent.str(), Scalars::Zero());
      it->second += offer.resources.totalScalars();
    }
    for (const auto& [id, sum] : granted) {
      EXPECT_TRUE(fitsIn(sum, before[id])) << "seed " << seed << " agent " << id;
    }
    placed += p->lastRound().placed;
  }
  EXPECT_GT(placed, 0u);
}

// The same events give the same grants, round after round.
TEST(FlowTest, Deterministic) {
  auto run = [] {
    std::vector<std::string> out;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      auto [p, now] = testing::randomFlowInstance(seed);
      for (const Allocation& a : p->allocate(now)) {
        out.push_back(fmt::format("{}:{}:{}:{}", a.framework.str(), a.agent.str(), a.task,
                                  toString(a.resources)));
      }
    }
    return out;
  };
  const auto first = run();
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, run());
}

// Successive shortest path and cycle canceling find the same least cost on
// 200 random instances, both on the network a round built and as the
// policy's own solver.
TEST(FlowTest, SspAndCycleCancelingFindTheSameCost) {
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    auto ssp = testing::randomFlowInstance(seed, "solver=ssp");
    auto cycle = testing::randomFlowInstance(seed, "solver=cycle");
    ssp.policy->allocate(ssp.now);
    cycle.policy->allocate(cycle.now);
    const FlowNetwork& net = ssp.policy->lastNetwork();
    if (net.arcs.empty()) continue;
    const FlowSolution other = solveFlowNetwork(net, FlowSolver::kCycleCanceling);
    EXPECT_EQ(ssp.policy->lastRound().cost, other.cost) << "seed " << seed;
    EXPECT_EQ(ssp.policy->lastRound().cost, cycle.policy->lastRound().cost) << "seed " << seed;
    EXPECT_EQ(ssp.policy->lastRound().instances, static_cast<std::uint64_t>(other.flow));
  }
}

// A gang is granted whole or not at all: three 2-cpu instances on two 3-cpu
// agents fit in the free total but only two find a machine, so none starts;
// on three agents all three do.
TEST(FlowTest, GangsStartWholeOrNotAtAll) {
  auto run = [](int agents) {
    auto p = flow();
    for (int i = 0; i < agents; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:3;mem:3072"));
    p->addFramework(framework("F", "r"));
    PendingTask gang = pending("cpus:2;mem:1024", 3, 9);
    gang.gang = true;
    p->updateDemand(FrameworkId("F"), {gang});
    return p->allocate(at(0)).size();
  };
  EXPECT_EQ(run(2), 0u);
  EXPECT_EQ(run(3), 3u);
}

// A round in which no agent changed keeps the agent classes and updates the
// Boost graph in place (the same arcs), and finds the cost a fresh graph
// finds; with incremental=false nothing is kept.
TEST(FlowTest, QuietRoundsReuseClassesAndGraph) {
  auto run = [](bool incremental) {
    auto p = flow(fmt::format("unscheduled_cost=0,wait_cost=1,incremental={}", incremental));
    p->addAgent(agent("a", "cpus:10;mem:10240"));
    p->addFramework(framework("F", "r"));
    p->updateDemand(FrameworkId("F"), {waiting("cpus:1;mem:1024", 1, 1, 0)});
    EXPECT_TRUE(p->allocate(at(1)).empty());  // unscheduled: 1 < 900
    EXPECT_TRUE(p->allocate(at(2)).empty());
    return std::tuple{p->lastRound().classesReused, p->lastRound().graphReused,
                      p->lastRound().cost};
  };
  const auto [classesKept, graphKept, cost] = run(true);
  EXPECT_TRUE(classesKept);
  EXPECT_TRUE(graphKept);
  const auto [classesKeptOff, graphKeptOff, costOff] = run(false);
  EXPECT_FALSE(classesKeptOff);
  EXPECT_FALSE(graphKeptOff);
  EXPECT_EQ(cost, costOff);
}

// Spread tasks (Google's different-machine constraint) get at most one
// instance per agent, counting instances already running: three instances
// on two roomy agents start two, the third waits until one ends.
TEST(FlowTest, SpreadKeysTakeOneInstancePerAgent) {
  auto p = flow();
  p->addAgent(agent("a", "cpus:8;mem:8192"));
  p->addAgent(agent("b", "cpus:8;mem:8192"));
  p->addFramework(framework("F", "r"));
  PendingTask task = pending("cpus:1;mem:512", 3, 5);
  task.spread = true;
  p->updateDemand(FrameworkId("F"), {task});
  const auto first = p->allocate(at(0));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_NE(first[0].agent, first[1].agent);
  task.count = 1;
  p->updateDemand(FrameworkId("F"), {task});
  EXPECT_TRUE(p->allocate(at(1)).empty());
  p->recoverResources(first[0].framework, first[0].agent, first[0].resources, std::nullopt, at(2),
                      5);
  const auto third = p->allocate(at(2));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].agent, first[0].agent);
}

// The network holds at most `window` instances, the longest waiting first
// across frameworks: with window=2, the two oldest of four single tasks, and
// the policy asks for another round at once.
TEST(FlowTest, WindowKeepsTheLongestWaiting) {
  auto p = flow("window=2");
  p->addAgent(agent("a", "cpus:8;mem:8192"));
  p->addFramework(framework("F", "r"));
  p->addFramework(framework("G", "r"));
  p->updateDemand(FrameworkId("F"),
                  {waiting("cpus:1;mem:512", 1, 1, 5), waiting("cpus:1;mem:512", 1, 2, 1)});
  p->updateDemand(FrameworkId("G"),
                  {waiting("cpus:1;mem:512", 1, 3, 0), waiting("cpus:1;mem:512", 1, 4, 9)});
  std::vector<std::uint64_t> keys;
  for (const Allocation& a : p->allocate(at(10))) keys.push_back(a.task);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(p->lastRound().instances, 2u);
  // The rest wait for the next round, which it asks for at once.
  EXPECT_EQ(p->takeWakeup(), std::optional<TimePoint>(at(10) + Duration{1}));
}

// Without published demand (the runtime master) frameworks get whole agents.
TEST(FlowTest, WithoutDemandOffersWholeAgents) {
  auto p = flow();
  p->addAgent(agent("a1", "cpus:2;mem:100"));
  p->addFramework(framework("F", "r"));
  const auto offers = p->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:100"));
  EXPECT_EQ(offers[0].task, kNoTask);
}

// Bad parameters are refused with a message naming the parameter and value.
TEST(FlowTest, BadParametersAreRefused) {
  for (const std::string bad : {"solver=simplex", "candidates=0", "fit=tight", "aggregator_cost=-1",
                                "unscheduled_cost=-5", "wait_cost=-1", "window=-2"}) {
    SCOPED_TRACE(bad);
    try {
      makeAllocator("flow", Params::parse(bad));
      FAIL() << "expected InvalidArgument";
    } catch (const InvalidArgument& e) {
      const std::string name = bad.substr(0, bad.find('='));
      const std::string value = bad.substr(bad.find('=') + 1);
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace allot
