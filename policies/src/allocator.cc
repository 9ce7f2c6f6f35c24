#include "allot/policies/allocator.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "allot/core/error.h"

namespace allot {

Allocator::Allocator(AllocatorOptions options) : options_(std::move(options)) {
  if (options_.minAllocatable.empty()) {
    Scalars cpus = Scalars::Zero();
    cpus[0] = 0.01;
    Scalars mem = Scalars::Zero();
    mem[1] = 32;
    options_.minAllocatable = {cpus, mem};
  }
}

Allocator::~Allocator() = default;

AgentIndex Allocator::agentIndex(const AgentId& id) const {
  if (auto index = state_.findAgent(id)) return *index;
  throw NotFound(fmt::format("unknown agent '{}'", id.str()));
}

FrameworkIndex Allocator::frameworkIndex(const FrameworkId& id) const {
  if (auto index = state_.findFramework(id)) return *index;
  throw NotFound(fmt::format("unknown framework '{}'", id.str()));
}

bool Allocator::allocatable(const Scalars& scalars) const {
  for (const Scalars& minimum : options_.minAllocatable) {
    if (fitsIn(minimum, scalars)) return true;
  }
  return false;
}

bool Allocator::allocatable(const Resources& resources) const {
  return allocatable(resources.totalScalars());
}

void Allocator::addAgent(const AgentInfo& info,
                         std::span<const std::pair<FrameworkId, Resources>> used) {
  // Check every holder first so that a bad request changes nothing.
  std::vector<FrameworkIndex> holders;
  for (const auto& entry : used) holders.push_back(frameworkIndex(entry.first));
  const AgentIndex agent = state_.addAgent(info);
  try {
    for (std::size_t i = 0; i < used.size(); ++i)
      state_.allocate(holders[i], agent, used[i].second);
  } catch (...) {
    state_.removeAgent(agent);
    throw;
  }
  onAgentAdded(agent);
}

void Allocator::removeAgent(const AgentId& id) {
  const AgentIndex agent = agentIndex(id);
  onAgentRemoved(agent);
  state_.removeAgent(agent);
}

void Allocator::setAgentActive(const AgentId& id, bool active) {
  state_.setAgentActive(agentIndex(id), active);
}

void Allocator::updateAgentTotal(const AgentId& id, const Resources& total) {
  state_.updateAgentTotal(agentIndex(id), total);
}

void Allocator::addFramework(const FrameworkInfo& info) {
  onFrameworkAdded(state_.addFramework(info));
}

void Allocator::removeFramework(const FrameworkId& id) {
  const FrameworkIndex fw = frameworkIndex(id);
  onFrameworkRemoved(fw);
  state_.removeFramework(fw);
}

void Allocator::setFrameworkActive(const FrameworkId& id, bool active) {
  state_.setFrameworkActive(frameworkIndex(id), active);
}

void Allocator::updateFramework(const FrameworkInfo& info) {
  state_.updateFramework(frameworkIndex(info.id), info);
}

void Allocator::suppress(const FrameworkId& id) {
  const FrameworkIndex fw = frameworkIndex(id);
  state_.setSuppressed(fw, true);
  state_.clearFilters(fw);
}

void Allocator::revive(const FrameworkId& id) {
  const FrameworkIndex fw = frameworkIndex(id);
  state_.setSuppressed(fw, false);
  state_.clearFilters(fw);
}

void Allocator::updateDemand(const FrameworkId& id, std::vector<PendingTask> pending) {
  state_.setDemand(frameworkIndex(id), std::move(pending));
}

void Allocator::setRoleWeight(std::string_view role, double weight) {
  if (role.empty()) throw InvalidArgument("role name must not be empty");
  state_.setWeight(state_.role(role), weight);
}

void Allocator::setQuota(std::string_view role, const Quota& quota) {
  if (role.empty()) throw InvalidArgument("role name must not be empty");
  state_.setQuota(state_.role(role), quota);
}

void Allocator::reserve(const AgentId& agent, const Resources& reservation) {
  state_.reserve(agentIndex(agent), reservation, /*unreserve=*/false);
}

void Allocator::unreserve(const AgentId& agent, const Resources& reservation) {
  state_.reserve(agentIndex(agent), reservation, /*unreserve=*/true);
}

void Allocator::recoverResources(const FrameworkId& framework, const AgentId& agent,
                                 const Resources& resources, std::optional<Filters> filters,
                                 TimePoint now, std::uint64_t task) {
  recoverResources(frameworkIndex(framework), agentIndex(agent), resources, std::move(filters), now,
                   task);
}

void Allocator::recoverResources(FrameworkIndex fw, AgentIndex a, const Resources& resources,
                                 std::optional<Filters> filters, TimePoint now,
                                 std::uint64_t task) {
  if (fw >= state_.frameworkSlots() || !state_.framework(fw).alive) {
    throw NotFound(fmt::format("no framework in slot {}", fw));
  }
  if (a >= state_.agentSlots() || !state_.agent(a).alive) {
    throw NotFound(fmt::format("no agent in slot {}", a));
  }
  state_.recover(fw, a, resources);
  if (filters && filters->refuseFor > Duration::zero()) {
    state_.addFilter(fw, a, resources, saturatingAdd(now, filters->refuseFor));
  }
  onRecovered(fw, a, resources, task);
}

std::vector<Reclaim> Allocator::takeReclaims() {
  return std::exchange(reclaims_, {});
}

void Allocator::reclaim(FrameworkIndex fw, AgentIndex agent, const Resources& resources) {
  if (round_ == nullptr) throw std::logic_error("Allocator::reclaim called outside decide()");
  if (!state_.allocatedOn(fw, agent).contains(resources)) {
    throw std::logic_error(
        fmt::format("policy '{}': reclaims {} of framework '{}' on agent '{}', "
                    "which holds only {} there",
                    name(), toString(resources), state_.framework(fw).info.id.str(),
                    state_.agent(agent).info.id.str(), toString(state_.allocatedOn(fw, agent))));
  }
  reclaims_.push_back(
      {state_.framework(fw).info.id, state_.agent(agent).info.id, resources, fw, agent});
}

std::optional<TimePoint> Allocator::takeWakeup() {
  return std::exchange(wakeup_, std::nullopt);
}

void Allocator::wakeAt(TimePoint when) {
  if (round_ == nullptr) throw std::logic_error("Allocator::wakeAt called outside decide()");
  if (!wakeup_ || when < *wakeup_) wakeup_ = when;
}

std::vector<Allocation> Allocator::allocate(TimePoint now) {
  state_.expireFilters(now);
  std::vector<Allocation> round;
  round.reserve(lastRoundSize_);  // growing a vector of offers moves every one
  ++roundNumber_;                 // starts at 1, so a fresh lastGrant_ entry never matches
  previousOnAgent_.clear();
  round_ = &round;
  try {
    decide(now);
  } catch (...) {
    round_ = nullptr;
    // A host that goes on after a failed round (the master logs it) must
    // not lose what the policy granted before it failed: offered to no one,
    // it would stay allocated for good.
    for (const Allocation& a : round) {
      state_.recover(a.frameworkIndex, a.agentIndex, a.resources);
    }
    throw;
  }
  round_ = nullptr;
  lastRoundSize_ = round.size();
  return round;
}

bool Allocator::grant(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                      std::uint64_t task) {
  return grantImpl(fw, agent, resources, nullptr, task);
}

bool Allocator::grant(FrameworkIndex fw, AgentIndex agent, Resources&& resources,
                      std::uint64_t task) {
  return grantImpl(fw, agent, resources, &resources, task);
}

bool Allocator::mayGrant(FrameworkIndex fw, AgentIndex agent, const Resources& resources) const {
  if (round_ == nullptr) throw std::logic_error("Allocator::grant called outside decide()");
  const FrameworkState& f = state_.framework(fw);
  const AgentState& a = state_.agent(agent);
  if (!f.alive || !f.active || f.suppressed || !a.alive || !a.active) return false;
  if (resources.empty() || !wantsMore(fw)) return false;
  const std::string& role = state_.role(f.role).name;
  for (const Pool& p : resources.pools()) {
    if (!isUnreservedRole(p.role) && p.role != role) return false;
  }
  return !(state_.hasFilters(agent) && state_.isFiltered(fw, agent, resources));
}

bool Allocator::grantAll(FrameworkIndex fw, AgentIndex agent) {
  const FrameworkState& f = state_.framework(fw);
  if (!state_.allOfferableToRole(f.role, agent)) {
    return grant(fw, agent, state_.offerable(fw, agent));
  }
  if (!mayGrant(fw, agent, state_.agent(agent).available)) return false;
  record(fw, agent, state_.allocateAvailable(fw, agent), kNoTask);
  return true;
}

void Allocator::placeFirstFit(FrameworkIndex fw, const PendingTask& task) {
  const ClusterState& s = state_;
  // A plain shape (unreserved scalars only) that fits in what the agent
  // offers fits in all it has available (fitsIn's tolerance grows with the
  // amount): the dense sums turn most agents of a busy cluster away before
  // offerable() copies their resources.
  const Scalars* plain = task.shape.plainScalars();
  if (plain != nullptr) {
    if (fitsNowhereRound_ != roundNumber_) {
      fitsNowhere_.clear();
      fitsNowhereRound_ = roundNumber_;
    }
    if (fitsNowhere_.covers(*plain)) return;
  }
  bool roomSomewhere = plain == nullptr;
  AgentIndex agent = 0;
  for (std::uint32_t i = 0; i < task.count; ++i) {
    for (; agent < s.agentSlots(); ++agent) {
      if (plain != nullptr && !fitsIn(*plain, s.availableTotal(agent))) continue;
      roomSomewhere = true;
      const AgentState& a = s.agent(agent);
      if (!a.alive || !a.active || !s.offerable(fw, agent).contains(task.shape)) continue;
      if (grant(fw, agent, task.shape, task.key)) break;
    }
    if (agent == s.agentSlots()) break;
  }
  // Only when no agent had room from the first instance on: a later one
  // starts where the last found room.
  if (!roomSomewhere) fitsNowhere_.add(*plain);
}

void Allocator::grantWholeAgentsWithoutDemand() {
  const ClusterState& s = state_;
  std::vector<FrameworkIndex> order;
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (f.alive && f.active && !f.suppressed && f.demand.empty()) order.push_back(fw);
  }
  if (order.empty()) return;
  std::sort(order.begin(), order.end(), [&](FrameworkIndex a, FrameworkIndex b) {
    return s.framework(a).registration < s.framework(b).registration;
  });
  grantWholeAgents(order);
}

