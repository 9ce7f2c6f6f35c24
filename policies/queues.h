#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"

namespace allot {

// A tree of queues as YARN configures them: each queue has a guaranteed and
// a maximum capacity (percentages of its parent's) and a weight.
//
// Syntax of the `queues` parameter: items separated by ';' (quote it in a
// shell), each `PATH:GUARANTEED[:MAX[:WEIGHT]]`, e.g.
//   root.eng:60:100:2;root.eng.batch:50:100:1;root.eng.web:50:80;root.ads:40
// PATH is dot-separated and may leave out the leading `root.`; every parent
// must be declared (in any order). GUARANTEED is in [0, 100] (a trailing '%'
// is allowed), MAX in (0, 100] and at least GUARANTEED (default 100), WEIGHT
// > 0 (default 1). The children of one queue are guaranteed at most 100% of
// it in total. Leaf names are unique, so a role may name its leaf alone.
// Bad specs throw InvalidArgument naming the item.
struct QueueSpec {
  std::string path;  // full, "root.eng.batch"
  std::string name;  // last component, "batch"
  int parent = -1;   // index in the tree; -1 for root
  std::vector<int> children;
  double guaranteed = 1;  // fraction of the parent's
  double maximum = 1;     // fraction of the parent's
  double weight = 1;
  double absGuaranteed = 1;  // fraction of the cluster: product along the path
  double absMaximum = 1;
};

// Parses the `queues` parameter into a tree in topological order: root
// first, every parent before its children, siblings in declaration order.
// Adds `root.default` (guaranteed 0%, max 100%, weight 1) unless a leaf of
// that name is declared.
std::vector<QueueSpec> parseQueues(std::string_view text);

// YARN-style hierarchical queues, as `capacity` (CapacityScheduler) or
// `fair` (FairScheduler with its DRF policy). Frameworks map to leaf queues
// by role: the role names a leaf (its name or its path); every other role
// goes to the leaf `default`. Without a `queues` parameter there is one
// leaf per role that has frameworks, max 100%: for `capacity` all
// guaranteed equal parts; for `fair` weighted by the role's weight, with no
// minimum share.
//
// Shares are dominant shares of the cluster's total (as YARN's
// DominantResourceCalculator): a queue's use is its frameworks' allocation
// (tasks and outstanding offers), summed up the tree.
//
// - capacity: at each level the child with the lowest used / guaranteed
//   share is served first (queues with no guarantee after all others). A
//   queue takes idle capacity beyond its guarantee (elasticity) but never
//   beyond its absolute maximum in any resource, nor beyond a parent's.
//   Weights are not used.
// - fair: each round computes hierarchical weighted max-min fair shares of
//   the dominant share: a parent's share is split among its children with
//   demand (used + published pending work; unlimited for frameworks that
//   publish none) by weight, each between min(guaranteed, demand, max) and
//   min(demand, max). The child with the lowest used / fair share is served
//   first.
//   Ties (within 1e-9): lower used share, then declaration order.
//
// Within a leaf frameworks are served in registration order (FIFO), each
// one's pending work in its own order; a unit that does not fit anywhere
// (or would take its queue past a maximum) is passed over for this round.
// Each served unit is one instance (gangs: all records of the key, all or
// none), placed first fit over agents in slot order on available unreserved
// resources, and granted sized to it with its key. Frameworks that publish
// no demand (the runtime master today) get whole agents instead (everything
// they may be offered there, capped by their queue's maximum), one agent
// per turn of their queue.
//
// A framework that publishes no demand counts as wanting without limit
// while it is active and not suppressed (Mesos' reading of "not
// suppressed"): such frameworks should suppress when idle, or their queue
// counts as starved and, with preemption on, takes its target back.
//
// PolicyInfo::demand is the whole queue (1,000,000 instances): grants are
// sized to published tasks with their keys, `fair` splits shares by each
// queue's demand (used + pending), and starvation is unplaced pending
// work; a short window would understate demand and shares.
//
// Preemption (`preemption=true`): a leaf is starved while its use is below
// its target (capacity: its guarantee; fair: its fair share, which is
// already capped by its demand) and work of it stayed unplaced after a
// round (or a framework of it that publishes no demand asks for offers).
// Once starved for `preemption_timeout`, the policy reclaims, for its
// unplaced units in order and until the target is reached, resources from
// leaves above their own targets: the most over target (used / target)
// first, never taking one below its target, on the agent where this policy
// granted to it most recently among those where that makes room for the
// unit; the host kills the newest tasks there. Reclaims in flight count as already moved until the
// host recovers the resources, so nothing is reclaimed twice. For frameworks without demand the
// deficit itself is reclaimed, agent by agent. The host may kill a little more than asked (whole
// tasks).
class QueueAllocator final : public Allocator {
 public:
  enum class Mode : std::uint8_t { kCapacity, kFair };

