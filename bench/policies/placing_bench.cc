// One allocation round of the task-placing policies (tetris, bestfit,
// worstfit) on a Google-sized cluster, with drf's round on the same state
// as the same-run baseline.
//
// 12,583 agents in the proportions and normalized sizes of the Google 2011
// cell's machine table (/work/shared/traces/google2011/machines.csv, the
// units the simulator uses); 20 frameworks publish 1,000 pending tasks in
// all (50 single-instance units each, shapes drawn from a grid of Google-like
// requests). Two states: `idle` (every agent empty: a few distinct free
// vectors) and `busy` (a suppressed framework holds a random 0-80% of each
// agent: every free vector distinct, the packer's worst case). Each
// iteration times one allocate() (manual time); the offers are then given
// back untimed, so every round starts from the same state — and, as in a
// simulation, the agents they touched have changed since the last round.
// BM_FirstRound times the first round of a fresh allocator instead (nothing
// kept from earlier rounds).
//
// Run: BUILD/bench/policies/placing_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "allot/policies/registry.h"

namespace allot {
namespace {

using Clock = std::chrono::steady_clock;

struct MachineType {
  int count;
  double cpus;
  double mem;
};

// google2011/machines.csv (Reiss et al., SoCC 2012, Table 1), 12,583 machines.
constexpr MachineType kGoogleMachines[] = {
    {6732, 0.50, 0.50}, {3863, 0.50, 0.25}, {1001, 0.50, 0.75}, {795, 1.00, 1.00},
    {126, 0.25, 0.25},  {52, 0.50, 0.12},   {5, 0.50, 0.03},    {5, 0.50, 0.97},
    {3, 1.00, 0.50},    {1, 0.50, 0.06}};

constexpr int kFrameworks = 20;
constexpr int kUnitsPerFramework = 50;

std::string scalars(double cpus, double mem) {
  return "cpus:" + std::to_string(cpus) + ";mem:" + std::to_string(mem);
}

std::unique_ptr<Allocator> cluster(const std::string& policy, bool busy) {
  // The minimum offer in the trace's units (the default's mem:32 is MB).
  auto allocator = makeAllocator(policy, Params::parse("min_allocatable=cpus:0.01"));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> load(0.0, 0.8);
  FrameworkInfo holder;
  holder.id = FrameworkId("background");
  holder.name = "background";
  holder.role = "batch";
  allocator->addFramework(holder);
  int n = 0;
  for (const MachineType& type : kGoogleMachines) {
    for (int i = 0; i < type.count; ++i, ++n) {
      AgentInfo info;
      info.id = AgentId("m" + std::to_string(n));
      info.hostname = info.id.str();
      info.resources = Resources::parse(scalars(type.cpus, type.mem));
      if (!busy) {
        allocator->addAgent(info);
        continue;
      }
      const std::pair<FrameworkId, Resources> used[] = {
          {holder.id, Resources::parse(scalars(type.cpus * load(rng), type.mem * load(rng)))}};
      allocator->addAgent(info, used);
    }
  }
  allocator->suppress(holder.id);
  // Google-like requests: a few quantized CPU and memory sizes.
  const double cpuSizes[] = {0.00625, 0.0125, 0.025, 0.0625, 0.125, 0.25};
  const double memSizes[] = {0.0016, 0.0031, 0.0062, 0.0124, 0.0249, 0.05, 0.1};
  std::uniform_int_distribution<int> cpuPick(0, 5);
  std::uniform_int_distribution<int> memPick(0, 6);
  for (int f = 0; f < kFrameworks; ++f) {
    FrameworkInfo info;
    info.id = FrameworkId("f" + std::to_string(f));
    info.name = info.id.str();
    info.role = "batch";
    allocator->addFramework(info);
    std::vector<PendingTask> demand;
    for (int u = 0; u < kUnitsPerFramework; ++u) {
      PendingTask t;
      t.shape = Resources::parse(scalars(cpuSizes[cpuPick(rng)], memSizes[memPick(rng)]));
      t.key = static_cast<std::uint64_t>(u);
      t.submitted = kTimeZero + std::chrono::seconds(u % 7);
      t.estimate = std::chrono::seconds(10 + 30 * (u % 5));
      demand.push_back(std::move(t));
    }
    allocator->updateDemand(info.id, std::move(demand));
  }
  return allocator;
}

void BM_Round(benchmark::State& state, const std::string& policy, bool busy) {
  auto allocator = cluster(policy, busy);
  TimePoint now = kTimeZero;
  std::size_t offers = 0;
  std::size_t rounds = 0;
  for (auto _ : state) {
    now += std::chrono::seconds(1);
    const auto start = Clock::now();
    const std::vector<Allocation> round = allocator->allocate(now);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    offers += round.size();
    ++rounds;
    for (const Allocation& a : round) {
      allocator->recoverResources(a.framework, a.agent, a.resources, std::nullopt, now, a.task);
    }
  }
  state.counters["offers_per_round"] = static_cast<double>(offers) / static_cast<double>(rounds);
}

// The first round of a fresh allocator: nothing learnt from earlier rounds
// (every shape scanned over every bucket). Setup untimed.
void BM_FirstRound(benchmark::State& state, const std::string& policy, bool busy) {
  for (auto _ : state) {
    auto allocator = cluster(policy, busy);
    const auto start = Clock::now();
    const std::vector<Allocation> round = allocator->allocate(kTimeZero);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    benchmark::DoNotOptimize(round.data());
  }
}

const bool registered = [] {
  for (const char* policy : {"drf", "tetris", "bestfit", "worstfit"}) {
    for (const bool busy : {false, true}) {
      benchmark::RegisterBenchmark(
          (std::string("BM_Round/") + policy + (busy ? "/busy" : "/idle")).c_str(),
          [policy, busy](benchmark::State& s) { BM_Round(s, policy, busy); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(
          (std::string("BM_FirstRound/") + policy + (busy ? "/busy" : "/idle")).c_str(),
          [policy, busy](benchmark::State& s) { BM_FirstRound(s, policy, busy); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(10);
    }
  }
  return true;
}();

}  // namespace
}  // namespace allot

BENCHMARK_MAIN();
