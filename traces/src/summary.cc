#include "allot/traces/summary.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace allot::traces {
namespace {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// A value and how many items have it (a task record's count).
struct Weighted {
  double value = 0;
  std::uint64_t weight = 1;
};

// Nearest-rank percentiles of the multiset in which each value appears
// `weight` times (so the percentiles of task instances, computed from
// records without expanding them); reorders `values`.
Percentiles percentiles(std::vector<Weighted>& values) {
  Percentiles p;
  std::uint64_t total = 0;
  double sum = 0;
  for (const Weighted& v : values) {
    total += v.weight;
    sum += v.value * static_cast<double>(v.weight);
  }
  if (total == 0) return p;
  std::sort(values.begin(), values.end(),
            [](const Weighted& a, const Weighted& b) { return a.value < b.value; });
  auto rank = [&](double q) {
    // The k-th smallest item, k = ceil(q * total) (at least 1).
    const auto k = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))));
    std::uint64_t seen = 0;
    for (const Weighted& v : values) {
      seen += v.weight;
      if (seen >= k) return v.value;
    }
    return values.back().value;
  };
  p.p50 = rank(0.5);
  p.p90 = rank(0.9);
  p.p99 = rank(0.99);
  p.max = values.back().value;
  p.mean = sum / static_cast<double>(total);
  return p;
}

nlohmann::json toJson(const Percentiles& p) {
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}, {"mean", p.mean}};
}

struct Usage {
  std::string name;
  std::uint64_t jobs = 0, records = 0, instances = 0;
};

// Task statistics are per task *instance* (each record weighted by its
// count): "task_instances", "instance_duration_s", "instance_demand",
// "instances_per_job", and "instance_estimate_s" over instances with an
// estimate (absent when none has one). "task_records" and "records_per_job" count records.
}  // namespace

