// Tests of the SWF writer (traces/include/allot/traces/swf_writer.h): what it
// writes reads back, through the SWF reader, as the workload it was given;
// schedules replace the recorded outcome; what SWF cannot describe is refused
// before a byte is written.

#include "allot/traces/swf_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/traces/load.h"
#include "allot/traces/synthetic.h"

namespace allot::traces {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kKthExcerpt =
    std::string(ALLOT_SOURCE_DIR) + "/tests/data/traces/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz";

class SwfWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("allot_swf_writer_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // Writes `w` to a file and reads it back with the SWF reader.
  Workload roundTrip(const Workload& w, const SwfWriteOptions& options = {},
                     const std::string& name = "w.swf") {
    writeSwfFile(file(name), w, options);
    return loadWorkload(file(name), "swf");
  }

  fs::path dir_;
};

std::string text(const Workload& w, const SwfWriteOptions& options = {}) {
  std::ostringstream out;
  writeSwf(w, out, options);
  return out.str();
}

// The record lines (not the header) of SWF text.
std::vector<std::string> records(const std::string& swf) {
  std::vector<std::string> out;
  std::istringstream in(swf);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != ';') out.push_back(line);
  }
  return out;
}

std::vector<long long> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<long long> out;
  for (long long v = 0; in >> v;) out.push_back(v);
  return out;
}

// Every field the SWF reader fills, job by job and task by task; meta is
// checked by the tests, since the header is rewritten.
void expectSameJobs(const Workload& a, const Workload& b) {
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.roles, b.roles);
  ASSERT_EQ(a.machines.size(), b.machines.size());
  for (std::size_t m = 0; m < a.machines.size(); ++m) {
    ASSERT_EQ(a.machines[m], b.machines[m]) << "machine " << m;
  }
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (std::size_t j = 0; j < a.jobs.size(); ++j) ASSERT_EQ(a.jobs[j], b.jobs[j]) << "job " << j;
  for (std::size_t t = 0; t < a.tasks.size(); ++t) {
    Task x = a.tasks[t], y = b.tasks[t];
    ASSERT_EQ(demandOf(a, x), demandOf(b, y)) << "task " << t;
    x.demand = y.demand = 0;
    ASSERT_EQ(x, y) << "task " << t;
  }
}

TEST_F(SwfWriterTest, AnSwfLogReadsBackAsTheSameWorkload) {
  const Workload raw = loadWorkload(kKthExcerpt, "swf");
  const Workload back = roundTrip(raw);
  expectSameJobs(raw, back);
  // The log's own header keys come back; the counts describe what was written.
  for (const char* key : {"Computer", "Installation", "UnixStartTime", "TimeZoneString", "Note",
                          "Information", "MaxNodes", "MaxProcs"}) {
    EXPECT_EQ(raw.meta.at(key), back.meta.at(key)) << key;
  }
  EXPECT_EQ(back.meta.at("MaxJobs"), "5000");
  EXPECT_EQ(back.meta.count("MaxMemory"), 0u);  // the reader infers the same machines without it
  // Written again, the same bytes: nothing is lost or added on the way.
  EXPECT_EQ(text(raw), text(back));
}

TEST_F(SwfWriterTest, RecordsKeepTheLogsFieldsThatTheReaderReads) {
  // Fields the workload does not hold (group, executable, partition, think
  // time; used memory becomes requested) are -1; the others are the log's.
  const std::string swf = text(loadWorkload(kKthExcerpt, "swf"));
  const std::vector<std::string> lines = records(swf);
  ASSERT_EQ(lines.size(), 5000u);
  EXPECT_EQ(fields(lines[0]), (std::vector<long long>{15, 599850, 192180, 3477, 4, -1, -1, 4, 53940,
                                                      -1, 1, 12, -1, -1, -1, -1, -1, -1}));
  EXPECT_EQ(fields(lines[2]), (std::vector<long long>{17, 600476, 364560, 215337, 5, -1, -1, 5,
                                                      215400, -1, 0, 14, -1, -1, -1, -1, -1, -1}));
}

TEST_F(SwfWriterTest, GzipWhenThePathEndsInGz) {
  const Workload raw = loadWorkload(kKthExcerpt, "swf");
  writeSwfFile(file("w.swf.gz"), raw);
  std::ifstream in(file("w.swf.gz"), std::ios::binary);
  const int b0 = in.get(), b1 = in.get();
  EXPECT_EQ(b0, 0x1f);
  EXPECT_EQ(b1, 0x8b);
  expectSameJobs(raw, loadWorkload(file("w.swf.gz"), "swf"));
}

