// `allot sim`: replay a workload against one or more policies and compare
// them. Argument parsing, process management and printing only; the work is
// in allot::sim (simulator.h, result_file.h).

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/sim/history.h"
#include "allot/sim/result_file.h"
#include "allot/sim/simulator.h"
#include "allot/traces/load.h"
#include "allot/traces/summary.h"
#include "allot/traces/whole_file.h"
#include "commands.h"
#include "common.h"

namespace allot::cli {
namespace {

struct Args {
  std::string trace;
  ReaderFlags reader;
  std::vector<std::string> policies;
  std::vector<std::string> params;
  std::uint64_t seed = 0;
  std::uint32_t seeds = 1;  // runs per policy: seeds seed .. seed + seeds - 1
  std::string output;
  bool json = false;
  int jobs = 1;
  std::string grouping = "user";
  std::string queue = "first-fit";
  bool holdOffers = false;
  double interval = 1.0;
  double latency = 0.0;
  double offerTimeout = 0.0;
  std::optional<double> refuseSeconds;
  double sampleInterval = 0.0;
  std::uint32_t maxAttempts = 0;
  std::string mtbf;  // durations as parseDuration takes them; empty: no injected failures
  std::string mttr;
  std::uint32_t launchesPerOffer = 0;
  std::optional<std::uint32_t> demandWindow;  // unset: each policy's own need
  bool exactEstimates = false;
  std::optional<double> stopAt;
  std::string eventLog;
  std::string swfDir;  // --swf: each run's schedule as DIR/LABEL.swf
  bool history = false;
  std::string baseline;  // a column's label: the table of differences from it
  // ROLE=VALUE, each repeatable: Config::roles.
  std::vector<std::string> weights, guarantees, limits;
};

// One policy to run with one seed: its label in the results, name and
// parameters. With --seeds, a policy's runs share `column`, the policy's
// label, and are labelled COLUMN@SEED.
struct Run {
  std::string label;
  std::string policy;
  Params params;
  std::uint32_t demandWindow = 0;  // Config::demandWindow of this run
  bool history = false;            // the trace's own schedule (--history), not a policy's run
  std::uint64_t seed = 0;          // Config::seed of this run
  std::string column;              // the table's column: the policy's label
  bool seedFromFlag = false;       // its `seed` parameter follows the run's seed
};

// Longest interval, latency or timeout: the simulator refuses longer ones.
constexpr double kMaxSeconds = toSeconds(sim::kMaxConfigDuration);
constexpr std::uint64_t kMaxUint32 = std::numeric_limits<std::uint32_t>::max();

Duration seconds(double s) {
  return secondsToDuration(s);
}

// Options that cannot change some run (sim::inertOptionNotes), each note
// once, naming the runs it concerns unless it concerns them all.
void printInertOptionNotes(const traces::Workload& w, const sim::Config& config,
                           const std::vector<Run>& runs) {
  std::vector<std::pair<std::string, std::vector<std::string>>> notes;  // text, run labels
  for (const Run& run : runs) {
    sim::Config c = config;
    c.demandWindow = run.demandWindow;
    for (std::string& text : sim::inertOptionNotes(w, c, sim::kCliSpelling)) {
      auto it = std::find_if(notes.begin(), notes.end(),
                             [&](const auto& note) { return note.first == text; });
      if (it == notes.end()) it = notes.insert(notes.end(), {std::move(text), {}});
      it->second.push_back(run.label);
    }
  }
  for (const auto& [text, labels] : notes) {
    const std::string which =
        labels.size() == runs.size() ? "" : fmt::format("{}: ", fmt::join(labels, ", "));
    std::cerr << "allot: note: " << which << text << "\n";
  }
}

// --weight, --guarantee and --limit (ROLE=VALUE) merged by role, in the
// order roles first appear. A role given twice in one flag is an error.
std::vector<sim::RoleSetting> roleSettings(const Args& a) {
  std::vector<sim::RoleSetting> roles;
  auto apply = [&](const char* flag, const std::vector<std::string>& given, auto set) {
    std::vector<std::string> seen;
    for (const std::string& entry : given) {
      const auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw InvalidArgument(fmt::format("{} '{}': expected ROLE=VALUE", flag, entry));
      }
      std::string role = entry.substr(0, eq);
      if (role != kUnreservedRole && !isValidRoleName(role)) {
        throw InvalidArgument(
            fmt::format("{} '{}': role '{}' may hold letters, digits, '_', '-', '.' and '/'", flag,
                        entry, role));
      }
      if (std::find(seen.begin(), seen.end(), role) != seen.end()) {
        throw InvalidArgument(fmt::format("{}: role '{}' given twice", flag, role));
      }
      seen.push_back(role);
      auto it = std::find_if(roles.begin(), roles.end(),
                             [&](const sim::RoleSetting& r) { return r.role == role; });
      if (it == roles.end()) {
        sim::RoleSetting fresh;
        fresh.role = role;
        it = roles.insert(roles.end(), std::move(fresh));
      }
      set(*it, entry.substr(eq + 1), entry);
    }
  };
  apply("--weight", a.weights,
        [](sim::RoleSetting& r, const std::string& value, const std::string& entry) {
          double w = 0;
          const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), w);
          if (ec != std::errc() || end != value.data() + value.size() || !(w > 0) ||
              !std::isfinite(w)) {
            throw InvalidArgument(
                fmt::format("--weight '{}': the weight must be a positive number", entry));
          }
          r.weight = w;
        });
  apply("--guarantee", a.guarantees,
        [](sim::RoleSetting& r, const std::string& value, const std::string&) {
          r.guarantee = value;
        });
  apply("--limit", a.limits,
        [](sim::RoleSetting& r, const std::string& value, const std::string&) { r.limit = value; });
  return roles;
}

sim::Config makeConfig(const Args& a) {
  sim::Config c;
  c.seed = a.seed;
  c.allocationInterval = seconds(a.interval);
  c.grouping = sim::parseGrouping(a.grouping);
  c.queue = sim::parseQueue(a.queue);
  c.holdOffers = a.holdOffers;
  c.decisionLatency = seconds(a.latency);
  c.offerTimeout = seconds(a.offerTimeout);
  if (a.refuseSeconds) c.refuseFor = seconds(*a.refuseSeconds);
  c.sampleInterval = seconds(a.sampleInterval);
  c.maxAttempts = a.maxAttempts;
  // Checked here, before the trace is read, as CLI11 checks the other times.
  auto failureTime = [](const char* flag, const std::string& text) {
    const Duration d = parseDuration(flag, text);
    if (d > sim::kMaxConfigDuration) {
      throw InvalidArgument(fmt::format("{} '{}': at most 100 years", flag, text));
    }
    return d;
  };
  if (!a.mtbf.empty()) c.meanTimeBetweenFailures = failureTime("--mtbf", a.mtbf);
  if (!a.mttr.empty()) c.meanTimeToRepair = failureTime("--mttr", a.mttr);
  c.launchesPerOffer = a.launchesPerOffer;
  c.demandWindow = a.demandWindow.value_or(0);
  c.exactEstimates = a.exactEstimates;
  if (a.stopAt) c.stopAt = fromMicros(0) + seconds(*a.stopAt);
  c.roles = roleSettings(a);
  return c;
}

