#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace allot {

// Clients (dense indices) kept in ascending order of a share, ties broken by a
// fixed rank (registration order), as Mesos' DRF sorter orders roles and
// frameworks. Updating one client's share moves it in place, which costs a
// short memmove instead of a re-sort: allocation rounds update a share after
// every grant.
class ShareSorter {
 public:
  struct Entry {
    double share;
    std::uint64_t rank;
    std::uint32_t client;
  };

  void clear();
  void add(std::uint32_t client, double share, std::uint64_t rank);
  void remove(std::uint32_t client);
  void update(std::uint32_t client, double share);
  bool contains(std::uint32_t client) const;
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::span<const Entry> entries() const { return entries_; }

 private:
  std::size_t position(std::uint32_t client) const;
  static bool before(const Entry& a, const Entry& b) {
    return a.share < b.share || (a.share == b.share && a.rank < b.rank);
  }
  std::vector<Entry> entries_;
  std::vector<std::uint32_t> where_;  // client -> position + 1 (0 = absent)
};

}  // namespace allot
