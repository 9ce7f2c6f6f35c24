#include "allot/core/huge_pages.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

namespace allot {
namespace {

struct Record {
  std::array<std::uint8_t, 144> bytes;  // the size of a trace task record
};

// Below one huge page a capacity stays as asked; above, it grows to fill
// whole huge pages less the allocator's header, never below what was asked.
TEST(HugePagesTest, CapacityFillsWholeHugePages) {
  EXPECT_EQ(hugeCapacity<Record>(100), 100u);
  EXPECT_EQ(hugeCapacity<char>(kHugePageBytes - 1), kHugePageBytes - 1);
  for (const std::size_t n : {std::size_t{14'564}, std::size_t{202'876}, std::size_t{1'000'000}}) {
    const std::size_t capacity = hugeCapacity<Record>(n);
    EXPECT_GE(capacity, n);
    const std::size_t bytes = capacity * sizeof(Record);
    const std::size_t pages = (bytes + kHugePageBytes - 1) / kHugePageBytes;
    // The array and a 64-byte header fit the same number of huge pages, and
    // less than one record of them is left over.
    EXPECT_LE(bytes + 64, pages * kHugePageBytes) << n;
    EXPECT_GT(bytes + 64 + sizeof(Record), pages * kHugePageBytes) << n;
    EXPECT_EQ(pages, (n * sizeof(Record) + 64 + kHugePageBytes - 1) / kHugePageBytes) << n;
  }
  // Exactly whole huge pages less the header: nothing to add.
  EXPECT_EQ(hugeCapacity<char>(2 * kHugePageBytes - 64), 2 * kHugePageBytes - 64);
}

// reserveHuge keeps the elements, in order, and gives at least the room asked.
TEST(HugePagesTest, ReserveKeepsElements) {
  std::vector<std::uint64_t> v(1000);
  std::iota(v.begin(), v.end(), 7);
  reserveHuge(v, 1'000'000);
  EXPECT_GE(v.capacity(), 1'000'000u);
  ASSERT_EQ(v.size(), 1000u);
  for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i + 7);
  const std::uint64_t* data = v.data();
  reserveHuge(v, 10);  // room already: nothing moves
  EXPECT_EQ(v.data(), data);
  v.resize(v.capacity(), 1);  // the whole advised range is writable
  EXPECT_EQ(v.back(), 1u);
}

}  // namespace
}  // namespace allot
