// CronSchedule: crontab(5) fields and the next time they match. Expected
// times are epochs computed apart from this code (date -u -d '...' +%s).
#include "allot/runtime/cron.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"

namespace allot::runtime {
namespace {

constexpr std::int64_t kSat20261205Noon = 1796472000;  // 2026-12-05 12:00 UTC, a Saturday
constexpr std::int64_t kTue20261201Noon = 1796126400;  // 2026-12-01 12:00 UTC

std::int64_t nextUtc(const char* text, std::int64_t after) {
  const std::optional<std::int64_t> t = CronSchedule::parse(text, /*utc=*/true).next(after);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(-1);
}

std::string parseError(const char* text) {
  try {
    CronSchedule::parse(text, true);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(CronScheduleTest, NextSkipsToTheFirstMatchingMinute) {
  // Saturday noon -> Monday 09:00.
  EXPECT_EQ(nextUtc("*/15 9-17 * * MON-FRI", kSat20261205Noon), 1796634000);
  // Monday 09:00 itself -> 09:15 (strictly after), and from 17:45 -> Tuesday 09:00.
  EXPECT_EQ(nextUtc("*/15 9-17 * * MON-FRI", 1796634000), 1796634000 + 15 * 60);
  EXPECT_EQ(nextUtc("*/15 9-17 * * MON-FRI", 1796634000 + 8 * 3600 + 45 * 60), 1796634000 + 86400);
  EXPECT_EQ(nextUtc("* * * * *", kSat20261205Noon), kSat20261205Noon + 60);
  EXPECT_EQ(nextUtc("* * * * *", kSat20261205Noon + 1), kSat20261205Noon + 60);
  EXPECT_EQ(nextUtc("* * * * *", kSat20261205Noon - 1), kSat20261205Noon);
  EXPECT_EQ(nextUtc("@hourly", kSat20261205Noon), kSat20261205Noon + 3600);
  EXPECT_EQ(nextUtc("@daily", kSat20261205Noon), 1796515200);   // Sunday 00:00
  EXPECT_EQ(nextUtc("@weekly", kSat20261205Noon), 1796515200);  // Sunday is day 0
  EXPECT_EQ(nextUtc("5,10-12/2 * * * *", kSat20261205Noon + 6 * 60), kSat20261205Noon + 10 * 60);
  EXPECT_EQ(nextUtc("5,10-12/2 * * * *", kSat20261205Noon + 10 * 60), kSat20261205Noon + 12 * 60);
  EXPECT_EQ(nextUtc("50/5 * * * *", kSat20261205Noon), kSat20261205Noon + 50 * 60);
}

TEST(CronScheduleTest, LeapDaysComeEveryFourYears) {
  EXPECT_EQ(nextUtc("0 0 29 2 *", 1767225600), 1835395200);  // 2026-01-01 -> 2028-02-29
  EXPECT_EQ(nextUtc("0 0 29 feb *", 1767225600), 1835395200);
}

TEST(CronScheduleTest, BothDayFieldsRestrictedMatchEitherAsVixieCron) {
  // Tuesday 1 December, noon: the 1st or a Monday -> Monday 7 December.
  EXPECT_EQ(nextUtc("0 12 1 * MON", kTue20261201Noon), 1796644800);
  // Only the weekday restricted: Mondays, whatever the day of the month.
  EXPECT_EQ(nextUtc("0 12 * * 1", kTue20261201Noon), 1796644800);
  // Only the day of the month restricted: 1 January 2027.
  EXPECT_EQ(nextUtc("0 12 1 * *", kTue20261201Noon), 1798804800);
  // Sunday as 0, 7 and its name.
  EXPECT_EQ(nextUtc("0 0 * * 7", kSat20261205Noon), 1796515200);
  EXPECT_EQ(nextUtc("0 0 * * sun", kSat20261205Noon), 1796515200);
}

TEST(CronScheduleTest, BadSchedulesAreRefusedNamingTheField) {
  EXPECT_EQ(parseError("60 * * * *"),
            "cron schedule '60 * * * *': field 1 (minute) '60': 60 is "
            "out of 0-59");
  EXPECT_NE(parseError("* * *").find("expected 5 fields"), std::string::npos);
  EXPECT_NE(parseError("* * * * * *").find("not 6"), std::string::npos);
  EXPECT_NE(parseError("5-1 * * * *").find("field 1 (minute) '5-1': range '5-1' runs backwards"),
            std::string::npos);
  EXPECT_NE(parseError("*/0 * * * *").find("step '0'"), std::string::npos);
  EXPECT_NE(parseError("1,,2 * * * *").find("an empty item"), std::string::npos);
  EXPECT_NE(parseError("* * 0 * *").find("field 3 (day of month) '0': 0 is out of 1-31"),
            std::string::npos);
  EXPECT_NE(parseError("* * * FOO *")
                .find("field 4 (month) 'FOO': 'FOO' is not a number or a "
                      "name (JAN, ...)"),
            std::string::npos);
  EXPECT_NE(parseError("@sometimes").find("unknown macro"), std::string::npos);
  EXPECT_NE(parseError("0 0 30 2 *").find("no such day ever comes"), std::string::npos);
  EXPECT_NE(parseError("0 0 31 4,6 *").find("no such day ever comes"), std::string::npos);
}

// Sets TZ for one test (glibc reads a POSIX rule without tzdata).
class LocalZone {
 public:
  explicit LocalZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~LocalZone() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

TEST(CronScheduleTest, LocalTimeAcrossDaylightSavingChanges) {
  const LocalZone zone("CET-1CEST,M3.5.0,M10.5.0/3");  // Central Europe
  const CronSchedule daily = CronSchedule::parse("30 2 * * *");
  // 29 March 2026: clocks go from 02:00 CET to 03:00 CEST; 02:30 does not
  // exist and fires as mktime moves it, at 03:30 CEST (01:30 UTC).
  EXPECT_EQ(daily.next(1774742400), 1774747800);  // from 00:00 UTC
  EXPECT_EQ(daily.next(1774747800), 1774830600);  // then 02:30 CEST the next day
  // 25 October 2026: 02:30 comes twice (00:30 UTC in CEST, 01:30 UTC in
  // CET); it fires once that day, at the first.
  EXPECT_EQ(daily.next(1792886400), 1792886400 + 1800);
  EXPECT_EQ(daily.next(1792886400 + 1800), 1792886400 + 86400 + 5400);  // 26 October
  // Every half hour: 02:00 and 02:30 CEST, then 03:00 CET; 02:00 and 02:30
  // CET, the civil times again, do not fire again.
  const CronSchedule halfHours = CronSchedule::parse("*/30 * * * *");
  std::int64_t t = 1792886400 - 60;
  std::vector<std::int64_t> fired;
  for (int i = 0; i < 3; ++i) fired.push_back(t = halfHours.next(t).value());
  EXPECT_EQ(fired, (std::vector<std::int64_t>{1792886400, 1792886400 + 1800, 1792886400 + 7200}));
  // The same schedule in UTC ignores the zone.
  EXPECT_EQ(CronSchedule::parse("30 2 * * *", true).next(1774742400), 1774742400 + 9000);
}

}  // namespace
}  // namespace allot::runtime
