#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"
#include "allot/policies/word_set.h"

namespace allot {

// A min-cost flow network as the flow policy builds it: node 0 is the
// source, node 1 the sink. Exposed so that tests can hand the very network a
// round solved to an independent solver.
struct FlowNetwork {
  struct Arc {
    std::int32_t from = 0;
    std::int32_t to = 0;
    std::int64_t capacity = 0;
    std::int64_t cost = 0;  // per unit of flow, >= 0
  };
  std::int32_t nodes = 0;
  std::int32_t source = 0;
  std::int32_t sink = 1;
  std::vector<Arc> arcs;
};

enum class FlowSolver : std::uint8_t {
  kSuccessiveShortestPath,  // Boost's successive_shortest_path_nonnegative_weights
  kCycleCanceling,          // Boost's edmonds_karp_max_flow, then cycle_canceling
};

// A maximum flow of least cost.
struct FlowSolution {
  std::int64_t flow = 0;
  std::int64_t cost = 0;           // Boost's find_flow_cost
  std::vector<std::int64_t> arcs;  // flow on each arc, in the network's order
};

// Solves `network` from scratch with Boost.Graph (no state shared with any
// allocator). REQUIRES: arcs' endpoints < nodes, capacities and costs >= 0.
FlowSolution solveFlowNetwork(const FlowNetwork& network, FlowSolver solver);

// What the last round of a FlowAllocator built and solved; the benchmark
// reads it beside the round's wall time (the policy reads no clock).
struct FlowRoundStats {
  std::uint32_t tasks = 0;      // PendingTask records in the network
  std::uint64_t instances = 0;  // their instances (the flow to route)
  std::uint32_t machines = 0;   // agents in the network (candidates and X's)
  std::uint32_t classes = 0;    // distinct (capacity, free) agent vectors
  std::uint32_t nodes = 0;
  std::uint32_t arcs = 0;         // forward arcs (Boost adds one reverse arc each)
  std::int64_t cost = 0;          // of the min-cost max-flow
  std::uint64_t routed = 0;       // instances the solution sent to machines
  std::uint64_t placed = 0;       // instances granted
  std::uint64_t unscheduled = 0;  // instances routed to the unscheduled node
  std::uint64_t spilled = 0;      // sent straight to a machine where they no longer fit
  std::uint64_t beyond = 0;       // placed on agents outside the network by the repair
  bool graphReused = false;       // the Boost graph of the last round was updated in place
  bool classesReused = false;     // agent classes and candidate lists were kept
};

class FlowGraph;  // the Boost graph a FlowAllocator keeps between rounds

// Quincy-style min-cost max-flow placement (Isard et al., SOSP 2009), as
// Firmament runs it (Gog et al., OSDI 2016), on Boost.Graph.
//
// Each round builds a flow network from the frameworks' published pending
// work: one node per PendingTask record supplying `count` units (its
// instances are identical, so one node with capacity count has the same
// optimum as count nodes), with arcs
//   task -> machine  for the k (`candidates`) agents where the shape fits
//                    best, cost = how well it fits (`fit`: pack prefers the
//                    least normalized leftover, spread the most), 0..1000;
//   task -> X        the cluster aggregator: the worst of the task's direct
//                    costs + `aggregator_cost`, so it is taken only when the
//                    good machines are full;
//   X -> machine     to the emptiest (spread) or fullest (pack) agents whose
//                    slots cover every pending instance: restricting X to a
//                    cheapest prefix of capacity >= the flow leaves the
//                    optimum unchanged;
//   task -> U        unscheduled: `unscheduled_cost` + `wait_cost` x seconds
//                    waited, so waiting tasks win contended machines and,
//                    when unscheduled_cost is below placement costs, a task
//                    waiting for a better machine is placed eventually;
//   machine -> sink  capacity = slots, U -> sink.
// Slots approximate Quincy's one-task-per-slot machines for
// multi-dimensional shapes: a machine's slots are how many instances of the
// round's mean pending shape (weighted by count) fit in its free resources,
// at least one if any pending shape fits; a task's direct arc carries at
// most as many of its own shape as fit. The flow may thus ask a machine for
// more than fits in sum (mixed shapes), or leave room unused. The placement
// never over-commits: flows are placed in order (longest waiting first) on a
// running copy of the free resources, and what no longer fits where the flow
// sent it (and what X carried) tries the task's other candidates, then X's
// machines, then further agents in X's order; only instances the flow left
// unscheduled wait for the next round.
//
// The network holds at most `window` instances a round (default 1,000), the
// longest waiting first across frameworks (a host's demand window is per
// framework); the rest wait for a later round, which the policy asks for
// (wakeAt) right away. It also asks for a round when the waiting cost of an
// instance it left unscheduled for its cost will exceed its cheapest arc.
//
// Spread tasks (PendingTask::spread, Google's different-machine constraint)
// get direct arcs of capacity 1, and the placement puts at most one spread
// instance of a framework on an agent, counting the spread instances this
// policy granted there and has not recovered. That is stricter than the
// interface's one instance per key: the simulator publishes each Google
// task as its own key and enforces the constraint per job, which the policy
// cannot see, and a framework's jobs are a superset of any one job. It never
// offers what the framework must decline; it may delay spread tasks of a
// framework that already runs spread tasks everywhere.
//
// Gangs (PendingTasks of one key with gang = true) are left out of a round
// unless their total fits in the cluster's free total; a gang is granted only
// if every instance found a machine, else all of its placements are undone
// (and their room stays free until the next round).
//
// Solvers (`solver`): Boost's successive shortest path (ssp, default), or
// Edmonds-Karp max flow then cycle canceling (cycle; far slower, for
// comparison). Neither is incremental: each round solves from scratch. What
// is kept between rounds (`incremental`): the agents' (capacity, free)
// classes and each shape's candidate list while no agent changed, and the
// Boost graph itself when the network has the same arcs as last round (only
// capacities and costs are rewritten; no allocation).
//
// Tasks that ask for nothing (an empty shape: Alibaba and Google have some)
// stay out of the network: they need no room, and a slot would only take one
// from a task that does. Each such PendingTask is granted the token
// (ClusterState::tokenScalars) under its key on the first agent in X's order
// with room for it (a spread one on up to `count` agents, one each), after
// the round's placements: an empty grant is no offer, and without one the
// framework, whose demand window may hold nothing else, would never launch
// them. A part of a gang that asks for something goes with that gang's
// grants instead.
//
// Only unreserved resources are placed on. Without published demand (the
// runtime master, where frameworks publish none) frameworks get whole-agent
// offers, first fit in registration order, as fifo does.
class FlowAllocator final : public Allocator {
 public:
  explicit FlowAllocator(const Params& params);
  ~FlowAllocator() override;
  std::string_view name() const override { return "flow"; }
  static PolicyInfo info();

