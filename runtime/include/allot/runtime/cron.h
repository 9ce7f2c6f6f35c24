#pragma once

// A cron schedule (crontab(5) time fields), for frameworks that run work at
// set times, as Chronos and Kubernetes CronJobs do:
//
//   CronSchedule every = CronSchedule::parse("*/15 9-17 * * MON-FRI");
//   std::optional<std::int64_t> t = every.next(std::time(nullptr));
//
// Five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12
// or JAN-DEC), day of week (0-7 or SUN-SAT; 0 and 7 are Sunday). Each is
// `*`, a number, a range `A-B`, a step `*/S`, `A-B/S` or `A/S` (A to the
// field's end), or a comma-separated list of those. As in Vixie cron, when
// both day fields are restricted a day matches either one. Macros: @yearly
// (@annually), @monthly, @weekly, @daily (@midnight), @hourly. Times are
// civil times in the local time zone (TZ), or UTC when asked.

#include <bitset>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace allot::runtime {

class CronSchedule {
 public:
  // Throws ParseError naming the field and what is wrong with it.
  static CronSchedule parse(std::string_view text, bool utc = false);

  // The first matching minute strictly after `after` (seconds since the
  // epoch), in seconds since the epoch; none within the next 8 years (which
  // parse() refuses: a schedule such as 30 February never fires). Local
  // civil times: one skipped by a daylight-saving change fires an hour later,
  // and one that comes twice (a clock set back) fires once, at the first.
  std::optional<std::int64_t> next(std::int64_t after) const;

  const std::string& text() const { return text_; }
  bool utc() const { return utc_; }

 private:
  CronSchedule() = default;
  bool dayMatches(int dayOfMonth, int weekday) const;
  // Seconds since the epoch of a civil time (see next()).
  std::optional<std::int64_t> instant(const std::tm& civil) const;

  std::string text_;
  bool utc_ = false;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 (Sunday) - 6
  bool anyDay_ = true;       // the day-of-month field is `*`
  bool anyWeekday_ = true;   // the day-of-week field is `*`
};

}  // namespace allot::runtime
