#pragma once

#include <algorithm>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/policies/cluster_state.h"

namespace allot {

// One decision of an allocation round: lend `resources` of `agent` to
// `framework`. The host turns it into an offer (runtime) or hands it to the
// simulated framework (simulator). A demand-aware policy may size it exactly
// to a pending task; it then names the task's key, and the host expects the
// framework to launch that task in it.
struct Allocation {
  FrameworkId framework;
  AgentId agent;
  Resources resources;
  FrameworkIndex frameworkIndex = 0;
  AgentIndex agentIndex = 0;
  std::uint64_t task = kNoTask;  // PendingTask::key the grant was sized for
};

// A policy's request to take resources back from a framework (preemption):
// the host kills that framework's tasks on the agent, newest first, until
// at least `resources` are free, and gives them back through
// recoverResources; the killed work goes back to its framework's queue.
struct Reclaim {
  FrameworkId framework;
  AgentId agent;
  Resources resources;
  FrameworkIndex frameworkIndex = 0;
  AgentIndex agentIndex = 0;
};

// Shapes for which a walk over the agents found none with room, within a
// pass in which free room only shrinks (one round's grants): a shape at least
// as large in every dimension finds none either. Compared exactly, so
// fitsIn's tolerance cannot let a larger one through. Lets a full cell's
// pending work be turned away without a walk over every agent per task.
class NoRoomShapes {
 public:
  void clear() { shapes_.clear(); }
  void add(const Scalars& shape) { shapes_.push_back(shape); }
  bool covers(const Scalars& shape) const {
    return std::any_of(shapes_.begin(), shapes_.end(), [&](const Scalars& smaller) {
      return (smaller.array() <= shape.array()).all();
    });
  }

 private:
  std::vector<Scalars> shapes_;
};

// Options every policy shares.
struct AllocatorOptions {
  // An offer is worth making only if it holds at least one of these amounts
  // (Mesos' --min_allocatable_resources; default "cpus:0.01|mem:32").
  std::vector<Scalars> minAllocatable;
};

// The allocation-policy interface, used unchanged by the simulator's master
// and the runtime master.
//
// Split as Mesos splits its allocator: the event methods below keep the
// shared bookkeeping (ClusterState: who holds what, what is free, roles,
// quota, reservations, filters) in one place, then notify the policy through
// the protected hooks. A policy implements only decide(), reading state() and
// calling grant().
//
// Contract: synchronous, single-threaded, no I/O, no clock reads (time comes
// in as `now`). Events naming unknown ids throw NotFound; events that break
// the bookkeeping (recovering resources a framework does not hold, adding a
// duplicate id) throw InvalidArgument and change nothing. Not copyable.
class Allocator {
 public:
  explicit Allocator(AllocatorOptions options = {});
  virtual ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Short registry name, e.g. "drf".
  virtual std::string_view name() const = 0;

  // --- agents ------------------------------------------------------------
  // Adds an agent; `used` is what frameworks already run there (an agent
  // re-registering with a restarted master). REQUIRES: the frameworks exist.
  void addAgent(const AgentInfo& info,
                std::span<const std::pair<FrameworkId, Resources>> used = {});
  // Removes an agent and everything allocated on it (a vanished agent).
  void removeAgent(const AgentId& id);
  // Deactivated agents keep their allocations but receive no offers. Idempotent.
  void setAgentActive(const AgentId& id, bool active);
  // Changes an agent's total; what frameworks hold there stays allocated.
  void updateAgentTotal(const AgentId& id, const Resources& total);

  // --- frameworks and roles ---------------------------------------------
  void addFramework(const FrameworkInfo& info);
  // Removes a framework and returns everything it held to the agents.
  void removeFramework(const FrameworkId& id);
  // Inactive (disconnected) frameworks keep their allocations but receive no offers. Idempotent.
  void setFrameworkActive(const FrameworkId& id, bool active);
  // Changes a framework's role, weight or name; its allocation moves with it.
  void updateFramework(const FrameworkInfo& info);
  // Suppress: no offers until revive. Revive also clears the framework's
  // decline filters, as in Mesos. Both idempotent. Suppress drops them
  // already: only a revive ends a suppression, so they could never apply
  // again, and every check on their agents would scan them until then.
  void suppress(const FrameworkId& id);
  void revive(const FrameworkId& id);
  // Replaces the framework's published pending work (in its queue order).
  // Throws InvalidArgument for a task with count 0.
  void updateDemand(const FrameworkId& id, std::vector<PendingTask> pending);

