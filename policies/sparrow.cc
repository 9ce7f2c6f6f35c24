#include "sparrow.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "allot/core/error.h"
#include "src/shuffle.h"

namespace allot {

namespace {

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
// Instances counted when turning used resources into busy slots.
constexpr std::uint32_t kManySlots = 1u << 20;

SparrowAllocator::Mode parseMode(const std::string& text) {
  using Mode = SparrowAllocator::Mode;
  if (text == "batch") return Mode::kBatch;
  if (text == "batch-bound") return Mode::kBatchBound;
  if (text == "per-task") return Mode::kPerTask;
  if (text == "random") return Mode::kRandom;
  if (text == "omniscient") return Mode::kOmniscient;
  throw InvalidArgument(fmt::format(
      "parameter mode: '{}' is not one of batch, batch-bound, per-task, random, omniscient", text));
}

bool parseQueue(const std::string& text) {
  if (text == "fifo") return false;
  if (text == "first-fit") return true;
  throw InvalidArgument(fmt::format("parameter queue: '{}' is not one of fifo, first-fit", text));
}

// The most reservations per task: far beyond the paper's 2, and a job's
// probe count (ratio x tasks) stays a number of reservations memory can hold
// (1e300 once converted to 0 probes, and 1e12 ran out of memory).
constexpr double kMaxProbeRatio = 1000;

double parseProbeRatio(const Params& params) {
  const double d = params.getDouble("probe_ratio", 2.0);
  // Fewer probes than instances would leave some without a reservation.
  if (!(d >= 1.0 && d <= kMaxProbeRatio)) {
    throw InvalidArgument(fmt::format(
        "parameter probe_ratio: '{}' must be a number from 1 to {} (reservations per task; the "
        "paper uses 2)",
        params.getString("probe_ratio", ""), kMaxProbeRatio));
  }
  return d;
}

}  // namespace

PolicyInfo SparrowAllocator::info() {
  PolicyInfo info{
      "sparrow",
      "Sparrow: batch sampling (probe_ratio x m reservations per job of m tasks) with late "
      "binding at agents' FIFO queues; per-task, random and omniscient modes for comparison",
      {{"mode", "batch",
        "batch (batch sampling + late binding), batch-bound (batch sampling, bound at probe "
        "time), per-task (power of d choices), random, or omniscient (central FIFO on any free "
        "agent, the ideal baseline)"},
       {"probe_ratio", "2", "d: reservations per task (1 to 1000)"},
       {"queue", "fifo",
        "agents' queues: fifo (Sparrow: a reservation that does not fit the free room "
        "waits, and so do those behind it) or first-fit (those behind it that fit are "
        "served)"},
       {"seed", "0", "random seed; the same seed gives the same placements"}},
      [](const Params& p) { return std::make_unique<SparrowAllocator>(p); }};
  // Whole jobs must be visible to probe for all of their tasks.
  info.demand = 100000;
  return info;
}

SparrowAllocator::SparrowAllocator(const Params& params)
    : Allocator(parseAllocatorOptions(params)),
      mode_(parseMode(params.getString("mode", "batch"))),
      probeRatio_(parseProbeRatio(params)),
      firstFit_(parseQueue(params.getString("queue", "fifo"))),
      rng_(params.getSeed("seed", 0)) {}

bool SparrowAllocator::eligible(FrameworkIndex fw) const {
  const FrameworkState& f = state().framework(fw);
  return f.alive && f.active && !f.suppressed;
}

// ------------------------------------------------------------------ rounds

void SparrowAllocator::decide(TimePoint /*now*/) {
  const ClusterState& s = state();
  if (agents_.size() < s.agentSlots()) {
    agents_.resize(s.agentSlots());
    seenVersion_.resize(s.agentSlots(), 0);
  }
  if (frameworks_.size() < s.frameworkSlots()) frameworks_.resize(s.frameworkSlots());

  newJobs_.clear();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    // Nothing can be granted to a suppressed or inactive framework: its
    // demand is read when it may be offered again (idle frameworks keep
    // their last publication, often a whole job).
    if (!eligible(fw)) continue;
    if (!s.framework(fw).demand.empty() || !frameworks_[fw].unitList.empty()) reconcile(fw);
  }
  if (mode_ == Mode::kOmniscient && !newJobs_.empty()) {
    // The global FIFO: submit time, then registration, then discovery order.
    std::stable_sort(newJobs_.begin(), newJobs_.end(), [&](std::uint32_t a, std::uint32_t b) {
      return std::tuple(jobs_[a].submitted, s.framework(jobs_[a].fw).registration) <
             std::tuple(jobs_[b].submitted, s.framework(jobs_[b].fw).registration);
    });
    for (std::uint32_t j : newJobs_) jobs_[j].order = nextOrder_++;
  }

