// Cost of one allocation round of the sparrow policy at the Google trace's
// scale, in a steady state near 90% load, against the task-placing `fifo`
// policy in the same harness.
//
// 12,583 agents of 4 one-slot cores (the Google cell's machine count), 50
// frameworks, suppressed while they have nothing pending. Before each timed round (untimed): `ends`
// running tasks end (their resources come back with their keys) and `jobs` jobs of 100 one-slot
// tasks arrive at random frameworks, which publish them; after it, the frameworks launch what they
// were granted and publish what is left. The cluster is first filled to 90% of its slots. Only
// allocate() is timed.
//
// Run: build/release/bench/policies/sparrow_rounds [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "allot/policies/registry.h"

namespace allot {
namespace {

constexpr int kFrameworks = 50;
constexpr std::uint32_t kTasksPerJob = 100;
constexpr char kSlot[] = "cpus:1;mem:1024";

struct Running {
  FrameworkId fw;
  AgentId agent;
  Resources resources;
  std::uint64_t key;
};

class Harness {
 public:
  Harness(const std::string& policy, const std::string& params, int agents)
      : alloc_(makeAllocator(policy, Params::parse(params))),
        demand_(kFrameworks),
        rng_(7),
        slot_(Resources::parse(kSlot)) {
    for (int f = 0; f < kFrameworks; ++f) {
      FrameworkInfo info;
      info.id = FrameworkId("f" + std::to_string(f));
      info.name = info.id.str();
      info.role = "r";
      alloc_->addFramework(info);
      alloc_->suppress(info.id);
    }
    for (int a = 0; a < agents; ++a) {
      AgentInfo info;
      info.id = AgentId("a" + std::to_string(a));
      info.hostname = info.id.str();
      info.resources = Resources::parse("cpus:4;mem:4096");
      alloc_->addAgent(info);
    }
    slots_ = static_cast<std::size_t>(agents) * 4;
  }

  void arrive(int jobs) {
    now_ += std::chrono::seconds(1);
    for (int j = 0; j < jobs; ++j) {
      const auto f = static_cast<std::size_t>(rng_() % kFrameworks);
      PendingTask t;
      t.shape = slot_;
      t.count = kTasksPerJob;
      t.key = nextKey_++;
      t.submitted = now_;
      demand_[f].push_back(t);
      publish(f);
    }
  }

  void end(std::size_t count) {
    for (std::size_t i = 0; i < count && !running_.empty(); ++i) {
      const std::size_t k = rng_() % running_.size();
      const Running r = running_[k];
      running_[k] = running_.back();
      running_.pop_back();
      alloc_->recoverResources(r.fw, r.agent, r.resources, std::nullopt, now_, r.key);
    }
  }

  std::vector<Allocation> round() { return alloc_->allocate(now_); }

  // The frameworks launch what they were granted (one instance per slot).
  void launch(const std::vector<Allocation>& offers) {
    std::vector<bool> touched(kFrameworks, false);
    for (const Allocation& a : offers) {
      const std::size_t f = a.frameworkIndex;  // frameworks were added in order, one slot each
      auto it = std::find_if(demand_[f].begin(), demand_[f].end(),
                             [&](const PendingTask& t) { return t.key == a.task; });
      const auto n = static_cast<std::uint32_t>(a.resources.totalScalars()[0] + 0.5);
      if (it == demand_[f].end() || n == 0 || n > it->count) {
        alloc_->recoverResources(a.framework, a.agent, a.resources, std::nullopt, now_);
        ++declined_;
        continue;
      }
      it->count -= n;
      if (it->count == 0) demand_[f].erase(it);
      touched[f] = true;
      for (std::uint32_t i = 0; i < n; ++i)
        running_.push_back({a.framework, a.agent, slot_, a.task});
    }
    for (std::size_t f = 0; f < touched.size(); ++f) {
      if (touched[f]) publish(f);
    }
  }

  // Frameworks publish their pending work, and suppress offers while they
  // have none (as the simulator's do).
  void publish(std::size_t f) {
    const FrameworkId id("f" + std::to_string(f));
    alloc_->updateDemand(id, demand_[f]);
    if (demand_[f].empty()) {
      alloc_->suppress(id);
    } else {
      alloc_->revive(id);
    }
  }

  // Rounds until 90% of the slots run tasks.
  void fill() {
    while (running_.size() < slots_ * 9 / 10) {
      arrive(static_cast<int>(slots_ / kTasksPerJob / 20) + 1);
      launch(round());
    }
  }

  std::size_t pending() const {
    std::size_t n = 0;
    for (const auto& d : demand_) {
      for (const PendingTask& t : d) n += t.count;
    }
    return n;
  }

 private:
  std::unique_ptr<Allocator> alloc_;
  std::vector<std::vector<PendingTask>> demand_;
  std::vector<Running> running_;
  std::mt19937_64 rng_;
  Resources slot_;
  std::size_t slots_ = 0;
  TimePoint now_ = kTimeZero;
  std::uint64_t nextKey_ = 1;

 public:
  std::size_t declined_ = 0;
  std::size_t running() const { return running_.size(); }
};

// Args: agents, jobs arriving per round (100 tasks each); as many tasks end.
void run(benchmark::State& state, const std::string& policy, const std::string& params) {
  const int agents = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  Harness h(policy, params, agents);
  h.fill();
  std::size_t grants = 0, rounds = 0, pending = 0;
  for (auto _ : state) {
    h.end(static_cast<std::size_t>(jobs) * kTasksPerJob);
    h.arrive(jobs);
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Allocation> offers = h.round();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    grants += offers.size();
    ++rounds;
    h.launch(offers);
    pending += h.pending();
  }
  state.counters["grants/round"] = static_cast<double>(grants) / static_cast<double>(rounds);
  state.counters["pending"] = static_cast<double>(pending) / static_cast<double>(rounds);
  state.counters["declined"] = static_cast<double>(h.declined_);
  state.counters["running"] = static_cast<double>(h.running());
}

void BM_SparrowBatch(benchmark::State& state) {
  run(state, "sparrow", "");
}
void BM_SparrowPerTask(benchmark::State& state) {
  run(state, "sparrow", "mode=per-task");
}
void BM_SparrowOmniscient(benchmark::State& state) {
  run(state, "sparrow", "mode=omniscient");
}
void BM_Fifo(benchmark::State& state) {
  run(state, "fifo", "");
}

BENCHMARK(BM_SparrowBatch)
    ->Args({12583, 5})
    ->Args({12583, 50})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SparrowPerTask)
    ->Args({12583, 5})
    ->Args({12583, 50})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SparrowOmniscient)
    ->Args({12583, 5})
    ->Args({12583, 50})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fifo)
    ->Args({12583, 5})
    ->Args({12583, 50})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace allot

BENCHMARK_MAIN();
