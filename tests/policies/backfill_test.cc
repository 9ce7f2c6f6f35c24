#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;

// A gang of `count` one-cpu instances, expected to run `estimateS` seconds.
PendingTask job(std::uint64_t key, std::uint32_t count, double submittedS, double estimateS) {
  PendingTask t = testing::pending("cpus:1;mem:10", count, key);
  t.gang = true;
  t.submitted = at(submittedS);
  t.estimate = secondsToDuration(estimateS);
  return t;
}

// Four one-cpu agents, one framework, job 1 (3 wide, 100 s) already running.
std::unique_ptr<Allocator> busyCluster(const std::string& policy) {
  auto p = makeAllocator(policy);
  for (int i = 0; i < 4; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:100"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {job(1, 3, 0, 100)});
  EXPECT_EQ(p->allocate(at(0)).size(), 3u);
  return p;
}

std::vector<std::uint64_t> grantedKeys(const std::vector<Allocation>& offers) {
  std::vector<std::uint64_t> keys;
  for (const Allocation& a : offers) {
    if (keys.empty() || keys.back() != a.task) keys.push_back(a.task);
  }
  return keys;
}

// EASY starts a later job that ends before the blocked head's reservation,
// and not one that would still hold, at the reservation, what the head needs.
TEST(BackfillTest, EasyBackfillsOnlyWhatDoesNotDelayTheHead) {
  // Head: job 2, 4 wide, waits for job 1 (shadow 100 s, extra 0). Job 4
  // (200 s) fits in the free cpu now but would hold it at 100 s.
  auto p = busyCluster("easy");
  p->updateDemand(FrameworkId("F"), {job(2, 4, 1, 10), job(4, 1, 3, 200)});
  EXPECT_TRUE(p->allocate(at(3)).empty());
  // Job 3 (10 s) ends by then: it starts.
  p->updateDemand(FrameworkId("F"), {job(2, 4, 1, 10), job(4, 1, 3, 200), job(3, 1, 2, 10)});
  EXPECT_EQ(grantedKeys(p->allocate(at(3))), (std::vector<std::uint64_t>{3}));
}

// EASY without an estimate for a running job cannot compute the shadow time,
// so nothing jumps the queue (it would starve the head).
TEST(BackfillTest, EasyDoesNotBackfillWithoutAShadowTime) {
  auto p = makeAllocator("easy");
  for (int i = 0; i < 4; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:100"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {job(1, 3, 0, 0)});  // no estimate
  ASSERT_EQ(p->allocate(at(0)).size(), 3u);
  p->updateDemand(FrameworkId("F"), {job(2, 4, 1, 10), job(3, 1, 2, 10)});
  EXPECT_TRUE(p->allocate(at(3)).empty());
}

// The head's reservation moves when a running job ends early: the finished
// task's key tells the policy job 1 is gone, and the head starts at once.
TEST(BackfillTest, FinishedTasksLeaveTheReservations) {
  auto p = busyCluster("easy");
  for (int i = 0; i < 3; ++i) {
    p->recoverResources(FrameworkId("F"), AgentId("a" + std::to_string(i)),
                        Resources::parse("cpus:1;mem:10"), std::nullopt, at(50), 1);
  }
  p->updateDemand(FrameworkId("F"), {job(2, 4, 1, 10)});
  EXPECT_EQ(grantedKeys(p->allocate(at(50))), (std::vector<std::uint64_t>{2}));
}

// Conservative backfilling protects every queued job, not only the head.
// Six one-cpu agents; job 1 holds 4 until 100 s. Job 2 (head, 5 wide) is
// reserved at 100-110, leaving an extra cpu; job 3 (6 wide) at 110-120.
// Job 4 (1 wide, 300 s) fits now and within EASY's extra, so EASY starts it
// (delaying job 3); conservative sees it would overlap job 3's reservation.
TEST(BackfillTest, ConservativeProtectsEveryReservation) {
  auto run = [](const std::string& policy) {
    auto p = makeAllocator(policy);
    for (int i = 0; i < 6; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:100"));
    p->addFramework(framework("F", "r"));
    p->updateDemand(FrameworkId("F"), {job(1, 4, 0, 100)});
    EXPECT_EQ(p->allocate(at(0)).size(), 4u);
    p->updateDemand(FrameworkId("F"), {job(2, 5, 1, 10), job(3, 6, 2, 10), job(4, 1, 3, 300)});
    return grantedKeys(p->allocate(at(4)));
  };
  EXPECT_EQ(run("easy"), (std::vector<std::uint64_t>{4}));
  EXPECT_TRUE(run("conservative").empty());
}

// A gang that fails to place gives back what it took, and the agents it
// took from are found again by the next job. The first-fit scan skips blocks
// of 64 agents whose free-resource bound a part exceeds and tightens a
// block's bound when its agents have no room; a failed gang must raise the
// bound again. 100 agents of 2 cpus (blocks 0-63, 64-99) and 28 of 1 cpu;
// job 1 (28 cpus, packed on a0-a13) runs until 100 s. Head job 2 (101 x 2
// cpus) waits: shadow 100 s. Job 3 (ends before it) takes a14-a63 whole for
// its first 50 instances, finds block 0 empty for the other 37 (bound
// tightened), fits 36 on a64-a99 and fails. Job 4 (1 x 2 cpus) then starts
// on a14, the first fit, not on a64 past a block wrongly thought full.
TEST(BackfillTest, FailedGangGivesItsAgentsBackToFirstFit) {
  for (const std::string policy : {"easy", "conservative"}) {
    auto p = makeAllocator(policy);
    for (int i = 0; i < 100; ++i) p->addAgent(agent("a" + std::to_string(i), "cpus:2;mem:100"));
    for (int i = 100; i < 128; ++i) {
      p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:100"));
    }
    p->addFramework(framework("F", "r"));
    PendingTask running = testing::pending("cpus:1;mem:1", 28, 1);
    running.gang = true;
    running.estimate = secondsToDuration(100);
    p->updateDemand(FrameworkId("F"), {running});
    ASSERT_EQ(p->allocate(at(0)).size(), 14u) << policy;  // two instances per agent

    PendingTask head = testing::pending("cpus:2;mem:1", 101, 2);
    head.gang = true;
    head.submitted = at(1);
    head.estimate = secondsToDuration(10);
    std::vector<PendingTask> demand{head};
    for (std::uint32_t count : {50u, 37u}) {  // one gang of two records
      PendingTask part = testing::pending("cpus:2;mem:1", count, 3);
      part.gang = true;
      part.submitted = at(2);
      part.estimate = secondsToDuration(10);
      demand.push_back(part);
    }
    PendingTask small = testing::pending("cpus:2;mem:1", 1, 4);
    small.gang = true;
    small.submitted = at(3);
    small.estimate = secondsToDuration(10);
    demand.push_back(small);
    p->updateDemand(FrameworkId("F"), demand);
    const std::vector<Allocation> offers = p->allocate(at(3));
    ASSERT_EQ(grantedKeys(offers), (std::vector<std::uint64_t>{4})) << policy;
    EXPECT_EQ(offers[0].agent, AgentId("a14")) << policy;
  }
}

// Without published demand (the runtime master today) both act as fifo:
// whole agents, frameworks in registration order.
TEST(BackfillTest, WithoutDemandOffersWholeAgents) {
  for (const std::string policy : {"easy", "conservative"}) {
    auto p = makeAllocator(policy);
    p->addAgent(agent("a1", "cpus:2;mem:100"));
    p->addFramework(framework("F", "r"));
    const auto offers = p->allocate(at(0));
    ASSERT_EQ(offers.size(), 1u) << policy;
    EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:100")) << policy;
    EXPECT_EQ(offers[0].task, kNoTask) << policy;
  }
}

// A task's instances are one run in the queue (BackfillAllocator::Job::count);
// published as that many one-instance tasks instead, each its own queue
// entry, they must be placed the same: random clusters with a blocked head
// gang, then runs of identical tasks of mixed sizes and estimates, one round.
TEST(BackfillTest, ARunOfInstancesIsPlacedAsTheSameTasksOneByOne) {
  for (const std::string policy : {"easy", "conservative"}) {
    for (std::uint64_t seed = 0; seed < 150; ++seed) {
      std::mt19937_64 rng(seed);
      const std::size_t agents = 4 + rng() % 8;
      std::vector<double> cpus;
      for (std::size_t i = 0; i < agents; ++i)
        cpus.push_back(static_cast<double>(1u << (rng() % 3)));
      struct Run {
        double cpus;
        std::uint32_t count;
        double estimateS;
      };
      std::vector<Run> runs;
      for (std::uint64_t n = 2 + rng() % 5; n > 0; --n) {
        runs.push_back({rng() % 2 == 0 ? 0.5 : 1.0, 1 + static_cast<std::uint32_t>(rng() % 6),
                        std::vector<double>{0, 10, 200}[rng() % 3]});
      }
      const auto headWidth = static_cast<std::uint32_t>(agents + 1 + rng() % 4);
      // cpus granted per agent in one round.
      auto round = [&](bool oneByOne) {
        auto p = makeAllocator(policy);
        for (std::size_t i = 0; i < agents; ++i) {
          p->addAgent(agent("a" + std::to_string(i), fmt::format("cpus:{};mem:100", cpus[i])));
        }
        p->addFramework(framework("F", "r"));
        p->updateDemand(FrameworkId("F"), {job(1, 2, 0, 100)});
        p->allocate(at(0));
        std::vector<PendingTask> demand{job(2, headWidth, 1, 50)};
        std::uint64_t key = 10;
        double submitted = 2;
        for (const Run& r : runs) {
          PendingTask t = testing::pending(fmt::format("cpus:{};mem:1", r.cpus), r.count, key);
          t.submitted = at(submitted);
          t.estimate = secondsToDuration(r.estimateS);
          if (oneByOne) {
            t.count = 1;
            for (std::uint32_t i = 0; i < r.count; ++i) {
              t.key = key * 100 + i;
              demand.push_back(t);
            }
          } else {
            demand.push_back(t);
          }
          ++key;
          submitted += static_cast<double>(rng() % 2);
        }
        p->updateDemand(FrameworkId("F"), demand);
        std::map<std::string, double> perAgent;
        for (const Allocation& a : p->allocate(at(5))) {
          perAgent[a.agent.str()] += a.resources.totalScalars()[0];
        }
        return perAgent;
      };
      const std::uint64_t draws = rng();  // the same submit-time draws for both forms
      rng.seed(draws);
      const auto asRuns = round(false);
      rng.seed(draws);
      const auto oneByOne = round(true);
      ASSERT_EQ(asRuns.size(), oneByOne.size()) << policy << " seed " << seed;
      for (const auto& [a, granted] : asRuns) {
        ASSERT_EQ(oneByOne.count(a), 1u) << policy << " seed " << seed << " agent " << a;
        EXPECT_DOUBLE_EQ(granted, oneByOne.at(a)) << policy << " seed " << seed << " agent " << a;
      }
    }
  }
}

}  // namespace
}  // namespace allot
