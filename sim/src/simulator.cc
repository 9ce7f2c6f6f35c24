#include "allot/sim/simulator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/huge_pages.h"
#include "allot/policies/rounds.h"
#include "src/series.h"

namespace allot::sim {
namespace {

using traces::Job;
using traces::Machine;
using traces::MachineEvent;
using traces::Task;
using traces::Workload;

// 1 for each scalar dimension some machine has at some time, else 0.
Scalars presentDimensions(const Workload& w) {
  Scalars present = Scalars::Zero();
  for (const Machine& m : w.machines) present = present.cwiseMax(m.capacity);
  for (const MachineEvent& e : w.machineEvents) present = present.cwiseMax(e.capacity);
  return (present.array() > 0).select(Scalars::Ones(), Scalars::Zero());
}

// Returns true iff machines have some dimensions and tasks ask for some, but
// for none the machines have: the simulator refuses such a workload.
bool machinesHaveNoneAsked(const Scalars& present, const Scalars& asked) {
  return present.any() && asked.any() && !asked.cwiseProduct(present).any();
}

// 1 in each dimension some task asks for, else 0.
Scalars askedDimensions(const Workload& w) {
  Scalars asked = Scalars::Zero();
  for (const Task& t : w.tasks) asked = asked.cwiseMax(demandOf(w, t));
  return (asked.array() > 0).select(Scalars::Ones(), Scalars::Zero());
}

// The names of the dimensions set in `mask`, joined with ", ".
std::string dimensionNames(const Dimensions& dims, const Scalars& mask) {
  std::string names;
  for (int d = 0; d < dims.size(); ++d) {
    if (mask[d] == 0) continue;
    if (!names.empty()) names += ", ";
    names += dims.name(d);
  }
  return names;
}

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
// Progress goes out every kProgressInterval of wall time, the clock read
// every kProgressCheck events: runs whose rounds are slow (thousands of agents
// checked per event) report as often as fast ones.
constexpr std::uint64_t kProgressCheck = 1024;
constexpr std::chrono::milliseconds kProgressInterval{250};
using detail::alignUp;
using detail::kMaxSamples;

// Same-time events run in this order: machines change first, then resources
// are released, then work arrives, then frameworks decide, and the
// allocation round runs last, after everything else of its time. (FCFS
// schedules need "releases at t happen before starts at t".)
enum class Kind : std::uint8_t {
  kMachine = 0,
  kFailure = 1,  // an injected failure or repair (Config::meanTimeBetweenFailures)
  kTaskEnd = 2,
  kSubmit = 3,
  kDecision = 4,
  kOfferTimeout = 5,
  kWake = 6,  // a finite decline filter expires, or the policy asked for a round
  kRound = 7,
};

struct Event {
  std::int64_t time;
  Kind kind;
  std::uint64_t seq;
  std::uint32_t a, b;
  bool operator>(const Event& o) const {
    if (time != o.time) return time > o.time;
    if (kind != o.kind) return kind > o.kind;
    return seq > o.seq;
  }
};

// Work a framework waits to launch: `count` instances of one task record, or
// (task == kNone) a whole gang job of `count` instances, which launches all
// at once or not at all. A unit with count 0 is done.
struct Unit {
  std::uint32_t job;
  std::uint32_t task;
  std::uint32_t count;
  std::uint32_t attempt;
  // Earlier attempts lost with their machine (Config::maxAttempts counts
  // these; preemptions make attempts too, but never fail a job).
  std::uint32_t losses;
  TimePoint ready;
  std::uint64_t key;  // PendingTask::key, unique in the run
};

struct SimFramework {
  FrameworkInfo info;
  FrameworkIndex slot = 0;   // the allocator's, while registered
  std::uint32_t role = 0;    // workload role
  std::uint32_t record = 0;  // index into Result::frameworks
  bool registered = false;
  bool suppressed = false;
  bool filtered = false;  // declined something since it last revived
  // A gang did not fit in everything it was offered: its decline filters say
  // nothing about single agents, so it revives at the next release anywhere.
  bool waitsForRelease = false;
  Scalars gangNeed = Scalars::Zero();  // the smallest such gang's total demand
  bool decisionPending = false;
  std::uint64_t offeredInRound = 0;  // last round that offered it something
  std::deque<Unit> queue;
  // Bounds a decision checks before walking the queue (see Engine::decide):
  // the component-wise smallest demand of the queue's record units, never
  // above the true one (lowered as units come, exact after a walk over all
  // of them), and whether the queue may hold a gang unit.
  Scalars queueMin = Scalars::Constant(std::numeric_limits<double>::infinity());
  bool mayHoldGang = false;
  // The queue changed since its demand was last published: publishing costs a
  // copy of every pending shape, and most decisions launch nothing.
  bool demandStale = true;
  std::uint64_t pending = 0;  // instances in queue
  std::uint64_t running = 0;
  std::uint32_t liveJobs = 0;
  Scalars used = Scalars::Zero();
  std::vector<std::uint32_t> offers;  // held offer ids
  // Units the policy sized offers to since the last decision, in grant order.
  std::vector<std::uint64_t> hinted;
  Scalars heldFree = Scalars::Zero();  // sum of the held offers' free scalars
  bool offersDropped = false;          // some held offers were given back
  std::uint32_t index = 0;             // in Engine::fws_
  // Holds offers with nothing left to launch (holdOffers): listed in
  // Engine::idleHoarders_ until another framework gets work.
  bool idleHoarding = false;
};

struct SimOffer {
  std::uint32_t fw = kNone;
  std::uint32_t machine = 0;
  Resources res;                   // what is still unused
  Scalars free = Scalars::Zero();  // res's scalars the framework may use
  std::uint32_t generation = 0;
  // Instances launched in it by the current decision (kept with a launch cap only).
  std::uint32_t launched = 0;
  bool live = false;
  std::vector<std::uint64_t> tasks;  // units the policy sized (parts of) it to
};

struct RunGroup {
  std::uint32_t record = 0;  // index into Result::tasks
  std::uint64_t unit = 0;    // key of the unit it was launched from
  std::uint32_t fw = 0;
  std::uint32_t machine = 0;
  std::uint32_t slot = 0;  // position in runningOn_[machine]
  std::uint32_t generation = 0;
  std::uint32_t losses = 0;  // its unit's (Unit::losses)
  bool live = false;
  Resources res;
  Scalars scalars = Scalars::Zero();  // of the whole group
};

struct SimJob {
  std::uint64_t remaining = 0;  // instances not yet finished
  std::uint32_t depsLeft = 0;
  std::uint32_t fw = kNone;
  bool submitted = false;
  bool done = false;  // finished, failed or unschedulable
  // Machines its differentMachine tasks run on (only for jobs that have such tasks).
  std::unique_ptr<std::unordered_set<std::uint32_t>> spread;
};

// What every offer made, merged, declined or launched in reads and writes
// first, on a line of its own: rounds and declines visit machines in random
// order, and a list of offers on the heap cost a second miss per visit.
struct alignas(64) SimMachine {
  // Live offer ids on this machine: one per framework holding one, rarely
  // more than a few.
  boost::container::small_vector<std::uint32_t, 4> offers;
  AgentIndex slot = 0;  // the allocator's, while up
  bool up = false;
  // Down by an injected failure, which the trace does not know of: up as far
  // as its events go.
  bool failed = false;
  AgentId id;
  // The trace's latest capacity; while failed, what the repair brings back.
  Scalars capacity = Scalars::Zero();
  std::vector<std::uint32_t> running;  // group ids
  // Injected failures: the machine's own random stream, and the epoch its
  // pending failure or repair event was scheduled in (a removal by the trace
  // moves it on, cancelling that event).
  std::uint64_t failureDraws = 0;
  std::uint32_t failureEpoch = 0;
};

// Splitmix64 (Steele, Lea and Flood, 2014): a 64-bit state whose steps are
// one add and a mix, so each machine keeps a random stream of its own in 8
// bytes.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// An exponential time of mean `mean` from `state`'s stream (which it steps),
// at least 1 us. Drawn by inversion from 53 random bits, not with
// std::exponential_distribution, whose algorithm the standard leaves to
// each library (as the synthetic generator does).
std::int64_t exponentialMicros(std::uint64_t& state, Duration mean) {
  state += 0x9E3779B97F4A7C15ULL;
  const double u = (static_cast<double>(mix64(state) >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
  const double us = -std::log(u) * static_cast<double>(toMicros(mean));
  // Capped so that now + draw cannot overflow (kMaxConfigDuration bounds the mean).
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::min(us, 1e17)));
}

// A slot of `items`: a freed one when there is one, else a new one at the end.
template <class T>
std::uint32_t takeSlot(std::vector<T>& items, std::vector<std::uint32_t>& freed) {
  if (!freed.empty()) {
    const std::uint32_t slot = freed.back();
    freed.pop_back();
    return slot;
  }
  items.emplace_back();
  return static_cast<std::uint32_t>(items.size() - 1);
}

class Engine {
 public:
  Engine(const Workload& w, Allocator& allocator, const Config& config, const Hooks& hooks)
      : w_(w), alloc_(allocator), cfg_(config), hooks_(hooks), log_(bool(hooks.eventLog)) {}

  Result run();

