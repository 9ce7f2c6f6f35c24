#include "allot/traces/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "allot/core/error.h"
#include "src/workload_checks.h"

namespace allot::traces {

// 72 bytes: 144 while each record held its 8-wide demand vector.
static_assert(sizeof(Task) == 72);

bool operator==(const Workload& a, const Workload& b) {
  // Dimension tables are shared pointers; two workloads read separately hold
  // distinct but equal tables, so compare the names.
  const bool sameDims = a.dims == b.dims || (a.dims != nullptr && b.dims != nullptr &&
                                             a.dims->names() == b.dims->names());
  if (!sameDims || a.tasks.size() != b.tasks.size()) return false;
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    Task x = a.tasks[i];
    Task y = b.tasks[i];
    if (x.demand >= a.demands.size() || y.demand >= b.demands.size()) return false;
    if (demandOf(a, x) != demandOf(b, y)) return false;
    x.demand = y.demand = 0;
    if (x != y) return false;
  }
  return a.machines == b.machines && a.machineEvents == b.machineEvents && a.jobs == b.jobs &&
         a.users == b.users && a.roles == b.roles && a.meta == b.meta;
}

std::size_t DemandTable::Hash::operator()(const Scalars& s) const noexcept {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(s.data()), sizeof(double) * kMaxScalarDims));
}

bool DemandTable::BitsEqual::operator()(const Scalars& a, const Scalars& b) const noexcept {
  return std::memcmp(a.data(), b.data(), sizeof(double) * kMaxScalarDims) == 0;
}

std::uint32_t DemandTable::intern(const Scalars& demand, std::vector<Scalars>& added) {
  if (!ids_.empty() && BitsEqual()(last_, demand)) return lastId_;
  const auto [it, isNew] = ids_.try_emplace(demand, static_cast<std::uint32_t>(ids_.size()));
  if (isNew) added.push_back(demand);
  last_ = demand;
  lastId_ = it->second;
  return lastId_;
}

MachineChange machineChange(bool up, MachineEvent::Kind kind) {
  if (kind == MachineEvent::Kind::kRemove) return up ? MachineChange::kDown : MachineChange::kNone;
  if (up) return MachineChange::kResize;
  return kind == MachineEvent::Kind::kAdd ? MachineChange::kUp : MachineChange::kNone;
}

std::vector<bool> machinesWithEvents(const Workload& workload) {
  std::vector<bool> has(workload.machines.size(), false);
  for (const MachineEvent& e : workload.machineEvents) has[e.machine] = true;
  return has;
}

std::uint64_t instanceCount(const Workload& workload, const Job& job) {
  std::uint64_t n = 0;
  for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
    n += workload.tasks[t].count;
  }
  return n;
}

std::uint64_t instanceCount(const Workload& workload) {
  std::uint64_t n = 0;
  for (const Task& task : workload.tasks) n += task.count;
  return n;
}

namespace {

// The first dimension of `s` that is not a finite number >= 0, or -1.
int badScalar(const Scalars& s, int dims) {
  for (int d = 0; d < dims; ++d) {
    if (!(std::isfinite(s[d]) && s[d] >= 0)) return d;
  }
  return -1;
}

[[noreturn]] void invalid(const std::string& what) {
  throw InvalidArgument("workload: " + what);
}

// Names the record at fault through `name`, a callable giving its
// description, so that only a failing check formats one.
template <class Name>
void checkScalars(const Scalars& s, const Workload& w, const Name& name) {
  if (const int d = badScalar(s, w.dims->size()); d >= 0) {
    invalid(
        fmt::format("{}: {} is {} (must be a finite number >= 0)", name(), w.dims->name(d), s[d]));
  }
}

}  // namespace

