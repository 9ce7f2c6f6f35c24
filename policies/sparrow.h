#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"

namespace allot {

// Sparrow (Ousterhout, Wendell, Zaharia, Stoica, SOSP 2013): sampling-based
// task placement with per-agent queues of reservations, as Sparrow's
// workers queue probes.
//
// A *job* is what one framework newly publishes in one round with one
// submit time and one task shape (published one after another): all task
// records of a job the simulator makes ready, or the instances of one key.
// Its m instances are placed by `mode`:
// - `batch` (default): ceil(d*m) reservations (d = probe_ratio) on distinct
//   agents drawn at random; late binding: an agent with room pops its queue
//   in FIFO order and is granted one instance of the job, whichever is next;
//   a reservation of a job with nothing left to place is cancelled (dropped).
// - `batch-bound`: batch sampling without late binding: the m instances are
//   bound to the m least loaded of the ceil(d*m) probed agents.
// - `per-task`: each instance probes ceil(d) agents and is bound to the
//   least loaded of them (the power of two choices).
// - `random`: each instance bound to one agent drawn at random (distinct
//   within a job where possible).
// - `omniscient`: the paper's ideal baseline, not Sparrow: a central
//   scheduler that places instances on any agent with room, at once, jobs in
//   global FIFO order (submit time, framework registration, publish order);
//   an instance that fits nowhere is passed over, not waited for.
// Agents serve their queues in FIFO order (a reservation whose task does
// not fit the free room waits, and the ones behind it too), or with
// `queue=first-fit` pass over it to the ones that fit: Sparrow's slots are
// all alike, real tasks are not.
// An agent's load (what a probe sees) is its queued reservations plus the
// instances of the job's shape its used resources amount to. Agents are
// drawn only among those whose total capacity holds the shape; when there
// are fewer such agents than probes, every one is probed and the rest drawn
// with replacement. Bound reservations of instances the framework launched
// elsewhere are dropped when they reach the front.
//
// Grants are one instance, sized to it and named by its key; the policy
// tracks what it granted until the framework's published count drops
// (launched) or the resources come back unused (declined, rescinded), and
// probes again for instances whose reservations were lost (a refused grant,
// a removed agent). Only unreserved resources are used.
//
// Gangs are outside Sparrow's model (its tasks start independently; sampled
// piecemeal, a wide gang would be declined round after round). They are
// placed centrally, before the queues are served: oldest first (submit
// time, registration, publish order), each whole, first fit over the
// agents' free resources, or passed over when it does not fit now.
//
// Cost per round: the frameworks whose published demand changed, the new
// jobs' probes, and the agents that got resources back or new reservations
// (`omniscient`: the agents with room, while instances wait); not every
// agent.
//
// Without published demand (runtime frameworks that do not call
// publishDemand, like `allot run`): whole agents, in a seeded random order,
// each offered to a framework drawn uniformly among those that may take it,
// as `random` does; agents' queues are then empty.
class SparrowAllocator final : public Allocator {
 public:
  enum class Mode : std::uint8_t { kBatch, kBatchBound, kPerTask, kRandom, kOmniscient };

  // Counters since construction, for tests and benchmarks.
  struct Stats {
    std::uint64_t reservations = 0;  // placed in agents' queues (batch: d per task)
    std::uint64_t grants = 0;        // instances granted
    std::uint64_t cancelled = 0;     // reservations dropped: nothing left to place
    std::uint64_t refused = 0;       // reservations dropped: the grant was refused
    std::uint64_t reprobed = 0;      // instances probed again after losing reservations
  };

  explicit SparrowAllocator(const Params& params);
  std::string_view name() const override { return "sparrow"; }
  static PolicyInfo info();

  Mode mode() const { return mode_; }
  const Stats& stats() const { return stats_; }
  // Reservations waiting in `agent`'s queue (including ones that will be
  // cancelled when they reach the front).
  std::size_t queued(AgentIndex agent) const {
    return agent < agents_.size() ? agents_[agent].queue.size() : 0;
  }

