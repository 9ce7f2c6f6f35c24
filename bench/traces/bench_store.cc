// Loading a workload from the HDF5 store versus parsing its raw trace, in the
// same run: HPC2N (SWF, 202,876 jobs: as many gang task records standing for
// 1.29 M task instances) and Google 2011 (first 5 parts of task_events). The .h5 files are written
// once, at start, into $TMPDIR from the raw traces (so both sides hold the same workload).
//
// CPU time is the process's (all threads): the raw readers inflate gzip on a
// worker thread, the store loads on the calling thread only.
//
// Run (Release build):
//   bench_store --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "allot/traces/load.h"
#include "allot/traces/store.h"

namespace {

namespace fs = std::filesystem;
using allot::traces::Workload;

const std::string kTraces = ALLOT_SHARED_TRACES_DIR;

struct Input {
  const char* name;
  std::string raw;
  const char* format;
  std::string h5;
};

Input* inputs() {
  static Input all[] = {
      {"hpc2n", kTraces + "/swf/HPC2N-2002-2.1-cln.swf.gz", "swf", ""},
      {"google5", kTraces + "/google2011/task_events", "google2011", ""},
  };
  return all;
}

// The input, with its .h5 form written on first use.
Input& input(int which) {
  Input& in = inputs()[which];
  if (in.h5.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    in.h5 = (fs::path(tmp != nullptr ? tmp : "/tmp") /
             ("allot_bench_store_" + std::to_string(getpid()) + "_" + in.name + ".h5"))
                .string();
    allot::traces::writeWorkloadStore(in.h5, allot::traces::loadWorkload(in.raw, in.format));
  }
  return in;
}

void counters(benchmark::State& state, const Workload& w) {
  state.counters["jobs"] = static_cast<double>(w.jobs.size());
  state.counters["task_records"] = static_cast<double>(w.tasks.size());
  state.counters["task_instances"] = static_cast<double>(allot::traces::instanceCount(w));
}

void BM_ParseRaw(benchmark::State& state) {
  const Input& in = input(static_cast<int>(state.range(0)));
  state.SetLabel(in.name);
  for (auto _ : state) {
    Workload w = allot::traces::loadWorkload(in.raw, in.format);
    benchmark::DoNotOptimize(w.tasks.data());
    state.PauseTiming();
    counters(state, w);
    w = Workload{};  // free outside the timed region, as for the store side
    state.ResumeTiming();
  }
}

void BM_LoadH5(benchmark::State& state) {
  const Input& in = input(static_cast<int>(state.range(0)));
  state.SetLabel(in.name);
  for (auto _ : state) {
    Workload w = allot::traces::loadWorkload(in.h5, "h5");
    benchmark::DoNotOptimize(w.tasks.data());
    state.PauseTiming();
    counters(state, w);
    w = Workload{};
    state.ResumeTiming();
  }
}

void BM_WriteH5(benchmark::State& state) {
  const Input& in = input(static_cast<int>(state.range(0)));
  state.SetLabel(in.name);
  const Workload w = allot::traces::loadWorkload(in.h5, "h5");
  const std::string out = in.h5 + ".write.h5";
  for (auto _ : state) allot::traces::writeWorkloadStore(out, w);
  counters(state, w);
  fs::remove(out);
}

BENCHMARK(BM_ParseRaw)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_LoadH5)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_WriteH5)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (int i = 0; i < 2; ++i) {
    std::error_code ec;
    if (!inputs()[i].h5.empty()) fs::remove(inputs()[i].h5, ec);
  }
  return 0;
}
