#include "backfill.h"

#include <algorithm>
#include <tuple>

namespace allot {

namespace {

// The whole queue: backfilling looks past the head to every waiting job.
constexpr std::uint32_t kWholeQueue = 1'000'000;

}  // namespace

PolicyInfo BackfillAllocator::easyInfo() {
  PolicyInfo info{
      "easy",
      "EASY backfilling: FCFS over all frameworks' jobs, with a reservation for the "
      "head of the queue; later jobs start early if they do not delay it",
      {},
      [](const Params& p) { return std::make_unique<BackfillAllocator>(Mode::kEasy, p); }};
  info.demand = kWholeQueue;
  return info;
}

PolicyInfo BackfillAllocator::conservativeInfo() {
  PolicyInfo info{
      "conservative",
      "conservative backfilling: every queued job holds a reservation; a job starts early only "
      "if it delays none of them",
      {},
      [](const Params& p) { return std::make_unique<BackfillAllocator>(Mode::kConservative, p); }};
  info.demand = kWholeQueue;
  return info;
}

BackfillAllocator::BackfillAllocator(Mode mode, const Params& params)
    : Allocator(parseAllocatorOptions(params)), mode_(mode) {}

void BackfillAllocator::decide(TimePoint now) {
  const ClusterState& s = state();
  free_.assign(s.agentSlots(), Scalars::Zero());
  usable_.assign(s.agentSlots(), 0);
  freeTotal_.setZero();
  for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
    const AgentState& agent = s.agent(a);
    if (!agent.alive || !agent.active) continue;
    usable_[a] = 1;
    free_[a] = s.availableUnreserved(a);
    freeTotal_ += free_[a];
  }
  maxFree_.setZero();
  for (const Scalars& f : free_) maxFree_ = maxFree_.cwiseMax(f);
  blockFree_.assign((free_.size() + kBlock - 1) / kBlock, Scalars::Zero());
  for (std::size_t b = 0; b < blockFree_.size(); ++b) tightenBlock(b);
  failed_.clear();
  collectQueue();
  if (!queue_.empty()) {
    if (mode_ == Mode::kEasy) {
      easy(now);
    } else {
      conservative(now);
    }
  }
  grantWholeAgentsWithoutDemand();
}

void BackfillAllocator::collectQueue() {
  const ClusterState& s = state();
  queue_.clear();
  parts_.clear();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (!f.alive || !f.active || f.suppressed || f.demand.empty()) continue;
    std::uint32_t position = 0;
    bool lastWasGang = false;
    for (const PendingTask& t : f.demand) {
      const Scalars shape = t.shape.totalScalars();
      // Records of one gang are published one after another under one key.
      if (t.gang && lastWasGang && queue_.back().key == t.key) {
        Job& job = queue_.back();
        parts_.push_back({&t.shape, shape, t.count, t.spread});
        ++job.parts;
        job.total += shape * static_cast<double>(t.count);
        job.estimate = std::max(job.estimate, t.estimate);
        continue;
      }
      lastWasGang = t.gang;
      const std::uint32_t instances = t.gang ? t.count : 1;
      Job job;
      job.fw = fw;
      job.key = t.key;
      job.submitted = t.submitted;
      job.registration = f.registration;
      job.position = position;
      job.estimate = t.estimate;
      job.firstPart = static_cast<std::uint32_t>(parts_.size());
      job.parts = 1;
      job.total = shape * static_cast<double>(instances);
      job.count = t.gang ? 1 : t.count;
      position += job.count;  // a run holds the places of its jobs
      parts_.push_back({&t.shape, shape, instances, t.spread});
      queue_.push_back(job);
    }
  }
  std::stable_sort(queue_.begin(), queue_.end(), [](const Job& a, const Job& b) {
    return std::tie(a.submitted, a.registration, a.position) <
           std::tie(b.submitted, b.registration, b.position);
  });
}

