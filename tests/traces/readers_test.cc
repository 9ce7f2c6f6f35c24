// Tests of the raw-format trace readers (issue 3, part A): the small hand
// written files in tests/data/traces and the real traces in the shared
// folder, whose counts are checked against awk run on the same files.
#include "allot/traces/readers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/traces/load.h"
#include "allot/traces/summary.h"

namespace allot::traces {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = std::string(ALLOT_SOURCE_DIR) + "/tests/data/traces";
const std::string kShared = ALLOT_SHARED_TRACES_DIR;

// Runs a shell command and returns what it prints.
std::string shell(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get())) out.append(buffer, n);
  return out;
}

std::uint64_t shellNumber(const std::string& command) {
  return std::stoull(shell(command));
}

// Reads a whole trace through the streaming interface, counting. tasks
// counts Task records, instances the sum of their counts.
struct Streamed {
  std::uint64_t jobs = 0, tasks = 0, instances = 0, machines = 0, chunks = 0;
  ReadReport report;
};

Streamed stream(const std::string& path, std::string_view format, const ReadOptions& options = {}) {
  Streamed s;
  auto reader = openTrace(path, format, options);
  WorkloadChunk chunk;
  while (reader->next(chunk)) {
    s.jobs += chunk.jobs.size();
    s.tasks += chunk.tasks.size();
    for (const Task& task : chunk.tasks) s.instances += task.count;
    s.machines += chunk.machines.size();
    ++s.chunks;
  }
  EXPECT_TRUE(chunk.empty());
  s.report = reader->report();
  return s;
}

// A fresh folder for files a test writes.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("allot-readers-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string errorOf(const std::string& path, std::string_view format,
                    const ReadOptions& options = {}) {
  try {
    readWorkload(path, format, options);
  } catch (const ParseError& e) {
    return e.what();
  }
  return "no error";
}

