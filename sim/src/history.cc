#include "allot/sim/history.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/rounds.h"
#include "src/series.h"

namespace allot::sim {

using traces::Job;
using traces::kUnknown;
using traces::MachineEvent;
using traces::Task;
using traces::Workload;

namespace {

// One change of the recorded schedule's state. At one time, every change
// comes before the sample of that time, so their order there does not matter.
struct Change {
  std::int64_t at;
  enum Kind : std::uint8_t { kMachine, kReady, kStart, kEnd } kind;
  std::uint32_t index;  // into machineEvents, jobs, or the result's tasks
};

// Replays the recorded launches' effect on the cluster from `beginUs` to
// `endUs`, as a replay's engine accounts it: the used and capacity integrals
// (machines without events up throughout, the others down until an add,
// resized by adds and updates while up), and samples every `interval` with
// the state after every change of their time, the last at `endUs` when on
// the grid. Pending instances are those of ready jobs not yet started.
void account(const Workload& w, Result& r, std::int64_t beginUs, std::int64_t endUs,
             std::int64_t interval) {
  std::vector<Change> changes;
  for (std::uint32_t i = 0; i < w.machineEvents.size(); ++i) {
    changes.push_back({toMicros(w.machineEvents[i].time), Change::kMachine, i});
  }
  for (std::uint32_t j = 0; j < r.jobs.size(); ++j) {
    changes.push_back({toMicros(r.jobs[j].ready), Change::kReady, j});
  }
  for (std::uint32_t t = 0; t < r.tasks.size(); ++t) {
    changes.push_back({toMicros(r.tasks[t].start), Change::kStart, t});
    if (r.tasks[t].end != kTimeNever)
      changes.push_back({toMicros(r.tasks[t].end), Change::kEnd, t});
  }
  std::erase_if(changes, [&](const Change& c) { return c.at > endUs; });
  std::stable_sort(changes.begin(), changes.end(),
                   [](const Change& a, const Change& b) { return a.at < b.at; });

  const std::vector<bool> hasEvents = traces::machinesWithEvents(w);
  Scalars total = Scalars::Zero();
  for (std::size_t m = 0; m < w.machines.size(); ++m) {
    if (!hasEvents[m]) total += w.machines[m].capacity;
  }
  std::vector<bool> up(w.machines.size(), false);
  std::vector<Scalars> capacity(w.machines.size(), Scalars::Zero());

  Scalars used = Scalars::Zero();
  std::int64_t pending = 0, running = 0;
  std::vector<Scalars> roleUsed(r.roles.size(), Scalars::Zero());
  std::vector<Scalars> fwUsed(r.frameworks.size(), Scalars::Zero());
  std::vector<std::int64_t> fwWork(r.frameworks.size(), 0);  // pending + running instances
  auto demandOf = [&](const TaskRecord& rec) {
    return Scalars(traces::demandOf(w, w.tasks[rec.task]) * rec.count);
  };

  Scalars usedIntegral = Scalars::Zero(), capacityIntegral = Scalars::Zero();
  TimeSeries& s = r.series;
  std::int64_t next = beginUs, last = beginUs;
  auto sample = [&](std::int64_t at) {
    // As a replay's: sample kMaxSamples (even) lies on the doubled grid.
    if (s.timeUs.size() == detail::kMaxSamples) {
      detail::keepEvenSamples(s, r.roles.size());
      interval *= 2;
    }
    s.timeUs.push_back(at);
    for (int d = 0; d < kMaxScalarDims; ++d) {
      s.used.push_back(used[d]);
      s.allocated.push_back(used[d]);  // no offers outstanding: what ran is all that was held
      s.total.push_back(total[d]);
    }
    s.pendingInstances.push_back(static_cast<std::uint64_t>(std::max<std::int64_t>(pending, 0)));
    s.runningInstances.push_back(static_cast<std::uint64_t>(std::max<std::int64_t>(running, 0)));
    s.outstandingOffers.push_back(0);
    for (const Scalars& u : roleUsed) s.roleShare.push_back(dominantShare(u, total));
    double sum = 0, sumSq = 0;
    int n = 0;
    for (std::size_t f = 0; f < fwUsed.size(); ++f) {
      if (fwWork[f] <= 0) continue;
      const double x = dominantShare(fwUsed[f], total);
      sum += x;
      sumSq += x * x;
      ++n;
    }
    s.jain.push_back(detail::jainIndex(sum, sumSq, n));
  };
  auto advance = [&](std::int64_t to, bool inclusive) {
    while (next < to || (inclusive && next == to)) {
      sample(next);
      next += interval;
    }
    if (to > last) {
      const double dt = static_cast<double>(to - last) / 1e6;
      usedIntegral += used * dt;
      capacityIntegral += total * dt;
      last = to;
    }
  };

  for (const Change& c : changes) {
    advance(std::max(c.at, beginUs), false);
    switch (c.kind) {
      case Change::kMachine: {
        const MachineEvent& e = w.machineEvents[c.index];
        const traces::MachineChange change = traces::machineChange(up[e.machine], e.kind);
        if (change == traces::MachineChange::kNone) break;
        if (up[e.machine]) total -= capacity[e.machine];
        up[e.machine] = change != traces::MachineChange::kDown;
        if (up[e.machine]) {
          capacity[e.machine] = e.capacity;
          total += e.capacity;
        }
        break;
      }
      case Change::kReady: {
        const JobRecord& j = r.jobs[c.index];
        pending += static_cast<std::int64_t>(j.instances);
        fwWork[j.framework] += static_cast<std::int64_t>(j.instances);
        break;
      }
      case Change::kStart:
      case Change::kEnd: {
        const TaskRecord& rec = r.tasks[c.index];
        const JobRecord& j = r.jobs[rec.job];
        const Scalars demand = demandOf(rec);
        const double sign = c.kind == Change::kStart ? 1.0 : -1.0;
        used += sign * demand;
        roleUsed[j.role] += sign * demand;
        fwUsed[j.framework] += sign * demand;
        const auto count = static_cast<std::int64_t>(rec.count);
        if (c.kind == Change::kStart) {
          pending -= count;
          running += count;
        } else {
          running -= count;
          fwWork[j.framework] -= count;
        }
        break;
      }
    }
  }
  advance(endUs, true);
  s.interval = Duration{interval};
  for (int d = 0; d < kMaxScalarDims && d < w.dims->size(); ++d) {
    r.usedIntegral.push_back(usedIntegral[d]);
    r.capacityIntegral.push_back(capacityIntegral[d]);
  }
}

}  // namespace

Result historyResult(const Workload& w, TimePoint stopAt, Duration sampleInterval) {
  // The recorded schedule ran on the trace's own machines: measured on others
  // (utilization, placements) it would mean nothing.
  if (const auto cluster = w.meta.find("cluster"); cluster != w.meta.end()) {
    throw InvalidArgument(
        "the trace's recorded schedule ran on its own machines, and this workload's were "
        "replaced by a uniform cluster (" +
        cluster->second + "): there is no history to measure on them; load the trace without it");
  }
  if (const auto factor = w.meta.find("load_factor"); factor != w.meta.end()) {
    throw InvalidArgument(
        "the trace's recorded schedule is of its own submissions, and this workload's were "
        "scaled (load factor " +
        factor->second + "): there is no history to measure for them; load the trace without it");
  }
  const std::int64_t stop = toMicros(stopAt);
  Result result;
  result.policy = "history";
  for (int d = 0; d < w.dims->size(); ++d) result.dimensions.push_back(w.dims->name(d));
  result.roles = w.roles;
  if (result.roles.empty()) result.roles.emplace_back(kUnreservedRole);

  std::unordered_map<std::int64_t, std::uint32_t> machineOf;
  for (std::uint32_t m = 0; m < w.machines.size(); ++m) {
    if (w.machines[m].traceId != kUnknown) machineOf.emplace(w.machines[m].traceId, m);
  }
  // A framework per user and role, as a replay makes by default.
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> frameworkOf;

  const std::int64_t beginUs = detail::runStart(w, stopAt);
  std::int64_t endUs = beginUs;  // the last recorded start or end, then maybe stopAt
  bool cut = false;              // some recorded time lies past stopAt
  bool any = false;              // some record has a recorded start at all
  result.jobs.resize(w.jobs.size());
  for (std::uint32_t j = 0; j < w.jobs.size(); ++j) {
    const Job& job = w.jobs[j];
    JobRecord& jr = result.jobs[j];
    jr.job = j;
    jr.traceId = job.traceId;
    jr.user = job.user;
    jr.role = job.role < result.roles.size() ? job.role : 0;
    const auto [fw, added] = frameworkOf.try_emplace(
        {job.user, jr.role}, static_cast<std::uint32_t>(result.frameworks.size()));
    if (added) {
      const std::string user =
          job.user < w.users.size() ? w.users[job.user] : std::to_string(job.user);
      result.frameworks.push_back({user + "/" + result.roles[jr.role], jr.role});
    }
    jr.framework = fw->second;
    jr.submit = job.submit;
    jr.ready = job.submit;
    jr.firstStart = kTimeNever;
    jr.end = kTimeNever;
    jr.instances = traces::instanceCount(w, job);
    bool finished = job.taskCount > 0;
    std::int64_t lastEnd = 0;
    for (std::uint64_t i = job.firstTask; i < job.firstTask + job.taskCount; ++i) {
      const Task& t = w.tasks[i];
      jr.work = std::max(jr.work, t.duration);
      const std::int64_t start = t.outcome.startUs;
      any = any || start != kUnknown;
      if (start == kUnknown || start > stop) {
        cut = cut || start != kUnknown;
        finished = false;
        continue;
      }
      TaskRecord& rec = result.tasks.emplace_back();
      rec.job = j;
      rec.task = static_cast<std::uint32_t>(i);
      rec.count = t.count;
      const auto machine = machineOf.find(t.outcome.machine);
      rec.machine = machine == machineOf.end() ? kNoMachine : machine->second;
      rec.start = fromMicros(start);
      rec.end = kTimeNever;
      rec.state = TaskState::kUnfinished;
      endUs = std::max(endUs, start);
      const std::int64_t end = t.outcome.endUs;
      if (end != kUnknown && end <= stop) {
        rec.end = fromMicros(std::max(end, start));
        rec.state = TaskState::kFinished;
        endUs = std::max(endUs, toMicros(rec.end));
        lastEnd = std::max(lastEnd, toMicros(rec.end));
      } else {
        cut = cut || end != kUnknown;
        finished = false;
      }
      jr.firstStart = std::min(jr.firstStart, rec.start);
      result.counters.instancesLaunched += t.count;
    }
    jr.state = finished ? JobState::kFinished : JobState::kUnfinished;
    if (finished) jr.end = fromMicros(lastEnd);
  }
  if (!any) {
    throw InvalidArgument(
        "the workload records no task's start (a synthetic one, or a trace without outcomes): "
        "there is no history to compare with");
  }
  if (cut) endUs = std::max(endUs, stop);

  // Ready when the jobs it depends on ended (in the trace).
  for (JobRecord& jr : result.jobs) {
    for (std::uint32_t d : w.jobs[jr.job].dependsOn) {
      if (result.jobs[d].end != kTimeNever) jr.ready = std::max(jr.ready, result.jobs[d].end);
    }
  }
  for (TaskRecord& rec : result.tasks) rec.ready = result.jobs[rec.job].ready;
  std::stable_sort(result.tasks.begin(), result.tasks.end(),
                   [](const TaskRecord& a, const TaskRecord& b) { return a.start < b.start; });
  result.counters.launches = result.tasks.size();
  result.end = fromMicros(endUs);
  detail::markNotSubmitted(result);
  account(w, result, beginUs, endUs, detail::sampleInterval(w, beginUs, stopAt, sampleInterval));
  summarize(result);
  return result;
}

}  // namespace allot::sim
