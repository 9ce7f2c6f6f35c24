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
  // Frameworks that may take offers at all this round (grants do not change
  // these flags; wantsMore, which they do change, is asked per agent).
  open_.clear();
  openSet_.resize(s.frameworkSlots());
  openSet_.reset();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (f.alive && f.active && !f.suppressed) {
      open_.push_back(fw);
      openSet_.set(fw);
    }
  }
  for (AgentIndex agent : agents_) {
    candidates_.clear();
    if (!allocatable(s.availableTotal(agent))) continue;  // nothing for anyone
    // Without reserved pools every framework may be offered the same thing,
    // all of what is available (availableTotal, found allocatable above):
    // look at it in place instead of building it per framework.
    // Their filters on it are then read in one pass, not per framework.
    const bool shared = !s.availableReserved(agent);
    const bool filtered = s.hasFilters(agent);
    if (shared && filtered)
      s.unfilteredFrameworks(agent, s.agent(agent).available, openSet_, allowed_);
    for (FrameworkIndex fw : open_) {
      if (!wantsMore(fw)) continue;
      if (shared) {
        if (filtered && !allowed_.test(fw)) continue;
      } else {
        const Resources offer = s.offerable(fw, agent);
        if (!allocatable(offer) || (filtered && s.isFiltered(fw, agent, offer))) continue;
      }
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
