#pragma once

#include <cstdint>
#include <set>
#include <vector>

namespace allot {

// Clients (dense indices) kept in ascending order of a share, ties broken by a
// fixed rank (registration order), as Mesos' DRF sorter orders roles and
// frameworks. A balanced tree, so that updating one client's share after a
// grant costs O(log n) and no allocation (the node is extracted and
// re-inserted), instead of Mesos' re-sort of the whole order.
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
  using Order = std::set<Entry>;

  void clear();
  void add(std::uint32_t client, double share, std::uint64_t rank);
  void remove(std::uint32_t client);
  void update(std::uint32_t client, double share);
  bool contains(std::uint32_t client) const;
  // The entry of `client`. REQUIRES: contains(client).
  const Entry& entry(std::uint32_t client) const { return *where_[client]; }
  bool empty() const { return order_.empty(); }
  std::size_t size() const { return order_.size(); }
  const Order& entries() const { return order_; }

 private:
  Order order_;
  std::vector<Order::iterator> where_;  // client -> its node; end() when absent
  std::vector<bool> present_;
};

}  // namespace allot