bool BackfillAllocator::start(const Job& job, TimePoint now) {
  if (!fitsIn(job.total, freeTotal_)) return false;
  const bool single = job.parts == 1 && parts_[job.firstPart].count == 1;
  if (single) {
    for (const Scalars& shape : failed_) {
      if ((job.total.array() >= shape.array()).all()) return false;
    }
  }
  for (std::uint32_t p = job.firstPart; p < job.firstPart + job.parts; ++p) {
    if (!fitsIn(parts_[p].scalars, maxFree_)) return false;
  }
  const ClusterState& s = state();
  bool filtered = false;
  // (agent, part, instances) tentatively taken from free_.
  std::vector<std::tuple<AgentIndex, std::uint32_t, std::uint32_t>> plan;
  bool placed = true;
  for (std::uint32_t p = job.firstPart; p < job.firstPart + job.parts && placed; ++p) {
    const Part& part = parts_[p];
    std::uint32_t left = part.count;
    for (AgentIndex a = 0; a < free_.size() && left > 0; ++a) {
      if (a % kBlock == 0) {
        // No agent of a block whose bound the part exceeds has room: skip it.
        // A block whose agents all lack room gets its bound tightened.
        const std::size_t block = a / kBlock;
        if (!fitsIn(part.scalars, blockFree_[block])) {
          a += kBlock - 1;
          continue;
        }
        const AgentIndex end =
            std::min<AgentIndex>(a + kBlock, static_cast<AgentIndex>(free_.size()));
        bool room = false;
        for (AgentIndex b = a; b < end && !room; ++b) {
          room = usable_[b] != 0 && fitsIn(part.scalars, free_[b]);
        }
        if (!room) {
          tightenBlock(block);
          a += kBlock - 1;
          continue;
        }
      }
      if (usable_[a] == 0) continue;
      std::uint32_t n = fitCount(part.scalars, free_[a], left);
      if (n == 0) continue;
      if (part.spread) {
        // One per agent: not beside another instance of this key, placed
        // now or running.
        if (runsOn(job.key, a) || std::any_of(plan.begin(), plan.end(),
                                              [&](const auto& e) { return std::get<0>(e) == a; })) {
          continue;
        }
        n = 1;
      }
      if (s.hasFilters(a) &&
          s.isFiltered(
              job.fw, a,
              Resources::fromScalars(part.scalars * static_cast<double>(n), s.dimensions()))) {
        filtered = true;
        continue;
      }
      free_[a] -= part.scalars * static_cast<double>(n);
      plan.emplace_back(a, p, n);
      left -= n;
    }
    placed = left == 0;
  }
  if (!placed) {
    for (const auto& [a, p, n] : plan) {
      free_[a] += parts_[p].scalars * static_cast<double>(n);
      Scalars& bound = blockFree_[a / kBlock];
      bound = bound.cwiseMax(free_[a]);
    }
    // (A framework's filters say nothing about other frameworks' tasks.)
    if (single && !filtered && failed_.size() < 32) failed_.push_back(job.total);
    return false;
  }
  const TimePoint end =
      job.estimate > Duration::zero() ? saturatingAdd(now, job.estimate) : kTimeNever;
  for (const auto& [a, p, n] : plan) {
    const Scalars amount = parts_[p].scalars * static_cast<double>(n);
    // Checked above: the resources are free and the framework may have them.
    grant(job.fw, a, Resources::fromScalars(amount, s.dimensions()), job.key);
    ++grants_;
    running_[job.key].emplace(grants_, Running{grants_, job.fw, a, amount, end});
    placed_[place(job.fw, a)].emplace_back(grants_, job.key);
    if (end != kTimeNever) ends_.emplace(end, job.key, grants_);
  }
  freeTotal_ -= job.total;
  return true;
}

void BackfillAllocator::tightenBlock(std::size_t block) {
  Scalars bound = Scalars::Zero();
  const std::size_t end = std::min<std::size_t>((block + 1) * kBlock, free_.size());
  for (std::size_t a = block * kBlock; a < end; ++a) {
    if (usable_[a] != 0) bound = bound.cwiseMax(free_[a]);
  }
  blockFree_[block] = bound;
}

bool BackfillAllocator::runsOn(std::uint64_t key, AgentIndex agent) const {
  auto found = running_.find(key);
  if (found == running_.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(),
                     [&](const auto& booking) { return booking.second.agent == agent; });
}

std::vector<std::pair<TimePoint, Scalars>> BackfillAllocator::releases(TimePoint now) const {
  // In order of (max(end, now), task key, seq): running_'s order (key, then
  // grant order) among equal times, as a stable sort of a walk over running_
  // gives, so that sums over equal times are made in the same order. Ends
  // already past all count from now: those are re-sorted by key and seq.
  std::vector<std::tuple<TimePoint, std::uint64_t, std::uint64_t>> order;
  order.reserve(ends_.size());
  for (const auto& [end, key, seq] : ends_) order.emplace_back(std::max(end, now), key, seq);
  const auto overdue = std::find_if(order.begin(), order.end(),
                                    [now](const auto& e) { return std::get<0>(e) > now; });
  std::sort(order.begin(), overdue);
  std::vector<std::pair<TimePoint, Scalars>> out;
  out.reserve(order.size());
  for (const auto& [time, key, seq] : order) {
    out.emplace_back(time, running_.find(key)->second.find(seq)->second.amount);
  }
  return out;
}