  // Role weight (default 1); weighted DRF divides shares by it. REQUIRES: weight > 0.
  void setRoleWeight(std::string_view role, double weight);
  // Sets or (with an empty Quota) clears a role's quota.
  void setQuota(std::string_view role, const Quota& quota);

  // --- resources ---------------------------------------------------------
  // Dynamic reservation: `reservation` names pools by role ("cpus(web):2");
  // the amounts move from the agent's available unreserved resources.
  void reserve(const AgentId& agent, const Resources& reservation);
  void unreserve(const AgentId& agent, const Resources& reservation);

  // Gives back resources a framework held on an agent: a declined or
  // rescinded offer, the unused part of an accepted one, a finished task.
  // With `filters`, the framework is not offered these resources (or fewer)
  // on that agent again before now + filters->refuseFor. `task` names the
  // PendingTask::key of a finished task whose resources these are, when the
  // host knows it (policies that book expected ends use it).
  void recoverResources(const FrameworkId& framework, const AgentId& agent,
                        const Resources& resources, std::optional<Filters> filters, TimePoint now,
                        std::uint64_t task = kNoTask);
  // The same, by the slots an Allocation named (frameworkIndex, agentIndex),
  // valid while framework and agent live: a host that keeps them (the
  // simulator) skips two id look-ups per event. Throws NotFound for a slot
  // that is free or out of range.
  void recoverResources(FrameworkIndex framework, AgentIndex agent, const Resources& resources,
                        std::optional<Filters> filters, TimePoint now,
                        std::uint64_t task = kNoTask);

  // Runs one allocation round at time `now`: drops expired filters, lets the
  // policy decide, and returns what it granted (already counted as allocated).
  std::vector<Allocation> allocate(TimePoint now);

  // The reclaims (preemptions) the last rounds asked for, in order; empties
  // the list. Hosts call it after allocate().
  std::vector<Reclaim> takeReclaims();

  // The earliest time the last rounds asked for another round even if
  // nothing else changes by then (a policy's own timeout, e.g. before it
  // preempts), or nullopt; clears it. Hosts that run rounds only after
  // events (the simulator) call it after allocate() and run a round then;
  // hosts with periodic rounds (the runtime master) need not.
  std::optional<TimePoint> takeWakeup();

  const ClusterState& state() const { return state_; }
  const AllocatorOptions& options() const { return options_; }

  // Returns true iff `resources` are worth offering (see AllocatorOptions).
  bool allocatable(const Resources& resources) const;
  bool allocatable(const Scalars& scalars) const;

  // Returns true iff `fw` may still be offered something in the current
  // round: it published no demand, or what this round granted it does not
  // yet cover its published demand (the sum of its pending task shapes).
  // A framework that says what it needs is not offered the whole cluster
  // (Mesos' resource requests, as intended); grant() refuses past that.
  bool wantsMore(FrameworkIndex fw) const;

 protected:
  // The policy: called by allocate(); calls grant() for each decision.
  virtual void decide(TimePoint now) = 0;

