// Reproductions of two of Mesos' own allocator benchmarks, with the same
// setups, so our figures can be set beside Mesos' published ones:
//
//  - DeclineOffers: HierarchicalAllocator_BENCHMARK_Test.DeclineOffers in
//    Mesos' src/tests/hierarchical_allocator_tests.cpp.
//  - LargeAndSmallQuota: BENCHMARK_HierarchicalAllocator_WithQuotaParam
//    .LargeAndSmallQuota in src/tests/hierarchical_allocator_benchmarks.cpp.
//
// Only allocate() calls are timed (manual time), as Mesos times only the
// allocation cycle. Run: build/release/bench/policies/allocator_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "decline_offers_setup.h"

namespace allot {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// 10,000 agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, each
// already running `cpus:16;mem:2014;disk:1024` and 16 ports for framework
// (i mod F); all F frameworks in one role. Every offer is declined with an
// effectively infinite filter; 2F rounds let every framework see (and
// refuse) every agent. Each benchmark iteration times one allocation round.
void BM_DeclineOffers(benchmark::State& state) {
  const auto agentCount = static_cast<std::size_t>(state.range(0));
  const auto frameworkCount = static_cast<std::size_t>(state.range(1));
  auto allocator = bench::declineOffersCluster(agentCount, frameworkCount);

  TimePoint now = kTimeZero;
  const Filters forever{secondsToDuration(2147483647.0)};  // INT_MAX seconds, as Mesos
  std::vector<Allocation> offers;
  std::size_t round = 0;
  std::size_t totalOffers = 0;
  std::size_t declined = 0;
  std::size_t maxOffers = 0;
  double worst = 0;
  double offerRoundSeconds = 0, quietRoundSeconds = 0;
  std::size_t offerRounds = 0, quietRounds = 0;
  for (auto _ : state) {
    // Decline what the previous round offered (not timed, as in Mesos).
    for (const Allocation& offer : offers) {
      allocator->recoverResources(offer.framework, offer.agent, offer.resources, forever, now);
    }
    declined += offers.size();
    now += std::chrono::seconds(1);
    const auto start = Clock::now();
    offers = allocator->allocate(now);
    const double elapsed = secondsSince(start);
    state.SetIterationTime(elapsed);
    worst = std::max(worst, elapsed);
    totalOffers += offers.size();
    if (offers.empty()) {
      quietRoundSeconds += elapsed;
      ++quietRounds;
    } else {
      offerRoundSeconds += elapsed;
      ++offerRounds;
    }
    maxOffers = std::max(maxOffers, offers.size());
    ++round;
  }
  state.counters["rounds"] = static_cast<double>(round);
  state.counters["offers"] = static_cast<double>(totalOffers);
  state.counters["max_offers_per_round"] = static_cast<double>(maxOffers);
  state.counters["declined"] = static_cast<double>(declined);
  state.counters["worst_round_ms"] = worst * 1e3;
  // Rounds that made offers and rounds where every framework had declined
  // every agent (the second half of Mesos' 2F rounds) cost differently.
  state.counters["offer_rounds"] = static_cast<double>(offerRounds);
  state.counters["offer_round_mean_ms"] =
      offerRounds ? offerRoundSeconds / static_cast<double>(offerRounds) * 1e3 : 0;
  state.counters["quiet_round_mean_ms"] =
      quietRounds ? quietRoundSeconds / static_cast<double>(quietRounds) * 1e3 : 0;
}

// Mesos runs 2F rounds; with Iterations we ask Google Benchmark for exactly that.
BENCHMARK(BM_DeclineOffers)
    ->Args({1000, 100})
    ->Iterations(200)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DeclineOffers)
    ->Args({10000, 1000})
    ->Iterations(2000)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// 3,000 agents `cpus:2;mem:2048;disk:2048`; 2,500 roles with quota
// `cpus:1;mem:1024;disk:1024` (half an agent) and 500 with
// `cpus:4;mem:4096;disk:4096` (two agents), guarantee = limit as Mesos'
// createQuota sets; one framework per role. One allocation cycle must make
// 3,500 allocations; a second one makes none.
void BM_LargeAndSmallQuota(benchmark::State& state) {
  const auto smallRoles = static_cast<std::size_t>(state.range(0));
  const auto largeRoles = static_cast<std::size_t>(state.range(1));
  const std::size_t agentCount = smallRoles / 5 + largeRoles * 5;
  std::size_t allocations = 0;
  std::size_t secondRound = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto allocator = makeAllocator("drf");
    for (std::size_t i = 0; i < agentCount; ++i) {
      AgentInfo agent;
      agent.id = AgentId("agent-" + std::to_string(i));
      agent.resources = Resources::parse("cpus:2;mem:2048;disk:2048");
      allocator->addAgent(agent);
    }
    auto addRole = [&](const std::string& role, const std::string& quota) {
      FrameworkInfo f;
      f.id = FrameworkId("framework_" + role);
      f.role = role;
      allocator->addFramework(f);
      const Resources q = Resources::parse(quota);
      allocator->setQuota(role, Quota{q, q});
    };
    for (std::size_t i = 0; i < smallRoles; ++i) {
      addRole("smallQuotaRole" + std::to_string(i), "cpus:1;mem:1024;disk:1024");
    }
    for (std::size_t i = 0; i < largeRoles; ++i) {
      addRole("largeQuotaRole" + std::to_string(i), "cpus:4;mem:4096;disk:4096");
    }
    const auto start = Clock::now();
    const std::vector<Allocation> offers = allocator->allocate(kTimeZero + std::chrono::seconds(1));
    state.SetIterationTime(secondsSince(start));
    allocations = offers.size();
    secondRound = allocator->allocate(kTimeZero + std::chrono::seconds(2)).size();
    state.ResumeTiming();
  }
  state.counters["agents"] = static_cast<double>(agentCount);
  state.counters["allocations"] = static_cast<double>(allocations);
  state.counters["second_round_allocations"] = static_cast<double>(secondRound);
}

BENCHMARK(BM_LargeAndSmallQuota)
    ->Args({250, 50})
    ->Args({2500, 500})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace allot

BENCHMARK_MAIN();