  // Jobs that are new or lost reservations get probes (the omniscient
  // scheduler queues them centrally instead).
  if (!needy_.empty()) {
    std::vector<std::uint32_t> waiting;
    for (std::uint32_t j : needy_) {
      Job& job = jobs_[j];
      if (!job.live) continue;
      if (!eligible(job.fw)) {
        waiting.push_back(j);  // probed when it may be offered again
        continue;
      }
      job.needy = false;
      probe(j);
    }
    needy_ = std::move(waiting);
  }

  // Agents get room back through onRecovered. What no hook reports (a new
  // total, an unreserve, a framework leaving with resources) is caught by a
  // pass over the agents' versions when the agent set or total changed, a
  // framework left holding resources, and every kFullPassRounds rounds: a
  // dense pass, no visits, but not one per round (10,000 agents and rounds
  // every 0.1 s made it a fifth of a simulation).
  ++rounds_;
  if (fullPass_ || rounds_ % kFullPassRounds == 0 || s.agentSetVersion() != passAgentSet_ ||
      s.totalScalars() != passTotal_) {
    fullPass_ = false;
    passAgentSet_ = s.agentSetVersion();
    passTotal_ = s.totalScalars();
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      const std::uint64_t v = s.agentVersion(a);
      if (v == seenVersion_[a]) continue;
      seenVersion_[a] = v;
      if (s.agent(a).alive) roomChanged(a);
    }
  }

  placeGangs();
  if (mode_ == Mode::kOmniscient) {
    placeOmniscient();
  } else if (!dirty_.empty()) {
    // Agents freeing up in the same round ask in random order.
    shuffleSeeded(dirty_, rng_);
    // (By index: serving can mark more agents, which are served too.)
    for (std::size_t i = 0; i < dirty_.size(); ++i) serve(dirty_[i]);
    dirty_.clear();
  }
  offerWholeAgents();
}

// ------------------------------------------------------------------ demand

void SparrowAllocator::reconcile(FrameworkIndex fw) {
  const std::vector<PendingTask>& demand = state().framework(fw).demand;
  FrameworkBook& book = frameworks_[fw];
  if (demand.size() == book.snapshot.size() &&
      std::equal(demand.begin(), demand.end(), book.snapshot.begin(),
                 [](const PendingTask& t, const std::pair<std::uint64_t, std::uint32_t>& s) {
                   return t.key == s.first && t.count == s.second;
                 })) {
    return;
  }
  ++pass_;
  book.snapshot.clear();
  std::uint32_t lastNew = kNone;
  std::uint64_t previousKey = kNoTask;
  std::uint32_t ordinal = 0, unkeyed = 0;
  book.gangs = false;
  for (const PendingTask& t : demand) {
    book.snapshot.emplace_back(t.key, t.count);
    if (t.gang) {
      book.gangs = true;  // placed whole by placeGangs
      continue;
    }
    // Records of one gang share a key; tasks without a key are told apart
    // by their rank among such tasks.
    if (t.key == kNoTask) {
      ordinal = unkeyed++;
    } else {
      ordinal = t.key == previousKey ? ordinal + 1 : 0;
    }
    previousKey = t.key;
    auto it = book.units.find(UnitKey{t.key, ordinal});
    if (it != book.units.end()) {
      const std::uint32_t u = it->second;
      Unit& unit = units_[u];
      unit.seen = pass_;
      if (t.count < unit.published) {
        // Launched (or withdrawn): the oldest grants in flight are resolved.
        resolveInflight(unit, u, std::min(unit.published - t.count, unit.inflight));
      }
      unit.published = t.count;
      setRemaining(unit, t.count > unit.inflight ? t.count - unit.inflight : 0);
      lastNew = kNone;
      continue;
    }
    std::uint32_t job = kNone;
    if (!t.shape.empty()) {
      const Scalars shape = t.shape.totalScalars();
      if (lastNew == kNone || jobs_[lastNew].submitted != t.submitted ||
          jobs_[lastNew].shape != shape) {
        lastNew = newJob(fw, t);
      }
      job = lastNew;
    }
    // (Tasks that demand nothing cannot be granted; the framework launches
    // them in any offer.)
    newUnit(fw, t, ordinal, job);
  }
  std::erase_if(book.unitList, [&](std::uint32_t u) {
    if (units_[u].seen == pass_) return false;
    removeUnit(u);
    return true;
  });
}