// A run's jobs are identical and nothing changes between one's attempt and
// the next's: once one does not start (or may not), neither would the rest of
// the run, and the walk goes on to the next run.
void BackfillAllocator::easy(TimePoint now) {
  std::size_t head = 0;
  for (; head < queue_.size(); ++head) {
    Job& job = queue_[head];
    while (job.count > 0 && start(job, now)) --job.count;
    if (job.count > 0) break;
  }
  if (head == queue_.size()) return;
  // The first job of this run that did not start; the rest of its run
  // would not either.
  const Job& blocked = queue_[head];

  // Shadow time: the earliest time the head fits in what is free then.
  const auto freed = releases(now);
  Scalars avail = freeTotal_;
  TimePoint shadow = now;
  bool fits = fitsIn(blocked.total, avail);
  for (std::size_t k = 0; k < freed.size() && !fits;) {
    shadow = freed[k].first;
    for (; k < freed.size() && freed[k].first == shadow; ++k) avail += freed[k].second;
    fits = fitsIn(blocked.total, avail);
  }
  // No reservation can be made (the head waits on jobs without estimates):
  // backfilling could starve it, so nothing jumps the queue.
  if (!fits) return;
  Scalars extra = avail - blocked.total;

  for (std::size_t j = head + 1; j < queue_.size(); ++j) {
    Job& job = queue_[j];
    const bool endsBefore =
        job.estimate > Duration::zero() && saturatingAdd(now, job.estimate) <= shadow;
    for (; job.count > 0; --job.count) {
      if (!fitsIn(job.total, freeTotal_)) break;
      if (!endsBefore && !fitsIn(job.total, extra)) break;
      if (!start(job, now)) break;
      if (!endsBefore) extra -= job.total;
    }
  }
}

void BackfillAllocator::conservative(TimePoint now) {
  profile_.clear();
  profile_.push_back({now, freeTotal_});
  for (const auto& [time, amount] : releases(now)) {
    if (time == profile_.back().time) {
      profile_.back().free += amount;
    } else {
      profile_.push_back({time, profile_.back().free + amount});
    }
  }
  // Every reservation still queued is held in the profile, so that the job
  // re-made below cannot take another's (one past now counts from now).
  // Reservations of jobs that started (the earliest of their task) or left
  // the queue are dropped.
  kept_.clear();
  for (const Job& job : queue_) {
    auto found = reservations_.find(job.key);
    if (found == reservations_.end()) continue;
    std::vector<TimePoint>& held = kept_[job.key];
    held.swap(found->second);
    if (held.size() > job.count) {
      held.erase(held.begin(), held.begin() + static_cast<std::ptrdiff_t>(held.size() - job.count));
    }
    for (TimePoint& at : held) {
      at = std::max(at, now);
      book(at, endOf(at, job), -job.total);
    }
  }
  reservations_.clear();
  // Compression, in queue order: each job gives its reservation back and
  // takes the earliest time it fits now. A run's jobs are identical: once
  // one finds no step, neither would the rest of its run, and what they
  // held goes back.
  for (const Job& job : queue_) {
    const auto found = kept_.find(job.key);
    const std::vector<TimePoint>* held = found == kept_.end() ? nullptr : &found->second;
    const std::size_t holding = held == nullptr ? 0 : held->size();
    for (std::uint32_t i = 0; i < job.count; ++i) {
      if (i < holding) book((*held)[i], endOf((*held)[i], job), job.total);
      const std::optional<TimePoint> at = reserve(job, now);
      if (!at) {
        for (std::size_t k = i + 1; k < holding; ++k) {
          book((*held)[k], endOf((*held)[k], job), job.total);
        }
        break;
      }
      if (*at != kTimeNever) reservations_[job.key].push_back(*at);
    }
  }
  for (auto& [key, times] : reservations_) std::sort(times.begin(), times.end());
}

