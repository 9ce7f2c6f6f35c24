// `allot trace`: convert raw traces to the HDF5 store, inspect any workload,
// generate synthetic ones, list formats. Argument parsing and printing only;
// the work is in allot::traces (load.h, store.h, synthetic.h).

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/sim/result_file.h"
#include "allot/traces/load.h"
#include "allot/traces/store.h"
#include "allot/traces/summary.h"
#include "allot/traces/swf_writer.h"
#include "allot/traces/synthetic.h"
#include "commands.h"
#include "common.h"

namespace allot::cli {
namespace {

using traces::Workload;

bool isSwfPath(const std::string& path) {
  const auto endsWith = [&](std::string_view suffix) {
    return path.size() > suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return endsWith(".swf") || endsWith(".swf.gz");
}

nlohmann::json reportJson(const traces::ReadReport& r) {
  return {{"lines", r.lines},
          {"records", r.records},
          {"skipped", r.skipped},
          {"skipped_by_reason", r.skippedByReason},
          {"first_skipped", r.firstSkipped},
          {"counts", r.counts}};
}

void printReport(const traces::ReadReport& r) {
  std::cout << fmt::format("read:     {} lines, {} records, {} skipped\n", r.lines, r.records,
                           r.skipped);
  for (const auto& [reason, count] : r.skippedByReason) {
    std::cout << fmt::format("  skipped {:>10}  {}\n", count, reason);
    if (const auto first = r.firstSkipped.find(reason); first != r.firstSkipped.end()) {
      std::cout << fmt::format("          {:>10}  first: {}\n", "", first->second);
    }
  }
  for (const auto& [key, count] : r.counts) {
    std::cout << fmt::format("  {:<24} {}\n", key, count);
  }
}

// Writes the store with a progress bar and Ctrl-C held (HeldSignals): an
// interrupted write leaves no partial file, and `path` keeps what it held.
void writeStore(const std::string& path, const Workload& w, int level) {
  const HeldSignals held;
  ProgressBar bar("writing");
  traces::StoreOptions options;
  options.deflateLevel = level;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (const int signal = held.pending()) throw Interrupted{signal};
    bar.update(done, total);
  };
  try {
    traces::writeWorkloadStore(path, w, options);
  } catch (const Interrupted& interrupted) {
    bar.finish();
    interruptedExit(interrupted.signal, path + " not written");
  }
}

// ---------------------------------------------------------------- convert

void addConvert(CLI::App& trace) {
  struct Args {
    std::string input, output;
    ReaderFlags reader;
    int level = 1;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = trace.add_subcommand(
      "convert",
      "Read a raw trace (or a store) and write it as an HDF5 workload store, or as an SWF log");
  cmd->add_option("input", args->input, "Trace file or folder")->required();
  cmd->add_option("-o,--output", args->output,
                  "Output file (overwritten): a .h5 store, or an SWF log when it ends in .swf or "
                  ".swf.gz (gzip), for other simulators and the Parallel Workloads Archive's tools")
      ->required();
  args->reader.add(cmd);
  cmd->add_option("--level", args->level, "Deflate level 0-9 of a store (0: shuffle only)")
      ->check(CLI::Range(0, 9))
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the read report as JSON");
  cmd->footer(
      "Example: allot trace convert ../shared/traces/swf/KTH-SP2-1996-2.1-cln.swf.gz -o kth.h5\n"
      "       allot trace generate hpc-like -o hpc.h5 && allot trace convert hpc.h5 -o hpc.swf\n"
      "The report lists records read, lines skipped by reason (--skip-bad) and the reader's\n"
      "counts (e.g. tasks running at trace start or cut at its end).\n"
      "SWF describes a job as one rigid gang of one-processor tasks on identical nodes: SWF logs\n"
      "and hpc-like workloads can be written as SWF, with their recorded schedule (wait, run\n"
      "time, status), times in whole seconds; others are refused, naming the first job that\n"
      "SWF cannot describe. `allot sim --swf DIR` writes each run's schedule the same way.");
  cmd->callback([args] {
    refuseOverwritingInput(args->output, "-o", args->input, args->reader);
    const auto start = std::chrono::steady_clock::now();
    traces::ReadReport report;
    const Workload w = load(args->input, args->reader, &report);
    const double readSeconds = secondsSince(start);
    if (isSwfPath(args->output)) {
      traces::SwfWriteOptions options;
      options.notes.push_back(fmt::format("written by allot {} (allot trace convert) from {}",
                                          sim::codeVersion(), args->input));
      traces::writeSwfFile(args->output, w, options);
    } else {
      writeStore(args->output, w, args->level);
    }
    const double totalSeconds = secondsSince(start);
    if (args->json) {
      nlohmann::json out = {{"input", args->input},
                            {"output", args->output},
                            {"jobs", w.jobs.size()},
                            {"task_records", w.tasks.size()},
                            {"task_instances", traces::instanceCount(w)},
                            {"machines", w.machines.size()},
                            {"read_seconds", readSeconds},
                            {"total_seconds", totalSeconds},
                            {"report", reportJson(report)}};
      std::cout << out.dump(2) << "\n";
      return;
    }
    printReport(report);
    std::cout << fmt::format(
        "wrote:    {} ({} jobs, {} task records, {} task instances, {} machines) in {:.2f} s\n",
        args->output, w.jobs.size(), w.tasks.size(), traces::instanceCount(w), w.machines.size(),
        totalSeconds);
  });
}

// ---------------------------------------------------------------- inspect

void printSummary(const nlohmann::json& s) {
  const std::vector<std::string> dims = s["dims"];
  std::cout << fmt::format(
      "jobs {}  task records {}  task instances {}  machines {}  machine events {}  users {}  "
      "roles {}\n",
      s["jobs"].get<std::uint64_t>(), s["task_records"].get<std::uint64_t>(),
      s["task_instances"].get<std::uint64_t>(), s["machines"].get<std::uint64_t>(),
      s["machine_events"].get<std::uint64_t>(), s["users"].get<std::uint64_t>(),
      s["roles"].get<std::uint64_t>());
  std::cout << fmt::format("gang jobs {}  jobs with dependencies {}\n",
                           s["gang_jobs"].get<std::uint64_t>(),
                           s["jobs_with_dependencies"].get<std::uint64_t>());
  const auto& t = s["time"];
  std::cout << fmt::format(
      "submits  {} .. {} (span {}); last end without waiting {}{}\n",
      formatSpan(t["first_submit_us"].get<std::int64_t>()),
      formatSpan(t["last_submit_us"].get<std::int64_t>()),
      formatSpan(t["submit_span_us"].get<std::int64_t>()),
      formatSpan(t["last_end_us"].get<std::int64_t>()),
      t.value("last_recorded_end_us", nlohmann::json()).is_null()
          ? ""
          : "; recorded last end " + formatSpan(t["last_recorded_end_us"].get<std::int64_t>()));
  const auto& recorded = s["recorded"];
  std::cout << fmt::format(
      "recorded {} task records with a start, {} with start and end (`allot sim --history` "
      "compares with them)\n",
      recorded["task_records_with_start"].get<std::uint64_t>(),
      recorded["task_records_with_start_and_end"].get<std::uint64_t>());
  std::cout << fmt::format("\n{:<18}{:>12}{:>12}{:>12}{:>12}{:>12}\n", "per task instance", "p50",
                           "p90", "p99", "max", "mean");
  auto row = [](const std::string& name, const nlohmann::json& p) {
    std::cout << fmt::format("{:<18}{:>12.4g}{:>12.4g}{:>12.4g}{:>12.4g}{:>12.4g}\n", name,
                             p["p50"].get<double>(), p["p90"].get<double>(), p["p99"].get<double>(),
                             p["max"].get<double>(), p["mean"].get<double>());
  };
  row("duration (s)", s["instance_duration_s"]);
  if (s.contains("instance_estimate_s")) row("estimate (s)", s["instance_estimate_s"]);
  for (const std::string& d : dims) row(d, s["instance_demand"][d]);
  std::cout << "per job\n";
  row("task instances", s["instances_per_job"]);
  row("task records", s["records_per_job"]);
  std::cout << "\ncapacity total  ";
  for (const std::string& d : dims) {
    std::cout << fmt::format(" {}={:.6g}", d, s["capacity_total"][d].get<double>());
  }
  std::cout << "\noffered load    ";
  for (const std::string& d : dims) {
    const auto& load = s["offered_load"][d];
    std::cout << fmt::format(
        " {}={}", d, load.is_null() ? "-" : fmt::format("{:.1f}%", 100 * load.get<double>()));
  }
  std::cout << "  (demand x run time over capacity x submit span; `allot sim --load-factor` scales "
               "it)\n";
  for (const char* key : {"top_users", "top_roles"}) {
    std::cout << fmt::format("\n{:<24}{:>12}{:>16}{:>16}\n", key, "jobs", "task instances",
                             "task records");
    for (const auto& u : s[key]) {
      std::cout << fmt::format("{:<24}{:>12}{:>16}{:>16}\n", u["name"].get<std::string>(),
                               u["jobs"].get<std::uint64_t>(),
                               u["task_instances"].get<std::uint64_t>(),
                               u["task_records"].get<std::uint64_t>());
    }
  }
  if (!s["meta"].empty()) {
    std::cout << "\nmeta\n";
    for (const auto& [key, value] : s["meta"].items()) {
      std::cout << fmt::format("  {} = {}\n", key, value.get<std::string>());
    }
  }
}

void addInspect(CLI::App& trace) {
  struct Args {
    std::string input;
    ReaderFlags reader;
    bool json = false;
    std::size_t top = 10;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = trace.add_subcommand(
      "inspect", "Summarize a workload (.h5 store or raw trace): counts, time span, percentiles");
  cmd->add_option("input", args->input, "Workload file or folder")->required();
  args->reader.add(cmd);
  cmd->add_flag("--json", args->json, "Print machine-readable JSON");
  cmd->add_option("--top", args->top, "Users and roles to list")
      ->check(wholeNumberFlag(0, 1'000'000))
      ->capture_default_str();
  cmd->footer(
      "Prints jobs, task records and task instances (a record stands for `count` identical\n"
      "instances, e.g. an SWF gang), machines, the submit time span, p50/p90/p99/max of task\n"
      "duration and of each demand dimension (per instance: records weighted by their count),\n"
      "the capacity and the load offered per dimension (demand x run time over capacity x\n"
      "submit span), and the users and roles with the most task instances.");
  cmd->callback([args] {
    traces::ReadReport report;
    const Workload w = load(args->input, args->reader, &report);
    nlohmann::json summary = traces::summarizeWorkload(w, args->top);
    if (args->json) {
      summary["input"] = args->input;
      summary["report"] = reportJson(report);
      std::cout << summary.dump(2) << "\n";
      return;
    }
    std::cout << args->input << "\n";
    printSummary(summary);
    if (report.skipped > 0) printReport(report);
  });
}

// ---------------------------------------------------------------- generate

void addGenerate(CLI::App& trace) {
  struct Args {
    std::string preset, output;
    std::uint64_t seed = 1;
    std::optional<std::uint64_t> tasks, jobs;
    std::optional<double> hours, load, jobsPerHour;
    std::optional<std::uint32_t> machines, users;
    std::string arrivals;
    int level = 1;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      trace.add_subcommand("generate", "Generate a seeded synthetic workload and write it as .h5");
  cmd->add_option("preset", args->preset, "Preset: google-like or hpc-like")->required();
  cmd->add_option("-o,--output", args->output, "Output .h5 file (overwritten)")->required();
  cmd->add_option("--seed", args->seed, "Random seed; the same seed gives the same workload")
      ->check(wholeNumberFlag(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  // Unset options keep the preset's values; set ones must make sense (a
  // zero or NaN used to fall back to the preset silently).
  cmd->add_option("--tasks", args->tasks, "Stop after this many task instances (exact)")
      ->check(wholeNumberFlag(1, traces::kMaxSyntheticTasks));
  cmd->add_option("--jobs", args->jobs, "Stop after this many jobs")
      ->check(wholeNumberFlag(1, traces::kMaxSyntheticJobs));
  cmd->add_option("--hours", args->hours, "Length of the trace in simulated hours")
      ->check(numberFlag(
          "hours", 0,
          static_cast<double>(
              std::chrono::duration_cast<std::chrono::hours>(traces::kMaxSyntheticHorizon).count()),
          true));
  cmd->add_option("--machines", args->machines, "Number of machines (the preset's mix, scaled)")
      ->check(wholeNumberFlag(1, traces::kMaxSyntheticMachines));
  cmd->add_option("--load", args->load, "Offered cpu load (fraction of the cluster's cpus)")
      ->check(numberFlag("times the cluster's cpus", 0, traces::kMaxLoad, true));
  cmd->add_option("--jobs-per-hour", args->jobsPerHour, "Mean arrival rate (overrides --load)")
      ->check(numberFlag("jobs per hour", 0, traces::kMaxJobsPerHour, true));
  cmd->add_option("--arrivals", args->arrivals, "poisson or diurnal")
      ->check(CLI::IsMember({"poisson", "diurnal"}));
  cmd->add_option("--users", args->users, "Number of users")
      ->check(wholeNumberFlag(1, traces::kMaxSyntheticUsers));
  cmd->add_option("--level", args->level, "Deflate level 0-9")->check(CLI::Range(0, 9));
  cmd->footer(
      "Generation ends at the first of --hours, --jobs, --tasks. Unset options keep the\n"
      "preset's values (google-like: 6 h, load 0.5; hpc-like: 7 days, load 0.7).\n"
      "Example: allot trace generate hpc-like -o hpc.h5 --seed 7 --hours 48");
  cmd->callback([args] {
    traces::SyntheticOptions o = traces::syntheticPreset(args->preset);
    o.seed = args->seed;
    if (args->tasks) o.maxTasks = *args->tasks;
    if (args->jobs) o.maxJobs = *args->jobs;
    if (args->hours) o.horizon = Duration{std::llround(*args->hours * 3600e6)};
    if (args->machines) o.machines = *args->machines;
    if (args->load) o.load = *args->load;
    if (args->jobsPerHour) o.jobsPerHour = *args->jobsPerHour;
    if (args->users) o.users = *args->users;
    if (!args->arrivals.empty()) {
      o.arrivals = args->arrivals == "poisson" ? traces::ArrivalProcess::kPoisson
                                               : traces::ArrivalProcess::kDiurnal;
    }
    const Workload w = traces::generateWorkload(o);
    writeStore(args->output, w, args->level);
    std::cout << fmt::format(
        "wrote {} ({} jobs, {} task records, {} task instances, {} machines; {:.1f} jobs/h, seed "
        "{})\n",
        args->output, w.jobs.size(), w.tasks.size(), traces::instanceCount(w), w.machines.size(),
        traces::arrivalRate(o) * 3600, o.seed);
  });
}

// ---------------------------------------------------------------- formats

void addFormats(CLI::App& trace) {
  auto json = std::make_shared<bool>(false);
  auto* cmd = trace.add_subcommand("formats", "List the trace formats and synthetic presets");
  cmd->add_flag("--json", *json, "Print machine-readable JSON");
  cmd->callback([json] {
    const auto formats = traces::loadFormats();
    const auto presets = traces::syntheticPresets();
    if (*json) {
      nlohmann::json out = {{"formats", nlohmann::json::array()},
                            {"presets", nlohmann::json::array()}};
      for (const auto& f : formats) {
        out["formats"].push_back({{"name", f.name}, {"description", f.description}});
      }
      for (const auto& p : presets) {
        out["presets"].push_back({{"name", p.name}, {"description", p.description}});
      }
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << "formats (--format NAME):\n";
    for (const auto& f : formats) std::cout << fmt::format("  {:<13} {}\n", f.name, f.description);
    std::cout << "\npresets (allot trace generate PRESET):\n";
    for (const auto& p : presets) std::cout << fmt::format("  {:<13} {}\n", p.name, p.description);
  });
}

}  // namespace

void addTraceCommand(CLI::App& app) {
  auto* trace = app.add_subcommand(
      "trace", "Convert, inspect and generate workload traces (HDF5 store and raw formats)");
  trace->require_subcommand(1);
  addConvert(*trace);
  addInspect(*trace);
  addGenerate(*trace);
  addFormats(*trace);
}

}  // namespace allot::cli
