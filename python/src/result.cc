// sim::Result as numpy columns, named as in the HDF5 result file
// (result_file.h): times in microseconds, -1 for "never", states as numbers.
// The pure-Python package turns them into DataFrames.

#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;

template <class T, class Record, class Get>
py::array_t<T> column(const std::vector<Record>& records, Get get) {
  py::array_t<T> out(static_cast<py::ssize_t>(records.size()));
  T* data = out.mutable_data();
  for (const Record& r : records) *data++ = static_cast<T>(get(r));
  return out;
}

template <class T>
py::array_t<T> array(const std::vector<T>& values) {
  py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
  std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

std::int64_t micros(TimePoint t) {
  return t == kTimeNever ? -1 : toMicros(t);
}

// Samples x `width` from a flat vector with `stride` values per sample.
py::array_t<double> matrix(const std::vector<double>& flat, std::size_t samples, std::size_t stride,
                           std::size_t width) {
  if (flat.size() < samples * stride || width > stride) {
    throw std::logic_error("time series of the result has an unexpected size");
  }
  py::array_t<double> out({static_cast<py::ssize_t>(samples), static_cast<py::ssize_t>(width)});
  double* data = out.mutable_data();
  for (std::size_t i = 0; i < samples; ++i) {
    for (std::size_t k = 0; k < width; ++k) *data++ = flat[i * stride + k];
  }
  return out;
}

}  // namespace

py::dict resultToPython(const sim::Result& r) {
  py::dict jobs(
      "job"_a = column<std::uint32_t>(r.jobs, [](const sim::JobRecord& j) { return j.job; }),
      "trace_id"_a =
          column<std::int64_t>(r.jobs, [](const sim::JobRecord& j) { return j.traceId; }),
      "user"_a = column<std::uint32_t>(r.jobs, [](const sim::JobRecord& j) { return j.user; }),
      "role"_a = column<std::uint32_t>(r.jobs, [](const sim::JobRecord& j) { return j.role; }),
      "framework"_a =
          column<std::uint32_t>(r.jobs, [](const sim::JobRecord& j) { return j.framework; }),
      "submit_us"_a =
          column<std::int64_t>(r.jobs, [](const sim::JobRecord& j) { return micros(j.submit); }),
      "ready_us"_a =
          column<std::int64_t>(r.jobs, [](const sim::JobRecord& j) { return micros(j.ready); }),
      "first_start_us"_a = column<std::int64_t>(
          r.jobs, [](const sim::JobRecord& j) { return micros(j.firstStart); }),
      "end_us"_a =
          column<std::int64_t>(r.jobs, [](const sim::JobRecord& j) { return micros(j.end); }),
      "work_us"_a =
          column<std::int64_t>(r.jobs, [](const sim::JobRecord& j) { return toMicros(j.work); }),
      "instances"_a =
          column<std::uint64_t>(r.jobs, [](const sim::JobRecord& j) { return j.instances; }),
      "lost_instances"_a =
          column<std::uint32_t>(r.jobs, [](const sim::JobRecord& j) { return j.lostInstances; }),
      "state"_a = column<std::uint8_t>(r.jobs, [](const sim::JobRecord& j) { return j.state; }));

  py::dict tasks(
      "job"_a = column<std::uint32_t>(r.tasks, [](const sim::TaskRecord& t) { return t.job; }),
      "task"_a = column<std::uint32_t>(r.tasks, [](const sim::TaskRecord& t) { return t.task; }),
      "count"_a = column<std::uint32_t>(r.tasks, [](const sim::TaskRecord& t) { return t.count; }),
      "machine"_a =
          column<std::uint32_t>(r.tasks, [](const sim::TaskRecord& t) { return t.machine; }),
      "attempt"_a =
          column<std::uint32_t>(r.tasks, [](const sim::TaskRecord& t) { return t.attempt; }),
      "ready_us"_a =
          column<std::int64_t>(r.tasks, [](const sim::TaskRecord& t) { return micros(t.ready); }),
      "start_us"_a =
          column<std::int64_t>(r.tasks, [](const sim::TaskRecord& t) { return micros(t.start); }),
      "end_us"_a =
          column<std::int64_t>(r.tasks, [](const sim::TaskRecord& t) { return micros(t.end); }),
      "state"_a = column<std::uint8_t>(r.tasks, [](const sim::TaskRecord& t) { return t.state; }));

  const sim::TimeSeries& s = r.series;
  const std::size_t samples = s.timeUs.size();
  const std::size_t dims = r.dimensions.size();
  const std::size_t roles = r.roles.size();
  py::dict series("interval_us"_a = toMicros(s.interval), "time_us"_a = array(s.timeUs),
                  "used"_a = matrix(s.used, samples, kMaxScalarDims, dims),
                  "allocated"_a = matrix(s.allocated, samples, kMaxScalarDims, dims),
                  "total"_a = matrix(s.total, samples, kMaxScalarDims, dims),
                  "pending"_a = array(s.pendingInstances), "running"_a = array(s.runningInstances),
                  "offers"_a = array(s.outstandingOffers),
                  "role_share"_a = matrix(s.roleShare, samples, roles, roles),
                  "jain"_a = array(s.jain));

  const sim::Counters& c = r.counters;
  py::dict counters(
      "events"_a = c.events, "rounds"_a = c.rounds, "offers"_a = c.offers,
      "declines"_a = c.declines, "rescinds"_a = c.rescinds, "launches"_a = c.launches,
      "instances_launched"_a = c.instancesLaunched, "instances_lost"_a = c.instancesLost,
      "instances_preempted"_a = c.instancesPreempted, "machine_failures"_a = c.machineFailures);

  std::vector<std::string> frameworkNames;
  std::vector<std::uint32_t> frameworkRoles;
  for (const sim::FrameworkRecord& f : r.frameworks) {
    frameworkNames.push_back(f.name);
    frameworkRoles.push_back(f.role);
  }

  return py::dict(
      "policy"_a = r.policy, "params"_a = r.params, "dims"_a = r.dimensions, "roles"_a = r.roles,
      "frameworks"_a = py::dict("name"_a = frameworkNames, "role"_a = array(frameworkRoles)),
      "jobs"_a = jobs, "tasks"_a = tasks, "timeseries"_a = series, "counters"_a = counters,
      "end_us"_a = micros(r.end), "used_integral"_a = array(r.usedIntegral),
      "capacity_integral"_a = array(r.capacityIntegral), "summary"_a = r.summary);
}

}  // namespace allot::python
