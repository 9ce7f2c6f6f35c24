#include "allot/policies/cluster_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>

#include "allot/core/error.h"

namespace allot {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

template <class T>
void eraseValue(std::vector<T>& v, const T& value) {
  v.erase(std::remove(v.begin(), v.end(), value), v.end());
}

}  // namespace

ClusterState::ClusterState() : dims_(Dimensions::standard()) {}

std::optional<AgentIndex> ClusterState::findAgent(const AgentId& id) const {
  auto it = agentIndex_.find(id);
  if (it == agentIndex_.end()) return std::nullopt;
  return it->second;
}

std::optional<FrameworkIndex> ClusterState::findFramework(const FrameworkId& id) const {
  auto it = frameworkIndex_.find(id);
  if (it == frameworkIndex_.end()) return std::nullopt;
  return it->second;
}

std::optional<RoleIndex> ClusterState::findRole(std::string_view name) const {
  auto it = roleIndex_.find(std::string(name));
  if (it == roleIndex_.end()) return std::nullopt;
  return it->second;
}

Resources ClusterState::adopt(const Resources& resources) {
  if (resources.dimensions() == dims_) return resources;
  if (!resources.dimensions()->isPrefixOf(*dims_)) {
    // Extend our table with the newcomer's names; indices of old names stay.
    DimensionsPtr grown = dims_;
    for (const std::string& name : resources.dimensions()->names()) {
      grown = Dimensions::with(grown, name);
    }
    dims_ = std::move(grown);
  }
  return resources.rebased(dims_);
}

Scalars ClusterState::availableUnreserved() const {
  // Free slots hold zeros, which leave the sum as it is: one sequential pass.
  Scalars sum = Scalars::Zero();
  for (const LineOfScalars& available : available_) sum += available.value;
  return sum;
}

void ClusterState::touchAvailable(AgentIndex agent) {
  touch(agent);
  const Resources& available = agents_[agent].available;
  if (available.empty()) {  // common: a whole agent was just offered
    available_[agent].value.setZero();
    availableFlags_[agent] = 0;
    return;
  }
  available_[agent].value = available.scalars(kUnreservedRole);
  bool reserved = false;
  for (const Pool& p : available.pools()) reserved |= !isUnreservedRole(p.role);
  const bool plain = available.dimensions() == dims_ && available.plainScalars() != nullptr;
  availableFlags_[agent] =
      static_cast<std::uint8_t>(kNotEmpty | (reserved ? kSomeReserved : 0) | (plain ? kPlain : 0));
  if (reserved) availableTotal_[agent] = available.totalScalars();
}

Resources ClusterState::offerableToRole(RoleIndex role, AgentIndex agent) const {
  const Resources& available = agents_[agent].available;
  const auto pools = available.pools();
  if (pools.empty() || (pools.size() == 1 && isUnreservedRole(pools[0].role))) return available;
  Resources result = available.unreserved();
  const std::string& name = roles_[role].name;
  if (!isUnreservedRole(name)) result += available.reserved(name);
  return result;
}

bool ClusterState::allOfferableToRole(RoleIndex role, AgentIndex agent) const {
  if ((availableFlags_[agent] & kSomeReserved) == 0) return true;
  for (const Pool& p : agents_[agent].available.pools()) {
    if (!isUnreservedRole(p.role) && p.role != roles_[role].name) return false;
  }
  return true;
}

Resources ClusterState::offerable(FrameworkIndex fw, AgentIndex agent) const {
  return offerableToRole(frameworks_[fw].role, agent);
}

const Resources& ClusterState::allocatedOn(FrameworkIndex fw, AgentIndex agent) const {
  static const Resources kNone;  // immutable
  for (const auto& [holder, resources] : agents_[agent].allocated) {
    if (holder == fw) return resources;
  }
  return kNone;
}

