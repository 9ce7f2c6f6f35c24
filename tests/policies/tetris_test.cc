#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using ::testing::HasSubstr;
using testing::pending;

std::unique_ptr<Allocator> tetris(const std::string& params = "") {
  return makeAllocator("tetris", params.empty() ? Params{} : Params::parse(params));
}

// `count` instances of `shape` named `key`, expected to run `seconds` each.
PendingTask estimated(const std::string& shape, std::uint64_t key, double seconds,
                      std::uint32_t count = 1) {
  PendingTask t = pending(shape, count, key);
  t.estimate = secondsToDuration(seconds);
  return t;
}

// The agents that `offers` name, in order.
std::vector<std::string> agentsOf(const std::vector<Allocation>& offers) {
  std::vector<std::string> names;
  for (const Allocation& a : offers) names.push_back(a.agent.str());
  return names;
}

// Two agents of equal size, one with mostly CPU free (its memory is held by
// a suppressed framework), the other with mostly memory free; `task` is
// published by framework F. Returns the round's offers.
std::vector<Allocation> placeOnSkewedPair(const std::string& task) {
  auto policy = tetris();
  policy->addFramework(framework("holder", "r"));
  const std::pair<FrameworkId, Resources> memHeld[] = {
      {FrameworkId("holder"), Resources::parse("mem:6144")}};
  const std::pair<FrameworkId, Resources> cpuHeld[] = {
      {FrameworkId("holder"), Resources::parse("cpus:6")}};
  policy->addAgent(agent("cpu-rich", "cpus:8;mem:8192"), memHeld);
  policy->addAgent(agent("mem-rich", "cpus:8;mem:8192"), cpuHeld);
  policy->suppress(FrameworkId("holder"));
  policy->addFramework(framework("F", "r"));
  policy->updateDemand(FrameworkId("F"), {pending(task, 1, 7)});
  return policy->allocate(at(0));
}

// Alignment prefers the agent whose free vector matches the task: a
// CPU-heavy task goes to the agent with CPU free, a memory-heavy one to the
// agent with memory free; each grant is sized to the task and names its key.
TEST(TetrisTest, AlignmentPrefersTheMatchingFreeVector) {
  const auto cpuTask = placeOnSkewedPair("cpus:2;mem:512");
  ASSERT_EQ(cpuTask.size(), 1u);
  EXPECT_EQ(cpuTask[0].agent.str(), "cpu-rich");
  EXPECT_EQ(cpuTask[0].resources, Resources::parse("cpus:2;mem:512"));
  EXPECT_EQ(cpuTask[0].task, 7u);
  const auto memTask = placeOnSkewedPair("cpus:0.25;mem:1536");
  ASSERT_EQ(memTask.size(), 1u);
  EXPECT_EQ(memTask[0].agent.str(), "mem-rich");
}

// Room for one of two tasks: packing alone takes the larger (better
// aligned) one; a weighted shortest-remaining-work term takes the one with
// far less work left instead.
TEST(TetrisTest, SrptTermChangesTheOrderWhenWeighted) {
  auto run = [](const std::string& params) {
    auto policy = tetris(params);
    policy->addAgent(agent("a1", "cpus:4;mem:4096"));
    policy->addFramework(framework("F", "r"));
    policy->updateDemand(FrameworkId("F"), {estimated("cpus:4;mem:4096", 1, 1000),
                                            estimated("cpus:2;mem:2048", 2, 10)});
    const auto offers = policy->allocate(at(0));
    EXPECT_EQ(offers.size(), 1u);
    return offers.empty() ? kNoTask : offers[0].task;
  };
  EXPECT_EQ(run("srpt_weight=0"), 1u);
  EXPECT_EQ(run("srpt_weight=1"), 2u);
}

