#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "allot/sim/result.h"
#include "allot/sim/simulator.h"

namespace allot::sim {
namespace {

TimePoint sec(std::int64_t s) {
  return fromMicros(s * 1'000'000);
}

TaskRecord launch(std::int64_t ready, std::int64_t start, std::uint32_t count) {
  TaskRecord t;
  t.count = count;
  t.ready = sec(ready);
  t.start = sec(start);
  t.end = sec(start + 1);
  t.state = TaskState::kFinished;
  return t;
}

JobRecord finished(std::int64_t submit, std::int64_t start, std::int64_t end, std::int64_t work) {
  JobRecord j;
  j.submit = sec(submit);
  j.ready = j.submit;
  j.firstStart = sec(start);
  j.end = sec(end);
  j.work = std::chrono::seconds(work);
  j.state = JobState::kFinished;
  return j;
}

// Job metrics are nearest-rank percentiles over finished jobs; placement
// latency is per instance: a record of n instances weighs n, whether a launch
// wrote its instances as one record or as one record each, in any order.
TEST(SummaryTest, PercentilesAreNearestRankAndLatencyIsWeightedByInstances) {
  Result r;
  // JCTs 10, 20, ..., 100 s; waits 0, 1, ..., 9 s; runs of 10 s.
  for (std::int64_t i = 0; i < 10; ++i) r.jobs.push_back(finished(0, i, 10 * (i + 1), 10));
  JobRecord stuck;
  stuck.submit = sec(5);
  stuck.state = JobState::kUnfinished;
  r.jobs.push_back(stuck);
  r.end = sec(100);
  // Latencies: 5 instances at 0 s (one record), 3 at 7 s (three records of one
  // launch), 1 at 2 s, 1 at 9 s, and 2 more at 0 s after them.
  r.tasks.push_back(launch(0, 0, 5));
  for (int i = 0; i < 3; ++i) r.tasks.push_back(launch(3, 10, 1));
  r.tasks.push_back(launch(1, 3, 1));
  r.tasks.push_back(launch(0, 9, 1));
  r.tasks.push_back(launch(4, 4, 2));
  summarize(r);
  const auto& s = r.summary;
  EXPECT_EQ(s.at("jobs"), 11);
  EXPECT_EQ(s.at("jobs_finished"), 10);
  EXPECT_EQ(s.at("jobs_unfinished"), 1);
  EXPECT_EQ(s.count("jobs_not_submitted"), 0u);  // only there when some are
  EXPECT_DOUBLE_EQ(s.at("jct_s_mean"), 55);
  EXPECT_DOUBLE_EQ(s.at("jct_s_p50"), 50);
  EXPECT_DOUBLE_EQ(s.at("jct_s_p95"), 100);
  EXPECT_DOUBLE_EQ(s.at("wait_s_p50"), 4);
  EXPECT_DOUBLE_EQ(s.at("slowdown_p99"), 10);
  EXPECT_DOUBLE_EQ(s.at("bounded_slowdown_p50"), 5);
  EXPECT_DOUBLE_EQ(s.at("makespan_s"), 100);
  // Sorted per instance: 0 x7, 2, 7 x3, 9 (12 instances).
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_mean"), (2.0 + 21 + 9) / 12);
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_p50"), 0);  // rank 6
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_p95"), 9);  // rank 12
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_p99"), 9);
  r.tasks.push_back(launch(0, 7, 4));  // 16 instances; rank 8 is the 2 after 0 x7
  summarize(r);
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_p50"), 2);
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_p95"), 9);  // rank 16: 7 x7 end at rank 15
  EXPECT_DOUBLE_EQ(s.at("placement_latency_s_mean"), 60.0 / 16);
}

TEST(SummaryTest, NoRecordsGiveNotANumber) {
  Result r;
  summarize(r);
  EXPECT_TRUE(std::isnan(r.summary.at("jct_s_mean")));
  EXPECT_TRUE(std::isnan(r.summary.at("placement_latency_s_p50")));
  EXPECT_TRUE(std::isnan(r.summary.at("makespan_s")));
}

// The note on declined offers comes when a run without published demand has
// made 2 M offers and at least ten per instance launched, not before; it names
// the host's spelling of the demand option.
TEST(SummaryTest, OfferChurnNoteNeedsManyOffersPerLaunch) {
  Progress p;
  p.offers = 2'000'000;
  p.instancesLaunched = 200'000;
  const std::string note = offerChurnNote(p, 0, kCliSpelling);
  EXPECT_NE(note.find("2.0 M offers so far for 200000 instances launched"), std::string::npos)
      << note;
  EXPECT_NE(note.find("--demand 256"), std::string::npos) << note;
  EXPECT_NE(offerChurnNote(p, 0, kPythonSpelling).find("demand=256"), std::string::npos);
  EXPECT_EQ(offerChurnNote(p, 256, kCliSpelling), "");  // demand published
  p.instancesLaunched = 200'001;
  EXPECT_EQ(offerChurnNote(p, 0, kCliSpelling), "");  // fewer than ten per instance
  p.instancesLaunched = 0;
  p.offers = 1'999'999;
  EXPECT_EQ(offerChurnNote(p, 0, kCliSpelling), "");  // too few offers to matter
}

// Student's t quantiles from printed tables (0.975, 4 and 1 degrees of
// freedom), not from the library spreadOf uses.
TEST(SummaryTest, SpreadIsTheMeanAndItsStudentTInterval) {
  const double values[] = {1, 2, std::nan(""), 3, 4, 5};
  const Spread s = spreadOf(values);
  EXPECT_EQ(s.n, 5U);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 5.0);
  // Sample standard deviation sqrt(2.5), standard error sqrt(0.5).
  EXPECT_NEAR(s.halfWidth95, 2.776445 * std::sqrt(0.5), 1e-6);

