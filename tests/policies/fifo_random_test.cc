#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/cluster_state.h"
#include "allot/policies/registry.h"
#include "allot/policies/rounds.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using testing::pending;
using testing::roundsFramework;

// FIFO serves frameworks in registration order: the first takes every agent.
TEST(FifoTest, FirstRegisteredFrameworkTakesEverything) {
  auto fifo = makeAllocator("fifo");
  fifo->addAgent(agent("a1", "cpus:4;mem:4096"));
  fifo->addAgent(agent("a2", "cpus:4;mem:4096"));
  fifo->addFramework(framework("first", "r"));
  fifo->addFramework(framework("second", "r"));
  const auto offers = fifo->allocate(at(0));
  ASSERT_EQ(offers.size(), 2u);
  for (const Allocation& a : offers) EXPECT_EQ(a.framework.str(), "first");
}

// With published demand, FIFO places each task shape on the first agent
// where it fits, sized exactly to the task.
TEST(FifoTest, PlacesPublishedTasksFirstFit) {
  auto fifo = makeAllocator("fifo");
  fifo->addAgent(agent("a1", "cpus:2;mem:2048"));
  fifo->addAgent(agent("a2", "cpus:8;mem:8192"));
  fifo->addFramework(framework("F", "r"));
  fifo->updateDemand(FrameworkId("F"),
                     {pending("cpus:1;mem:1024", 1, 7), pending("cpus:4;mem:1024", 1, 8),
                      pending("cpus:1;mem:1024", 1, 9)});
  const auto offers = fifo->allocate(at(0));
  ASSERT_EQ(offers.size(), 3u);
  EXPECT_EQ(offers[0].agent.str(), "a1");
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:1;mem:1024"));
  EXPECT_EQ(offers[0].task, 7u);
  EXPECT_EQ(offers[1].agent.str(), "a2");
  EXPECT_EQ(offers[1].resources, Resources::parse("cpus:4;mem:1024"));
  EXPECT_EQ(offers[1].task, 8u);
  EXPECT_EQ(offers[2].agent.str(), "a1");
  EXPECT_EQ(offers[2].task, 9u);
}

// Instances of one pending task merge into one offer per agent, since they
// share a key; the demand's count is honoured.
TEST(FifoTest, InstancesOfOneTaskMergePerAgent) {
  auto fifo = makeAllocator("fifo");
  fifo->addAgent(agent("a1", "cpus:2;mem:2048"));
  fifo->addAgent(agent("a2", "cpus:8;mem:8192"));
  fifo->addFramework(framework("F", "r"));
  fifo->updateDemand(FrameworkId("F"), {pending("cpus:1;mem:512", 5, 3)});
  const auto offers = fifo->allocate(at(0));
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:1024"));
  EXPECT_EQ(offers[1].resources, Resources::parse("cpus:3;mem:1536"));
  EXPECT_EQ(offers[1].task, 3u);
}

// FIFO's first fit with the plain first-fit loop (each agent's offerable
// resources copied and tested for every instance), to check that turning
// agents away on their dense sums and remembering the shapes that fit
// nowhere in a round change no placement.
class PlainFirstFit : public Allocator {
 public:
  std::string_view name() const override { return "plain-first-fit"; }
  void decide(TimePoint /*now*/) override {
    const ClusterState& s = state();
    for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
      for (const PendingTask& task : s.framework(fw).demand) {
        AgentIndex agent = 0;
        for (std::uint32_t i = 0; i < task.count && agent < s.agentSlots(); ++i) {
          for (; agent < s.agentSlots(); ++agent) {
            if (!s.offerable(fw, agent).contains(task.shape)) continue;
            if (grant(fw, agent, task.shape, task.key)) break;
          }
        }
      }
    }
  }
};

