#include "placing.h"

#include <algorithm>

#include "shuffle.h"

namespace allot {
PlacingAllocator::PlacingAllocator(const Params& params, packing::Score score)
    : Allocator(parseAllocatorOptions(params)),
      // Its own stream, so that the agent draws do not shift the tie-breaks.
      packer_(score, params.getSeed("seed", 0) ^ 0x5DEECE66DULL),
      rng_(params.getSeed("seed", 0)) {}

void PlacingAllocator::decide(TimePoint /*now*/) {
  const ClusterState& s = state();
  wholeAgentFrameworks_.clear();
  bool anyDemand = false;
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (!f.alive || !f.active || f.suppressed) continue;
    if (f.demand.empty()) {
      wholeAgentFrameworks_.push_back(fw);
    } else {
      anyDemand = true;
    }
  }
  if (anyDemand) {
    packer_.beginRound(s, [this](const Scalars& free) { return allocatable(free); });
    collect();
    blocked_.clear();
    pack();
    offerBlockedWhole();
    for (const auto& [fw, index] : odd_) placeFirstFit(fw, s.framework(fw).demand[index]);
  }
  if (!wholeAgentFrameworks_.empty()) offerWholeAgents();
}

void PlacingAllocator::collect() {
  const ClusterState& s = state();
  units_.clear();
  items_.clear();
  members_.clear();
  odd_.clear();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (!f.alive || !f.active || f.suppressed || f.demand.empty()) continue;
    gangByKey_.clear();
    gangUnits_.clear();
    gangItems_.clear();
    for (std::uint32_t i = 0; i < f.demand.size(); ++i) {
      const PendingTask& t = f.demand[i];
      if (!t.shape.plain()) {  // the packer's vectors describe only these
        odd_.emplace_back(fw, i);
        continue;
      }
      const Scalars demand = t.shape.scalars();
      // Asks for nothing and has no token: a cluster with nothing to place on.
      if (demand.isZero()) continue;
      const auto u = static_cast<std::uint32_t>(units_.size());
      units_.push_back({fw, i, packer_.shape(demand), t.count});
      if (!t.gang) {
        items_.push_back({fw, static_cast<std::uint32_t>(members_.size()), 1, false});
        members_.push_back(u);
        continue;
      }
      auto [it, inserted] =
          gangByKey_.try_emplace(t.key, static_cast<std::uint32_t>(gangUnits_.size()));
      if (inserted) {
        gangUnits_.emplace_back();
        gangItems_.push_back(static_cast<std::uint32_t>(items_.size()));
        items_.push_back({fw, 0, 0, true});
      }
      gangUnits_[it->second].push_back(u);
    }
    for (std::size_t g = 0; g < gangUnits_.size(); ++g) {
      Item& item = items_[gangItems_[g]];
      item.first = static_cast<std::uint32_t>(members_.size());
      item.parts = static_cast<std::uint32_t>(gangUnits_[g].size());
      members_.insert(members_.end(), gangUnits_[g].begin(), gangUnits_[g].end());
    }
  }
}

double PlacingAllocator::share(FrameworkIndex fw) const {
  const ClusterState& s = state();
  const FrameworkState& f = s.framework(fw);
  const Scalars& total = s.totalScalars();
  double dominant = 0;
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (total[d] > 0) dominant = std::max(dominant, f.allocated[d] / total[d]);
  }
  const double weight = f.info.weight * s.role(f.role).weight;
  return weight > 0 ? dominant / weight : dominant;
}

std::optional<double> PlacingAllocator::bestScore(const Item& item) {
  const auto choice = packer_.best(units_[members_[item.first]].shape);
  if (!choice) return std::nullopt;
  return choice->score;
}

bool PlacingAllocator::takeOne(const Unit& u) {
  const ClusterState& s = state();
  const Resources& shape = task(u).shape;
  auto ok = [&](AgentIndex a) { return !s.hasFilters(a) || !s.isFiltered(u.fw, a, shape); };
  if (packer_.take(u.shape, ok) == packing::kNoAgent) {
    // Fits, but the framework declined it everywhere it fits.
    if (packer_.best(u.shape)) blocked_.emplace_back(u.fw, u.shape);
    return false;
  }
  takenShapes_.push_back(&shape);
  return true;
}

