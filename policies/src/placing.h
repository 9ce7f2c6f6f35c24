#pragma once

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"
#include "packer.h"

namespace allot {

// What the task-placing policies (tetris, bestfit, worstfit) share: each
// round, the pending work that frameworks published is collected into
// items — one unit (instances of one PendingTask) or one gang (every
// PendingTask of a key with gang = true) — and a policy's pack() places
// them through a Packer, granting each instance sized to its task and named
// by its key. Frameworks that published nothing (the runtime master's) get
// whole agents in order of weighted dominant share, lowest first, as in DRF.
//
// Tasks are placed in unreserved resources. Shapes with reserved pools,
// ranges or sets do not fit the packer's vectors; they are placed first fit
// after pack(). A framework that declined a task-sized offer on an agent is
// filtered there for that size until it revives (Mesos' filters); a task it
// is filtered for on every agent where it fits — a constraint the policy
// cannot see, such as Google's different-machine — gets the best such agent
// whole instead (no key), once the agent has grown past what was refused,
// so that the framework can choose as under Mesos.
class PlacingAllocator : public Allocator {
 protected:
  PlacingAllocator(const Params& params, packing::Score score);

  // One PendingTask of a framework, this round.
  struct Unit {
    FrameworkIndex fw;
    std::uint32_t task;  // index in the framework's demand
    packing::ShapeId shape;
    std::uint32_t left;  // instances not yet placed
  };
  // What is placed at once: one unit's instances one by one, or a gang whole.
  struct Item {
    FrameworkIndex fw;
    std::uint32_t first = 0;  // its units: members_[first, first + parts)
    std::uint32_t parts = 0;
    bool gang = false;
    bool done = false;  // placed, or nothing of it fits any more this round
  };

  // Places the items (units_, items_, members_). Resources only shrink
  // within a round, so an item that does not fit now will not later.
  virtual void pack() = 0;

  // Places one instance of a unit item where the packer scores best; marks
  // the item done when it has no instance left or none fits. Returns true
  // iff it placed one.
  bool placeInstance(Item& item);
  // Places every instance of a gang item, or none; marks it done.
  bool placeGang(Item& item);
  // The item's (first unit's) best score now, if it fits anywhere.
  std::optional<double> bestScore(const Item& item);

  const PendingTask& task(const Unit& u) const { return state().framework(u.fw).demand[u.task]; }
  // Weighted dominant share: max over dimensions of allocated / cluster
  // total, divided by the framework's and its role's weights.
  double share(FrameworkIndex fw) const;

  std::vector<Unit> units_;
  std::vector<Item> items_;  // by framework slot, then publication order
  std::vector<std::uint32_t> members_;
  packing::Packer packer_;
  std::mt19937_64 rng_;

 private:
  void decide(TimePoint now) final;
  void collect();
  // Takes one instance of `u` tentatively; false if it fits nowhere.
  bool takeOne(const Unit& u);
  // Grants what the packer took since its last commit, under `key`.
  void grantTaken(FrameworkIndex fw, std::uint64_t key);
  void offerBlockedWhole();
  void offerWholeAgents();

  std::vector<const Resources*> takenShapes_;                  // parallel to packer_.taken()
  std::vector<std::pair<FrameworkIndex, std::uint32_t>> odd_;  // (fw, demand index)
  // Units that fit somewhere but whose framework is filtered on every such
  // agent: (fw, shape), one per unit.
  std::vector<std::pair<FrameworkIndex, packing::ShapeId>> blocked_;
  std::vector<FrameworkIndex> wholeAgentFrameworks_;
  std::vector<AgentIndex> agents_;                              // scratch
  std::unordered_map<std::uint64_t, std::uint32_t> gangByKey_;  // looked up only
  std::vector<std::vector<std::uint32_t>> gangUnits_;           // scratch
  std::vector<std::uint32_t> gangItems_;                        // scratch
};

}  // namespace allot