nlohmann::json configJson(const Args& a, const sim::Config& c, const traces::Workload& w) {
  // Unset text options are null.
  auto text = [](const std::string& value) {
    return value.empty() ? nlohmann::json() : nlohmann::json(value);
  };
  nlohmann::json j;
  j["trace"] = a.trace;
  j["format"] = a.reader.format;
  j["skip_bad"] = a.reader.skipBad;
  // What the reader left out (--skip-bad, here or when a store was converted).
  j["skipped_lines"] = 0;
  if (const auto skipped = w.meta.find("count.skipped_lines"); skipped != w.meta.end()) {
    const std::string& count = skipped->second;
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    j["skipped_lines"] = ec == std::errc() && end == count.data() + count.size()
                             ? nlohmann::json(n)
                             : nlohmann::json(count);  // a store's own text, kept as it is
  }
  j["machines_file"] = text(a.reader.machines);
  j["job_events"] = text(a.reader.jobEvents);
  j["machine_events"] = text(a.reader.machineEvents);
  j["batch_instance"] = text(a.reader.batchInstance);
  j["cluster"] = text(a.reader.cluster);
  // The workload's load factor: --load-factor's, times a store's own (null: 1).
  const std::optional<double> loadFactor = traces::loadFactorOf(w);
  j["load_factor"] = loadFactor ? nlohmann::json(*loadFactor) : nlohmann::json();
  j["seed"] = c.seed;
  j["seeds"] = a.seeds;
  j["allocation_interval_us"] = toMicros(c.allocationInterval);
  j["frameworks"] = std::string(sim::toString(c.grouping));
  j["queue"] = std::string(sim::toString(c.queue));
  j["hold_offers"] = c.holdOffers;
  j["decision_latency_us"] = toMicros(c.decisionLatency);
  j["offer_timeout_us"] = toMicros(c.offerTimeout);
  j["refuse_us"] = c.refuseFor ? nlohmann::json(toMicros(*c.refuseFor)) : nlohmann::json();
  j["sample_interval_us"] = toMicros(c.sampleInterval);
  j["max_attempts"] = c.maxAttempts;
  // Injected failures: null when there are none.
  const bool failures = c.meanTimeBetweenFailures > Duration::zero();
  j["mtbf_us"] = failures ? nlohmann::json(toMicros(c.meanTimeBetweenFailures)) : nlohmann::json();
  j["mttr_us"] = failures ? nlohmann::json(toMicros(c.meanTimeToRepair)) : nlohmann::json();
  j["launches_per_offer"] = c.launchesPerOffer;
  j["exact_estimates"] = c.exactEstimates;
  j["demand_window"] = a.demandWindow ? nlohmann::json(c.demandWindow) : nlohmann::json("auto");
  j["stop_at_us"] = c.stopAt == kTimeNever ? nlohmann::json() : nlohmann::json(toMicros(c.stopAt));
  j["policies"] = a.policies;
  j["history"] = a.history;
  // {"ROLE": {"weight": W, "guarantee": TEXT or null, "limit": TEXT or null}}; null: none.
  nlohmann::json roles = nlohmann::json::object();
  for (const sim::RoleSetting& r : c.roles) {
    roles[r.role] = {
        {"weight", r.weight}, {"guarantee", text(r.guarantee)}, {"limit", text(r.limit)}};
  }
  j["roles"] = c.roles.empty() ? nlohmann::json() : roles;
  return j;
}

// Policies and their parameters. "--param name=value" goes to every chosen
// policy that has that parameter, "--param drf:name=value" to drf only, and
// wins over the first form whatever their order; a parameter no chosen
// policy has, or one given twice in the same form with different values, is
// an error. "-p drf:name=value,..." gives that run parameters of its own,
// which win over both. --seed becomes each policy's `seed` unless given as a
// parameter.
std::vector<Run> makeRuns(const Args& a) {
  std::vector<Run> runs;
  std::vector<Params> own;  // per run, what -p POLICY:name=value,... sets
  std::map<std::string, int> seen;
  for (const std::string& text : a.policies) {
    const int n = ++seen[text];
    Run& run = runs.emplace_back();
    run.label = n == 1 ? text : fmt::format("{}#{}", text, n);
    const auto colon = text.find(':');
    run.policy = text.substr(0, colon);
    if (run.policy.empty() || text.find('/') != std::string::npos) {
      throw InvalidArgument(fmt::format(
          "-p '{}': expected POLICY or POLICY:name=value,... without '/' (it labels the run's "
          "group in the result file)",
          text));
    }
    try {
      own.push_back(colon == std::string::npos ? Params() : Params::parse(text.substr(colon + 1)));
    } catch (const std::exception& e) {
      throw InvalidArgument(fmt::format("-p '{}': {}", text, e.what()));
    }
  }
  auto specOf = [](const std::string& policy) -> const PolicyInfo& {
    for (const PolicyInfo& info : builtinPolicies()) {
      if (info.name == policy) return info;
    }
    makeAllocator(policy);  // throws NotFound listing the known policies
    throw NotFound("unknown policy '" + policy + "'");
  };
  auto has = [&](const std::string& policy, const std::string& param) {
    for (const ParamSpec& spec : specOf(policy).params) {
      if (spec.name == param) return true;
    }
    return false;
  };
  // Which --param set each run's parameter, and whether it named the policy.
  std::map<std::pair<std::size_t, std::string>, std::pair<bool, std::string>> setBy;
  for (const std::string& text : a.params) {
    std::string scope;
    std::string item = text;
    const auto colon = text.find(':');
    const auto eq = text.find('=');
    if (colon != std::string::npos && (eq == std::string::npos || colon < eq)) {
      scope = text.substr(0, colon);
      item = text.substr(colon + 1);
    }
    const Params parsed = Params::parse(item);
    if (parsed.values().empty()) {
      throw InvalidArgument(fmt::format("--param '{}': expected [POLICY:]name=value", text));
    }
    for (const auto& [key, value] : parsed.values()) {
      bool used = false;
      for (std::size_t r = 0; r < runs.size(); ++r) {
        Run& run = runs[r];
        if (!scope.empty() && run.policy != scope) continue;
        if (!has(run.policy, key)) continue;
        used = true;
        const bool scoped = !scope.empty();
        const auto [earlier, fresh] = setBy.try_emplace({r, key}, scoped, text);
        if (!fresh) {
          const auto& [earlierScoped, earlierText] = earlier->second;
          if (earlierScoped == scoped) {
            if (run.params.getString(key, "") != value) {
              throw InvalidArgument(
                  fmt::format("--param '{}': {} already has {}={} from --param '{}'; give it once",
                              text, run.label, key, run.params.getString(key, ""), earlierText));
            }
            continue;
          }
          if (earlierScoped) continue;  // the policy's own --param wins
          earlier->second = {scoped, text};
        }
        run.params.set(key, value);
      }
      if (!used) {
        throw InvalidArgument(
            fmt::format("--param '{}': no chosen policy{} has a parameter '{}' (see `allot "
                        "policies`)",
                        text, scope.empty() ? "" : " named " + scope, key));
      }
    }
  }
  // -p's own parameters win over every --param (makeAllocator below refuses
  // one the policy does not have, naming those it has).
  for (std::size_t r = 0; r < runs.size(); ++r) {
    for (const auto& [key, value] : own[r].values()) runs[r].params.set(key, value);
  }
  for (Run& run : runs) {
    if (has(run.policy, "seed") && !run.params.has("seed")) {
      run.params.set("seed", std::to_string(a.seed));
      run.seedFromFlag = true;
    }
    run.seed = a.seed;
    run.column = run.label;
    run.demandWindow = a.demandWindow.value_or(specOf(run.policy).demand);
    // Parameter values are checked by building the policy once, before the
    // trace is read and before any run: a bad one found when its run starts
    // would come after minutes of the runs before it.
    try {
      makeAllocator(run.policy, run.params);
    } catch (const std::exception& e) {
      throw InvalidArgument(fmt::format("{}: {}", run.label, e.what()));
    }
  }
  return runs;
}