std::uint32_t SparrowAllocator::newJob(FrameworkIndex fw, const PendingTask& task) {
  std::uint32_t j = 0;
  if (!freeJobs_.empty()) {
    j = freeJobs_.back();
    freeJobs_.pop_back();
  } else {
    j = static_cast<std::uint32_t>(jobs_.size());
    jobs_.emplace_back();
  }
  Job& job = jobs_[j];
  job.live = true;
  job.fw = fw;
  job.submitted = task.submitted;
  job.shape = task.shape.totalScalars();
  job.units.clear();
  job.cursor = 0;
  job.unplaced = 0;
  job.reservations = 0;
  job.probedAt.clear();
  job.liveUnits = 0;
  job.order = 0;
  job.needy = false;
  job.probed = false;
  markNeedy(j);
  newJobs_.push_back(j);
  return j;
}

std::uint32_t SparrowAllocator::newUnit(FrameworkIndex fw, const PendingTask& task,
                                        std::uint32_t ordinal, std::uint32_t job) {
  std::uint32_t u = 0;
  if (!freeUnits_.empty()) {
    u = freeUnits_.back();
    freeUnits_.pop_back();
  } else {
    u = static_cast<std::uint32_t>(units_.size());
    units_.emplace_back();
  }
  Unit& unit = units_[u];
  unit.live = true;
  unit.fw = fw;
  unit.key = task.key;
  unit.ordinal = ordinal;
  unit.job = job;
  unit.shape = task.shape;
  unit.published = task.count;
  unit.inflight = 0;
  unit.remaining = task.count;
  unit.reservations = 0;
  unit.seen = pass_;
  unit.inflightOn.clear();
  unit.spread = task.spread;
  unit.placedOn.clear();
  if (job != kNone) {
    Job& j = jobs_[job];
    unit.position = static_cast<std::uint32_t>(j.units.size());
    j.units.push_back(u);
    ++j.liveUnits;
    j.unplaced += task.count;
  }
  FrameworkBook& book = frameworks_[fw];
  book.units.emplace(UnitKey{task.key, ordinal}, u);
  book.unitList.push_back(u);
  return u;
}

void SparrowAllocator::setRemaining(Unit& unit, std::uint32_t remaining) {
  if (remaining == unit.remaining) return;
  const std::uint32_t before = unit.remaining;
  unit.remaining = remaining;
  if (unit.job == kNone) return;
  Job& job = jobs_[unit.job];
  job.unplaced = job.unplaced - before + remaining;
  if (remaining > before) {
    // Grants came back: this unit has work again, and its job may lack
    // reservations for it.
    job.cursor = std::min(job.cursor, unit.position);
    markNeedy(unit.job);
  } else if (job.unplaced == 0 && !job.probedAt.empty()) {
    // Everything is placed: the job's other reservations are cancelled
    // now, so that none holds up a queue whose agent has no room for it.
    for (AgentIndex a : job.probedAt) {
      if (a < agents_.size() && !agents_[a].queue.empty()) markDirty(a);
    }
    job.probedAt.clear();
  }
}

// Drops a unit that is no longer published; its job goes with its last unit.
// REQUIRES: the caller removes it from its framework's unitList.
void SparrowAllocator::removeUnit(std::uint32_t u) {
  Unit& unit = units_[u];
  for (AgentIndex a : unit.inflightOn) {
    auto& entries = agents_[a].inflight;
    auto it = std::find(entries.begin(), entries.end(), std::pair(u, unit.generation));
    if (it != entries.end()) entries.erase(it);
  }
  if (unit.job != kNone) {
    Job& job = jobs_[unit.job];
    job.unplaced -= unit.remaining;
    job.units[unit.position] = kNone;
    if (--job.liveUnits == 0) {
      if (mode_ == Mode::kOmniscient) fifo_.erase({job.order, unit.job});
      for (AgentIndex a : job.probedAt) {
        if (a < agents_.size() && !agents_[a].queue.empty()) markDirty(a);  // cancelled
      }
      job.probedAt.clear();
      job.live = false;
      ++job.generation;
      job.units.clear();
      freeJobs_.push_back(unit.job);
    }
  }
  frameworks_[unit.fw].units.erase(UnitKey{unit.key, unit.ordinal});
  unit.live = false;
  ++unit.generation;
  unit.inflightOn.clear();
  unit.placedOn.clear();
  unit.shape = Resources();
  freeUnits_.push_back(u);
}