void PlacingAllocator::offerBlockedWhole() {
  const ClusterState& s = state();
  // Framework by framework, so that a shape found hopeless is skipped at once.
  std::stable_sort(blocked_.begin(), blocked_.end());
  std::pair<FrameworkIndex, packing::ShapeId> hopeless{~FrameworkIndex{0}, 0};
  for (const auto& [fw, shape] : blocked_) {
    if (std::pair{fw, shape} == hopeless || !wantsMore(fw)) continue;
    // Where the framework has not refused all the agent has (it grew since),
    // and no pool is reserved (the whole unreserved agent is the offer).
    auto ok = [&](AgentIndex a) {
      return !s.availableReserved(a) &&
             (!s.hasFilters(a) || !s.isFiltered(fw, a, s.agent(a).available));
    };
    const AgentIndex agent = packer_.find(shape, ok);
    if (agent == packing::kNoAgent || !grantAll(fw, agent)) {
      hopeless = {fw, shape};
      continue;
    }
    packer_.refresh(s, agent);
  }
}

void PlacingAllocator::grantTaken(FrameworkIndex fw, std::uint64_t key) {
  const ClusterState& s = state();
  const auto& taken = packer_.taken();
  agents_.clear();
  for (std::size_t i = 0; i < taken.size(); ++i) {
    // Cannot fail: the framework may be offered, filters were checked and
    // the resources are unreserved; if it did, the books still rule below.
    grant(fw, taken[i].agent, *takenShapes_[i], key);
    agents_.push_back(taken[i].agent);
  }
  packer_.commit();
  takenShapes_.clear();
  for (AgentIndex a : agents_) packer_.refresh(s, a);
}

bool PlacingAllocator::placeInstance(Item& item) {
  Unit& u = units_[members_[item.first]];
  if (u.left == 0 || !takeOne(u)) {
    item.done = true;
    return false;
  }
  grantTaken(u.fw, task(u).key);
  if (--u.left == 0) item.done = true;
  return true;
}

bool PlacingAllocator::placeGang(Item& item) {
  item.done = true;
  for (std::uint32_t p = 0; p < item.parts; ++p) {
    const Unit& u = units_[members_[item.first + p]];
    for (std::uint32_t i = 0; i < u.left; ++i) {
      if (!takeOne(u)) {
        packer_.rollback();
        takenShapes_.clear();
        return false;
      }
    }
  }
  const Unit& first = units_[members_[item.first]];
  grantTaken(item.fw, task(first).key);
  for (std::uint32_t p = 0; p < item.parts; ++p) units_[members_[item.first + p]].left = 0;
  return true;
}

void PlacingAllocator::offerWholeAgents() {
  const ClusterState& s = state();
  struct Entry {
    double share;
    std::uint64_t tie;  // a seeded draw each round, as drf breaks ties
    FrameworkIndex fw;
    bool operator<(const Entry& o) const {
      return share != o.share ? share < o.share : tie < o.tie;
    }
  };
  std::vector<Entry> order;
  for (FrameworkIndex fw : wholeAgentFrameworks_) order.push_back({share(fw), rng_(), fw});
  std::sort(order.begin(), order.end());
  agents_.clear();
  for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
    if (s.agent(a).alive && s.agent(a).active && allocatable(s.availableTotal(a))) {
      agents_.push_back(a);
    }
  }
  shuffleSeeded(agents_, rng_);
  for (AgentIndex agent : agents_) {
    // Each agent whole to the framework lowest in share that takes it;
    // reserved pools may leave something for another role's framework.
    for (std::size_t i = 0; i < order.size() && allocatable(s.availableTotal(agent));) {
      const FrameworkIndex fw = order[i].fw;
      if ((s.availableReserved(agent) && !allocatable(s.offerable(fw, agent))) ||
          !grantAll(fw, agent)) {
        ++i;
        continue;
      }
      order[i].share = share(fw);
      for (std::size_t j = i; j + 1 < order.size() && order[j + 1] < order[j]; ++j) {
        std::swap(order[j], order[j + 1]);
      }
      i = 0;
    }
  }
}

}  // namespace allot
