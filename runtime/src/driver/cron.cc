#include "allot/runtime/cron.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <limits>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot::runtime {
namespace {

struct Field {
  const char* name;
  int min;
  int max;
  // Names for the values from `min` (JAN, SUN), if the field has them.
  std::array<const char*, 12> names{};
};

constexpr std::array<Field, 5> kFields{{
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day of month", 1, 31},
    {"month",
     1,
     12,
     {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
    // 7 is Sunday too, as in Vixie cron.
    {"day of week", 0, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
}};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A value of `field`: a number or one of its names. Throws the message
// without the field's prefix.
int value(const Field& field, std::string_view text) {
  const std::string name = upper(text);
  for (std::size_t i = 0; i < field.names.size() && field.names[i] != nullptr; ++i) {
    if (name == field.names[i]) return field.min + static_cast<int>(i);
  }
  int v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    throw ParseError(fmt::format(
        "'{}' is not a number{}", text,
        field.names[0] != nullptr ? " or a name (" + std::string(field.names[0]) + ", ...)" : ""));
  }
  if (v < field.min || v > field.max) {
    throw ParseError(fmt::format("{} is out of {}-{}", v, field.min, field.max));
  }
  return v;
}

// The values one field's text allows, as bits from 0; and whether it is `*`.
std::vector<bool> parseField(const Field& field, std::string_view text, bool& star) {
  std::vector<bool> allowed(static_cast<std::size_t>(field.max) + 1, false);
  star = text == "*";
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) throw ParseError("an empty item in a list");
    std::string_view range = item;
    int step = 1;
    const std::size_t slash = item.find('/');
    if (slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const std::string_view s = item.substr(slash + 1);
      const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
      if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || step < 1) {
        throw ParseError(fmt::format("step '{}' in '{}' is not a whole number from 1", s, item));
      }
    }
    int from = field.min;
    int to = field.max;
    if (range != "*") {
      const std::size_t dash = range.find('-');
      from = value(field, range.substr(0, dash));
      if (dash != std::string_view::npos) {
        to = value(field, range.substr(dash + 1));
        if (to < from) throw ParseError(fmt::format("range '{}' runs backwards", range));
      } else if (slash == std::string_view::npos) {
        to = from;
      }
    }
    for (int v = from; v <= to; v += step) allowed[static_cast<std::size_t>(v)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return allowed;
}

std::string_view macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return {};
}

// Calendar arithmetic on civil fields: normalizes `c` (a minute past 59 is
// the next hour, ...) and sets its weekday, whatever the time zone.
void normalize(std::tm& c) {
  c.tm_isdst = 0;
  ::timegm(&c);
}

}  // namespace

CronSchedule CronSchedule::parse(std::string_view text, bool utc) {
  CronSchedule schedule;
  schedule.text_ = std::string(text);
  schedule.utc_ = utc;
  std::string_view fields = trim(text);
  if (fields.starts_with('@')) {
    const std::string_view expanded = macro(fields);
    if (expanded.empty()) {
      throw ParseError(fmt::format(
          "cron schedule '{}': unknown macro; expected @yearly, @monthly, @weekly, @daily or "
          "@hourly",
          text));
    }
    fields = expanded;
  }
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start < fields.size()) {
    const std::size_t end = std::min(fields.find_first_of(" \t", start), fields.size());
    if (end > start) words.push_back(fields.substr(start, end - start));
    start = end + 1;
  }
  if (words.size() != kFields.size()) {
    throw ParseError(fmt::format(
        "cron schedule '{}': expected 5 fields (minute hour day-of-month month day-of-week, as "
        "in '*/15 9-17 * * MON-FRI'), not {}",
        text, words.size()));
  }
  std::array<std::vector<bool>, 5> allowed;
  std::array<bool, 5> star{};
  for (std::size_t f = 0; f < kFields.size(); ++f) {
    try {
      allowed[f] = parseField(kFields[f], words[f], star[f]);
    } catch (const ParseError& e) {
      throw ParseError(fmt::format("cron schedule '{}': field {} ({}) '{}': {}", text, f + 1,
                                   kFields[f].name, words[f], e.what()));
    }
  }
  for (std::size_t v = 0; v < 60; ++v) schedule.minutes_[v] = allowed[0][v];
  for (std::size_t v = 0; v < 24; ++v) schedule.hours_[v] = allowed[1][v];
  for (std::size_t v = 1; v <= 31; ++v) schedule.days_[v] = allowed[2][v];
  for (std::size_t v = 1; v <= 12; ++v) schedule.months_[v] = allowed[3][v];
  for (std::size_t v = 0; v <= 7; ++v) {
    if (allowed[4][v]) schedule.weekdays_[v % 7] = true;
  }
  schedule.anyDay_ = star[2];
  schedule.anyWeekday_ = star[4];
  if (!schedule.next(0)) {
    throw ParseError(
        fmt::format("cron schedule '{}': no such day ever comes (as 30 February)", text));
  }
  return schedule;
}

