#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace allot {

// Fisher-Yates with a plain modulo draw: unlike std::shuffle, the result
// depends only on the generator's output, not on the standard library, so a
// seeded run gives the same order everywhere. The modulo bias is below 2^-40
// for any cluster size allot handles.
template <class T>
void shuffleSeeded(std::vector<T>& items, std::mt19937_64& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace allot
