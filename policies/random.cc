#include "random.h"

#include <algorithm>
#include <bit>

#include "allot/policies/word_set.h"
#include "src/shuffle.h"

namespace allot {

PolicyInfo RandomAllocator::info() {
  return {"random",
          "each agent offered whole to a framework drawn uniformly at random (seeded)",
          {{"seed", "0", "random seed; the same seed gives the same allocations"}},
          [](const Params& p) { return std::make_unique<RandomAllocator>(p); }};
}

RandomAllocator::RandomAllocator(const Params& params)
    : Allocator(parseAllocatorOptions(params)), rng_(params.getSeed("seed", 0)) {}

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
  const std::size_t words = word_set::wordsFor(s.frameworkSlots());
  openWords_.assign(words, 0);
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (f.alive && f.active && !f.suppressed) {
      open_.push_back(fw);
      word_set::set(openWords_, fw);
    }
  }
  // Frameworks whose published demand this round's grants cover (wantsMore
  // turns false only after a grant to them).
  sated_.assign(words, 0);
  allowed_.resize(words);
  for (AgentIndex agent : agents_) {
    if (!allocatable(s.availableTotal(agent))) continue;  // nothing for anyone
    const bool filtered = s.hasFilters(agent);
    FrameworkIndex fw = 0;
    if (!s.availableReserved(agent)) {
      // Every framework may be offered the same thing, all of what is
      // available (found allocatable above): the candidates are a set of
      // bits (open, not filtered here, still wanting), read a word at a time
      // (with a framework per job, thousands of frameworks per agent).
      const std::span<const std::uint64_t> filteredHere =
          filtered ? s.filteredFrameworksOfAvailable(agent) : std::span<const std::uint64_t>();
      std::size_t count = 0;
      for (std::size_t w = 0; w < words; ++w) {
        allowed_[w] =
            openWords_[w] & ~sated_[w] & (filtered ? ~filteredHere[w] : ~std::uint64_t{0});
        count += static_cast<std::size_t>(std::popcount(allowed_[w]));
      }
      if (count == 0) continue;
      fw = nthCandidate(rng_() % count);
    } else {
      candidates_.clear();
      for (FrameworkIndex f : open_) {
        if (!wantsMore(f)) continue;
        const Resources offer = s.offerable(f, agent);
        if (!allocatable(offer) || (filtered && s.isFiltered(f, agent, offer))) continue;
        candidates_.push_back(f);
      }
      if (candidates_.empty()) continue;
      // Draw with our own reduction so results do not depend on the standard
      // library's distribution implementation.
      fw = candidates_[rng_() % candidates_.size()];
    }
    if (grantAll(fw, agent) && !wantsMore(fw)) word_set::set(sated_, fw);
  }
}

// The candidates are in framework order, as candidates_ would hold them, so
// the same draw picks the same framework: the n-th set bit of allowed_.
FrameworkIndex RandomAllocator::nthCandidate(std::size_t n) const {
  for (std::size_t w = 0;; ++w) {
    std::uint64_t word = allowed_[w];
    const auto ones = static_cast<std::size_t>(std::popcount(word));
    if (n >= ones) {
      n -= ones;
      continue;
    }
    for (; n > 0; --n) word &= word - 1;  // drop the lowest set bits
    return static_cast<FrameworkIndex>(w * 64 + static_cast<std::size_t>(std::countr_zero(word)));
  }
}

}  // namespace allot
