#include "allot/traces/readers.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <utility>

#include "allot/core/error.h"
#include "allot/core/huge_pages.h"
#include "src/readers/fields.h"
#include "src/readers/formats.h"

namespace allot::traces {
namespace {

using Factory = std::unique_ptr<TraceReader> (*)(const std::string&, const ReadOptions&);

struct FormatEntry {
  std::string_view name;
  std::string_view description;
  Factory make;
};

// The registry of formats: a constant table, searched by name.
constexpr std::array kFormats{
    FormatEntry{"swf",
                "Standard Workload Format (Parallel Workloads Archive): one rigid gang of "
                "one-processor tasks per job (one task record, count = processors); header "
                "comments go to meta",
                &detail::makeSwfReader},
    FormatEntry{"google2011",
                "Google clusterdata-2011-2: task_events (+ job_events, machine_events or a "
                "machine table); one task per SCHEDULE->end attempt; normalized units",
                &detail::makeGoogle2011Reader},
    FormatEntry{"alibaba2017",
                "Alibaba cluster-trace-v2017 batch_task: one job per task row, one task record "
                "with count = instances",
                &detail::makeAlibaba2017Reader},
    FormatEntry{"alibaba2018",
                "Alibaba cluster-trace-v2018 batch_task (+ batch_instance, machine_meta): one "
                "job per task, one task record per instance row (else one with count = "
                "instance_num), DAG task names (M5_3_4) become dependencies",
                &detail::makeAlibaba2018Reader},
};

}  // namespace

std::vector<FormatInfo> traceFormats() {
  std::vector<FormatInfo> out;
  for (const auto& entry : kFormats) {
    out.push_back({std::string(entry.name), std::string(entry.description)});
  }
  return out;
}

void WorkloadChunk::clear() {
  meta.clear();
  machines.clear();
  machineEvents.clear();
  users.clear();
  roles.clear();
  jobs.clear();
  tasks.clear();
  demands.clear();
}

bool WorkloadChunk::empty() const {
  return meta.empty() && machines.empty() && machineEvents.empty() && users.empty() &&
         roles.empty() && jobs.empty() && tasks.empty() && demands.empty();
}

void checkReadOptions(const std::string& path, std::string_view format,
                      const ReadOptions& options) {
  struct FileOption {
    const std::string& value;
    std::string_view what;
    std::array<std::string_view, 2> readBy;
  };
  const std::array<FileOption, 4> files{{
      {options.machinesFile, "machine table", {"google2011", "alibaba2018"}},
      {options.jobEvents, "job_events input", {"google2011", ""}},
      {options.machineEvents, "machine_events input", {"google2011", ""}},
      {options.batchInstance, "batch_instance input", {"alibaba2018", ""}},
  }};
  for (const FileOption& file : files) {
    if (file.value.empty() ||
        std::find(file.readBy.begin(), file.readBy.end(), format) != file.readBy.end()) {
      continue;
    }
    const std::string readers = file.readBy[1].empty()
                                    ? std::string(file.readBy[0])
                                    : fmt::format("{} and {}", file.readBy[0], file.readBy[1]);
    throw InvalidArgument(fmt::format(
        "{}: read as {}, which takes no {} ('{}' would be ignored; only {} traces use one)", path,
        format == "h5" ? "an allot workload store (h5)" : std::string(format), file.what,
        file.value, readers));
  }
}

std::unique_ptr<TraceReader> openTrace(const std::string& path, std::string_view format,
                                       const ReadOptions& options) {
  for (const auto& entry : kFormats) {
    if (entry.name != format) continue;
    checkReadOptions(path, format, options);
    return entry.make(path, options);
  }
  std::string known;
  for (const auto& entry : kFormats) {
    known += known.empty() ? "" : ", ";
    known += entry.name;
  }
  throw InvalidArgument("unknown trace format '" + std::string(format) + "' (known: " + known +
                        ")");
}

namespace {

template <class T>
void moveAppend(std::vector<T>& to, std::vector<T>& from) {
  if (to.empty()) {
    to = std::move(from);
  } else {
    if (to.size() + from.size() > to.capacity()) {
      // The growth a plain insert would do, on huge pages.
      reserveHuge(to, std::max(2 * to.capacity(), to.size() + from.size()));
    }
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  }
  from.clear();
}

}  // namespace

void appendChunk(Workload& workload, WorkloadChunk&& chunk) {
  workload.dims = chunk.dims;
  for (auto& [key, value] : chunk.meta) workload.meta[key] = std::move(value);
  chunk.meta.clear();
  moveAppend(workload.machines, chunk.machines);
  const bool eventsSorted = workload.machineEvents.empty() || chunk.machineEvents.empty() ||
                            workload.machineEvents.back().time <= chunk.machineEvents.front().time;
  moveAppend(workload.machineEvents, chunk.machineEvents);
  if (!eventsSorted) {
    std::stable_sort(workload.machineEvents.begin(), workload.machineEvents.end(),
                     [](const MachineEvent& a, const MachineEvent& b) { return a.time < b.time; });
  }
  moveAppend(workload.users, chunk.users);
  moveAppend(workload.roles, chunk.roles);
  moveAppend(workload.jobs, chunk.jobs);
  moveAppend(workload.tasks, chunk.tasks);
  moveAppend(workload.demands, chunk.demands);
}

void sortJobsBySubmit(Workload& workload) {
  auto& jobs = workload.jobs;
  const bool sorted = std::is_sorted(
      jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.submit < b.submit; });
  bool tasksInOrder = true;
  std::uint64_t expected = 0;
  for (const auto& job : jobs) {
    tasksInOrder = tasksInOrder && job.firstTask == expected;
    expected += job.taskCount;
  }
  if (sorted && tasksInOrder) return;

  std::vector<std::uint32_t> order(jobs.size());
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return jobs[a].submit < jobs[b].submit;
  });
  std::vector<std::uint32_t> newIndex(jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) newIndex[order[i]] = static_cast<std::uint32_t>(i);

  std::vector<Job> newJobs;
  newJobs.reserve(jobs.size());
  std::vector<Task> newTasks;
  reserveHuge(newTasks, workload.tasks.size());
  for (const std::uint32_t old : order) {
    Job job = std::move(jobs[old]);
    const std::uint64_t first = job.firstTask;
    job.firstTask = newTasks.size();
    for (std::uint64_t t = first; t < first + job.taskCount; ++t) {
      Task task = workload.tasks[t];
      task.job = static_cast<std::uint32_t>(newJobs.size());
      newTasks.push_back(task);
    }
    for (auto& dep : job.dependsOn) dep = newIndex[dep];
    newJobs.push_back(std::move(job));
  }
  jobs = std::move(newJobs);
  workload.tasks = std::move(newTasks);
}

Workload readWorkload(const std::string& path, std::string_view format, const ReadOptions& options,
                      ReadReport* report) {
  auto reader = openTrace(path, format, options);
  Workload workload;
  WorkloadChunk chunk;
  while (reader->next(chunk)) appendChunk(workload, std::move(chunk));
  sortJobsBySubmit(workload);
  if (report != nullptr) *report = reader->report();
  return workload;
}

namespace detail {

std::uint32_t NameTable::intern(std::string_view name, std::vector<std::string>& added) {
  if (!index_.empty() && name == last_) return lastId_;
  auto it = index_.find(name);
  if (it == index_.end()) {
    it = index_.emplace(std::string(name), static_cast<std::uint32_t>(index_.size())).first;
    added.emplace_back(name);
  }
  last_ = name;
  lastId_ = it->second;
  return lastId_;
}

}  // namespace detail
}  // namespace allot::traces
