#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

// Sets of small indexes (framework slots) kept as 64-bit words, bit i % 64 of
// word i / 64: rounds combine them a word at a time (and, or, popcount), and
// they can be rows of one dense array, which a dynamic_bitset cannot.
namespace allot::word_set {

constexpr std::size_t wordsFor(std::size_t bits) {
  return (bits + 63) / 64;
}
constexpr std::uint64_t bitOf(std::size_t i) {
  return std::uint64_t{1} << (i % 64);
}
// Indexes past the last word are not in the set.
constexpr bool test(std::span<const std::uint64_t> words, std::size_t i) {
  return i / 64 < words.size() && (words[i / 64] & bitOf(i)) != 0;
}
// REQUIRES: i / 64 < words.size().
constexpr void set(std::span<std::uint64_t> words, std::size_t i) {
  words[i / 64] |= bitOf(i);
}
constexpr void reset(std::span<std::uint64_t> words, std::size_t i) {
  if (i / 64 < words.size()) words[i / 64] &= ~bitOf(i);
}
// Calls f(i) for every i in the set, in increasing order.
template <typename F>
void forEach(std::span<const std::uint64_t> words, F&& f) {
  for (std::size_t w = 0; w < words.size(); ++w) {
    for (std::uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
      f(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
    }
  }
}

}  // namespace allot::word_set
