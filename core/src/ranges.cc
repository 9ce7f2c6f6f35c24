#include "allot/core/ranges.h"

#include <algorithm>
#include <ostream>

namespace allot {

Ranges::Ranges(std::initializer_list<Interval> intervals) {
  for (const Interval& interval : intervals) add(interval);
}

void Ranges::add(Interval interval) {
  // Find the first interval that could touch [first, last] (ends at first-1 or later).
  auto begin = std::lower_bound(
      intervals_.begin(), intervals_.end(), interval.first,
      [](const Interval& i, std::uint64_t v) { return i.last != UINT64_MAX && i.last + 1 < v; });
  auto end = begin;
  while (end != intervals_.end() &&
         (interval.last == UINT64_MAX || end->first <= interval.last + 1)) {
    interval.first = std::min(interval.first, end->first);
    interval.last = std::max(interval.last, end->last);
    ++end;
  }
  if (begin == end) {
    intervals_.insert(begin, interval);
  } else {
    *begin = interval;
    intervals_.erase(begin + 1, end);
  }
}

Ranges& Ranges::operator+=(const Ranges& other) {
  if (other.intervals_.empty()) return *this;
  if (intervals_.empty()) {
    intervals_ = other.intervals_;
    return *this;
  }
  // One merge pass over both sorted lists.
  decltype(intervals_) merged;
  merged.reserve(intervals_.size() + other.intervals_.size());
  auto a = intervals_.begin();
  auto b = other.intervals_.begin();
  auto push = [&](Interval next) {
    if (!merged.empty() &&
        (merged.back().last == UINT64_MAX || merged.back().last + 1 >= next.first)) {
      merged.back().last = std::max(merged.back().last, next.last);
    } else {
      merged.push_back(next);
    }
  };
  while (a != intervals_.end() || b != other.intervals_.end()) {
    if (b == other.intervals_.end() || (a != intervals_.end() && a->first <= b->first)) {
      push(*a++);
    } else {
      push(*b++);
    }
  }
  intervals_ = std::move(merged);
  return *this;
}

Ranges& Ranges::operator-=(const Ranges& other) {
  if (other.intervals_.empty() || intervals_.empty()) return *this;
  if (other.contains(*this)) {  // common: an offer takes every port
    intervals_.clear();
    return *this;
  }
  decltype(intervals_) result;
  result.reserve(intervals_.size() + other.intervals_.size());
  auto cut = other.intervals_.begin();
  for (Interval piece : intervals_) {
    while (cut != other.intervals_.end() && cut->last < piece.first) ++cut;
    auto c = cut;
    bool alive = true;
    while (alive && c != other.intervals_.end() && c->first <= piece.last) {
      if (c->first > piece.first) result.push_back({piece.first, c->first - 1});
      if (c->last >= piece.last) {
        alive = false;
      } else {
        piece.first = c->last + 1;
        ++c;
      }
    }
    if (alive) result.push_back(piece);
  }
  intervals_ = std::move(result);
  return *this;
}

bool Ranges::contains(const Ranges& other) const {
  // Fast path: a set contains itself, and offers often compare equal sets
  // (the refused ports of a decline filter against the same free ports).
  if (other.intervals_.size() == intervals_.size() &&
      std::equal(intervals_.begin(), intervals_.end(), other.intervals_.begin())) {
    return true;
  }
  auto mine = intervals_.begin();
  for (const Interval& wanted : other.intervals_) {
    while (mine != intervals_.end() && mine->last < wanted.first) ++mine;
    if (mine == intervals_.end() || mine->first > wanted.first || mine->last < wanted.last) {
      return false;
    }
  }
  return true;
}

std::uint64_t Ranges::count() const {
  std::uint64_t total = 0;
  for (const Interval& interval : intervals_) total += interval.last - interval.first + 1;
  return total;
}

std::vector<Ranges> Ranges::split(std::size_t pieces) const {
  std::vector<Ranges> result(pieces);
  if (pieces == 0) return result;
  const std::uint64_t total = count();
  std::size_t piece = 0;
  std::uint64_t taken = 0;  // values placed in pieces before `piece`
  for (Interval interval : intervals_) {
    while (true) {
      // Piece p ends after value index (p + 1) * total / pieces.
      const std::uint64_t pieceEnd = (piece + 1) * total / pieces;
      const std::uint64_t room = pieceEnd - taken;
      const std::uint64_t length = interval.last - interval.first + 1;
      if (length <= room || piece + 1 == pieces) {
        result[piece].add(interval);
        taken += length;
        break;
      }
      if (room > 0) {
        result[piece].add({interval.first, interval.first + room - 1});
        interval.first += room;
        taken += room;
      }
      ++piece;
    }
  }
  return result;
}

std::string toString(const Ranges& ranges) {
  std::string out = "[";
  bool first = true;
  for (const Interval& interval : ranges.intervals()) {
    if (!first) out += ", ";
    first = false;
    out += std::to_string(interval.first) + "-" + std::to_string(interval.last);
  }
  return out + "]";
}

std::ostream& operator<<(std::ostream& out, const Ranges& ranges) {
  return out << toString(ranges);
}

}  // namespace allot