bool ClusterState::isFiltered(FrameworkIndex fw, AgentIndex agent,
                              const Resources& candidate) const {
  // Everything available, just answered for the whole agent (a policy
  // granting it checks again): the kept answer, without the groups.
  if (&candidate == &agents_[agent].available && coveredHolds(agent)) {
    return word_set::test(coveredRow(agent), fw);
  }
  const Covers covers(candidate, dims_);
  for (const FilterGroup& group : filters_[agent]) {
    if (group.frameworks.test(fw) && covers(group)) return true;
  }
  return false;
}

void ClusterState::filteredBy(AgentIndex agent, const Covers& covers,
                              std::span<std::uint64_t> words) const {
  assert(words.size() * 64 >= frameworks_.size());
  std::fill(words.begin(), words.end(), 0);
  for (const FilterGroup& group : filters_[agent]) {
    if (!covers(group)) continue;
    const std::span<const std::uint64_t> bits = group.frameworks.words();
    for (std::size_t w = 0; w < bits.size(); ++w) words[w] |= bits[w];
  }
}

void ClusterState::filteredFrameworks(AgentIndex agent, const Resources& candidate,
                                      std::span<std::uint64_t> words) const {
  filteredBy(agent, Covers(candidate, dims_), words);
}

std::span<const std::uint64_t> ClusterState::filteredFrameworksOfAvailable(AgentIndex agent) const {
  const std::size_t stride = word_set::wordsFor(frameworks_.size());
  const Resources& available = agents_[agent].available;
  if ((availableFlags_[agent] & kPlain) == 0) {
    coveredScratch_.resize(stride);
    filteredBy(agent, Covers(available, dims_), coveredScratch_);
    return coveredScratch_;
  }
  if (stride != coveredStride_ || coveredFor_.size() != agents_.size()) {
    if (stride != coveredStride_) coveredFor_.clear();  // every answer is dropped
    coveredStride_ = stride;
    coveredFor_.resize(agents_.size());
    coveredWords_.resize(agents_.size() * stride);
  }
  if (!coveredHolds(agent)) {
    // The agent's own pools are a heap block a round would otherwise reach
    // into only for this.
    const Scalars& scalars = available_[agent].value;
    filteredBy(agent, Covers(available, &scalars), coveredRow(agent));
    coveredFor_[agent].scalars = scalars;
  }
  return coveredRow(agent);
}

void ClusterState::refreshCovered(AgentIndex agent, FrameworkIndex fw) {
  // A framework past the kept words: they are all dropped at the next call.
  if (agent >= coveredFor_.size() || !coveredFor_[agent].valid() || fw / 64 >= coveredStride_) {
    return;
  }
  CoveredFor& kept = coveredFor_[agent];
  const Covers covers(agents_[agent].available, &kept.scalars);
  bool covered = false;
  for (const FilterGroup& group : filters_[agent]) {
    if (!group.frameworks.test(fw)) continue;
    // Tested on the kept scalars; a group with pools beyond them compares
    // the agent's resources of now, which may differ.
    if (!group.plain) {
      kept.drop();
      return;
    }
    covered = covered || covers(group);
  }
  if (covered) {
    word_set::set(coveredRow(agent), fw);
  } else {
    word_set::reset(coveredRow(agent), fw);
  }
}

void ClusterState::unfilteredFrameworks(AgentIndex agent, const Resources& candidate,
                                        const FrameworkSet& eligible, FrameworkSet& out) const {
  out = eligible;
  const Covers covers(candidate, dims_);
  for (const FilterGroup& group : filters_[agent]) {
    if (covers(group))
      word_set::forEach(group.frameworks.words(), [&](std::size_t fw) { out.reset(fw); });
  }
}

// --- agents ------------------------------------------------------------------

