#include "allot/core/text.h"

#include <cctype>

namespace allot {

namespace {

bool isDigit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// The number at the start of `s`: its integer digits without leading zeros
// and its decimal digits without trailing zeros, and how many characters it
// took. Compared exactly, as digit strings: no overflow, no rounding.
struct Number {
  std::string_view integer, fraction;
  std::size_t length = 0;
};

Number readNumber(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && isDigit(s[i])) ++i;
  Number n;
  n.integer = s.substr(0, i);
  while (n.integer.size() > 1 && n.integer.front() == '0') n.integer.remove_prefix(1);
  if (i + 1 < s.size() && s[i] == '.' && isDigit(s[i + 1])) {
    const std::size_t start = ++i;
    while (i < s.size() && isDigit(s[i])) ++i;
    n.fraction = s.substr(start, i - start);
    while (!n.fraction.empty() && n.fraction.back() == '0') n.fraction.remove_suffix(1);
  }
  n.length = i;
  return n;
}

int sign(int c) {
  return (c > 0) - (c < 0);
}

}  // namespace

int naturalCompare(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (isDigit(a[i]) && isDigit(b[j])) {
      const Number x = readNumber(a.substr(i));
      const Number y = readNumber(b.substr(j));
      if (x.integer.size() != y.integer.size()) return x.integer.size() < y.integer.size() ? -1 : 1;
      if (const int c = x.integer.compare(y.integer); c != 0) return sign(c);
      // Decimal digits compare as text: "5" (.5) after "25" (.25).
      if (const int c = x.fraction.compare(y.fraction); c != 0) return sign(c);
      i += x.length;
      j += y.length;
      continue;
    }
    if (a[i] != b[j])
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? -1 : 1;
    ++i;
    ++j;
  }
  if (i < a.size() || j < b.size()) return i < a.size() ? 1 : -1;
  return sign(a.compare(b));
}

}  // namespace allot
