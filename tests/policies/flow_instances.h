#pragma once

// Seeded random instances of the flow policy, shared by flow_test.cc and the
// exporter behind test_flow_exact.py: small clusters with partly used
// agents of different sizes, and a few frameworks' pending tasks (some of
// them gangs) that waited different times.

#include <fmt/format.h>

#include <memory>
#include <random>
#include <string>

#include "helpers.h"
#include "policies/flow.h"

namespace allot::testing {

struct FlowInstance {
  std::unique_ptr<FlowAllocator> policy;
  TimePoint now;
};

// `agents` and `tasks` are drawn in [minAgents, maxAgents] and [minTasks,
// maxTasks] (PendingTask records, 1-3 instances each); the policy's own
// parameters (candidates, fit, costs) are drawn too, and `extra` is
// appended to them (e.g. "solver=cycle").
inline FlowInstance randomFlowInstance(std::uint64_t seed, const std::string& extra = "",
                                       int minAgents = 2, int maxAgents = 5, int minTasks = 2,
                                       int maxTasks = 6) {
  std::mt19937_64 rng(seed);
  auto draw = [&](int lo, int hi) {
    return lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  const char* fits[] = {"pack", "spread"};
  const int unscheduled[] = {0, 300, 900, 2500};
  const int waits[] = {0, 1, 10};
  std::string params = fmt::format(
      "candidates={},fit={},aggregator_cost={},unscheduled_cost={},wait_cost={},seed={}",
      draw(1, 4), fits[draw(0, 1)], draw(0, 300), unscheduled[draw(0, 3)], waits[draw(0, 2)], seed);
  if (!extra.empty()) params += "," + extra;
  auto policy = std::make_unique<FlowAllocator>(Params::parse(params));

  // Background load, held by a framework that wants nothing more.
  policy->addFramework(framework("bg", "bg"));
  const int agentCount = draw(minAgents, maxAgents);
  for (int a = 0; a < agentCount; ++a) {
    const int cpus = draw(1, 8);
    const int mem = 1024 * draw(1, 8);
    const std::pair<FrameworkId, Resources> used{
        FrameworkId("bg"), Resources::parse(fmt::format("cpus:{};mem:{}", draw(0, cpus - 1),
                                                        512 * draw(0, mem / 1024 - 1)))};
    policy->addAgent(agent(fmt::format("a{}", a), fmt::format("cpus:{};mem:{}", cpus, mem)),
                     std::span(&used, 1));
  }
  policy->suppress(FrameworkId("bg"));

  const int frameworks = draw(1, 2);
  for (int f = 0; f < frameworks; ++f) policy->addFramework(framework(fmt::format("f{}", f), "r"));
  std::vector<std::vector<PendingTask>> demand(static_cast<std::size_t>(frameworks));
  const int taskCount = draw(minTasks, maxTasks);
  for (int t = 0; t < taskCount; ++t) {
    PendingTask task =
        pending(fmt::format("cpus:{};mem:{}", draw(1, 4), 512 * draw(1, 6)),
                static_cast<std::uint32_t>(draw(1, 3)), static_cast<std::uint64_t>(t));
    task.submitted = at(draw(0, 100));
    task.gang = draw(0, 4) == 0;
    demand[static_cast<std::size_t>(draw(0, frameworks - 1))].push_back(task);
  }
  for (int f = 0; f < frameworks; ++f) {
    policy->updateDemand(FrameworkId(fmt::format("f{}", f)), demand[static_cast<std::size_t>(f)]);
  }
  return {std::move(policy), at(100 + draw(0, 100))};
}

}  // namespace allot::testing
