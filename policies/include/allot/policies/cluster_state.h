#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/dynamic_bitset.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/policies/word_set.h"

namespace allot {

// Dense handles into ClusterState. Slots of removed agents and frameworks are
// reused, so a handle is valid only while its entity is alive.
using AgentIndex = std::uint32_t;
using FrameworkIndex = std::uint32_t;
using RoleIndex = std::uint32_t;

// One bit per framework slot.
using FrameworkSet = boost::dynamic_bitset<std::uint64_t>;

// Fields in the order an allocation round reads them, on a cache line of
// their own: a round visits 10,000s of agents in random order.
struct alignas(64) AgentState {
  bool alive = false;
  bool active = false;  // deactivated (unreachable) agents receive no offers
  // Changes whenever anything a policy could see of this agent changes
  // (available, total, active, filters); unique across agents and slots.
  std::uint64_t version = 0;
  Resources available;  // total minus everything allocated or offered
  // What each framework holds on this agent (offered or used by tasks).
  std::vector<std::pair<FrameworkIndex, Resources>> allocated;
  AgentInfo info;  // info.resources is the agent's total, over the state's dimensions
};

// The key of a PendingTask; kNoTask where none applies.
inline constexpr std::uint64_t kNoTask = ~std::uint64_t{0};

// One unit of a framework's pending work, as the framework publishes it
// (Allocator::updateDemand): Mesos' resource requests, with what schedulers
// beyond DRF need — gangs, waiting time, run-time estimates.
struct PendingTask {
  // Of each instance. A task that asks for nothing reaches policies with the
  // token as its shape (ClusterState::tokenScalars): an empty grant is no
  // offer, so every policy sizes and places it like any other task, and the
  // framework launches it in the token's grant (it takes nothing) and gives
  // the token back.
  Resources shape;
  std::uint32_t count = 1;  // identical instances
  // The instances of every PendingTask of this key with gang = true start
  // together or not at all.
  bool gang = false;
  // At most one instance of this key per agent, counting those already
  // running (Google's different-machine constraint); a framework declines
  // offers that would break it.
  bool spread = false;
  TimePoint submitted{};  // when it began to wait
  Duration estimate{0};   // expected run time of each instance; 0: unknown
  // The framework's name for this unit: a policy that sizes a grant to it
  // passes the key to grant(), and the host hands it on with the offer, so
  // the framework launches that unit there. Unique within the framework.
  std::uint64_t key = kNoTask;
  // Published with an empty shape (set by ClusterState::setDemand): shape is
  // the token, or empty while the cluster has nothing to make one of.
  bool asksNothing = false;
};

// Fields an allocation round reads first, then the rest.
struct FrameworkState {
  bool alive = false;
  bool active = false;      // connected; inactive frameworks receive no offers
  bool suppressed = false;  // asked for no offers until revive
  RoleIndex role = 0;
  std::uint64_t registration = 0;  // increasing with every addFramework
  Scalars allocated = Scalars::Zero();
  FrameworkInfo info;
  // Pending work the framework published, in its queue order.
  std::vector<PendingTask> demand;
  // Sum of shape * count over demand, but for tasks that ask for nothing.
  Scalars demandTotal = Scalars::Zero();
  // Some of demand asks for nothing and has no token yet: it was published
  // while the cluster had nothing to make one of.
  bool untokened = false;
};

struct RoleState {
  std::string name;
  double weight = 1.0;
  Quota quota;
  Scalars guarantee = Scalars::Zero();
  Scalars limit;  // +infinity where the quota sets no limit
  Scalars allocated = Scalars::Zero();
  std::vector<FrameworkIndex> frameworks;  // alive, in registration order
};

// The bookkeeping every policy shares: agents, frameworks, roles, who holds
// what, and decline filters. Hosts change it only through Allocator's event
// methods; policies get a const reference.
//
// All Resources stored here are expressed over dimensions(), which grows as
// agents with new scalar names arrive. Not thread-safe, not even for
// concurrent const calls (filteredFrameworksOfAvailable keeps its answers).
class ClusterState {
 public:
  ClusterState();

  const DimensionsPtr& dimensions() const { return dims_; }