// Each policy's runs: one per seed of --seed .. --seed + --seeds - 1,
// labelled POLICY@SEED, when the seed can change its run; else one, with a
// note (a policy without a `seed` parameter, or one given by --param, draws
// the same numbers whatever the seed, and without --mtbf nothing else does).
std::vector<Run> withSeeds(const std::vector<Run>& columns, const Args& a,
                           const sim::Config& config) {
  if (a.seeds > 1 && a.seed > kMaxSeed - (a.seeds - 1)) {
    throw InvalidArgument(fmt::format("--seed {} with --seeds {}: the last seed would pass {}",
                                      a.seed, a.seeds, kMaxSeed));
  }
  const bool failures = config.meanTimeBetweenFailures > Duration::zero();
  std::vector<Run> runs;
  std::vector<std::string> unseeded;
  for (const Run& column : columns) {
    if (a.seeds == 1 || (!column.seedFromFlag && !failures)) {
      runs.push_back(column);
      if (a.seeds > 1) unseeded.push_back(column.label);
      continue;
    }
    for (std::uint32_t k = 0; k < a.seeds; ++k) {
      Run& run = runs.emplace_back(column);
      run.seed = a.seed + k;
      run.label = fmt::format("{}@{}", column.label, run.seed);
      if (column.seedFromFlag) run.params.set("seed", std::to_string(run.seed));
    }
  }
  for (const std::string& label : unseeded) {
    std::cerr << fmt::format(
        "allot: note: {}: runs once, not {} times: nothing in its run follows the seed (its "
        "policy has no `seed` parameter, or --param sets it, and there is no --mtbf)\n",
        label, a.seeds);
  }
  return runs;
}

// The run's policy parameters, and the demand window and seed it ran with (none for --history).
nlohmann::json paramsJson(const Run& run) {
  nlohmann::json j = nlohmann::json::object();
  if (run.history) return j;
  for (const auto& [k, v] : run.params.values()) j[k] = v;
  j["sim.demand_window"] = std::to_string(run.demandWindow);
  j["sim.seed"] = std::to_string(run.seed);  // Config::seed: several differ with --seeds
  return j;
}

// The outcome of one run as the parent process sees it.
struct Outcome {
  std::map<std::string, double> summary;
  double wallSeconds = 0;
  std::string error;
  bool finished = false;  // ran to its end (its results are in the file, if any)
};

// Where --swf DIR writes the schedule of the run labelled `label`; empty
// without --swf.
std::string swfPathOf(const Args& args, const std::string& label) {
  return args.swfDir.empty() ? std::string()
                             : (std::filesystem::path(args.swfDir) / (label + ".swf")).string();
}

// Writes a run's schedule as an SWF log (--swf), saying in its header what
// the run was and what the statuses mean.
void writeSchedule(const std::string& path, const traces::Workload& w, const Run& run,
                   const sim::Result& result) {
  traces::SwfWriteOptions options;
  if (run.history) {
    // The trace's own waits, run times and statuses, which the history's
    // job states would reduce to finished or not.
    options.notes.push_back(fmt::format(
        "the trace's own recorded schedule (`allot sim --history`), written by allot {}",
        sim::codeVersion()));
    traces::writeSwfFile(path, w, options);
    return;
  }
  const std::vector<traces::SwfJobSchedule> schedule = sim::swfScheduleOf(result);
  options.schedule = schedule;
  std::string params;
  for (const auto& [k, v] : run.params.values()) params += fmt::format(", {}={}", k, v);
  options.notes.push_back(
      fmt::format("the schedule of `allot sim` run {}: policy {}{}, seed {}, written by allot {}",
                  run.label, run.policy, params, run.seed, sim::codeVersion()));
  options.notes.push_back(
      "status 1: finished, 0: failed (a task lost too often), 5: unschedulable (wider than the "
      "cluster), -1: unfinished when the run stopped; a job that did not finish has wait -1 and "
      "its own run time");
  traces::writeSwfFile(path, w, options);
}

// Runs one policy in this process and writes its results to `file`, if any,
// and its schedule to `swfPath`, if not empty.
Outcome runOne(const traces::Workload& w, const Run& run, const sim::Config& common,
               sim::ResultFile* file, const sim::Hooks& hooks, const std::string& swfPath) {
  std::unique_ptr<Allocator> allocator = makeAllocator(run.policy, run.params);
  sim::Config config = common;
  config.demandWindow = run.demandWindow;
  config.seed = run.seed;
  const auto start = std::chrono::steady_clock::now();
  sim::Result result = sim::simulate(w, *allocator, config, hooks);
  Outcome out;
  out.wallSeconds = secondsSince(start);
  for (const auto& [k, v] : run.params.values()) result.params[k] = v;
  if (file != nullptr) file->write(run.label, result, paramsJson(run).dump());
  if (!swfPath.empty()) writeSchedule(swfPath, w, run, result);
  out.summary = result.summary;
  out.finished = true;
  return out;
}

// A child process sends its progress through a pipe as it is.
static_assert(std::is_trivially_copyable_v<sim::Progress>);

std::string progressNote(const sim::Progress& p, std::int64_t startUs, double wall) {
  const auto perSecond = [&](std::uint64_t n) {
    return formatRate(wall > 0 ? static_cast<double>(n) / wall : 0.0);
  };
  return fmt::format("sim {}  {} events/s  {} offers/s", formatSpan(toMicros(p.now) - startUs),
                     perSecond(p.events), perSecond(p.offers));
}

// Prints offerChurnNote once per run, when it has something to say.
struct ChurnNote {
  bool printed = false;
  void check(ProgressBar& bar, const std::string& label, const sim::Progress& p,
             std::uint32_t demandWindow) {
    if (printed) return;
    const std::string note = sim::offerChurnNote(p, demandWindow, sim::kCliSpelling);
    if (note.empty()) return;
    bar.print(fmt::format("allot: note: {}: {}", label, note));
    printed = true;
  }
};

// The event log of run `run` (--event-log FILE; FILE.LABEL with several).
std::string eventLogPath(const Args& args, const std::vector<Run>& runs, std::size_t run) {
  return runs.size() == 1 ? args.eventLog : args.eventLog + "." + runs[run].label;
}

// Opens run `run`'s event log and points `hooks` at it.
void openEventLog(const Args& args, const std::vector<Run>& runs, std::size_t run,
                  std::unique_ptr<std::ofstream>& file, sim::Hooks& hooks) {
  const std::string path = eventLogPath(args, runs, run);
  file = std::make_unique<std::ofstream>(path);
  if (!*file) throw Error("cannot write the event log " + path);
  hooks.eventLog = [out = file.get()](std::string_view line) { *out << line << '\n'; };
}

// The part file in which the child process of run `run` hands its results over.
std::string partFile(const std::string& base, std::size_t run) {
  return fmt::format("{}.part{}", base, run);
}

// Removes a part file, and what is left of it while being written.
void removePart(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::remove(traces::WholeFile::partialOf(path), ignored);
}

