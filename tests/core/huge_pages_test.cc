#include "allot/core/huge_pages.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory_resource>
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

// growHuge makes room for as many more elements as asked, at least doubling,
// and keeps the elements.
TEST(HugePagesTest, GrowMakesRoomForMore) {
  std::vector<std::uint32_t> v(3000, 5);
  v.reserve(4000);
  const std::size_t before = v.capacity();
  growHuge(v, 1);
  EXPECT_EQ(v.capacity(), before);  // room already for one more
  growHuge(v, 1'000'000);
  EXPECT_GE(v.capacity(), 1'003'000u);
  EXPECT_EQ(v.size(), 3000u);
  EXPECT_EQ(v.front(), 5u);
  EXPECT_EQ(v.back(), 5u);
  const std::size_t grown = v.capacity();
  v.resize(grown);
  growHuge(v, 1);
  EXPECT_GE(v.capacity(), 2 * grown);
}

// A HugeBuffer is whole huge pages, all writable, and moves without a copy.
TEST(HugePagesTest, BufferIsWholeHugePagesAndMoves) {
  HugeBuffer buffer(3 << 20);
  EXPECT_EQ(buffer.capacity(), 2 * kHugePageBytes);
  ASSERT_NE(buffer.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % kSmallPageBytes, 0u);
  std::memset(buffer.data(), 7, buffer.capacity());
  char* const data = buffer.data();
  HugeBuffer moved(std::move(buffer));
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(moved.capacity(), 2 * kHugePageBytes);
  EXPECT_EQ(moved.data()[moved.capacity() - 1], 7);
  moved = HugeBuffer(1);
  EXPECT_EQ(moved.capacity(), kHugePageBytes);
  EXPECT_EQ(HugeBuffer().data(), nullptr);
}

// The pool serves many growing arrays at once (a reader's per-job tables):
// each keeps its elements through growth, blocks are aligned as asked, and
// freed blocks serve later requests.
TEST(HugePagesTest, PoolServesGrowingArrays) {
  HugePagePool pool;
  std::vector<std::pmr::vector<std::uint64_t>> arrays;
  for (std::size_t i = 0; i < 64; ++i) arrays.emplace_back(&pool);
  // Interleaved growth, past 4 MiB for the first array (beyond the pools'
  // largest block).
  for (std::uint64_t n = 0; n < 1'200'000; ++n) {
    const std::size_t a = n % 2 == 0 ? 0 : n % 7 + 1;
    arrays[a].push_back(n);
  }
  std::size_t total = 0;
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    for (std::size_t i = 1; i < arrays[a].size(); ++i) {
      ASSERT_LT(arrays[a][i - 1], arrays[a][i]) << a;
    }
    total += arrays[a].size();
  }
  EXPECT_EQ(total, 1'200'000u);
  EXPECT_GT(arrays[0].size() * sizeof(std::uint64_t), std::size_t{4} << 20);
  for (const std::size_t alignment : {std::size_t{8}, std::size_t{64}, std::size_t{4096}}) {
    void* p = pool.allocate(1000, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
    std::memset(p, 0xab, 1000);
    pool.deallocate(p, 1000, alignment);
  }
  // A freed block is handed out again for a request of its size (not under
  // ASan, where the pool hands blocks to operator new, for their redzones).
  void* first = pool.allocate(256, 8);
  pool.deallocate(first, 256, 8);
  void* again = pool.allocate(256, 8);
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(again, first);
#endif
  pool.deallocate(again, 256, 8);
}

}  // namespace
}  // namespace allot