TEST_F(SwfWriterTest, HpcLikeWorkloadsReadBackUpToRounding) {
  SyntheticOptions options = syntheticPreset("hpc-like");
  options.maxJobs = 300;
  const Workload w = generateWorkload(options);
  const std::string swf = text(w);
  // The preset's users and roles are names, numbered in table order.
  EXPECT_THAT(swf,
              HasSubstr("; Note: queues are numbered in the workload's order: 1=" + w.roles[0]));
  EXPECT_THAT(swf, HasSubstr("; Note: users are numbered"));
  EXPECT_THAT(swf, HasSubstr("not a whole second or KB: rounded to the nearest"));
  EXPECT_THAT(swf, HasSubstr("the machines' disk"));
  // Priorities, which no policy reads, are said to be left out.
  const auto prioritized =
      std::count_if(w.jobs.begin(), w.jobs.end(), [](const Job& job) { return job.priority != 0; });
  ASSERT_GT(prioritized, 0);
  EXPECT_THAT(swf, HasSubstr(std::to_string(prioritized) + " jobs have a priority other than 0"));
  const Workload back = roundTrip(w);
  ASSERT_EQ(back.jobs.size(), w.jobs.size());
  ASSERT_EQ(back.machines.size(), w.machines.size());
  EXPECT_EQ(back.machines[0].capacity[0], w.machines[0].capacity[0]);
  EXPECT_EQ(back.machines[0].capacity[1], w.machines[0].capacity[1]);
  for (std::size_t j = 0; j < w.jobs.size(); ++j) {
    const Task& a = w.tasks[w.jobs[j].firstTask];
    const Task& b = back.tasks[back.jobs[j].firstTask];
    EXPECT_EQ(back.jobs[j].traceId, static_cast<std::int64_t>(j) + 1) << j;
    EXPECT_LE(std::abs(toMicros(back.jobs[j].submit) - toMicros(w.jobs[j].submit)), 500'000) << j;
    // Each of submit and end is rounded: the run time is within a second.
    EXPECT_LE(std::abs(toMicros(b.duration) - toMicros(a.duration)), 1'000'000) << j;
    EXPECT_LE(std::abs(toMicros(b.estimate) - toMicros(a.estimate)), 500'000) << j;
    EXPECT_EQ(b.count, a.count) << j;
    EXPECT_NEAR(demandOf(back, b)[1], demandOf(w, a)[1], 0.5 / 1024) << j;  // within half a KB
    EXPECT_EQ(back.roles[back.jobs[j].role], std::to_string(w.jobs[j].role + 1)) << j;
    EXPECT_EQ(back.users[back.jobs[j].user], std::to_string(w.jobs[j].user + 1)) << j;
  }
}

TEST_F(SwfWriterTest, AScheduleReplacesTheRecordedOutcome) {
  const Workload raw = loadWorkload(kKthExcerpt, "swf");
  std::vector<SwfJobSchedule> schedule(raw.jobs.size());
  const std::int64_t submit0 = toMicros(raw.jobs[0].submit);
  schedule[0] = {submit0 + 7'000'000, submit0 + 7'000'000 + 100'000'000, 1};  // finished
  schedule[1] = {toMicros(raw.jobs[1].submit) + 5'000'000, kUnknown, 0};      // started, failed
  schedule[2] = {kUnknown, kUnknown, 5};                                      // never started
  // Half a second early: rounded to the nearest second each, not the difference.
  schedule[3] = {toMicros(raw.jobs[3].submit) + 1'500'000, toMicros(raw.jobs[3].submit) + 2'499'999,
                 1};
  SwfWriteOptions options;
  options.schedule = schedule;
  options.notes = {"a test schedule", "two\nlines"};
  const std::string swf = text(raw, options);
  EXPECT_THAT(swf, HasSubstr("; Note: a test schedule\n; Note: two\n;       lines\n"));
  const std::vector<std::string> lines = records(swf);
  const auto f0 = fields(lines[0]), f1 = fields(lines[1]), f2 = fields(lines[2]),
             f3 = fields(lines[3]);
  EXPECT_EQ(f0[2], 7);  // wait
  EXPECT_EQ(f0[3], 100);
  EXPECT_EQ(f0[10], 1);
  // A job that did not finish: unknown wait, its own run time, the status.
  EXPECT_EQ(f1[2], -1);
  EXPECT_EQ(f1[3], toMicros(raw.tasks[1].duration) / 1'000'000);
  EXPECT_EQ(f1[10], 0);
  EXPECT_EQ(f2[2], -1);
  EXPECT_EQ(f2[10], 5);
  EXPECT_EQ(f3[2], 2);  // 1.5 s rounds to 2
  EXPECT_EQ(f3[3], 0);  // 2.499999 s rounds to 2
  EXPECT_THAT(swf, HasSubstr("1 of 5000 jobs had a time or memory"));

  // Read back, the schedule is the workload's recorded outcome.
  const Workload back = roundTrip(raw, options);
  EXPECT_EQ(back.tasks[0].outcome.startUs, submit0 + 7'000'000);
  EXPECT_EQ(back.tasks[0].outcome.endUs, submit0 + 107'000'000);
  EXPECT_EQ(back.tasks[2].outcome.startUs, kUnknown);
  EXPECT_EQ(back.tasks[2].outcome.status, 5);

  std::vector<SwfJobSchedule> tooShort(3);
  options.schedule = tooShort;
  std::ostringstream out;
  EXPECT_THAT([&] { writeSwf(raw, out, options); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("3 for 5000 jobs")));
  EXPECT_TRUE(out.str().empty());
}

TEST_F(SwfWriterTest, WhatSwfCannotDescribeIsRefusedBeforeWriting) {
  const Workload kth = loadWorkload(kKthExcerpt, "swf");
  EXPECT_EQ(swfUnwritableReason(kth), "");
  struct Case {
    const char* expected;
    std::function<void(Workload&)> change;
  };
  const std::vector<Case> cases = {
      {"job 3 (trace id 18) has 2 task records",
       [](Workload& w) {
         // A second record for job 3, as a multi-task (Google) job has.
         w.tasks.insert(w.tasks.begin() + 4, w.tasks[3]);
         w.jobs[3].taskCount = 2;
         for (std::size_t j = 4; j < w.jobs.size(); ++j) ++w.jobs[j].firstTask;
       }},
      {"its tasks ask for 0.5 cpus each",
       [](Workload& w) {
         Scalars half = demandOf(w, w.tasks[7]);
         half[0] = 0.5;
         w.tasks[7].demand = static_cast<std::uint32_t>(w.demands.size());
         w.demands.push_back(half);
       }},
      {"its tasks ask for gpus",
       [](Workload& w) {
         Scalars gpu = demandOf(w, w.tasks[7]);
         gpu[3] = 1;
         w.tasks[7].demand = static_cast<std::uint32_t>(w.demands.size());
         w.demands.push_back(gpu);
       }},
      {"depends on 2 jobs",
       [](Workload& w) {
         w.jobs[9].dependsOn = {1, 2};
       }},
      {"depends on a job submitted after it", [](Workload& w) { w.jobs[9].dependsOn = {12}; }},
      {"is not a gang", [](Workload& w) { w.jobs[0].gang = false; }},
      {"keeps its tasks on different machines",
       [](Workload& w) { w.tasks[0].differentMachine = true; }},
      {"machine 4 differs from machine 0", [](Workload& w) { w.machines[4].capacity[0] = 2; }},
      {"machine 0 has 0.25 cpus",
       [](Workload& w) {
         for (Machine& m : w.machines) m.capacity[0] = 0.25;
       }},
      {"1 machine events; SWF has none",
       [](Workload& w) {
         w.machineEvents.push_back(
             {fromMicros(0), 0, MachineEvent::Kind::kRemove, Scalars::Zero()});
       }},
  };
  for (const Case& c : cases) {
    Workload w = kth;
    c.change(w);
    EXPECT_THAT(swfUnwritableReason(w), HasSubstr(c.expected)) << c.expected;
    std::ostringstream out;
    EXPECT_THROW(writeSwf(w, out), InvalidArgument) << c.expected;
    EXPECT_TRUE(out.str().empty()) << c.expected;
    // A file keeps what it held.
    const std::string path = file("kept.swf");
    std::ofstream(path) << "before\n";
    EXPECT_THROW(writeSwfFile(path, w), InvalidArgument) << c.expected;
    std::ifstream in(path);
    std::string kept;
    std::getline(in, kept);
    EXPECT_EQ(kept, "before") << c.expected;
    EXPECT_FALSE(fs::exists(path + ".partial")) << c.expected;
  }
  // Google-like jobs are many tasks of fractional cpus on mixed machines.
  SyntheticOptions google = syntheticPreset("google-like");
  google.maxJobs = 20;
  EXPECT_THAT(swfUnwritableReason(generateWorkload(google)),
              HasSubstr("SWF describes a job as one rigid gang"));
}

TEST_F(SwfWriterTest, AnUnwritablePathIsAnErrorNamingIt) {
  const Workload w = loadWorkload(kKthExcerpt, "swf");
  const std::string path = file("no/such/folder/w.swf");
  EXPECT_THAT([&] { writeSwfFile(path, w); },
              ::testing::ThrowsMessage<Error>(HasSubstr(path + ": cannot write")));
}

}  // namespace
}  // namespace allot::traces
