#pragma once

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "allot/core/error.h"
#include "allot/traces/readers.h"
#include "src/readers/line_reader.h"

namespace allot::traces::detail {

// A malformed line. `reason` is the short key under which skipBad counts it
// (e.g. "run_time: not a number"); what() is the full message for people.
class BadLine : public ParseError {
 public:
  BadLine(const std::string& message, std::string reason)
      : ParseError(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// Fields of one line, split on a delimiter (CSV without quoting, as the
// Google and Alibaba traces are written) or on runs of blanks (SWF).
// Holds views into the line. A fixed maximum keeps it allocation-free;
// extra fields are counted but not kept.
template <std::size_t N>
struct Fields {
  // Left uninitialized (a string_view array would be zeroed, 2-3% of the
  // Google reader's parsing): operator[] reads only the fields stored.
  struct Piece {
    const char* data;
    std::size_t size;
  };
  std::array<Piece, N> items;
  std::size_t count = 0;  // fields on the line (may exceed N)

  // Field i; empty when the line has fewer fields.
  std::string_view operator[](std::size_t i) const {
    return i < count && i < N ? std::string_view(items[i].data, items[i].size) : std::string_view();
  }
};

template <std::size_t N>
void splitChar(std::string_view line, char delimiter, Fields<N>& out) {
  // Finds the delimiters 16 bytes at a time (SSE2, baseline on x86-64):
  // a byte loop mispredicts a branch at nearly every field of a trace line,
  // which made splitting cost more than parsing the fields.
  out.count = 0;
  const char* data = line.data();
  const std::size_t n = line.size();
  std::size_t start = 0;
  auto field = [&](std::size_t end) {
    if (out.count < N) out.items[out.count] = {data + start, end - start};
    ++out.count;
    start = end + 1;
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i wanted = _mm_set1_epi8(delimiter);
  for (; i + 16 <= n; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, wanted)));
    while (mask != 0) {
      field(i + static_cast<std::size_t>(std::countr_zero(mask)));
      mask &= mask - 1;
    }
  }
#endif
  for (; i < n; ++i) {
    if (data[i] == delimiter) field(i);
  }
  if (out.count < N) out.items[out.count] = {data + start, n - start};
  ++out.count;
}

// Sets `value` to the eight ASCII digits at `data` read as a decimal number
// and returns true, or returns false when any of them is not a digit.
// SWAR on little-endian machines (the usual bit tricks: a range check of all
// eight bytes at once, then three multiplications), a loop elsewhere.
[[gnu::always_inline]] inline bool parseEightDigits(const char* data, std::uint32_t& value) {
  if constexpr (std::endian::native == std::endian::little) {
    std::uint64_t chunk = 0;
    std::memcpy(&chunk, data, sizeof chunk);
    // Every byte is 0x30..0x39 iff its high nibble is 3 and adding 6 keeps it 3.
    if ((((chunk & 0xF0F0F0F0F0F0F0F0) |
          (((chunk + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) != 0x3333333333333333)) {
      return false;
    }
    chunk -= 0x3030303030303030;
    chunk = chunk * 10 + (chunk >> 8);  // pairs of digits, in every other byte
    constexpr std::uint64_t kMask = 0x000000FF000000FF;
    constexpr std::uint64_t kMul1 = 100 + (std::uint64_t{1'000'000} << 32);
    constexpr std::uint64_t kMul2 = 1 + (std::uint64_t{10'000} << 32);
    chunk = ((chunk & kMask) * kMul1 + ((chunk >> 16) & kMask) * kMul2) >> 32;
    value = static_cast<std::uint32_t>(chunk);
    return true;
  } else {
    std::uint32_t result = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      const auto digit = static_cast<unsigned>(static_cast<unsigned char>(data[i]) - '0');
      if (digit > 9) return false;
      result = result * 10 + digit;
    }
    value = result;
    return true;
  }
}

// Parses a whole decimal integer with an optional sign. Returns false for
// anything else (empty, other characters, more than 18 digits) so that the
// caller can fall back to a slower, more general parse.
[[gnu::always_inline]] inline bool parseSmallInt(std::string_view text, std::int64_t& value) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    negative = text[i] == '-';
    ++i;
  }
  const std::size_t digits = text.size() - i;
  if (digits == 0 || digits > 18) return false;
  std::int64_t result = 0;
  // Eight digits at a time while they last (trace IDs and times have 7 to
  // 13), then one at a time.
  for (std::uint32_t eight = 0; text.size() - i >= 8 && parseEightDigits(text.data() + i, eight);
       i += 8) {
    result = result * 100'000'000 + static_cast<std::int64_t>(eight);
  }
  for (; i < text.size(); ++i) {
    const auto digit = static_cast<unsigned>(static_cast<unsigned char>(text[i]) - '0');
    if (digit > 9) return false;
    result = result * 10 + static_cast<std::int64_t>(digit);
  }
  value = negative ? -result : result;
  return true;
}

// Parses a plain decimal number: optional '-', digits, optionally '.' and
// more digits (at least one on each side of the point), 15 significant digits
// at most, optionally an exponent 'e' or 'E' with an optional sign and one to
// three digits. Returns false for anything else, for the general parse. The
// result is the correctly rounded double, as from_chars gives: the digits form
// an integer m < 2^53 and the point and exponent a power 10^k, |k| <= 22, both
// exact doubles, so m * 10^k or m / 10^-k is one correctly rounded operation
// (the fast path of Clinger's algorithm). Exponents matter: about a quarter of
// the Google 2011 request fields are written like 3.815e-05.
[[gnu::always_inline]] inline bool parseSmallDecimal(std::string_view text, double& value) {
  static constexpr std::array<double, 23> kPowers{1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  std::size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) ++i;
  std::int64_t mantissa = 0;
  std::size_t digits = 0, fraction = 0;
  bool point = false;
  for (; i < text.size(); ++i) {
    const auto digit = static_cast<unsigned>(static_cast<unsigned char>(text[i]) - '0');
    if (digit <= 9) {
      if (++digits > 15) return false;
      mantissa = mantissa * 10 + static_cast<std::int64_t>(digit);
      if (point) ++fraction;
    } else if (text[i] == '.' && !point && digits > 0) {
      point = true;
    } else {
      break;
    }
  }
  if (digits == 0 || (point && fraction == 0)) return false;
  // Decimal exponent: the value is mantissa * 10^(exponent - fraction).
  int exponent = 0;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return false;
    ++i;
    bool negativeExponent = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
      negativeExponent = text[i] == '-';
      ++i;
    }
    const std::size_t first = i;
    for (; i < text.size(); ++i) {
      const auto digit = static_cast<unsigned>(static_cast<unsigned char>(text[i]) - '0');
      if (digit > 9 || i - first == 3) return false;
      exponent = exponent * 10 + static_cast<int>(digit);
    }
    if (i == first) return false;
    if (negativeExponent) exponent = -exponent;
  }
  const int power = exponent - static_cast<int>(fraction);
  if (power < -22 || power > 22) return false;
  const auto m = static_cast<double>(mantissa);
  const double magnitude = power < 0 ? m / kPowers[static_cast<std::size_t>(-power)]
                                     : m * kPowers[static_cast<std::size_t>(power)];
  value = negative ? -magnitude : magnitude;
  return true;
}

inline bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

template <std::size_t N>
void splitBlanks(std::string_view line, Fields<N>& out) {
  // Field boundaries 16 bytes at a time (SSE2): a field starts at a
  // non-blank after a blank (or the line start) and ends at a blank after a
  // non-blank. Starts and ends alternate, so the loop over them predicts
  // well, unlike a byte loop over runs of blanks of varying length.
  out.count = 0;
  const char* data = line.data();
  const std::size_t n = line.size();
  std::size_t start = 0;
  bool inField = false;
  auto boundary = [&](std::size_t at) {
    if (!inField) {
      start = at;
    } else {
      if (out.count < N) out.items[out.count] = {data + start, at - start};
      ++out.count;
    }
    inField = !inField;
  };
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
  const __m128i vtab = _mm_set1_epi8('\v'), feed = _mm_set1_epi8('\f');
  for (; i + 16 <= n; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i blanks =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, space), _mm_cmpeq_epi8(bytes, tab)),
                     _mm_or_si128(_mm_cmpeq_epi8(bytes, vtab), _mm_cmpeq_epi8(bytes, feed)));
    const auto blank = static_cast<unsigned>(_mm_movemask_epi8(blanks));
    const unsigned filled = ~blank & 0xffffu;
    // Bit k: whether byte k - 1 is in a field (byte -1: the state so far).
    const unsigned before = ((filled << 1) | (inField ? 1u : 0u)) & 0xffffu;
    unsigned changes = (filled & ~before) | (blank & before);
    while (changes != 0) {
      boundary(i + static_cast<std::size_t>(std::countr_zero(changes)));
      changes &= changes - 1;
    }
  }
