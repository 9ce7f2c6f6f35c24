#include "fifo.h"

#include <algorithm>
#include <span>

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
  // Consecutive frameworks without demand get agents whole, in one pass over
  // the agents (the same grants as one framework after the other); each
  // framework with demand places its tasks first fit.
  std::size_t from = 0;
  while (from < order_.size()) {
    std::size_t to = from;
    while (to < order_.size() && s.framework(order_[to]).demand.empty()) ++to;
    grantWholeAgents(std::span(order_).subspan(from, to - from));
    if (to == order_.size()) break;
    for (const PendingTask& task : s.framework(order_[to]).demand) placeFirstFit(order_[to], task);
    from = to + 1;
  }
}

}  // namespace allot
