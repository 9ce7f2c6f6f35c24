#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <vector>

#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"

namespace allot {

// Backfilling batch schedulers for rigid (gang) jobs, the standard baselines
// for SWF logs. The pending work of every framework forms one queue, in
// submit order (ties: framework registration, then the framework's order).
//
// - `easy` (EASY; Lifka 1995, Mu'alem & Feitelson 2001): start jobs in order
//   while they fit. When the head does not, reserve for it the earliest time
//   enough resources come back (the shadow time, from running jobs'
//   estimated ends) and start later jobs that fit now if they end by the
//   shadow time or use only what the head will not need then (the extra).
// - `conservative`: every queued job, in order, gets a reservation at the
//   earliest time it fits for its estimated run time without moving any
//   earlier reservation; a job starts when its reservation is now. The
//   reservations are recomputed from scratch at each round, so they move
//   earlier when jobs end before their estimates (compression).
//
// Estimates are the published PendingTask::estimate (SWF requested time, or
// the actual duration with `allot sim --exact-estimates`). A job running
// past its estimate is expected to end now; a job without one never ends,
// as far as reservations go. Reasoning about the future uses cluster-wide
// sums of unreserved scalars, as the classic definitions count processors;
// starting a job now places its instances first fit on agents' free
// resources (so both are exact for SWF's one-cpu instances on identical
// machines). A non-gang pending task counts as `count` one-instance jobs.
// Running jobs are the ones this policy granted; onRecovered with the
// task's key ends them.
//
// Without published demand (frameworks that publish none, like `allot run`)
// both act as `fifo` without demand: whole agents to frameworks in
// registration order.
class BackfillAllocator final : public Allocator {
 public:
  enum class Mode : std::uint8_t { kEasy, kConservative };

  BackfillAllocator(Mode mode, const Params& params);
  std::string_view name() const override { return mode_ == Mode::kEasy ? "easy" : "conservative"; }
  static PolicyInfo easyInfo();
  static PolicyInfo conservativeInfo();

 private:
  // One rigid job of the queue: instances of one or more shapes, all or none.
  struct Job {
    FrameworkIndex fw = 0;
    std::uint64_t key = kNoTask;
    TimePoint submitted{};
    std::uint64_t registration = 0;  // of its framework: ties in submit time
    std::uint32_t position = 0;      // in its framework's published order
    Duration estimate{0};            // of each instance; 0: unknown
    std::uint32_t firstPart = 0, parts = 0;
    Scalars total = Scalars::Zero();
  };
  struct Part {
    const Resources* shape = nullptr;  // points into the framework's demand
    Scalars scalars = Scalars::Zero();
    std::uint32_t count = 0;
    bool spread = false;  // one instance per agent
  };
  // What a granted job holds on one agent, until when we expect.
  struct Running {
    std::uint64_t seq = 0;  // grant order
    FrameworkIndex fw = 0;
    AgentIndex agent = 0;
    Scalars amount = Scalars::Zero();
    TimePoint end{};  // kTimeNever: no estimate
  };
  // A step of the free-resources profile: from `time` on (until the next
  // step), `free` is available.
  struct Step {
    TimePoint time{};
    Scalars free = Scalars::Zero();
  };

  void decide(TimePoint now) override;
  void onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                   std::uint64_t task) override;
  void onAgentRemoved(AgentIndex agent) override;
  void onFrameworkRemoved(FrameworkIndex fw) override;

  void collectQueue();
  // Places `job` on the agents' free resources first fit and grants it;
  // returns false, granting nothing, when it does not fit.
  bool start(const Job& job, TimePoint now);
  void easy(TimePoint now);
  void conservative(TimePoint now);
  // Running jobs' expected ends (never before `now`) with what they free.
  std::vector<std::pair<TimePoint, Scalars>> releases(TimePoint now) const;
  void offerWholeAgents();
  // Returns true iff a job of `key` this policy started runs on `agent`.
  bool runsOn(std::uint64_t key, AgentIndex agent) const;
  void dropRunning(const std::function<bool(const Running&)>& gone);

  Mode mode_;
  // By task key (ordered: sums over it come out the same every run).
  std::map<std::uint64_t, std::vector<Running>> running_;
  std::uint64_t grants_ = 0;
  // Component-wise largest free_ of any agent at the round's start: free
  // resources only shrink within a round, so what exceeds it fits nowhere.
  Scalars maxFree_ = Scalars::Zero();
  // Scratch of one round.
  std::vector<Job> queue_;
  std::vector<Part> parts_;
  std::vector<Scalars> free_;  // by agent slot: available unreserved, or zero
  std::vector<std::uint8_t> usable_;
  Scalars freeTotal_ = Scalars::Zero();
  // Shapes of single instances that found no agent this round: free
  // resources only shrink within a round, so no larger one fits either.
  std::vector<Scalars> failed_;
  std::vector<Step> profile_;
};

}  // namespace allot