#endif
  for (; i < n; ++i) {
    if (isBlank(data[i]) == inField) boundary(i);
  }
  if (inField) boundary(n);
}

// Context for error messages about one line: file, line number and the
// names of the format's columns.
class LineContext {
 public:
  LineContext(const LineReader& in, std::span<const std::string_view> columns)
      : in_(&in), columns_(columns) {}

  // Throws BadLine: "FILE:LINE: column N (NAME): bad value 'V': REASON".
  [[noreturn]] void badValue(std::size_t column, std::string_view value,
                             std::string_view reason) const {
    const std::string name =
        column < columns_.size() ? std::string(columns_[column]) : std::string("extra");
    std::string shown(value.substr(0, 64));
    if (value.size() > 64) shown += "...";
    throw BadLine(where() + ": column " + std::to_string(column + 1) + " (" + name +
                      "): bad value '" + shown + "': " + std::string(reason),
                  name + ": " + std::string(reason));
  }
  // Throws BadLine: "FILE:LINE: MESSAGE", counted under `reason`.
  [[noreturn]] void badLine(const std::string& message, std::string reason) const {
    throw BadLine(where() + ": " + message, std::move(reason));
  }
  template <std::size_t N>
  void requireCount(const Fields<N>& fields, std::size_t expected) const {
    if (fields.count != expected) {
      badLine(
          "expected " + std::to_string(expected) + " fields, found " + std::to_string(fields.count),
          "wrong number of fields");
    }
  }

