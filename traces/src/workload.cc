#include "allot/traces/workload.h"

#include <charconv>
#include <cstring>
#include <string_view>

#include "allot/core/error.h"

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

}  // namespace allot::traces