  // --- reading -------------------------------------------------------------
  std::size_t agentSlots() const { return agents_.size(); }
  const AgentState& agent(AgentIndex index) const { return agents_[index]; }
  std::optional<AgentIndex> findAgent(const AgentId& id) const;
  std::size_t agentCount() const { return agentIndex_.size(); }

  std::size_t frameworkSlots() const { return frameworks_.size(); }
  const FrameworkState& framework(FrameworkIndex index) const { return frameworks_[index]; }
  std::optional<FrameworkIndex> findFramework(const FrameworkId& id) const;
  std::size_t frameworkCount() const { return frameworkIndex_.size(); }

  std::size_t roleCount() const { return roles_.size(); }
  const RoleState& role(RoleIndex index) const { return roles_[index]; }
  std::optional<RoleIndex> findRole(std::string_view name) const;

  // Changes whenever frameworks or roles change in a way that can change who
  // may be offered what (added, removed, (de)activated, suppressed, revived,
  // role, weight or quota changed). With AgentState::version it lets a
  // policy skip agents whose outcome cannot have changed since a round.
  std::uint64_t configVersion() const { return configVersion_; }

  // Changes whenever an agent is added, removed, activated or deactivated:
  // lets a policy keep its list of agents between rounds.
  std::uint64_t agentSetVersion() const { return agentSetVersion_; }

  // Sum of the totals of alive agents, all pools.
  const Scalars& totalScalars() const { return total_; }
  // The token: what a grant sized to a task that asks for nothing holds. A
  // millionth of an average agent's first dimension that the cluster has;
  // zero when the cluster has nothing.
  Scalars tokenScalars() const;
  // Sum over alive agents of available unreserved scalars.
  Scalars availableUnreserved() const;
  // Scalars available on `agent`: its unreserved pool, and all pools. Kept
  // beside the books in one dense array, so a round reads them without
  // visiting the agent's resources. Zero for free slots.
  const Scalars& availableUnreserved(AgentIndex agent) const { return available_[agent].value; }
  const Scalars& availableTotal(AgentIndex agent) const {
    return (availableFlags_[agent] & kSomeReserved) != 0 ? availableTotal_[agent]
                                                         : available_[agent].value;
  }
  // Returns true iff some available pool on `agent` is reserved for a role
  // (else availableTotal is availableUnreserved).
  bool availableReserved(AgentIndex agent) const {
    return (availableFlags_[agent] & kSomeReserved) != 0;
  }
  // Same as agent(agent).version, from a dense array: a round can tell which
  // agents changed by one sequential pass, without visiting their states.
  std::uint64_t agentVersion(AgentIndex agent) const { return agentVersions_[agent]; }
  // Same as agent(agent).available.empty(), without visiting the resources.
  bool availableEmpty(AgentIndex agent) const { return (availableFlags_[agent] & kNotEmpty) == 0; }

  // What framework `fw` may be offered on `agent`: the available unreserved
  // pool plus the pool reserved for its role.
  Resources offerable(FrameworkIndex fw, AgentIndex agent) const;
  // Same, for any framework of `role`.
  Resources offerableToRole(RoleIndex role, AgentIndex agent) const;
  // Returns true iff everything available on `agent` is offerable to `role`
  // (no pool is reserved for another role).
  bool allOfferableToRole(RoleIndex role, AgentIndex agent) const;
  // What `fw` holds on `agent` (empty when nothing).
  const Resources& allocatedOn(FrameworkIndex fw, AgentIndex agent) const;

