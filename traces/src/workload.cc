#include "allot/traces/workload.h"

#include <cstring>
#include <string_view>

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

}  // namespace allot::traces