 private:
  Progress progress() const {
    return {fromMicros(now_), result_.counters.events, jobsDone_,
            w_.jobs.size(),   result_.counters.offers, result_.counters.instancesLaunched};
  }
  // --- setup
  void validate() const;
  void prepare();
  // --- events
  void machineEvent(const MachineEvent& e);
  void addMachine(std::uint32_t m, const Scalars& capacity);
  void removeMachine(std::uint32_t m);
  // Schedules machine m's next injected failure, when failures are injected.
  void scheduleFailure(std::uint32_t m);
  // An injected failure of an up machine, or the repair of a failed one.
  void failureEvent(std::uint32_t m, std::uint32_t epoch);
  void evict(std::uint32_t group, TaskState state);
  void preempt(const Reclaim& reclaim);
  void submit(std::uint32_t j);
  void makeReady(std::uint32_t j);
  void taskEnd(std::uint32_t group, std::uint32_t generation);
  void round();
  void decide(std::uint32_t fw);
  void offerTimeout(std::uint32_t offer, std::uint32_t generation);
  // --- helpers
  std::uint32_t frameworkFor(std::uint32_t j);
  void updateInterest(SimFramework& f, bool newWork);
  void released();
  void publishDemand(SimFramework& f);
  bool schedulable(const Job& job) const;
  std::uint32_t place(SimFramework& f, const Unit& unit, std::uint32_t task, std::uint32_t want,
                      std::span<const std::uint32_t> only = {});
  bool placeGang(SimFramework& f, const Unit& unit, std::span<const std::uint32_t> only = {});
  bool launchHinted(std::uint32_t fwIndex);
  // Appends a new unit to f's queue: `count` instances of task record `task`,
  // or of the whole gang job `job` (task == kNone).
  void enqueue(SimFramework& f, std::uint32_t job, std::uint32_t task, std::uint32_t count,
               std::uint32_t attempt, std::uint32_t losses, TimePoint ready) {
    f.queue.push_back(Unit{job, task, count, attempt, losses, ready, nextUnitKey_++});
    if (task == kNone) {
      f.mayHoldGang = true;
    } else {
      f.queueMin = f.queueMin.cwiseMin(demandOf(task));
    }
  }
  // Returns false when no unit of f's record-only queue can launch in its
  // offers: they cannot hold the queue's smallest demand.
  bool queueMayFit(const SimFramework& f);
  // What a gang job needs as a whole: its records' demands times their counts.
  const Scalars& gangDemand(std::uint32_t job) const { return gangDemand_[gangShape_[job]]; }
  void commit(std::uint32_t fwIndex, const Unit& unit);
  void rollback();
  void releaseOffer(std::uint32_t offer);
  void declineOffer(std::uint32_t offer);
  // Declines offer `o` with `filter`, giving its resources back (the
  // caller asks for the round that may offer them again).
  void giveBack(std::uint32_t o, const Filters& filter);
  // Declines every offer `f` holds and clears its list.
  void declineAll(SimFramework& f);
  // Idle hoarders other than `busy` give their offers back (see
  // updateInterest).
  void returnIdleHoards(const SimFramework& busy);
  void endJob(std::uint32_t j, JobState state);
  void requestRound(std::int64_t at);
  void schedule(std::int64_t time, Kind kind, std::uint32_t a, std::uint32_t b = 0) {
    heap_.push(Event{time, kind, seq_++, a, b});
  }
  void advance(std::int64_t to);
  void sampleUpTo(std::int64_t to, bool inclusive);
  void takeSample(std::int64_t at);
  void halveSamples();
  void wantDecision(std::uint32_t fw);
  template <class... Args>
  void log(fmt::format_string<Args...> format, Args&&... args) {
    if (!log_) return;
    std::string line = fmt::format("{:.6f} ", static_cast<double>(now_) / 1e6);
    line += fmt::format(format, std::forward<Args>(args)...);
    hooks_.eventLog(line);
  }

  const Workload& w_;
  Allocator& alloc_;
  const Config& cfg_;
  const Hooks& hooks_;
  const bool log_;
  Result result_;

  std::int64_t now_ = 0;
  std::uint64_t seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> heap_;
  std::size_t nextJob_ = 0;
  std::size_t nextMachineEvent_ = 0;
  std::int64_t nextRound_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t interval_ = 0;
  // Policy wake-ups already queued (Allocator::takeWakeup), so that a policy
  // asking for the same time round after round queues it once.
  std::set<std::int64_t> wakes_;

  std::vector<SimMachine> machines_;
  std::deque<SimFramework> fws_;  // a deque: references stay valid as frameworks register
  // Hoarding frameworks whose queue emptied while they held offers.
  std::vector<std::uint32_t> idleHoarders_;
  std::map<std::uint64_t, std::uint32_t> fwByKey_;
  std::vector<std::uint32_t> slotToFw_;       // allocator framework slot -> fws_
  std::vector<std::uint32_t> slotToMachine_;  // allocator agent slot -> machines_
  std::vector<SimOffer> offers_;
  std::vector<std::uint32_t> freeOffers_;
  std::vector<RunGroup> groups_;
  std::vector<std::uint32_t> freeGroups_;
  std::vector<SimJob> jobs_;
  // By shape (shapeId_ >> 1), its demand over the dimensions some machine
  // has: a trace that records a demand no machine table describes (Google's
  // disk, without machine disk sizes) cannot be replayed on it, so that
  // dimension is left out.
  std::vector<Scalars> shapeDemand_;
  // Per task record, a dense id of its demand and differentMachine flag (the
  // low bit): equal ids, equal demands and flags. The queue walk reads these
  // few bytes instead of the tasks themselves.
  std::vector<std::uint32_t> shapeId_;
  // The same as resources, by shape, built on first use (copies share their
  // storage), for publishing demand.
  std::vector<Resources> shape_;
  const Scalars& demandOf(std::uint64_t task) const { return shapeDemand_[shapeId_[task] >> 1]; }
  std::vector<PendingTask> published_;  // scratch
  std::uint64_t nextUnitKey_ = 0;
  std::vector<std::uint32_t> only_;                                    // scratch: hinted offers
  std::vector<std::pair<std::uint64_t, std::uint32_t>> hintedOffers_;  // scratch: (key, position)
  std::vector<std::uint32_t> childStart_, children_;       // CSR: jobs waiting on each job
  std::vector<std::pair<Scalars, std::uint64_t>> shapes_;  // machine capacities, with counts
  std::vector<std::uint32_t> touched_;  // frameworks offered something this round
  std::vector<std::uint32_t> waiting_;  // frameworks with waitsForRelease set
  std::uint64_t jobsDone_ = 0;
  // Rounds in a row with nothing running or launched and no job or machine
  // event to come (see kStallRounds).
  std::uint64_t idleRounds_ = 0;

  // Placement plan of the unit being tried: (offer, task record, instances).
  struct Planned {
    std::uint32_t offer, task, count;
  };
  std::vector<Planned> plan_;
  // Within one decision, offers only shrink (rollbacks restore at most what
  // they took): the component-wise largest free amount of any offer and the
  // demands that found no room bound what can still be placed. maxFree_ is
  // learnt by the decision's first walk over all the offers that places
  // nothing, or by a pass of its own before a long first-fit queue's walk
  // (queueMayFit); not by one at every start: most decisions of a busy FCFS
  // run either place their queue head, or find it larger than all the held
  // offers together, and never need it.
  bool maxFreeKnown_ = false;
  Scalars maxFree_ = Scalars::Zero();
  std::vector<Scalars> failed_;  // minimal demands that fit no offer this decision
  static constexpr std::size_t kMaxFailed = 64;
  // By shapeId_ >> 1, the decision (decisions_) in which that demand was
  // found to fit in no offer: its later instances cost one comparison.
  std::vector<std::uint64_t> noFit_;
  std::uint64_t decisions_ = 0;
  // The demand of task record `task` is known to fit in no offer this decision.
  bool fitsNowhere(std::uint32_t task) const { return noFit_[shapeId_[task] >> 1] == decisions_; }
  // By gang job, an id of its whole demand (gangDemand_); kNone for other
  // jobs. By that id, the decision in which that demand was found larger than
  // all the framework's held offers together (as noFit_): a first-fit queue
  // of blocked gangs then costs a comparison each, not a sum over records.
  std::vector<std::uint32_t> gangShape_;
  std::vector<Scalars> gangDemand_;
  std::vector<std::uint64_t> gangNoFit_;
  // Where the last placement of a shape stopped: offers before it cannot
  // hold that shape for the rest of the decision (queues of identical tasks
  // then cost one pass over the offers, not one per task). Cleared by
  // rollbacks, which give room back.
  struct Cursor {
    bool valid = false;
    // shapeId_. differentMachine placements skip offers for their own job's
    // sake: their cursor serves only that job's differentMachine tasks.
    std::uint32_t shape = 0;
    std::uint32_t job = 0;
    std::size_t pos = 0;
  } cursor_;