bool CronSchedule::dayMatches(int dayOfMonth, int weekday) const {
  const bool day = days_[static_cast<std::size_t>(dayOfMonth)];
  const bool week = weekdays_[static_cast<std::size_t>(weekday)];
  // Vixie cron: with both restricted, either; with one `*`, the other.
  if (!anyDay_ && !anyWeekday_) return day || week;
  return day && week;
}

std::optional<std::int64_t> CronSchedule::instant(const std::tm& civil) const {
  if (utc_) {
    std::tm at = civil;
    return static_cast<std::int64_t>(::timegm(&at));
  }
  // mktime with tm_isdst -1 picks either reading of an ambiguous time, by
  // state it keeps: try both readings, and keep those that read back as
  // `civil`.
  std::optional<std::int64_t> earliest;  // of the readings that read back
  std::int64_t later = std::numeric_limits<std::int64_t>::min();
  for (const int dst : {0, 1}) {
    std::tm at = civil;
    at.tm_isdst = dst;
    const std::time_t t = ::mktime(&at);
    std::tm back{};
    ::localtime_r(&t, &back);
    later = std::max(later, static_cast<std::int64_t>(t));
    if (back.tm_year == civil.tm_year && back.tm_mon == civil.tm_mon &&
        back.tm_mday == civil.tm_mday && back.tm_hour == civil.tm_hour &&
        back.tm_min == civil.tm_min) {
      earliest = std::min(earliest.value_or(t), static_cast<std::int64_t>(t));
    }
  }
  // Twice (a clock set back): the first only, so that it fires once. Never
  // (set forward): the later reading, an hour on.
  return earliest ? earliest : later;
}

std::optional<std::int64_t> CronSchedule::next(std::int64_t after) const {
  // The first whole minute after `after`, as civil fields.
  const std::int64_t first = (after >= 0 ? after / 60 : (after - 59) / 60) * 60 + 60;
  std::time_t t = static_cast<std::time_t>(first);
  std::tm c{};
  if (utc_) {
    ::gmtime_r(&t, &c);
  } else {
    ::localtime_r(&t, &c);
  }
  c.tm_sec = 0;
  normalize(c);
  const int lastYear = c.tm_year + 8;
  // Each step skips a whole month, day, hour or minute that cannot match,
  // so even a schedule that matches once in 4 years takes a few thousand.
  while (c.tm_year <= lastYear) {
    if (!months_[static_cast<std::size_t>(c.tm_mon + 1)]) {
      c.tm_mon += 1;
      c.tm_mday = 1;
      c.tm_hour = 0;
      c.tm_min = 0;
    } else if (!dayMatches(c.tm_mday, c.tm_wday)) {
      c.tm_mday += 1;
      c.tm_hour = 0;
      c.tm_min = 0;
    } else if (!hours_[static_cast<std::size_t>(c.tm_hour)]) {
      c.tm_hour += 1;
      c.tm_min = 0;
    } else if (!minutes_[static_cast<std::size_t>(c.tm_min)]) {
      c.tm_min += 1;
    } else {
      if (const std::optional<std::int64_t> when = instant(c); when && *when > after) return when;
      c.tm_min += 1;
    }
    normalize(c);
  }
  return std::nullopt;
}

}  // namespace allot::runtime
