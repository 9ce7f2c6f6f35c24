#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace allot {

// Clients (dense indices) kept in ascending order of a share, ties broken by a
// rank, as Mesos' DRF sorter orders roles and frameworks.
//
// A vector of client ids, the keys kept per client. The allocator fills it
// anew every round (its tie-break ranks are drawn anew), so adds only append,
// and a round usually reads only the front of the order: the lowest shares
// take the offers. So only a prefix is kept sorted, holding the smallest
// entries; a read past it sorts more (twice as much as the last time). A
// full sort of every client each round was a third of a replay with a
// framework per job (thousands of them), and a balanced tree before that
// (a node allocation per add) half of it. After a grant, update() moves one
// client to its new place: within the prefix by a binary search and a shift
// of the 4-byte ids between, or out of it, to the unsorted rest.
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
  // The client at place `i` of the ascending order. REQUIRES: i < size().
  // Valid until the next add, remove or update.
  std::uint32_t at(std::size_t i) {
    if (i >= sorted_) sortPrefix(i + 1);
    return order_[i];
  }
  // The clients in ascending order of their entries (sorts them all). Valid
  // until the next add, remove or update.
  const std::vector<std::uint32_t>& order() {
    sortPrefix(order_.size());
    return order_;
  }

 private:
  bool before(std::uint32_t a, std::uint32_t b) const { return keys_[a] < keys_[b]; }
  // Makes the first `n` places (at least) sorted.
  void sortPrefix(std::size_t n);
  // Where `client` is in order_.
  std::size_t find(std::uint32_t client) const;
  // Takes the client at place `at` < sorted_ out of the sorted prefix: the
  // prefix closes up and the client is left at place sorted_ (the first of
  // the rest), sorted_ one less.
  void leavePrefix(std::size_t at);
  // Puts the client at place sorted_ (the first of the rest) into the sorted
  // prefix, if its entry is below the prefix's last one.
  void joinPrefix();

  // order_[0, sorted_) ascending, and none of order_[sorted_, end) below
  // order_[sorted_ - 1]: the sorted_ smallest entries, in order.
  std::vector<std::uint32_t> order_;
  std::size_t sorted_ = 0;
  std::size_t extent_ = 0;   // the last sortPrefix's end since clear()
  std::vector<Entry> keys_;  // client -> its entry while present
  std::vector<bool> present_;
};

}  // namespace allot