  // Cluster-wide tallies for metrics.
  Scalars total_ = Scalars::Zero();
  Scalars used_ = Scalars::Zero();
  Scalars offered_ = Scalars::Zero();
  std::vector<Scalars> roleUsed_;
  std::uint64_t pendingAll_ = 0, runningAll_ = 0, liveOffers_ = 0;
  // Injected failures: their events in heap_ (stale ones included) and the
  // machines down by one now.
  std::uint64_t failureEvents_ = 0;
  std::uint32_t failedNow_ = 0;
  std::vector<double> usedIntegral_, capIntegral_;
  std::int64_t lastAdvance_ = 0;
  std::int64_t nextSample_ = 0;
  std::int64_t sampleInterval_ = 0;
};

void Engine::validate() const {
  if (cfg_.allocationInterval <= Duration::zero()) {
    throw InvalidArgument("sim: allocation interval must be positive, got " +
                          std::to_string(toMicros(cfg_.allocationInterval)) + " us");
  }
  if (cfg_.decisionLatency < Duration::zero() || cfg_.offerTimeout < Duration::zero() ||
      cfg_.sampleInterval < Duration::zero() ||
      (cfg_.refuseFor && *cfg_.refuseFor < Duration::zero()) ||
      cfg_.meanTimeBetweenFailures < Duration::zero() || cfg_.meanTimeToRepair < Duration::zero()) {
    throw InvalidArgument(
        "sim: decision latency, offer timeout, refuse time, sample interval and the failures' "
        "mean times must not be negative");
  }
  for (const auto& [name, d] : {std::pair{"allocation interval", cfg_.allocationInterval},
                                {"decision latency", cfg_.decisionLatency},
                                {"offer timeout", cfg_.offerTimeout},
                                {"sample interval", cfg_.sampleInterval},
                                {"mean time between failures", cfg_.meanTimeBetweenFailures},
                                {"mean time to repair", cfg_.meanTimeToRepair}}) {
    if (d > kMaxConfigDuration) {
      throw InvalidArgument(
          fmt::format("sim: {} must be at most 100 years, got {} s", name, toSeconds(d)));
    }
  }
  if (cfg_.offerTimeout > Duration::zero() && cfg_.offerTimeout <= cfg_.decisionLatency) {
    throw InvalidArgument(fmt::format(
        "sim: the offer timeout ({} s) must be longer than the decision latency ({} s): every "
        "offer would be rescinded before its framework answers it, and nothing would run",
        toSeconds(cfg_.offerTimeout), toSeconds(cfg_.decisionLatency)));
  }
  if (cfg_.meanTimeBetweenFailures > Duration::zero() &&
      cfg_.meanTimeToRepair <= Duration::zero()) {
    throw InvalidArgument(
        "sim: the mean time to repair must be positive when failures are injected (a machine "
        "must be down for some time)");
  }
  if (alloc_.state().agentCount() != 0 || alloc_.state().frameworkCount() != 0) {
    throw InvalidArgument("sim: the allocator must be fresh (it already has agents or frameworks)");
  }
  traces::checkWorkload(w_);
  for (std::size_t i = 1; i < w_.jobs.size(); ++i) {
    if (w_.jobs[i].submit < w_.jobs[i - 1].submit) {
      throw InvalidArgument(fmt::format("sim: workload jobs are not sorted by submit time (job {})",
                                        w_.jobs[i].traceId));
    }
  }
  // Dimensions no machine has are left out of placement (a trace's disk on a
  // machine table without disk sizes). When that is every dimension tasks
  // ask for, they would ask for nothing and run on machines that have none
  // of what they need: a cluster given wrongly, refused here.
  const Scalars present = presentDimensions(w_);
  const Scalars asked = askedDimensions(w_);
  if (machinesHaveNoneAsked(present, asked)) {
    throw InvalidArgument(fmt::format(
        "sim: tasks ask for {} and no machine has any of them (the machines have {}); give the "
        "machines those resources, e.g. with --cluster",
        dimensionNames(*w_.dims, asked), dimensionNames(*w_.dims, present)));
  }
  // An offer must hold one of the policy's min_allocatable amounts. An
  // amount that asks for a resource no machine has is never met; when every
  // amount is such (a mistyped name, 'cpu' for 'cpus'), nothing would ever be
  // offered and every job would wait to the end of the run.
  const auto& minimums = alloc_.options().minAllocatable;
  const bool comparable =
      w_.dims->isPrefixOf(*Dimensions::standard()) || Dimensions::standard()->isPrefixOf(*w_.dims);
  if (present.any() && comparable && !minimums.empty() &&
      std::all_of(minimums.begin(), minimums.end(), [&](const Scalars& minimum) {
        return ((minimum.array() > 0) && (present.array() == 0)).any();
      })) {
    throw InvalidArgument(fmt::format(
        "sim: every amount of the policy's min_allocatable asks for a resource no machine has "
        "(the machines have {}), so nothing would ever be offered; check its resource names",
        dimensionNames(*w_.dims, present)));
  }
}

void Engine::prepare() {
  interval_ = toMicros(cfg_.allocationInterval);
  for (const RoleSetting& r : cfg_.roles) {
    // Parsed over the workload's dimensions, so that a name the trace lacks
    // ("gpus" on a CPU cluster) still parses and simply limits nothing.
    auto quotaPart = [&](const char* part, const std::string& text) {
      Resources amounts;
      try {
        amounts = Resources::parse(text, w_.dims);
      } catch (const Error& e) {
        throw InvalidArgument(
            fmt::format("sim: role '{}': {} '{}': {}", r.role, part, text, e.what()));
      }
      return amounts;  // setQuota refuses reserved or non-scalar amounts
    };
    if (r.role.empty()) throw InvalidArgument("sim: a role setting names no role");
    if (std::count_if(cfg_.roles.begin(), cfg_.roles.end(),
                      [&](const RoleSetting& o) { return o.role == r.role; }) > 1) {
      throw InvalidArgument(fmt::format("sim: role '{}' is set twice", r.role));
    }
    alloc_.setRoleWeight(r.role, r.weight);
    alloc_.setQuota(r.role,
                    Quota{quotaPart("guarantee", r.guarantee), quotaPart("limit", r.limit)});
  }
  const Dimensions& dims = *w_.dims;
  for (int d = 0; d < dims.size(); ++d) result_.dimensions.push_back(dims.name(d));
  result_.roles = w_.roles;
  if (result_.roles.empty()) result_.roles.emplace_back(kUnreservedRole);
  roleUsed_.assign(result_.roles.size(), Scalars::Zero());
  usedIntegral_.assign(kMaxScalarDims, 0.0);
  capIntegral_.assign(kMaxScalarDims, 0.0);

  machines_.resize(w_.machines.size());
  for (std::size_t m = 0; m < w_.machines.size(); ++m) {
    std::string id = "m";  // (appending avoids GCC 12's false -Wrestrict on "m" + ...)
    id += std::to_string(m);
    machines_[m].id = AgentId(std::move(id));
    machines_[m].failureDraws = mix64(cfg_.seed ^ mix64(m + 1));
    const Scalars& cap = w_.machines[m].capacity;
    auto it =
        std::find_if(shapes_.begin(), shapes_.end(), [&](const auto& s) { return s.first == cap; });
    if (it == shapes_.end()) {
      shapes_.emplace_back(cap, 1);
    } else {
      ++it->second;
    }
  }
  for (const MachineEvent& e : w_.machineEvents) {
    if (e.kind == MachineEvent::Kind::kRemove) continue;
    if (std::none_of(shapes_.begin(), shapes_.end(),
                     [&](const auto& s) { return s.first == e.capacity; })) {
      shapes_.emplace_back(e.capacity, 0);  // a capacity some machine has for a while
    }
  }

  const Scalars keep = presentDimensions(w_);
  // The task records on huge pages (see reserveHuge): growing them by
  // doubling into 4 KiB pages was a fifth of replaying HPC2N on our VMs. Their
  // final size is not known (one per launch); one per instance is room for a
  // run without relaunches. Only these: with the tables the rounds read
  // (demand, job state) on huge pages too, Google's drf run took 20-30% more
  // user time (measured, interleaved), in the allocator's per-agent look-ups:
  // the change moved where the heap's small objects land (bench/RESULTS.md,
  // the 128-byte task record), though HPC2N gained nothing more.
  reserveHuge(result_.tasks, instanceCount(w_));
  // Demands equal once the absent dimensions are left out are one shape.
  std::vector<std::uint32_t> shapeOfDemand(w_.demands.size());
  traces::DemandTable shapeTable;
  for (std::size_t d = 0; d < w_.demands.size(); ++d) {
    shapeOfDemand[d] = shapeTable.intern(w_.demands[d].cwiseProduct(keep), shapeDemand_);
  }
  shapeId_.reserve(w_.tasks.size());
  for (const Task& t : w_.tasks) {
    shapeId_.push_back((shapeOfDemand[t.demand] << 1) | (t.differentMachine ? 1 : 0));
  }
  noFit_.assign(shapeDemand_.size(), ~std::uint64_t{0});
  gangShape_.assign(w_.jobs.size(), kNone);
  traces::DemandTable gangTable;
  for (std::uint32_t j = 0; j < w_.jobs.size(); ++j) {
    const Job& job = w_.jobs[j];
    if (!job.gang) continue;
    Scalars sum = Scalars::Zero();
    for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
      sum += demandOf(t) * static_cast<double>(w_.tasks[t].count);
    }
    gangShape_[j] = gangTable.intern(sum, gangDemand_);
  }
  gangNoFit_.assign(gangDemand_.size(), ~std::uint64_t{0});

  jobs_.resize(w_.jobs.size());
  reserveHuge(result_.jobs, w_.jobs.size());  // an output table, like the task records
  result_.jobs.resize(w_.jobs.size());
  childStart_.assign(w_.jobs.size() + 1, 0);
  for (const Job& job : w_.jobs) {
    for (std::uint32_t d : job.dependsOn) ++childStart_[d + 1];
  }
  for (std::size_t j = 0; j < w_.jobs.size(); ++j) childStart_[j + 1] += childStart_[j];
  children_.resize(childStart_.back());
  std::vector<std::uint32_t> fill(childStart_.begin(), childStart_.end() - 1);
  for (std::uint32_t j = 0; j < w_.jobs.size(); ++j) {
    const Job& job = w_.jobs[j];
    for (std::uint32_t d : job.dependsOn) children_[fill[d]++] = j;
    JobRecord& r = result_.jobs[j];
    r.job = j;
    r.traceId = job.traceId;
    r.user = job.user;
    r.role = job.role;
    r.submit = job.submit;
    r.ready = kTimeNever;
    r.firstStart = kTimeNever;
    r.end = kTimeNever;
    for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
      const Task& task = w_.tasks[t];
      r.instances += task.count;
      r.work = std::max(r.work, task.duration);
      if (task.differentMachine && !jobs_[j].spread) {
        jobs_[j].spread = std::make_unique<std::unordered_set<std::uint32_t>>();
      }
    }
    jobs_[j].remaining = r.instances;
  }

  // Machines without events of their own are up from the run's start on.
  const std::int64_t start = detail::runStart(w_, cfg_.stopAt);
  now_ = start;
  lastAdvance_ = start;

  sampleInterval_ = detail::sampleInterval(w_, start, cfg_.stopAt, cfg_.sampleInterval);
  result_.series.interval = Duration{sampleInterval_};
  nextSample_ = start;
}

Result Engine::run() {
  validate();
  prepare();
  result_.policy = std::string(alloc_.name());

  const std::vector<bool> hasEvents = traces::machinesWithEvents(w_);
  for (std::uint32_t m = 0; m < w_.machines.size(); ++m) {
    if (!hasEvents[m]) addMachine(m, w_.machines[m].capacity);
  }
  if (cfg_.grouping == Grouping::kSingle) frameworkFor(kNone);

  const std::int64_t stop = toMicros(cfg_.stopAt);
  std::uint64_t nextCheck = kProgressCheck;
  auto lastReport = std::chrono::steady_clock::now();
  while (true) {
    // The earliest of: machine event, submit, queued event, round.
    std::int64_t t = std::numeric_limits<std::int64_t>::max();
    Kind kind = Kind::kRound;
    int source = -1;
    auto consider = [&](std::int64_t time, Kind k, int s) {
      if (time < t || (time == t && k < kind)) {
        t = time;
        kind = k;
        source = s;
      }
    };
    if (nextMachineEvent_ < w_.machineEvents.size()) {
      consider(toMicros(w_.machineEvents[nextMachineEvent_].time), Kind::kMachine, 0);
    }
    if (nextJob_ < w_.jobs.size()) consider(toMicros(w_.jobs[nextJob_].submit), Kind::kSubmit, 1);
    if (!heap_.empty()) consider(heap_.top().time, heap_.top().kind, 2);
    if (nextRound_ != std::numeric_limits<std::int64_t>::max())
      consider(nextRound_, Kind::kRound, 3);
    // Injected failures go on for ever. With nothing else to come and every
    // machine up, the run is where it would end without them: failures only
    // take machines away, and a repair brings back no more than is up now.
    if (source == 2 && heap_.size() == failureEvents_ && failedNow_ == 0 &&
        nextRound_ == std::numeric_limits<std::int64_t>::max() && nextJob_ == w_.jobs.size() &&
        nextMachineEvent_ == w_.machineEvents.size()) {
      source = -1;
    }
    if (source < 0) {
      if (jobsDone_ < jobs_.size()) result_.idleEnd = fromMicros(now_);
      break;
    }
    if (t > stop) {
      // Cut by the stop: the time up to it counts (utilization, samples,
      // end), as in the trace's own schedule cut there (historyResult).
      advance(stop);
      break;
    }

    advance(t);
    ++result_.counters.events;
    switch (source) {
      case 0:
        machineEvent(w_.machineEvents[nextMachineEvent_++]);
        break;
      case 1:
        submit(static_cast<std::uint32_t>(nextJob_++));
        break;
      case 2: {
        const Event e = heap_.top();
        heap_.pop();
        switch (e.kind) {
          case Kind::kTaskEnd:
            taskEnd(e.a, e.b);
            break;
          case Kind::kDecision:
            decide(e.a);
            break;
          case Kind::kOfferTimeout:
            offerTimeout(e.a, e.b);
            break;
          case Kind::kFailure:
            --failureEvents_;
            failureEvent(e.a, e.b);
            break;
          case Kind::kWake:
            wakes_.erase(now_);
            requestRound(now_);
            break;
          default:
            break;
        }
        break;
      }
      default:
        round();
        break;
    }
    if (idleRounds_ >= kStallRounds) {
      if (pendingAll_ > 0) result_.stalledAt = fromMicros(now_);
      break;
    }
    // Every job is done and nothing runs: what is left (filter wakes, rounds,
    // the ends of lost instances, machine events) changes nothing the run
    // measures, and would only stretch its end and lower its utilization.
    if (jobsDone_ == jobs_.size() && runningAll_ == 0) break;
    if (hooks_.progress && result_.counters.events >= nextCheck) {
      nextCheck += kProgressCheck;
      const auto wall = std::chrono::steady_clock::now();
      if (wall - lastReport >= kProgressInterval) {
        lastReport = wall;
        hooks_.progress(progress());
      }
    }
  }

  // Close the books: the final sample, then unfinished work.
  sampleUpTo(now_, true);
  result_.end = fromMicros(now_);
  for (std::uint32_t j = 0; j < jobs_.size(); ++j) {
    if (!jobs_[j].done) result_.jobs[j].state = JobState::kUnfinished;
  }
  detail::markNotSubmitted(result_);
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (d >= w_.dims->size()) break;
    result_.usedIntegral.push_back(usedIntegral_[static_cast<std::size_t>(d)]);
    result_.capacityIntegral.push_back(capIntegral_[static_cast<std::size_t>(d)]);
  }
  if (hooks_.progress) {
    hooks_.progress(progress());
  }
  summarize(result_);
  return std::move(result_);
}