  // Returns true iff a live decline filter of `fw` on `agent` covers
  // `candidate` (the refused resources contain it), as Mesos' filters do.
  bool isFiltered(FrameworkIndex fw, AgentIndex agent, const Resources& candidate) const;
  // Sets `words` (bit fw % 64 of word fw / 64) to the frameworks whose
  // filters on `agent` cover `candidate`. Cheap when the agent has no
  // filters. REQUIRES: words.size() * 64 >= frameworkSlots().
  void filteredFrameworks(AgentIndex agent, const Resources& candidate,
                          std::span<std::uint64_t> words) const;
  // The frameworks whose filters on `agent` cover everything available
  // there, as wordsFor(frameworkSlots()) words; valid until the next call or
  // change. Rounds ask this of every agent they visit, and most ask again
  // after their filters changed (a decline, a revive) with what is available
  // as it was: where only scalars are available, the answer is kept per
  // agent and updated for the framework whose filters changed, and the
  // agent's filter groups are read again only when those scalars changed.
  std::span<const std::uint64_t> filteredFrameworksOfAvailable(AgentIndex agent) const;
  // Asks the CPU to start loading what filteredFrameworksOfAvailable(agent)
  // reads when its kept answer holds. Changes nothing.
  void prefetchFilteredOfAvailable(AgentIndex agent) const {
    if (agent >= coveredFor_.size()) return;
    __builtin_prefetch(&coveredFor_[agent]);
    __builtin_prefetch(coveredRow(agent).data());
  }
  // Sets `out` to the frameworks in `eligible` that no filter on `agent`
  // keeps from `candidate`. REQUIRES: eligible.size() == frameworkSlots().
  void unfilteredFrameworks(AgentIndex agent, const Resources& candidate,
                            const FrameworkSet& eligible, FrameworkSet& out) const;
  // Returns true iff `agent` has any live filter.
  bool hasFilters(AgentIndex agent) const { return !filters_[agent].empty(); }
  // Distinct refused sets filtered on `agent` (what a filter check scans).
  std::size_t filterGroupCount(AgentIndex agent) const { return filters_[agent].size(); }

  // Asks the CPU to start loading what a round reads of `agent`, a few
  // agents ahead of the visit (a round visits agents in random order, and
  // their books do not fit in cache). `stage` 0 loads the agent's own
  // records; stage 1, issued later, what those point to. Changes nothing.
  void prefetch(AgentIndex agent, int stage) const {
    const AgentState& a = agents_[agent];
    if (stage == 0) {
      __builtin_prefetch(&a);
      __builtin_prefetch(&available_[agent]);
      __builtin_prefetch(&filters_[agent]);
    } else {
      // (Not pools().data(): reading where the pools are would wait for
      // the very line this asks for.)
      a.available.prefetch();
      __builtin_prefetch(a.allocated.data());
      __builtin_prefetch(filters_[agent].data());
      __builtin_prefetch(&a.info.id);
    }
  }

  // --- changing (called by Allocator) -------------------------------------
  AgentIndex addAgent(const AgentInfo& info);
  void removeAgent(AgentIndex agent);
  void setAgentActive(AgentIndex agent, bool active);
  void updateAgentTotal(AgentIndex agent, const Resources& total);

  FrameworkIndex addFramework(const FrameworkInfo& info);
  void removeFramework(FrameworkIndex fw);
  void setFrameworkActive(FrameworkIndex fw, bool active);
  void updateFramework(FrameworkIndex fw, const FrameworkInfo& info);
  void setSuppressed(FrameworkIndex fw, bool suppressed);
  void setDemand(FrameworkIndex fw, std::vector<PendingTask> demand);

  RoleIndex role(std::string_view name);  // creates the role when new
  void setWeight(RoleIndex role, double weight);
  void setQuota(RoleIndex role, const Quota& quota);

  // Moves `resources` from available to `fw`'s allocation on `agent`.
  // Throws InvalidArgument when they are not available or belong to another role.
  void allocate(FrameworkIndex fw, AgentIndex agent, const Resources& resources);
  // Moves everything available on `agent` to `fw`'s allocation and returns
  // a copy of it. REQUIRES: allOfferableToRole(fw's role, agent).
  Resources allocateAvailable(FrameworkIndex fw, AgentIndex agent);
  // Moves `resources` back from `fw`'s allocation to available.
  // Throws InvalidArgument when `fw` does not hold them there.
  void recover(FrameworkIndex fw, AgentIndex agent, const Resources& resources);
  // Turns available unreserved resources into reservations (pools with
  // roles in `reservation`), or back when `unreserve` is true.
  void reserve(AgentIndex agent, const Resources& reservation, bool unreserve);

  void addFilter(FrameworkIndex fw, AgentIndex agent, const Resources& refused, TimePoint until);
  void clearFilters(FrameworkIndex fw);
  // Drops every filter whose time is up (until <= now).
  void expireFilters(TimePoint now);

