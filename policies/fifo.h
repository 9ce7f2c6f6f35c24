#pragma once

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"

namespace allot {

// First fit, frameworks in registration order. A framework that published
// its pending task shapes gets each task placed on the first agent (in agent
// order) where it fits; one that did not gets every agent's resources it may
// use, first agents first. Earlier frameworks are served completely before
// later ones (head-of-line order, no fairness).
class FifoAllocator final : public Allocator {
 public:
  explicit FifoAllocator(const Params& params);
  std::string_view name() const override { return "fifo"; }
  static PolicyInfo info();

 private:
  void decide(TimePoint now) override;
  std::vector<FrameworkIndex> order_;  // scratch
};

}  // namespace allot