void SparrowAllocator::resolveInflight(Unit& unit, std::uint32_t u, std::uint32_t count) {
  for (std::uint32_t i = 0; i < count && !unit.inflightOn.empty(); ++i) {
    auto& entries = agents_[unit.inflightOn.front()].inflight;
    auto it = std::find(entries.begin(), entries.end(), std::pair(u, unit.generation));
    if (it != entries.end()) entries.erase(it);
    unit.inflightOn.erase(unit.inflightOn.begin());
  }
  unit.inflight -= std::min(unit.inflight, count);
}

void SparrowAllocator::markNeedy(std::uint32_t j) {
  Job& job = jobs_[j];
  if (job.needy) return;
  job.needy = true;
  needy_.push_back(j);
}

// ------------------------------------------------------------------ probes

std::vector<AgentIndex>& SparrowAllocator::candidates(const Scalars& shape) {
  const ClusterState& s = state();
  if (agentSetVersion_ != s.agentSetVersion()) {
    agentSetVersion_ = s.agentSetVersion();
    capacityGroups_.clear();
    candidates_.clear();
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      const AgentState& agent = s.agent(a);
      if (!agent.alive || !agent.active) continue;
      const Scalars capacity = agent.info.resources.totalScalars();
      auto it = std::find_if(capacityGroups_.begin(), capacityGroups_.end(),
                             [&](const auto& g) { return g.first == capacity; });
      if (it == capacityGroups_.end()) {
        capacityGroups_.emplace_back(capacity, std::vector<AgentIndex>{});
        it = capacityGroups_.end() - 1;
      }
      it->second.push_back(a);
    }
  }
  std::vector<bool> groups(capacityGroups_.size());
  for (std::size_t g = 0; g < capacityGroups_.size(); ++g) {
    groups[g] = fitsIn(shape, capacityGroups_[g].first);
  }
  for (Candidates& c : candidates_) {
    if (c.groups == groups) return c.agents;
  }
  Candidates c;
  c.groups = groups;
  for (std::size_t g = 0; g < capacityGroups_.size(); ++g) {
    if (groups[g]) {
      c.agents.insert(c.agents.end(), capacityGroups_[g].second.begin(),
                      capacityGroups_[g].second.end());
    }
  }
  candidates_.push_back(std::move(c));
  return candidates_.back().agents;
}

void SparrowAllocator::draw(const Scalars& shape, std::size_t count) {
  std::vector<AgentIndex>& agents = candidates(shape);
  draw_.clear();
  if (agents.empty()) return;
  // A partial Fisher-Yates draws without replacement in O(count).
  const std::size_t n = agents.size();
  const std::size_t distinct = std::min(count, n);
  for (std::size_t i = 0; i < distinct; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(rng_() % (n - i));
    std::swap(agents[i], agents[j]);
    draw_.push_back(agents[i]);
  }
  for (std::size_t i = distinct; i < count; ++i) {
    draw_.push_back(agents[static_cast<std::size_t>(rng_() % n)]);
  }
}

std::uint64_t SparrowAllocator::load(AgentIndex agent, const Scalars& shape) const {
  const ClusterState& s = state();
  const std::uint32_t slots =
      fitCount(shape, s.agent(agent).info.resources.totalScalars(), kManySlots);
  const std::uint32_t free = fitCount(shape, s.availableUnreserved(agent), kManySlots);
  return agents_[agent].queue.size() + (slots > free ? slots - free : 0);
}

void SparrowAllocator::enqueue(AgentIndex agent, std::uint32_t target, std::uint32_t generation) {
  AgentBook& book = agents_[agent];
  book.queue.push_back({target, generation});
  ++stats_.reservations;
  markDirty(agent);
}

void SparrowAllocator::roomChanged(AgentIndex agent) {
  AgentBook& book = agents_[agent];
  if (mode_ == Mode::kOmniscient) {
    if (!book.listed) {
      book.listed = true;
      free_.push_back(agent);
    }
  } else if (!book.queue.empty()) {
    markDirty(agent);
  }
}

void SparrowAllocator::markDirty(AgentIndex agent) {
  AgentBook& book = agents_[agent];
  if (book.dirty) return;
  book.dirty = true;
  dirty_.push_back(agent);
}

