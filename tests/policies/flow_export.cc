// Writes the flow networks the policy built and solved on seeded random
// instances, with the least cost and the flow its Boost solver found, for
// test_flow_exact.py to solve independently.
//
// Usage: flow_export [INSTANCES] [FIRST_SEED]   (default 200, 0)
// Output, per instance with a network:
//   instance SEED nodes N source S sink T cost C flow F
//   arc FROM TO CAPACITY COST        (one line per arc)
//   end
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "flow_instances.h"

int main(int argc, char** argv) {
  const std::uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  const std::uint64_t first = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    auto [policy, now] = allot::testing::randomFlowInstance(seed);
    policy->allocate(now);
    const allot::FlowNetwork& net = policy->lastNetwork();
    if (net.arcs.empty()) continue;
    const allot::FlowRoundStats& round = policy->lastRound();
    fmt::print("instance {} nodes {} source {} sink {} cost {} flow {}\n", seed, net.nodes,
               net.source, net.sink, round.cost, round.instances);
    for (const auto& arc : net.arcs) {
      fmt::print("arc {} {} {} {}\n", arc.from, arc.to, arc.capacity, arc.cost);
    }
    fmt::print("end\n");
  }
  return 0;
}
