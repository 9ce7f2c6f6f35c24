// Reads a trace and prints what it saw: a tool for bench_readers.sh (time and
// peak RSS), bench_store_fresh.sh (one load per process) and for eyeballing
// a file.
//
//   read_trace FORMAT PATH [--whole] [--skip-bad]
//
// Streaming (the default) keeps one chunk in memory at a time; --whole
// collects the workload with loadWorkload(), as a replay would, and then
// FORMAT may also be "h5" (the workload store). "seconds" times the read
// alone, not the process's start; "minor_faults" counts the pages it touched
// for the first time (each costs microseconds on a virtual machine, and a
// fresh process touches everything for the first time).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "allot/traces/load.h"
#include "allot/traces/readers.h"

int main(int argc, char** argv) {
  using namespace allot::traces;
  if (argc < 3) {
    std::fprintf(stderr, "usage: read_trace FORMAT PATH [--whole] [--skip-bad]\n");
    return 2;
  }
  bool whole = false;
  ReadOptions options;
  for (int i = 3; i < argc; ++i) {
    whole = whole || std::strcmp(argv[i], "--whole") == 0;
    options.skipBad = options.skipBad || std::strcmp(argv[i], "--skip-bad") == 0;
  }
  try {
    const auto minorFaults = [] {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);  // all threads of the process
      return static_cast<long long>(usage.ru_minflt);
    };
    const long long faultsBefore = minorFaults();
    const auto start = std::chrono::steady_clock::now();
    double seconds = 0;
    long long faults = 0;
    const auto stop = [&] {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      faults = minorFaults() - faultsBefore;
    };
    std::uint64_t jobs = 0, tasks = 0, instances = 0, machines = 0;
    ReadReport report;
    if (whole) {
      const Workload workload = loadWorkload(argv[2], argv[1], options, &report);
      stop();  // before the workload's destruction
      jobs = workload.jobs.size();
      tasks = workload.tasks.size();
      instances = instanceCount(workload);
      machines = workload.machines.size();
    } else {
      auto reader = openTrace(argv[2], argv[1], options);
      WorkloadChunk chunk;
      while (reader->next(chunk)) {
        jobs += chunk.jobs.size();
        tasks += chunk.tasks.size();
        for (const Task& task : chunk.tasks) instances += task.count;
        machines += chunk.machines.size();
      }
      report = reader->report();
      stop();
    }
    std::printf(
        "seconds %.3f\nminor_faults %lld\nlines %llu\nrecords %llu\nskipped %llu\njobs %llu\ntasks "
        "%llu\n"
        "instances %llu\nmachines %llu\n",
        seconds, faults, static_cast<unsigned long long>(report.lines),
        static_cast<unsigned long long>(report.records),
        static_cast<unsigned long long>(report.skipped), static_cast<unsigned long long>(jobs),
        static_cast<unsigned long long>(tasks), static_cast<unsigned long long>(instances),
        static_cast<unsigned long long>(machines));
    for (const auto& [key, value] : report.counts) {
      std::printf("count.%s %llu\n", key.c_str(), static_cast<unsigned long long>(value));
    }
    for (const auto& [key, value] : report.skippedByReason) {
      std::printf("skipped[%s] %llu\n", key.c_str(), static_cast<unsigned long long>(value));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "read_trace: %s\n", e.what());
    return 1;
  }
  return 0;
}