  const FlowRoundStats& lastRound() const { return stats_; }
  // The network the last round solved (empty when it built none).
  const FlowNetwork& lastNetwork() const { return network_; }

 private:
  struct ScalarsLess {
    bool operator()(const Scalars& a, const Scalars& b) const;
  };
  // Agents with the same capacity and free vector.
  struct AgentClass {
    Scalars capacity = Scalars::Zero();
    Scalars free = Scalars::Zero();
    std::uint32_t first = 0, count = 0;  // in sortedAgents_
    std::int64_t loadCost = 0;           // of the X -> machine arc
  };
  struct Candidate {
    AgentIndex agent = 0;
    std::uint32_t cls = 0;
    std::int64_t cost = 0;
  };
  struct ShapeInfo {
    std::uint64_t epoch = ~std::uint64_t{0};  // classes epoch the candidates are for
    std::vector<Candidate> candidates;        // best first
  };
  // One PendingTask record in the network.
  struct Record {
    FrameworkIndex fw = 0;
    const PendingTask* task = nullptr;
    Scalars shape = Scalars::Zero();
    const ShapeInfo* info = nullptr;
    std::int64_t unscheduledCost = 0;
    std::uint32_t gang = ~std::uint32_t{0};  // index into gangs_, or none
    bool spread = false;                     // PendingTask::spread
    std::int32_t node = 0;
    std::uint32_t firstArc = 0, arcCount = 0;  // its arcs in network_
  };