// ------------------------------------------------------------------ time

void Engine::advance(std::int64_t to) {
  if (to <= now_) return;
  sampleUpTo(to, false);
  const double dt = static_cast<double>(to - lastAdvance_) / 1e6;
  for (int d = 0; d < kMaxScalarDims; ++d) {
    usedIntegral_[static_cast<std::size_t>(d)] += used_[d] * dt;
    capIntegral_[static_cast<std::size_t>(d)] += total_[d] * dt;
  }
  lastAdvance_ = to;
  now_ = to;
}

// Samples hold the state after every event of their time: when time moves
// on to `to`, every sample time before it (or up to it, at the end) is taken
// from the state as it stands.
void Engine::sampleUpTo(std::int64_t to, bool inclusive) {
  while (nextSample_ < to || (inclusive && nextSample_ == to)) {
    takeSample(nextSample_);
    nextSample_ += sampleInterval_;
  }
}

void Engine::takeSample(std::int64_t at) {
  TimeSeries& s = result_.series;
  // Sample K (K = kMaxSamples, even) is at the start + K / 2 intervals of
  // the doubled grid: it stays on the grid of the kept samples.
  if (s.timeUs.size() == kMaxSamples) halveSamples();
  s.timeUs.push_back(at);
  for (int d = 0; d < kMaxScalarDims; ++d) {
    s.used.push_back(used_[d]);
    s.allocated.push_back(used_[d] + offered_[d]);
    s.total.push_back(total_[d]);
  }
  s.pendingInstances.push_back(pendingAll_);
  s.runningInstances.push_back(runningAll_);
  s.outstandingOffers.push_back(liveOffers_);
  for (const Scalars& r : roleUsed_) s.roleShare.push_back(dominantShare(r, total_));
  double sum = 0, sumSq = 0;
  int n = 0;
  for (const SimFramework& f : fws_) {
    if (f.pending == 0 && f.running == 0) continue;
    const double x = dominantShare(f.used, total_);
    sum += x;
    sumSq += x * x;
    ++n;
  }
  s.jain.push_back(detail::jainIndex(sum, sumSq, n));
}

// Keeps the even samples (start + 2k intervals) and doubles the interval.
void Engine::halveSamples() {
  TimeSeries& s = result_.series;
  detail::keepEvenSamples(s, roleUsed_.size());
  sampleInterval_ *= 2;
  s.interval = Duration{sampleInterval_};
}

void Engine::requestRound(std::int64_t at) {
  std::int64_t t = alignUp(at, interval_);
  if (t < now_) t = alignUp(now_, interval_);
  nextRound_ = std::min(nextRound_, t);
}

// ------------------------------------------------------------------ machines

void Engine::machineEvent(const MachineEvent& e) {
  SimMachine& machine = machines_[e.machine];
  // A failed machine is up as far as the trace knows.
  switch (traces::machineChange(machine.up || machine.failed, e.kind)) {
    case traces::MachineChange::kDown:
      if (machine.failed) {
        // Removed while in repair: the repair is cancelled.
        log("machine-remove m={} (failed)", e.machine);
        machine.failed = false;
        --failedNow_;
        ++machine.failureEpoch;
      } else {
        removeMachine(e.machine);
      }
      break;
    case traces::MachineChange::kUp:
      addMachine(e.machine, e.capacity);
      break;
    case traces::MachineChange::kResize:
      if (machine.failed) {
        log("machine-update m={} (failed)", e.machine);
        machine.capacity = e.capacity;  // the repair brings it back so
        break;
      }
      log("machine-update m={}", e.machine);
      alloc_.updateAgentTotal(machine.id, Resources::fromScalars(e.capacity, w_.dims));
      total_ += e.capacity - machine.capacity;
      machine.capacity = e.capacity;
      released();
      break;
    case traces::MachineChange::kNone:
      break;
  }
}

void Engine::addMachine(std::uint32_t m, const Scalars& capacity) {
  SimMachine& machine = machines_[m];
  AgentInfo info;
  info.id = machine.id;
  info.hostname = std::to_string(w_.machines[m].traceId);
  info.resources = Resources::fromScalars(capacity, w_.dims);
  info.attributes = w_.machines[m].attributes;
  alloc_.addAgent(info);
  const AgentIndex slot = *alloc_.state().findAgent(machine.id);
  if (slotToMachine_.size() <= slot) slotToMachine_.resize(slot + 1, kNone);
  slotToMachine_[slot] = m;
  machine.slot = slot;
  machine.up = true;
  machine.capacity = capacity;
  total_ += capacity;
  if (log_) log("machine-add m={} capacity={}", m, toString(capacity, *w_.dims));
  scheduleFailure(m);
  released();
}

void Engine::scheduleFailure(std::uint32_t m) {
  if (cfg_.meanTimeBetweenFailures <= Duration::zero()) return;
  SimMachine& machine = machines_[m];
  const std::int64_t at =
      now_ + exponentialMicros(machine.failureDraws, cfg_.meanTimeBetweenFailures);
  schedule(at, Kind::kFailure, m, machine.failureEpoch);
  ++failureEvents_;
}

void Engine::failureEvent(std::uint32_t m, std::uint32_t epoch) {
  SimMachine& machine = machines_[m];
  if (epoch != machine.failureEpoch) return;  // the trace removed the machine since
  if (machine.failed) {
    log("machine-repair m={}", m);
    machine.failed = false;
    --failedNow_;
    addMachine(m, machine.capacity);
    return;
  }
  log("machine-fail m={}", m);
  ++result_.counters.machineFailures;
  removeMachine(m);
  machine.failed = true;
  ++failedNow_;
  schedule(now_ + exponentialMicros(machine.failureDraws, cfg_.meanTimeToRepair), Kind::kFailure, m,
           machine.failureEpoch);
  ++failureEvents_;
}

// Ends running group `g` before its time (its machine went, or a policy
// reclaimed it) and puts its instances back at the end of their framework's
// queue as a new attempt. The caller takes it off its machine and gives its
// resources back to the allocator.
void Engine::evict(std::uint32_t g, TaskState state) {
  RunGroup& group = groups_[g];
  TaskRecord& rec = result_.tasks[group.record];
  rec.end = fromMicros(now_);
  rec.state = state;
  SimFramework& f = fws_[group.fw];
  f.used -= group.scalars;
  f.running -= rec.count;
  runningAll_ -= rec.count;
  used_ -= group.scalars;
  roleUsed_[f.role] -= group.scalars;
  JobRecord& jr = result_.jobs[rec.job];
  const bool lost = state == TaskState::kLost;
  if (lost) {
    result_.counters.instancesLost += rec.count;
    jr.lostInstances += rec.count;
  } else {
    result_.counters.instancesPreempted += rec.count;
  }
  SimJob& job = jobs_[rec.job];
  if (job.spread) job.spread->erase(group.machine);
  group.live = false;
  group.res = Resources();
  freeGroups_.push_back(g);
  if (job.done) return;
  // Preemption is the policy's doing, not the task's: it never fails a job,
  // nor counts towards maxAttempts later.
  const std::uint32_t losses = group.losses + (lost ? 1 : 0);
  if (lost && cfg_.maxAttempts > 0 && losses >= cfg_.maxAttempts) {
    log("job-failed job={} task={} attempts={} lost={}", jr.traceId, rec.task, rec.attempt + 1,
        losses);
    endJob(rec.job, JobState::kFailed);
    return;
  }
  // A gang's evicted instances come back as a plain record unit: the rest of
  // the gang keeps running.
  enqueue(f, rec.job, rec.task, rec.count, rec.attempt + 1, losses, fromMicros(now_));
  f.demandStale = true;
  f.pending += rec.count;
  pendingAll_ += rec.count;
  updateInterest(f, true);
}

// Frees at least reclaim.resources of the framework's holdings on the
// machine: its offers there first, then its running groups, newest first.
void Engine::preempt(const Reclaim& reclaim) {
  const std::uint32_t fwIndex = slotToFw_[reclaim.frameworkIndex];
  const std::uint32_t m = slotToMachine_[reclaim.agentIndex];
  SimFramework& f = fws_[fwIndex];
  SimMachine& machine = machines_[m];
  const Scalars want = reclaim.resources.totalScalars();
  Scalars freed = Scalars::Zero();
  log("reclaim fw={} m={}", fwIndex, m);
  for (std::uint32_t o : std::vector<std::uint32_t>(machine.offers.begin(), machine.offers.end())) {
    SimOffer& offer = offers_[o];
    if (offer.fw != fwIndex) continue;
    freed += offer.res.totalScalars();
    if (!offer.res.empty()) {
      alloc_.recoverResources(f.slot, machine.slot, offer.res, std::nullopt, fromMicros(now_));
    }
    std::erase(f.offers, o);
    ++result_.counters.rescinds;
    releaseOffer(o);
  }
  bool killed = false;
  while (!fitsIn(want, freed)) {
    std::uint32_t newest = kNone;
    for (std::uint32_t g : machine.running) {
      if (groups_[g].fw == fwIndex &&
          (newest == kNone || groups_[g].record > groups_[newest].record)) {
        newest = g;
      }
    }
    if (newest == kNone) break;
    RunGroup& group = groups_[newest];
    freed += group.scalars;
    log("preempt job={} task={} n={} m={}", result_.jobs[result_.tasks[group.record].job].traceId,
        result_.tasks[group.record].task, result_.tasks[group.record].count, m);
    if (!group.res.empty()) {
      alloc_.recoverResources(f.slot, machine.slot, group.res, std::nullopt, fromMicros(now_),
                              group.unit);
    }
    const std::uint32_t last = machine.running.back();
    machine.running[group.slot] = last;
    groups_[last].slot = group.slot;
    machine.running.pop_back();
    evict(newest, TaskState::kPreempted);
    killed = true;
  }
  if (killed) {
    released();
  } else {
    // Only offers went back, as at an offer timeout: the next round comes
    // strictly later. A round at this instant would see what the last one
    // saw, and a policy that offers what it then reclaims (its own grant of
    // this round) would do so again and again without time moving.
    requestRound(now_ + 1);
  }
}