AgentIndex ClusterState::addAgent(const AgentInfo& info) {
  if (info.id.empty()) throw InvalidArgument("agent id must not be empty");
  if (agentIndex_.count(info.id)) {
    throw InvalidArgument(fmt::format("agent '{}' is already known", info.id.str()));
  }
  AgentIndex index;
  if (!freeAgentSlots_.empty()) {
    index = freeAgentSlots_.back();
    freeAgentSlots_.pop_back();
  } else {
    index = static_cast<AgentIndex>(agents_.size());
    agents_.emplace_back();
    available_.emplace_back();
    availableFlags_.push_back(0);
    agentVersions_.push_back(0);
    availableTotal_.push_back(Scalars::Zero());
    filters_.emplace_back();
  }
  AgentState& a = agents_[index];
  a = AgentState{};
  a.info = info;
  a.info.resources = adopt(info.resources);
  a.available = a.info.resources;
  a.alive = true;
  a.active = true;
  touchAvailable(index);
  ++agentSetVersion_;
  total_ += a.info.resources.totalScalars();
  agentIndex_.emplace(info.id, index);
  if (untokened_ > 0) {
    for (FrameworkIndex fw = 0; fw < frameworks_.size(); ++fw) {
      if (frameworks_[fw].untokened) tokenizeDemand(fw);
    }
  }
  return index;
}

void ClusterState::removeAgent(AgentIndex agent) {
  AgentState& a = agents_[agent];
  for (const auto& [fw, held] : a.allocated) addScalars(fw, held.totalScalars(), -1.0);
  total_ -= a.info.resources.totalScalars();
  total_ = total_.cwiseMax(0.0);
  agentIndex_.erase(a.info.id);
  filters_[agent].clear();  // stale heap entries are skipped when they expire
  if (agent < coveredFor_.size()) coveredFor_[agent].drop();
  a = AgentState{};
  agentVersions_[agent] = 0;
  available_[agent].value.setZero();
  availableFlags_[agent] = 0;
  freeAgentSlots_.push_back(agent);
  ++agentSetVersion_;
}

void ClusterState::setAgentActive(AgentIndex agent, bool active) {
  if (agents_[agent].active != active) ++agentSetVersion_;
  agents_[agent].active = active;
}

void ClusterState::updateAgentTotal(AgentIndex agent, const Resources& total) {
  AgentState& a = agents_[agent];
  Resources next = adopt(total);
  Resources held(dims_);
  for (const auto& entry : a.allocated) held += entry.second;
  if (!next.contains(held)) {
    throw InvalidArgument(
        fmt::format("agent '{}': new total {} is smaller than what frameworks hold ({})",
                    a.info.id.str(), toString(next), toString(held)));
  }
  total_ += next.totalScalars() - a.info.resources.totalScalars();
  a.info.resources = next;
  a.available = next - held;
  touchAvailable(agent);
}

// --- frameworks and roles ----------------------------------------------------

RoleIndex ClusterState::role(std::string_view name) {
  if (auto found = findRole(name)) return *found;
  const auto index = static_cast<RoleIndex>(roles_.size());
  RoleState r;
  r.name = std::string(name);
  refreshRoleLimits(r);
  roles_.push_back(std::move(r));
  roleIndex_.emplace(std::string(name), index);
  return index;
}

void ClusterState::refreshRoleLimits(RoleState& r) const {
  const Resources guarantee = r.quota.guarantee.rebased(dims_);
  const Resources limit = r.quota.limit.rebased(dims_);
  r.guarantee = guarantee.totalScalars();
  r.limit = Scalars::Constant(kInfinity);
  for (int d = 0; d < dims_->size(); ++d) {
    if (limit.scalar(dims_->name(d)) > 0) r.limit[d] = limit.scalar(dims_->name(d));
  }
}

void ClusterState::setWeight(RoleIndex r, double weight) {
  touchConfig();
  if (!(weight > 0) || !std::isfinite(weight)) {
    throw InvalidArgument(
        fmt::format("role '{}': weight must be a positive number, not {}", roles_[r].name, weight));
  }
  roles_[r].weight = weight;
}