void SparrowAllocator::probe(std::uint32_t j) {
  Job& job = jobs_[j];
  if (mode_ == Mode::kOmniscient) {
    if (job.unplaced > 0) fifo_.insert({job.order, j});
    return;
  }
  if (mode_ == Mode::kBatch) {
    if (job.unplaced <= job.reservations) return;
    const std::uint32_t missing = job.unplaced - job.reservations;
    if (job.probed) stats_.reprobed += missing;
    job.probed = true;
    draw(job.shape, static_cast<std::size_t>(std::ceil(probeRatio_ * missing)));
    for (AgentIndex a : draw_) {
      enqueue(a, j, job.generation);
      ++job.reservations;
      job.probedAt.push_back(a);
    }
    return;
  }
  // Bound modes: one reservation per instance that lacks one.
  std::vector<std::uint32_t> instances;  // unit of each instance to bind
  for (std::uint32_t u : job.units) {
    if (u == kNone) continue;
    const Unit& unit = units_[u];
    for (std::uint32_t i = unit.reservations; i < unit.remaining; ++i) instances.push_back(u);
  }
  if (instances.empty()) return;
  if (job.probed) stats_.reprobed += instances.size();
  job.probed = true;
  auto bind = [&](std::uint32_t u, AgentIndex a) {
    enqueue(a, u, units_[u].generation);
    ++units_[u].reservations;
  };
  switch (mode_) {
    case Mode::kRandom:
      draw(job.shape, instances.size());
      for (std::size_t i = 0; i < instances.size() && i < draw_.size(); ++i) {
        bind(instances[i], draw_[i]);
      }
      break;
    case Mode::kPerTask: {
      const auto d = static_cast<std::size_t>(std::ceil(probeRatio_));
      for (std::uint32_t u : instances) {
        draw(job.shape, d);
        if (draw_.empty()) break;
        AgentIndex best = draw_[0];
        std::uint64_t bestLoad = load(best, job.shape);
        for (std::size_t i = 1; i < draw_.size(); ++i) {
          const std::uint64_t l = load(draw_[i], job.shape);
          if (l < bestLoad) {
            best = draw_[i];
            bestLoad = l;
          }
        }
        bind(u, best);
      }
      break;
    }
    case Mode::kBatchBound: {
      draw(job.shape, static_cast<std::size_t>(
                          std::ceil(probeRatio_ * static_cast<double>(instances.size()))));
      // The m least loaded of the probed agents, each load read at probe
      // time; an agent probed twice (small clusters) can take two.
      std::vector<std::pair<std::uint64_t, AgentIndex>> probed;
      probed.reserve(draw_.size());
      for (AgentIndex a : draw_) probed.emplace_back(load(a, job.shape), a);
      std::stable_sort(probed.begin(), probed.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      for (std::size_t i = 0; i < instances.size() && i < probed.size(); ++i) {
        bind(instances[i], probed[i].second);
      }
      break;
    }
    default:
      break;
  }
}

// ------------------------------------------------------------------ late binding

void SparrowAllocator::serve(AgentIndex a) {
  AgentBook& book = agents_[a];
  book.dirty = false;
  const ClusterState& s = state();
  if (!s.agent(a).alive || !s.agent(a).active) return;
  const bool batch = mode_ == Mode::kBatch;
  auto& queue = book.queue;
  std::size_t i = 0;  // first reservation not passed over
  while (i < queue.size()) {
    const Reservation r = queue[i];
    const auto drop = [&] { queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i)); };
    std::uint32_t u = kNone;
    std::uint32_t j = kNone;
    if (batch) {
      if (r.target >= jobs_.size() || !jobs_[r.target].live ||
          jobs_[r.target].generation != r.generation) {
        drop();  // its job is gone
        ++stats_.cancelled;
        continue;
      }
      j = r.target;
      Job& job = jobs_[j];
      if (job.unplaced == 0) {
        drop();
        --job.reservations;
        ++stats_.cancelled;
        continue;
      }
      if (!fitsIn(job.shape, s.availableUnreserved(a))) {
        if (!firstFit_) return;  // FIFO: wait for room
        ++i;
        continue;
      }
      u = nextUnit(job, a);
      drop();
      --job.reservations;
      if (u == kNone) {
        // Every unit left has an instance here (spread): try elsewhere.
        ++stats_.refused;
        markNeedy(j);
        continue;
      }
    } else {
      if (r.target >= units_.size() || !units_[r.target].live ||
          units_[r.target].generation != r.generation) {
        drop();
        ++stats_.cancelled;
        continue;
      }
      u = r.target;
      Unit& unit = units_[u];
      j = unit.job;
      if (unit.remaining == 0) {
        // Launched elsewhere since it was bound here.
        drop();
        --unit.reservations;
        ++stats_.cancelled;
        continue;
      }
      if (!fitsIn(jobs_[j].shape, s.availableUnreserved(a))) {
        if (!firstFit_) return;
        ++i;
        continue;
      }
      drop();
      --unit.reservations;
      if (unit.spread &&
          std::find(unit.placedOn.begin(), unit.placedOn.end(), a) != unit.placedOn.end()) {
        ++stats_.refused;  // one of its instances is here already: elsewhere
        markNeedy(j);
        continue;
      }
    }
    if (!eligible(units_[u].fw) || !grantOne(u, a)) {
      // The framework may not take it here (a decline filter, or it is
      // suppressed or gone): the instance is probed again elsewhere.
      ++stats_.refused;
      markNeedy(j);
    }
  }
}