// The error message of reading `path` as SWF, or "no error".
std::string errorOrNone(const std::string& path) {
  try {
    readWorkload(path, "swf");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// ---------------------------------------------------------------- registry

// The four formats are registered by name, and an unknown name is refused
// with a message listing the known ones.
TEST(ReadersTest, FormatsAreFoundByName) {
  std::vector<std::string> names;
  for (const auto& format : traceFormats()) names.push_back(format.name);
  EXPECT_THAT(names, ::testing::ElementsAre("swf", "google2011", "alibaba2017", "alibaba2018"));
  try {
    openTrace(kData + "/swf/tiny.swf", "sfw");
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown trace format 'sfw'"));
    EXPECT_THAT(e.what(), HasSubstr("swf, google2011, alibaba2017, alibaba2018"));
  }
}

// An input file option that the format does not read is refused, naming
// the option's value and the formats that read it: silently ignored, it was
// recorded in results as if it had been used.
TEST(ReadersTest, FileOptionsTheFormatDoesNotReadAreRefused) {
  ReadOptions machines;
  machines.machinesFile = "/nonexistent/machines.csv";
  try {
    openTrace(kData + "/swf/tiny.swf", "swf", machines);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("tiny.swf: read as swf, which takes no machine table"));
    EXPECT_THAT(e.what(), HasSubstr("'/nonexistent/machines.csv'"));
    EXPECT_THAT(e.what(), HasSubstr("google2011 and alibaba2018"));
  }
  ReadOptions batch;
  batch.batchInstance = "/nonexistent/batch_instance.csv";
  EXPECT_THROW(openTrace(kData + "/swf/tiny.swf", "swf", batch), InvalidArgument);
  ReadOptions jobEvents;
  jobEvents.jobEvents = "/nonexistent/job_events";
  EXPECT_THROW(checkReadOptions("x.h5", "h5", jobEvents), InvalidArgument);
  EXPECT_THROW(checkReadOptions("batch_task.csv", "alibaba2018", jobEvents), InvalidArgument);
  // Where the format reads them, they pass this check.
  EXPECT_NO_THROW(checkReadOptions("task_events", "google2011", jobEvents));
  EXPECT_NO_THROW(checkReadOptions("batch_task.csv", "alibaba2018", machines));
  EXPECT_NO_THROW(checkReadOptions("batch_task.csv", "alibaba2018", batch));
  EXPECT_NO_THROW(checkReadOptions("tiny.swf", "swf", ReadOptions{}));
}

// A missing input is an Error naming the path, not a crash.
TEST(ReadersTest, MissingFileNamesThePath) {
  try {
    openTrace("/nonexistent/trace.swf", "swf");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/trace.swf"));
  }
}

// ---------------------------------------------------------------- swf

// The hand-written SWF file maps to gangs of one-processor tasks (one record
// per job, count = processors) with their outcomes; header comments land in
// meta; unreplayable records are counted.
TEST(SwfReaderTest, MapsJobsToGangsOfOneProcessorTasks) {
  ReadReport report;
  const Workload w = readWorkload(kData + "/swf/tiny.swf", "swf", {}, &report);
  EXPECT_EQ(report.records, 6U);
  EXPECT_EQ(report.counts.at("unknown_runtime"), 1U);
  EXPECT_EQ(report.counts.at("zero_processors"), 1U);
  EXPECT_EQ(report.counts.at("missing_preceding_job"), 1U);
  EXPECT_EQ(w.meta.at("UnixStartTime"), "1000000000");
  EXPECT_EQ(w.meta.at("MaxNodes"), "4");
  EXPECT_EQ(w.meta.at("Note"), "first note\ncontinued on a second line\nsecond note");
  EXPECT_EQ(w.meta.at("format"), "swf");
  EXPECT_EQ(w.meta.at("count.unknown_runtime"), "1");
  // Left out, and said so wherever the workload is replayed.
  EXPECT_EQ(leftOutNote(w),
            "2 records left out as not replayable: 1 with no processor count, 1 with run time "
            "unknown (-1)");

  ASSERT_EQ(w.jobs.size(), 4U);
  ASSERT_EQ(w.tasks.size(), 4U);
  EXPECT_EQ(instanceCount(w), 7U);
  const Job& first = w.jobs[0];
  EXPECT_EQ(first.traceId, 1);
  EXPECT_TRUE(first.gang);
  EXPECT_EQ(first.taskCount, 1U);
  EXPECT_EQ(instanceCount(w, first), 2U);
  EXPECT_EQ(w.users[first.user], "1");
  EXPECT_EQ(w.roles[first.role], "1");
  const Task& task = w.tasks[0];
  EXPECT_EQ(task.count, 2U);
  EXPECT_EQ(task.index, 0U);
  EXPECT_EQ(demandOf(w, task)[0], 1.0);
  EXPECT_EQ(demandOf(w, task)[1], 1.0);  // 1024 KB per processor
  EXPECT_EQ(task.duration, std::chrono::seconds(100));
  EXPECT_EQ(task.estimate, std::chrono::seconds(200));  // requested time (field 9)
  EXPECT_EQ(task.outcome.startUs, 10'000'000);
  EXPECT_EQ(task.outcome.endUs, 110'000'000);
  EXPECT_EQ(task.outcome.status, 1);

  const Job& second = w.jobs[1];  // allocated -1: requested processors
  EXPECT_EQ(second.taskCount, 1U);
  EXPECT_EQ(w.tasks[second.firstTask].count, 3U);
  EXPECT_EQ(second.submit, fromMicros(5'000'000));
  EXPECT_EQ(w.roles[second.role], "*");
  EXPECT_EQ(demandOf(w, w.tasks[second.firstTask])[1], 0.0);

  const Job& third = w.jobs[2];  // unknown wait, preceded by job 1
  EXPECT_EQ(third.dependsOn, std::vector<std::uint32_t>{0});
  EXPECT_EQ(w.tasks[third.firstTask].outcome.startUs, kUnknown);
  EXPECT_EQ(w.tasks[third.firstTask].estimate, Duration{0});  // requested time -1: unknown
  EXPECT_EQ(w.jobs[3].traceId, 6);
  EXPECT_EQ(w.tasks[w.jobs[3].firstTask].duration, Duration{0});

  // MaxNodes 4, MaxProcs 8: four machines of two cpus; memory from the
  // largest per-processor use (1 MB) times cpus.
  ASSERT_EQ(w.machines.size(), 4U);
  EXPECT_EQ(w.machines[0].capacity[0], 2.0);
  EXPECT_EQ(w.machines[0].capacity[1], 2.0);
}

// A log without header comments reads the same jobs; machines are inferred
// from the widest job and the inference is counted.
TEST(SwfReaderTest, LogWithoutHeaderWorks) {
  ReadReport report;
  const Workload w = readWorkload(kData + "/swf/tiny_noheader.swf", "swf", {}, &report);
  const Workload withHeader = readWorkload(kData + "/swf/tiny.swf", "swf");
  EXPECT_EQ(w.jobs, withHeader.jobs);
  EXPECT_EQ(w.tasks, withHeader.tasks);
  EXPECT_EQ(report.counts.at("machines_inferred"), 1U);
  EXPECT_EQ(w.machines.size(), 4U);
  EXPECT_EQ(w.machines[0].capacity[0], 1.0);
  EXPECT_EQ(w.meta.count("MaxNodes"), 0U);
}

// Record counts of the three real SWF logs equal awk's count of non-comment
// lines, task instances equal awk's sum of processors (one task record per
// job), and header fields are parsed.
TEST(SwfReaderTest, RealLogsMatchAwkCounts) {
  for (const char* name : {"KTH-SP2-1996-2.1-cln.swf.gz", "NASA-iPSC-1993-3.1-cln.swf.gz",
                           "HPC2N-2002-2.1-cln.swf.gz"}) {
    SCOPED_TRACE(name);
    const std::string path = kShared + "/swf/" + name;
    const std::uint64_t records =
        shellNumber("zcat '" + path + "' | awk '!/^;/ && NF > 0 {n++} END {print n + 0}'");
    const std::uint64_t processors = shellNumber(
        "zcat '" + path +
        "' | awk '!/^;/ && NF > 0 && $4 >= 0 {p = ($5 > 0) ? $5 : $8; if (p > 0) s += p} "
        "END {printf \"%d\\n\", s}'");
    const Streamed s = stream(path, "swf");
    EXPECT_EQ(s.report.records, records);
    EXPECT_EQ(s.report.skipped, 0U);
    std::uint64_t left = 0;
    for (const auto& [key, value] : s.report.counts) {
      if (key == "zero_processors" || key == "unknown_runtime" || key == "unknown_submit") {
        left += value;
      }
    }
    EXPECT_EQ(s.jobs + left, records);
    EXPECT_EQ(s.tasks, s.jobs);
    EXPECT_EQ(s.instances, processors);
    EXPECT_GT(s.chunks, 1U);
  }
  const Workload kth = readWorkload(kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz", "swf");
  EXPECT_EQ(kth.meta.at("MaxNodes"), "100");
  EXPECT_EQ(kth.meta.at("MaxProcs"), "100");
  EXPECT_EQ(kth.meta.at("UnixStartTime"), "843480031");
  EXPECT_EQ(kth.meta.at("MaxJobs"), "28490");
  EXPECT_EQ(kth.jobs.size(), 27992U);
  EXPECT_EQ(kth.machines.size(), 100U);
  const Workload hpc2n = readWorkload(kShared + "/swf/HPC2N-2002-2.1-cln.swf.gz", "swf");
  EXPECT_EQ(hpc2n.meta.at("MaxProcs"), "240");
  EXPECT_EQ(hpc2n.machines.size(), 240U);
}

// Every job of the KTH log is one gang record whose count is its processor
// field (allocated, else requested) as awk reads it, in file order, with one
// cpu per instance.
TEST(SwfReaderTest, GangCountIsTheProcessorFieldOfEveryKthJob) {
  const std::string path = kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz";
  std::istringstream expected(
      shell("zcat '" + path +
            "' | awk '!/^;/ && NF > 0 {p = ($5 > 0) ? $5 : (($8 > 0) ? $8 : 0); "
            "if (p > 0 && $4 >= 0 && $2 >= 0) print $1, p}'"));
  std::vector<std::pair<std::int64_t, std::uint64_t>> awk;
  std::int64_t number = 0;
  std::uint64_t processors = 0;
  while (expected >> number >> processors) awk.emplace_back(number, processors);
  ASSERT_EQ(awk.size(), 27992U);

  std::vector<std::pair<std::int64_t, std::uint64_t>> read;
  auto reader = openTrace(path, "swf");
  WorkloadChunk chunk;
  std::uint64_t firstTask = 0;
  std::vector<Scalars> demands;  // the chunks' tables, concatenated: indexes are global
  while (reader->next(chunk)) {
    demands.insert(demands.end(), chunk.demands.begin(), chunk.demands.end());
    ASSERT_EQ(chunk.tasks.size(), chunk.jobs.size());
    for (std::size_t i = 0; i < chunk.jobs.size(); ++i) {
      const Job& job = chunk.jobs[i];
      const Task& task = chunk.tasks[i];
      ASSERT_EQ(job.taskCount, 1U);
      ASSERT_EQ(job.firstTask, firstTask + i);
      EXPECT_EQ(task.index, 0U);
      EXPECT_EQ(demands.at(task.demand)[0], 1.0);
      read.emplace_back(job.traceId, task.count);
    }
    firstTask += chunk.jobs.size();
  }
  EXPECT_EQ(read, awk);
}

// Every KTH job's estimate is its requested time (field 9, seconds; 0 when
// not positive) as awk reads it from the file, in file order; the sum and the
// number of known estimates agree too.
TEST(SwfReaderTest, EstimateIsTheRequestedTimeOfEveryKthJob) {
  const std::string path = kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz";
  // The records the reader keeps (processors, run time and submit known).
  const std::string kept = "zcat '" + path +
                           "' | awk '!/^;/ && NF > 0 {p = ($5 > 0) ? $5 : (($8 > 0) ? $8 : 0); "
                           "if (p > 0 && $4 >= 0 && $2 >= 0) ";
  std::istringstream expected(shell(kept + "print $1, ($9 > 0 ? $9 : 0)}'"));
  std::vector<std::pair<std::int64_t, std::int64_t>> awk;
  std::int64_t number = 0, seconds = 0;
  while (expected >> number >> seconds) awk.emplace_back(number, seconds * 1'000'000);
  ASSERT_EQ(awk.size(), 27992U);
  std::istringstream totals(
      shell(kept + "if ($9 > 0) {n++; s += $9}} END {printf \"%d %.0f\\n\", n, s}'"));
  std::uint64_t awkKnown = 0;
  std::int64_t awkSeconds = 0;
  ASSERT_TRUE(totals >> awkKnown >> awkSeconds);

  const Workload w = readWorkload(path, "swf");
  ASSERT_EQ(w.tasks.size(), awk.size());
  std::vector<std::pair<std::int64_t, std::int64_t>> read;
  std::uint64_t known = 0;
  std::int64_t sumUs = 0;
  for (const Job& job : w.jobs) {
    const Task& task = w.tasks[job.firstTask];
    read.emplace_back(job.traceId, toMicros(task.estimate));
    if (task.estimate > Duration{0}) ++known;
    sumUs += toMicros(task.estimate);
  }
  EXPECT_EQ(read, awk);
  EXPECT_EQ(known, awkKnown);
  EXPECT_EQ(sumUs, awkSeconds * 1'000'000);
  EXPECT_GT(known, 0U);
  ::testing::Test::RecordProperty("estimate_sum_s", std::to_string(sumUs / 1'000'000));
  ::testing::Test::RecordProperty("awk_requested_time_sum_s", std::to_string(awkSeconds));
  std::printf("KTH estimates: %llu known, sum %lld s (reader) vs %llu known, sum %lld s (awk)\n",
              static_cast<unsigned long long>(known), static_cast<long long>(sumUs / 1'000'000),
              static_cast<unsigned long long>(awkKnown), static_cast<long long>(awkSeconds));
}

// The requested time (field 9) maps to Task::estimate in microseconds: -1,
// other negative values and 0 mean unknown (0); fractions of a second are
// kept.
TEST(SwfReaderTest, RequestedTimeMapsToEstimate) {
  TempDir dir;
  const std::string path = dir.write("estimates.swf",
                                     "1 0 0 10 1 -1 -1 1 3600 -1 1 1 1 -1 1 1 -1 -1\n"
                                     "2 0 0 10 1 -1 -1 1 -1 -1 1 1 1 -1 1 1 -1 -1\n"
                                     "3 0 0 10 1 -1 -1 1 0 -1 1 1 1 -1 1 1 -1 -1\n"
                                     "4 0 0 10 1 -1 -1 1 -1 -1 1 1 1 -1 1 1 -1 -1\n"
                                     "5 0 0 10 1 -1 -1 1 1.5 -1 1 1 1 -1 1 1 -1 -1\n"
                                     "6 0 0 10 1 -1 -1 1 5 -1 1 1 1 -1 1 1 -1 -1\n");
  const Workload w = readWorkload(path, "swf");
  ASSERT_EQ(w.tasks.size(), 6U);
  const std::vector<std::int64_t> expected{3'600'000'000, 0, 0, 0, 1'500'000, 5'000'000};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(toMicros(w.tasks[i].estimate), expected[i]) << "job " << i + 1;
    EXPECT_EQ(w.tasks[i].duration, std::chrono::seconds(10)) << "job " << i + 1;
  }
}

// ---------------------------------------------------------------- gzip

// The same file as plain text, gzip with a .gz name, gzip with a plain name
// and plain text with a .gz name all read alike: gzip is found by its magic
// bytes, not by the extension.
TEST(LineInputTest, GzipIsDetectedByMagicBytes) {
  TempDir dir;
  const std::string plain = kData + "/swf/tiny.swf";
  const std::string gz = dir.path("tiny.swf.gz");
  const std::string gzNoExt = dir.path("tiny-compressed.swf");
  const std::string plainGzExt = dir.path("not-really.swf.gz");
  ASSERT_EQ(std::system(("gzip -c '" + plain + "' > '" + gz + "'").c_str()), 0);
  fs::copy_file(gz, gzNoExt);
  fs::copy_file(plain, plainGzExt);
  const Workload expected = readWorkload(plain, "swf");
  EXPECT_EQ(readWorkload(gz, "swf"), expected);
  EXPECT_EQ(readWorkload(gzNoExt, "swf"), expected);
  EXPECT_EQ(readWorkload(plainGzExt, "swf"), expected);
}

// Concatenated gzip members (as `cat a.gz b.gz` makes) read as one stream.
TEST(LineInputTest, ConcatenatedGzipMembersAreRead) {
  TempDir dir;
  const std::string a = dir.write("a.swf", "1 0 0 10 1 -1 -1 1 -1 -1 1 1 1 -1 1 1 -1 -1\n");
  const std::string b = dir.write("b.swf", "2 5 0 10 1 -1 -1 1 -1 -1 1 1 1 -1 1 1 -1 -1\n");
  const std::string both = dir.path("both.swf.gz");
  ASSERT_EQ(std::system(("(gzip -c '" + a + "'; gzip -c '" + b + "') > '" + both + "'").c_str()),
            0);
  EXPECT_EQ(readWorkload(both, "swf").jobs.size(), 2U);
}

// Corrupt gzip data is an Error naming the file, not a crash.
TEST(LineInputTest, CorruptGzipNamesTheFile) {
  TempDir dir;
  std::string bytes = shell("gzip -c '" + kData + "/swf/tiny.swf'");
  ASSERT_GT(bytes.size(), 40U);
  for (std::size_t i = 20; i < bytes.size() - 8; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
  const std::string path = dir.write("corrupt.swf.gz", bytes);
  try {
    readWorkload(path, "swf");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
  }
}

// A gzip file cut short, or one whose CRC-32 trailer does not match its
// data, is an Error naming the file (gzip requires the check).
TEST(LineInputTest, TruncatedOrBadCrcGzipIsAnError) {
  TempDir dir;
  const std::string bytes = shell("gzip -c '" + kData + "/swf/tiny.swf'");
  ASSERT_GT(bytes.size(), 40U);
  const std::string cut = dir.write("cut.swf.gz", bytes.substr(0, bytes.size() - 12));
  EXPECT_THAT(errorOrNone(cut), HasSubstr(cut + ": corrupt gzip data"));
  EXPECT_THAT(errorOrNone(cut), HasSubstr("unexpected end of file"));
  std::string badCrc = bytes;
  badCrc[badCrc.size() - 8] = static_cast<char>(badCrc[badCrc.size() - 8] ^ 1);
  const std::string crc = dir.write("crc.swf.gz", badCrc);
  EXPECT_THAT(errorOrNone(crc), HasSubstr(crc + ": corrupt gzip data"));
  EXPECT_THAT(errorOrNone(crc), HasSubstr("CRC or length check failed"));
  const std::string garbage = dir.write("garbage.swf.gz", bytes + "not gzip");
  EXPECT_THAT(errorOrNone(garbage), HasSubstr(garbage + ": corrupt gzip data"));
  // Zero padding to the end (tape blocks; gzip -d ignores it) reads as the
  // file alone; anything after the zeros is still an error.
  const std::string padding(300'000, '\0');  // longer than the inflater's input buffer
  const std::string padded = dir.write("padded.swf.gz", bytes + padding);
  EXPECT_EQ(readWorkload(padded, "swf"), readWorkload(kData + "/swf/tiny.swf", "swf"));
  const std::string padThenGarbage = dir.write("padgarbage.swf.gz", bytes + padding + "x");
  EXPECT_THAT(errorOrNone(padThenGarbage), HasSubstr("neither a member nor zero padding"));
}

// Members larger than the inflater's buffers, several of them, read whole:
// the real HPC2N log cut into three gzip members reads like the log itself.
TEST(LineInputTest, LargeConcatenatedMembersReadWhole) {
  TempDir dir;
  const std::string path = kShared + "/swf/HPC2N-2002-2.1-cln.swf.gz";
  const std::string both = dir.path("three.swf.gz");
  ASSERT_EQ(
      std::system(
          ("zcat '" + path + "' | split -l 70000 --filter='gzip -1' > '" + both + "'").c_str()),
      0);
  EXPECT_EQ(readWorkload(both, "swf"), readWorkload(path, "swf"));
}

// gzip input is read straight from the inflated blocks (2 MiB each): lines
// that span two or more blocks, CRLF ends split between blocks, and a final
// line without a newline read as from the plain file.
TEST(LineInputTest, LinesSpanningInflatedBlocksReadAsPlain) {
  TempDir dir;
  const std::string path = kShared + "/swf/HPC2N-2002-2.1-cln.swf.gz";
  const std::string plain = dir.path("log.swf");
  const std::string crlf = dir.path("crlf.swf.gz");
  const std::string wide = dir.path("wide.swf.gz");
  ASSERT_EQ(std::system(("zcat '" + path + "' | head -c -1 > '" + plain + "'").c_str()), 0);
  ASSERT_EQ(std::system(("sed 's/$/\\r/' '" + plain + "' | gzip -1 > '" + crlf + "'").c_str()), 0);
  // A 5 MiB comment line (spans three blocks) near the start.
  ASSERT_EQ(
      std::system(("(head -n 40 '" + plain + "'; printf ';'; head -c 5000000 /dev/zero | " +
                   "tr '\\0' x; echo; tail -n +41 '" + plain + "') | gzip -1 > '" + wide + "'")
                      .c_str()),
      0);
  const Workload expected = readWorkload(plain, "swf");
  EXPECT_EQ(readWorkload(path, "swf"), expected);
  EXPECT_EQ(readWorkload(crlf, "swf"), expected);
  const Workload widened = readWorkload(wide, "swf");
  EXPECT_EQ(widened.jobs, expected.jobs);
  EXPECT_EQ(widened.tasks, expected.tasks);
}

// CRLF line ends and a missing final newline do not change what is read.
TEST(LineInputTest, CrlfAndMissingFinalNewline) {
  TempDir dir;
  const std::string line = "1 0 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1";
  const Workload lf = readWorkload(dir.write("lf.swf", "; MaxProcs: 4\n" + line + "\n"), "swf");
  const Workload crlf =
      readWorkload(dir.write("crlf.swf", "; MaxProcs: 4\r\n" + line + "\r\n"), "swf");
  const Workload open = readWorkload(dir.write("open.swf", "; MaxProcs: 4\n" + line), "swf");
  EXPECT_EQ(crlf, lf);
  EXPECT_EQ(open, lf);
  EXPECT_EQ(lf.meta.at("MaxProcs"), "4");
}

// Any run of blanks (spaces, tabs, vertical tabs, form feeds) separates SWF
// fields, wherever it falls relative to the 16-byte blocks the splitter
// scans; leading and trailing blanks are ignored.
TEST(LineInputTest, SwfFieldsSplitOnAnyRunOfBlanks) {
  TempDir dir;
  const std::vector<std::string> fields{"1",  "0", "0", "10", "2",  "-1", "-1", "2",  "-1",
                                        "-1", "1", "1", "1",  "-1", "1",  "1",  "-1", "-1"};
  std::string plain, odd;
  const std::vector<std::string> gaps{" ", "\t", "   ", " \v ", "\f", "\t \t", "                 "};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    plain += (i == 0 ? "" : " ") + fields[i];
    odd += gaps[i % gaps.size()] + fields[i];
  }
  odd += " \t ";
  for (std::size_t pad = 0; pad < 20; ++pad) {
    const std::string line = std::string(pad, ' ') + odd;
    EXPECT_EQ(readWorkload(dir.write("odd.swf", line + "\n"), "swf"),
              readWorkload(dir.write("plain.swf", plain + "\n"), "swf"))
        << pad;
  }
}

// Progress reports end with done == total == the file's size.
TEST(LineInputTest, ProgressReachesTheFileSize) {
  const std::string path = kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz";
  std::uint64_t lastDone = 0, lastTotal = 0, calls = 0;
  ReadOptions options;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_GE(done, lastDone);
    lastDone = done;
    lastTotal = total;
    ++calls;
  };
  stream(path, "swf", options);
  EXPECT_GE(calls, 1U);
  EXPECT_EQ(lastTotal, fs::file_size(path));
  EXPECT_EQ(lastDone, lastTotal);
}

// ---------------------------------------------------------------- bad input

// A malformed SWF line names file:line, the column (number and name) and
// the value; a short line names the field count.
TEST(BadInputTest, SwfErrorNamesFileLineColumnAndValue) {
  TempDir dir;
  const std::string good = "1 0 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n";
  const std::string bad = dir.write(
      "bad.swf", "; MaxProcs: 4\n" + good + "2 5 0 1O 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(bad, "swf"), bad + ":3: column 4 (run_time): bad value '1O': not a number");
  const std::string shortLine = dir.write("short.swf", good + "2 5 0 10\n");
  EXPECT_EQ(errorOf(shortLine, "swf"), shortLine + ":2: expected 18 fields, found 4");
  // The requested time (field 9, the estimate) like any other column.
  const std::string estimate =
      dir.write("estimate.swf", good + good + "3 5 0 10 2 -1 -1 2 2h -1 1 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(estimate, "swf"),
            estimate + ":3: column 9 (requested_time): bad value '2h': not a number");
  const std::string huge =
      dir.write("huge.swf", good + "3 5 0 10 2 -1 -1 2 1e300 -1 1 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(huge, "swf"),
            huge + ":2: column 9 (requested_time): bad value '1e300': time out of range");
  // Found by fuzz_swf: a preceding job number beyond int64's range.
  const std::string preceding =
      dir.write("preceding.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 9.9e45 -1\n");
  EXPECT_EQ(errorOf(preceding, "swf"),
            preceding +
                ":2: column 17 (preceding_job): bad value '9.9e45': preceding job number is not "
                "an integer");
  // User ids and queue numbers too: clamped or truncated, two would merge.
  const std::string user =
      dir.write("user.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 1 99999999999999999 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(user, "swf"), user +
                                      ":2: column 12 (user_id): bad value '99999999999999999': "
                                      "user id is not an integer");
  const std::string queue =
      dir.write("queue.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1.5 1 -1 -1\n");
  EXPECT_EQ(errorOf(queue, "swf"),
            queue + ":2: column 15 (queue): bad value '1.5': queue number is not an integer");
  // -1 is SWF's "unknown" (such records are left out and said so); any other
  // negative value is malformed, whichever the field.
  const std::string negativeRun =
      dir.write("negrun.swf", good + "2 5 0 -5 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(
      errorOf(negativeRun, "swf"),
      negativeRun + ":2: column 4 (run_time): bad value '-5': negative, and not -1 (unknown)");
  const std::string negativeSubmit =
      dir.write("negsubmit.swf", good + "2 -0.5 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n");
  EXPECT_THAT(errorOf(negativeSubmit, "swf"),
              HasSubstr(":2: column 2 (submit_time): bad value '-0.5': negative"));
}

// Google and Alibaba lines name the column the same way.
TEST(BadInputTest, CsvErrorsNameFileLineColumnAndValue) {
  TempDir dir;
  const std::string google =
      dir.write("g/task_events/part-0.csv", "0,,1,0,,0,u,0,0,0.1,0.1,0,0\n0,,1,0,,9,u,0,0,,,,\n");
  EXPECT_EQ(errorOf(google, "google2011"),
            google + ":2: column 6 (event_type): bad value '9': event type is not 0..8");
  const std::string negative =
      dir.write("n/task_events/part-0.csv", "0,,1,0,,0,u,0,0,-0.5,0.1,0,0\n");
  EXPECT_EQ(errorOf(negative, "google2011"),
            negative + ":1: column 10 (cpu_request): bad value '-0.5': negative request");
  const std::string huge = dir.write("h/task_events/part-0.csv", "0,,1,0,,0,u,0,0,1e400,0.1,0,0\n");
  EXPECT_EQ(errorOf(huge, "google2011"),
            huge + ":1: column 10 (cpu_request): bad value '1e400': number out of range");
  const std::string ali2017 =
      dir.write("a/batch_task.csv", "task_create_time,x,y,z,n,s,c,m\n1,2,3,4,5x,Waiting,,\n");
  EXPECT_EQ(errorOf(ali2017, "alibaba2017"),
            ali2017 + ":2: column 5 (number_of_instances): bad value '5x': not an integer");
  const std::string ali2018 =
      dir.write("b/batch_task.csv", "M1,1,j_1,1,Terminated,abc,20,100,0.5\n");
  EXPECT_EQ(errorOf(ali2018, "alibaba2018"),
            ali2018 + ":1: column 6 (start_time): bad value 'abc': not an integer");
}

// With skipBad, malformed lines are skipped and counted by reason, and the
// good lines are still read.
TEST(BadInputTest, SkipBadCountsByReason) {
  TempDir dir;
  const std::string good = "1 0 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n";
  const std::string path =
      dir.write("mixed.swf", good + "2 5 0 x 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n" + "3 5 0 10\n" +
                                 "4 5 0 y 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n" +
                                 "5 5 0 10 2 -1 -1 2 ten -1 1 1 1 -1 1 1 -1 -1\n" +
                                 "6 5 0 10 2 -1 -1 2 1e12 -1 1 1 1 -1 1 1 -1 -1\n" + good);
  ReadOptions options;
  options.skipBad = true;
  ReadReport report;
  const Workload w = readWorkload(path, "swf", options, &report);
  EXPECT_EQ(w.jobs.size(), 2U);
  EXPECT_EQ(report.records, 2U);
  EXPECT_EQ(report.skipped, 5U);
  EXPECT_EQ(report.skippedByReason.at("run_time: not a number"), 2U);
  EXPECT_EQ(report.skippedByReason.at("requested_time: not a number"), 1U);
  EXPECT_EQ(report.skippedByReason.at("requested_time: time out of range"), 1U);
  EXPECT_EQ(report.skippedByReason.at("wrong number of fields"), 1U);
  EXPECT_EQ(w.meta.at("count.skipped_lines"), "5");
  EXPECT_EQ(w.meta.at("skipped.run_time: not a number"), "2");
  EXPECT_EQ(w.meta.at("skipped.wrong number of fields"), "1");
  // The first line of each reason, to find the others by.
  EXPECT_EQ(report.firstSkipped.size(), report.skippedByReason.size());
  EXPECT_EQ(report.firstSkipped.at("run_time: not a number"),
            path + ":2: column 4 (run_time): bad value 'x': not a number");
  EXPECT_EQ(report.firstSkipped.at("wrong number of fields"),
            path + ":3: expected 18 fields, found 4");
  EXPECT_EQ(w.meta.at("skipped_first.requested_time: not a number"),
            path + ":5: column 9 (requested_time): bad value 'ten': not a number");
}

// The header values the reader uses to build the cluster (MaxNodes,
// MaxProcs, MaxMemory) are checked like record fields: a malformed or
// non-positive value names FILE:LINE, the key and the value (it was dropped
// without a word, giving another cluster); a MaxNodes beyond the machine
// limit is refused (it was clamped while cpus per machine still came from
// the whole count); a key repeated with another value names both lines.
// Keys the reader does not use stay free text.
TEST(BadInputTest, SwfHeaderValuesTheReaderUsesAreChecked) {
  TempDir dir;
  const std::string job = "1 0 10 100 2 90 1024 2 200 2048 1 1 1 -1 1 1 -1 -1\n";
  int files = 0;
  auto swf = [&](const std::string& header) {
    return dir.write("h" + std::to_string(files++) + ".swf", header + job);
  };
  for (const char* value : {"abc", "0", "-1", "100 nodes", "2.5", "", "inf", "nan"}) {
    SCOPED_TRACE(value);
    const std::string path = swf("; MaxNodes: " + std::string(value) + "\n; MaxProcs: 8\n");
    EXPECT_EQ(errorOf(path, "swf"), path + ":1: header MaxNodes: bad value '" + std::string(value) +
                                        "': not a positive integer");
  }
  const std::string procs = swf("; MaxNodes: 2\n; MaxProcs: 8x\n");
  EXPECT_EQ(errorOf(procs, "swf"),
            procs + ":2: header MaxProcs: bad value '8x': not a positive integer");
  for (const char* value : {"abc", "-5", "0", "1e400"}) {
    SCOPED_TRACE(value);
    const std::string path =
        swf("; MaxNodes: 2\n; MaxProcs: 4\n; MaxMemory: " + std::string(value) + "\n");
    EXPECT_EQ(errorOf(path, "swf"), path + ":3: header MaxMemory: bad value '" +
                                        std::string(value) + "': not a positive number");
  }
  const std::string huge = swf("; MaxNodes: 99999999999\n; MaxProcs: 8\n");
  EXPECT_EQ(errorOf(huge, "swf"), huge +
                                      ":1: header MaxNodes: bad value '99999999999': more "
                                      "machines than allot accepts (1048576)");
  // Without MaxNodes, MaxProcs is the number of (one-cpu) machines.
  const std::string hugeProcs = swf("; Note: n\n; MaxProcs: 2000000\n");
  EXPECT_EQ(errorOf(hugeProcs, "swf"),
            hugeProcs +
                ":2: header MaxProcs: bad value '2000000': more machines than allot accepts "
                "(1048576), one one-cpu machine per processor without MaxNodes");
  // With MaxNodes, it is only the cpus: 1000 machines of 2000 cpus.
  const Workload wide = readWorkload(swf("; MaxProcs: 2000000\n; MaxNodes: 1000\n"), "swf");
  ASSERT_EQ(wide.machines.size(), 1000U);
  EXPECT_EQ(wide.machines[0].capacity[0], 2000.0);

  const std::string twice = swf("; MaxNodes: 2\n; Note: n\n; MaxNodes: 4\n; MaxProcs: 8\n");
  EXPECT_EQ(errorOf(twice, "swf"),
            twice +
                ":3: header MaxNodes: bad value '4': repeated with another value than line 1 "
                "('2')");
  // The same value again is the same header.
  ReadReport same;
  const Workload again = readWorkload(
      swf("; MaxNodes: 2\n; MaxNodes: 2.0\n; MaxProcs: 8\n; MaxMemory: 2048\n"), "swf", {}, &same);
  EXPECT_EQ(again.meta.at("MaxNodes"), "2");
  ASSERT_EQ(again.machines.size(), 2U);
  EXPECT_EQ(again.machines[0].capacity[0], 4.0);
  EXPECT_EQ(again.machines[0].capacity[1], 8.0);  // 2 MB per processor, 4 cpus
  EXPECT_EQ(same.records, 1U);
  EXPECT_EQ(same.skipped, 0U);

  // Keys the reader does not use stay free text, kept in meta.
  const Workload free =
      readWorkload(swf("; UnixStartTime: banana\n; MaxJobs: many\n; MaxQueues: 1 2\n"), "swf");
  EXPECT_EQ(free.meta.at("UnixStartTime"), "banana");
  EXPECT_EQ(free.meta.at("MaxJobs"), "many");
  EXPECT_EQ(free.machines.size(), 2U);  // inferred from the widest job

  // With skipBad, such a line is skipped and counted like a bad record; the
  // first of a repeated key stays.
  ReadOptions skip;
  skip.skipBad = true;
  ReadReport report;
  const std::string mixed =
      swf("; MaxNodes: abc\n; MaxProcs: 8\n; MaxMemory: -5\n; MaxProcs: 16\n; Note: kept\n");
  const Workload w = readWorkload(mixed, "swf", skip, &report);
  EXPECT_EQ(report.records, 1U);
  EXPECT_EQ(report.skipped, 3U);
  EXPECT_EQ(report.skippedByReason.at("MaxNodes: not a positive integer"), 1U);
  EXPECT_EQ(report.skippedByReason.at("MaxMemory: not a positive number"), 1U);
  EXPECT_EQ(report.skippedByReason.at("MaxProcs: repeated with another value"), 1U);
  EXPECT_EQ(report.firstSkipped.at("MaxNodes: not a positive integer"),
            mixed + ":1: header MaxNodes: bad value 'abc': not a positive integer");
  EXPECT_EQ(w.meta.at("count.skipped_lines"), "3");
  EXPECT_EQ(w.meta.count("MaxNodes"), 0U);
  EXPECT_EQ(w.meta.at("MaxProcs"), "8");
  EXPECT_EQ(w.meta.at("Note"), "kept");
  EXPECT_EQ(w.machines.size(), 8U);  // MaxProcs alone: one-cpu machines
  EXPECT_EQ(w.machines[0].capacity[0], 1.0);
}

// A job number read before is counted (dependencies name the most recent
// job with that number), whether the numbers run in order or not.
TEST(SwfReaderTest, DuplicateJobNumbersAreCounted) {
  TempDir dir;
  auto line = [](int number, int submit, int preceding) {
    return std::to_string(number) + " " + std::to_string(submit) +
           " 0 10 1 -1 -1 1 -1 -1 1 1 1 -1 1 1 " + std::to_string(preceding) + " -1\n";
  };
  const std::string path =
      dir.write("dup.swf", line(1, 0, -1) + line(1, 5, -1) + line(3, 10, 1) + line(2, 15, -1) +
                               line(2, 20, -1) + line(4, 25, 2));
  ReadReport report;
  const Workload w = readWorkload(path, "swf", {}, &report);
  ASSERT_EQ(w.jobs.size(), 6U);
  EXPECT_EQ(report.counts.count("duplicate_job_number") != 0
                ? report.counts.at("duplicate_job_number")
                : 0U,
            2U);
  EXPECT_EQ(w.meta.count("count.duplicate_job_number") != 0
                ? w.meta.at("count.duplicate_job_number")
                : "",
            "2");
  EXPECT_EQ(w.jobs[2].dependsOn, std::vector<std::uint32_t>{1});  // the second job 1
  EXPECT_EQ(w.jobs[5].dependsOn, std::vector<std::uint32_t>{4});  // the second job 2
  // Distinct numbers: nothing counted.
  ReadReport none;
  readWorkload(kData + "/swf/tiny.swf", "swf", {}, &none);
  EXPECT_EQ(none.counts.count("duplicate_job_number"), 0U);
}

// The status (field 11) is an integer like the job, user and queue numbers:
// 1.5 was recorded as 1, and values beyond int32 were clamped.
TEST(BadInputTest, SwfStatusIsAnInteger) {
  TempDir dir;
  const std::string good = "1 0 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n";
  const std::string fraction =
      dir.write("frac.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 1.5 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(fraction, "swf"),
            fraction + ":2: column 11 (status): bad value '1.5': status is not an integer");
  const std::string huge =
      dir.write("huge.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 5e9 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(errorOf(huge, "swf"),
            huge + ":2: column 11 (status): bad value '5e9': status out of range");
  const std::string whole =
      dir.write("whole.swf", good + "2 5 0 10 2 -1 -1 2 -1 -1 5.0 1 1 -1 1 1 -1 -1\n");
  EXPECT_EQ(readWorkload(whole, "swf").tasks[1].outcome.status, 5);
}

// ---------------------------------------------------------------- google2011

// The hand-written Google trace (two task parts, job, machine events) gives
// the attempts, counts and machines worked out by hand in the data's notes.
TEST(Google2011ReaderTest, AttemptsAndEdgeCasesOfSmallTrace) {
  ReadReport report;
  const Workload w = readWorkload(kData + "/google2011", "google2011", {}, &report);
  EXPECT_EQ(report.counts.at("complete_attempts"), 3U);
  EXPECT_EQ(report.counts.at("running_at_start"), 1U);
  EXPECT_EQ(report.counts.at("terminal_without_schedule"), 1U);
  EXPECT_EQ(report.counts.at("ended_pending"), 1U);
  EXPECT_EQ(report.counts.at("jobs_without_attempts"), 1U);
  EXPECT_EQ(report.counts.at("cut_at_end"), 1U);
  EXPECT_EQ(report.counts.at("task_events_rows"), 14U);
  EXPECT_EQ(report.counts.at("job_events_rows"), 6U);
  EXPECT_EQ(w.meta.at("machines"), "machine_events");
  EXPECT_THAT(w.meta.at("units"), HasSubstr("normalized"));

  ASSERT_EQ(w.jobs.size(), 3U);
  EXPECT_EQ(w.jobs[0].traceId, 100);
  EXPECT_EQ(w.jobs[1].traceId, 200);
  EXPECT_EQ(w.jobs[2].traceId, 400);
  EXPECT_EQ(w.users, (std::vector<std::string>{"userA", "userB", "userD"}));
  ASSERT_EQ(w.jobs[0].taskCount, 3U);
  EXPECT_EQ(w.jobs[0].priority, 9);
  const Task* t = &w.tasks[w.jobs[0].firstTask];
  // Task 0: scheduled at time 0 (before the window), finished at 6 s.
  EXPECT_EQ(t[0].index, 0U);
  EXPECT_EQ(t[0].duration, std::chrono::seconds(6));
  EXPECT_EQ(t[0].outcome.machine, 11);
  EXPECT_EQ(t[0].outcome.status, 4);
  EXPECT_EQ(demandOf(w, t[0])[0], 0.125);
  // Task 1, first attempt: evicted; its request came from the SUBMIT row.
  EXPECT_EQ(t[1].index, 1U);
  EXPECT_EQ(t[1].outcome.startUs, 5'000'000);
  EXPECT_EQ(t[1].outcome.endUs, 8'000'000);
  EXPECT_EQ(t[1].outcome.status, 2);
  EXPECT_EQ(demandOf(w, t[1])[0], 0.25);
  EXPECT_TRUE(t[1].differentMachine);
  // Task 1, resubmitted: a second attempt.
  EXPECT_EQ(t[2].index, 1U);
  EXPECT_EQ(t[2].outcome.startUs, 10'000'000);
  EXPECT_EQ(t[2].outcome.machine, 14);
  // Job 200: killed with no SCHEDULE seen; start unknown, counted from 0.
  const Task& before = w.tasks[w.jobs[1].firstTask];
  EXPECT_EQ(before.outcome.startUs, kUnknown);
  EXPECT_EQ(before.duration, std::chrono::seconds(7));
  // Job 400: still running at the end of the input.
  const Task& cut = w.tasks[w.jobs[2].firstTask];
  EXPECT_EQ(cut.outcome.startUs, 15'000'000);
  EXPECT_EQ(cut.outcome.endUs, kUnknown);
  EXPECT_EQ(demandOf(w, cut)[1], 0.3);

  ASSERT_EQ(w.machines.size(), 5U);
  EXPECT_EQ(w.machines[1].traceId, 12);
  EXPECT_EQ(w.machines[1].capacity[1], 0.25);
  EXPECT_EQ(w.machines[1].attributes.get("platform"), "platformX");
  ASSERT_EQ(w.machineEvents.size(), 7U);
  EXPECT_EQ(w.machineEvents[5].kind, MachineEvent::Kind::kUpdate);
  EXPECT_EQ(w.machineEvents[5].capacity[1], 0.5);
  EXPECT_EQ(w.machineEvents[6].kind, MachineEvent::Kind::kRemove);
  EXPECT_EQ(w.machineEvents[6].machine, 2U);
}

// A machine table given in ReadOptions (--machines) while machine_events
// is read (found beside task_events, or given too) would be ignored, since
// machine_events take precedence: refused, naming both, as other ignored
// inputs are. A machines.csv found beside machine_events is not the user's
// choice and stays second.
TEST(Google2011ReaderTest, MachineTableIgnoredForMachineEventsIsRefused) {
  const std::string trace = kData + "/google2011";
  ReadOptions table;
  table.machinesFile = "/nonexistent/machines.csv";
  try {
    openTrace(trace, "google2011", table);
    ADD_FAILURE() << "a machine table that would be ignored was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("machine table '/nonexistent/machines.csv' would be ignored"));
    EXPECT_THAT(e.what(), HasSubstr("machine_events found at '" + trace + "/machine_events'"));
  }
  ReadOptions both = table;
  both.machineEvents = trace + "/machine_events";
  try {
    openTrace(trace + "/task_events", "google2011", both);
    ADD_FAILURE() << "a machine table that would be ignored was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("machine table '/nonexistent/machines.csv' would be ignored"));
    EXPECT_THAT(e.what(), HasSubstr("machine_events given as '" + trace + "/machine_events'"));
  }

  // Without machine_events, the table is read; a machines.csv beside
  // machine_events is not.
  TempDir dir;
  fs::create_directories(dir.path("t"));
  fs::copy(trace + "/task_events", dir.path("t/task_events"), fs::copy_options::recursive);
  const std::string csv = dir.write("machines.csv", "count,platform,cpu,memory\n3,p,0.5,0.25\n");
  ReadOptions given;
  given.machinesFile = csv;
  const Workload w = readWorkload(dir.path("t"), "google2011", given);
  EXPECT_EQ(w.machines.size(), 3U);
  EXPECT_EQ(w.meta.at("machines"), "machine table machines.csv");
  fs::copy(trace, dir.path("beside"), fs::copy_options::recursive);
  dir.write("beside/machines.csv", "garbage,,,\n");
  const Workload beside = readWorkload(dir.path("beside"), "google2011");
  EXPECT_EQ(beside.meta.at("machines"), "machine_events");
  EXPECT_EQ(beside.machines.size(), 5U);
}

// Google 2011, first five parts: the attempts with a complete SCHEDULE ->
// terminal life equal the number awk computes from the CSV with its own
// state machine; task event rows equal awk's line count; every task event
// row is accounted for.
TEST(Google2011ReaderTest, FirstFivePartsMatchAwk) {
  const std::string dir = kShared + "/google2011/task_events";
  const std::string awk = "zcat '" + dir +
                          "'/part-*.csv.gz | awk -F, '{k = $3 \" \" $4} "
                          "$6 == 1 {run[k] = 1} "
                          "$6 >= 2 && $6 <= 6 {if (k in run) {done++; delete run[k]}} "
                          "END {n = 0; for (k in run) n++; print done + 0, n, NR}'";
  std::istringstream expected(shell(awk));
  std::uint64_t complete = 0, open = 0, rows = 0;
  expected >> complete >> open >> rows;
  ASSERT_GT(complete, 200'000U);

  const Streamed s = stream(kShared + "/google2011", "google2011");
  const auto& counts = s.report.counts;
  EXPECT_EQ(counts.at("complete_attempts"), complete);
  EXPECT_EQ(counts.at("cut_at_end"), open);
  EXPECT_EQ(counts.at("task_events_rows"), rows);
  EXPECT_EQ(counts.at("task_events_rows"), 919'519U);
  EXPECT_EQ(counts.at("job_events_rows"), 25'437U);
  EXPECT_EQ(s.machines, 12'583U);  // from machines.csv beside task_events
  const std::uint64_t without =
      counts.contains("terminal_without_schedule") ? counts.at("terminal_without_schedule") : 0;
  EXPECT_EQ(s.tasks, complete + open + without);
  EXPECT_EQ(s.instances, s.tasks);  // attempts are never merged: count 1

  // The same count on the collected workload: tasks with both ends known.
  const Workload w = readWorkload(kShared + "/google2011", "google2011");
  std::uint64_t known = 0;
  for (const Task& task : w.tasks) {
    known += task.outcome.startUs != kUnknown && task.outcome.endUs != kUnknown ? 1 : 0;
  }
  EXPECT_EQ(known, complete);
  EXPECT_TRUE(std::is_sorted(w.jobs.begin(), w.jobs.end(),
                             [](const Job& a, const Job& b) { return a.submit < b.submit; }));
}

// Parts out of order put rows before earlier ones: the first such row is an
// error naming its file and line (attempts would pair events of different
// times), or with skipBad is counted and skipped. A part missing from a
// run of Google's part-NNNNN-of-MMMMM names is an error naming it.
TEST(Google2011ReaderTest, PartsOutOfOrderOrMissingAreRefused) {
  const fs::path small = kData + "/google2011/task_events";
  auto text = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string first = text(small / "part-00000-of-00002.csv");
  const std::string second = text(small / "part-00001-of-00002.csv");

  TempDir swapped;
  swapped.write("task_events/part-00000-of-00002.csv", second);
  const std::string late = swapped.write("task_events/part-00001-of-00002.csv", first);
  EXPECT_THAT(errorOf(swapped.path(""), "google2011"),
              HasSubstr(late + ":1: column 1 (time): 0 comes before the previous row's time"));
  ReadReport report;
  ReadOptions skip;
  skip.skipBad = true;
  readWorkload(swapped.path(""), "google2011", skip, &report);
  // Skipped: the rows of the late part before the early part's last time.
  auto times = [](const std::string& csv) {
    std::vector<std::int64_t> out;
    std::istringstream lines(csv);
    for (std::string line; std::getline(lines, line);) out.push_back(std::stoll(line));
    return out;
  };
  const std::int64_t last = times(second).back();
  const std::vector<std::int64_t> lateTimes = times(first);
  const auto before = static_cast<std::uint64_t>(
      std::count_if(lateTimes.begin(), lateTimes.end(), [&](std::int64_t t) { return t < last; }));
  ASSERT_GT(before, 0U);
  EXPECT_EQ(report.skippedByReason.at("time: before the previous row's"), before);
  EXPECT_EQ(report.skipped, before);

  TempDir gap;
  gap.write("task_events/part-00000-of-00500.csv", first);
  gap.write("task_events/part-00002-of-00500.csv", second);
  try {
    readWorkload(gap.path(""), "google2011");
    ADD_FAILURE() << "a missing part was read";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("part 1 is missing between part-00000-of-00500.csv and "
                                    "part-00002-of-00500.csv"));
  }
  TempDir twice;
  twice.write("task_events/part-00000-of-00500.csv", first);
  twice.write("task_events/part-00000-of-00500.csv.gz",
              shell("gzip -c '" + (small / "part-00000-of-00002.csv").string() + "'"));
  try {
    readWorkload(twice.path(""), "google2011");
    ADD_FAILURE() << "a part given twice was read";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("are both part 0"));
  }
  // Parts that follow one another from any first one are a window of the trace.
  TempDir window;
  window.write("task_events/part-00003-of-00500.csv", first);
  window.write("task_events/part-00004-of-00500.csv", second);
  EXPECT_EQ(readWorkload(window.path(""), "google2011").jobs.size(),
            readWorkload(kData + "/google2011/task_events", "google2011").jobs.size());
}

// One task_events part reads with the whole job_events folder beside it:
// job events past the part's last time are not consumed.
TEST(Google2011ReaderTest, OnePartReadsAlone) {
  const std::string part = kShared + "/google2011/task_events/part-00000-of-00500.csv.gz";
  const std::uint64_t rows = shellNumber("zcat '" + part + "' | wc -l");
  const Streamed s = stream(part, "google2011");
  EXPECT_EQ(s.report.counts.at("task_events_rows"), rows);
  EXPECT_LT(s.report.counts.at("job_events_rows"), 25'437U);
}

// Requests read exactly as strtod reads them, whichever path parses them
// (plain decimals take a fast path; exponents and long mantissas the general
// one).
TEST(Google2011ReaderTest, RequestsReadAsStrtodReadsThem) {
  const std::vector<std::string> texts{"0.125",
                                       "0.07446",
                                       "0.0004244",
                                       "1",
                                       "0",
                                       "0.1",
                                       "0.3",
                                       "7.5",
                                       "123456.75",
                                       "0.0000001",
                                       "0.999999999999999",
                                       "1e-3",
                                       "2.5E+1",
                                       "0.1234567890123456789",
                                       "00000000000000000000.5",
                                       "5.",
                                       ".5",
                                       "+0.25",
                                       "0.000000000000001",
                                       "3.815e-05",
                                       "1.907E-05",
                                       "7e-7",
                                       "2.5e+001",
                                       "1.5e-0",
                                       "123456789012345e-22",
                                       "1e22",
                                       "1e23",
                                       "9.87654321e-30",
                                       "1e-0001"};
  std::string csv, ends;  // rows in time order: every SCHEDULE, then every FINISH
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string task = std::to_string(i);
    csv += "10,,1," + task + ",7,1,u,0,0," + texts[i] + "," + texts[i] + ",0,0\n";
    ends += "20,,1," + task + ",7,4,u,0,0,,,,\n";
  }
  csv += ends;
  TempDir dir;
  const Workload w = readWorkload(dir.write("task_events/part-0.csv", csv), "google2011");
  ASSERT_EQ(w.tasks.size(), texts.size());
  for (const Task& task : w.tasks) {
    const std::string& text = texts.at(task.index);
    EXPECT_EQ(demandOf(w, task)[0], std::strtod(text.c_str(), nullptr)) << text;
    EXPECT_EQ(demandOf(w, task)[1], std::strtod(text.c_str(), nullptr)) << text;
  }
}

// Task indexes far apart in one job (sparse, then covered as the job grows)
// keep each task's state: attempts still running at the end are cut in task
// index order, with the start of their own SCHEDULE.
TEST(Google2011ReaderTest, SparseTaskIndexesKeepTheirState) {
  std::string csv = "5000000,,1,100,7,1,u,0,0,0.5,0.5,0,0\n";
  csv += "6000000,,1,3000000000,8,1,u,0,0,0.25,0.25,0,0\n";
  for (int i = 0; i < 100; ++i) {
    csv += "10000000,,1," + std::to_string(i) + ",9,1,u,0,0,0.125,0.125,0,0\n";
  }
  csv += "20000000,,1,3000000000,8,4,u,0,0,,,,\n";
  TempDir dir;
  ReadReport report;
  const Workload w =
      readWorkload(dir.write("task_events/part-0.csv", csv), "google2011", {}, &report);
  ASSERT_EQ(w.jobs.size(), 1U);
  ASSERT_EQ(w.tasks.size(), 102U);
  EXPECT_EQ(report.counts.at("cut_at_end"), 101U);
  EXPECT_EQ(report.counts.at("complete_attempts"), 1U);
  // The finished attempt first, then the cut ones by task index.
  EXPECT_EQ(w.tasks[0].index, 3000000000U);
  EXPECT_EQ(w.tasks[0].outcome.startUs, 6'000'000);
  EXPECT_EQ(w.tasks[0].outcome.endUs, 20'000'000);
  for (std::uint32_t i = 0; i <= 100; ++i) {
    const Task& t = w.tasks[1 + i];
    EXPECT_EQ(t.index, i);
    EXPECT_EQ(t.outcome.startUs, i == 100 ? 5'000'000 : 10'000'000) << i;
    EXPECT_EQ(t.outcome.machine, i == 100 ? 7 : 9) << i;
    EXPECT_EQ(demandOf(w, t)[0], i == 100 ? 0.5 : 0.125) << i;
    EXPECT_EQ(t.outcome.endUs, kUnknown);
  }
}

// Integers of every length up to 18 digits (times, machine IDs) read
// exactly, whether they take the eight-digits-at-a-time path or not.
TEST(Google2011ReaderTest, IntegersOfEveryLengthReadExactly) {
  std::string csv;
  std::vector<std::int64_t> times;
  std::int64_t time = 0;
  for (int digits = 1; digits <= 18; ++digits) {
    time = time * 10 + (digits % 9) + 1;  // 2, 23, 234, ... 18 digits
    times.push_back(time);
    const std::string task = std::to_string(digits - 1);
    csv += std::to_string(time) + ",,1," + task + "," + std::to_string(time) + ",1,u,0,0,1,1,0,0\n";
  }
  csv += "999999999999999999,,1,0,,4,u,0,0,,,,\n";
  TempDir dir;
  const Workload w = readWorkload(dir.write("task_events/part-0.csv", csv), "google2011");
  ASSERT_EQ(w.tasks.size(), times.size());
  for (const Task& task : w.tasks) {
    EXPECT_EQ(task.outcome.startUs, times.at(task.index));
    EXPECT_EQ(task.outcome.machine, times.at(task.index));
  }
}

// ---------------------------------------------------------------- alibaba

// The real 2017 batch_task: one job and one task record per row after the
// header line, with count = number_of_instances; records and instances equal
// awk's, streamed and loaded whole (about 80k records instead of 11.9 M
// expanded tasks).
TEST(AlibabaReaderTest, Real2017BatchTaskMatchesAwk) {
  const std::string path = kShared + "/alibaba2017/batch_task.csv.gz";
  std::istringstream expected(
      shell("zcat '" + path + "' | awk -F, 'NR > 1 {n++; s += $5} END {print n, s}'"));
  std::uint64_t rows = 0, instances = 0;
  expected >> rows >> instances;
  ASSERT_GT(instances, 10'000'000U);
  const Streamed s = stream(path, "alibaba2017");
  EXPECT_EQ(s.report.records, rows);
  EXPECT_EQ(s.jobs, rows);
  EXPECT_EQ(s.tasks, rows);
  EXPECT_EQ(s.instances, instances);
  EXPECT_EQ(s.report.lines, rows + 1);

  const Workload w = readWorkload(path, "alibaba2017");
  EXPECT_EQ(w.jobs.size(), rows);
  EXPECT_EQ(w.tasks.size(), rows);
  EXPECT_EQ(instanceCount(w), instances);
  for (const Job& job : w.jobs) ASSERT_EQ(job.taskCount, 1U);
}

// The 2017 excerpt: demands in cores and normalized memory, times in µs.
TEST(AlibabaReaderTest, Excerpt2017Fields) {
  const Workload w = readWorkload(kData + "/alibaba2017/batch_task.csv", "alibaba2017");
  ASSERT_EQ(w.jobs.size(), 20U);
  ASSERT_EQ(w.tasks.size(), 20U);
  // 6459,6524,3,4,15740,Terminated,50,0.007956928 (the earliest submit is
  // another row; find this one by its instance count).
  const auto it = std::find_if(w.jobs.begin(), w.jobs.end(), [&](const Job& job) {
    return w.tasks[job.firstTask].count == 15740;
  });
  ASSERT_NE(it, w.jobs.end());
  EXPECT_EQ(it->traceId, 3);
  EXPECT_EQ(it->taskCount, 1U);
  EXPECT_EQ(it->submit, fromMicros(6459'000'000));
  const Task& task = w.tasks[it->firstTask];
  EXPECT_EQ(task.index, 0U);
  EXPECT_EQ(demandOf(w, task)[0], 0.5);
  EXPECT_EQ(demandOf(w, task)[1], 0.007956928);
  EXPECT_EQ(task.duration, std::chrono::seconds(65));
  EXPECT_EQ(task.outcome.status, 0);
}

// 2018: DAG task names become dependencies between the jobs of one Alibaba
// job (remapped after sorting by submit), instances come from
// batch_instance (one record each) or else from instance_num (one record with
// that count), machines from machine_meta; odd cases are counted.
TEST(AlibabaReaderTest, Dag2018WithInstancesAndMachines) {
  ReadReport report;
  const Workload w = readWorkload(kData + "/alibaba2018", "alibaba2018", {}, &report);
  EXPECT_EQ(report.counts.at("zero_instances"), 1U);
  EXPECT_EQ(report.counts.at("missing_dependency"), 1U);
  EXPECT_EQ(report.counts.at("orphan_instances"), 1U);
  EXPECT_EQ(report.counts.count("instance_count_mismatch"), 0U);
  ASSERT_EQ(w.jobs.size(), 8U);
  // M1: 2 instance rows; M2_1: 1 row; M3_1, R4_2, j_3's two tasks: 1 record
  // of 1; M5_3_4: 1 record of 3; task_N...: 1 record of 2.
  EXPECT_EQ(w.tasks.size(), 9U);
  EXPECT_EQ(instanceCount(w), 12U);
  // Sorted by submit: M1(100) task_N(150) M2_1(200) M3_1(200) R4_2(260)
  // M5_3_4(320) j_3/M1(500) j_3/J2_1_7(510).
  std::vector<std::int64_t> submits;
  for (const Job& job : w.jobs) submits.push_back(toMicros(job.submit) / 1'000'000);
  EXPECT_EQ(submits, (std::vector<std::int64_t>{100, 150, 200, 200, 260, 320, 500, 510}));
  EXPECT_EQ(w.jobs[0].traceId, 1);
  EXPECT_EQ(w.jobs[1].traceId, 2);
  EXPECT_TRUE(w.jobs[1].dependsOn.empty());
  EXPECT_EQ(w.jobs[2].dependsOn, std::vector<std::uint32_t>{0});
  EXPECT_EQ(w.jobs[3].dependsOn, std::vector<std::uint32_t>{0});
  EXPECT_EQ(w.jobs[4].dependsOn, std::vector<std::uint32_t>{2});
  EXPECT_EQ(w.jobs[5].dependsOn, (std::vector<std::uint32_t>{3, 4}));
  EXPECT_EQ(w.jobs[7].dependsOn, std::vector<std::uint32_t>{6});
  // M1 has two instance rows: their own times and machines.
  const Task* m1 = &w.tasks[w.jobs[0].firstTask];
  ASSERT_EQ(w.jobs[0].taskCount, 2U);
  EXPECT_EQ(m1[0].count, 1U);
  EXPECT_EQ(m1[1].count, 1U);
  EXPECT_EQ(m1[1].index, 1U);
  EXPECT_EQ(m1[1].outcome.machine, 2);
  EXPECT_EQ(m1[1].duration, std::chrono::seconds(98));
  EXPECT_EQ(demandOf(w, m1[0])[0], 1.0);
  EXPECT_EQ(demandOf(w, m1[0])[1], 0.5);
  // M5_3_4 has no instance rows: one record of three instances lasting the
  // whole task.
  ASSERT_EQ(w.jobs[5].taskCount, 1U);
  EXPECT_EQ(w.tasks[w.jobs[5].firstTask].count, 3U);
  EXPECT_EQ(w.tasks[w.jobs[5].firstTask].index, 0U);
  EXPECT_EQ(w.tasks[w.jobs[5].firstTask].duration, std::chrono::seconds(80));
  EXPECT_EQ(w.tasks[w.jobs[5].firstTask].outcome.machine, kUnknown);

  ASSERT_EQ(w.machines.size(), 3U);
  EXPECT_EQ(w.machines[1].traceId, 2);
  EXPECT_EQ(w.machines[1].capacity[1], 50.0);
  EXPECT_EQ(w.machines[0].attributes.get("failure_domain_1"), "1");
  std::vector<MachineEvent::Kind> kinds;
  for (const auto& event : w.machineEvents) kinds.push_back(event.kind);
  using K = MachineEvent::Kind;
  EXPECT_EQ(kinds, (std::vector<K>{K::kAdd, K::kAdd, K::kAdd, K::kRemove, K::kUpdate, K::kRemove}));
  EXPECT_EQ(w.machineEvents[4].capacity[1], 100.0);
}

// Tasks of one job that depend on each other in a ring would wait for each
// other forever (the run ended with them unfinished, blaming the offers):
// the edge that closes each ring, in row order, is dropped and counted;
// other dependencies stay.
TEST(AlibabaReaderTest, Dag2018RingsAreBroken) {
  TempDir dir;
  const std::string path = dir.write("batch_task.csv",
                                     "M1,1,j_1,1,Terminated,100,200,100,0.5\n"
                                     "M2_3,1,j_1,1,Terminated,200,260,50,0.25\n"
                                     "M3_2,1,j_1,1,Terminated,200,300,50,0.25\n"
                                     "M4_1_5,1,j_1,1,Terminated,300,320,50,0.25\n"
                                     "M5_4,1,j_1,1,Terminated,320,330,50,0.25\n"
                                     "M6_1,1,j_1,1,Terminated,330,340,50,0.25\n");
  ReadReport report;
  const Workload w = readWorkload(path, "alibaba2018", {}, &report);
  EXPECT_EQ(report.counts.at("dependency_cycle"), 2U);
  ASSERT_EQ(w.jobs.size(), 6U);  // sorted by submit, the row order here
  // M2 -> M3 kept, M3 -> M2 closed the ring; M4 -> M1 and M4 -> M5 kept, M5
  // -> M4 closed the other; M6 -> M1 untouched.
  EXPECT_EQ(w.jobs[1].dependsOn, std::vector<std::uint32_t>{2});
  EXPECT_TRUE(w.jobs[2].dependsOn.empty());
  EXPECT_EQ(w.jobs[3].dependsOn, (std::vector<std::uint32_t>{0, 4}));
  EXPECT_TRUE(w.jobs[4].dependsOn.empty());
  EXPECT_EQ(w.jobs[5].dependsOn, std::vector<std::uint32_t>{0});
}

// What a 2018 trace says oddly but a replay can still use is kept and
// counted: times before the trace's start, instances with no machine, one
// not named m_N, one machine_meta never lists. Their outcome's machine is
// unknown (a history replay cannot place them); a 2017 row is counted alike.
TEST(AlibabaReaderTest, Odd2018TimesAndMachinesAreCounted) {
  TempDir dir;
  const std::string path = dir.write("batch_task.csv",
                                     "M1,4,j_1,1,Terminated,-100,200,100,0.5\n"
                                     "M2_1,1,j_1,1,Terminated,200,260,50,0.25\n");
  dir.write("batch_instance.csv",
            "i1,M1,j_1,1,Terminated,-100,150,m_1,1,1,1,1,1,1\n"
            "i2,M1,j_1,1,Terminated,101,199,,1,1,1,1,1,1\n"
            "i3,M1,j_1,1,Terminated,101,199,box7,1,1,1,1,1,1\n"
            "i4,M1,j_1,1,Terminated,101,199,m_7,1,1,1,1,1,1\n"
            "i5,M2_1,j_1,1,Terminated,200,259,m_2,1,1,1,1,1,1\n");
  dir.write("machine_meta.csv", "m_1,0,1,a,96,100,USING\nm_2,0,2,b,96,50,USING\n");
  ReadReport report;
  const Workload w = readWorkload(path, "alibaba2018", {}, &report);
  EXPECT_EQ(report.counts.at("negative_time"), 2U);  // the M1 row and instance i1
  EXPECT_EQ(report.counts.at("instance_without_machine"), 1U);
  EXPECT_EQ(report.counts.at("machine_not_numbered"), 1U);
  EXPECT_EQ(report.counts.at("machine_not_in_meta"), 1U);
  ASSERT_EQ(w.jobs.size(), 2U);
  ASSERT_EQ(w.jobs[0].taskCount, 4U);
  const Task* m1 = &w.tasks[w.jobs[0].firstTask];
  EXPECT_EQ(m1[0].outcome.startUs, -100'000'000);
  EXPECT_EQ(w.jobs[0].submit, fromMicros(-100'000'000));
  EXPECT_EQ(m1[1].outcome.machine, kUnknown);
  EXPECT_EQ(m1[2].outcome.machine, kUnknown);
  EXPECT_EQ(m1[3].outcome.machine, 7);

  // Without machine_meta nothing can be checked against it.
  fs::remove(dir.path("machine_meta.csv"));
  ReadReport bare;
  readWorkload(path, "alibaba2018", {}, &bare);
  EXPECT_EQ(bare.counts.count("machine_not_in_meta"), 0U);
  EXPECT_EQ(bare.counts.at("machine_not_numbered"), 1U);

  const std::string v2017 = dir.write(
      "v2017/batch_task.csv", "-5,10,1,1,1,Terminated,50,0.1\n5,10,2,1,1,Terminated,50,0.1\n");
  ReadReport old;
  readWorkload(v2017, "alibaba2017", {}, &old);
  EXPECT_EQ(old.counts.at("negative_time"), 1U);
}

// ---------------------------------------------------------------- workload

// sortJobsBySubmit keeps tasks with their jobs and dependencies pointing at
// the same jobs; equality compares dimension tables by names.
TEST(WorkloadTest, SortJobsBySubmitRemapsIndexes) {
  Workload w;
  w.demands.push_back(Scalars::Zero());  // every task's
  for (int i = 0; i < 3; ++i) {
    Job job;
    job.traceId = i;
    job.submit = fromMicros(30 - 10 * i);
    job.firstTask = static_cast<std::uint64_t>(i);
    job.taskCount = 1;
    w.jobs.push_back(job);
    Task task;
    task.job = static_cast<std::uint32_t>(i);
    task.index = static_cast<std::uint32_t>(i);
    w.tasks.push_back(task);
  }
  w.jobs[0].dependsOn = {2};
  sortJobsBySubmit(w);
  EXPECT_EQ(w.jobs[0].traceId, 2);
  EXPECT_EQ(w.jobs[2].traceId, 0);
  EXPECT_EQ(w.jobs[2].dependsOn, std::vector<std::uint32_t>{0});
  for (std::uint32_t j = 0; j < 3; ++j) {
    EXPECT_EQ(w.tasks[w.jobs[j].firstTask].job, j);
    EXPECT_EQ(w.tasks[w.jobs[j].firstTask].index, static_cast<std::uint32_t>(w.jobs[j].traceId));
  }
  Workload copy = w;
  copy.dims = std::make_shared<const Dimensions>(w.dims->names());
  EXPECT_EQ(copy, w);
  copy.meta["x"] = "y";
  EXPECT_FALSE(copy == w);
  // Equality compares the count; instanceCount sums it.
  copy = w;
  copy.tasks[1].count = 4;
  EXPECT_FALSE(copy == w);
  EXPECT_EQ(instanceCount(copy), 6U);
  EXPECT_EQ(instanceCount(copy, copy.jobs[copy.tasks[1].job]), 4U);
  EXPECT_EQ(instanceCount(w), 3U);
  // Equality compares the demands the records name, not the indexes.
  copy = w;
  copy.demands = {Scalars::Ones(), Scalars::Zero()};
  for (Task& task : copy.tasks) task.demand = 1;
  EXPECT_EQ(copy, w);
  copy.demands[1][0] = 2;
  EXPECT_FALSE(copy == w);
  copy.tasks[0].demand = 2;  // past the table
  EXPECT_FALSE(copy == w);
}

// DemandTable numbers demands in the order first seen, across the tables of
// several chunks, and tells demands apart bit for bit.
// The replay rule of machine events, as the simulator and the recorded
// schedule's accounting apply it.
TEST(WorkloadTest, MachineEventsChangeMachinesAsReplaysApplyThem) {
  using Kind = MachineEvent::Kind;
  EXPECT_EQ(machineChange(false, Kind::kAdd), MachineChange::kUp);
  EXPECT_EQ(machineChange(true, Kind::kAdd), MachineChange::kResize);  // traces repeat ADD
  EXPECT_EQ(machineChange(true, Kind::kUpdate), MachineChange::kResize);
  EXPECT_EQ(machineChange(false, Kind::kUpdate), MachineChange::kNone);
  EXPECT_EQ(machineChange(true, Kind::kRemove), MachineChange::kDown);
  EXPECT_EQ(machineChange(false, Kind::kRemove), MachineChange::kNone);

  Workload w;
  w.machines.resize(3);
  w.machineEvents.push_back({TimePoint{}, 2, Kind::kAdd, Scalars::Ones()});
  w.machineEvents.push_back({TimePoint{}, 2, Kind::kRemove, Scalars::Zero()});
  EXPECT_EQ(machinesWithEvents(w), (std::vector<bool>{false, false, true}));
}

TEST(WorkloadTest, DemandTableNumbersDistinctDemands) {
  DemandTable table;
  std::vector<Scalars> first, second;
  const Scalars cpu = Scalars::Unit(0), mem = Scalars::Unit(1);
  EXPECT_EQ(table.intern(cpu, first), 0U);
  EXPECT_EQ(table.intern(cpu, first), 0U);
  EXPECT_EQ(table.intern(mem, second), 1U);
  EXPECT_EQ(table.intern(cpu, second), 0U);
  EXPECT_EQ(first, std::vector<Scalars>{cpu});
  EXPECT_EQ(second, std::vector<Scalars>{mem});
  const Scalars negativeZero = -Scalars::Zero();
  EXPECT_EQ(table.intern(Scalars::Zero(), second), 2U);
  EXPECT_EQ(table.intern(negativeZero, second), 3U);
  EXPECT_EQ(second.size(), 3U);
}

// checkWorkload accepts what the readers produce and names the first record
// at fault in each kind of broken workload.
TEST(WorkloadTest, CheckNamesTheRecordAtFault) {
  const Workload good = readWorkload(kData + "/swf/tiny.swf", "swf");
  ASSERT_GE(good.jobs.size(), 2U);
  ASSERT_FALSE(good.machines.empty());
  EXPECT_NO_THROW(checkWorkload(good));
  EXPECT_NO_THROW(checkWorkload(Workload{}));

  const auto refused = [&](const std::function<void(Workload&)>& breakIt) -> std::string {
    Workload w = good;
    breakIt(w);
    try {
      checkWorkload(w);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  const double nan = std::nan("");
  const std::int64_t beyond = kMaxTraceMicros + 1;
  EXPECT_THAT(refused([](Workload& w) { w.demands[0][0] = -1; }),
              HasSubstr("demand 0: cpus is -1 (must be a finite number >= 0)"));
  EXPECT_THAT(refused([&](Workload& w) { w.demands.back()[1] = nan; }), HasSubstr(": mem is nan"));
  EXPECT_THAT(refused([](Workload& w) { w.machines[0].capacity[0] = HUGE_VAL; }),
              HasSubstr("machine 0 (trace id"));
  EXPECT_THAT(
      refused([](Workload& w) {
        w.machineEvents.push_back({fromMicros(0), 99, MachineEvent::Kind::kAdd, Scalars::Zero()});
      }),
      HasSubstr("names machine 99 of"));
  EXPECT_THAT(refused([&](Workload& w) {
                w.machineEvents.push_back(
                    {fromMicros(-beyond), 0, MachineEvent::Kind::kUpdate, Scalars::Zero()});
              }),
              HasSubstr("machine event 0 time"));
  EXPECT_THAT(refused([&](Workload& w) {
                w.machineEvents.push_back(
                    {fromMicros(0), 0, MachineEvent::Kind::kUpdate, Scalars::Constant(nan)});
              }),
              HasSubstr("machine event 0 capacity: cpus is nan"));
  // A removal's capacity is not read.
  EXPECT_EQ(refused([&](Workload& w) {
              w.machineEvents.push_back(
                  {fromMicros(0), 0, MachineEvent::Kind::kRemove, Scalars::Constant(nan)});
            }),
            "(accepted)");
  EXPECT_THAT(refused([](Workload& w) { w.tasks[1].duration = Duration{-5}; }),
              HasSubstr("task record 1 duration is -5 us"));
  EXPECT_THAT(refused([&](Workload& w) { w.tasks[0].estimate = Duration{beyond}; }),
              HasSubstr("task record 0 estimate"));
  EXPECT_THAT(refused([](Workload& w) { w.tasks[0].count = 0; }),
              HasSubstr("task record 0 has a count of 0"));
  EXPECT_THAT(refused([](Workload& w) { w.tasks[0].demand = 1000; }),
              HasSubstr("task record 0 names demand 1000 of"));
  EXPECT_THAT(refused([](Workload& w) { w.tasks[0].job = 1000; }),
              HasSubstr("task record 0 names job 1000 of"));
  EXPECT_THAT(refused([](Workload& w) { std::swap(w.tasks[0].job, w.tasks[1].job); }),
              HasSubstr("task record 0 names job 1 (trace id 2), whose records are [1, 2)"));
  // Job 0's range also takes job 1's record: every record lies in its own
  // job's range, but the ranges overlap.
  EXPECT_THAT(refused([](Workload& w) { w.jobs[0].taskCount += 1; }),
              HasSubstr("the jobs' ranges cover " + std::to_string(good.tasks.size() + 1) +
                        " task records, not the " + std::to_string(good.tasks.size())));
  EXPECT_THAT(refused([](Workload& w) { w.jobs[0].taskCount = 1000; }),
              HasSubstr("job 0 (trace id 1) names task records"));
  EXPECT_THAT(refused([](Workload& w) { w.jobs[1].dependsOn = {1}; }),
              HasSubstr("job 1 (trace id 2) depends on job 1, itself"));
  EXPECT_THAT(refused([](Workload& w) { w.jobs[1].dependsOn = {77}; }),
              HasSubstr("depends on job 77 of"));
  EXPECT_THAT(refused([](Workload& w) { w.jobs[1].role = 9; }),
              HasSubstr("job 1 (trace id 2) names user"));
  // Empty user and role tables take index 0 (readers that have no names).
  EXPECT_EQ(refused([](Workload& w) {
              w.users.clear();
              w.roles.clear();
              for (Job& j : w.jobs) j.user = j.role = 0;
            }),
            "(accepted)");
  EXPECT_THAT(refused([&](Workload& w) { w.jobs[0].submit = fromMicros(beyond); }),
              HasSubstr("job 0 (trace id 1) submit time"));
}

TEST(WorkloadTest, UniformClusterReplacesTheMachines) {
  Workload w = readWorkload(kData + "/alibaba2017/batch_task.csv", "alibaba2017");
  ASSERT_TRUE(w.machines.empty());
  const std::vector<std::string> before = w.dims->names();
  const UniformCluster cluster = parseUniformCluster("3*cpus:64;mem:1;gpus:2");
  EXPECT_EQ(cluster.count, 3U);
  useUniformCluster(w, cluster);
  ASSERT_EQ(w.machines.size(), 3U);
  EXPECT_TRUE(w.machineEvents.empty());
  // The table keeps its names in order (the demands index it) and gains gpus.
  ASSERT_GE(w.dims->names().size(), before.size());
  EXPECT_TRUE(std::equal(before.begin(), before.end(), w.dims->names().begin()));
  const int cpus = *w.dims->find("cpus"), mem = *w.dims->find("mem"), gpus = *w.dims->find("gpus");
  for (std::uint32_t m = 0; m < 3; ++m) {
    EXPECT_EQ(w.machines[m].traceId, m);
    EXPECT_EQ(w.machines[m].capacity[cpus], 64);
    EXPECT_EQ(w.machines[m].capacity[mem], 1);
    EXPECT_EQ(w.machines[m].capacity[gpus], 2);
  }
  EXPECT_EQ(w.meta.at("cluster"), "3*cpus:64;mem:1;gpus:2");

  // Machine events of the trace go with its machines.
  Workload withEvents;
  withEvents.machines.resize(2);
  withEvents.machineEvents.push_back({});
  useUniformCluster(withEvents, parseUniformCluster("1*cpus:4"));
  EXPECT_EQ(withEvents.machines.size(), 1U);
  EXPECT_TRUE(withEvents.machineEvents.empty());
}

// A load factor divides each job's time since the first submission; the
// offered load (demand x run time over capacity x submit span) grows by it.
TEST(WorkloadTest, ScaledLoadDividesTheTimesSinceTheFirstSubmission) {
  Workload w = readWorkload(kData + "/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz", "swf");
  const Workload original = w;
  const double load = summarizeWorkload(w)["offered_load"]["cpus"].get<double>();
  scaleLoad(w, 1.5);
  const std::int64_t first = toMicros(original.jobs.front().submit);
  ASSERT_EQ(w.jobs.size(), original.jobs.size());
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    const std::int64_t since = toMicros(original.jobs[i].submit) - first;
    ASSERT_EQ(toMicros(w.jobs[i].submit), first + std::llround(static_cast<double>(since) / 1.5))
        << "job " << i;
    if (i > 0) {
      ASSERT_LE(w.jobs[i - 1].submit, w.jobs[i].submit);
    }
  }
  EXPECT_EQ(w.jobs.front().submit, original.jobs.front().submit);
  EXPECT_TRUE(w.tasks == original.tasks) << "tasks and their recorded outcomes stay";
  EXPECT_EQ(w.meta.at("load_factor"), "1.5");
  EXPECT_NEAR(summarizeWorkload(w)["offered_load"]["cpus"].get<double>(), 1.5 * load, 1e-6 * load);
  // Scaled again, the meta holds the product; half as fast undoes it.
  scaleLoad(w, 2.0 / 3.0);
  EXPECT_EQ(std::stod(w.meta.at("load_factor")), 1.0);
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    ASSERT_LE(std::abs(toMicros(w.jobs[i].submit) - toMicros(original.jobs[i].submit)), 1);
  }

  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    Workload copy = original;
    EXPECT_THROW(scaleLoad(copy, bad), InvalidArgument) << bad;
    EXPECT_TRUE(copy.jobs == original.jobs) << "a refused factor changes nothing";
  }
  Workload slow = original;
  try {
    scaleLoad(slow, 1e-9);
    ADD_FAILURE() << "a factor taking submissions past 100 years was taken";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("would be submitted past 100 years"));
  }
  EXPECT_TRUE(slow.jobs == original.jobs);
  Workload damaged = original;
  damaged.meta["load_factor"] = "fast";
  EXPECT_THROW(scaleLoad(damaged, 2), InvalidArgument);
  Workload empty;
  scaleLoad(empty, 3);
  EXPECT_EQ(empty.meta.at("load_factor"), "3");
}

TEST(WorkloadTest, UniformClusterErrorsNameThePart) {
  auto errorOf = [](const std::string& spec) {
    try {
      parseUniformCluster(spec);
    } catch (const ParseError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(errorOf("cpus:4"), HasSubstr("expected N*RESOURCES"));
  EXPECT_THAT(errorOf("*cpus:4"), HasSubstr("machine count ''"));
  EXPECT_THAT(errorOf("-2*cpus:4"), HasSubstr("machine count '-2'"));
  EXPECT_THAT(errorOf("0*cpus:4"), HasSubstr("machine count '0'"));
  EXPECT_THAT(errorOf("9999999999*cpus:4"), HasSubstr("machine count '9999999999'"));
  EXPECT_THAT(errorOf("2*cpus:four"), HasSubstr("'four' is not a number"));
  EXPECT_THAT(errorOf("2*"), HasSubstr("not all zero"));
  EXPECT_THAT(errorOf("2*cpus:0"), HasSubstr("not all zero"));
  EXPECT_THAT(errorOf("2*cpus(batch):4"), HasSubstr("unreserved scalars"));
  EXPECT_THAT(errorOf("2*ports:[1-9]"), HasSubstr("unreserved scalars"));
  Workload w;
  EXPECT_THROW(useUniformCluster(w, UniformCluster{0, Resources::parse("cpus:1")}),
               InvalidArgument);
  EXPECT_TRUE(w.machines.empty());
}

}  // namespace
}  // namespace allot::traces