void ClusterState::setQuota(RoleIndex r, const Quota& quota) {
  for (const auto& [part, amounts] :
       {std::pair{"guarantee", &quota.guarantee}, std::pair{"limit", &quota.limit}}) {
    if (!amounts->plain()) {
      throw InvalidArgument(
          fmt::format("role '{}': {} {}: quota is unreserved scalars only (as cpus:4;mem:8192)",
                      roles_[r].name, part, toString(*amounts)));
    }
  }
  Quota adopted{adopt(quota.guarantee), adopt(quota.limit)};
  if (!adopted.limit.empty()) {
    for (int d = 0; d < dims_->size(); ++d) {
      const double g = adopted.guarantee.totalScalars()[d];
      const double l = adopted.limit.totalScalars()[d];
      if (l > 0 && g > l) {
        throw InvalidArgument(
            fmt::format("role '{}': quota guarantee {} exceeds its limit {} for '{}'",
                        roles_[r].name, g, l, dims_->name(d)));
      }
    }
  }
  roles_[r].quota = std::move(adopted);
  refreshRoleLimits(roles_[r]);
  touchConfig();
}

FrameworkIndex ClusterState::addFramework(const FrameworkInfo& info) {
  if (info.id.empty()) throw InvalidArgument("framework id must not be empty");
  if (frameworkIndex_.count(info.id)) {
    throw InvalidArgument(fmt::format("framework '{}' is already known", info.id.str()));
  }
  if (!(info.weight > 0) || !std::isfinite(info.weight)) {
    throw InvalidArgument(fmt::format("framework '{}': weight must be a positive number, not {}",
                                      info.id.str(), info.weight));
  }
  FrameworkIndex index;
  if (!freeFrameworkSlots_.empty()) {
    index = freeFrameworkSlots_.back();
    freeFrameworkSlots_.pop_back();
  } else {
    index = static_cast<FrameworkIndex>(frameworks_.size());
    frameworks_.emplace_back();
  }
  FrameworkState& f = frameworks_[index];
  f = FrameworkState{};
  f.info = info;
  f.alive = true;
  f.active = true;
  f.registration = registrations_++;
  f.role = role(info.role.empty() ? std::string(kUnreservedRole) : info.role);
  roles_[f.role].frameworks.push_back(index);
  frameworkIndex_.emplace(info.id, index);
  touchConfig();
  return index;
}

void ClusterState::removeFramework(FrameworkIndex fw) {
  FrameworkState& f = frameworks_[fw];
  for (std::size_t agent = 0; agent < agents_.size(); ++agent) {
    AgentState& a = agents_[agent];
    if (!a.alive) continue;
    for (auto it = a.allocated.begin(); it != a.allocated.end(); ++it) {
      if (it->first != fw) continue;
      a.available += it->second;
      a.allocated.erase(it);
      touchAvailable(static_cast<AgentIndex>(agent));
      break;
    }
  }
  roles_[f.role].allocated -= f.allocated;
  roles_[f.role].allocated = roles_[f.role].allocated.cwiseMax(0.0);
  eraseValue(roles_[f.role].frameworks, fw);
  clearFilters(fw);
  frameworkIndex_.erase(f.info.id);
  if (f.untokened) --untokened_;
  f = FrameworkState{};
  freeFrameworkSlots_.push_back(fw);
  touchConfig();
}

void ClusterState::setFrameworkActive(FrameworkIndex fw, bool active) {
  touchConfig();
  frameworks_[fw].active = active;
}

