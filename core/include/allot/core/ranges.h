#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

namespace allot {

// A closed interval [first, last] of non-negative integers (ports, ids).
struct Interval {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  friend bool operator==(const Interval&, const Interval&) = default;
};

// A set of integers kept as sorted, disjoint, non-adjacent closed intervals in
// one flat (small) vector. We do not use boost::icl::interval_set here: it keeps one
// heap node per interval, and the allocator copies port ranges into every
// offer of every round (see docs/architecture.md, "Resources").
class Ranges {
 public:
  Ranges() = default;
  Ranges(std::initializer_list<Interval> intervals);

  // Adds [first, last]. REQUIRES: first <= last.
  void add(Interval interval);
  Ranges& operator+=(const Ranges& other);
  // Removes every value of `other`; values not present are ignored.
  Ranges& operator-=(const Ranges& other);
  // Returns true iff every value of `other` is in this set.
  bool contains(const Ranges& other) const;
  // Number of integers in the set.
  std::uint64_t count() const;
  bool empty() const { return intervals_.empty(); }
  std::span<const Interval> intervals() const { return {intervals_.data(), intervals_.size()}; }

  // Splits the set into `pieces` sets of nearly equal counts, in order; used by
  // benchmarks and tests that fragment port ranges as Mesos' do.
  std::vector<Ranges> split(std::size_t pieces) const;

  friend bool operator==(const Ranges&, const Ranges&) = default;

 private:
  // Inline room for a few intervals: an unfragmented port range needs no heap.
  boost::container::small_vector<Interval, 4> intervals_;
};

// Formats as Mesos does: "[31000-32000, 33000-33000]".
std::string toString(const Ranges& ranges);
std::ostream& operator<<(std::ostream& out, const Ranges& ranges);

}  // namespace allot
