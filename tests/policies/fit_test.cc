#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using testing::pending;

// One task on a roomy and a tight agent (both fit it); returns the agent
// the policy chose.
std::string chosenAgent(const std::string& policy) {
  auto p = makeAllocator(policy);
  p->addAgent(agent("roomy", "cpus:16;mem:16384"));
  p->addAgent(agent("tight", "cpus:2;mem:2048"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {pending("cpus:1;mem:1024", 1, 4)});
  const auto offers = p->allocate(at(0));
  EXPECT_EQ(offers.size(), 1u);
  if (offers.empty()) return "";
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:1;mem:1024"));
  EXPECT_EQ(offers[0].task, 4u);
  return offers[0].agent.str();
}

// Best fit and worst fit choose opposite agents for the same task: the one
// it leaves least room on, and the one it leaves most room on.
TEST(FitTest, BestFitAndWorstFitChooseOppositeAgents) {
  EXPECT_EQ(chosenAgent("bestfit"), "tight");
  EXPECT_EQ(chosenAgent("worstfit"), "roomy");
}

// The leftover is measured relative to each agent's capacity: an agent with
// far more memory in absolute terms but less room relative to its size wins
// best fit.
TEST(FitTest, LeftoverIsRelativeToCapacity) {
  auto p = makeAllocator("bestfit");
  // Leftover: (2-1)/2 + (100000-1024)/100000 = 1.49 against 15/16 + 15360/16384 = 1.875.
  p->addAgent(agent("memory-box", "cpus:2;mem:100000"));
  p->addAgent(agent("balanced", "cpus:16;mem:16384"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {pending("cpus:1;mem:1024", 1, 1)});
  const auto offers = p->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent.str(), "memory-box");
}

// Tasks go oldest first across frameworks: with room for one, the later
// registered framework's older task gets it; at equal submission times the
// earlier registered framework wins.
TEST(FitTest, OldestTaskFirstThenRegistration) {
  auto run = [](double firstSubmitted, double secondSubmitted) {
    auto p = makeAllocator("worstfit");
    p->addAgent(agent("a1", "cpus:2;mem:2048"));
    p->addFramework(framework("first", "r"));
    p->addFramework(framework("second", "r"));
    PendingTask a = pending("cpus:2;mem:2048", 1, 1);
    a.submitted = at(firstSubmitted);
    PendingTask b = pending("cpus:2;mem:2048", 1, 2);
    b.submitted = at(secondSubmitted);
    p->updateDemand(FrameworkId("first"), {a});
    p->updateDemand(FrameworkId("second"), {b});
    const auto offers = p->allocate(at(10));
    EXPECT_EQ(offers.size(), 1u);
    return offers.empty() ? std::string() : offers[0].framework.str();
  };
  EXPECT_EQ(run(5, 3), "second");
  EXPECT_EQ(run(3, 5), "first");
  EXPECT_EQ(run(4, 4), "first");
}

// A task that fits nowhere is passed over, not waited for: the younger
// task behind it is placed.
TEST(FitTest, TaskThatFitsNowhereIsPassedOver) {
  auto p = makeAllocator("bestfit");
  p->addAgent(agent("a1", "cpus:4;mem:4096"));
  p->addFramework(framework("F", "r"));
  PendingTask huge = pending("cpus:8;mem:1024", 1, 1);
  huge.submitted = at(0);
  PendingTask small = pending("cpus:1;mem:1024", 2, 2);
  small.submitted = at(1);
  p->updateDemand(FrameworkId("F"), {huge, small});
  const auto offers = p->allocate(at(2));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].task, 2u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:2048"));
}

// Best fit keeps filling the agent it started on (each placement makes it
// tighter still); worst fit spreads the instances.
TEST(FitTest, BestFitPacksAndWorstFitSpreads) {
  auto run = [](const std::string& policy) {
    auto p = makeAllocator(policy);
    p->addAgent(agent("a1", "cpus:4;mem:4096"));
    p->addAgent(agent("a2", "cpus:4;mem:4096"));
    p->addFramework(framework("F", "r"));
    p->updateDemand(FrameworkId("F"), {pending("cpus:1;mem:1024", 4, 1)});
    return p->allocate(at(0)).size();
  };
  EXPECT_EQ(run("bestfit"), 1u);   // all four merge into one offer on one agent
  EXPECT_EQ(run("worstfit"), 2u);  // two on each agent
}

}  // namespace
}  // namespace allot