void BackfillAllocator::book(TimePoint from, TimePoint to, const Scalars& delta) {
  const auto split = [&](TimePoint t) {
    auto it = std::lower_bound(profile_.begin(), profile_.end(), t,
                               [](const Step& step, TimePoint x) { return step.time < x; });
    if (it == profile_.end() || it->time != t) {
      it = profile_.insert(it, Step{t, std::prev(it)->free});
    }
    return static_cast<std::size_t>(it - profile_.begin());
  };
  const std::size_t first = split(from);
  const std::size_t last = to == kTimeNever ? profile_.size() : split(to);
  for (std::size_t m = first; m < last; ++m) profile_[m].free += delta;
}

std::optional<TimePoint> BackfillAllocator::reserve(const Job& job, TimePoint now) {
  // The earliest step from which the job fits for its whole estimated run.
  std::size_t at = 0;
  bool found = false;
  while (at < profile_.size() && !found) {
    const TimePoint end = endOf(profile_[at].time, job);
    std::size_t m = at;
    while (m < profile_.size() && profile_[m].time < end && fitsIn(job.total, profile_[m].free)) {
      ++m;
    }
    if (m == profile_.size() || profile_[m].time >= end) {
      found = true;
    } else {
      at = m + 1;  // every start up to m overlaps step m, where it does not fit
    }
  }
  if (!found) return std::nullopt;  // never fits what running jobs give back
  const TimePoint from = profile_[at].time;
  // Starting may fail on fragmentation: then it keeps its reservation now.
  const bool started = at == 0 && start(job, now);
  book(from, endOf(from, job), -job.total);
  return started ? kTimeNever : from;
}

void BackfillAllocator::onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                                    std::uint64_t task) {
  if (task != kNoTask) {
    // A finished task: what it held is no longer running.
    auto found = running_.find(task);
    auto at = placed_.find(place(fw, agent));
    if (found == running_.end() || at == placed_.end()) return;
    Bookings& bookings = found->second;
    // The task's bookings at this place, in grant order (placed_ lists them
    // so, and forget() below changes the list).
    endedSeqs_.clear();
    for (const auto& [seq, key] : at->second) {
      if (key == task) endedSeqs_.push_back(seq);
    }
    Scalars left = resources.totalScalars();
    for (std::uint64_t seq : endedSeqs_) {
      const auto it = bookings.find(seq);
      Running& r = it->second;
      if (!fitsIn(r.amount, left)) {
        r.amount -= left;
        break;
      }
      left -= r.amount;
      forget(task, r);
      bookings.erase(it);
    }
    if (bookings.empty()) running_.erase(found);
    return;
  }
  // Declined or rescinded: bookings beyond what the framework still holds
  // there never ran. Drop the newest first.
  auto at = placed_.find(place(fw, agent));
  if (at == placed_.end()) return;
  const Scalars held = state().allocatedOn(fw, agent).totalScalars();
  // (seq, key) of the bookings here, summed in running_'s order (by key,
  // then grant order), as a walk over running_ would sum them.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> here = at->second;
  std::sort(here.begin(), here.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second, a.first) < std::tie(b.second, b.first);
  });
  Scalars booked = Scalars::Zero();
  for (const auto& [seq, key] : here) booked += running_.find(key)->second.find(seq)->second.amount;
  std::sort(here.rbegin(), here.rend());
  for (const auto& [seq, key] : here) {
    if (fitsIn(booked, held)) break;
    Bookings& bookings = running_.find(key)->second;
    const auto it = bookings.find(seq);
    booked -= it->second.amount;
    forget(key, it->second);
    bookings.erase(it);
    if (bookings.empty()) running_.erase(key);
  }
}

void BackfillAllocator::forget(std::uint64_t key, const Running& r) {
  if (r.end != kTimeNever) ends_.erase({r.end, key, r.seq});
  auto at = placed_.find(place(r.fw, r.agent));
  if (at == placed_.end()) return;
  std::erase_if(at->second, [&](const auto& booking) { return booking.first == r.seq; });
  if (at->second.empty()) placed_.erase(at);
}

void BackfillAllocator::dropRunning(const std::function<bool(const Running&)>& gone) {
  for (auto it = running_.begin(); it != running_.end();) {
    for (const auto& [seq, r] : it->second) {
      if (gone(r)) forget(it->first, r);
    }
    std::erase_if(it->second, [&](const auto& booking) { return gone(booking.second); });
    it = it->second.empty() ? running_.erase(it) : std::next(it);
  }
}

void BackfillAllocator::onAgentRemoved(AgentIndex agent) {
  dropRunning([&](const Running& r) { return r.agent == agent; });
}

void BackfillAllocator::onFrameworkRemoved(FrameworkIndex fw) {
  dropRunning([&](const Running& r) { return r.fw == fw; });
}

}  // namespace allot