  // Expresses `resources` over dimensions(), extending the table if needed.
  Resources adopt(const Resources& resources);

 private:
  // A filter group's frameworks, as words up to the highest one set, inline
  // for the first 512 slots. Rounds test every group of an agent, and a heap
  // block per group's set (a dynamic_bitset) missed the cache on each; sets
  // sized to every slot also had each new slot visit every group.
  class GroupFrameworks {
   public:
    bool test(FrameworkIndex fw) const { return word_set::test(words(), fw); }
    void set(FrameworkIndex fw) {
      if (fw / 64 >= words_.size()) words_.resize(fw / 64 + 1, 0);
      word_set::set(std::span(words_.data(), words_.size()), fw);
    }
    void reset(FrameworkIndex fw) {
      word_set::reset(std::span(words_.data(), words_.size()), fw);
      while (!words_.empty() && words_.back() == 0) words_.pop_back();
    }
    bool none() const { return words_.empty(); }
    // No trailing zero word.
    std::span<const std::uint64_t> words() const { return {words_.data(), words_.size()}; }

   private:
    boost::container::small_vector<std::uint64_t, 8> words_;
  };
  // On lines of their own, in the order scans read them: checks, declines
  // and revives scan all of an agent's groups for one framework, reading
  // `plain`, its bit (the first line; the second for frameworks past the
  // first 64) and the deadlines, and the scalars only of groups it is in
  // (a decline looking for its group compares keys first).
  struct alignas(64) FilterGroup {
    // refused's scalars are plainScalars when they are all it holds (the
    // usual case): rounds test every group of an agent, and reaching into
    // each group's own heap block for its pools made them slower the more
    // scattered the heap (see Covers).
    bool plain = false;
    std::uint32_t key = 0;  // scalarsKey(plainScalars) when plain
    // Latest deadline per framework whose filter here expires; frameworks in
    // `frameworks` without an entry are filtered here for good.
    std::vector<std::pair<FrameworkIndex, TimePoint>> until;
    GroupFrameworks frameworks;
    std::uint64_t id = 0;
    Scalars plainScalars = Scalars::Zero();
    Resources refused;  // over dims_, unchanged once made
  };
  // Whether a group's refused resources contain a candidate, as
  // refused.contains(candidate), comparing inline scalars where both sides
  // are plain over dims_.
  class Covers {
   public:
    Covers(const Resources& candidate, const DimensionsPtr& dims)
        : Covers(candidate, candidate.dimensions() == dims ? candidate.plainScalars() : nullptr) {}
    // `plain`: candidate's plain scalars over dims_, or null.
    Covers(const Resources& candidate, const Scalars* plain)
        : candidate_(candidate), plain_(plain) {}
    bool operator()(const FilterGroup& group) const {
      return plain_ != nullptr && group.plain ? fitsIn(*plain_, group.plainScalars)
                                              : group.refused.contains(candidate_);
    }

   private:
    const Resources& candidate_;
    const Scalars* plain_;
  };
  // A hash of `scalars` in which equal scalars (==, so +0 and -0 too) agree.
  static std::uint32_t scalarsKey(const Scalars& scalars);
  // Sets `words` to the frameworks of the groups on `agent` that `covers`.
  void filteredBy(AgentIndex agent, const Covers& covers, std::span<std::uint64_t> words) const;
  // After fw's filter groups on `agent` changed: its bit in the kept answer
  // of filteredFrameworksOfAvailable, or the answer dropped when the groups
  // it is in cannot be tested on scalars alone.
  void refreshCovered(AgentIndex agent, FrameworkIndex fw);
  // Whether the kept answer for `agent` is the answer for what is available
  // there now.
  bool coveredHolds(AgentIndex agent) const {
    return (availableFlags_[agent] & kPlain) != 0 && agent < coveredFor_.size() &&
           coveredStride_ == word_set::wordsFor(frameworks_.size()) && coveredFor_[agent].valid() &&
           coveredFor_[agent].scalars == available_[agent].value;
  }
  // The kept answer's words for `agent`. REQUIRES: agent < coveredFor_.size().
  std::span<std::uint64_t> coveredRow(AgentIndex agent) const {
    return {coveredWords_.data() + agent * coveredStride_, coveredStride_};
  }
  struct FilterExpiry {
    TimePoint until;
    AgentIndex agent;
    FrameworkIndex fw;
    std::uint64_t group;
    bool operator>(const FilterExpiry& other) const { return until > other.until; }
  };

