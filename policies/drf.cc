#include "drf.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <span>

#include "allot/policies/word_set.h"
#include "src/shuffle.h"

namespace allot {
namespace {

constexpr double kUnlimited = std::numeric_limits<double>::infinity();

// Unreserved scalars of `candidate` capped by `cap` component-wise; reserved
// pools and non-scalar resources pass unchanged.
Resources capUnreserved(const Resources& candidate, const Scalars& cap) {
  const Scalars have = candidate.scalars(kUnreservedRole);
  const Scalars capped = have.cwiseMin(cap.cwiseMax(0.0));
  if (capped == have) return candidate;
  Resources result = candidate;
  const Dimensions& dims = *candidate.dimensions();
  for (int d = 0; d < dims.size(); ++d) {
    if (capped[d] != have[d]) result.setScalar(dims.name(d), capped[d]);
  }
  return result;
}

}  // namespace

PolicyInfo DrfAllocator::info() {
  return {
      "drf",
      "hierarchical Dominant Resource Fairness with weights, quota and reservations (Mesos' "
      "default allocator)",
      {{"seed", "0",
        "seed of the per-round agent shuffle and of tie-breaking between equal shares"},
       {"shuffle_agents", "true", "visit agents in a new random order each round, as Mesos does"}},
      [](const Params& p) { return std::make_unique<DrfAllocator>(p); }};
}

DrfAllocator::DrfAllocator(const Params& params)
    : Allocator(parseAllocatorOptions(params)),
      zeroAllocatable_(allocatable(Scalars::Zero())),
      rng_(params.getSeed("seed", 0)),
      shuffleAgents_(params.getBool("shuffle_agents", true)) {}

double DrfAllocator::share(const Scalars& allocated, double weight) const {
  return allocated.cwiseProduct(inverseTotal_).maxCoeff() / weight;
}

void DrfAllocator::decide(TimePoint /*now*/) {
  const ClusterState& s = state();
  const Scalars& total = s.totalScalars();
  inverseTotal_ = (total.array() > 0).select(total.cwiseInverse(), 0.0);

  // The agents that may be offered, in slot order, kept while no agent comes,
  // goes or changes activity (a pass over every agent's state costs a cache
  // miss per agent). Each stage shuffles the agents it will visit: in a busy
  // cluster a few hundred of thousands, and a shuffle of all of them (a
  // division per agent) cost more than the visits.
  if (activeAgentsVersion_ != s.agentSetVersion() || activeAgents_.empty()) {
    activeAgents_.clear();
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      if (s.agent(a).alive && s.agent(a).active) activeAgents_.push_back(a);
    }
    activeAgentsVersion_ = s.agentSetVersion();
  }

  // Frameworks that can take offers this round, per role, by weighted share.
  frameworkSorters_.resize(s.roleCount());
  eligibleInRole_.resize(s.roleCount());
  for (RoleIndex r = 0; r < s.roleCount(); ++r) {
    frameworkSorters_[r].clear();
    eligibleInRole_[r].resize(s.frameworkSlots());
    eligibleInRole_[r].reset();
    for (FrameworkIndex fw : s.role(r).frameworks) {
      const FrameworkState& f = s.framework(fw);
      if (!f.active || f.suppressed) continue;
      // Ties in share are broken by a seeded draw made anew each round.
      // Mesos breaks them by name, which favours the same frameworks round
      // after round; and under many decline filters a fixed tie order piles
      // every agent's refusals onto the front of the order.
      frameworkSorters_[r].add(fw, share(f.allocated, f.info.weight), rng_());
      eligibleInRole_[r].set(fw);
    }
  }
  stride_ = word_set::wordsFor(s.frameworkSlots());
  coveredScratch_.resize(s.frameworkSlots());
  quotaStage();
  fairShareStage();
}