// Runs every policy, up to `jobs` at a time in child processes (each writes
// a part file that the parent reads and copies into the result file, if any).
// Stops at a held signal (`signal` then names it; runs that did not finish
// have `finished` false).
struct Runs {
  std::vector<Outcome> outcomes;
  int signal = 0;
};
Runs runAll(const traces::Workload& w, const std::vector<Run>& runs, const sim::Config& config,
            sim::ResultFile* file, const std::string& partBase, int jobs, const Args& args,
            const HeldSignals& held) {
  Runs result;
  std::vector<Outcome>& outcomes = result.outcomes;
  outcomes.resize(runs.size());
  const std::int64_t startUs = w.jobs.empty() ? 0 : toMicros(w.jobs.front().submit);
  // A run's progress: jobs done of all; for a run stopped by --stop-at, whose
  // jobs do not all end (or even come), the simulated time it has covered up
  // to the stop.
  const bool toStop = config.stopAt != kTimeNever;
  const std::uint64_t total =
      toStop
          ? static_cast<std::uint64_t>(std::max<std::int64_t>(toMicros(config.stopAt) - startUs, 1))
          : std::max<std::uint64_t>(w.jobs.size(), 1);
  const auto doneOf = [&](const sim::Progress& p) -> std::uint64_t {
    if (!toStop) return p.jobsDone;
    return static_cast<std::uint64_t>(
        std::clamp<std::int64_t>(toMicros(p.now) - startUs, 0, static_cast<std::int64_t>(total)));
  };

  if (jobs <= 1 || runs.size() == 1) {
    std::unique_ptr<std::ofstream> logFile;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      ProgressBar bar(fmt::format("{:<10}", runs[i].label));
      const auto start = std::chrono::steady_clock::now();
      ChurnNote churn;
      sim::Hooks hooks;
      hooks.progress = [&](const sim::Progress& p) {
        if (const int signal = held.pending()) throw Interrupted{signal};
        const double wall = secondsSince(start);
        churn.check(bar, runs[i].label, p, runs[i].demandWindow);
        bar.update(doneOf(p), total, progressNote(p, startUs, wall));
      };
      if (!args.eventLog.empty()) openEventLog(args, runs, i, logFile, hooks);
      try {
        if (file == nullptr) {
          outcomes[i] = runOne(w, runs[i], config, nullptr, hooks, swfPathOf(args, runs[i].label));
        } else {
          // Through a part file, as a child process of -j hands its run
          // over: the result file's bytes do not depend on -j.
          const std::string part = partFile(partBase, i);
          struct RemovePart {
            const std::string& path;
            ~RemovePart() { removePart(path); }
          } const cleanup{part};
          {
            sim::ResultFile out(part, "{}");
            outcomes[i] = runOne(w, runs[i], config, &out, hooks, swfPathOf(args, runs[i].label));
            out.commit();
          }
          file->copyRun(part, runs[i].label);
        }
      } catch (const Interrupted& interrupted) {
        result.signal = interrupted.signal;
        return result;
      } catch (const std::exception& e) {
        // As a child process of -j reports it: the other runs go on.
        std::cerr << "allot: " << runs[i].label << ": " << e.what() << "\n";
        outcomes[i].error = "the simulation failed (see the message above)";
      }
    }
    return result;
  }

  struct Child {
    pid_t pid = -1;
    int fd = -1;
    std::size_t run = 0;
    sim::Progress last{};
    ChurnNote churn;
    // Its wall time counts from here, not from the first child's start: runs
    // that waited for a free slot were not running.
    std::chrono::steady_clock::time_point started;
  };
  std::vector<Child> live;
  std::size_t next = 0;
  ProgressBar bar("simulating");
  std::uint64_t done = 0;
  auto parts = [&](std::size_t i) { return partFile(partBase, i); };
  // Runs end in any order; their parts are copied in run order, so that the
  // result file's bytes do not depend on which finished first. Runs before
  // `nextCopy` are copied (or failed); `ended` marks those that ended.
  std::size_t nextCopy = 0;
  std::vector<char> ended(runs.size(), 0);
  // However this loop ends (a signal, an error), no child outlives it and no
  // part file stays behind.
  struct StopChildren {
    std::vector<Child>& live;
    const std::string& partBase;
    const std::vector<char>& ended;
    const std::size_t& nextCopy;
    ~StopChildren() {
      for (const Child& c : live) {
        kill(c.pid, SIGKILL);
        close(c.fd);
        waitpid(c.pid, nullptr, 0);
        removePart(partFile(partBase, c.run));
      }
      for (std::size_t i = nextCopy; i < ended.size(); ++i) {
        if (ended[i] != 0) removePart(partFile(partBase, i));
      }
    }
  };
  const StopChildren stopChildren{live, partBase, ended, nextCopy};

  while (next < runs.size() || !live.empty()) {
    while (next < runs.size() && live.size() < static_cast<std::size_t>(jobs)) {
      int fds[2];
      if (pipe(fds) != 0) throw Error(std::string("pipe failed: ") + std::strerror(errno));
      std::fflush(nullptr);
      const pid_t pid = fork();
      if (pid < 0) throw Error(std::string("fork failed: ") + std::strerror(errno));
      if (pid == 0) {
        close(fds[0]);
        int rc = 0;
        try {
          sim::ResultFile part(parts(next), "{}");
          sim::Hooks hooks;
          hooks.progress = [&](const sim::Progress& p) {
            if (const int signal = held.pending()) throw Interrupted{signal};
            (void)!write(fds[1], &p, sizeof p);
          };
          std::unique_ptr<std::ofstream> logFile;
          if (!args.eventLog.empty()) openEventLog(args, runs, next, logFile, hooks);
          runOne(w, runs[next], config, &part, hooks, swfPathOf(args, runs[next].label));
          part.commit();
        } catch (const Interrupted& interrupted) {
          rc = 128 + interrupted.signal;  // the parent says what happened
        } catch (const std::exception& e) {
          std::cerr << "allot: " << runs[next].label << ": " << e.what() << "\n";
          rc = 1;
        }
        close(fds[1]);
        std::fflush(nullptr);
        _exit(rc);
      }
      close(fds[1]);
      live.push_back({pid, fds[0], next, {}, {}, std::chrono::steady_clock::now()});
      ++next;
    }
    std::vector<pollfd> pfds;
    for (const Child& c : live) pfds.push_back({c.fd, POLLIN, 0});
    poll(pfds.data(), pfds.size(), 200);
    if (const int signal = held.pending()) {
      result.signal = signal;
      return result;  // stopChildren stops the rest
    }
    for (std::size_t k = 0; k < live.size();) {
      Child& c = live[k];
      bool closed = false;
      if (pfds[k].revents & (POLLIN | POLLHUP)) {
        sim::Progress p;
        const ssize_t n = read(c.fd, &p, sizeof p);
        if (n == static_cast<ssize_t>(sizeof p)) {
          c.last = p;
          c.churn.check(bar, runs[c.run].label, p, runs[c.run].demandWindow);
        } else if (n <= 0) {
          closed = true;
        }
      }
      if (!closed) {
        ++k;
        continue;
      }
      close(c.fd);
      int status = 0;
      waitpid(c.pid, &status, 0);
      Outcome& out = outcomes[c.run];
      out.wallSeconds = secondsSince(c.started);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        out.summary = sim::readSummary(parts(c.run), runs[c.run].label);
        out.finished = true;
      } else if (WIFSIGNALED(status)) {
        out.error = fmt::format(
            "the simulation process was killed by signal {} ({}){}", WTERMSIG(status),
            strsignal(WTERMSIG(status)),
            WTERMSIG(status) == SIGKILL ? ", e.g. by the kernel when memory ran out" : "");
      } else if (WIFEXITED(status) && WEXITSTATUS(status) > 128) {
        out.error = fmt::format("the simulation process was stopped by signal {} ({})",
                                WEXITSTATUS(status) - 128, strsignal(WEXITSTATUS(status) - 128));
      } else {
        out.error = "the simulation failed (see the message above)";
      }
      ended[c.run] = 1;
      for (; nextCopy < runs.size() && ended[nextCopy] != 0; ++nextCopy) {
        if (file != nullptr && outcomes[nextCopy].finished) {
          file->copyRun(parts(nextCopy), runs[nextCopy].label);
        }
        removePart(parts(nextCopy));
      }
      ++done;
      pfds.erase(pfds.begin() + static_cast<std::ptrdiff_t>(k));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
    std::string note = fmt::format("{}/{} done", done, runs.size());
    std::uint64_t progressDone = done * total;
    for (const Child& c : live) {
      note += fmt::format("  {} {}", runs[c.run].label, formatSpan(toMicros(c.last.now) - startUs));
      progressDone += doneOf(c.last);
    }
    bar.update(progressDone, total * runs.size(), note);
  }
  return result;
}