  QueueAllocator(Mode mode, const Params& params);
  std::string_view name() const override { return mode_ == Mode::kCapacity ? "capacity" : "fair"; }
  static PolicyInfo capacityInfo();
  static PolicyInfo fairInfo();

  // The queue tree in use (after the last round, for dynamic trees).
  const std::vector<QueueSpec>& queues() const { return tree_; }

 private:
  // A framework's progress through its pending work in this round.
  struct Cursor {
    FrameworkIndex fw = 0;
    int leaf = 0;
    std::uint64_t registration = 0;
    bool noDemand = false;
    std::uint32_t unit = 0;    // index into the framework's demand
    std::uint32_t done = 0;    // instances of that record granted this round
    std::size_t agentPos = 0;  // whole-agent offers: next open agent to look at
  };
  // Pending work of a leaf left unplaced by this round: demand[first, end)
  // of the framework (a gang: every record; else `count` more instances).
  struct Unplaced {
    int leaf = 0;
    FrameworkIndex fw = 0;
    std::uint32_t first = 0, end = 0;
    std::uint32_t count = 0;
  };
  // A reclaim the host has not yet recovered.
  struct InFlight {
    FrameworkIndex fw = 0;
    AgentIndex agent = 0;
    Scalars amount = Scalars::Zero();
    int beneficiary = -1;  // leaf it was made for (-1: forgotten)
    double credit = 0;     // share counted as on its way to the beneficiary
    TimePoint issued{};
  };

  void decide(TimePoint now) override;
  void onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                   std::uint64_t task) override;
  void onAgentRemoved(AgentIndex agent) override;
  void onFrameworkRemoved(FrameworkIndex fw) override;

  void refreshTree();
  int leafOf(RoleIndex role) const;
  void collect();
  void computeFairShares();
  double share(const Scalars& v) const;
  bool before(int a, int b) const;  // serve a before b
  int pickLeaf() const;
  void markDone(int leaf);
  void account(int leaf, const Scalars& amount);
  Scalars headroom(int leaf) const;
  bool serve(int leaf);
  bool serveDemand(Cursor& c);
  bool serveWholeAgent(Cursor& c);
  bool placeGang(Cursor& c, std::uint32_t first, std::uint32_t end);
  // First agent (in open_ from `pos`) where `shape` fits in what is free and
  // `fw` is not filtered; -1 if none. With `learn`, moves `pos` past agents
  // where it does not fit and remembers shapes that fit nowhere.
  int findAgent(FrameworkIndex fw, const Resources& shapeRes, const Scalars& shape,
                std::size_t& pos, bool learn) const;
  void buildFreeTree();
  void updateFreeTree(AgentIndex agent);  // after a grant there
  // The first position >= `from` in open_ whose available unreserved
  // scalars hold `shape`; ~0 if none.
  std::size_t firstFit(const Scalars& shape, std::size_t from) const;
  std::size_t firstFitIn(const Scalars& shape, std::size_t from, std::size_t node, std::size_t lo,
                         std::size_t width) const;
  std::size_t& cursorFor(const Scalars& shape);
  Scalars freeOn(AgentIndex a) const;
  void noteGrant(FrameworkIndex fw, AgentIndex agent);
  TimePoint grantedAt(FrameworkIndex fw, AgentIndex agent) const;