TEST(FifoTest, FirstFitPlacesAsThePlainLoop) {
  std::mt19937_64 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  int placed = 0, turnedAway = 0;
  for (int scenario = 0; scenario < 300; ++scenario) {
    SCOPED_TRACE(scenario);
    auto fifo = makeAllocator("fifo");
    PlainFirstFit plain;
    const int agents = 1 + pick(12);
    for (int a = 0; a < agents; ++a) {
      // Lopsided machines, some with a pool reserved for role r1 and ports.
      std::string resources = fmt::format("cpus:{};mem:{}", 1 + pick(8), 256 * (1 + pick(16)));
      if (pick(4) == 0) resources += fmt::format(";cpus(r1):{};mem(r1):512", 1 + pick(4));
      if (pick(3) == 0) resources += ";ports:[31000-31003]";
      fifo->addAgent(agent("a" + std::to_string(a), resources));
      plain.addAgent(agent("a" + std::to_string(a), resources));
    }
    for (int f = 0; f < 4; ++f) {
      const std::string id = "f" + std::to_string(f);
      const std::string role = f % 2 == 0 ? "r1" : "r2";
      fifo->addFramework(framework(id, role));
      plain.addFramework(framework(id, role));
      std::vector<PendingTask> demand;
      for (int t = 0; t < 1 + pick(6); ++t) {
        std::string shape =
            fmt::format("cpus:{};mem:{}", 0.5 * (1 + pick(8)), 128 * (1 + pick(24)));
        if (pick(6) == 0) shape += ";ports:[31000-31001]";
        if (pick(8) == 0) shape = fmt::format("cpus(r1):{}", 1 + pick(2));
        demand.push_back(pending(shape, static_cast<std::uint32_t>(1 + pick(5)),
                                 static_cast<std::uint64_t>(t + 1)));
      }
      fifo->updateDemand(FrameworkId(id), demand);
      plain.updateDemand(FrameworkId(id), demand);
    }
    for (int round = 0; round < 3; ++round) {
      const auto got = fifo->allocate(at(round));
      const auto want = plain.allocate(at(round));
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].framework, want[i].framework);
        EXPECT_EQ(got[i].agent, want[i].agent);
        EXPECT_EQ(got[i].resources, want[i].resources);
        EXPECT_EQ(got[i].task, want[i].task);
      }
      placed += static_cast<int>(got.size());
      // Give back half of the offers, so later rounds place again on a
      // partly used cluster.
      for (std::size_t i = 0; i < got.size(); i += 2) {
        fifo->recoverResources(got[i].framework, got[i].agent, got[i].resources, std::nullopt,
                               at(round));
        plain.recoverResources(want[i].framework, want[i].agent, want[i].resources, std::nullopt,
                               at(round));
      }
      turnedAway += got.empty() ? 1 : 0;
    }
  }
  EXPECT_GT(placed, 1000);   // the scenarios place work...
  EXPECT_GT(turnedAway, 0);  // ...and some rounds find room for nothing
}

// The random policy is reproducible for a seed and differs across seeds.
TEST(RandomTest, SeedDeterminesChoices) {
  auto run = [](int seed) {
    auto policy = makeAllocator("random", Params::parse("seed=" + std::to_string(seed)));
    for (int i = 0; i < 30; ++i)
      policy->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
    std::vector<std::string> owners;
    for (int i = 0; i < 4; ++i) policy->addFramework(framework("f" + std::to_string(i), "r"));
    for (const Allocation& a : policy->allocate(at(0))) {
      owners.push_back(a.agent.str() + ":" + a.framework.str());
    }
    return owners;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
  EXPECT_EQ(run(3).size(), 30u);
}

// Every policy honours decline filters and reservations: they live in the
// shared bookkeeping, not in the policy.
TEST(PolicyContractTest, EveryPolicyHonoursFiltersAndReservations) {
  for (const PolicyInfo& info : builtinPolicies()) {
    SCOPED_TRACE(info.name);
    auto policy = makeAllocator(info.name);
    policy->addAgent(agent("a1", "cpus:2;mem:2048;cpus(web):2"));
    policy->addFramework(framework("batch", "batch"));
    auto offers = policy->allocate(at(0));
    ASSERT_EQ(offers.size(), 1u);
    EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:2048"));
    policy->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources,
                             Filters{std::chrono::seconds(5)}, at(0));
    EXPECT_TRUE(policy->allocate(at(1)).empty());
    EXPECT_EQ(policy->allocate(at(5)).size(), 1u);
  }
}

// Every policy, with published demand: grants name a published task (or
// none), stay within the cluster, cover at least one pending instance,
// respect a decline filter (of whole agents: a filter covers what was
// refused or less) and give nothing to a suppressed framework.
TEST(PolicyContractTest, EveryPolicyHonoursPublishedDemand) {
  for (const PolicyInfo& info : builtinPolicies()) {
    SCOPED_TRACE(info.name);
    auto policy = makeAllocator(info.name);
    policy->addAgent(agent("a1", "cpus:4;mem:4096"));
    policy->addAgent(agent("a2", "cpus:4;mem:4096"));
    policy->addFramework(framework("F", "r"));
    PendingTask task = pending("cpus:1;mem:512", 3, 7);
    task.estimate = std::chrono::seconds(60);
    policy->updateDemand(FrameworkId("F"), {task});
    auto offers = policy->allocate(at(0));
    ASSERT_FALSE(offers.empty());
    Resources granted;
    for (const Allocation& a : offers) {
      EXPECT_TRUE(a.task == 7 || a.task == kNoTask);
      granted += a.resources;
    }
    EXPECT_TRUE(Resources::parse("cpus:8;mem:8192").contains(granted));
    EXPECT_TRUE(granted.contains(Resources::parse("cpus:1;mem:512")));
    // Everything comes back, refused for 10 s on the first offer's agent,
    // which is not offered again before then.
    const AgentId refused = offers[0].agent;
    for (const Allocation& a : offers) {
      std::optional<Filters> filter;
      if (a.agent == refused) filter = Filters{std::chrono::seconds(10)};
      policy->recoverResources(a.framework, a.agent, a.resources, filter, at(0));
    }
    for (const Allocation& a : policy->allocate(at(1))) EXPECT_NE(a.agent, refused);
    policy->suppress(FrameworkId("F"));
    EXPECT_TRUE(policy->allocate(at(2)).empty());
  }
}

}  // namespace
}  // namespace allot