// REQUIRES: job.unplaced > 0 (some unit at or after the cursor has work).
std::uint32_t SparrowAllocator::nextUnit(Job& job, AgentIndex agent) {
  while (job.units[job.cursor] == kNone || units_[job.units[job.cursor]].remaining == 0) {
    ++job.cursor;
  }
  for (std::size_t i = job.cursor; i < job.units.size(); ++i) {
    if (job.units[i] == kNone) continue;
    const Unit& unit = units_[job.units[i]];
    if (unit.remaining == 0) continue;
    if (unit.spread &&
        std::find(unit.placedOn.begin(), unit.placedOn.end(), agent) != unit.placedOn.end()) {
      continue;
    }
    return job.units[i];
  }
  return kNone;
}

void SparrowAllocator::unplace(Unit& unit, AgentIndex agent) {
  if (!unit.spread) return;
  auto it = std::find(unit.placedOn.begin(), unit.placedOn.end(), agent);
  if (it != unit.placedOn.end()) unit.placedOn.erase(it);
}

bool SparrowAllocator::grantOne(std::uint32_t u, AgentIndex agent) {
  Unit& unit = units_[u];
  if (!grant(unit.fw, agent, unit.shape, unit.key)) return false;
  ++stats_.grants;
  ++unit.inflight;
  unit.inflightOn.push_back(agent);
  agents_[agent].inflight.emplace_back(u, unit.generation);
  if (unit.spread) unit.placedOn.push_back(agent);
  setRemaining(unit, unit.remaining - 1);
  return true;
}

void SparrowAllocator::placeOmniscient() {
  const ClusterState& s = state();
  std::vector<Scalars> failed;  // shapes that found no room this round
  for (auto it = fifo_.begin(); it != fifo_.end() && !free_.empty();) {
    const std::uint32_t j = it->second;
    Job& job = jobs_[j];
    if (!eligible(job.fw) || std::any_of(failed.begin(), failed.end(),
                                         [&](const Scalars& f) { return fitsIn(f, job.shape); })) {
      ++it;
      continue;
    }
    bool refused = false;
    std::size_t i = 0;
    while (job.unplaced > 0 && i < free_.size()) {
      const AgentIndex a = free_[i];
      const AgentState& agent = s.agent(a);
      const Scalars& room = s.availableUnreserved(a);
      if (!agent.alive || !agent.active || !allocatable(room)) {
        // Full: it comes back with its next change.
        agents_[a].listed = false;
        free_[i] = free_.back();
        free_.pop_back();
        continue;
      }
      if (!fitsIn(job.shape, room)) {
        ++i;
        continue;
      }
      const std::uint32_t u = nextUnit(job, a);
      if (u == kNone || !grantOne(u, a)) {
        refused = true;
        ++i;
      }
    }
    if (job.unplaced > 0) {
      if (!refused) failed.push_back(job.shape);
      ++it;
    } else {
      it = fifo_.erase(it);
    }
  }
}

