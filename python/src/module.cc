// The _allot extension: loading workloads, the policy registry and
// sim::simulate. Bindings only; the Python API (DataFrames, seconds,
// checks of config keys) is the pure-Python package python/allot/.

#include <fmt/format.h>
#include <pybind11/stl.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "allot/core/error.h"
#include "allot/sim/history.h"
#include "allot/sim/result_file.h"
#include "allot/sim/simulator.h"
#include "allot/traces/load.h"
#include "allot/traces/summary.h"
#include "allot/traces/swf_writer.h"
#include "allot/traces/synthetic.h"
#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;

// Python classes of allot's exceptions. Leaked on purpose: the module keeps
// them alive, and static py::objects would be released after Python is gone.
PyObject* errorType = nullptr;
PyObject* parseErrorType = nullptr;
PyObject* notFoundType = nullptr;
PyObject* invalidArgumentType = nullptr;

PyObject* newException(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  PyObject* type =
      PyErr_NewExceptionWithDoc((std::string("allot.") + name).c_str(), doc, bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.attr(name) = py::reinterpret_borrow<py::object>(type);
  return type;
}

void bindExceptions(py::module_& m) {
  errorType = newException(m, "Error", py::make_tuple(py::handle(PyExc_Exception)),
                           "Base of the errors allot raises; the message names the place.");
  const py::handle error(errorType);
  parseErrorType =
      newException(m, "ParseError", py::make_tuple(error, py::handle(PyExc_ValueError)),
                   "Text that does not follow a documented syntax.");
  notFoundType = newException(m, "NotFound", py::make_tuple(error, py::handle(PyExc_LookupError)),
                              "A name allot does not know (policy, format, role).");
  invalidArgumentType =
      newException(m, "InvalidArgument", py::make_tuple(error, py::handle(PyExc_ValueError)),
                   "A well-formed request that is not allowed (bad parameter or config).");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ParseError& e) {
      PyErr_SetString(parseErrorType, e.what());
    } catch (const NotFound& e) {
      PyErr_SetString(notFoundType, e.what());
    } catch (const InvalidArgument& e) {
      PyErr_SetString(invalidArgumentType, e.what());
    } catch (const Error& e) {
      PyErr_SetString(errorType, e.what());
    }
  });
}

// A loaded workload. Shared, so that a simulation running without the GIL
// keeps it alive whatever Python does meanwhile.
struct WorkloadHandle {
  std::shared_ptr<const traces::Workload> workload;
  std::string source;  // path, or a description of a synthetic workload
};

// A spread over runs (sim::Spread) as Python reads it.
py::dict spreadDict(const sim::Spread& s) {
  return py::dict("mean"_a = s.mean, "ci95"_a = s.halfWidth95, "min"_a = s.min, "max"_a = s.max,
                  "n"_a = s.n);
}

WorkloadHandle loadWorkload(const std::string& path, const std::string& format, bool skipBad,
                            const std::string& machinesFile, const std::string& cluster,
                            std::optional<double> loadFactor) {
  traces::ReadOptions options;
  options.skipBad = skipBad;
  options.machinesFile = machinesFile;
  // Checked before the read, which may take a while.
  std::optional<traces::UniformCluster> machines;
  if (!cluster.empty()) machines = traces::parseUniformCluster(cluster);
  std::shared_ptr<traces::Workload> w;
  {
    py::gil_scoped_release release;
    w = std::make_shared<traces::Workload>(traces::loadWorkload(path, format, options));
    if (machines) traces::useUniformCluster(*w, *machines);
    if (loadFactor) traces::scaleLoad(*w, *loadFactor);
  }
  return {std::move(w), path};
}

// A length or rate the caller set: above 0, as the options' own 0 means
// "unset" and would quietly fall back to the preset.
double positive(const char* name, double value) {
  if (!(value > 0)) {
    std::ostringstream text;
    text << name << " must be above 0, got " << value;
    throw InvalidArgument(text.str());
  }
  return value;
}

