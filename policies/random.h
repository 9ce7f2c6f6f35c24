#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"

namespace allot {

// Seeded random allocation: agents in a random order, each offered whole to a
// framework drawn uniformly from those that may take it. A baseline that
// ignores fairness and packing; the same seed gives the same choices.
class RandomAllocator final : public Allocator {
 public:
  explicit RandomAllocator(const Params& params);
  std::string_view name() const override { return "random"; }
  static PolicyInfo info();

 private:
  void decide(TimePoint now) override;
  std::mt19937_64 rng_;
  std::vector<AgentIndex> agents_;    // scratch
  std::vector<FrameworkIndex> open_;  // scratch: may take offers this round
  FrameworkIndex nthCandidate(std::size_t n);
  FrameworkSet openSet_, allowed_;          // scratch: open_; those not filtered on an agent
  FrameworkSet sated_;                      // scratch: wantsMore false this round
  std::vector<std::uint64_t> words_;        // scratch: allowed_'s blocks
  std::vector<FrameworkIndex> candidates_;  // scratch
};

}  // namespace allot