void ClusterState::updateFramework(FrameworkIndex fw, const FrameworkInfo& info) {
  FrameworkState& f = frameworks_[fw];
  if (!(info.weight > 0) || !std::isfinite(info.weight)) {
    throw InvalidArgument(fmt::format("framework '{}': weight must be a positive number, not {}",
                                      info.id.str(), info.weight));
  }
  const RoleIndex next = role(info.role.empty() ? std::string(kUnreservedRole) : info.role);
  if (next != f.role) {
    // Resources reserved for the old role cannot follow the framework.
    for (const AgentState& a : agents_) {
      if (!a.alive) continue;
      for (const auto& [holder, held] : a.allocated) {
        if (holder != fw) continue;
        for (const Pool& p : held.pools()) {
          if (!isUnreservedRole(p.role)) {
            throw InvalidArgument(
                fmt::format("framework '{}' holds resources reserved for role '{}' on agent '{}'; "
                            "release them before changing its role",
                            info.id.str(), p.role, a.info.id.str()));
          }
        }
      }
    }
    roles_[f.role].allocated = (roles_[f.role].allocated - f.allocated).cwiseMax(0.0);
    eraseValue(roles_[f.role].frameworks, fw);
    roles_[next].allocated += f.allocated;
    // Keep registration order within the new role.
    auto& list = roles_[next].frameworks;
    auto at = std::lower_bound(list.begin(), list.end(), fw, [&](FrameworkIndex a, FrameworkIndex) {
      return frameworks_[a].registration < f.registration;
    });
    list.insert(at, fw);
    f.role = next;
  }
  const FrameworkId id = f.info.id;
  f.info = info;
  f.info.id = id;
  touchConfig();
}

void ClusterState::setSuppressed(FrameworkIndex fw, bool suppressed) {
  touchConfig();
  frameworks_[fw].suppressed = suppressed;
}

void ClusterState::setDemand(FrameworkIndex fw, std::vector<PendingTask> demand) {
  for (PendingTask& t : demand) {
    if (t.count == 0) {
      throw InvalidArgument(fmt::format("framework '{}': pending task {} has count 0",
                                        frameworks_[fw].info.id.str(), t.key));
    }
    if (t.shape.dimensions() != dims_) t.shape = adopt(t.shape);
    t.asksNothing = t.shape.empty();
  }
  frameworks_[fw].demand = std::move(demand);
  tokenizeDemand(fw);
}

void ClusterState::tokenizeDemand(FrameworkIndex fw) {
  FrameworkState& f = frameworks_[fw];
  if (f.untokened) --untokened_;
  f.untokened = false;
  Resources token;
  Scalars total = Scalars::Zero();
  for (PendingTask& t : f.demand) {
    if (t.asksNothing) {
      if (token.empty()) token = Resources::fromScalars(tokenScalars(), dims_);
      if (token.empty()) {
        f.untokened = true;
        continue;
      }
      t.shape = token;
      // One token grant starts every instance, and the token comes back:
      // such tasks add nothing to what the framework wants (wantsMore).
      continue;
    }
    total += t.shape.totalScalars() * static_cast<double>(t.count);
  }
  f.demandTotal = total;
  if (f.untokened) ++untokened_;
}

Scalars ClusterState::tokenScalars() const {
  Scalars token = Scalars::Zero();
  for (int d = 0; d < kMaxScalarDims && agentCount() > 0; ++d) {
    if (total_[d] > 0) {
      token[d] = 1e-6 * total_[d] / static_cast<double>(agentCount());
      break;
    }
  }
  return token;
}

// --- allocation ---------------------------------------------------------------

void ClusterState::addScalars(FrameworkIndex fw, const Scalars& delta, double sign) {
  FrameworkState& f = frameworks_[fw];
  f.allocated = (f.allocated + sign * delta).cwiseMax(0.0);
  RoleState& r = roles_[f.role];
  r.allocated = (r.allocated + sign * delta).cwiseMax(0.0);
}

Resources& ClusterState::holding(FrameworkIndex fw, AgentIndex agent) {
  auto& list = agents_[agent].allocated;
  for (auto& entry : list) {
    if (entry.first == fw) return entry.second;
  }
  list.emplace_back(fw, Resources(dims_));
  return list.back().second;
}

