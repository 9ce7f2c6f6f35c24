// Micro-benchmarks of the raw-format readers on the shared traces: bytes of
// uncompressed text parsed per second, records per second.
#include <benchmark/benchmark.h>

#include <string>

#include "allot/traces/readers.h"

namespace {

using allot::traces::openTrace;
using allot::traces::WorkloadChunk;

const std::string kTraces = ALLOT_SHARED_TRACES_DIR;

void readAll(benchmark::State& state, const std::string& path, const char* format) {
  std::uint64_t records = 0;
  for (auto _ : state) {
    auto reader = openTrace(path, format);
    WorkloadChunk chunk;
    std::uint64_t tasks = 0;
    while (reader->next(chunk)) tasks += chunk.tasks.size();
    benchmark::DoNotOptimize(tasks);
    records += reader->report().records;
  }
  state.counters["records/s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}

void BM_SwfHpc2n(benchmark::State& state) {
  readAll(state, kTraces + "/swf/HPC2N-2002-2.1-cln.swf.gz", "swf");
}
void BM_Google2011OnePart(benchmark::State& state) {
  readAll(state, kTraces + "/google2011/task_events/part-00000-of-00500.csv.gz", "google2011");
}
void BM_Alibaba2017(benchmark::State& state) {
  readAll(state, kTraces + "/alibaba2017/batch_task.csv.gz", "alibaba2017");
}

BENCHMARK(BM_SwfHpc2n)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Google2011OnePart)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Alibaba2017)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