void SparrowAllocator::placeGangs() {
  const ClusterState& s = state();
  struct Gang {
    FrameworkIndex fw;
    std::uint64_t key;
    TimePoint submitted;
    std::uint64_t registration;
    std::size_t first, end;  // its records in the framework's demand
  };
  std::vector<Gang> gangs;
  for (GangInFlight& g : gangsInFlight_) g.seen = false;
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots() && fw < frameworks_.size(); ++fw) {
    if (!frameworks_[fw].gangs || !eligible(fw)) continue;
    const std::vector<PendingTask>& demand = s.framework(fw).demand;
    for (std::size_t i = 0; i < demand.size();) {
      if (!demand[i].gang) {
        ++i;
        continue;
      }
      std::size_t end = i + 1;
      while (end < demand.size() && demand[end].gang && demand[end].key == demand[i].key) ++end;
      auto inFlight = std::find_if(gangsInFlight_.begin(), gangsInFlight_.end(),
                                   [&](auto& g) { return g.fw == fw && g.key == demand[i].key; });
      if (inFlight != gangsInFlight_.end()) {
        inFlight->seen = true;  // granted, not launched yet
      } else {
        gangs.push_back(
            {fw, demand[i].key, demand[i].submitted, s.framework(fw).registration, i, end});
      }
      i = end;
    }
  }
  // Gangs no longer published were launched (or given up).
  std::erase_if(gangsInFlight_, [&](const GangInFlight& g) { return !g.seen && eligible(g.fw); });
  if (gangs.empty()) return;
  std::stable_sort(gangs.begin(), gangs.end(), [](const Gang& a, const Gang& b) {
    return std::tie(a.submitted, a.registration) < std::tie(b.submitted, b.registration);
  });

  std::vector<Scalars> free(s.agentSlots(), Scalars::Zero());
  Scalars freeTotal = Scalars::Zero();
  for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
    if (!s.agent(a).alive || !s.agent(a).active) continue;
    free[a] = s.availableUnreserved(a);
    freeTotal += free[a];
  }
  // (agent, record, instances) of the gang being placed.
  std::vector<std::tuple<AgentIndex, std::size_t, std::uint32_t>> plan;
  for (const Gang& g : gangs) {
    const std::vector<PendingTask>& demand = s.framework(g.fw).demand;
    Scalars total = Scalars::Zero();
    for (std::size_t r = g.first; r < g.end; ++r) {
      total += demand[r].shape.totalScalars() * static_cast<double>(demand[r].count);
    }
    if (!fitsIn(total, freeTotal)) continue;
    plan.clear();
    bool placed = true;
    std::vector<AgentIndex> spreadOn;  // agents given a spread instance of this gang
    for (std::size_t r = g.first; r < g.end && placed; ++r) {
      const Scalars shape = demand[r].shape.totalScalars();
      const bool spread = demand[r].spread;
      std::uint32_t left = demand[r].count;
      for (AgentIndex a = 0; a < free.size() && left > 0; ++a) {
        std::uint32_t n = fitCount(shape, free[a], left);
        if (n == 0) continue;
        if (spread) {
          if (std::find(spreadOn.begin(), spreadOn.end(), a) != spreadOn.end()) continue;
          n = 1;
        }
        if (s.hasFilters(a) &&
            s.isFiltered(g.fw, a,
                         Resources::fromScalars(shape * static_cast<double>(n), s.dimensions()))) {
          continue;
        }
        if (spread) spreadOn.push_back(a);
        free[a] -= shape * static_cast<double>(n);
        plan.emplace_back(a, r, n);
        left -= n;
      }
      placed = left == 0;
    }
    if (!placed) {
      for (const auto& [a, r, n] : plan) {
        free[a] += demand[r].shape.totalScalars() * static_cast<double>(n);
      }
      continue;
    }
    GangInFlight flight{g.fw, g.key, {}, true};
    for (const auto& [a, r, n] : plan) {
      const Scalars amount = demand[r].shape.totalScalars() * static_cast<double>(n);
      // Checked above: free, unfiltered, and the framework may be offered.
      grant(g.fw, a, Resources::fromScalars(amount, s.dimensions()), g.key);
      stats_.grants += n;
      flight.agents.push_back(a);
    }
    gangsInFlight_.push_back(std::move(flight));
    freeTotal -= total;
  }
}

// ------------------------------------------------------------------ no demand

void SparrowAllocator::offerWholeAgents() {
  const ClusterState& s = state();
  bool any = false;
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots() && !any; ++fw) {
    any = eligible(fw) && s.framework(fw).demand.empty();
  }
  if (!any) return;
  agentOrder_.clear();
  for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
    if (s.agent(a).alive && s.agent(a).active && allocatable(s.availableTotal(a))) {
      agentOrder_.push_back(a);
    }
  }
  shuffleSeeded(agentOrder_, rng_);
  for (AgentIndex a : agentOrder_) {
    takers_.clear();
    for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
      if (!eligible(fw) || !s.framework(fw).demand.empty()) continue;
      const Resources offer = s.offerable(fw, a);
      if (!allocatable(offer) || (s.hasFilters(a) && s.isFiltered(fw, a, offer))) continue;
      takers_.push_back(fw);
    }
    if (takers_.empty()) continue;
    grantAll(takers_[rng_() % takers_.size()], a);
  }
}

