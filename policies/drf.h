#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"
#include "src/share_sorter.h"

namespace allot {

// Hierarchical Dominant Resource Fairness, as Mesos' HierarchicalDRF
// allocator: roles sorted by weighted dominant share, then frameworks within
// a role. Each round first meets quota guarantees (offering at most what the
// guarantee still lacks), then shares the rest, keeping enough unreserved
// resources as headroom for guarantees not yet met and capping roles at
// their quota limits. Reserved resources go only to their role. Each offer is
// everything on one agent the framework's role may use, as Mesos offers.
class DrfAllocator final : public Allocator {
 public:
  explicit DrfAllocator(const Params& params);
  std::string_view name() const override { return "drf"; }

  static PolicyInfo info();

 private:
  void decide(TimePoint now) override;
  void quotaStage();
  void fairShareStage();
  double share(const Scalars& allocated, double weight) const;
  // Offers `candidate` on `agent` to the first eligible framework of `role`.
  enum class Outcome { kGranted, kAllFiltered, kNoTaker };
  Outcome offerToRole(RoleIndex role, AgentIndex agent, const Resources& candidate);

  // Whether nothing at all is worth offering (a zero minimum): then an agent
  // emptied by a grant still counts as allocatable, as allocatable() says.
  bool zeroAllocatable_;
  std::mt19937_64 rng_;
  bool shuffleAgents_;
  Scalars inverseTotal_ = Scalars::Zero();
  std::vector<AgentIndex> agents_;             // the quota stage's agent order
  std::vector<AgentIndex> activeAgents_;       // alive and active, slot order
  std::uint64_t activeAgentsVersion_ = 0;      // agentSetVersion() they reflect
  std::vector<ShareSorter> frameworkSorters_;  // by role: eligible frameworks
  std::vector<FrameworkSet> eligibleInRole_;   // by role: same, as bits
  ShareSorter roleSorter_;
  std::vector<RoleIndex> roleOrder_;  // scratch
  // Per agent slot: the versions under which every framework that could take
  // the agent had declined all of it (see fairShareStage).
  struct Verdict {
    std::uint64_t agentVersion = ~std::uint64_t{0};
    std::uint64_t config = 0;
    std::uint64_t roleSet = 0;
  };
  std::vector<Verdict> skipped_;
  // By agent slot, the version at which it held only crumbs (nothing worth
  // offering, no reservation): in a busy cluster most agents, round after round.
  std::vector<std::uint64_t> crumbs_;
  // Scratch, by agent slot: what this round's fair sharing does with it.
  static constexpr std::uint8_t kPassOver = 0;  // nothing there, or verdict holds
  static constexpr std::uint8_t kVisit = 1;     // look at it
  static constexpr std::uint8_t kPlain =
      2;  // same; unreserved only, filtered: check allDeclined first
  std::vector<std::uint8_t> worth_;
  std::vector<AgentIndex> visit_;  // scratch: agents worth a visit, in order
  // Words per framework set: one bit per framework slot.
  std::size_t stride_ = 0;
  FrameworkSet coveredScratch_;
  // Returns true iff every framework still taking part in fair sharing has
  // declined all that is available on `agent` (eligibleWords_ is a subset of
  // ClusterState::filteredFrameworksOfAvailable).
  bool allDeclined(AgentIndex agent) const;
  // Scratch: every framework still taking part in fair sharing, as words.
  std::vector<std::uint64_t> eligibleWords_;
  std::vector<std::uint64_t> roleWords_;  // scratch
  FrameworkSet open_;                     // scratch: eligible and not filtered on the current agent
};

}  // namespace allot
