#include "cli/huge_heap.h"

#include <gtest/gtest.h>

namespace allot::cli {
namespace {

// The tunable is added to whatever the user set, and a value that names it
// already (to turn it off, say) is left alone: no restart.
TEST(HugeHeapTest, TunablesAddToTheUsersAndRespectTheirChoice) {
  EXPECT_EQ(hugeHeapTunables(nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(hugeHeapTunables(""), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(hugeHeapTunables("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
  EXPECT_EQ(hugeHeapTunables("glibc.malloc.hugetlb=0"), std::nullopt);
  EXPECT_EQ(hugeHeapTunables("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"), std::nullopt);
}

}  // namespace
}  // namespace allot::cli
