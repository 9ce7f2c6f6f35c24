#include "fifo.h"

#include <algorithm>

namespace allot {

PolicyInfo FifoAllocator::info() {
  return {"fifo",
          "first fit, frameworks in registration order; places published task shapes on the "
          "first agent that fits",
          {},
          [](const Params& p) { return std::make_unique<FifoAllocator>(p); }};
}

FifoAllocator::FifoAllocator(const Params& params) : Allocator(parseAllocatorOptions(params)) {}

void FifoAllocator::decide(TimePoint /*now*/) {
  const ClusterState& s = state();
  order_.clear();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (f.alive && f.active && !f.suppressed) order_.push_back(fw);
  }
  std::sort(order_.begin(), order_.end(), [&](FrameworkIndex a, FrameworkIndex b) {
    return s.framework(a).registration < s.framework(b).registration;
  });
  for (FrameworkIndex fw : order_) {
    const FrameworkState& f = s.framework(fw);
    if (!f.demand.empty()) {
      for (const PendingTask& task : f.demand) {
        // Instances of one task go first fit; the next starts where the last
        // one found room.
        AgentIndex agent = 0;
        for (std::uint32_t i = 0; i < task.count; ++i) {
          for (; agent < s.agentSlots(); ++agent) {
            const AgentState& a = s.agent(agent);
            if (!a.alive || !a.active || !s.offerable(fw, agent).contains(task.shape)) continue;
            if (grant(fw, agent, task.shape, task.key)) break;
          }
        }
      }
      continue;
    }
    for (AgentIndex agent = 0; agent < s.agentSlots(); ++agent) {
      const AgentState& a = s.agent(agent);
      if (!a.alive || !a.active) continue;
      // Most agents of a busy cluster have nothing left: skip them without
      // building their offerable resources.
      if (!allocatable(s.availableTotal(agent))) continue;
      if (allocatable(s.offerable(fw, agent))) grantAll(fw, agent);
    }
  }
}

}  // namespace allot