DrfAllocator::Outcome DrfAllocator::offerToRole(RoleIndex role, AgentIndex agent,
                                                const Resources& candidate) {
  const ClusterState& s = state();
  ShareSorter& sorter = frameworkSorters_[role];
  const FrameworkSet& eligible = eligibleInRole_[role];
  // `candidate` is either everything available on the agent (then the books
  // hand it over whole) or a smaller, computed offer.
  const bool whole = &candidate == &s.agent(agent).available;
  auto grantAndResort = [&](FrameworkIndex fw) {
    if (!(whole ? grantAll(fw, agent) : grant(fw, agent, candidate))) return false;
    const FrameworkState& f = s.framework(fw);
    if (wantsMore(fw)) {
      sorter.update(fw, share(f.allocated, f.info.weight));
    } else {
      // This round's offers cover its published demand: it is done.
      sorter.remove(fw);
      eligibleInRole_[role].reset(fw);
      word_set::reset(eligibleWords_, fw);
    }
    return true;
  };
  // (A refused grant leaves the order as it was; a granted one ends the walk.)
  if (!s.hasFilters(agent)) {
    for (std::size_t i = 0; i < sorter.size(); ++i) {
      if (grantAndResort(sorter.at(i))) return Outcome::kGranted;
    }
    return Outcome::kNoTaker;
  }
  // Frameworks whose decline filters cover this candidate are out. For the
  // whole agent, ClusterState keeps the answer.
  if (whole) {
    const std::span<const std::uint64_t> covered = s.filteredFrameworksOfAvailable(agent);
    boost::from_block_range(covered.begin(), covered.end(), coveredScratch_);
    if (eligible.is_subset_of(coveredScratch_)) return Outcome::kAllFiltered;
    open_ = eligible;
    open_ -= coveredScratch_;
  } else {
    s.unfilteredFrameworks(agent, candidate, eligible, open_);
    if (open_.none()) return Outcome::kAllFiltered;
  }
  // Walk the order a little; with random tie-breaking most agents find a
  // taker near the front.
  constexpr std::size_t kWalk = 32;
  for (std::size_t i = 0; i < std::min(sorter.size(), kWalk); ++i) {
    const std::uint32_t fw = sorter.at(i);
    if (open_.test(fw) && grantAndResort(fw)) return Outcome::kGranted;
  }
  if (sorter.size() <= kWalk) return Outcome::kNoTaker;  // walked the whole order
  // Deep in the order: take the open framework with the smallest key, by one
  // pass over the open bits (no sort); repeat only if a grant is refused.
  while (true) {
    const ShareSorter::Entry* best = nullptr;
    for (std::size_t fw = open_.find_first(); fw != FrameworkSet::npos; fw = open_.find_next(fw)) {
      const ShareSorter::Entry& e = sorter.entry(static_cast<std::uint32_t>(fw));
      if (best == nullptr || e < *best) best = &e;
    }
    if (best == nullptr) return Outcome::kNoTaker;
    const FrameworkIndex fw = best->client;
    if (grantAndResort(fw)) return Outcome::kGranted;
    open_.reset(fw);
  }
}

bool DrfAllocator::allDeclined(AgentIndex agent) const {
  const std::span<const std::uint64_t> covered = state().filteredFrameworksOfAvailable(agent);
  for (std::size_t w = 0; w < stride_; ++w) {
    if ((eligibleWords_[w] & ~covered[w]) != 0) return false;
  }
  return true;
}

void DrfAllocator::quotaStage() {
  const ClusterState& s = state();
  roleSorter_.clear();
  for (RoleIndex r = 0; r < s.roleCount(); ++r) {
    const RoleState& role = s.role(r);
    if (frameworkSorters_[r].empty()) continue;
    if ((role.guarantee.array() > role.allocated.array() + 1e-9).any()) {
      roleSorter_.add(r, share(role.allocated, role.weight), r);
    }
  }
  if (roleSorter_.empty()) return;

  agents_.assign(activeAgents_.begin(), activeAgents_.end());
  if (shuffleAgents_) shuffleSeeded(agents_, rng_);
  for (AgentIndex agent : agents_) {
    if (roleSorter_.empty()) break;
    const std::vector<std::uint32_t>& order = roleSorter_.order();
    roleOrder_.assign(order.begin(), order.end());
    for (RoleIndex r : roleOrder_) {
      const RoleState& role = s.role(r);
      // Offer only what the guarantee still lacks; reserved resources of the
      // role come along whole.
      // Kinds the quota does not name (memory under a CPU-only quota) come
      // whole, as in Mesos, else the offer would be useless.
      Scalars lacking = (role.guarantee - role.allocated).cwiseMax(0.0);
      lacking = (role.guarantee.array() > 0).select(lacking, kUnlimited);
      lacking = lacking.cwiseMin(role.limit - role.allocated);
      const Resources candidate = capUnreserved(s.offerableToRole(r, agent), lacking);
      if (!allocatable(candidate)) continue;
      if (offerToRole(r, agent, candidate) != Outcome::kGranted) continue;
      if (frameworkSorters_[r].empty()) {
        roleSorter_.remove(r);
      } else if ((role.guarantee.array() > role.allocated.array() + 1e-9).any()) {
        roleSorter_.update(r, share(role.allocated, role.weight));
      } else {
        roleSorter_.remove(r);
      }
      if (!allocatable(s.availableTotal(agent))) break;
    }
  }
}

