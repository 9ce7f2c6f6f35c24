#pragma once

#include <cstddef>
#include <string_view>

namespace allot {

// Helpers shared by the parsers of allot's small text syntaxes (resources,
// attributes, policy parameters).

// `s` without leading and trailing spaces, tabs and newlines.
constexpr std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

// Calls fn(piece, offset) for every non-empty, trimmed piece of `text`
// between `separator`s; `offset` is where the untrimmed piece starts, for
// error messages.
template <class Fn>
void forEachPiece(std::string_view text, char separator, Fn&& fn) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view piece = trim(text.substr(start, end - start));
    if (!piece.empty()) fn(piece, start);
    start = end + 1;
  }
}

// Orders text as people read it: runs of digits (with a decimal part, if
// any) compare by value, the rest character by character, so "cpus:2;"
// comes before "cpus:16;" and "node9" before "node10". Texts equal so but
// written differently ("01" and "1") compare by their characters, which
// keeps the order total. Negative, zero or positive, as std::string::compare.
int naturalCompare(std::string_view a, std::string_view b);

}  // namespace allot