  const double two[] = {10, 12};
  EXPECT_NEAR(spreadOf(two).halfWidth95, 12.706205 * 1.0, 1e-5);

  // Large, close values: no cancellation in the squares.
  const double close[] = {1e12 + 1, 1e12 + 2, 1e12 + 3, 1e12 + 4, 1e12 + 5};
  EXPECT_NEAR(spreadOf(close).halfWidth95, 2.776445 * std::sqrt(0.5), 1e-5);

  const double same[] = {7, 7, 7};
  EXPECT_EQ(spreadOf(same).halfWidth95, 0.0);

  const double one[] = {std::nan(""), 4};
  const Spread single = spreadOf(one);
  EXPECT_EQ(single.n, 1U);
  EXPECT_EQ(single.mean, 4.0);
  EXPECT_TRUE(std::isnan(single.halfWidth95));

  const Spread none = spreadOf(std::span<const double>());
  EXPECT_EQ(none.n, 0U);
  EXPECT_TRUE(std::isnan(none.mean) && std::isnan(none.min) && std::isnan(none.halfWidth95));
}

// Paired by seed, what both runs of a seed share cancels: two policies
// whose values move together over the seeds differ by a narrow interval,
// though each one's own interval is wide.
TEST(SummaryTest, PairedDifferenceCancelsWhatTheSeedDoesToBoth) {
  const double base[] = {100, 200, 300, 400, 500};
  const double other[] = {98, 199, 297, 399, 497};  // 2, 1, 3, 1, 3 less
  const Spread d = pairedDifferenceOf(base, other);
  EXPECT_EQ(d.n, 5U);
  EXPECT_DOUBLE_EQ(d.mean, -2.0);
  EXPECT_EQ(d.min, -3.0);
  EXPECT_EQ(d.max, -1.0);
  // Differences -2, -1, -3, -1, -3: sample variance 1, standard error sqrt(1/5).
  EXPECT_NEAR(d.halfWidth95, 2.776445 * std::sqrt(0.2), 1e-6);
  EXPECT_GT(spreadOf(base).halfWidth95, 100 * d.halfWidth95);

  // A policy run once pairs with each run of the other, either way round.
  const double once[] = {250};
  const Spread up = pairedDifferenceOf(once, base);
  EXPECT_DOUBLE_EQ(up.mean, 50.0);
  EXPECT_NEAR(up.halfWidth95, spreadOf(base).halfWidth95, 1e-9);
  EXPECT_DOUBLE_EQ(pairedDifferenceOf(base, once).mean, -50.0);
  EXPECT_EQ(pairedDifferenceOf(once, once).n, 1U);

  // A pair with a value missing is left out, not its neighbours.
  const double gap[] = {101, std::nan(""), 303, 404, 505};
  const Spread g = pairedDifferenceOf(base, gap);
  EXPECT_EQ(g.n, 4U);
  EXPECT_DOUBLE_EQ(g.mean, 3.25);

  const double three[] = {1, 2, 3};
  EXPECT_THROW(pairedDifferenceOf(base, three), std::invalid_argument);
  EXPECT_THROW(pairedDifferenceOf(std::span<const double>(), three), std::invalid_argument);
}

}  // namespace
}  // namespace allot::sim
