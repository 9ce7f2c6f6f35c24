#pragma once

#include <cstdint>
#include <vector>

namespace allot {

// Clients (dense indices) kept in ascending order of a share, ties broken by a
// rank, as Mesos' DRF sorter orders roles and frameworks.
//
// A sorted vector of client ids, the keys kept per client. The allocator
// fills it anew every round (its tie-break ranks are drawn anew), so adds
// only append and the order is sorted once, on the first read; after a
// grant, update() moves one client to its new place (a binary search and a
// shift of the 4-byte ids between), instead of Mesos' re-sort of the whole
// order. A balanced tree (before) cost a node allocation per add: with a
// framework per job, thousands per round, half of a replay's time.
class ShareSorter {
 public:
  struct Entry {
    double share;
    std::uint64_t rank;
    std::uint32_t client;
    friend bool operator<(const Entry& a, const Entry& b) {
      if (a.share != b.share) return a.share < b.share;
      if (a.rank != b.rank) return a.rank < b.rank;
      return a.client < b.client;
    }
  };

  void clear();
  void add(std::uint32_t client, double share, std::uint64_t rank);
  void remove(std::uint32_t client);
  void update(std::uint32_t client, double share);
  bool contains(std::uint32_t client) const;
  // The entry of `client`. REQUIRES: contains(client).
  const Entry& entry(std::uint32_t client) const { return keys_[client]; }
  bool empty() const { return order_.empty(); }
  std::size_t size() const { return order_.size(); }
  // The clients in ascending order of their entries. Valid until the next
  // add, remove or update.
  const std::vector<std::uint32_t>& order() {
    sortIfNeeded();
    return order_;
  }

 private:
  bool before(std::uint32_t a, std::uint32_t b) const { return keys_[a] < keys_[b]; }
  void sortIfNeeded();
  // Where `client` is in the sorted order.
  std::vector<std::uint32_t>::iterator find(std::uint32_t client);

  std::vector<std::uint32_t> order_;  // sorted unless unsorted_
  std::vector<Entry> keys_;           // client -> its entry while present
  std::vector<bool> present_;
  bool unsorted_ = false;
};

}  // namespace allot