void ClusterState::dropHolding(FrameworkIndex fw, AgentIndex agent) {
  auto& list = agents_[agent].allocated;
  list.erase(std::remove_if(list.begin(), list.end(), [&](const auto& e) { return e.first == fw; }),
             list.end());
}

void ClusterState::allocate(FrameworkIndex fw, AgentIndex agent, const Resources& resources) {
  AgentState& a = agents_[agent];
  const FrameworkState& f = frameworks_[fw];
  Resources adopted;
  const Resources& r = resources.dimensions() == dims_ ? resources : (adopted = adopt(resources));
  for (const Pool& p : r.pools()) {
    if (!isUnreservedRole(p.role) && p.role != roles_[f.role].name) {
      throw InvalidArgument(fmt::format(
          "framework '{}' (role '{}') cannot hold resources reserved for role '{}' on agent '{}'",
          f.info.id.str(), roles_[f.role].name, p.role, a.info.id.str()));
    }
  }
  Resources& held = holding(fw, agent);
  const Scalars amount = r.totalScalars();
  if (held.empty() && r.identical(a.available)) {
    // Common case, as in Mesos: a framework takes everything on the agent.
    held = std::move(a.available);
    a.available = Resources(dims_);
  } else {
    if (!a.available.contains(r)) {
      if (held.empty()) dropHolding(fw, agent);
      throw InvalidArgument(fmt::format("agent '{}' does not have {} available (available: {})",
                                        a.info.id.str(), toString(r), toString(a.available)));
    }
    a.available -= r;
    held += r;
  }
  addScalars(fw, amount, +1.0);
  touchAvailable(agent);
}

Resources ClusterState::allocateAvailable(FrameworkIndex fw, AgentIndex agent) {
  AgentState& a = agents_[agent];
  const Scalars amount = availableTotal(agent);
  // The books and the offer share one copy (Resources are copy on write).
  Resources taken = std::move(a.available);
  if (taken.dimensions() != dims_) a.available = Resources(dims_);
  auto& list = a.allocated;
  auto held = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.first == fw; });
  if (held == list.end()) {
    list.emplace_back(fw, taken);
  } else if (held->second.empty()) {
    held->second = taken;
  } else {
    held->second += taken;
  }
  addScalars(fw, amount, +1.0);
  touchAvailable(agent);
  return taken;
}

void ClusterState::recover(FrameworkIndex fw, AgentIndex agent, const Resources& resources) {
  AgentState& a = agents_[agent];
  Resources adopted;
  const Resources& r = resources.dimensions() == dims_ ? resources : (adopted = adopt(resources));
  auto& list = a.allocated;
  auto it = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.first == fw; });
  if (it == list.end() || !it->second.contains(r)) {
    throw InvalidArgument(
        fmt::format("framework '{}' does not hold {} on agent '{}' (it holds: {})",
                    frameworks_[fw].info.id.str(), toString(r), a.info.id.str(),
                    it == list.end() ? std::string("nothing") : toString(it->second)));
  }
  it->second -= r;
  if (it->second.empty()) list.erase(it);
  a.available += r;
  addScalars(fw, r.totalScalars(), -1.0);
  touchAvailable(agent);
}

void ClusterState::reserve(AgentIndex agent, const Resources& reservation, bool unreserve) {
  AgentState& a = agents_[agent];
  const Resources reserved = adopt(reservation);
  for (const Pool& p : reserved.pools()) {
    if (isUnreservedRole(p.role)) {
      throw InvalidArgument(
          fmt::format("reservation {} on agent '{}' must name a role, as cpus(role):2",
                      toString(reserved), a.info.id.str()));
    }
  }
  const Resources plain = reserved.withRole(kUnreservedRole);
  const Resources& from = unreserve ? reserved : plain;
  const Resources& to = unreserve ? plain : reserved;
  if (!a.available.contains(from)) {
    throw InvalidArgument(fmt::format("agent '{}': cannot {} {}: available is {}", a.info.id.str(),
                                      unreserve ? "unreserve" : "reserve", toString(reserved),
                                      toString(a.available)));
  }
  a.available -= from;
  a.available += to;
  a.info.resources -= from;
  a.info.resources += to;
  touchAvailable(agent);
}