nlohmann::json summarizeWorkload(const Workload& w, std::size_t top) {
  std::vector<std::uint64_t> jobInstances(w.jobs.size(), 0);
  for (const Task& t : w.tasks) jobInstances[t.job] += t.count;
  nlohmann::json out;
  out["jobs"] = w.jobs.size();
  out["task_records"] = w.tasks.size();
  out["task_instances"] =
      std::accumulate(jobInstances.begin(), jobInstances.end(), std::uint64_t{0});
  out["machines"] = w.machines.size();
  out["machine_events"] = w.machineEvents.size();
  out["users"] = w.users.size();
  out["roles"] = w.roles.size();
  out["dims"] = w.dims->names();
  out["gang_jobs"] =
      std::count_if(w.jobs.begin(), w.jobs.end(), [](const Job& j) { return j.gang; });
  out["jobs_with_dependencies"] = std::count_if(w.jobs.begin(), w.jobs.end(),
                                                [](const Job& j) { return !j.dependsOn.empty(); });

  std::int64_t first = 0, last = 0, end = 0;
  if (!w.jobs.empty()) {
    first = toMicros(w.jobs.front().submit);
    last = toMicros(w.jobs.back().submit);
    for (const Job& j : w.jobs) {
      first = std::min(first, toMicros(j.submit));
      last = std::max(last, toMicros(j.submit));
    }
  }
  // started, ended: what `allot sim --history` can set beside a replay,
  // records whose start (and end) the trace gives.
  std::uint64_t started = 0, ended = 0;
  std::int64_t recordedEnd = kUnknown;
  for (const Task& t : w.tasks) {
    end = std::max(end, toMicros(w.jobs[t.job].submit) + toMicros(t.duration));
    if (t.outcome.startUs == kUnknown) continue;
    ++started;
    if (t.outcome.endUs == kUnknown) continue;
    ++ended;
    recordedEnd = std::max(recordedEnd, t.outcome.endUs);
  }
  out["recorded"] = {{"task_records_with_start", started},
                     {"task_records_with_start_and_end", ended}};
  // last_end_us: when the last task would end had none waited (submit +
  // run time); the trace's own last end, with its waits, is apart.
  out["time"] = {{"first_submit_us", first},
                 {"last_submit_us", last},
                 {"submit_span_us", last - first},
                 {"last_end_us", std::max(end, last)},
                 {"last_recorded_end_us", ended > 0 ? nlohmann::json(recordedEnd) : nullptr}};

  std::vector<Weighted> values(w.tasks.size());
  std::transform(w.tasks.begin(), w.tasks.end(), values.begin(), [](const Task& t) {
    return Weighted{toSeconds(t.duration), t.count};
  });
  out["instance_duration_s"] = toJson(percentiles(values));
  // Users' estimates (SWF requested time), over the instances that have one.
  values.clear();
  for (const Task& t : w.tasks) {
    if (t.estimate > Duration::zero()) values.push_back({toSeconds(t.estimate), t.count});
  }
  if (!values.empty()) out["instance_estimate_s"] = toJson(percentiles(values));
  values.resize(w.jobs.size());
  std::transform(w.jobs.begin(), w.jobs.end(), values.begin(), [](const Job& j) {
    return Weighted{static_cast<double>(j.taskCount), 1};
  });
  out["records_per_job"] = toJson(percentiles(values));
  std::transform(jobInstances.begin(), jobInstances.end(), values.begin(), [](std::uint64_t n) {
    return Weighted{static_cast<double>(n), 1};
  });
  out["instances_per_job"] = toJson(percentiles(values));

  nlohmann::json demand = nlohmann::json::object();
  nlohmann::json capacity = nlohmann::json::object();
  for (int d = 0; d < w.dims->size(); ++d) {
    values.resize(w.tasks.size());
    std::transform(w.tasks.begin(), w.tasks.end(), values.begin(), [&w, d](const Task& t) {
      return Weighted{demandOf(w, t)[d], t.count};
    });
    demand[w.dims->name(d)] = toJson(percentiles(values));
    double total = 0;
    for (const Machine& m : w.machines) total += m.capacity[d];
    capacity[w.dims->name(d)] = total;
  }
  out["instance_demand"] = demand;
  out["capacity_total"] = capacity;
  nlohmann::json load = nlohmann::json::object();  // null where offeredLoad is NaN
  const std::vector<double> offered = offeredLoad(w);
  for (int d = 0; d < w.dims->size(); ++d) {
    const double x = offered[static_cast<std::size_t>(d)];
    load[w.dims->name(d)] = std::isnan(x) ? nlohmann::json() : nlohmann::json(x);
  }
  out["offered_load"] = load;

  auto usage = [&](const std::vector<std::string>& names, auto index) {
    std::vector<Usage> rows(std::max<std::size_t>(names.size(), 1));
    for (std::size_t i = 0; i < names.size(); ++i) rows[i].name = names[i];
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      const Job& j = w.jobs[i];
      Usage& u = rows[std::min<std::size_t>(index(j), rows.size() - 1)];
      ++u.jobs;
      u.records += j.taskCount;
      u.instances += jobInstances[i];
    }
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Usage& a, const Usage& b) { return a.instances > b.instances; });
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
      if (rows[i].jobs == 0) continue;
      list.push_back({{"name", rows[i].name},
                      {"jobs", rows[i].jobs},
                      {"task_records", rows[i].records},
                      {"task_instances", rows[i].instances}});
    }
    return list;
  };
  out["top_users"] = usage(w.users, [](const Job& j) { return j.user; });
  out["top_roles"] = usage(w.roles, [](const Job& j) { return j.role; });
  out["meta"] = w.meta;
  return out;
}

std::vector<double> offeredLoad(const Workload& w) {
  const auto dims = static_cast<std::size_t>(w.dims->size());
  std::vector<double> asked(dims, 0.0), capacity(dims, 0.0);
  for (const Task& t : w.tasks) {
    const auto demand = demandOf(w, t);
    const double weight = toSeconds(t.duration) * static_cast<double>(t.count);
    for (std::size_t d = 0; d < dims; ++d) asked[d] += demand[static_cast<int>(d)] * weight;
  }
  for (const Machine& m : w.machines) {
    for (std::size_t d = 0; d < dims; ++d) capacity[d] += m.capacity[static_cast<int>(d)];
  }
  double span = 0;
  if (!w.jobs.empty()) {
    const auto [lo, hi] =
        std::minmax_element(w.jobs.begin(), w.jobs.end(),
                            [](const Job& a, const Job& b) { return a.submit < b.submit; });
    span = toSeconds(hi->submit - lo->submit);
  }
  std::vector<double> load(dims, std::nan(""));
  for (std::size_t d = 0; d < dims; ++d) {
    if (capacity[d] * span > 0) load[d] = asked[d] / (capacity[d] * span);
  }
  return load;
}

}  // namespace allot::traces