  void decide(TimePoint now) override;
  void onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                   std::uint64_t task) override;
  void onAgentRemoved(AgentIndex agent) override;
  void onFrameworkRemoved(FrameworkIndex fw) override;
  void refreshAgents();
  void collectRecords(TimePoint now);
  const ShapeInfo& shapeInfo(const Scalars& shape);
  std::uint32_t slots(std::uint32_t cls) const;
  void buildNetwork();
  void place(const FlowSolution& solution);
  void grantTokens();
  void askForNextRound(const FlowSolution& solution, TimePoint now);
  std::int64_t fitCost(const Scalars& shape, const AgentClass& cls) const;

  FlowSolver solver_;
  std::uint32_t k_;
  bool spread_;
  std::int64_t aggregatorCost_;
  std::int64_t unscheduledCost_;
  double waitCost_;
  bool incremental_;
  std::uint64_t window_;
  std::uint64_t seed_;

  // Per agent slot, kept between rounds.
  std::vector<std::uint64_t> seenVersion_;
  std::vector<std::uint32_t> rank_;  // seeded order: ties among equal agents
  std::vector<std::uint32_t> classOf_;
  std::uint64_t seenAgentSet_ = ~std::uint64_t{0};
  std::vector<AgentIndex> sortedAgents_;
  std::vector<AgentClass> classes_;
  std::vector<std::uint32_t> classesByLoad_;
  std::vector<AgentIndex> byLoad_;  // agents of classesByLoad_, in order
  std::uint64_t epoch_ = 0;         // bumped whenever the classes are rebuilt
  bool classesChanged_ = true;
  std::map<Scalars, ShapeInfo, ScalarsLess> shapes_;
  // Instances of spread keys this policy granted and not yet recovered:
  // (framework, key) -> (agent, amount), at most one per agent.
  std::map<std::pair<FrameworkIndex, std::uint64_t>, std::vector<std::pair<AgentIndex, Scalars>>>
      spreadRunning_;
  // (framework, agent) pairs: a bit row over agents per framework, so that
  // the placement walks test one word instead of walking a tree of every
  // running spread instance (Google: most of `flow`'s round).
  class SpreadSet {
   public:
    void clear() {
      for (auto& row : rows_) std::fill(row.begin(), row.end(), 0);
    }
    void insert(FrameworkIndex fw, AgentIndex agent) {
      if (rows_.size() <= fw) rows_.resize(fw + 1);
      auto& row = rows_[fw];
      if (row.size() <= agent / 64) row.resize(agent / 64 + 1, 0);
      word_set::set(row, agent);
    }
    bool contains(FrameworkIndex fw, AgentIndex agent) const {
      return fw < rows_.size() && word_set::test(rows_[fw], agent);
    }

   private:
    std::vector<std::vector<std::uint64_t>> rows_;
  };
  // From spreadRunning_, and the spread instances this round placed.
  SpreadSet spreadOn_;

  // Scratch of one round.
  std::vector<Record> records_;
  std::vector<Record> nothing_;  // PendingTasks that ask for nothing (no network node)
  std::vector<std::pair<FrameworkIndex, std::uint64_t>> gangs_;
  std::vector<Scalars> shapeList_;  // distinct shapes of records_
  std::uint64_t instances_ = 0;
  bool windowCut_ = false;               // the window left records out this round
  Scalars meanShape_ = Scalars::Zero();  // of the instances in the network
  Scalars minShape_ = Scalars::Zero();   // component-wise least pending shape
  std::vector<std::int32_t> machineOf_;  // by agent slot: index in machines_, or -1
  std::vector<std::int32_t> nodeOf_;     // by agent slot: its node, or -1
  std::vector<AgentIndex> machines_;     // by node - kFirstMachine
  std::vector<std::uint32_t> xMachines_;
  FlowNetwork network_;
  FlowRoundStats stats_;

  std::unique_ptr<FlowGraph> graph_;
};

}  // namespace allot