  // What one preemption round has counted on so far: shapes promised and
  // resources reclaimed on agents, and what it took from whom, so that two
  // units never count on the same resources.
  struct Ledger {
    struct Take {
      FrameworkIndex fw = 0;
      AgentIndex agent = 0;
      Scalars amount = Scalars::Zero();
      int victim = 0;
    };
    std::map<AgentIndex, Scalars> promised;
    std::map<AgentIndex, Scalars> freed;
    std::vector<Take> takes;
    Scalars taken(FrameworkIndex fw, AgentIndex agent) const;
  };

  void preempt(TimePoint now);
  // Reclaims room for one unit of `leaf` (`records` PendingTasks from
  // `first`: one instance of a plain record, or a whole gang); returns false,
  // reclaiming nothing, when no victim can make room for all of it.
  bool reclaimForUnit(int leaf, FrameworkIndex fw, const PendingTask* first, std::size_t records,
                      TimePoint now);
  // Reclaims `deficit` (a share) for frameworks that publish no demand.
  void reclaimDeficit(int leaf, double deficit, TimePoint now);
  // Leaves above their targets, most over target first, counting `outgoing`
  // (by queue) as already gone.
  std::vector<int> victimOrder(const std::vector<double>& outgoing) const;
  // Frameworks of `leaf` holding unreserved resources on `agent` not yet
  // reclaimed, newest first, with how much.
  std::vector<std::pair<FrameworkIndex, Scalars>> reclaimable(int leaf, AgentIndex agent) const;

  Mode mode_;
  bool dynamic_;  // no `queues` parameter: one leaf per role
  bool preemption_;
  Duration preemptionTimeout_;

  std::vector<QueueSpec> tree_;
  std::vector<int> leafOfRole_;              // by role index; -1: not computed
  std::uint64_t treeConfigVersion_ = ~0ull;  // dynamic trees: configVersion() they reflect
  std::vector<RoleIndex> treeRoles_;         // dynamic trees: the role of each leaf
  std::vector<std::optional<TimePoint>> starvedSince_;  // by queue
  std::vector<InFlight> inFlight_;
  // By agent slot: when this policy last granted there to each framework,
  // so that preemption takes the newest grants (hence tasks) first.
  std::vector<std::vector<std::pair<FrameworkIndex, TimePoint>>> grantedAt_;
  TimePoint now_{};  // of the round being decided

  // Scratch of one round, by queue.
  Scalars inverseTotal_ = Scalars::Zero();
  std::vector<Scalars> used_;
  std::vector<double> usedShare_;
  std::vector<Scalars> pending_;
  std::vector<std::uint8_t> unbounded_;  // a framework without demand asks for offers
  std::vector<double> target_;           // guarantee (capacity) or fair share (fair)
  std::vector<std::uint8_t> servable_;
  std::vector<std::vector<std::uint32_t>> leafCursors_;  // indices into cursors_, FIFO
  std::vector<std::size_t> leafNext_;
  std::vector<Cursor> cursors_;
  std::vector<Unplaced> unplaced_;
  std::vector<double> incoming_, outgoing_;
  // By queue: agents its frameworks use, newest grant first.
  std::vector<std::vector<AgentIndex>> victimAgents_;
  Ledger ledger_;

  // Scratch of one round, agents.
  std::vector<AgentIndex> activeAgents_;
  std::uint64_t activeAgentsVersion_ = ~0ull;
  std::vector<AgentIndex> open_;  // alive, active, something allocatable; slot order
  Scalars freeTotal_ = Scalars::Zero();
  // By task shape: no open agent before this position holds it (free space
  // only shrinks within a round). Ordered, for determinism of nothing but
  // lookups; a round meets a few thousand shapes at most.
  std::map<std::array<double, kMaxScalarDims>, std::size_t> shapeCursors_;
  // Over open_ positions, a complete binary tree of component-wise maxima
  // of available unreserved scalars (leaves_ leaves; padding holds -1):
  // first fit descends only where a subtree may hold the shape.
  std::vector<Scalars> freeMax_;
  std::size_t leaves_ = 1;
  std::vector<std::uint32_t> positionOf_;  // by agent slot: position in open_
  mutable std::vector<Scalars> failed_;    // shapes that fit on no open agent
  std::vector<Scalars> tentative_;         // by agent slot: taken by a gang being placed
  std::vector<AgentIndex> touched_;
};

}  // namespace allot