void DrfAllocator::fairShareStage() {
  const ClusterState& s = state();
  // Unreserved resources that guarantees not yet met still need (Mesos'
  // quota headroom): fair sharing must leave them on the table.
  Scalars headroom = Scalars::Zero();
  roleSorter_.clear();
  for (RoleIndex r = 0; r < s.roleCount(); ++r) {
    const RoleState& role = s.role(r);
    headroom += (role.guarantee - role.allocated).cwiseMax(0.0);
    if (frameworkSorters_[r].empty()) continue;
    if ((role.allocated.array() >= role.limit.array() - 1e-9).any()) continue;
    roleSorter_.add(r, share(role.allocated, role.weight), r);
  }
  if (roleSorter_.empty()) return;
  // Unreserved resources available everywhere, less what this round grants;
  // summed only when some guarantee is unmet: the sum reads every agent's
  // line, a pass that evicts much of what the round is about to visit.
  const bool keepHeadroom = (headroom.array() > 0).any();
  Scalars spare = keepHeadroom ? s.availableUnreserved() : Scalars::Zero();
  // Whether granting `unreserved` leaves the headroom on the table.
  auto leavesHeadroom = [&](const Scalars& unreserved) {
    return !keepHeadroom || fitsIn(headroom, spare - unreserved);
  };
  // Which roles take part; an agent's "nobody may take it" verdict holds only
  // for the same set.
  std::uint64_t roleSet = 0;
  for (std::uint32_t r : roleSorter_.order()) roleSet += (r + 1) * 0x9E3779B97F4A7C15ULL;
  skipped_.resize(s.agentSlots());
  crumbs_.resize(s.agentSlots(), ~std::uint64_t{0});

  // Every framework taking part, as words (kept as frameworks drop out of
  // the round), and whether an agent that all of them have declined whole
  // (their filters cover all it has) can be told so from dense data: no role
  // taking part is capped by a quota limit (a capped offer depends on
  // allocations made elsewhere; roles then leave the round only when their
  // last framework does).
  bool plainRoles = true;
  eligibleWords_.assign(stride_, 0);
  for (std::uint32_t r : roleSorter_.order()) {
    const RoleState& role = s.role(r);
    plainRoles = plainRoles && !(role.limit.array() < kUnlimited).any();
    roleWords_.assign(stride_, 0);
    boost::to_block_range(eligibleInRole_[r], roleWords_.data());
    for (std::size_t w = 0; w < stride_; ++w) eligibleWords_[w] |= roleWords_[w];
  }

  // The agents worth a visit, in the round's order. An agent is passed over
  // when nothing is available on it, or when every framework that may take
  // it had declined all of it and nothing about the agent, the frameworks or
  // the roles changed since (the outcome would be the same: a long-running
  // cluster's quiet rounds). Both depend only on the agent's own state,
  // which only its own visit changes, so they are decided for every agent
  // up front by one pass in slot order over dense arrays; a pass in the
  // round's order would miss the cache on every agent, and most are passed
  // over. The same pass notes the agents whose visit may end after a look at
  // dense data: only unreserved resources, worth offering, some filters.
  worth_.assign(s.agentSlots(), kPassOver);
  for (AgentIndex agent : activeAgents_) {
    const Verdict& verdict = skipped_[agent];
    if (s.availableEmpty(agent) ||
        (verdict.agentVersion == s.agentVersion(agent) && verdict.config == s.configVersion() &&
         verdict.roleSet == roleSet)) {
      continue;
    }
    // Crumbs (less than is worth offering) and no reservation: no role can
    // be offered anything here, and the visit would change nothing.
    if (crumbs_[agent] == s.agentVersion(agent)) continue;
    const bool worthOffering = allocatable(s.availableUnreserved(agent));
    if (!worthOffering && !s.availableReserved(agent)) {
      crumbs_[agent] = s.agentVersion(agent);
      continue;
    }
    worth_[agent] =
        plainRoles && worthOffering && !s.availableReserved(agent) && s.hasFilters(agent) ? kPlain
                                                                                          : kVisit;
  }
  visit_.clear();
  for (AgentIndex agent : activeAgents_) {
    if (worth_[agent] != kPassOver) visit_.push_back(agent);
  }
  if (shuffleAgents_) shuffleSeeded(visit_, rng_);

  for (std::size_t i = 0; i < visit_.size(); ++i) {
    // Load the books of agents about to be visited while this one is; what
    // the agents' records point to only for visits that will read it (a plain
    // agent that every framework still in the round has declined will not:
    // the frameworks taking part only shrink until its visit).
    constexpr std::size_t kAhead = 8;
    if (i + 2 * kAhead < visit_.size()) {
      const AgentIndex ahead = visit_[i + 2 * kAhead];
      __builtin_prefetch(&skipped_[ahead]);
      s.prefetch(ahead, 0);
      if (worth_[ahead] == kPlain) s.prefetchFilteredOfAvailable(ahead);
    }
    if (i + kAhead < visit_.size()) {
      const AgentIndex ahead = visit_[i + kAhead];
      if (worth_[ahead] == kVisit || (worth_[ahead] == kPlain && !allDeclined(ahead))) {
        s.prefetch(ahead, 1);
      }
    }
    // Every role is done: capped by quota, or its frameworks' offers cover
    // their published demand.
    if (roleSorter_.empty()) break;
    const AgentIndex agent = visit_[i];
    Verdict& verdict = skipped_[agent];
    if (worth_[agent] == kPlain) {
      // Every framework still taking part has declined all of this agent:
      // each role would find its frameworks filtered, and the visit would
      // record the verdict (unless the quota headroom changes the offer).
      if (allDeclined(agent) && leavesHeadroom(s.availableUnreserved(agent))) {
        verdict = {s.agentVersion(agent), s.configVersion(), roleSet};
        continue;
      }
    }
    const AgentState& agentState = s.agent(agent);
    const Resources& available = agentState.available;
    const bool unreservedLeft = allocatable(s.availableUnreserved(agent));
    roleOrder_.clear();
    if (unreservedLeft) {
      const std::vector<std::uint32_t>& order = roleSorter_.order();
      roleOrder_.assign(order.begin(), order.end());
    } else {
      // Only roles with reservations here can still get something.
      for (const Pool& p : available.pools()) {
        if (isUnreservedRole(p.role)) continue;
        if (auto r = s.findRole(p.role); r && roleSorter_.contains(*r)) roleOrder_.push_back(*r);
      }
    }
    bool allFiltered = unreservedLeft && !roleOrder_.empty();
    bool grantedHere = false;
    for (RoleIndex r : roleOrder_) {
      const RoleState& role = s.role(r);
      const Scalars room = role.limit - role.allocated;
      const bool capped = (room.array() < kUnlimited).any();
      // Usually the candidate is everything available on the agent: look at
      // it in place and copy it only when it is granted.
      const Resources* candidate = &available;
      std::optional<Resources> built;
      if (capped || !s.allOfferableToRole(r, agent)) {
        built = s.offerableToRole(r, agent);
        if (capped) built = capUnreserved(*built, room);
        candidate = &*built;
        allFiltered = false;  // depends on allocations that change elsewhere
      }
      Scalars unreserved = candidate == &available ? s.availableUnreserved(agent)
                                                   : candidate->scalars(kUnreservedRole);
      if (!leavesHeadroom(unreserved)) {
        // Taking all of this agent's unreserved resources would eat into
        // quota headroom: shrink them to the surplus over it, as Mesos does
        // since 1.9 (before, it offered only the role's reservations, and
        // one agent could starve every other role).
        built = capUnreserved(*candidate, spare - headroom);
        candidate = &*built;
        unreserved = candidate->scalars(kUnreservedRole);
        allFiltered = false;
      }
      // Without reserved pools the agent's total is its unreserved pool, so
      // unreservedLeft answers until a grant here changes it.
      const bool worthOffering = candidate != &available ? allocatable(*candidate)
                                 : s.availableReserved(agent) || grantedHere
                                     ? allocatable(s.availableTotal(agent))
                                     : unreservedLeft;
      if (!worthOffering) {
        allFiltered = false;
        continue;
      }
      const Outcome outcome = offerToRole(r, agent, *candidate);
      if (outcome != Outcome::kAllFiltered) allFiltered = false;
      if (outcome != Outcome::kGranted) continue;
      spare -= unreserved;
      grantedHere = true;
      if (frameworkSorters_[r].empty() ||
          (role.allocated.array() >= role.limit.array() - 1e-9).any()) {
        roleSorter_.remove(r);
      } else {
        roleSorter_.update(r, share(role.allocated, role.weight));
      }
      if (s.availableEmpty(agent) ? !zeroAllocatable_ : !allocatable(s.availableTotal(agent))) {
        break;
      }
    }
    if (allFiltered) verdict = {agentState.version, s.configVersion(), roleSet};
  }
}

}  // namespace allot