// --- filters -------------------------------------------------------------------

std::uint32_t ClusterState::scalarsKey(const Scalars& scalars) {
  std::uint64_t hash = 0;
  for (int d = 0; d < kMaxScalarDims; ++d) {
    const double value = scalars[d] + 0.0;  // -0 becomes +0
    hash = (hash ^ std::bit_cast<std::uint64_t>(value)) * 0x9E3779B97F4A7C15ULL;
  }
  return static_cast<std::uint32_t>(hash >> 32);
}

void ClusterState::addFilter(FrameworkIndex fw, AgentIndex agent, const Resources& refused,
                             TimePoint until) {
  Resources adopted;
  const Resources& r = refused.dimensions() == dims_ ? refused : (adopted = adopt(refused));
  auto& groups = filters_[agent];
  const Scalars* plain = r.plainScalars();
  // Each framework's filters on an agent stay few: a filter inside one of
  // its others there that lives as long adds nothing and is not made, and
  // its others inside it that it outlives are dropped (compared exactly,
  // without fitsIn's tolerance, so that whatever they cover it covers).
  // Answers are those of keeping every filter; but a framework that declines
  // ever different amounts on an agent and never revives (one waiting for a
  // long queue to drain) no longer piles up a group per decline that every
  // check scans.
  if (plain != nullptr) {
    // fw's deadline entry in a group it belongs to; none: filtered for good.
    auto entryOf = [&](auto& g) {
      return std::find_if(g.until.begin(), g.until.end(),
                          [&](const auto& e) { return e.first == fw; });
    };
    auto endsFor = [&](auto& g, auto entry) {
      return entry == g.until.end() ? kTimeNever : entry->second;
    };
    const bool inside = std::any_of(groups.begin(), groups.end(), [&](const FilterGroup& g) {
      return g.plain && g.frameworks.test(fw) && (g.plainScalars.array() >= plain->array()).all() &&
             endsFor(g, entryOf(g)) >= until;
    });
    if (inside) {
      touch(agent);
      return;
    }
    std::erase_if(groups, [&](FilterGroup& g) {
      if (!g.plain || !g.frameworks.test(fw) || g.plainScalars == *plain ||
          !(g.plainScalars.array() <= plain->array()).all()) {
        return false;
      }
      const auto entry = entryOf(g);
      if (endsFor(g, entry) > until) return false;
      if (entry != g.until.end()) g.until.erase(entry);  // its heap entry finds nothing to drop
      g.frameworks.reset(fw);
      return g.frameworks.none();
    });
  }
  // Frameworks that decline the same resources on an agent share one group,
  // so a round checks each distinct refused set once, not every framework.
  // Plain groups are told apart by their keys, on the line the scans read
  // anyway, before their scalars.
  const std::uint32_t key = plain != nullptr ? scalarsKey(*plain) : 0;
  auto group = std::find_if(groups.begin(), groups.end(), [&](const FilterGroup& g) {
    // Plain with equal scalars is identical() over one table; a group made
    // before dims_ grew holds the same resources then, as == below finds.
    return plain != nullptr && g.plain ? g.key == key && g.plainScalars == *plain
                                       : g.refused.identical(r);
  });
  if (group == groups.end()) {
    // == is containment both ways, which for plain resources is fitsIn both
    // ways on their scalars: asked so, without reaching into the group's pools.
    group = std::find_if(groups.begin(), groups.end(), [&](const FilterGroup& g) {
      return plain != nullptr && g.plain
                 ? fitsIn(*plain, g.plainScalars) && fitsIn(g.plainScalars, *plain)
                 : g.refused == r;
    });
  }
  if (group == groups.end()) {
    FilterGroup fresh;
    fresh.id = nextFilterGroup_++;
    fresh.refused = r;
    fresh.plain = plain != nullptr;
    if (plain != nullptr) {
      fresh.plainScalars = *plain;
      fresh.key = key;
    }
    groups.push_back(std::move(fresh));
    group = groups.end() - 1;
  }
  const bool had = group->frameworks.test(fw);
  group->frameworks.set(fw);
  touch(agent);
  refreshCovered(agent, fw);
  if (!had) {
    if (filteredOn_.size() <= fw) filteredOn_.resize(frameworks_.size());
    filteredOn_[fw].push_back(agent);
    if (filteredOn_[fw].size() > 2 * agents_.size() + 64) compactFilteredOn(fw);
  }
  // Only filters that expire keep a deadline; a framework without one in a
  // group it belongs to is filtered there for good (Mesos' refuse_seconds of
  // years), which keeps long-running clusters from piling up deadlines.
  auto entry = std::find_if(group->until.begin(), group->until.end(),
                            [&](const auto& e) { return e.first == fw; });
  if (until == kTimeNever) {
    if (entry != group->until.end()) group->until.erase(entry);
    return;
  }
  if (!had) {
    group->until.emplace_back(fw, until);
  } else if (entry != group->until.end()) {
    if (until <= entry->second) return;
    entry->second = until;
  } else {
    return;  // already filtered for good
  }
  expiries_.push({until, agent, fw, group->id});
}

