#pragma once

// The setup of Mesos' DeclineOffers benchmark, shared by the Google Benchmark
// program (allocator_bench.cc) and the callgrind harness (allocator_rounds.cc)
// so that both always measure the same cluster.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "allot/policies/registry.h"

namespace allot::bench {

// A drf allocator with `frameworkCount` frameworks in one role and
// `agentCount` agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, each
// already running `cpus:16;mem:2014;disk:1024` and 16 ports for framework
// (i mod F), as Mesos' makePortRanges(makeRange(31000, 32000), 16); seeded
// for repeatability.
inline std::unique_ptr<Allocator> declineOffersCluster(std::size_t agentCount,
                                                       std::size_t frameworkCount) {
  auto allocator = makeAllocator("drf");
  for (std::size_t i = 0; i < frameworkCount; ++i) {
    FrameworkInfo f;
    f.id = FrameworkId("framework-" + std::to_string(i));
    f.name = f.id.str();
    f.role = "*";
    allocator->addFramework(f);
  }
  std::mt19937_64 rng(42);
  const Resources used = Resources::parse("cpus:16;mem:2014;disk:1024");
  for (std::size_t i = 0; i < agentCount; ++i) {
    AgentInfo agent;
    agent.id = AgentId("agent-" + std::to_string(i));
    agent.hostname = agent.id.str();
    agent.resources = Resources::parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
    Resources allocation = used;
    Ranges ports;
    while (ports.count() < 16) {
      const std::uint64_t port = 31000 + rng() % 1001;
      ports.add({port, port});
    }
    allocation.setRanges("ports", ports);
    const std::vector<std::pair<FrameworkId, Resources>> holders = {
        {FrameworkId("framework-" + std::to_string(i % frameworkCount)), allocation}};
    allocator->addAgent(agent, holders);
  }
  return allocator;
}

}  // namespace allot::bench
