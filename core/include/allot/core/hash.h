#pragma once

#include <cstdint>
#include <string_view>

namespace allot {

// FNV-1a: a hash that never changes between builds, machines or library
// versions (std::hash may), for what is kept on disk or in ZooKeeper: file
// names, record checksums, the registry's shards. Not for hostile input.
constexpr std::uint64_t fnv1a64(std::string_view data) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

constexpr std::uint32_t fnv1a32(std::string_view data) {
  std::uint32_t h = 2166136261u;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

}  // namespace allot