namespace detail {

TableSizes tableSizes(const Workload& w) {
  return {w.jobs.size(), w.tasks.size(), w.demands.size(), w.users.size(), w.roles.size()};
}

namespace {

std::string jobName(const Job& job, std::size_t j) {
  return fmt::format("job {} (trace id {})", j, job.traceId);
}

}  // namespace

void badJobSubmit(const Job& job, std::size_t j) {
  invalid(fmt::format("{} submit time is {} us, beyond 100 years", jobName(job, j),
                      toMicros(job.submit)));
}

void badJobOwner(const Job& job, std::size_t j, const TableSizes& sizes) {
  invalid(fmt::format("{} names user {} of {} and role {} of {}", jobName(job, j), job.user,
                      sizes.users, job.role, sizes.roles));
}

void badJobRange(const Job& job, std::size_t j, std::uint64_t tasks) {
  invalid(fmt::format("{} names task records [{}, {} + {}) of {}", jobName(job, j), job.firstTask,
                      job.firstTask, job.taskCount, tasks));
}

void badDependency(const Job& job, std::size_t j, std::uint32_t d, std::uint64_t jobs) {
  invalid(fmt::format("{} depends on job {}{}", jobName(job, j), d,
                      d == j ? ", itself" : fmt::format(" of {}", jobs)));
}

void badTaskJob(std::size_t t, std::uint32_t job, std::uint64_t jobs) {
  invalid(fmt::format("task record {} names job {} of {}", t, job, jobs));
}

void badTaskDemand(std::size_t t, std::uint32_t demand, std::uint64_t demands) {
  invalid(fmt::format("task record {} names demand {} of {}", t, demand, demands));
}

void zeroTaskCount(std::size_t t) {
  invalid(fmt::format("task record {} has a count of 0", t));
}

void badTaskDuration(std::size_t t, const char* what, Duration d) {
  invalid(fmt::format("task record {} {} is {} us (must be within 0 and 100 years)", t, what,
                      toMicros(d)));
}

void badCoverage(std::uint64_t covered, std::uint64_t tasks) {
  invalid(
      fmt::format("the jobs' ranges cover {} task records, not the {} there are", covered, tasks));
}

void taskOutsideItsJob(std::size_t t, std::uint32_t job, const std::vector<Job>& jobs) {
  const Job& named = jobs[job];
  invalid(fmt::format("task record {} names job {} (trace id {}), whose records are [{}, {})", t,
                      job, named.traceId, named.firstTask, named.firstTask + named.taskCount));
}

void checkSmallTables(const Workload& w) {
  if (!w.dims || w.dims->size() < 1 || w.dims->size() > kMaxScalarDims) {
    invalid(fmt::format("has {} dimensions (1 to {} allowed)", w.dims ? w.dims->size() : 0,
                        kMaxScalarDims));
  }
  for (std::size_t i = 0; i < w.demands.size(); ++i) {
    checkScalars(w.demands[i], w, [&] { return fmt::format("demand {}", i); });
  }
  for (std::size_t m = 0; m < w.machines.size(); ++m) {
    checkScalars(w.machines[m].capacity, w, [&] {
      return fmt::format("machine {} (trace id {}) capacity", m, w.machines[m].traceId);
    });
  }
  for (std::size_t i = 0; i < w.machineEvents.size(); ++i) {
    const MachineEvent& e = w.machineEvents[i];
    if (e.machine >= w.machines.size()) {
      invalid(
          fmt::format("machine event {} names machine {} of {}", i, e.machine, w.machines.size()));
    }
    if (static_cast<int>(e.kind) > static_cast<int>(MachineEvent::Kind::kUpdate)) {
      invalid(fmt::format("machine event {} has unknown kind {}", i, static_cast<int>(e.kind)));
    }
    if (!timeInRange(toMicros(e.time))) {
      invalid(fmt::format("machine event {} time is {} us, beyond 100 years", i, toMicros(e.time)));
    }
    if (e.kind != MachineEvent::Kind::kRemove) {  // a removal's capacity means nothing
      checkScalars(e.capacity, w, [&] { return fmt::format("machine event {} capacity", i); });
    }
  }
}

}  // namespace detail

void checkWorkload(const Workload& w) {
  detail::checkSmallTables(w);
  const detail::TableSizes sizes = detail::tableSizes(w);
  for (std::size_t j = 0; j < w.jobs.size(); ++j) {
    detail::checkJob(w.jobs[j], j, sizes);
  }
  for (std::size_t t = 0; t < w.tasks.size(); ++t) detail::checkTask(w.tasks[t], t, sizes);
  detail::checkTaskRanges(
      w.jobs, w.tasks.size(), [&](std::size_t j) { return w.jobs[j].firstTask; },
      [&](std::size_t j) { return w.jobs[j].taskCount; },
      [&](std::uint64_t t) { return w.tasks[t].job; });
}

