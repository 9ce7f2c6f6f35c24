#include "fit.h"

#include <algorithm>

namespace allot {
namespace {

// As tetris: enough pending instances to fill many agents per round.
constexpr std::uint32_t kDemandWindow = 1000;

const std::vector<ParamSpec>& fitParams() {
  static const std::vector<ParamSpec> params = {
      {"seed", "0", "seed of the choice among equal agents"}};
  return params;
}

}  // namespace

PolicyInfo FitAllocator::bestFitInfo() {
  return {"bestfit",
          "places published tasks oldest first, each on the agent it leaves least room on "
          "(leftover = sum over dimensions of (free - demand) / capacity)",
          fitParams(),
          [](const Params& p) { return std::make_unique<FitAllocator>(p, Mode::kBest); },
          kDemandWindow};
}

PolicyInfo FitAllocator::worstFitInfo() {
  return {"worstfit",
          "places published tasks oldest first, each on the agent it leaves most room on "
          "(leftover = sum over dimensions of (free - demand) / capacity)",
          fitParams(),
          [](const Params& p) { return std::make_unique<FitAllocator>(p, Mode::kWorst); },
          kDemandWindow};
}

FitAllocator::FitAllocator(const Params& params, Mode mode)
    : PlacingAllocator(params, mode == Mode::kBest ? packing::Score::kLeastLeftover
                                                   : packing::Score::kMostLeftover),
      mode_(mode) {}

void FitAllocator::pack() {
  const ClusterState& s = state();
  order_.resize(items_.size());
  for (std::uint32_t i = 0; i < items_.size(); ++i) order_[i] = i;
  auto submitted = [&](std::uint32_t i) {
    return task(units_[members_[items_[i].first]]).submitted;
  };
  // items_ is in publication order within each framework, so the index
  // breaks the remaining ties.
  std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
    const TimePoint ta = submitted(a);
    const TimePoint tb = submitted(b);
    if (ta != tb) return ta < tb;
    const std::uint64_t ra = s.framework(items_[a].fw).registration;
    const std::uint64_t rb = s.framework(items_[b].fw).registration;
    return ra != rb ? ra < rb : a < b;
  });
  for (std::uint32_t i : order_) {
    Item& item = items_[i];
    if (item.gang) {
      placeGang(item);
      continue;
    }
    while (!item.done) placeInstance(item);
  }
}

}  // namespace allot
