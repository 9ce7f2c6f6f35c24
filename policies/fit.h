#pragma once

#include <cstdint>
#include <vector>

#include "allot/policies/registry.h"
#include "src/placing.h"

namespace allot {

// Best fit and worst fit, the classic packing baselines. Each round takes
// the pending tasks frameworks published in order of submission (oldest
// first across frameworks; ties by framework registration, then publication
// order) and places each instance on the agent where it fits with the least
// (bestfit) or the most (worstfit) leftover, the leftover being the sum over
// dimensions of (free - demand) / capacity of that agent. A task that fits
// nowhere is passed over, not waited for. Gangs place every instance or
// none. Each grant is sized to one task and names its key. Without
// published demand (the runtime master's frameworks) agents are offered
// whole to frameworks in order of dominant share, lowest first (see
// PlacingAllocator).
class FitAllocator final : public PlacingAllocator {
 public:
  enum class Mode { kBest, kWorst };
  FitAllocator(const Params& params, Mode mode);
  std::string_view name() const override { return mode_ == Mode::kBest ? "bestfit" : "worstfit"; }
  static PolicyInfo bestFitInfo();
  static PolicyInfo worstFitInfo();

 private:
  void pack() override;
  Mode mode_;
  std::vector<std::uint32_t> order_;  // scratch: items by submission
};

}  // namespace allot