void Allocator::grantWholeAgents(std::span<const FrameworkIndex> run) {
  if (run.empty()) return;
  const ClusterState& s = state_;
  std::uint64_t runKey = run.size();
  for (FrameworkIndex fw : run) runKey = (runKey ^ (fw + 1)) * 0x9E3779B97F4A7C15ULL;
  if (noTaker_.size() < s.agentSlots()) noTaker_.resize(s.agentSlots());
  for (AgentIndex agent = 0; agent < s.agentSlots(); ++agent) {
    // The dense flags first: in a busy cluster most agents have nothing
    // available, and reading each one's state would cost a cache miss apiece.
    if (s.availableEmpty(agent)) continue;
    const AgentState& a = s.agent(agent);
    if (!a.alive || !a.active || !allocatable(s.availableTotal(agent))) continue;
    // Nothing a grant depends on changed since no framework of this run took
    // anything here (filters, available resources and their expiry change
    // the agent's version; frameworks and roles change the config's).
    NoTaker& last = noTaker_[agent];
    const NoTaker now{s.agentVersion(agent), s.configVersion(), runKey};
    if (last.agentVersion == now.agentVersion && last.config == now.config && last.run == now.run) {
      continue;
    }
    bool granted = false;
    for (FrameworkIndex fw : run) {
      if (allocatable(s.offerable(fw, agent)) && grantAll(fw, agent)) {
        granted = true;
        if (!allocatable(s.availableTotal(agent))) break;
      }
    }
    if (!granted) last = now;
  }
}