// With srpt_scope=submission the units a framework published with one
// submission time are one job: a single small task of a big job waits
// behind a job with less work in all.
TEST(TetrisTest, SubmissionScopeSumsTheWorkOfAJob) {
  auto run = [](const std::string& scope) {
    auto policy = tetris("srpt_weight=10,srpt_scope=" + scope);
    policy->addAgent(agent("a1", "cpus:2;mem:2048"));
    policy->addFramework(framework("F", "r"));
    // Job X (submitted at 0): one small unit and a big one that fits nowhere.
    PendingTask small = estimated("cpus:2;mem:2048", 1, 10);
    PendingTask big = estimated("cpus:64;mem:2048", 2, 10, 50);
    // Job Y (submitted at 5): one unit of 20 s.
    PendingTask other = estimated("cpus:2;mem:2048", 3, 20);
    other.submitted = at(5);
    policy->updateDemand(FrameworkId("F"), {small, big, other});
    const auto offers = policy->allocate(at(10));
    EXPECT_EQ(offers.size(), 1u);
    return offers.empty() ? kNoTask : offers[0].task;
  };
  EXPECT_EQ(run("unit"), 1u);
  EXPECT_EQ(run("submission"), 3u);
}

// Room for one task of two frameworks: with f = 1 the framework furthest
// below its dominant share places first even though the other's task
// aligns better; with f = 0 the better aligned task wins.
TEST(TetrisTest, FairnessOneServesTheFrameworkFurthestBelowItsShare) {
  auto run = [](const std::string& params) {
    auto policy = tetris(params);
    policy->addFramework(framework("rich", "r"));
    policy->addFramework(framework("poor", "r"));
    const std::pair<FrameworkId, Resources> held[] = {
        {FrameworkId("rich"), Resources::parse("cpus:8;mem:8192")}};
    policy->addAgent(agent("busy", "cpus:8;mem:8192"), held);
    policy->addAgent(agent("free", "cpus:4;mem:4096"));
    policy->updateDemand(FrameworkId("rich"), {pending("cpus:4;mem:4096", 1, 1)});
    policy->updateDemand(FrameworkId("poor"), {pending("cpus:2;mem:2048", 1, 2)});
    const auto offers = policy->allocate(at(0));
    EXPECT_EQ(offers.size(), 1u);
    return offers.empty() ? std::string() : offers[0].framework.str();
  };
  EXPECT_EQ(run("fairness=1,srpt_weight=0"), "poor");
  EXPECT_EQ(run("fairness=0,srpt_weight=0"), "rich");
}

// A gang places every instance or none: two instances that need two agents
// get nothing on one agent, and what the gang took tentatively goes to the
// framework's next task.
TEST(TetrisTest, GangPlacesWholeOrNothing) {
  auto gang = [](std::uint64_t key) {
    PendingTask t = pending("cpus:3;mem:1024", 1, key);
    t.gang = true;
    return t;
  };
  auto run = [&](int agents) {
    auto policy = tetris("srpt_weight=0");
    for (int i = 0; i < agents; ++i) {
      policy->addAgent(agent("a" + std::to_string(i), "cpus:4;mem:4096"));
    }
    policy->addFramework(framework("F", "r"));
    policy->updateDemand(FrameworkId("F"), {gang(5), gang(5), pending("cpus:1;mem:512", 1, 9)});
    std::vector<std::uint64_t> keys;
    for (const Allocation& a : policy->allocate(at(0))) keys.push_back(a.task);
    return keys;
  };
  EXPECT_EQ(run(1), (std::vector<std::uint64_t>{9}));
  EXPECT_EQ(run(2), (std::vector<std::uint64_t>{5, 5, 9}));
}

// A framework that declined a task on the best agent gets it on the next
// best one, not on the one it refused.
TEST(TetrisTest, PassesOverAgentsTheFrameworkDeclined) {
  auto policy = tetris();
  policy->addAgent(agent("big", "cpus:4;mem:4096"));
  policy->addAgent(agent("small", "cpus:2;mem:2048"));
  policy->addFramework(framework("F", "r"));
  policy->updateDemand(FrameworkId("F"), {pending("cpus:2;mem:2048", 1, 1)});
  const auto first = policy->allocate(at(0));
  ASSERT_EQ(agentsOf(first), (std::vector<std::string>{"small"}));
  policy->recoverResources(first[0].framework, first[0].agent, first[0].resources,
                           Filters{std::chrono::seconds(60)}, at(0));
  EXPECT_EQ(agentsOf(policy->allocate(at(1))), (std::vector<std::string>{"big"}));
}