void Engine::removeMachine(std::uint32_t m) {
  SimMachine& machine = machines_[m];
  log("machine-remove m={} running={} offers={}", m, machine.running.size(), machine.offers.size());
  // Offers on it vanish with it (the allocator drops its allocations).
  for (std::uint32_t o : std::vector<std::uint32_t>(machine.offers.begin(), machine.offers.end())) {
    SimFramework& f = fws_[offers_[o].fw];
    std::erase(f.offers, o);
    ++result_.counters.rescinds;
    releaseOffer(o);
  }
  // Running instances are lost and go back to their framework's queue.
  for (std::uint32_t g : std::vector<std::uint32_t>(machine.running)) evict(g, TaskState::kLost);
  machine.running.clear();
  alloc_.removeAgent(machine.id);
  machine.up = false;
  ++machine.failureEpoch;  // its pending failure, if any, is void
  total_ -= machine.capacity;
  requestRound(now_);
}

// ------------------------------------------------------------------ jobs

bool Engine::schedulable(const Job& job) const {
  // A gang launches in one decision, at most launchesPerOffer instances in
  // each machine's offer: a wider one never starts.
  if (job.gang && cfg_.launchesPerOffer > 0) {
    std::uint64_t instances = 0;
    for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
      instances += w_.tasks[t].count;
    }
    std::uint64_t machines = 0;
    for (const auto& s : shapes_) machines += s.second;
    if (instances > std::uint64_t{cfg_.launchesPerOffer} * machines) return false;
  }
  for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
    const Task& task = w_.tasks[t];
    bool fitsOne = false;
    std::uint64_t fitsAll = 0;
    for (const auto& s : shapes_) {
      const std::uint32_t n = fitCount(demandOf(t), s.first, task.count);
      if (n > 0) fitsOne = true;
      fitsAll += std::uint64_t{n} * s.second;
    }
    if (!fitsOne) return false;
    if (job.gang && fitsAll < task.count) return false;
  }
  return true;
}

std::uint32_t Engine::frameworkFor(std::uint32_t j) {
  std::uint64_t key = 0;
  std::uint32_t role = 0;
  std::string name = "all";
  if (j != kNone) {
    const Job& job = w_.jobs[j];
    role = job.role;
    switch (cfg_.grouping) {
      case Grouping::kUser:
        key = (std::uint64_t{job.user} << 32) | job.role;
        name = (job.user < w_.users.size() ? w_.users[job.user] : std::to_string(job.user)) + "/" +
               result_.roles[role];
        break;
      case Grouping::kRole:
        key = job.role;
        name = result_.roles[role];
        break;
      case Grouping::kJob:
        key = j;
        name = "job-" + std::to_string(job.traceId);
        break;
      case Grouping::kSingle:
        role = 0;
        break;
    }
  }
  // (A per-job framework whose job ended is unregistered: a new job needs its own.)
  if (auto it = fwByKey_.find(key); it != fwByKey_.end() && fws_[it->second].registered) {
    return it->second;
  }
  const auto index = static_cast<std::uint32_t>(fws_.size());
  fws_.emplace_back();
  SimFramework& f = fws_.back();
  f.index = index;
  f.info.id = FrameworkId(fmt::format("f{}", index));
  f.info.name = name;
  f.info.role =
      cfg_.grouping == Grouping::kSingle ? std::string(kUnreservedRole) : result_.roles[role];
  f.role = role;
  f.record = static_cast<std::uint32_t>(result_.frameworks.size());
  result_.frameworks.push_back({name, role});
  alloc_.addFramework(f.info);
  const FrameworkIndex slot = *alloc_.state().findFramework(f.info.id);
  if (slotToFw_.size() <= slot) slotToFw_.resize(slot + 1, kNone);
  slotToFw_[slot] = index;
  f.slot = slot;
  f.registered = true;
  fwByKey_[key] = index;
  log("framework-add fw={} name={} role={}", index, name, f.info.role);
  // Registered frameworks with nothing to do ask for no offers.
  alloc_.suppress(f.info.id);
  f.suppressed = true;
  return index;
}

void Engine::submit(std::uint32_t j) {
  SimJob& job = jobs_[j];
  job.submitted = true;
  const Job& wj = w_.jobs[j];
  log("submit job={} tasks={} instances={}", wj.traceId, wj.taskCount, result_.jobs[j].instances);
  if (job.done) return;  // doomed by a dependency that can never finish
  std::uint32_t waiting = 0;
  for (std::uint32_t d : wj.dependsOn) {
    if (!jobs_[d].done) {
      ++waiting;
    } else if (result_.jobs[d].state != JobState::kFinished) {
      endJob(j, JobState::kUnschedulable);
      return;
    }
  }
  job.depsLeft = waiting;
  if (waiting == 0) makeReady(j);
}

void Engine::makeReady(std::uint32_t j) {
  const Job& wj = w_.jobs[j];
  JobRecord& r = result_.jobs[j];
  r.ready = fromMicros(now_);
  if (!schedulable(wj)) {
    log("unschedulable job={}", wj.traceId);
    endJob(j, JobState::kUnschedulable);
    return;
  }
  const std::uint32_t fwIndex = frameworkFor(j);
  jobs_[j].fw = fwIndex;
  r.framework = fws_[fwIndex].record;
  SimFramework& f = fws_[fwIndex];
  ++f.liveJobs;
  if (r.instances == 0) {
    // Nothing to run: it starts and ends as it becomes ready.
    r.firstStart = r.ready;
    endJob(j, JobState::kFinished);
    return;
  }
  if (wj.gang) {
    enqueue(f, j, kNone, static_cast<std::uint32_t>(r.instances), 0, 0, r.ready);
  } else {
    for (std::uint32_t t = static_cast<std::uint32_t>(wj.firstTask);
         t < wj.firstTask + wj.taskCount; ++t) {
      if (w_.tasks[t].count > 0) enqueue(f, j, t, w_.tasks[t].count, 0, 0, r.ready);
    }
  }
  f.demandStale = true;
  f.pending += r.instances;
  pendingAll_ += r.instances;
  updateInterest(f, true);
  if (!f.offers.empty()) wantDecision(fwIndex);  // it may fit in offers held already
  requestRound(now_);
}

void Engine::endJob(std::uint32_t j, JobState state) {
  SimJob& job = jobs_[j];
  if (job.done) return;
  job.done = true;
  ++jobsDone_;
  JobRecord& r = result_.jobs[j];
  r.state = state;
  if (state == JobState::kFinished) r.end = fromMicros(now_);
  log("job-end job={} state={}", r.traceId, static_cast<int>(state));
  if (job.fw != kNone) {
    SimFramework& f = fws_[job.fw];
    --f.liveJobs;
    if (state != JobState::kFinished) {
      // Drop its pending units (a failed job launches nothing more).
      std::uint64_t dropped = 0;
      for (const Unit& u : f.queue) {
        if (u.job == j) dropped += u.count;
      }
      std::erase_if(f.queue, [&](const Unit& u) { return u.job == j; });
      f.demandStale = true;
      f.pending -= dropped;
      pendingAll_ -= dropped;
      updateInterest(f, false);
    }
    if (cfg_.grouping == Grouping::kJob && f.liveJobs == 0 && f.running == 0 && f.pending == 0) {
      for (std::uint32_t o : std::vector<std::uint32_t>(f.offers)) releaseOffer(o);
      f.offers.clear();
      f.idleHoarding = false;
      alloc_.removeFramework(f.info.id);
      f.registered = false;
      requestRound(now_);
    }
  }
  for (std::uint32_t c = childStart_[j]; c < childStart_[j + 1]; ++c) {
    const std::uint32_t child = children_[c];
    SimJob& cj = jobs_[child];
    if (cj.done) continue;
    if (state != JobState::kFinished) {
      // It waits on a job that will never finish.
      if (cj.submitted) {
        endJob(child, JobState::kUnschedulable);
      } else {
        cj.done = true;
        ++jobsDone_;
        result_.jobs[child].state = JobState::kUnschedulable;
      }
      continue;
    }
    if (cj.submitted && cj.depsLeft > 0 && --cj.depsLeft == 0) makeReady(child);
  }
}

void Engine::taskEnd(std::uint32_t g, std::uint32_t generation) {
  RunGroup& group = groups_[g];
  if (!group.live || group.generation != generation) return;  // lost with its machine
  TaskRecord& rec = result_.tasks[group.record];
  rec.end = fromMicros(now_);
  rec.state = TaskState::kFinished;
  SimFramework& f = fws_[group.fw];
  SimMachine& machine = machines_[group.machine];
  log("task-end job={} task={} n={} m={}", result_.jobs[rec.job].traceId, rec.task, rec.count,
      group.machine);
  // Tasks that demand nothing (Google has a few) hold nothing to give back.
  if (!group.res.empty()) {
    alloc_.recoverResources(f.slot, machine.slot, group.res, std::nullopt, fromMicros(now_),
                            group.unit);
  }
  f.used -= group.scalars;
  f.running -= rec.count;
  runningAll_ -= rec.count;
  used_ -= group.scalars;
  roleUsed_[f.role] -= group.scalars;
  const std::uint32_t last = machine.running.back();
  machine.running[group.slot] = last;
  groups_[last].slot = group.slot;
  machine.running.pop_back();
  group.live = false;
  group.res = Resources();
  freeGroups_.push_back(g);
  SimJob& job = jobs_[rec.job];
  if (job.spread) job.spread->erase(group.machine);
  released();
  job.remaining -= std::min<std::uint64_t>(job.remaining, rec.count);
  if (job.remaining == 0) endJob(rec.job, JobState::kFinished);
}

// ------------------------------------------------------------------ offers