  // Lends `resources` on `agent` to `fw` within the current round. Returns
  // false, granting nothing, when the framework may not get them (inactive,
  // suppressed, filtered, resources reserved for another role). Throws
  // std::logic_error when called outside decide() or when the resources are
  // not available (a policy bug, not an expected outcome).
  // `task` is the PendingTask::key the grant is sized for, if any: grants of
  // one framework on one agent in one round merge into one offer only when
  // their tasks are the same.
  bool grant(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
             std::uint64_t task = kNoTask);
  // Same; on success `resources` is moved into the round's result.
  bool grant(FrameworkIndex fw, AgentIndex agent, Resources&& resources,
             std::uint64_t task = kNoTask);
  // Lends everything on `agent` that `fw` may be offered (the unreserved pool
  // and its role's reservation), as Mesos offers whole agents. Same checks as
  // grant(); cheaper, since the agent's books hand the resources over whole.
  bool grantAll(FrameworkIndex fw, AgentIndex agent);
  // Offers every agent whole to the frameworks that published no demand, in
  // registration order (fifo without demand): the fallback of task-placing
  // policies for frameworks that say nothing of their pending work.
  void grantWholeAgentsWithoutDemand();
  // Offers every agent whole to the frameworks of `run`, in its order: each
  // agent to the first of them that may take it (what is left, e.g. another
  // role's reservation, to the next). The same grants as going framework by
  // framework over every agent, in agent order. An agent where none of them
  // took anything is passed over in later rounds until the agent, the
  // frameworks' configuration or `run` changes: a busy cluster's quiet
  // rounds then cost a pass over dense arrays, not a filter check for every
  // framework on every agent.
  void grantWholeAgents(std::span<const FrameworkIndex> run);
  // Grants `task`'s instances one by one, each on the first agent (in slot
  // order) where it fits, the next instance starting where the last found
  // room; stops at the first instance that fits nowhere.
  void placeFirstFit(FrameworkIndex fw, const PendingTask& task);

  // Asks the host to take `resources` on `agent` back from `fw` by killing
  // its tasks there (see Reclaim). Only within decide(). The books change
  // when the host recovers what it freed, not now. Throws std::logic_error
  // when `fw` does not hold that much there (a policy bug).
  void reclaim(FrameworkIndex fw, AgentIndex agent, const Resources& resources);

  // Asks the host for a round at `when` even if nothing changes by then
  // (see takeWakeup). Only within decide(); the earliest request counts.
  void wakeAt(TimePoint when);

  // Notifications after the bookkeeping changed; default: nothing.
  virtual void onAgentAdded(AgentIndex /*agent*/) {}
  virtual void onAgentRemoved(AgentIndex /*agent*/) {}
  virtual void onFrameworkAdded(FrameworkIndex /*fw*/) {}
  virtual void onFrameworkRemoved(FrameworkIndex /*fw*/) {}
  // After recoverResources moved `resources` back to the agent; `task` as given there.
  virtual void onRecovered(FrameworkIndex /*fw*/, AgentIndex /*agent*/,
                           const Resources& /*resources*/, std::uint64_t /*task*/) {}

 private:
  AgentIndex agentIndex(const AgentId& id) const;
  FrameworkIndex frameworkIndex(const FrameworkId& id) const;

  AllocatorOptions options_;
  ClusterState state_;
  bool grantImpl(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                 Resources* movable, std::uint64_t task);
  // REQUIRES: fw may be offered on agent now.
  bool mayGrant(FrameworkIndex fw, AgentIndex agent, const Resources& resources) const;
  void record(FrameworkIndex fw, AgentIndex agent, Resources resources, std::uint64_t task);

  std::vector<Allocation>* round_ = nullptr;  // set while decide() runs
  std::vector<Reclaim> reclaims_;
  std::optional<TimePoint> wakeup_;
  std::uint32_t roundNumber_ = 0;
  std::size_t lastRoundSize_ = 0;
  // Per agent slot: the round that last granted on it, and the index in
  // *round_ of its most recent grant (side by side: one cache line); grants
  // of one agent are chained through previousOnAgent_ so merging an offer
  // needs no hashing.
  struct LastGrant {
    std::uint32_t round = 0;
    std::uint32_t index = 0;
  };
  std::vector<LastGrant> lastGrant_;
  // Per framework slot: scalars granted in round offeredRound_[fw].
  std::vector<Scalars> offeredInRound_;
  std::vector<std::uint32_t> offeredRound_;
  std::vector<std::uint32_t> previousOnAgent_;
  // Per agent slot: when grantWholeAgents last found no taker there.
  struct NoTaker {
    std::uint64_t agentVersion = 0;
    std::uint64_t config = 0;
    std::uint64_t run = 0;
  };
  std::vector<NoTaker> noTaker_;
  // placeFirstFit's plain shapes that fit in no agent's available resources
  // in round fitsNowhereRound_ (Google: 530 frameworks x 256 pending
  // instances each round).
  NoRoomShapes fitsNowhere_;
  std::uint32_t fitsNowhereRound_ = 0;
};

}  // namespace allot
