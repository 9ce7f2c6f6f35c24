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
  FrameworkIndex nthCandidate(std::size_t n) const;
  // Scratch sets of framework slots, as words (bit fw % 64 of word fw / 64):
  // open_; wantsMore false this round; may be drawn.
  std::vector<std::uint64_t> openWords_, sated_, allowed_;
  std::vector<FrameworkIndex> candidates_;  // scratch
};

}  // namespace allot