void Engine::round() {
  nextRound_ = std::numeric_limits<std::int64_t>::max();
  ++result_.counters.rounds;
  const bool idle = runningAll_ == 0 && nextJob_ == w_.jobs.size() &&
                    nextMachineEvent_ == w_.machineEvents.size();
  idleRounds_ = idle ? idleRounds_ + 1 : 0;
  std::vector<Allocation> allocations = alloc_.allocate(fromMicros(now_));
  log("round offers={}", allocations.size());
  touched_.clear();
  for (Allocation& a : allocations) {
    const std::uint32_t fwIndex = slotToFw_[a.frameworkIndex];
    const std::uint32_t m = slotToMachine_[a.agentIndex];
    SimFramework& f = fws_[fwIndex];
    ++result_.counters.offers;
    Scalars usable = a.resources.scalars(kUnreservedRole);
    if (!isUnreservedRole(f.info.role)) usable += a.resources.scalars(f.info.role);
    offered_ += usable;
    f.heldFree += usable;
    // A framework holding an offer on this machine gets the new resources
    // merged into it, as Mesos lets a framework accept several offers of one
    // agent at once.
    std::uint32_t o = kNone;
    for (std::uint32_t held : machines_[m].offers) {
      if (offers_[held].fw == fwIndex) o = held;
    }
    if (o == kNone) {
      o = takeSlot(offers_, freeOffers_);
      SimOffer& offer = offers_[o];
      offer.fw = fwIndex;
      offer.machine = m;
      offer.res = std::move(a.resources);
      offer.free = usable;
      offer.live = true;
      ++offer.generation;
      machines_[m].offers.push_back(o);
      f.offers.push_back(o);
      ++liveOffers_;
      // Only hoarders keep an offer past their decision latency, which the
      // timeout exceeds: for others the event would find the offer gone, and
      // a run that ends idle would end at it.
      if (cfg_.offerTimeout > Duration::zero() && cfg_.holdOffers) {
        schedule(toMicros(saturatingAdd(fromMicros(now_), cfg_.offerTimeout)), Kind::kOfferTimeout,
                 o, offer.generation);
      }
    } else {
      offers_[o].res += a.resources;
      offers_[o].free += usable;
    }
    if (a.task != kNoTask) {
      offers_[o].tasks.push_back(a.task);
      if (f.hinted.empty() || f.hinted.back() != a.task) f.hinted.push_back(a.task);
    }
    if (f.offeredInRound != result_.counters.rounds) {
      f.offeredInRound = result_.counters.rounds;
      touched_.push_back(fwIndex);
    }
  }
  for (const Reclaim& r : alloc_.takeReclaims()) preempt(r);
  // A policy's own timeout (e.g. before it preempts): rounds otherwise run
  // only after events, and an idle stretch has none. A time not after now
  // asks for nothing (this round is that round).
  if (const std::optional<TimePoint> wake = alloc_.takeWakeup()) {
    const std::int64_t t = toMicros(*wake);
    if (t > now_ && *wake != kTimeNever && wakes_.insert(t).second) schedule(t, Kind::kWake, 0);
  }
  for (std::uint32_t fwIndex : touched_) {
    if (cfg_.decisionLatency == Duration::zero()) {
      decide(fwIndex);
    } else {
      wantDecision(fwIndex);
    }
  }
}

void Engine::wantDecision(std::uint32_t fwIndex) {
  SimFramework& f = fws_[fwIndex];
  if (f.decisionPending) return;
  f.decisionPending = true;
  schedule(now_ + toMicros(cfg_.decisionLatency), Kind::kDecision, fwIndex);
}

void Engine::releaseOffer(std::uint32_t o) {
  SimOffer& offer = offers_[o];
  offered_ -= offer.free;
  if (offer.fw != kNone) fws_[offer.fw].heldFree -= offer.free;
  auto& onMachine = machines_[offer.machine].offers;
  onMachine.erase(std::remove(onMachine.begin(), onMachine.end(), o), onMachine.end());
  offer.live = false;
  offer.res = Resources();
  offer.free = Scalars::Zero();
  offer.fw = kNone;
  offer.tasks.clear();
  --liveOffers_;
  freeOffers_.push_back(o);
}

void Engine::declineOffer(std::uint32_t o) {
  const SimOffer& offer = offers_[o];
  if (offer.res.empty()) {
    releaseOffer(o);
    return;
  }
  Filters filter{kTimeNever - fromMicros(now_)};
  if (cfg_.refuseFor) filter = Filters{*cfg_.refuseFor};
  // What the launch cap left is refused for the cap, not for want of room:
  // no filter, so the agent comes back at the next round (progressive
  // filling), as a filter until its free resources grow would not.
  if (cfg_.launchesPerOffer > 0 && offer.launched >= cfg_.launchesPerOffer) {
    filter = Filters{Duration::zero()};
  }
  giveBack(o, filter);
  // Others may take what this framework refused, from the next round on.
  requestRound(now_ + 1);
}

void Engine::giveBack(std::uint32_t o, const Filters& filter) {
  const SimOffer& offer = offers_[o];
  SimFramework& f = fws_[offer.fw];
  if (!offer.res.empty()) {
    log("decline fw={} m={}", offer.fw, offer.machine);
    alloc_.recoverResources(f.slot, machines_[offer.machine].slot, offer.res, filter,
                            fromMicros(now_));
    ++result_.counters.declines;
    if (filter.refuseFor > Duration::zero()) {
      f.filtered = true;
      // (A filter that never expires needs no wake: one at the end of time
      // would stretch the run, and its utilization, to it.)
      const TimePoint expiry = saturatingAdd(fromMicros(now_), filter.refuseFor);
      if (expiry != kTimeNever) schedule(toMicros(expiry), Kind::kWake, 0);
    }
  }
  releaseOffer(o);
}

void Engine::declineAll(SimFramework& f) {
  // A framework declines most of a round's offers, on agents in the round's
  // random order: each decline's first touch of the offer, its machine and
  // the allocator's books of the agent would wait on memory in turn. Load
  // them a few declines ahead, each stage once the one before it has come.
  const std::vector<std::uint32_t>& offers = f.offers;
  const ClusterState& books = alloc_.state();
  const auto machineOf = [&](std::size_t i) -> const SimMachine& {
    return machines_[offers_[offers[i]].machine];
  };
  for (std::size_t i = 0; i < offers.size(); ++i) {
    if (i + 6 < offers.size()) {
      const char* ahead = reinterpret_cast<const char*>(&offers_[offers[i + 6]]);
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
    }
    if (i + 4 < offers.size()) {
      __builtin_prefetch(&machineOf(i + 4));  // its slot and offers (one line)
      offers_[offers[i + 4]].res.prefetch();
    }
    if (i + 2 < offers.size()) books.prefetch(machineOf(i + 2).slot, 0);
    if (i + 1 < offers.size()) {
      const SimMachine& next = machineOf(i + 1);
      books.prefetch(next.slot, 1);
    }
    declineOffer(offers[i]);
  }
  f.offers.clear();
}

void Engine::offerTimeout(std::uint32_t o, std::uint32_t generation) {
  SimOffer& offer = offers_[o];
  if (!offer.live || offer.generation != generation) return;
  SimFramework& f = fws_[offer.fw];
  log("rescind fw={} m={}", offer.fw, offer.machine);
  ++result_.counters.rescinds;
  if (!offer.res.empty()) {
    alloc_.recoverResources(f.slot, machines_[offer.machine].slot, offer.res, std::nullopt,
                            fromMicros(now_));
  }
  std::erase(f.offers, o);
  releaseOffer(o);
  requestRound(now_ + 1);
}

// Instances of task record `task` placed first fit over the framework's
// offers, at most `want`, honouring differentMachine. Deducts the planned
// amounts from the offers' free scalars and notes them in plan_.
// With `only`, over those offers alone (the ones the policy sized to the unit).
std::uint32_t Engine::place(SimFramework& f, const Unit& unit, std::uint32_t task,
                            std::uint32_t want, std::span<const std::uint32_t> only) {
  // Cursor and failed shapes describe all the offers, not a chosen few.
  const bool all = only.empty();
  const std::span<const std::uint32_t> offers = all ? std::span(f.offers) : only;
  if (fitsNowhere(task)) return 0;
  const std::uint32_t shapeId = shapeId_[task];
  std::size_t i = 0;
  if (all && cursor_.valid && cursor_.shape == shapeId &&
      ((shapeId & 1) == 0 || cursor_.job == unit.job)) {
    // A job's many like instances queue one after another: once the cursor
    // has passed every offer, the rest of them cost one comparison.
    if (cursor_.pos >= offers.size()) return 0;
    i = cursor_.pos;
  }
  const Task& t = w_.tasks[task];
  const SimJob& job = jobs_[unit.job];
  std::uint32_t placed = 0;
  const Scalars& demand = shapeDemand_[shapeId >> 1];  // demandOf(task)
  if (fitCount(demand, f.heldFree, 1) == 0 ||
      (maxFreeKnown_ && fitCount(demand, maxFree_, 1) == 0)) {
    // Room given back by a rollback could make it fit again.
    if (plan_.empty()) noFit_[shapeId >> 1] = decisions_;
    return 0;
  }
  for (const Scalars& shape : failed_) {
    if ((demand.array() >= shape.array()).all()) {
      // For the rest of the decision: failed_ holds only demands that fit
      // nowhere with nothing taken, and rollbacks give back no more than was
      // taken since.
      noFit_[shapeId >> 1] = decisions_;
      return 0;
    }
  }
  const bool untouched = plan_.empty();
  // A walk over every offer that takes nothing learns maxFree_ on the way.
  const bool learn = all && i == 0 && untouched && !maxFreeKnown_;
  Scalars seen = Scalars::Zero();
  std::size_t last = i;
  for (; i < offers.size(); ++i) {
    if (placed == want) break;
    const std::uint32_t o = offers[i];
    SimOffer& offer = offers_[o];
    if (learn) seen = seen.cwiseMax(offer.free);
    std::uint32_t cap = want - placed;
    if (cfg_.launchesPerOffer > 0) {
      if (offer.launched >= cfg_.launchesPerOffer) continue;
      cap = std::min(cap, cfg_.launchesPerOffer - offer.launched);
    }
    std::uint32_t n = fitCount(demand, offer.free, cap);
    if (n == 0) continue;
    if (t.differentMachine) {
      if (job.spread->count(offer.machine) != 0) continue;
      // One instance per machine: a merged offer is the only one of its
      // framework on its machine, so one instance per offer.
      n = 1;
    }
    offer.free -= demand * static_cast<double>(n);
    if (cfg_.launchesPerOffer > 0) offer.launched += n;
    plan_.push_back({o, task, n});
    placed += n;
    last = i;
  }
  if (!all) return placed;
  if (learn && placed == 0) {
    maxFree_ = seen;
    maxFreeKnown_ = true;
  }
  cursor_ = {true, shapeId, unit.job, placed == want ? last : f.offers.size()};
  // A walk over every offer that ended short of `want`, with nothing taken
  // tentatively before it: what it found holds until this decision ends
  // (commits take; a gang's rollback gives back only what was taken after
  // it). Not so for constraints of one job (differentMachine) or a launch cap.
  if (placed == want || !untouched || t.differentMachine || cfg_.launchesPerOffer > 0) {
    return placed;
  }
  // No offer has room left for this demand (those before the cursor had
  // none already): noFit_ for every unit of it, unless this walk placed part
  // of a gang (its rollback gives that back).
  if (placed == 0 || unit.task == task) noFit_[shapeId >> 1] = decisions_;
  // Nothing fit: no larger demand fits either.
  // failed_ keeps only its minimal demands: one that a newer, smaller failure
  // dominates says nothing more. With few dimensions in play the minimal ones
  // are few (a staircase under the offers' free amounts), where a list of the
  // first 16 failures filled with redundant ones and every later shape of a
  // long, blocked queue walked all the offers again (Alibaba 2017 on a busy
  // cluster: a third of the run).
  if (placed == 0) {
    std::erase_if(failed_,
                  [&](const Scalars& shape) { return (shape.array() >= demand.array()).all(); });
    if (failed_.size() < kMaxFailed) failed_.push_back(demand);
  }
  return placed;
}