void ClusterState::dropFilter(AgentIndex agent, FrameworkIndex fw, std::uint64_t groupId,
                              TimePoint until) {
  auto& groups = filters_[agent];
  auto group = std::find_if(groups.begin(), groups.end(),
                            [&](const FilterGroup& g) { return g.id == groupId; });
  if (group == groups.end()) return;
  auto entry = std::find_if(group->until.begin(), group->until.end(),
                            [&](const auto& e) { return e.first == fw; });
  // A later decline extended this filter; its own heap entry will drop it.
  if (entry == group->until.end() || entry->second != until) return;
  group->until.erase(entry);
  group->frameworks.reset(fw);
  touch(agent);
  if (group->frameworks.none()) groups.erase(group);
  refreshCovered(agent, fw);
}

void ClusterState::expireFilters(TimePoint now) {
  while (!expiries_.empty() && expiries_.top().until <= now) {
    const FilterExpiry e = expiries_.top();
    expiries_.pop();
    dropFilter(e.agent, e.fw, e.group, e.until);
  }
}

void ClusterState::compactFilteredOn(FrameworkIndex fw) {
  // Keep each agent once, and only where the framework still is in a group
  // (filters that expired or whose agent went left it).
  auto& on = filteredOn_[fw];
  std::sort(on.begin(), on.end());
  on.erase(std::unique(on.begin(), on.end()), on.end());
  std::erase_if(on, [&](AgentIndex agent) {
    return std::none_of(filters_[agent].begin(), filters_[agent].end(),
                        [&](const FilterGroup& g) { return g.frameworks.test(fw); });
  });
}

void ClusterState::clearFilters(FrameworkIndex fw) {
  if (fw >= filteredOn_.size()) return;
  // Only agents where the framework joined a group can hold its filters.
  for (AgentIndex agent : filteredOn_[fw]) {
    auto& groups = filters_[agent];
    bool dropped = false;
    for (FilterGroup& group : groups) {
      if (!group.frameworks.test(fw)) continue;
      touch(agent);
      group.frameworks.reset(fw);
      std::erase_if(group.until, [&](const auto& e) { return e.first == fw; });
      dropped |= group.frameworks.none();
    }
    if (dropped) std::erase_if(groups, [](const FilterGroup& g) { return g.frameworks.none(); });
    refreshCovered(agent, fw);
  }
  filteredOn_[fw].clear();
}

}  // namespace allot