WorkloadHandle syntheticWorkload(const std::string& preset, std::uint64_t seed,
                                 std::uint32_t machines, std::uint64_t maxJobs,
                                 std::uint64_t maxTasks, std::optional<double> horizon,
                                 std::optional<double> load, std::optional<double> jobsPerHour) {
  traces::SyntheticOptions options = traces::syntheticPreset(preset);
  options.seed = seed;
  if (machines != 0) options.machines = machines;
  options.maxJobs = maxJobs;
  options.maxTasks = maxTasks;
  if (horizon) options.horizon = secondsToDuration(positive("horizon", *horizon));
  if (load) options.load = positive("load", *load);
  if (jobsPerHour) options.jobsPerHour = positive("jobs_per_hour", *jobsPerHour);
  std::shared_ptr<traces::Workload> w;
  {
    py::gil_scoped_release release;
    w = std::make_shared<traces::Workload>(traces::generateWorkload(options));
  }
  return {std::move(w), "synthetic:" + preset + ":seed=" + std::to_string(seed)};
}

py::dict jobsTable(const WorkloadHandle& h) {
  const traces::Workload& w = *h.workload;
  const auto n = static_cast<py::ssize_t>(w.jobs.size());
  py::array_t<std::int64_t> traceId(n), submit(n);
  py::array_t<std::uint32_t> user(n), role(n), records(n);
  py::array_t<std::int32_t> priority(n);
  py::array_t<bool> gang(n);
  py::array_t<std::uint64_t> instances(n);
  py::list dependsOn;
  for (py::ssize_t i = 0; i < n; ++i) {
    const traces::Job& j = w.jobs[static_cast<std::size_t>(i)];
    traceId.mutable_at(i) = j.traceId;
    submit.mutable_at(i) = toMicros(j.submit);
    user.mutable_at(i) = j.user;
    role.mutable_at(i) = j.role;
    records.mutable_at(i) = j.taskCount;
    priority.mutable_at(i) = j.priority;
    gang.mutable_at(i) = j.gang;
    instances.mutable_at(i) = traces::instanceCount(w, j);
    dependsOn.append(py::cast(j.dependsOn));
  }
  return py::dict("trace_id"_a = traceId, "submit_us"_a = submit, "user"_a = user, "role"_a = role,
                  "priority"_a = priority, "gang"_a = gang, "task_records"_a = records,
                  "instances"_a = instances, "depends_on"_a = dependsOn);
}

py::array_t<double> machineCapacities(const WorkloadHandle& h) {
  const traces::Workload& w = *h.workload;
  const auto n = static_cast<py::ssize_t>(w.machines.size());
  const auto d = static_cast<py::ssize_t>(w.dims->size());
  py::array_t<double> out({n, d});
  for (py::ssize_t i = 0; i < n; ++i) {
    for (py::ssize_t k = 0; k < d; ++k) {
      out.mutable_at(i, k) = w.machines[static_cast<std::size_t>(i)].capacity[k];
    }
  }
  return out;
}

py::list builtinPolicyList() {
  py::list out;
  for (const PolicyInfo& info : builtinPolicies()) {
    py::list params;
    for (const ParamSpec& p : info.params) {
      params.append(py::dict("name"_a = p.name, "default"_a = p.defaultValue, "help"_a = p.help));
    }
    out.append(py::dict("name"_a = info.name, "summary"_a = info.summary, "demand"_a = info.demand,
                        "params"_a = params));
  }
  return out;
}

// Clears the policy's host when the run ends, however it ends.
struct DetachHost {
  py::object policy;
  ~DetachHost() {
    if (!policy) return;
    try {
      py::setattr(policy, "_allot_host", py::none());
    } catch (const py::error_already_set&) {  // a read-only attribute: the link is dead anyway
    }
  }
};