// ------------------------------------------------------------------ events

void SparrowAllocator::onAgentAdded(AgentIndex agent) {
  if (agents_.size() <= agent) {
    agents_.resize(agent + 1);
    seenVersion_.resize(agent + 1, 0);
  }
  agents_[agent] = AgentBook{};
  seenVersion_[agent] = 0;
  roomChanged(agent);
}

void SparrowAllocator::onAgentRemoved(AgentIndex agent) {
  if (agent >= agents_.size()) return;
  AgentBook& book = agents_[agent];
  // Its reservations are lost: their work is probed again elsewhere.
  for (const Reservation& r : book.queue) {
    if (mode_ == Mode::kBatch) {
      if (r.target < jobs_.size() && jobs_[r.target].live &&
          jobs_[r.target].generation == r.generation) {
        --jobs_[r.target].reservations;
        markNeedy(r.target);
      }
    } else if (r.target < units_.size() && units_[r.target].live &&
               units_[r.target].generation == r.generation) {
      --units_[r.target].reservations;
      markNeedy(units_[r.target].job);
    }
  }
  // Grants in flight there vanish with the agent's offers.
  for (const auto& [u, generation] : std::vector(book.inflight)) {
    Unit& unit = units_[u];
    if (!unit.live || unit.generation != generation) continue;
    --unit.inflight;
    auto it = std::find(unit.inflightOn.begin(), unit.inflightOn.end(), agent);
    if (it != unit.inflightOn.end()) unit.inflightOn.erase(it);
    setRemaining(unit, unit.published > unit.inflight ? unit.published - unit.inflight : 0);
  }
  // Instances of spread tasks running there are gone too (a rare event: a
  // pass over the units).
  for (Unit& unit : units_) {
    if (unit.live && unit.spread) std::erase(unit.placedOn, agent);
  }
  std::erase(dirty_, agent);
  std::erase(free_, agent);
  std::erase_if(gangsInFlight_, [&](const GangInFlight& g) {
    return std::find(g.agents.begin(), g.agents.end(), agent) != g.agents.end();
  });
  book = AgentBook{};
}

void SparrowAllocator::onFrameworkAdded(FrameworkIndex fw) {
  if (frameworks_.size() <= fw) frameworks_.resize(fw + 1);
  frameworks_[fw] = FrameworkBook{};
}

void SparrowAllocator::onFrameworkRemoved(FrameworkIndex fw) {
  // What it holds goes back to agents without onRecovered.
  if (!state().framework(fw).allocated.isZero()) fullPass_ = true;
  if (fw >= frameworks_.size()) return;
  for (std::uint32_t u : std::vector(frameworks_[fw].unitList)) removeUnit(u);
  std::erase_if(gangsInFlight_, [&](const GangInFlight& g) { return g.fw == fw; });
  frameworks_[fw] = FrameworkBook{};
}

void SparrowAllocator::onRecovered(FrameworkIndex fw, AgentIndex agent,
                                   const Resources& /*resources*/, std::uint64_t task) {
  if (agent >= agents_.size()) return;  // an agent added since the last round
  roomChanged(agent);
  if (task != kNoTask) {
    // A finished instance of a spread task frees its agent for another.
    if (fw < frameworks_.size()) {
      auto it = frameworks_[fw].units.find(UnitKey{task, 0});
      if (it != frameworks_[fw].units.end()) unplace(units_[it->second], agent);
    }
    return;
  }
  // A declined gang is placed again.
  std::erase_if(gangsInFlight_, [&](const GangInFlight& g) {
    return g.fw == fw && std::find(g.agents.begin(), g.agents.end(), agent) != g.agents.end();
  });
  // Declined or rescinded: what was granted to fw here and not yet seen
  // launched came back unused, and is to be placed again.
  auto& entries = agents_[agent].inflight;
  std::erase_if(entries, [&](const std::pair<std::uint32_t, std::uint32_t>& e) {
    Unit& unit = units_[e.first];
    if (!unit.live || unit.generation != e.second) return true;
    if (unit.fw != fw) return false;
    --unit.inflight;
    auto it = std::find(unit.inflightOn.begin(), unit.inflightOn.end(), agent);
    if (it != unit.inflightOn.end()) unit.inflightOn.erase(it);
    unplace(unit, agent);
    setRemaining(unit, unit.published > unit.inflight ? unit.published - unit.inflight : 0);
    return true;
  });
}

}  // namespace allot
