// ShareSorter (policies/src/share_sorter.h) against a std::set of the same
// entries: random adds, updates, removes and clears, with the order (all of
// it, or only its front, which leaves the rest unsorted) and each client's
// entry compared now and then.

#include "policies/src/share_sorter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace allot {
namespace {

TEST(ShareSorterTest, KeepsTheOrderOfASetThroughRandomChanges) {
  std::mt19937_64 rng(7);
  ShareSorter sorter;
  std::set<ShareSorter::Entry> model;
  std::map<std::uint32_t, ShareSorter::Entry> byClient;
  // Few distinct shares, so that ties (broken by rank, then client) are common.
  auto share = [&] { return static_cast<double>(rng() % 8) / 4.0; };
  std::size_t moves = 0, frontReads = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto client = static_cast<std::uint32_t>(rng() % 64);
    const std::uint64_t op = rng() % 100;
    if (op < 2) {
      sorter.clear();
      model.clear();
      byClient.clear();
    } else if (op < 45) {
      const double s = share();
      const std::uint64_t rank = rng() % 4;
      if (auto it = byClient.find(client); it != byClient.end()) {
        // add() of a present client updates its share, keeping its rank.
        model.erase(it->second);
        it->second.share = s;
        model.insert(it->second);
      } else {
        byClient[client] = {s, rank, client};
        model.insert(byClient[client]);
      }
      sorter.add(client, s, rank);
    } else if (op < 75) {
      if (auto it = byClient.find(client); it != byClient.end()) {
        model.erase(it->second);
        it->second.share = share();
        model.insert(it->second);
        sorter.update(client, it->second.share);
        ++moves;
      }
    } else {
      sorter.remove(client);
      if (auto it = byClient.find(client); it != byClient.end()) {
        model.erase(it->second);
        byClient.erase(it);
      }
    }
    // Reads only now and then, so that several adds are sorted at once.
    if (rng() % 4 != 0) continue;
    ASSERT_EQ(sorter.size(), model.size()) << "step " << step;
    if (rng() % 2 == 0) {
      // The front only, as a round reads it: the rest stays unsorted.
      const std::size_t front = model.empty() ? 0 : rng() % (model.size() + 1);
      auto it = model.begin();
      for (std::size_t i = 0; i < front; ++i, ++it) {
        ASSERT_EQ(sorter.at(i), it->client) << "step " << step << " place " << i;
      }
      ++frontReads;
    } else {
      const std::vector<std::uint32_t>& order = sorter.order();
      ASSERT_TRUE(
          std::equal(order.begin(), order.end(), model.begin(), model.end(),
                     [](std::uint32_t a, const ShareSorter::Entry& b) { return a == b.client; }))
          << "step " << step;
    }
    for (std::uint32_t c = 0; c < 64; ++c) {
      ASSERT_EQ(sorter.contains(c), byClient.count(c) == 1) << "step " << step << " client " << c;
      if (sorter.contains(c)) {
        EXPECT_EQ(sorter.entry(c).share, byClient[c].share);
        EXPECT_EQ(sorter.entry(c).rank, byClient[c].rank);
      }
    }
  }
  EXPECT_GT(moves, 1000u);
  EXPECT_GT(frontReads, 1000u);
}

}  // namespace
}  // namespace allot