bool Engine::placeGang(SimFramework& f, const Unit& unit, std::span<const std::uint32_t> only) {
  // Cheap test first: a gang that does not fit in the sum of the offers
  // fits in no arrangement of them (the common case of a blocked queue head).
  // The sum only shrinks within a decision (commits take from it, tentative
  // placements do not), so neither does any gang of that demand later in it.
  const std::uint32_t gang = gangShape_[unit.job];
  if (gangNoFit_[gang] == decisions_) return false;
  if (!fitsIn(gangDemand_[gang], f.heldFree)) {
    gangNoFit_[gang] = decisions_;
    return false;
  }
  const Job& job = w_.jobs[unit.job];
  for (std::uint32_t t = static_cast<std::uint32_t>(job.firstTask);
       t < job.firstTask + job.taskCount; ++t) {
    const std::uint32_t want = w_.tasks[t].count;
    if (want > 0 && place(f, unit, t, want, only) < want) return false;
  }
  return true;
}

void Engine::rollback() {
  for (const Planned& p : plan_) {
    offers_[p.offer].free += demandOf(p.task) * static_cast<double>(p.count);
    if (cfg_.launchesPerOffer > 0) offers_[p.offer].launched -= p.count;
  }
  plan_.clear();
  cursor_.valid = false;
}

void Engine::commit(std::uint32_t fwIndex, const Unit& unit) {
  SimFramework& f = fws_[fwIndex];
  f.demandStale = true;  // the caller takes the launched instances off the unit
  JobRecord& jr = result_.jobs[unit.job];
  SimJob& job = jobs_[unit.job];
  if (jr.firstStart == kTimeNever) jr.firstStart = fromMicros(now_);
  idleRounds_ = 0;
  for (const Planned& p : plan_) {
    SimOffer& offer = offers_[p.offer];
    const Task& t = w_.tasks[p.task];
    const Scalars amount = demandOf(p.task) * static_cast<double>(p.count);
    // The task's resources come out of the offer: the role's reservation
    // first, then unreserved. fitsIn's tolerance lets instances take a hair
    // more than the offer holds (three of 0.1 in 0.3); they take what it
    // holds, so that what goes back to the allocator at their end is what it
    // lent. Taking the demand itself left the framework's books short by
    // that hair each time, until, hours into a replay of normalized amounts
    // (Alibaba 2017), a task's end gave back more than its framework held
    // there and the run failed.
    Resources res;
    if (isUnreservedRole(f.info.role) || offer.res.scalars(f.info.role).isZero()) {
      res = Resources::fromScalars(amount, offer.res.dimensions());
    } else {
      const Scalars reserved = offer.res.scalars(f.info.role).cwiseMin(amount);
      res = Resources::fromScalars(amount - reserved, offer.res.dimensions());
      const Dimensions& dims = *offer.res.dimensions();
      for (int d = 0; d < dims.size(); ++d) {
        if (reserved[d] > 0) res.setScalar(dims.name(d), reserved[d], f.info.role);
      }
    }
    res.capScalars(offer.res);
    offer.res -= res;
    offered_ -= amount;
    f.heldFree -= amount;

    const std::uint32_t g = takeSlot(groups_, freeGroups_);
    RunGroup& group = groups_[g];
    group.record = static_cast<std::uint32_t>(result_.tasks.size());
    group.unit = unit.key;
    group.fw = fwIndex;
    group.machine = offer.machine;
    SimMachine& machine = machines_[offer.machine];
    group.slot = static_cast<std::uint32_t>(machine.running.size());
    machine.running.push_back(g);
    ++group.generation;
    group.losses = unit.losses;
    group.live = true;
    group.res = std::move(res);
    group.scalars = amount;
    growHuge(result_.tasks);
    result_.tasks.push_back(TaskRecord{unit.job, p.task, p.count, offer.machine, unit.attempt,
                                       TaskState::kUnfinished, unit.ready, fromMicros(now_),
                                       kTimeNever});
    if (job.spread && t.differentMachine) job.spread->insert(offer.machine);
    f.used += amount;
    f.running += p.count;
    f.pending -= p.count;
    pendingAll_ -= p.count;
    runningAll_ += p.count;
    used_ += amount;
    roleUsed_[f.role] += amount;
    ++result_.counters.launches;
    result_.counters.instancesLaunched += p.count;
    log("launch job={} task={} n={} m={} fw={}", jr.traceId, p.task, p.count, offer.machine,
        fwIndex);
    schedule(toMicros(saturatingAdd(fromMicros(now_), t.duration)), Kind::kTaskEnd, g,
             group.generation);
  }
  // A held offer left with less than anything worth offering goes back (the
  // allocator will not offer such crumbs again until they grow).
  if (cfg_.holdOffers) {
    for (const Planned& p : plan_) {
      SimOffer& offer = offers_[p.offer];
      if (!offer.live || alloc_.allocatable(offer.free)) continue;
      if (!offer.res.empty()) {
        alloc_.recoverResources(f.slot, machines_[offer.machine].slot, offer.res, std::nullopt,
                                fromMicros(now_));
      }
      releaseOffer(p.offer);
      f.offersDropped = true;
    }
  }
  plan_.clear();
}

void Engine::decide(std::uint32_t fwIndex) {
  SimFramework& f = fws_[fwIndex];
  f.decisionPending = false;
  if (f.offers.empty()) return;
  if (cfg_.launchesPerOffer > 0) {
    for (std::uint32_t o : f.offers) offers_[o].launched = 0;
  }
  maxFreeKnown_ = false;
  failed_.clear();
  ++decisions_;
  cursor_.valid = false;
  // A unit that did not fit the offers sized to it (a constraint the policy
  // cannot see, such as Google's different-machine tasks) leaves the
  // framework's filters saying nothing useful: it revives at the next release.
  const bool hintMissed = !f.hinted.empty() && !launchHinted(fwIndex);
  const bool fcfs = cfg_.queue == Queue::kFcfs;
  bool gangBlocked = hintMissed;
  Scalars need =
      hintMissed ? Scalars::Zero() : Scalars::Constant(std::numeric_limits<double>::infinity());
  // Most decisions of a busy cluster launch nothing, and a first-fit walk
  // visits every unit of the queue to find so. Offers that cannot hold the
  // queue's smallest demand hold no unit of it: the walk is skipped, with its
  // very outcome. (Not so with a gang in the queue: a blocked gang's walk
  // also notes what the gang needs.)
  if (fcfs || hintMissed || f.mayHoldGang || queueMayFit(f)) {
    // A first-fit walk visits every unit: it learns the queue's bounds anew.
    Scalars queueMin = Scalars::Constant(std::numeric_limits<double>::infinity());
    bool mayHoldGang = false;
    for (Unit& unit : f.queue) {
      if (unit.count == 0) continue;
      if (unit.task == kNone) {
        if (placeGang(f, unit)) {
          commit(fwIndex, unit);
          unit.count = 0;
        } else {
          rollback();
          gangBlocked = true;
          mayHoldGang = true;
          const Scalars demand = gangDemand(unit.job);
          if (demand.sum() < need.sum()) need = demand;
          if (fcfs) break;
        }
        continue;
      }
      // Most units of a long queue have a demand that fits nowhere in this
      // decision (place's first test), and the walk visits every unit of
      // every decision: tell them here, without the call.
      const std::uint32_t placed =
          fitsNowhere(unit.task) ? 0 : place(f, unit, unit.task, unit.count);
      if (placed > 0) {
        commit(fwIndex, unit);
        unit.count -= placed;
        if (unit.count == 0) continue;
      }
      if (fcfs) break;
      queueMin = queueMin.cwiseMin(demandOf(unit.task));
    }
    if (!fcfs) {
      f.queueMin = queueMin;
      f.mayHoldGang = mayHoldGang;
    }
    std::erase_if(f.queue, [](const Unit& u) { return u.count == 0; });
  }

  // Unused offers are declined, or held by hoarding frameworks.
  if (!cfg_.holdOffers) {
    declineAll(f);
    if (gangBlocked) {
      f.gangNeed = need;
      if (!f.waitsForRelease) {
        f.waitsForRelease = true;
        waiting_.push_back(fwIndex);
      }
    }
  } else if (f.offersDropped) {
    f.offersDropped = false;
    std::erase_if(f.offers, [&](std::uint32_t o) { return !offers_[o].live; });
  }
  updateInterest(f, false);
}

bool Engine::queueMayFit(const SimFramework& f) {
  // place's own first tests, for the smallest demand: a demand at least as
  // large fails them too (fitCount is monotone in the demand).
  if (fitCount(f.queueMin, f.heldFree, 1) == 0) return false;
  // The largest free amounts need a pass over the offers, which a short
  // queue's walk would not make (its first unit may well fit in the first
  // offer); place learns them on its own walks then.
  constexpr std::size_t kLongQueue = 16;
  if (f.queue.size() < kLongQueue) return true;
  if (!maxFreeKnown_) {
    maxFree_.setZero();
    for (std::uint32_t o : f.offers) maxFree_ = maxFree_.cwiseMax(offers_[o].free);
    maxFreeKnown_ = true;
  }
  return fitCount(f.queueMin, maxFree_, 1) > 0;
}