namespace {

void checkCluster(const UniformCluster& cluster) {
  if (cluster.count == 0) throw InvalidArgument("a cluster needs at least one machine");
  if (cluster.capacity.empty() || cluster.capacity.plainScalars() == nullptr) {
    throw InvalidArgument("cluster machines of '" + toString(cluster.capacity) +
                          "': their capacity must be unreserved scalars, not all zero (e.g. "
                          "cpus:64;mem:1)");
  }
}

}  // namespace

UniformCluster parseUniformCluster(std::string_view spec) {
  const std::size_t star = spec.find('*');
  if (star == std::string_view::npos) {
    throw ParseError("cluster '" + std::string(spec) +
                     "': expected N*RESOURCES, e.g. 1300*cpus:64;mem:1");
  }
  const std::string_view count = spec.substr(0, star);
  UniformCluster cluster;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), cluster.count);
  if (count.empty() || ec != std::errc() || end != count.data() + count.size() ||
      cluster.count == 0) {
    throw ParseError("cluster '" + std::string(spec) + "': machine count '" + std::string(count) +
                     "' is not a whole number from 1 to 4294967295");
  }
  try {
    cluster.capacity = Resources::parse(spec.substr(star + 1));
  } catch (const ParseError& e) {
    throw ParseError("cluster '" + std::string(spec) + "': " + e.what());
  }
  try {
    checkCluster(cluster);
  } catch (const InvalidArgument& e) {
    throw ParseError("cluster '" + std::string(spec) + "': " + e.what());
  }
  return cluster;
}

void useUniformCluster(Workload& workload, const UniformCluster& cluster) {
  checkCluster(cluster);
  const std::string text = toString(cluster.capacity);
  DimensionsPtr dims = workload.dims;
  for (const std::string& name : cluster.capacity.dimensions()->names()) {
    if (cluster.capacity.scalar(name) != 0) dims = Dimensions::with(dims, name);
  }
  const Scalars capacity = cluster.capacity.rebased(dims).scalars();
  workload.dims = std::move(dims);
  workload.machines.assign(cluster.count, Machine{});
  for (std::uint32_t m = 0; m < cluster.count; ++m) {
    workload.machines[m].traceId = m;
    workload.machines[m].capacity = capacity;
  }
  workload.machineEvents.clear();
  workload.meta["cluster"] = std::to_string(cluster.count) + "*" + text;
}

std::optional<double> loadFactorOf(const Workload& workload) {
  const auto it = workload.meta.find("load_factor");
  if (it == workload.meta.end()) return std::nullopt;
  double factor = 0;
  const auto [end, ec] =
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), factor);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || !(factor > 0) ||
      !std::isfinite(factor)) {
    throw InvalidArgument(fmt::format(
        "meta load_factor '{}' is not a number above 0: the workload's scaling is unknown",
        it->second));
  }
  return factor;
}

void scaleLoad(Workload& workload, double factor) {
  if (!(factor > 0) || !std::isfinite(factor)) {
    throw InvalidArgument(fmt::format("load factor must be a number above 0, got {}", factor));
  }
  const double product = factor * loadFactorOf(workload).value_or(1.0);
  std::int64_t first = std::numeric_limits<std::int64_t>::max();
  for (const Job& j : workload.jobs) first = std::min(first, toMicros(j.submit));
  std::vector<std::int64_t> scaled(workload.jobs.size());
  for (std::size_t i = 0; i < workload.jobs.size(); ++i) {
    const double since = static_cast<double>(toMicros(workload.jobs[i].submit) - first);
    const double t = static_cast<double>(first) + std::round(since / factor);
    if (!(t <= static_cast<double>(kMaxTraceMicros))) {
      throw InvalidArgument(fmt::format(
          "load factor {}: job {} would be submitted past {} years from the trace's start; "
          "choose a larger factor",
          factor, workload.jobs[i].traceId, kMaxTraceMicros / (366LL * 24 * 3600 * 1'000'000)));
    }
    scaled[i] = static_cast<std::int64_t>(t);
  }
  for (std::size_t i = 0; i < workload.jobs.size(); ++i) {
    workload.jobs[i].submit = fromMicros(scaled[i]);
  }
  workload.meta["load_factor"] = fmt::format("{}", product);
}

}  // namespace allot::traces
