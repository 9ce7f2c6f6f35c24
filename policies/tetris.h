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
// Remaining work is count x estimate summed over the units of the job; a
// unit without an estimate counts the mean of the known estimates (1 s when
// none is known, so that the work is the instance count). PendingTask names
// no job: with srpt_scope=unit (the default) each published unit is its own
// job; with srpt_scope=submission the units a framework published with one
// submission time are one job (the simulator gives every unit of a job its
// ready time, but a trace's jobs that were already waiting at its start
// share one too).
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
  bool jobBySubmission_;

  // Scratch of one round. A group holds unit items of one framework that
  // score alike — one shape and one job, or (srpt_scope=unit) one shape, count
  // and estimate — placed in publication order; or one gang. The next item
  // has the least work left in its group.
  struct Group {
    std::uint32_t begin;  // items: groupItems_[begin, end), next at `next`
    std::uint32_t end;
    std::uint32_t next;
  };
  struct GroupKey {
    std::uint64_t job;  // job index, or (srpt_scope=unit) count
    std::int64_t estimate;
    packing::ShapeId shape;
    bool operator==(const GroupKey&) const = default;
  };
  struct GroupKeyHash {
    std::size_t operator()(const GroupKey& k) const {
      std::uint64_t h = k.job * 0x9E3779B97F4A7C15ULL;
      h ^= static_cast<std::uint64_t>(k.estimate) + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
      h ^= k.shape + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
      return static_cast<std::size_t>(h);
    }
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
  struct Candidate {
    double value;  // alignment + epsilon * p when pushed; an upper bound later
    std::uint32_t group;
    std::uint32_t stamp;  // the group's stamp when pushed: older copies are dropped
    bool operator<(const Candidate& o) const {
      return value != o.value ? value < o.value : group > o.group;
    }
  };
  std::vector<std::vector<std::uint32_t>> groupsOf_;  // per contender: its groups
  std::vector<std::vector<Candidate>> heapsOf_;       // per contender: groups by value
  std::vector<std::uint32_t> stamps_;                 // per group
  std::vector<double> jobWork_;
  std::vector<std::uint32_t> jobOfItem_;
  std::vector<Contender> order_;
  std::vector<std::uint32_t> itemGroup_;                                  // scratch
  std::unordered_map<std::int64_t, std::uint32_t> jobOf_;                 // looked up only
  std::unordered_map<GroupKey, std::uint32_t, GroupKeyHash> groupByKey_;  // looked up only
  double fallbackEstimate_ = 1;
};

}  // namespace allot