// Rows of the comparison table: summary key, label, format.
struct Row {
  const char* key;
  const char* label;
  const char* format;
  bool onlyWhenSome = false;  // shown only when some run's summary has it, not 0
};
constexpr Row kRows[] = {
    {"jobs_finished", "jobs finished", "{:.0f}"},
    {"jobs_unschedulable", "jobs unschedulable", "{:.0f}"},
    {"jobs_failed", "jobs failed", "{:.0f}", true},
    {"jobs_unfinished", "jobs unfinished", "{:.0f}"},
    {"jobs_not_submitted", "jobs not yet submitted", "{:.0f}", true},
    {"jct_s_mean", "JCT mean (s)", "{:.1f}"},
    {"jct_s_p50", "JCT p50 (s)", "{:.1f}"},
    {"jct_s_p95", "JCT p95 (s)", "{:.1f}"},
    {"jct_s_p99", "JCT p99 (s)", "{:.1f}"},
    {"wait_s_mean", "queueing delay mean (s)", "{:.1f}"},
    {"wait_s_p95", "queueing delay p95 (s)", "{:.1f}"},
    {"slowdown_mean", "slowdown mean", "{:.2f}"},
    {"bounded_slowdown_mean", "bounded slowdown mean", "{:.2f}"},
    {"makespan_s", "makespan (s)", "{:.0f}"},
    {"jain_fairness_mean", "Jain's fairness (mean)", "{:.3f}"},
    {"placement_latency_s_mean", "placement latency mean (s)", "{:.2f}"},
    {"machine_failures", "machine failures", "{:.0f}", true},
    {"instances_lost", "task instances lost", "{:.0f}", true},
    {"events", "events", "{:.0f}"},
    // What two-level scheduling costs: whole-agent offers, mostly declined,
    // are where a stock run spends its time.
    {"offers", "offers", "{:.0f}"},
    {"declines", "declined offers", "{:.0f}"},
};

// A column of the table: one policy's runs (one per seed), or --history's.
struct Column {
  std::string label;
  std::vector<std::size_t> runs;  // indexes into the runs and outcomes
};

std::vector<Column> columnsOf(const std::vector<Run>& runs) {
  std::vector<Column> columns;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (columns.empty() || columns.back().label != runs[i].column) {
      columns.push_back({runs[i].column, {}});
    }
    columns.back().runs.push_back(i);
  }
  return columns;
}

// A cell's text: a value, or over several values (n >= 2) the mean and the
// half-width of its 95% confidence interval, each as `format` writes it; a
// signed cell (a difference) shows the mean's sign.
std::string spreadText(const sim::Spread& spread, const std::string& format, bool sign = false) {
  if (spread.n == 0) return "-";
  std::string signedFormat = format;
  if (sign) signedFormat.insert(signedFormat.find(':') + 1, "+");  // "{:+.1f}"
  std::string text = fmt::format(fmt::runtime(signedFormat), spread.mean);
  if (spread.n >= 2) text += " ± " + fmt::format(fmt::runtime(format), spread.halfWidth95);
  return text;
}

// A column's values of one metric, a run's NaN where it has none.
template <typename ValueOf>
std::vector<double> valuesOf(const Column& column, ValueOf valueOf) {
  std::vector<double> values;
  for (std::size_t run : column.runs) values.push_back(valueOf(run));
  return values;
}

double summaryValue(const Outcome& o, const std::string& key) {
  const auto it = o.summary.find(key);
  return it == o.summary.end() ? std::nan("") : it->second;
}

// The summary metrics both tables show: kRows in order (a row that only
// matters when some run has it, left out otherwise), the utilization of each
// dimension some run measured after the makespan.
struct MetricRow {
  std::string label;
  std::string format;
  std::string key;
  double scale = 1;  // shown as value * scale
};

std::vector<MetricRow> metricRows(const std::vector<Outcome>& outcomes,
                                  const std::vector<std::string>& dims) {
  std::vector<MetricRow> rows;
  for (const Row& r : kRows) {
    if (r.onlyWhenSome && std::none_of(outcomes.begin(), outcomes.end(), [&](const Outcome& o) {
          const auto it = o.summary.find(r.key);
          return it != o.summary.end() && it->second != 0;
        })) {
      continue;
    }
    rows.push_back({r.label, r.format, r.key});
    if (std::string(r.key) == "makespan_s") {
      for (const std::string& d : dims) {
        const std::string key = "utilization_" + d;
        if (std::none_of(outcomes.begin(), outcomes.end(),
                         [&](const Outcome& o) { return o.summary.count(key) > 0; })) {
          continue;
        }
        rows.push_back({"utilization " + d, "{:.1f}%", key, 100});
      }
    }
  }
  return rows;
}

// A table: a header row of column labels, then per row its label and a cell
// per column, right-aligned.
void printGrid(const std::vector<std::string>& headers,
               const std::vector<std::pair<std::string, std::vector<std::string>>>& rows) {
  // Widths in characters, not bytes ("±" is two): UTF-8 continuation bytes
  // do not count.
  const auto width = [](const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
  };
  const auto pad = [&](const std::string& text, std::size_t w) {
    return std::string(w - std::min(w, width(text)), ' ') + text;
  };
  std::size_t labelWidth = 6;
  for (const auto& r : rows) labelWidth = std::max(labelWidth, r.first.size());
  std::vector<std::size_t> widths;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    std::size_t w = std::max<std::size_t>(width(headers[i]), 8);
    for (const auto& r : rows) w = std::max(w, width(r.second[i]));
    widths.push_back(w);
  }
  std::cout << fmt::format("{:<{}}", "metric", labelWidth);
  for (std::size_t i = 0; i < headers.size(); ++i) std::cout << "  " << pad(headers[i], widths[i]);
  std::cout << "\n";
  for (const auto& [label, cells] : rows) {
    std::cout << fmt::format("{:<{}}", label, labelWidth);
    for (std::size_t i = 0; i < cells.size(); ++i) std::cout << "  " << pad(cells[i], widths[i]);
    std::cout << "\n";
  }
}

void printTable(const std::vector<Run>& runs, const std::vector<Outcome>& outcomes,
                const std::vector<std::string>& dims) {
  const std::vector<Column> columns = columnsOf(runs);
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto addRow = [&](std::string label, const std::string& format, auto valueOf) {
    std::vector<std::string> cells;
    for (const Column& c : columns) {
      cells.push_back(spreadText(sim::spreadOf(valuesOf(c, valueOf)), format));
    }
    rows.emplace_back(std::move(label), std::move(cells));
  };
  for (const MetricRow& r : metricRows(outcomes, dims)) {
    addRow(r.label, r.format,
           [&](std::size_t run) { return r.scale * summaryValue(outcomes[run], r.key); });
  }
  addRow("wall time (s)", "{:.2f}", [&](std::size_t run) {
    return outcomes[run].finished ? outcomes[run].wallSeconds : std::nan("");
  });
  // events/s as formatRate writes it, of the column's mean rate.
  std::vector<std::string> rate;
  for (const Column& c : columns) {
    const sim::Spread spread = sim::spreadOf(valuesOf(c, [&](std::size_t run) {
      const double events = summaryValue(outcomes[run], "events");
      const double wall = outcomes[run].wallSeconds;
      return events > 0 && wall > 0 ? events / wall : std::nan("");
    }));
    rate.push_back(spread.n == 0 ? "-" : formatRate(spread.mean));
  }
  rows.emplace_back("events/s", std::move(rate));
  std::vector<std::string> headers;
  for (const Column& c : columns) headers.push_back(c.label);
  printGrid(headers, rows);
}

// The column --baseline names; the caller checked that there is one.
const Column& baselineColumn(const std::vector<Column>& columns, const std::string& label) {
  return *std::find_if(columns.begin(), columns.end(),
                       [&](const Column& c) { return c.label == label; });
}

