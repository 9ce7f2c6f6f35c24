#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
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
//   other reservation; a job starts when its reservation is now. The
//   reservations are kept from round to round, and each round compresses
//   them (Mu'alem & Feitelson): in queue order, each job's reservation is
//   taken out and made again at the earliest time it fits with every other
//   job's held, so it moves earlier when jobs end before their estimates
//   and never later, unless what it held became impossible (a job ran past
//   its estimate, a machine went). Recomputing them from scratch instead let
//   an earlier job take a later job's slot and push it back.
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
    // Identical jobs in a row: the instances of one task that is not a gang,
    // each a job of its own. One entry for them all keeps a round's queue
    // (built and sorted every round) as long as the published tasks, not
    // their instances (Alibaba's have thousands each).
    std::uint32_t count = 1;
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
  // Conservative backfilling for one job: its reservation at the earliest
  // step of profile_ from which it fits for its whole estimated run, taken
  // out of profile_ and started if that is now. Returns the reservation's
  // time, or kTimeNever once the job started; nullopt, changing nothing,
  // when there is no such step.
  std::optional<TimePoint> reserve(const Job& job, TimePoint now);
  // Adds `delta` to profile_'s free resources over [from, to) (to may be
  // kTimeNever), splitting steps at both ends. REQUIRES: from >= the first
  // step's time.
  void book(TimePoint from, TimePoint to, const Scalars& delta);
  static TimePoint endOf(TimePoint from, const Job& job) {
    return job.estimate > Duration::zero() ? saturatingAdd(from, job.estimate) : kTimeNever;
  }
  // Running jobs' expected ends (never before `now`) with what they free.
  std::vector<std::pair<TimePoint, Scalars>> releases(TimePoint now) const;
  // Returns true iff a job of `key` this policy started runs on `agent`.
  bool runsOn(std::uint64_t key, AgentIndex agent) const;
  void dropRunning(const std::function<bool(const Running&)>& gone);
  static std::uint64_t place(FrameworkIndex fw, AgentIndex agent) {
    return (std::uint64_t{fw} << 32) | agent;
  }

  Mode mode_;
  // By task key (ordered: sums over it come out the same every run), then by
  // grant: a task's end finds its booking by its place's grants (placed_)
  // instead of walking the key's (Alibaba's tasks have thousands each).
  using Bookings = std::map<std::uint64_t, Running>;  // by seq
  std::map<std::uint64_t, Bookings> running_;
  // The same bookings by place (framework, agent), as (seq, task key): a
  // decline looks up its place instead of walking every running task (on
  // Google's part 0, with 100,000s running, that walk was 90% of a replay).
  std::unordered_map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>> placed_;
  std::vector<std::uint64_t> endedSeqs_;  // scratch of onRecovered, kept across task ends
  // The bookings with an expected end, as (end, task key, seq): releases()
  // reads them in order instead of walking and sorting every running task
  // each round (Google's tasks have no estimates: 100,000s walked for none).
  std::set<std::tuple<TimePoint, std::uint64_t, std::uint64_t>> ends_;
  // Erases a booking from running_'s companions (placed_, ends_).
  void forget(std::uint64_t key, const Running& r);
  std::uint64_t grants_ = 0;
  // Component-wise largest free_ of any agent at the round's start: free
  // resources only shrink within a round, so what exceeds it fits nowhere.
  Scalars maxFree_ = Scalars::Zero();
  // Agents in blocks of kBlock slots, each with a component-wise bound on its
  // agents' free_ (exact at the round's start, tightened when a scan of the
  // block finds no room, raised when a failed placement gives room back): a
  // first-fit scan skips a block the part does not fit (on Google's part 0,
  // each start walked all 12,583 agents of a full cluster).
  static constexpr AgentIndex kBlock = 64;
  std::vector<Scalars> blockFree_;
  void tightenBlock(std::size_t block);
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
  // conservative: the reservations queued jobs hold, by task key, earliest
  // first (the instances of a task that is not a gang are alike, so the
  // first to start gives up the earliest).
  std::unordered_map<std::uint64_t, std::vector<TimePoint>> reservations_, kept_;
};

}  // namespace allot
