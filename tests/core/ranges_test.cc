#include "allot/core/ranges.h"

#include <gtest/gtest.h>

namespace allot {
namespace {

// Adding overlapping and adjacent intervals merges them into one.
TEST(RangesTest, AddMergesOverlappingAndAdjacent) {
  Ranges r{{10, 20}, {21, 25}, {30, 40}, {35, 50}};
  ASSERT_EQ(r.intervals().size(), 2u);
  EXPECT_EQ(r.intervals()[0], (Interval{10, 25}));
  EXPECT_EQ(r.intervals()[1], (Interval{30, 50}));
  EXPECT_EQ(r.count(), 16u + 21u);
}

// Subtraction splits an interval around the removed values.
TEST(RangesTest, SubtractSplitsIntervals) {
  Ranges r{{31000, 32000}};
  r -= Ranges{{31100, 31199}, {31500, 31500}};
  ASSERT_EQ(r.intervals().size(), 3u);
  EXPECT_EQ(r.intervals()[0], (Interval{31000, 31099}));
  EXPECT_EQ(r.intervals()[1], (Interval{31200, 31499}));
  EXPECT_EQ(r.intervals()[2], (Interval{31501, 32000}));
}

// Containment needs every value, not only overlap.
TEST(RangesTest, ContainsNeedsEveryValue) {
  const Ranges r{{1, 10}, {20, 30}};
  EXPECT_TRUE(r.contains(Ranges{{2, 5}, {20, 30}}));
  EXPECT_FALSE(r.contains(Ranges{{5, 15}}));
  EXPECT_TRUE(r.contains(Ranges{}));
}

// Splitting fragments keeps every value exactly once, in near-equal parts.
TEST(RangesTest, SplitPartitionsValues) {
  const Ranges r{{31000, 32000}};
  const std::vector<Ranges> parts = r.split(16);
  ASSERT_EQ(parts.size(), 16u);
  Ranges joined;
  std::uint64_t total = 0;
  for (const Ranges& p : parts) {
    EXPECT_GE(p.count(), 62u);
    EXPECT_LE(p.count(), 63u);
    total += p.count();
    joined += p;
  }
  EXPECT_EQ(total, 1001u);
  EXPECT_EQ(joined, r);
}

TEST(RangesTest, FormatsLikeMesos) {
  EXPECT_EQ(toString(Ranges{{1, 2}, {5, 5}}), "[1-2, 5-5]");
}

}  // namespace
}  // namespace allot