bool Allocator::grantImpl(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                          Resources* movable, std::uint64_t task) {
  if (!mayGrant(fw, agent, resources)) return false;
  try {
    state_.allocate(fw, agent, resources);
  } catch (const InvalidArgument& e) {
    // The policy granted what is not there: a bug in the policy.
    throw std::logic_error(fmt::format("policy '{}': {}", name(), e.what()));
  }
  record(fw, agent, movable != nullptr ? std::move(*movable) : resources, task);
  return true;
}

bool Allocator::wantsMore(FrameworkIndex fw) const {
  const FrameworkState& f = state_.framework(fw);
  if (f.demand.empty() || fw >= offeredRound_.size() || offeredRound_[fw] != roundNumber_) {
    return true;
  }
  const Scalars& want = f.demandTotal;
  const Scalars& got = offeredInRound_[fw];
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (want[d] > 0 && got[d] < want[d] * (1 - 1e-9)) return true;
  }
  return false;
}

void Allocator::record(FrameworkIndex fw, AgentIndex agent, Resources resources,
                       std::uint64_t task) {
  if (!state_.framework(fw).demand.empty()) {
    if (offeredRound_.size() <= fw) {
      offeredRound_.resize(fw + 1, 0);
      offeredInRound_.resize(fw + 1, Scalars::Zero());
    }
    if (offeredRound_[fw] != roundNumber_) {
      offeredRound_[fw] = roundNumber_;
      offeredInRound_[fw].setZero();
    }
    offeredInRound_[fw] += resources.totalScalars();
  }
  // One offer per framework and agent per round, as Mesos makes them.
  if (lastGrant_.size() <= agent) lastGrant_.resize(agent + 1);
  LastGrant& last = lastGrant_[agent];
  const bool seen = last.round == roundNumber_;
  if (seen) {
    for (std::uint32_t i = last.index;; i = previousOnAgent_[i]) {
      if ((*round_)[i].frameworkIndex == fw && (*round_)[i].task == task) {
        (*round_)[i].resources += resources;
        return;
      }
      if (previousOnAgent_[i] == i) break;
    }
  }
  const auto index = static_cast<std::uint32_t>(round_->size());
  previousOnAgent_.push_back(seen ? last.index : index);
  last = {roundNumber_, index};
  round_->push_back({state_.framework(fw).info.id, state_.agent(agent).info.id,
                     std::move(resources), fw, agent, task});
}

}  // namespace allot