py::dict simulate(
    const WorkloadHandle& h, py::object policy, const std::map<std::string, std::string>& params,
    std::uint64_t seed, double allocationInterval, const std::string& frameworks,
    const std::string& queue, bool holdOffers, double decisionLatency, double offerTimeout,
    std::optional<double> refuseSeconds, double sampleInterval, std::uint32_t maxAttempts,
    std::optional<double> mtbf, std::optional<double> mttr, std::uint32_t launchesPerOffer,
    std::optional<std::uint32_t> demand, bool exactEstimates, std::optional<double> stopAt,
    const std::vector<std::tuple<std::string, double, std::string, std::string>>& roles,
    py::object note, py::object cancel) {
  // As `allot sim`: a run where every job is unschedulable, or none exists,
  // is no result.
  if (const std::string why = sim::unreplayableReason(*h.workload, h.source, sim::kPythonSpelling);
      !why.empty()) {
    throw InvalidArgument(why);
  }
  sim::Config config;
  config.seed = seed;
  config.allocationInterval = seconds("allocation_interval", allocationInterval, /*positive=*/true);
  config.grouping = sim::parseGrouping(frameworks);
  config.queue = sim::parseQueue(queue);
  config.holdOffers = holdOffers;
  config.decisionLatency = seconds("decision_latency", decisionLatency);
  config.offerTimeout = seconds("offer_timeout", offerTimeout);
  if (refuseSeconds) config.refuseFor = seconds("refuse_seconds", *refuseSeconds);
  config.sampleInterval = seconds("sample_interval", sampleInterval);
  config.maxAttempts = maxAttempts;
  if (mttr && !mtbf) {
    throw InvalidArgument("mttr has no effect without mtbf: no failures are injected");
  }
  if (mtbf) config.meanTimeBetweenFailures = seconds("mtbf", *mtbf, /*positive=*/true);
  if (mttr) config.meanTimeToRepair = seconds("mttr", *mttr, /*positive=*/true);
  config.launchesPerOffer = launchesPerOffer;
  config.exactEstimates = exactEstimates;
  if (stopAt) config.stopAt = fromMicros(0) + seconds("stop_at", *stopAt);
  for (const auto& [role, weight, guarantee, limit] : roles) {
    config.roles.push_back({role, weight, guarantee, limit});
  }

  Params p;
  for (const auto& [k, v] : params) p.set(k, v);
  std::unique_ptr<Allocator> allocator;
  DetachHost detach;
  // Without a demand window, each policy gets the one it needs.
  std::uint32_t need = 0;
  if (py::isinstance<py::str>(policy)) {
    const auto name = policy.cast<std::string>();
    allocator = makeAllocator(name, p);
    for (const PolicyInfo& info : builtinPolicies()) {
      if (info.name == name) need = info.demand;
    }
  } else {
    allocator = makePythonAllocator(policy, p);
    detach.policy = policy;
    if (py::hasattr(policy, "demand")) need = policy.attr("demand").cast<std::uint32_t>();
  }
  config.demandWindow = demand.value_or(need);

  // Lets Ctrl-C stop a long run: Python runs signal handlers only between
  // bytecodes, and none run here until the simulation returns. Signals reach
  // only the main thread: a run on another (compare's jobs) stops when
  // `cancel` (a threading.Event) is set. Passes inertOptionNotes to `note`
  // before the run, and offerChurnNote once while it is still going.
  sim::Hooks hooks;
  bool noted = note.is_none();
  hooks.progress = [&](const sim::Progress& progress) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!cancel.is_none() && cancel.attr("is_set")().cast<bool>()) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw py::error_already_set();
    }
    if (noted) return;
    const std::string text =
        sim::offerChurnNote(progress, config.demandWindow, sim::kPythonSpelling);
    if (text.empty()) return;
    noted = true;
    note(text);
  };
  std::shared_ptr<const traces::Workload> w = h.workload;
  if (!note.is_none()) {
    for (const std::string& text : sim::inertOptionNotes(*w, config, sim::kPythonSpelling)) {
      note(text);
    }
  }
  sim::Result result;
  {
    py::gil_scoped_release release;
    result = sim::simulate(*w, *allocator, config, hooks);
  }
  for (const auto& [k, v] : params) result.params[k] = v;
  return resultToPython(result);
}

}  // namespace

// Seconds to a Duration; negative or NaN values (and 0 where `positive`) are
// errors, not zero (secondsToDuration clamps them).
// As `allot sim`'s flags: finite (no flag takes inf), and not below 1 us
// (roundsToZero: 1e-9 would become 0, which means "automatic" or "off").
Duration seconds(const char* name, double value, bool positive) {
  if (std::isnan(value) || value < 0 || (positive && value == 0)) {
    throw InvalidArgument(fmt::format("{} must be a {} number of seconds, got {}", name,
                                      positive ? "positive" : "non-negative", value));
  }
  if (std::isinf(value)) {
    throw InvalidArgument(
        fmt::format("{} must be a finite number of seconds, got {}", name, value));
  }
  if (roundsToZero(value)) {
    throw InvalidArgument(
        fmt::format("{} = {} s is below allot's time resolution, 1 microsecond, and would become 0",
                    name, value));
  }
  return secondsToDuration(value);
}

