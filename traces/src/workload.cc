#include "allot/traces/workload.h"

namespace allot::traces {

bool operator==(const Workload& a, const Workload& b) {
  // Dimension tables are shared pointers; two workloads read separately hold
  // distinct but equal tables, so compare the names.
  const bool sameDims = a.dims == b.dims || (a.dims != nullptr && b.dims != nullptr &&
                                             a.dims->names() == b.dims->names());
  return sameDims && a.machines == b.machines && a.machineEvents == b.machineEvents &&
         a.jobs == b.jobs && a.tasks == b.tasks && a.users == b.users && a.roles == b.roles &&
         a.meta == b.meta;
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
