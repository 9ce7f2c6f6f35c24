// Response time against load for the sparrow policy's modes on the Sparrow
// paper's synthetic setup (see sparrow_workload.h), as the paper's
// comparison of random placement, per-task sampling, batch sampling (with
// and without late binding) and an omniscient scheduler.
//
//   sparrow_curves [--machines N] [--slots K] [--tasks M] [--mean SECONDS]
//                  [--jobs J] [--interval SECONDS] [--loads 0.1,0.5,...]
//                  [--modes batch,per-task,...] [--seeds 1,2] [--probe-ratio D]
//                  [--durations exp|constant|exp-job] [--csv FILE]
//
// One simulation per (load, seed, mode); prints a line per run and writes
// CSV rows: load,seed,mode,machines,slots,tasks,jobs,measured,unfinished,
// mean_response_s,mean_ideal_s,ratio,p50_s,p95_s,p99_s,wall_s.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/policies/sparrow_workload.h"

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::size_t end = comma == std::string::npos ? text.size() : comma;
    if (end > start) out.push_back(text.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: sparrow_curves [--machines N] [--slots K] [--tasks M] [--mean S] "
               "[--jobs J] [--interval S] [--loads L,..] [--modes M,..] [--seeds S,..] "
               "[--probe-ratio D] [--durations exp|constant|exp-job] [--csv FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace allot;
  sparrowbench::Setup setup;
  double interval = 0.1;
  double probeRatio = 2;
  std::vector<std::string> loads = {"0.1", "0.2", "0.3", "0.4", "0.5",
                                    "0.6", "0.7", "0.8", "0.9", "0.95"};
  std::vector<std::string> modes = {"random", "per-task", "batch-bound", "batch", "omniscient"};
  std::vector<std::string> seeds = {"1"};
  std::string csv;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (i + 1 >= argc) return usage();
      const std::string value = argv[++i];
      if (arg == "--machines") {
        setup.machines = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--slots") {
        setup.slots = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--tasks") {
        setup.tasksPerJob = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--mean") {
        setup.meanTaskS = std::stod(value);
      } else if (arg == "--durations") {
        if (value == "exp") {
          setup.durations = sparrowbench::Durations::kExpPerTask;
        } else if (value == "constant") {
          setup.durations = sparrowbench::Durations::kConstant;
        } else if (value == "exp-job") {
          setup.durations = sparrowbench::Durations::kExpPerJob;
        } else {
          return usage();
        }
      } else if (arg == "--jobs") {
        setup.jobs = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--interval") {
        interval = std::stod(value);
      } else if (arg == "--probe-ratio") {
        probeRatio = std::stod(value);
      } else if (arg == "--loads") {
        loads = split(value);
      } else if (arg == "--modes") {
        modes = split(value);
      } else if (arg == "--seeds") {
        seeds = split(value);
      } else if (arg == "--csv") {
        csv = value;
      } else {
        return usage();
      }
    }
  } catch (const std::exception&) {
    return usage();
  }

  std::ofstream out;
  if (!csv.empty()) {
    out.open(csv);
    out << "load,seed,mode,machines,slots,tasks,jobs,measured,unfinished,mean_response_s,"
           "mean_ideal_s,ratio,p50_s,p95_s,p99_s,wall_s\n";
  }
  try {
    for (const std::string& load : loads) {
      for (const std::string& seed : seeds) {
        setup.load = std::stod(load);
        setup.seed = std::stoull(seed);
        const traces::Workload w = sparrowbench::workload(setup);
        for (const std::string& mode : modes) {
          const auto start = std::chrono::steady_clock::now();
          const sim::Result r = sparrowbench::run(w, mode, interval, setup.seed, probeRatio);
          const double wall =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          const sparrowbench::Outcome o = sparrowbench::measure(r);
          std::printf(
              "load %-4s seed %-3s %-11s jobs %6llu unfinished %llu  response %9.2f s  ideal "
              "%8.2f s  ratio %.3f  p99 %9.2f s  (%.1f s wall)\n",
              load.c_str(), seed.c_str(), mode.c_str(), static_cast<unsigned long long>(o.jobs),
              static_cast<unsigned long long>(o.unfinished), o.meanResponseS, o.meanIdealS,
              o.ratio(), o.p99ResponseS, wall);
          std::fflush(stdout);
          if (out.is_open()) {
            out << load << ',' << seed << ',' << mode << ',' << setup.machines << ',' << setup.slots
                << ',' << setup.tasksPerJob << ',' << setup.jobs << ',' << o.jobs << ','
                << o.unfinished << ',' << o.meanResponseS << ',' << o.meanIdealS << ',' << o.ratio()
                << ',' << o.p50ResponseS << ',' << o.p95ResponseS << ',' << o.p99ResponseS << ','
                << wall << '\n';
            out.flush();
          }
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sparrow_curves: %s\n", e.what());
    return 1;
  }
  return 0;
}
