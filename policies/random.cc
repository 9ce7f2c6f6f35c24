#include "random.h"

#include <algorithm>

#include "src/shuffle.h"

namespace allot {

PolicyInfo RandomAllocator::info() {
  return {"random",
          "each agent offered whole to a framework drawn uniformly at random (seeded)",
          {{"seed", "0", "random seed; the same seed gives the same allocations"}},
          [](const Params& p) { return std::make_unique<RandomAllocator>(p); }};
}

RandomAllocator::RandomAllocator(const Params& params)
    : Allocator(parseAllocatorOptions(params)),
      rng_(static_cast<std::uint64_t>(params.getInt("seed", 0))) {}

void RandomAllocator::decide(TimePoint /*now*/) {
  const ClusterState& s = state();
  agents_.clear();
  for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
    if (s.agent(a).alive && s.agent(a).active) agents_.push_back(a);
  }
  shuffleSeeded(agents_, rng_);
  for (AgentIndex agent : agents_) {
    candidates_.clear();
    if (!allocatable(s.availableTotal(agent))) continue;  // nothing for anyone
    // Without reserved pools every framework may be offered the same thing:
    // look at it in place instead of building it per framework.
    const bool shared = !s.availableReserved(agent);
    for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
      const FrameworkState& f = s.framework(fw);
      if (!f.alive || !f.active || f.suppressed || !wantsMore(fw)) continue;
      Resources own;
      if (!shared) own = s.offerable(fw, agent);
      const Resources& offer = shared ? s.agent(agent).available : own;
      if (!allocatable(offer) || (s.hasFilters(agent) && s.isFiltered(fw, agent, offer))) continue;
      candidates_.push_back(fw);
    }
    if (candidates_.empty()) continue;
    // Draw with our own reduction so results do not depend on the standard
    // library's distribution implementation.
    const FrameworkIndex fw = candidates_[rng_() % candidates_.size()];
    grantAll(fw, agent);
  }
}

}  // namespace allot
