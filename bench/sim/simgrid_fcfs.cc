// SimGrid baseline for the simulator benchmark: replays an SWF log under
// strict FCFS (gangs, no backfilling) with SimGrid's S4U API, the way a
// SimGrid user would write it: one host per machine of the workload, a
// scheduler actor that releases jobs at their submit times, and one actor per
// processor of a job that sleeps for the job's run time on its host.
//
//   simgrid_fcfs TRACE [--csv FILE] [--cfg=...]
//
// The workload is read with allot's own loadWorkload so both simulators see
// the same jobs and machines. The rule is the one of
// tests/sim/fcfs_reference.py: job i starts at the earliest t >= max(submit_i,
// start_{i-1}) with enough free processors; releases at t come before starts
// at t; jobs wider than the cluster are skipped. --csv writes job_id,start
// (seconds) to compare with that reference. Prints one JSON line: jobs,
// simulated makespan and wall times (load, simulation, total).

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "allot/traces/load.h"

namespace s4u = simgrid::s4u;
using allot::traces::Workload;

namespace {

double seconds(std::int64_t micros) {
  return static_cast<double>(micros) / 1e6;
}

struct Replay {
  const Workload* workload = nullptr;
  std::vector<s4u::Host*> hosts;
  // One entry per free processor: the index of its host. A stack, so a job's
  // tasks go to the most recently freed processors; placement does not change
  // the schedule since every task takes one processor.
  std::vector<std::uint32_t> freeSlots;
  std::size_t totalSlots = 0;
  s4u::MutexPtr mutex = s4u::Mutex::create();
  s4u::ConditionVariablePtr released = s4u::ConditionVariable::create();
  std::vector<double> start;  // per job index; -1 when the job never starts
  std::uint64_t unschedulable = 0, tasks = 0;
};

// Processors of `job`: the instances of its task records (one cpu each).
std::size_t processorsOf(const Workload& workload, const allot::traces::Job& job) {
  return static_cast<std::size_t>(allot::traces::instanceCount(workload, job));
}

void schedule(Replay& replay) {
  const Workload& workload = *replay.workload;
  for (std::size_t j = 0; j < workload.jobs.size(); ++j) {
    const auto& job = workload.jobs[j];
    const std::size_t procs = processorsOf(workload, job);
    if (procs > replay.totalSlots) {
      ++replay.unschedulable;
      continue;
    }
    const double submit = seconds(allot::toMicros(job.submit));
    if (s4u::Engine::get_clock() < submit) s4u::this_actor::sleep_until(submit);
    std::unique_lock lock(*replay.mutex);
    // Woken by every job that ends; jobs ending at the same instant as others
    // wake it again at that instant, so releases at t precede the start at t.
    replay.released->wait(lock, [&] { return replay.freeSlots.size() >= procs; });
    replay.start[j] = s4u::Engine::get_clock();
    // SWF jobs have one task record; all its instances share one duration.
    const double runtime = seconds(workload.tasks[job.firstTask].duration.count());
    auto remaining = std::make_shared<std::size_t>(procs);
    for (std::size_t k = 0; k < procs; ++k) {
      const std::uint32_t slot = replay.freeSlots.back();
      replay.freeSlots.pop_back();
      // Actors run one at a time and yield only in simcalls, so the books are
      // changed between sleep_for and notify_all without a lock.
      s4u::Actor::create("task", replay.hosts[slot], [&replay, remaining, slot, runtime] {
        s4u::this_actor::sleep_for(runtime);
        replay.freeSlots.push_back(slot);
        if (--*remaining == 0) replay.released->notify_all();
      });
    }
    replay.tasks += procs;
  }
}

int run(int argc, char** argv) {
  const auto wallStart = std::chrono::steady_clock::now();
  s4u::Engine engine(&argc, argv);  // takes SimGrid's --cfg and --log options out of argv
  std::string trace, csv;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--csv" && i + 1 < argc) {
      csv = argv[++i];
    } else if (trace.empty() && !arg.starts_with("-")) {
      trace = arg;
    } else {
      std::fprintf(stderr, "usage: simgrid_fcfs TRACE [--csv FILE] [--cfg=...]\n");
      return 2;
    }
  }
  if (trace.empty()) {
    std::fprintf(stderr, "usage: simgrid_fcfs TRACE [--csv FILE] [--cfg=...]\n");
    return 2;
  }

  const Workload workload = allot::traces::loadWorkload(trace);
  const auto loaded = std::chrono::steady_clock::now();
  for (const auto& job : workload.jobs) {
    if (job.taskCount != 1) {
      std::fprintf(stderr, "simgrid_fcfs: job %lld has %u task records; SWF gives one\n",
                   static_cast<long long>(job.traceId), job.taskCount);
      return 1;
    }
  }

  Replay replay;
  replay.workload = &workload;
  replay.start.assign(workload.jobs.size(), -1.0);
  // No links: tasks only sleep, so the hosts never communicate.
  auto* zone = s4u::create_full_zone("cluster");
  for (std::size_t m = 0; m < workload.machines.size(); ++m) {
    // One-cpu tasks: a machine of c cpus runs floor(c) of them at once.
    const int cores = static_cast<int>(std::floor(workload.machines[m].capacity[0] + 1e-9));
    if (cores < 1) continue;
    // Named by index alone: "m" + to_string trips GCC 12's false -Wrestrict at -O3.
    replay.hosts.push_back(
        zone->create_host(std::to_string(m), 1e9)->set_core_count(cores)->seal());
    replay.totalSlots += static_cast<std::size_t>(cores);
  }
  zone->seal();
  // The first hosts are handed out first.
  for (std::size_t h = replay.hosts.size(); h-- > 0;) {
    replay.freeSlots.insert(replay.freeSlots.end(),
                            static_cast<std::size_t>(replay.hosts[h]->get_core_count()),
                            static_cast<std::uint32_t>(h));
  }
  if (replay.hosts.empty()) {
    std::fprintf(stderr, "simgrid_fcfs: the workload has no machine with a cpu\n");
    return 1;
  }

  s4u::Actor::create("scheduler", replay.hosts.front(), [&replay] { schedule(replay); });
  engine.run();
  const auto done = std::chrono::steady_clock::now();

  if (!csv.empty()) {
    std::FILE* out = std::fopen(csv.c_str(), "w");
    if (out == nullptr) {
      std::fprintf(stderr, "simgrid_fcfs: cannot write %s\n", csv.c_str());
      return 1;
    }
    std::fprintf(out, "job_id,start\n");
    for (std::size_t j = 0; j < workload.jobs.size(); ++j) {
      if (replay.start[j] < 0) continue;
      std::fprintf(out, "%lld,%.17g\n", static_cast<long long>(workload.jobs[j].traceId),
                   replay.start[j]);
    }
    std::fclose(out);
  }

  const auto secondsBetween = [](auto a, auto b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::printf(
      "{\"tool\": \"simgrid\", \"simgrid_version\": \"%s\", \"trace\": \"%s\", \"jobs\": %zu, "
      "\"unschedulable\": %llu, \"tasks\": %llu, \"hosts\": %zu, \"processors\": %zu, "
      "\"makespan_s\": %.17g, \"load_s\": %.3f, \"sim_s\": %.3f, \"wall_s\": %.3f}\n",
      ALLOT_SIMGRID_VERSION, trace.c_str(), workload.jobs.size(),
      static_cast<unsigned long long>(replay.unschedulable),
      static_cast<unsigned long long>(replay.tasks), replay.hosts.size(), replay.totalSlots,
      s4u::Engine::get_clock(), secondsBetween(wallStart, loaded), secondsBetween(loaded, done),
      secondsBetween(wallStart, done));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "simgrid_fcfs: %s\n", e.what());
    return 1;
  }
}