// The policy sized offers to these units: they launch there first, in the
// order the policy granted them, each on the offers sized to it alone; what
// is left goes to the usual walk of the queue. Returns false when some
// hinted unit still has instances pending.
bool Engine::launchHinted(std::uint32_t fwIndex) {
  SimFramework& f = fws_[fwIndex];
  bool all = true;
  // Each hinted key's offers (positions in f.offers, in their order), found
  // by one pass over the offers.
  hintedOffers_.clear();
  for (std::uint32_t i = 0; i < f.offers.size(); ++i) {
    for (std::uint64_t key : offers_[f.offers[i]].tasks) hintedOffers_.emplace_back(key, i);
  }
  std::sort(hintedOffers_.begin(), hintedOffers_.end());
  hintedOffers_.erase(std::unique(hintedOffers_.begin(), hintedOffers_.end()), hintedOffers_.end());
  for (std::uint64_t key : f.hinted) {
    // Units join the queue's back with ever larger keys: it is sorted by key.
    auto it = std::lower_bound(f.queue.begin(), f.queue.end(), key,
                               [](const Unit& u, std::uint64_t k) { return u.key < k; });
    // Launched, or gone since it was published.
    if (it == f.queue.end() || it->key != key || it->count == 0) continue;
    Unit& unit = *it;
    only_.clear();
    auto [first, last] = std::equal_range(
        hintedOffers_.begin(), hintedOffers_.end(), std::pair{key, std::uint32_t{0}},
        [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto h = first; h != last; ++h) only_.push_back(f.offers[h->second]);
    if (unit.task == kNone) {
      if (placeGang(f, unit, only_)) {
        commit(fwIndex, unit);
        unit.count = 0;
      } else {
        rollback();
        all = false;
      }
      continue;
    }
    const std::uint32_t placed = place(f, unit, unit.task, unit.count, only_);
    if (placed > 0) commit(fwIndex, unit);
    unit.count -= placed;
    if (unit.count > 0) all = false;
  }
  f.hinted.clear();
  for (std::uint32_t o : f.offers) offers_[o].tasks.clear();
  cursor_.valid = false;
  return all;
}

// The first demandWindow pending instances, in queue order.
void Engine::publishDemand(SimFramework& f) {
  if (shape_.empty()) shape_.resize(shapeDemand_.size());
  published_.clear();
  std::uint64_t instances = 0;
  auto add = [&](const Unit& unit, std::uint32_t task, std::uint32_t count, bool gang) {
    Resources& shape = shape_[shapeId_[task] >> 1];
    if (shape.empty()) shape = Resources::fromScalars(demandOf(task), w_.dims);
    const Task& t = w_.tasks[task];
    const Duration estimate = cfg_.exactEstimates ? t.duration : t.estimate;
    published_.push_back(
        PendingTask{shape, count, gang, t.differentMachine, unit.ready, estimate, unit.key});
    instances += count;
  };
  for (const Unit& unit : f.queue) {
    if (instances >= cfg_.demandWindow) break;
    if (unit.count == 0) continue;
    if (unit.task != kNone) {
      add(unit, unit.task,
          static_cast<std::uint32_t>(
              std::min<std::uint64_t>(unit.count, cfg_.demandWindow - instances)),
          false);
      continue;
    }
    // A gang is published whole, window or not: offers that cover part of it
    // would never let it start.
    const Job& job = w_.jobs[unit.job];
    for (std::uint64_t t = job.firstTask; t < job.firstTask + job.taskCount; ++t) {
      if (w_.tasks[t].count > 0) add(unit, static_cast<std::uint32_t>(t), w_.tasks[t].count, true);
    }
  }
  // Moved: a copy would cost every shape's reference counts twice more.
  alloc_.updateDemand(f.info.id, std::move(published_));
  f.demandStale = false;
}

// Resources came free (a task ended, a machine came or grew): frameworks
// whose gangs did not fit in aggregate look again.
void Engine::released() {
  requestRound(now_);
  if (waiting_.empty()) return;
  // Only worth a look once everything not used or offered could hold the gang.
  const Scalars free = total_ - used_ - offered_;
  std::erase_if(waiting_, [&](std::uint32_t fwIndex) {
    SimFramework& f = fws_[fwIndex];
    if (f.registered && !fitsIn(f.gangNeed, free)) return false;
    f.waitsForRelease = false;
    if (f.registered && f.filtered && !f.suppressed) {
      alloc_.revive(f.info.id);
      f.filtered = false;
    }
    return true;
  });
}

// A hoarding framework with nothing left to launch keeps its offers only
// while no other framework has work (a single framework's queue empties and
// fills again all the time: giving everything back each time was 26 M
// offers made and declined in the FCFS replay of HPC2N). Once another has
// work they go back, without a filter, for a round at this instant: the
// hoarder is suppressed and will not take them again.
void Engine::returnIdleHoards(const SimFramework& busy) {
  for (const std::uint32_t h : idleHoarders_) {
    SimFramework& hoarder = fws_[h];
    if (h == busy.index || !hoarder.idleHoarding) continue;
    hoarder.idleHoarding = false;
    if (hoarder.pending > 0 || !hoarder.registered) continue;
    for (const std::uint32_t o : hoarder.offers) giveBack(o, Filters{Duration::zero()});
    hoarder.offers.clear();
    requestRound(now_);
  }
  idleHoarders_.clear();
}

// Frameworks ask for offers only while they have pending work, and revive
// (which also clears their decline filters) when new work arrives.
void Engine::updateInterest(SimFramework& f, bool newWork) {
  if (!f.registered) return;
  if (cfg_.demandWindow > 0 && f.pending > 0 && f.demandStale) publishDemand(f);
  if (f.pending == 0) {
    if (!cfg_.holdOffers) {
      declineAll(f);
    } else if (!f.offers.empty() && !f.idleHoarding) {
      // Kept for its next work, until another framework has some.
      f.idleHoarding = true;
      idleHoarders_.push_back(f.index);
    }
    if (!f.suppressed) {
      alloc_.suppress(f.info.id);
      f.suppressed = true;
    }
    return;
  }
  f.idleHoarding = false;
  if (newWork && !idleHoarders_.empty()) returnIdleHoards(f);
  if (f.suppressed || (newWork && f.filtered)) {
    alloc_.revive(f.info.id);
    f.suppressed = false;
    f.filtered = false;
    requestRound(now_);
  }
}

}  // namespace

std::vector<std::string> ignoredDimensions(const traces::Workload& workload) {
  const Scalars keep = presentDimensions(workload);
  const Scalars asked = askedDimensions(workload);
  // None of them: the simulator refuses the workload (see validate) rather
  // than leave anything out.
  if (machinesHaveNoneAsked(keep, asked)) return {};
  std::vector<std::string> names;
  for (int d = 0; d < workload.dims->size(); ++d) {
    if (asked[d] > 0 && keep[d] == 0) names.push_back(workload.dims->name(d));
  }
  return names;
}

std::string stopBeforeWorkWarning(const traces::Workload& workload, const Config& config,
                                  const OptionSpelling& spelling) {
  if (workload.jobs.empty() || config.stopAt == kTimeNever) return {};
  // Jobs are sorted by submit time; one that waits for others comes later.
  const TimePoint first = workload.jobs.front().submit;
  if (config.stopAt > first) return {};
  return fmt::format(
      "{} {} s is not after the first job's submission, at {} s of simulated time: nothing will "
      "run (simulated time counts from the trace's own time 0, not from its first submission)",
      spelling.stopAt, toSeconds(config.stopAt.time_since_epoch()),
      toSeconds(first.time_since_epoch()));
}

std::string unreplayableReason(const traces::Workload& workload, std::string_view source,
                               const OptionSpelling& spelling) {
  if (workload.jobs.empty()) {
    return fmt::format("{}: the workload has no jobs: nothing to replay", source);
  }
  if (!workload.machines.empty()) return {};
  // Every job would be unschedulable: a table of dashes is no answer.
  const auto found = workload.meta.find("format");
  const std::string format = found == workload.meta.end() ? "" : found->second;
  std::string from = format.empty() ? "this trace" : "format " + format;
  if (format == "google2011") {
    from += fmt::format(" without {} or a {} table", spelling.machineEvents, spelling.machines);
  }
  if (format == "alibaba2018")
    from += fmt::format(" without a {} machine_meta file", spelling.machines);
  return fmt::format(
      "{}: the workload has no machines ({} gives none); replay it on a cluster of your choice "
      "with {}",
      source, from, spelling.cluster);
}

std::vector<std::string> inertOptionNotes(const traces::Workload& workload, const Config& config,
                                          const OptionSpelling& spelling) {
  std::vector<std::string> notes;
  if (config.offerTimeout > Duration::zero() && !config.holdOffers) {
    notes.push_back(fmt::format(
        "{} has no effect without {}: frameworks that do not hold offers answer each one after "
        "their decision latency, before it could time out",
        spelling.offerTimeout, spelling.holdOffers));
  }
  if (config.refuseFor && config.holdOffers) {
    notes.push_back(
        fmt::format("{} has no effect with {}: frameworks that hold offers decline "
                    "none, so no decline filter is ever set",
                    spelling.refuseSeconds, spelling.holdOffers));
  }
  if (config.exactEstimates && config.demandWindow == 0) {
    notes.push_back(fmt::format(
        "{} has no effect without published demand ({}): estimates reach the policy only in it",
        spelling.exactEstimates, spelling.demand));
  }
  const bool removes =
      std::any_of(workload.machineEvents.begin(), workload.machineEvents.end(),
                  [](const MachineEvent& e) { return e.kind == MachineEvent::Kind::kRemove; });
  if (config.maxAttempts > 0 && !removes && config.meanTimeBetweenFailures <= Duration::zero()) {
    notes.push_back(fmt::format(
        "{} has no effect on this workload: no machine of it is ever removed (nor fails: {}), and "
        "only instances lost with their machine are retried",
        spelling.maxAttempts, spelling.mtbf));
  }
  // A weight or quota for a role no framework of the run is in.
  std::vector<std::string> frameworkRoles;
  if (config.grouping == Grouping::kSingle || workload.roles.empty()) {
    frameworkRoles.emplace_back(kUnreservedRole);
  } else {
    frameworkRoles = workload.roles;
  }
  for (const RoleSetting& r : config.roles) {
    if (std::find(frameworkRoles.begin(), frameworkRoles.end(), r.role) != frameworkRoles.end()) {
      continue;
    }
    constexpr std::size_t kShown = 10;
    std::vector<std::string_view> shown(
        frameworkRoles.begin(), frameworkRoles.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                             kShown, frameworkRoles.size())));
    notes.push_back(fmt::format(
        "the weight and quota of role '{}' have no effect: no framework of this run is in it "
        "(its roles: {}{})",
        r.role, fmt::join(shown, ", "), frameworkRoles.size() > kShown ? ", ..." : ""));
  }
  // Lost instances are retried for ever without a limit of attempts: one that
  // rarely outlives its machine's up time keeps the run from ending.
  if (config.meanTimeBetweenFailures > Duration::zero() && config.maxAttempts == 0 &&
      config.stopAt == kTimeNever) {
    Duration longest{0};
    for (const Task& t : workload.tasks) longest = std::max(longest, t.duration);
    const double survives =
        std::exp(-toSeconds(longest) / toSeconds(config.meanTimeBetweenFailures));
    if (survives < 0.01) {
      notes.push_back(fmt::format(
          "the longest task ({} s) runs to its end on a machine failing every {} s on average "
          "with probability {:.2g}: such tasks are lost and retried until one does, which can "
          "keep the run going for ever; {} or {} bounds it",
          toSeconds(longest), toSeconds(config.meanTimeBetweenFailures), survives,
          spelling.maxAttempts, spelling.stopAt));
    }
  }
  return notes;
}

Result simulate(const traces::Workload& workload, Allocator& allocator, const Config& config,
                const Hooks& hooks) {
  Engine engine(workload, allocator, config, hooks);
  return engine.run();
}

std::string_view toString(Grouping grouping) {
  switch (grouping) {
    case Grouping::kUser:
      return "user";
    case Grouping::kRole:
      return "role";
    case Grouping::kJob:
      return "job";
    case Grouping::kSingle:
      return "single";
  }
  return "?";
}

std::string_view toString(Queue queue) {
  return queue == Queue::kFcfs ? "fcfs" : "first-fit";
}

Grouping parseGrouping(std::string_view text) {
  for (Grouping g : {Grouping::kUser, Grouping::kRole, Grouping::kJob, Grouping::kSingle}) {
    if (text == toString(g)) return g;
  }
  throw InvalidArgument("unknown framework grouping '" + std::string(text) +
                        "' (known: user, role, job, single)");
}

Queue parseQueue(std::string_view text) {
  if (text == "fcfs") return Queue::kFcfs;
  if (text == "first-fit") return Queue::kFirstFit;
  throw InvalidArgument("unknown queue discipline '" + std::string(text) +
                        "' (known: fcfs, first-fit)");
}

}  // namespace allot::sim