// --baseline's table: each other column's difference from the baseline,
// paired by seed (sim::pairedDifferenceOf), as "+mean ± half-width", with a
// `*` where the 95% interval leaves out 0. No wall time: it is not the
// policies' doing.
void printDifferences(const std::vector<Run>& runs, const std::vector<Outcome>& outcomes,
                      const std::vector<std::string>& dims, const std::string& baseline) {
  const std::vector<Column> columns = columnsOf(runs);
  const Column& base = baselineColumn(columns, baseline);
  std::vector<std::string> headers;
  for (const Column& c : columns) {
    if (&c != &base) headers.push_back(c.label);
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  for (const MetricRow& r : metricRows(outcomes, dims)) {
    const auto valueOf = [&](std::size_t run) {
      return r.scale * summaryValue(outcomes[run], r.key);
    };
    const std::vector<double> baseValues = valuesOf(base, valueOf);
    std::vector<std::string> cells;
    for (const Column& c : columns) {
      if (&c == &base) continue;
      const sim::Spread d = sim::pairedDifferenceOf(baseValues, valuesOf(c, valueOf));
      std::string text = spreadText(d, r.format, true);
      if (d.n >= 2 && std::abs(d.mean) > d.halfWidth95) text += " *";
      cells.push_back(std::move(text));
    }
    rows.emplace_back(r.label, std::move(cells));
  }
  printGrid(headers, rows);
}

nlohmann::json jsonNumber(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

nlohmann::json spreadJson(const sim::Spread& spread) {
  return {{"mean", jsonNumber(spread.mean)},
          {"ci95", jsonNumber(spread.halfWidth95)},
          {"min", jsonNumber(spread.min)},
          {"max", jsonNumber(spread.max)},
          {"n", spread.n}};
}

// The summary keys some run of the columns has, sorted.
std::vector<std::string> summaryKeys(std::span<const Column* const> columns,
                                     const std::vector<Outcome>& outcomes) {
  std::vector<std::string> keys;
  for (const Column* c : columns) {
    for (std::size_t run : c->runs) {
      for (const auto& [key, value] : outcomes[run].summary) keys.push_back(key);
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// --json with --seeds: per column, its runs' labels and each summary metric's
// spread over them.
nlohmann::json columnsJson(const std::vector<Run>& runs, const std::vector<Outcome>& outcomes) {
  nlohmann::json columns = nlohmann::json::array();
  for (const Column& c : columnsOf(runs)) {
    nlohmann::json j;
    j["label"] = c.label;
    std::vector<std::string> labels;
    for (std::size_t run : c.runs) labels.push_back(runs[run].label);
    j["runs"] = labels;
    nlohmann::json metrics = nlohmann::json::object();
    const Column* self[] = {&c};
    for (const std::string& key : summaryKeys(self, outcomes)) {
      metrics[key] = spreadJson(sim::spreadOf(
          valuesOf(c, [&](std::size_t run) { return summaryValue(outcomes[run], key); })));
    }
    j["summary"] = metrics;
    columns.push_back(std::move(j));
  }
  return columns;
}

// --json with --baseline: each other column's difference from it, paired by
// seed, per summary metric some run of the two has: the spread of the
// differences and `relative`, their mean over the baseline's mean.
nlohmann::json differencesJson(const std::vector<Run>& runs, const std::vector<Outcome>& outcomes,
                               const std::string& baseline) {
  const std::vector<Column> columns = columnsOf(runs);
  const Column& base = baselineColumn(columns, baseline);
  nlohmann::json j;
  j["baseline"] = baseline;
  j["columns"] = nlohmann::json::array();
  for (const Column& c : columns) {
    if (&c == &base) continue;
    nlohmann::json metrics = nlohmann::json::object();
    const Column* pair[] = {&base, &c};
    for (const std::string& key : summaryKeys(pair, outcomes)) {
      const auto valueOf = [&](std::size_t run) { return summaryValue(outcomes[run], key); };
      const std::vector<double> baseValues = valuesOf(base, valueOf);
      const sim::Spread d = sim::pairedDifferenceOf(baseValues, valuesOf(c, valueOf));
      metrics[key] = spreadJson(d);
      metrics[key]["relative"] = jsonNumber(d.mean / sim::spreadOf(baseValues).mean);
    }
    j["columns"].push_back({{"label", c.label}, {"summary", std::move(metrics)}});
  }
  return j;
}

}  // namespace

void addSimCommand(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "sim", "Replay a workload against allocation policies and compare the results");
  cmd->add_option("trace", args->trace,
                  "Workload: an allot .h5 store or a raw trace (see `allot trace formats`)")
      ->required();
  args->reader.add(cmd);
  cmd->add_option("--policy,-p", args->policies,
                  "Policy to run (repeatable; see `allot policies`), or POLICY:name=value,... with "
                  "parameters of its own (they win over --param), e.g. -p sparrow:probe_ratio=1 -p "
                  "sparrow:probe_ratio=4. The text is the run's label. Default: drf");
  cmd->add_option("--param", args->params,
                  "Policy parameter name=value for every chosen policy that has it, or "
                  "POLICY:name=value (repeatable)");
  cmd->add_option("--seed", args->seed, "Seed of the run, given to each policy's `seed`")
      ->check(seedFlag())
      ->capture_default_str();
  cmd->add_option("--seeds", args->seeds,
                  "Runs per policy, with seeds --seed, --seed + 1, ...: the table shows each "
                  "metric's mean and the half-width of its 95% confidence interval (Student's "
                  "t); results and --json keep every run, labelled POLICY@SEED. A policy whose "
                  "run no seed changes (no `seed` parameter and no --mtbf) runs once")
      ->check(wholeNumberFlag(1, 10000))
      ->capture_default_str();
  cmd->add_option("--baseline", args->baseline,
                  "Also show each policy's difference from this one (its label in the table: "
                  "drf, drf#2, sparrow:probe_ratio=1, history), paired by seed: the mean of its "
                  "value minus the baseline's over the seeds and that mean's 95% interval, "
                  "marked * when the interval leaves out 0. The runs of a seed share its "
                  "--mtbf failures: what those do alike to both cancels out of their difference")
      ->type_name("POLICY");
  cmd->add_option("-o,--output", args->output,
                  "HDF5 result file (one run group per policy and seed; overwritten)");
  cmd->add_flag("--json", args->json, "Print the summaries as JSON instead of a table");
  cmd->add_option("-j,--jobs", args->jobs, "Runs simulated at once, in separate processes")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--frameworks", args->grouping,
                  "Simulated frameworks: one per user (and role), role, job, or a single one")
      ->check(CLI::IsMember({"user", "role", "job", "single"}))
      ->capture_default_str();
  cmd->add_option("--queue", args->queue,
                  "How frameworks walk pending work: fcfs (the head blocks the rest) or "
                  "first-fit (skip what does not fit)")
      ->check(CLI::IsMember({"fcfs", "first-fit"}))
      ->capture_default_str();
  cmd->add_flag("--hold-offers", args->holdOffers,
                "Frameworks keep every offer until they launch in it or it is rescinded "
                "(--offer-timeout) instead of declining what they cannot use yet: gang "
                "schedulers; with --frameworks single --queue fcfs, a classic FCFS queue");
  cmd->add_option("--interval", args->interval, "Allocation interval in seconds")
      ->check(secondsFlag(1e-6, kMaxSeconds))
      ->capture_default_str();
  cmd->add_option("--latency", args->latency, "Frameworks' decision latency in seconds")
      ->check(secondsFlag(0, kMaxSeconds))
      ->capture_default_str();
  cmd->add_option("--offer-timeout", args->offerTimeout,
                  "Rescind offers held longer than this many seconds (0: never)")
      ->check(secondsFlag(0, kMaxSeconds))
      ->capture_default_str();
  cmd->add_option("--refuse-seconds", args->refuseSeconds,
                  "Decline filter in seconds (Mesos' default is 5). Default: until the agent's "
                  "free resources grow or the framework revives")
      ->check(secondsFlag(0));
  cmd->add_option("--sample-interval", args->sampleInterval,
                  "Time-series sampling interval in seconds (0: about 5,000 samples over the "
                  "trace's submissions, or up to --stop-at; a run that outgrows 100,000 samples "
                  "keeps every other one and doubles it)")
      ->check(secondsFlag(0, kMaxSeconds))
      ->capture_default_str();
  cmd->add_option("--max-attempts", args->maxAttempts,
                  "A job fails once a task record has been lost this many times (0: retry "
                  "forever)")
      ->check(wholeNumberFlag(0, kMaxUint32))
      ->capture_default_str();
  auto* mtbf = cmd->add_option(
      "--mtbf", args->mtbf,
      "Inject machine failures: each machine, while up, fails after an exponential time of this "
      "mean (e.g. 30d, 12h, or seconds), losing its running tasks (resubmitted, see "
      "--max-attempts) and offers, and is back after --mttr. Drawn from --seed, per machine: "
      "every policy sees the same failures. Default: none beyond the trace's own");
  mtbf->type_name("DURATION");
  cmd->add_option("--mttr", args->mttr,
                  "Mean time to repair an injected failure (exponential), with --mtbf. Default: 1h")
      ->type_name("DURATION")
      ->needs(mtbf);
  cmd->add_option("--launches-per-offer", args->launchesPerOffer,
                  "Instances a framework launches in one offer at most (0: all that fit; 1: "
                  "progressive filling)")
      ->check(wholeNumberFlag(0, kMaxUint32))
      ->capture_default_str();
  cmd->add_option("--demand", args->demandWindow,
                  "Frameworks publish their first N pending instances (shape, count, gang, "
                  "wait, estimate); policies stop offering to a framework once a round's "
                  "offers cover them, and task-placing policies place them (0: off). Default: "
                  "what each policy needs (`allot policies`), 0 for drf, fifo, random")
      ->check(wholeNumberFlag(0, kMaxUint32));
  cmd->add_flag("--exact-estimates", args->exactEstimates,
                "Frameworks publish each task's actual run time as its estimate (perfect user "
                "estimates) instead of the trace's own (SWF requested time; none elsewhere)");
  cmd->add_option(
         "--stop-at", args->stopAt,
         "Stop at this simulated time: seconds from the trace's own time 0, which may "
         "come days before its first submission (`allot trace inspect` shows when). The run "
         "ends there: its end, utilization and samples count the time up to it")
      ->check(secondsFlag(0));
  cmd->add_option("--weight", args->weights,
                  "Role weight ROLE=W (repeatable): weighted DRF divides the role's share by W. "
                  "Roles are the trace's (SWF queue numbers, the synthetic presets' roles), '*' "
                  "with --frameworks single")
      ->type_name("ROLE=W");
  cmd->add_option("--guarantee", args->guarantees,
                  "Role quota guarantee ROLE=RESOURCES (repeatable), e.g. '1=cpus:64': offered "
                  "to the role first, and kept from others while unmet")
      ->type_name("ROLE=RES");
  cmd->add_option("--limit", args->limits,
                  "Role quota limit ROLE=RESOURCES (repeatable), e.g. '2=cpus:32;mem:65536': the "
                  "most the role holds")
      ->type_name("ROLE=RES");
  cmd->add_option("--event-log", args->eventLog,
                  "Write every simulator event, stamped with simulated time, to this file "
                  "(FILE.LABEL with several policies)");
  cmd->add_option("--swf", args->swfDir,
                  "Write each run's schedule as an SWF log, DIR/LABEL.swf (DIR is made if "
                  "missing): every job's wait, run time and status as the run had them, for "
                  "the Parallel Workloads Archive's tools and other simulators. For SWF-shaped "
                  "workloads (SWF logs, hpc-like); others are refused before any run")
      ->type_name("DIR");
  cmd->add_flag("--history", args->history,
                "Add a column 'history': the schedule the trace itself records (its own start and "
                "end of each task), measured as the runs are, to compare the policies with what "
                "happened (a job counts as finished when the trace records all its tasks' starts "
                "and ends)");
  cmd->footer(
      "Examples:\n"
      "  allot sim ../shared/traces/swf/KTH-SP2-1996-2.1-cln.swf.gz -p fifo -p drf -p random\n"
      "  allot sim kth.h5 -p fifo --frameworks single --queue fcfs --hold-offers   # classic FCFS\n"
      "  allot sim google.h5 -p drf -p fifo -j 2 -o results.h5 --json\n"
      "  allot sim ../shared/traces/alibaba2017 --cluster '1300*cpus:64;mem:1'   # no machine "
      "table\n"
      "  allot sim kth.h5 -p easy -p fifo --history   # against the log's own schedule\n"
      "  allot sim kth.h5 -p drf -p random --seeds 10 -j 2   # means and 95% intervals\n"
      "  allot sim kth.h5 -p drf -p random --seeds 10 --mtbf 30d --baseline drf\n"
      "  allot sim kth.h5 -p easy -p sparrow:probe_ratio=1 -p sparrow:probe_ratio=4\n"
      "Results (-o) hold per-job and per-task records, time series and the summary of each\n"
      "run, with the configuration and the allot version. Same inputs and seed, same bytes.");
  cmd->callback([args] {
    if (args->policies.empty()) args->policies.push_back("drf");
    const sim::Config config = makeConfig(*args);
    const std::vector<Run> columns = makeRuns(*args);
    std::vector<Run> runs = withSeeds(columns, *args, config);
    if (!args->baseline.empty()) {
      std::vector<std::string> labels;
      for (const Run& c : columns) labels.push_back(c.label);
      if (args->history) labels.push_back("history");
      if (std::find(labels.begin(), labels.end(), args->baseline) == labels.end()) {
        throw InvalidArgument(fmt::format("--baseline {}: no such column; the columns are {}",
                                          args->baseline, fmt::join(labels, ", ")));
      }
      if (labels.size() < 2) {
        throw InvalidArgument(fmt::format(
            "--baseline {}: there is no other column to compare with it", args->baseline));
      }
    }
    if (args->history && !args->reader.cluster.empty()) {
      throw InvalidArgument(
          "--history compares with the schedule the trace records on its own machines; it "
          "cannot go with --cluster, which replaces them");
    }
    refuseOverwritingInput(args->output, "-o", args->trace, args->reader);
    if (!args->eventLog.empty()) {
      for (std::size_t i = 0; i < runs.size(); ++i) {
        refuseOverwritingInput(eventLogPath(*args, runs, i), "--event-log", args->trace,
                               args->reader);
      }
    }
    traces::ReadReport report;
    const traces::Workload w = load(args->trace, args->reader, &report);
    if (const std::string why = sim::unreplayableReason(w, args->trace, sim::kCliSpelling);
        !why.empty()) {
      throw InvalidArgument(why);
    }
    for (const std::string& note : {traces::skippedLinesNote(w), traces::leftOutNote(w)}) {
      if (!note.empty()) std::cerr << "allot: note: " << args->trace << ": " << note << "\n";
    }
    for (const std::string& d : sim::ignoredDimensions(w)) {
      std::cerr << "allot: note: tasks ask for '" << d
                << "' but no machine has any; it is left out of placement\n";
    }
    if (const std::string warning = sim::stopBeforeWorkWarning(w, config, sim::kCliSpelling);
        !warning.empty()) {
      std::cerr << "allot: warning: " << warning << "\n";
    }
    printInertOptionNotes(w, config, columns);
    if (!args->swfDir.empty()) {
      if (const std::string why = traces::swfUnwritableReason(w); !why.empty()) {
        throw InvalidArgument("--swf " + args->swfDir + ": " + why);
      }
      std::error_code error;
      std::filesystem::create_directories(args->swfDir, error);
      if (error) {
        throw Error(
            fmt::format("--swf {}: cannot make the folder ({})", args->swfDir, error.message()));
      }
      std::vector<std::string> labels;
      for (const Run& run : runs) labels.push_back(run.label);
      if (args->history) labels.push_back("history");
      for (const std::string& label : labels) {
        refuseOverwritingInput(swfPathOf(*args, label), "--swf", args->trace, args->reader);
      }
    }

    // The trace's own schedule, before the runs: it takes a fraction of a
    // second, and a trace without one is refused before minutes of runs.
    std::optional<sim::Result> history;
    double historySeconds = 0;
    if (args->history) {
      const auto start = std::chrono::steady_clock::now();
      history = sim::historyResult(w, config.stopAt, config.sampleInterval);
      historySeconds = secondsSince(start);
      for (const std::string& d : w.dims->names()) {
        const auto u = history->summary.find("utilization_" + d);
        if (u == history->summary.end() || u->second <= 1.0) continue;
        std::cerr << fmt::format(
            "allot: note: history: the trace's recorded tasks held {:.1f}% of the machines' {} "
            "(their requests, over the trace's own span): its scheduler overcommitted, which a "
            "replay does not\n",
            100 * u->second, d);
      }
    }

    namespace fs = std::filesystem;
    const bool keep = !args->output.empty();
    // Child processes hand their results over in part files beside the output.
    const std::string partBase =
        keep ? args->output
             : (fs::temp_directory_path() / fmt::format("allot-sim-{}", getpid())).string();
    Runs ran;
    std::size_t finished = 0;
    {
      const HeldSignals held;
      std::unique_ptr<sim::ResultFile> file;
      if (keep)
        file = std::make_unique<sim::ResultFile>(args->output, configJson(*args, config, w).dump());
      ran = runAll(w, runs, config, file.get(), partBase, args->jobs, *args, held);
      if (history && ran.signal == 0) {
        Outcome& out = ran.outcomes.emplace_back();
        out.wallSeconds = historySeconds;
        out.summary = history->summary;
        out.finished = true;
        Run& run = runs.emplace_back();
        run.label = run.policy = run.column = "history";
        run.history = true;
        if (file) file->write("history", *history, paramsJson(runs.back()).dump());
        if (const std::string path = swfPathOf(*args, run.label); !path.empty()) {
          try {
            writeSchedule(path, w, run, *history);
          } catch (const std::exception& e) {
            out.error = e.what();
          }
        }
      }
      finished = static_cast<std::size_t>(std::count_if(
          ran.outcomes.begin(), ran.outcomes.end(), [](const Outcome& o) { return o.finished; }));
      if (file && finished == 0) {
        file->discard();  // no run to read: the output keeps what it held
      } else if (file) {
        file->commit();
      }
    }
    std::vector<Outcome>& outcomes = ran.outcomes;
    if (ran.signal != 0) {
      std::string where;
      if (keep && finished > 0) {
        where = fmt::format("; they are in {}", args->output);
      } else if (keep) {
        where = fmt::format("; {} not written", args->output);
      }
      interruptedExit(ran.signal,
                      fmt::format("{} of {} runs finished{}", finished, runs.size(), where));
    }

    bool failed = false;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (!outcomes[i].error.empty()) {
        std::cerr << "allot: " << runs[i].label << ": " << outcomes[i].error << "\n";
        failed = true;
      }
    }
    // A run cut short is warned of; of a policy's runs (--seeds), the first
    // one, naming how many more were.
    for (const Column& column : columnsOf(runs)) {
      std::vector<std::size_t> cut;
      std::string first;
      for (std::size_t i : column.runs) {
        std::string warning =
            sim::cutShortWarning(outcomes[i].summary, sim::kCliSpelling, config.holdOffers);
        if (warning.empty()) continue;
        if (cut.empty()) first = std::move(warning);
        cut.push_back(i);
      }
      if (cut.empty()) continue;
      const std::string more = cut.size() == 1 ? ""
                                               : fmt::format(" (so did {} more of its {} runs)",
                                                             cut.size() - 1, column.runs.size());
      std::cerr << "allot: warning: " << runs[cut.front()].label << ": " << first << more << "\n";
    }
    std::vector<std::string> dims = w.dims->names();
    if (args->json) {
      nlohmann::json j;
      j["trace"] = args->trace;
      j["config"] = configJson(*args, config, w);
      j["jobs"] = w.jobs.size();
      j["machines"] = w.machines.size();
      for (std::size_t i = 0; i < runs.size(); ++i) {
        nlohmann::json r;
        r["label"] = runs[i].label;
        r["policy"] = runs[i].policy;
        r["column"] = runs[i].column;
        r["seed"] = runs[i].history ? nlohmann::json() : nlohmann::json(runs[i].seed);
        r["params"] = paramsJson(runs[i]);
        r["wall_s"] = outcomes[i].wallSeconds;
        nlohmann::json s = nlohmann::json::object();
        for (const auto& [k, v] : outcomes[i].summary) s[k] = jsonNumber(v);
        r["summary"] = s;
        auto ev = outcomes[i].summary.find("events");
        r["events_per_s"] = ev != outcomes[i].summary.end() && outcomes[i].wallSeconds > 0
                                ? nlohmann::json(ev->second / outcomes[i].wallSeconds)
                                : nlohmann::json();
        if (!outcomes[i].error.empty()) r["error"] = outcomes[i].error;
        j["runs"].push_back(r);
      }
      if (args->seeds > 1) j["columns"] = columnsJson(runs, outcomes);
      if (!args->baseline.empty())
        j["differences"] = differencesJson(runs, outcomes, args->baseline);
      if (keep) j["output"] = args->output;
      std::cout << j.dump(2) << "\n";
    } else {
      const std::string failures =
          config.meanTimeBetweenFailures > Duration::zero()
              ? fmt::format(", a failure per machine every {} on average (repair {})",
                            formatSpan(toMicros(config.meanTimeBetweenFailures)),
                            formatSpan(toMicros(config.meanTimeToRepair)))
              : "";
      const std::string seeds =
          args->seeds > 1
              ? fmt::format(
                    "\n{} runs per policy, seeds {} to {}: each cell is the mean ± the half-width "
                    "of its 95% confidence interval (Student's t)",
                    args->seeds, args->seed, args->seed + args->seeds - 1)
              : "";
      // The load offered, per dimension that has one: what --load-factor scales.
      std::string load;
      const std::vector<double> offered = traces::offeredLoad(w);
      for (int d = 0; d < w.dims->size(); ++d) {
        const double x = offered[static_cast<std::size_t>(d)];
        if (std::isnan(x) || x == 0) continue;
        load += fmt::format("{} {} {:.1f}%", load.empty() ? ", offered load" : ",", w.dims->name(d),
                            100 * x);
      }
      std::cout << fmt::format("{}: {} jobs, {} machines{}, {}, queue {}{}{}\n\n", args->trace,
                               w.jobs.size(), w.machines.size(), load,
                               args->grouping == "single" ? std::string("a single framework")
                                                          : "frameworks per " + args->grouping,
                               args->queue, failures, seeds);
      printTable(runs, outcomes, dims);
      if (!args->baseline.empty()) {
        std::cout << fmt::format(
            "\ndifference from {}{}: * where the 95% interval leaves out 0{}\n\n", args->baseline,
            args->seeds > 1 ? ", paired by seed (mean ± half-width)" : "",
            args->seeds > 1 ? "" : " (one run each: no interval; see --seeds)");
        printDifferences(runs, outcomes, dims, args->baseline);
      }
      if (keep) std::cout << "\nresults written to " << args->output << "\n";
    }
    if (failed) throw Error("some simulations failed");
  });
}

}  // namespace allot::cli