// A task its framework declined on every agent where it fits (a constraint
// the policy cannot see) is not offered there sized again; once such an
// agent has grown past what was refused, the framework gets it whole.
TEST(TetrisTest, DeclinedEverywhereGetsTheAgentWholeOnceItGrew) {
  auto policy = tetris();
  policy->addFramework(framework("holder", "r"));
  const std::pair<FrameworkId, Resources> held[] = {
      {FrameworkId("holder"), Resources::parse("cpus:2;mem:2048")}};
  policy->addAgent(agent("a1", "cpus:4;mem:4096"), held);
  policy->suppress(FrameworkId("holder"));
  policy->addFramework(framework("F", "r"));
  policy->updateDemand(FrameworkId("F"), {pending("cpus:2;mem:2048", 1, 1)});
  const auto first = policy->allocate(at(0));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].task, 1u);
  policy->recoverResources(first[0].framework, first[0].agent, first[0].resources,
                           Filters{std::chrono::hours(1)}, at(0));
  EXPECT_TRUE(policy->allocate(at(1)).empty());
  policy->recoverResources(FrameworkId("holder"), AgentId("a1"),
                           Resources::parse("cpus:2;mem:2048"), std::nullopt, at(2));
  const auto whole = policy->allocate(at(3));
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].resources, Resources::parse("cpus:4;mem:4096"));
  EXPECT_EQ(whole[0].task, kNoTask);
}

// Equal agents are chosen by a seeded draw: the same seed gives the same
// grants, another seed other agents.
TEST(TetrisTest, SeedDeterminesTheChoiceAmongEqualAgents) {
  auto run = [](int seed) {
    auto policy = tetris("seed=" + std::to_string(seed));
    for (int i = 0; i < 40; ++i)
      policy->addAgent(agent("a" + std::to_string(i), "cpus:4;mem:4096"));
    policy->addFramework(framework("F", "r"));
    policy->updateDemand(FrameworkId("F"), {pending("cpus:4;mem:4096", 5, 1)});
    return agentsOf(policy->allocate(at(0)));
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
  EXPECT_EQ(run(3).size(), 5u);
}

// Frameworks that publish no demand (the runtime master's) get agents
// whole, the framework with the lowest dominant share first.
TEST(TetrisTest, WithoutDemandOffersWholeAgentsByShare) {
  auto policy = tetris();
  policy->addFramework(framework("rich", "r"));
  policy->addFramework(framework("poor", "r"));
  const std::pair<FrameworkId, Resources> held[] = {
      {FrameworkId("rich"), Resources::parse("cpus:8;mem:8192")}};
  policy->addAgent(agent("busy", "cpus:8;mem:8192"), held);
  policy->addAgent(agent("free", "cpus:4;mem:4096"));
  const auto offers = policy->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "poor");
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:4;mem:4096"));
  EXPECT_EQ(offers[0].task, kNoTask);
}

// Bad parameter values are refused with a message naming the parameter and
// the value.
TEST(TetrisTest, BadParametersAreRefused) {
  for (const char* bad : {"fairness=1.5", "fairness=-0.1", "srpt_weight=-1", "srpt_scope=job"}) {
    SCOPED_TRACE(bad);
    const std::string text = bad;
    const std::string name = text.substr(0, text.find('='));
    const std::string value = text.substr(text.find('=') + 1);
    try {
      tetris(text);
      FAIL() << "expected InvalidArgument";
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr(name));
      EXPECT_THAT(e.what(), HasSubstr("'" + value + "'"));
    }
  }
}

}  // namespace
}  // namespace allot