  void dropFilter(AgentIndex agent, FrameworkIndex fw, std::uint64_t group, TimePoint until);
  void compactFilteredOn(FrameworkIndex fw);
  void addScalars(FrameworkIndex fw, const Scalars& delta, double sign);
  // Gives demand that asks for nothing the token, where there is one, and
  // sums demandTotal.
  void tokenizeDemand(FrameworkIndex fw);
  Resources& holding(FrameworkIndex fw, AgentIndex agent);
  void dropHolding(FrameworkIndex fw, AgentIndex agent);
  void refreshRoleLimits(RoleState& role) const;
  void touch(AgentIndex agent) { agents_[agent].version = agentVersions_[agent] = ++versions_; }
  // Same, after the agent's available resources changed.
  void touchAvailable(AgentIndex agent);
  void touchConfig() { configVersion_ = ++versions_; }

  DimensionsPtr dims_;
  std::vector<AgentState> agents_;
  // By agent slot: available unreserved scalars (one cache line each);
  // flags (anything available; some pool reserved for a role); if some pool
  // is reserved, the sum over all pools (else it is the unreserved one).
  // Free slots hold zeros.
  struct alignas(64) LineOfScalars {
    Scalars value = Scalars::Zero();
  };
  static constexpr std::uint8_t kNotEmpty = 1;
  static constexpr std::uint8_t kSomeReserved = 2;
  static constexpr std::uint8_t kPlain = 4;  // available.plainScalars() is the line
  std::vector<LineOfScalars> available_;
  std::vector<std::uint8_t> availableFlags_;
  std::vector<std::uint64_t> agentVersions_;  // AgentState::version, by slot
  std::vector<Scalars> availableTotal_;
  std::vector<AgentIndex> freeAgentSlots_;
  std::unordered_map<AgentId, AgentIndex> agentIndex_;
  std::vector<FrameworkState> frameworks_;
  std::vector<FrameworkIndex> freeFrameworkSlots_;
  std::unordered_map<FrameworkId, FrameworkIndex> frameworkIndex_;
  std::uint64_t registrations_ = 0;
  std::vector<RoleState> roles_;
  std::unordered_map<std::string, RoleIndex> roleIndex_;
  Scalars total_ = Scalars::Zero();

  std::vector<std::vector<FilterGroup>> filters_;  // by agent slot
  // filteredFrameworksOfAvailable's kept answers: by agent slot, the
  // available scalars they were found for, and their words, coveredStride_
  // per agent (wordsFor(frameworkSlots()) when made; all dropped when that
  // grows). Made on the first call. One line per agent: "no answer kept" is
  // a NaN among the scalars (which equal no available scalars), not a flag
  // that took the entry over a line boundary.
  struct alignas(64) CoveredFor {
    Scalars scalars = Scalars::Constant(std::numeric_limits<double>::quiet_NaN());
    bool valid() const { return !std::isnan(scalars[0]); }
    void drop() { scalars[0] = std::numeric_limits<double>::quiet_NaN(); }
  };
  mutable std::vector<CoveredFor> coveredFor_;
  mutable std::vector<std::uint64_t> coveredWords_;
  mutable std::size_t coveredStride_ = 0;
  mutable std::vector<std::uint64_t> coveredScratch_;  // answers not kept
  // By framework slot: agents where it joined a filter group since its
  // filters were last cleared (some may have expired since; duplicates
  // possible), so that clearFilters (every revive) visits those agents only,
  // not every agent. Compacted when it grows past twice the agent slots.
  std::vector<std::vector<AgentIndex>> filteredOn_;
  std::priority_queue<FilterExpiry, std::vector<FilterExpiry>, std::greater<>> expiries_;
  std::uint64_t nextFilterGroup_ = 1;
  std::uint64_t versions_ = 0;
  std::uint64_t configVersion_ = 0;
  std::uint64_t agentSetVersion_ = 0;
  std::uint32_t untokened_ = 0;  // frameworks with FrameworkState::untokened
};

}  // namespace allot
