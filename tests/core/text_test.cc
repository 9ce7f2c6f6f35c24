#include "allot/core/text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace allot {
namespace {

TEST(NaturalCompare, NumbersCompareByValue) {
  EXPECT_LT(naturalCompare("cpus:2;mem:512", "cpus:16;mem:512"), 0);
  EXPECT_GT(naturalCompare("cpus:16;mem:512", "cpus:2;mem:512"), 0);
  EXPECT_LT(naturalCompare("cpus:1;mem:8192", "cpus:16;mem:512"), 0);
  EXPECT_LT(naturalCompare("node9", "node10"), 0);
  // Decimal parts by value: .5 is more than .25, 1.5 less than 2.
  EXPECT_GT(naturalCompare("cpus:1.5", "cpus:1.25"), 0);
  EXPECT_LT(naturalCompare("cpus:1.5", "cpus:2"), 0);
  EXPECT_LT(naturalCompare("cpus:1", "cpus:1.5"), 0);
  // Not numbers: compared as characters.
  EXPECT_LT(naturalCompare("cpus:4;disk:1", "cpus:4;mem:1"), 0);
  EXPECT_LT(naturalCompare("a", "b"), 0);
  EXPECT_LT(naturalCompare("", "a"), 0);
  EXPECT_EQ(naturalCompare("cpus:4;mem:1024", "cpus:4;mem:1024"), 0);
  // A prefix first; a dot that no digit follows is text.
  EXPECT_LT(naturalCompare("node1", "node1."), 0);
  EXPECT_LT(naturalCompare("cpus:4", "cpus:4;mem:1"), 0);
}

TEST(NaturalCompare, EqualValuesWrittenDifferentlyStillOrder) {
  // "01" and "1", "1.50" and "1.5" are the same numbers: their characters
  // decide, so the order stays total and a sort is stable between polls.
  EXPECT_NE(naturalCompare("n01", "n1"), 0);
  EXPECT_EQ(naturalCompare("n01", "n1"), -naturalCompare("n1", "n01"));
  EXPECT_NE(naturalCompare("1.50", "1.5"), 0);
  EXPECT_EQ(naturalCompare("1.50", "1.5"), -naturalCompare("1.5", "1.50"));
  // Very long numbers: no overflow.
  EXPECT_LT(naturalCompare("x99999999999999999999999", "x100000000000000000000000"), 0);
}

TEST(NaturalCompare, SortsAsPeopleRead) {
  std::vector<std::string> texts{"cpus:16;mem:32768", "cpus:2;mem:4096", "cpus:1.5;mem:1024",
                                 "cpus:2;mem:512",    "cpus:0.25",       "cpus:10"};
  std::sort(texts.begin(), texts.end(),
            [](const std::string& a, const std::string& b) { return naturalCompare(a, b) < 0; });
  EXPECT_EQ(texts, (std::vector<std::string>{"cpus:0.25", "cpus:1.5;mem:1024", "cpus:2;mem:512",
                                             "cpus:2;mem:4096", "cpus:10", "cpus:16;mem:32768"}));
}

}  // namespace
}  // namespace allot