std::optional<Resources> resourcesFromPython(py::handle value, const DimensionsPtr& dims) {
  if (py::isinstance<py::str>(value)) return Resources::parse(value.cast<std::string>(), dims);
  if (!py::isinstance<py::dict>(value)) return std::nullopt;
  Resources r(dims);
  for (auto [key, amount] : value.cast<py::dict>()) {
    if (!py::isinstance<py::str>(key)) {
      throw py::type_error("resource names must be text, got " + std::string(py::repr(key)));
    }
    const auto name = key.cast<std::string>();
    if (PyBool_Check(amount.ptr()) || py::isinstance<py::str>(amount) ||
        PyNumber_Check(amount.ptr()) == 0) {
      throw py::type_error("resource '" + name + "': the amount must be a number, got " +
                           std::string(py::repr(amount)));
    }
    r.setScalar(name, amount.cast<double>());
  }
  return r;
}

PYBIND11_MODULE(_allot, m) {
  m.doc() = "allot's simulator and policies (bindings; use the `allot` package)";
  m.attr("__version__") = std::string(sim::codeVersion());
  m.attr("MAX_SCALAR_DIMS") = kMaxScalarDims;
  // What a run with mtbf and no mttr uses, in seconds (sim::Config's default).
  m.attr("DEFAULT_MTTR") = toSeconds(sim::Config{}.meanTimeToRepair);
  bindExceptions(m);
  bindPolicyHost(m);
  bindMaster(m);
  bindScheduler(m);
  m.def(
      "set_log_level",
      [](const std::string& level) {
        const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
        if (parsed == spdlog::level::off && level != "off") {
          throw InvalidArgument("log level '" + level +
                                "': expected trace, debug, info, warning, error, critical or off");
        }
        spdlog::set_level(parsed);
      },
      py::arg("level"),
      "Sets the level below which the C++ parts in this process (allot.Master, "
      "allot.SchedulerDriver) write no log line: trace, debug, info (the default), warning, "
      "error, critical or off. One level for the whole process, as spdlog keeps it.");

  py::class_<WorkloadHandle>(m, "Workload", "A loaded workload (traces::Workload), opaque.")
      .def("__len__", [](const WorkloadHandle& h) { return h.workload->jobs.size(); })
      .def_property_readonly("jobs",
                             [](const WorkloadHandle& h) { return h.workload->jobs.size(); })
      .def_property_readonly("task_records",
                             [](const WorkloadHandle& h) { return h.workload->tasks.size(); })
      .def_property_readonly(
          "instances", [](const WorkloadHandle& h) { return traces::instanceCount(*h.workload); })
      .def_property_readonly("machines",
                             [](const WorkloadHandle& h) { return h.workload->machines.size(); })
      .def_property_readonly(
          "machine_events",
          [](const WorkloadHandle& h) { return h.workload->machineEvents.size(); })
      .def_property_readonly("dims",
                             [](const WorkloadHandle& h) { return h.workload->dims->names(); })
      .def_property_readonly("users", [](const WorkloadHandle& h) { return h.workload->users; })
      .def_property_readonly("roles", [](const WorkloadHandle& h) { return h.workload->roles; })
      .def_property_readonly("meta", [](const WorkloadHandle& h) { return h.workload->meta; })
      .def_property_readonly("source", [](const WorkloadHandle& h) { return h.source; })
      .def("jobs_table", &jobsTable,
           "Jobs as numpy columns: trace_id, submit_us, user, role, priority, gang, "
           "task_records, instances, depends_on.")
      .def("machine_capacities", &machineCapacities, "Machines x dims capacities.")
      .def_property_readonly(
          "offered_load",
          [](const WorkloadHandle& h) {
            const std::vector<double> load = traces::offeredLoad(*h.workload);
            std::map<std::string, double> out;
            for (int d = 0; d < h.workload->dims->size(); ++d) {
              out[h.workload->dims->name(d)] = load[static_cast<std::size_t>(d)];
            }
            return out;
          },
          "Per dimension, the load the workload offers: what its task instances ask for over "
          "their run times, over the machines' capacity for the span of the submissions (NaN "
          "without either), as `allot trace inspect` shows it.")
      .def(
          "with_load_factor",
          [](const WorkloadHandle& h, double factor) {
            std::shared_ptr<traces::Workload> w;
            {
              py::gil_scoped_release release;
              w = std::make_shared<traces::Workload>(*h.workload);
              traces::scaleLoad(*w, factor);
            }
            return WorkloadHandle{std::move(w), h.source};
          },
          "factor"_a,
          "A copy whose load is scaled by `factor` (traces::scaleLoad): every job's time since "
          "the first submission divided by it; meta['load_factor'] records it.")
      .def("__repr__", [](const WorkloadHandle& h) {
        const traces::Workload& w = *h.workload;
        return "<Workload " + h.source + ": " + std::to_string(w.jobs.size()) + " jobs, " +
               std::to_string(w.machines.size()) + " machines>";
      });

  m.def("load_workload", &loadWorkload, "path"_a, "format"_a = "auto", "skip_bad"_a = false,
        "machines_file"_a = "", "cluster"_a = "", "load_factor"_a = py::none(),
        "Loads an allot .h5 store or a raw trace (traces::loadWorkload), without the GIL; on "
        "`cluster`'s machines (\"N*RESOURCES\", traces::useUniformCluster) and with its load "
        "scaled by `load_factor` (traces::scaleLoad) when given.");
  m.def("synthetic_workload", &syntheticWorkload, "preset"_a = "hpc-like", "seed"_a = 1,
        "machines"_a = 0, "max_jobs"_a = 0, "max_tasks"_a = 0, "horizon"_a = py::none(),
        "load"_a = py::none(), "jobs_per_hour"_a = py::none(),
        "Generates a seeded synthetic workload from a preset (traces::generateWorkload).");
  m.def(
      "load_formats",
      [] {
        std::map<std::string, std::string> out;
        for (const traces::FormatInfo& f : traces::loadFormats()) out[f.name] = f.description;
        return out;
      },
      "Format names load_workload accepts, with descriptions.");
  m.def(
      "history",
      [](const WorkloadHandle& h, std::optional<double> stopAt, double sampleInterval) {
        const TimePoint stop = stopAt ? fromMicros(0) + seconds("stop_at", *stopAt) : kTimeNever;
        return resultToPython(
            sim::historyResult(*h.workload, stop, seconds("sample_interval", sampleInterval)));
      },
      "workload"_a, "stop_at"_a = py::none(), "sample_interval"_a = 0.0,
      "The schedule the trace records, as a simulate() result (sim::historyResult).");
  m.def(
      "write_swf",
      [](const std::string& path, const WorkloadHandle& h,
         std::optional<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>>
             firstStartUs,
         std::optional<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>> endUs,
         std::optional<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>> state,
         const std::vector<std::string>& notes) {
        const traces::Workload& w = *h.workload;
        traces::SwfWriteOptions options;
        options.notes = notes;
        std::vector<traces::SwfJobSchedule> schedule;
        if (firstStartUs || endUs || state) {
          if (!firstStartUs || !endUs || !state) {
            throw InvalidArgument("a schedule needs first_start_us, end_us and state together");
          }
          const std::size_t n = w.jobs.size();
          if (static_cast<std::size_t>(firstStartUs->size()) != n ||
              static_cast<std::size_t>(endUs->size()) != n ||
              static_cast<std::size_t>(state->size()) != n) {
            throw InvalidArgument(fmt::format(
                "the schedule has {} first starts, {} ends and {} states for a workload of {} jobs",
                firstStartUs->size(), endUs->size(), state->size(), n));
          }
          const auto start = firstStartUs->unchecked<1>();
          const auto end = endUs->unchecked<1>();
          const auto st = state->unchecked<1>();
          // -1 (never) as the result file and the Python results keep it.
          const auto time = [](std::int64_t us) { return us < 0 ? kTimeNever : fromMicros(us); };
          for (py::ssize_t j = 0; j < static_cast<py::ssize_t>(n); ++j) {
            if (st(j) < 0 || st(j) > static_cast<std::int64_t>(sim::JobState::kNotSubmitted)) {
              throw InvalidArgument(fmt::format("job {}: no such job state {}", j, st(j)));
            }
            schedule.push_back(sim::swfScheduleOf(static_cast<sim::JobState>(st(j)), time(start(j)),
                                                  time(end(j))));
          }
          options.schedule = schedule;
        }
        py::gil_scoped_release release;
        traces::writeSwfFile(path, w, options);
      },
      "path"_a, "workload"_a, "first_start_us"_a = py::none(), "end_us"_a = py::none(),
      "state"_a = py::none(), "notes"_a = std::vector<std::string>{},
      "Writes the workload as an SWF log (traces::writeSwfFile; gzip for .gz), with the "
      "schedule of a run when given (per job: first start and end in microseconds, -1 for "
      "never, and sim::JobState codes; sim::swfScheduleOf).");
  m.def(
      "skipped_lines_note",
      [](const WorkloadHandle& h) { return traces::skippedLinesNote(*h.workload); }, "workload"_a,
      "What a read with skip_bad left out (traces::skippedLinesNote); empty when nothing was.");
  m.def(
      "left_out_note", [](const WorkloadHandle& h) { return traces::leftOutNote(*h.workload); },
      "workload"_a,
      "Records the reader left out as not replayable (traces::leftOutNote); empty when none were.");
  m.def(
      "stop_before_work_warning",
      [](const WorkloadHandle& h, double stopAt) {
        sim::Config config;
        config.stopAt = fromMicros(0) + seconds("stop_at", stopAt);
        return sim::stopBeforeWorkWarning(*h.workload, config, sim::kPythonSpelling);
      },
      "workload"_a, "stop_at"_a,
      "The warning for a stop_at no later than the workload's first submission, in "
      "simulate()'s keywords (sim::stopBeforeWorkWarning); empty otherwise.");
  m.def(
      "cut_short_warning",
      [](const std::map<std::string, double>& summary, bool holdOffers) {
        return sim::cutShortWarning(summary, sim::kPythonSpelling, holdOffers);
      },
      "summary"_a, "hold_offers"_a = false,
      "Why a run ended before its stop time with jobs unfinished, from its summary, naming "
      "simulate()'s keywords (sim::cutShortWarning); empty when it did not.");
  m.def(
      "parse_params", [](const std::string& text) { return Params::parse(text).values(); },
      "text"_a,
      "Policy parameters 'a=1,b=x' as a dict (Params::parse, as `allot sim -p POLICY:a=1,b=x` "
      "reads them); raises ParseError naming a bad item.");
  m.def(
      "spread_of",
      [](const std::vector<double>& values) { return spreadDict(sim::spreadOf(values)); },
      "values"_a,
      "Mean, half-width of the mean's 95% confidence interval (Student's t), min, max and "
      "count of the finite values (sim::spreadOf); NaN where there are too few.");
  m.def(
      "paired_difference_of",
      [](const std::vector<double>& baseline, const std::vector<double>& other) {
        return spreadDict(sim::pairedDifferenceOf(baseline, other));
      },
      "baseline"_a, "other"_a,
      "The spread of other minus baseline, paired by seed (sim::pairedDifferenceOf): one "
      "value on either side pairs with each of the other's; raises ValueError when the two "
      "have different numbers of values and neither has one.");
  m.def(
      "check_policy",
      [](const std::string& name, const std::map<std::string, std::string>& params) {
        Params p;
        for (const auto& [k, v] : params) p.set(k, v);
        (void)makeAllocator(name, p);
      },
      "name"_a, "params"_a,
      "Builds the registered policy `name` with `params` and discards it: raises what "
      "simulate would for an unknown name or a bad parameter, without a run.");
  m.def("builtin_policies", &builtinPolicyList,
        "The registered policies: name, summary and params (name, default, help).");
  m.def("simulate", &simulate, "workload"_a, "policy"_a, "params"_a, py::kw_only(), "seed"_a = 0,
        "allocation_interval"_a = 1.0, "frameworks"_a = "user", "queue"_a = "first-fit",
        "hold_offers"_a = false, "decision_latency"_a = 0.0, "offer_timeout"_a = 0.0,
        "refuse_seconds"_a = py::none(), "sample_interval"_a = 0.0, "max_attempts"_a = 0,
        "mtbf"_a = py::none(), "mttr"_a = py::none(), "launches_per_offer"_a = 0,
        "demand"_a = py::none(), "exact_estimates"_a = false, "stop_at"_a = py::none(),
        "roles"_a = std::vector<std::tuple<std::string, double, std::string, std::string>>{},
        "note"_a = py::none(), "cancel"_a = py::none(),
        "Runs sim::simulate without the GIL. `policy` is a registered name or an object with "
        "`name` and `decide(now_us)`. Times in seconds. `note`, when given, is called once "
        "with sim::offerChurnNote's text when the run has one. `roles`: (role, weight, "
        "guarantee, limit) tuples (sim::RoleSetting). The run raises "
        "KeyboardInterrupt soon after `cancel` (a threading.Event) is set. Returns the Result "
        "as numpy columns.");
}

}  // namespace allot::python
