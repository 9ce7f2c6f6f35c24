#include "allot/policies/rounds.h"

#include <algorithm>

namespace allot {

double dominantShare(const Scalars& allocated, const Scalars& total) {
  double best = 0;
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (total[d] > 0) best = std::max(best, allocated[d] / total[d]);
  }
  return best;
}

RoundsResult runRounds(Allocator& allocator, const std::vector<RoundsFramework>& frameworks,
                       const RoundsOptions& options) {
  RoundsResult result;
  std::vector<std::int64_t> launched(frameworks.size(), 0);
  std::vector<Resources> held(frameworks.size());
  for (const RoundsFramework& f : frameworks) allocator.addFramework(f.info);

  auto indexOf = [&](const FrameworkId& id) {
    for (std::size_t i = 0; i < frameworks.size(); ++i) {
      if (frameworks[i].info.id == id) return i;
    }
    return frameworks.size();
  };

  bool changedLastRound = true;
  for (int round = 0; round < options.rounds; ++round) {
    const TimePoint now = kTimeZero + options.interval * round;
    const std::vector<Allocation> allocations = allocator.allocate(now);
    ++result.roundsRun;
    bool changed = false;
    for (const Allocation& a : allocations) {
      const std::size_t i = indexOf(a.framework);
      if (i == frameworks.size()) continue;  // not one of ours
      const RoundsFramework& f = frameworks[i];
      Resources left = a.resources;
      int count = 0;
      // Launch tasks while the shape fits what is left of the offer.
      while (count < options.tasksPerOffer && (f.maxTasks < 0 || launched[i] < f.maxTasks) &&
             !f.task.empty() && left.contains(f.task)) {
        left -= f.task;
        held[i] += f.task;
        ++launched[i];
        ++count;
      }
      if (count > 0) changed = true;
      result.offers.push_back({round, a.framework, a.agent, a.resources, count});
      if (!left.empty()) {
        std::optional<Filters> filters;
        if (options.refuseFor > Duration::zero()) filters = Filters{options.refuseFor};
        allocator.recoverResources(a.framework, a.agent, left, filters, now);
      }
      if (f.maxTasks >= 0 && launched[i] >= f.maxTasks) allocator.suppress(f.info.id);
    }
    if (!changed && !changedLastRound) break;
    changedLastRound = changed;
  }

  const ClusterState& state = allocator.state();
  const Scalars& total = state.totalScalars();
  for (std::size_t i = 0; i < frameworks.size(); ++i) {
    RoundsFrameworkResult r;
    r.id = frameworks[i].info.id;
    r.role = frameworks[i].info.role;
    r.tasks = launched[i];
    r.allocated = held[i];
    r.dominantShare = dominantShare(held[i].totalScalars(), total);
    result.frameworks.push_back(std::move(r));
  }
  for (RoleIndex role = 0; role < state.roleCount(); ++role) {
    const RoleState& rs = state.role(role);
    if (rs.frameworks.empty()) continue;
    RoundsRoleResult r;
    r.role = rs.name;
    r.weight = rs.weight;
    for (std::size_t i = 0; i < frameworks.size(); ++i) {
      if (frameworks[i].info.role == rs.name) r.allocated += held[i];
    }
    r.dominantShare = dominantShare(r.allocated.totalScalars(), total);
    result.roles.push_back(std::move(r));
  }
  return result;
}

}  // namespace allot
