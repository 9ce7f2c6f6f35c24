#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "allot/policies/registry.h"
#include "src/placing.h"

namespace allot {

// Multi-resource packing after Tetris (Grandl et al., SIGCOMM 2014). Each
// round places the pending tasks frameworks published, one instance (or one
// whole gang) per step, greedily: among (task, agent) pairs where the task
// fits the agent's free unreserved resources, the highest
//
//   alignment + epsilon * p,   alignment = (demand / capacity) . (free / capacity)
//
// where p = -(remaining work of the task's job) favours jobs with less work
// left (SRPT) and epsilon = srpt_weight * (mean alignment of the pending
// tasks) / (mean remaining work of the jobs), computed at the start of the
// round, puts both terms on one scale as the paper does (section 3.3).
// Remaining work is the sum over the job's published units of count x
// estimate; a unit without an estimate counts the mean of the known
// estimates (1 s when none is known, so the work is the instance count). A
// job is what frameworks publish with one submission time (the simulator
// gives every unit of a job its ready time); PendingTask names no job.
//
// Fairness knob f (section 3.4): in each step only the ceil((1 - f) N) of
// the N frameworks with work left that are furthest below their fair share
// (lowest weighted dominant share) may place: f = 0 packs freely, f = 1
// serves the framework furthest behind first, as DRF does.
//
// Gangs place every instance or none. Each grant is sized to one task and
// names its key. Without published demand (the runtime master's
// frameworks) agents are offered whole to frameworks in order of dominant
// share, lowest first (see PlacingAllocator).
class TetrisAllocator final : public PlacingAllocator {
 public:
  explicit TetrisAllocator(const Params& params);
  std::string_view name() const override { return "tetris"; }
  static PolicyInfo info();

 private:
  void pack() override;
  // Estimated run time of one instance of `u`, in seconds.
  double estimate(const Unit& u) const;

  double fairness_;
  double srptWeight_;

  // Scratch of one round. A group holds the unit items of one framework,
  // job and shape (they score alike; placed in publication order), or one gang.
  struct Group {
    std::uint32_t job;
    std::uint32_t begin;  // items: groupItems_[begin, end), next at `next`
    std::uint32_t end;
    std::uint32_t next;
  };
  struct Contender {
    double share;
    std::uint64_t tie;  // a seeded draw each round breaks ties in share
    FrameworkIndex fw;
    std::uint32_t slot;  // into groupsOf_
    bool operator<(const Contender& o) const {
      return share != o.share ? share < o.share : tie < o.tie;
    }
  };
  std::vector<Group> groups_;
  std::vector<std::uint32_t> groupItems_;
  std::vector<std::vector<std::uint32_t>> groupsOf_;  // per contender: live groups
  std::vector<double> jobWork_;
  std::vector<Contender> order_;
  std::vector<std::uint32_t> itemGroup_;                         // scratch
  std::vector<std::uint32_t> itemJob_;                           // scratch
  std::unordered_map<std::int64_t, std::uint32_t> jobOf_;        // looked up only
  std::unordered_map<std::uint64_t, std::uint32_t> groupByKey_;  // looked up only
  double fallbackEstimate_ = 1;
};

}  // namespace allot