 private:
  // One published PendingTask of a framework.
  struct Unit {
    bool live = false;
    std::uint32_t generation = 0;
    FrameworkIndex fw = 0;
    std::uint64_t key = kNoTask;
    std::uint32_t ordinal = 0;  // among PendingTasks of this key (records of a gang)
    std::uint32_t job = 0;
    std::uint32_t position = 0;  // in its job's units
    Resources shape;
    std::uint32_t published = 0;         // count last published
    std::uint32_t inflight = 0;          // granted, neither seen launched nor returned
    std::uint32_t remaining = 0;         // published - inflight: still to place
    std::uint32_t reservations = 0;      // bound modes: reservations naming it
    std::uint64_t seen = 0;              // reconcile pass
    std::vector<AgentIndex> inflightOn;  // agents of in-flight grants, oldest first
  };
  struct Job {
    bool live = false;
    std::uint32_t generation = 0;
    FrameworkIndex fw = 0;
    TimePoint submitted{};
    Scalars shape = Scalars::Zero();
    std::vector<std::uint32_t> units;  // in publish order
    std::uint32_t cursor = 0;          // units before it have nothing left to place
    std::uint32_t unplaced = 0;        // sum of its units' remaining
    std::uint32_t reservations = 0;    // batch mode: reservations naming it
    std::vector<AgentIndex> probedAt;  // batch mode: agents given its reservations
    std::uint32_t liveUnits = 0;
    std::uint64_t order = 0;  // global FIFO position (omniscient)
    bool needy = false;       // in needy_
    bool probed = false;      // probed at least once
  };
  // A queued probe: a job (batch) or a unit (bound modes), with the slot's
  // generation so that reservations of gone work are recognised.
  struct Reservation {
    std::uint32_t target = 0;
    std::uint32_t generation = 0;
  };
  struct AgentBook {
    std::deque<Reservation> queue;
    // Grants not yet resolved here: (unit, generation).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> inflight;
    bool dirty = false;   // in dirty_: has room to check against its queue
    bool listed = false;  // in free_ (omniscient)
  };
  struct UnitKey {
    std::uint64_t key;
    std::uint32_t ordinal;
    bool operator==(const UnitKey&) const = default;
  };
  struct UnitKeyHash {
    std::size_t operator()(const UnitKey& k) const {
      return std::hash<std::uint64_t>()(k.key * 0x9E3779B97F4A7C15ULL + k.ordinal);
    }
  };
  struct FrameworkBook {
    std::unordered_map<UnitKey, std::uint32_t, UnitKeyHash> units;  // lookups only
    std::vector<std::uint32_t> unitList;                            // its live units, for sweeps
    // The (key, count) list last reconciled: an unchanged publication costs
    // one comparison pass.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> snapshot;
    bool gangs = false;  // the snapshot has gang tasks
  };
  // A gang granted whole and not yet seen launched or declined.
  struct GangInFlight {
    FrameworkIndex fw = 0;
    std::uint64_t key = kNoTask;
    std::vector<AgentIndex> agents;
    bool seen = false;  // still published (scratch of placeGangs)
  };
  // Agents whose capacity holds a shape, for drawing probes.
  struct Candidates {
    std::vector<bool> groups;  // which capacity groups hold the shape
    std::vector<AgentIndex> agents;
  };

  void decide(TimePoint now) override;
  void onAgentAdded(AgentIndex agent) override;
  void onAgentRemoved(AgentIndex agent) override;
  void onFrameworkAdded(FrameworkIndex fw) override;
  void onFrameworkRemoved(FrameworkIndex fw) override;
  void onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                   std::uint64_t task) override;

  bool eligible(FrameworkIndex fw) const;
  void reconcile(FrameworkIndex fw);
  std::uint32_t newJob(FrameworkIndex fw, const PendingTask& task);
  std::uint32_t newUnit(FrameworkIndex fw, const PendingTask& task, std::uint32_t ordinal,
                        std::uint32_t job);
  void setRemaining(Unit& unit, std::uint32_t remaining);
  void removeUnit(std::uint32_t u);
  void resolveInflight(Unit& unit, std::uint32_t u, std::uint32_t count);
  void markNeedy(std::uint32_t job);
  void probe(std::uint32_t job);
  void enqueue(AgentIndex agent, std::uint32_t target, std::uint32_t generation);
  // Has `agent` look at its queue in this round or the next.
  void markDirty(AgentIndex agent);
  // `agent` may have more room: it looks at its queue (omniscient: it is
  // listed as free).
  void roomChanged(AgentIndex agent);
  // Draws `count` agents able to hold `shape` into draw_, distinct while
  // there are enough.
  void draw(const Scalars& shape, std::size_t count);
  // The agents able to hold `shape`; draw() reorders the list.
  std::vector<AgentIndex>& candidates(const Scalars& shape);
  std::uint64_t load(AgentIndex agent, const Scalars& shape) const;
  void serve(AgentIndex agent);
  // The first unit of `job` with instances to place, in publish order.
  std::uint32_t nextUnit(Job& job);
  bool grantOne(std::uint32_t u, AgentIndex agent);
  void placeOmniscient();
  void placeGangs();
  void offerWholeAgents();

  Mode mode_;
  double probeRatio_;
  bool firstFit_;  // queue=first-fit
  std::mt19937_64 rng_;
  Stats stats_;

  std::vector<Unit> units_;
  std::vector<std::uint32_t> freeUnits_;
  std::vector<Job> jobs_;
  std::vector<std::uint32_t> freeJobs_;
  std::vector<FrameworkBook> frameworks_;   // by framework slot
  std::vector<AgentBook> agents_;           // by agent slot
  std::vector<std::uint64_t> seenVersion_;  // by agent slot: agentVersion at the last full pass
  static constexpr std::uint64_t kFullPassRounds = 64;
  std::uint64_t rounds_ = 0;
  bool fullPass_ = false;
  std::uint64_t passAgentSet_ = ~std::uint64_t{0};
  Scalars passTotal_ = Scalars::Zero();
  std::vector<AgentIndex> dirty_;
  std::vector<std::uint32_t> needy_;  // jobs that may lack reservations (or, omniscient, placement)
  std::uint64_t pass_ = 0;
  std::uint64_t nextOrder_ = 0;
  // Omniscient: jobs with instances to place, by FIFO position; agents that
  // may have room.
  std::set<std::pair<std::uint64_t, std::uint32_t>> fifo_;
  std::vector<AgentIndex> free_;

  // Capacity groups (agents with equal totals) and candidate lists per set
  // of groups, rebuilt when the set of agents changes.
  std::uint64_t agentSetVersion_ = ~std::uint64_t{0};
  std::vector<std::pair<Scalars, std::vector<AgentIndex>>> capacityGroups_;
  std::vector<Candidates> candidates_;

  std::vector<GangInFlight> gangsInFlight_;

  // Scratch.
  std::vector<AgentIndex> draw_;
  std::vector<std::uint32_t> newJobs_;
  std::vector<AgentIndex> agentOrder_;
  std::vector<FrameworkIndex> takers_;
};

}  // namespace allot