  std::string where() const { return in_->path() + ":" + std::to_string(in_->lineNumber()); }

  // Integer in `text` (optional sign, digits). Empty -> nullopt. The common
  // case is inline; anything unusual goes to the out-of-line slow path.
  [[gnu::always_inline]] std::optional<std::int64_t> optInt(std::string_view text,
                                                            std::size_t column) const {
    if (text.empty()) return std::nullopt;
    std::int64_t value = 0;
    if (parseSmallInt(text, value)) [[likely]] {
      return value;
    }
    return slowInt(text, column);
  }
  [[gnu::always_inline]] std::int64_t integer(std::string_view text, std::size_t column) const {
    const auto value = optInt(text, column);
    if (!value) badValue(column, text, "missing value");
    return *value;
  }
  // Finite decimal number in `text`. Empty -> nullopt.
  [[gnu::always_inline]] std::optional<double> optNumber(std::string_view text,
                                                         std::size_t column) const {
    if (text.empty()) return std::nullopt;
    double value = 0;
    if (parseSmallDecimal(text, value)) [[likely]] {
      return value;
    }
    return slowNumber(text, column);
  }
  [[gnu::always_inline]] double number(std::string_view text, std::size_t column) const {
    const auto value = optNumber(text, column);
    if (!value) badValue(column, text, "missing value");
    return *value;
  }
  [[gnu::noinline]] std::int64_t slowInt(std::string_view text, std::size_t column) const {
    std::int64_t value = 0;
    const char* first = text.data();
    if (text.size() > 1 && text[0] == '+' && text[1] != '-') ++first;
    const auto [ptr, ec] = std::from_chars(first, text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range) badValue(column, text, "integer out of range");
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      badValue(column, text, "not an integer");
    }
    return value;
  }
  [[gnu::noinline]] double slowNumber(std::string_view text, std::size_t column) const {
    double value = 0;
    const char* first = text.data();
    if (text.size() > 1 && text[0] == '+' && text[1] != '-') ++first;
    const auto [ptr, ec] = std::from_chars(first, text.data() + text.size(), value);
    const bool whole = ptr == text.data() + text.size();
    if (ec == std::errc::result_out_of_range && whole) {
      badValue(column, text, "number out of range");
    }
    if (ec != std::errc() || !whole) badValue(column, text, "not a number");
    if (!std::isfinite(value)) badValue(column, text, "not a finite number");
    return value;
  }

  // Seconds (possibly fractional) -> microseconds, within +-100 years.
  std::int64_t secondsToMicros(double seconds, std::string_view text, std::size_t column) const {
    constexpr double kLimit = 100.0 * 366 * 24 * 3600;
    if (std::fabs(seconds) > kLimit) badValue(column, text, "time out of range");
    return std::llround(seconds * 1e6);
  }

 private:
  const LineReader* in_;
  std::span<const std::string_view> columns_;
};

// Counts a line skipped with skipBad, by reason, keeping the first error of
// each reason.
inline void countSkipped(ReadReport& report, const BadLine& bad) {
  ++report.skipped;
  if (++report.skippedByReason[bad.reason()] == 1) report.firstSkipped[bad.reason()] = bad.what();
}

// Runs `parse` on one line; with skipBad, a BadLine is counted instead of
// thrown. Returns true iff the line was accepted. The line counts as a
// record unless `parse` returns false (a header or column-name line).
template <class Parse>
bool guardLine(const ReadOptions& options, ReadReport& report, Parse&& parse) {
  try {
    if constexpr (std::is_void_v<decltype(parse())>) {
      parse();
      ++report.records;
    } else if (parse()) {
      ++report.records;
    }
    return true;
  } catch (const BadLine& bad) {
    if (!options.skipBad) throw;
    countSkipped(report, bad);
    return false;
  }
}

// Interns names into a table that grows chunk by chunk: new names go to
// `added` (the chunk's users or roles) with their global index.
class NameTable {
 public:
  std::uint32_t intern(std::string_view name, std::vector<std::string>& added);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> index_;
  std::string last_;  // names repeat in runs: check the last one first
  std::uint32_t lastId_ = 0;
};

// Progress callback throttled to about once per MiB of input.
class Progress {
 public:
  Progress(const ReadOptions& options, std::uint64_t total)
      : callback_(options.progress), total_(total) {}
  void update(std::uint64_t done) {
    if (!callback_ || done < last_ + (std::uint64_t{1} << 20)) return;
    last_ = done;
    callback_(done, total_);
  }
  void finish() {
    if (callback_) callback_(total_, total_);
  }

 private:
  std::function<void(std::uint64_t, std::uint64_t)> callback_;
  std::uint64_t total_ = 0, last_ = 0;
};

}  // namespace allot::traces::detail
