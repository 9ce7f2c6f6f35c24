// Alibaba cluster traces: v2017 batch_task and v2018 batch_task,
// batch_instance and machine_meta (column order of cluster-trace-v2018
// schema.txt).
//
// Mapping: an Alibaba job is a DAG of tasks, each with many instances. The
// allot model puts dependencies between jobs, so one allot Job stands for
// one Alibaba task, whose instances are allot task instances:
// - Job::traceId = the Alibaba job number (job_id in 2017; "j_123" -> 123 in
//   2018), so the allot jobs of one Alibaba job share it. submit = the
//   task's create (2017) or start (2018) time; user "unknown", role "*".
// - 2018 DAG task names (M5_3_4: task 5 after tasks 3 and 4; the letter does
//   not matter) become Job::dependsOn between the allot jobs of the same
//   Alibaba job. Other names (task_Nzg3...) are independent tasks.
// - Instances: with batch_instance, one Task record (count 1) per instance
//   row, since each has its own start, end, machine and status; otherwise one
//   Task record with count = instance_num, each instance lasting the whole
//   task (end - start), since batch_task says no more (2017 always: one
//   record per batch_task row).
// - Demand: cpus = plan_cpu / 100 (100 is one core); mem = plan_mem as given
//   (normalized: [0, 1] in 2017, [0, 100] in 2018; see meta "units").
// - Outcome status codes: Terminated 0, Failed 1, Running 2, Waiting 3,
//   Cancelled 4, Interrupted 5, Ready 6, other -1 ("unknown_status").
// Counts: "zero_instances" (task rows with no instance: not emitted),
// "negative_duration" (end before start: duration 0), "missing_request",
// "missing_dependency", "self_dependency", "dependency_cycle" (dependencies
// dropped to break a ring of tasks waiting for each other), "duplicate_task_number",
// "noncontiguous_job" (a job's rows are split in the file; each run is read
// as its own group, so dependencies across runs are lost), "negative_time"
// (a row with a start or end before the trace's time 0, kept as given), and
// for batch_instance "orphan_instances", "instance_count_mismatch",
// "instance_without_machine" (empty machine_id), "machine_not_numbered" (not
// m_N) and "machine_not_in_meta" (an m_N that machine_meta, when read, never
// lists); those three leave the outcome's machine unknown to a history
// replay.
// Memory: 2017 rows stream; 2018 holds one job's rows at a time (rows of a
// job are contiguous in the published file), plus all of batch_instance and
// machine_meta when given.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "src/readers/fields.h"
#include "src/readers/formats.h"
#include "src/readers/read_loop.h"

namespace allot::traces::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 8> k2017Columns{
    "task_create_time",    "task_end_time", "job_id",   "task_id",
    "number_of_instances", "status",        "plan_cpu", "plan_mem"};
constexpr std::array<std::string_view, 9> kTaskColumns{"task_name", "instance_num", "job_name",
                                                       "task_type", "status",       "start_time",
                                                       "end_time",  "plan_cpu",     "plan_mem"};
constexpr std::array<std::string_view, 14> kInstanceColumns{
    "instance_name", "task_name", "job_name",     "task_type", "status",  "start_time", "end_time",
    "machine_id",    "seq_no",    "total_seq_no", "cpu_avg",   "cpu_max", "mem_avg",    "mem_max"};
constexpr std::array<std::string_view, 7> kMachineColumns{
    "machine_id", "time_stamp", "failure_domain_1", "failure_domain_2", "cpu_num",
    "mem_size",   "status"};

// Keeps a corrupt line from asking for billions of tasks.
constexpr std::int64_t kMaxInstances = 1 << 20;

std::int32_t statusCode(std::string_view status) {
  constexpr std::array<std::string_view, 7> kNames{
      "Terminated", "Failed", "Running", "Waiting", "Cancelled", "Interrupted", "Ready"};
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == status) return static_cast<std::int32_t>(i);
  }
  return -1;
}

// "j_123" / "m_45" -> 123 / 45; kUnknown for other shapes.
std::int64_t numberAfterPrefix(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix) || name.size() == prefix.size() ||
      name.size() > prefix.size() + 18) {
    return kUnknown;
  }
  std::int64_t value = 0;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data() + prefix.size(), end, value);
  return ec == std::errc() && ptr == end && value >= 0 ? value : kUnknown;
}

// A DAG task name: letters, then the task number, then "_N" per dependency.
struct DagName {
  std::int64_t number = 0;
  std::vector<std::int64_t> dependsOn;
};

std::optional<DagName> parseDagName(std::string_view name) {
  std::size_t i = 0;
  while (i < name.size() && std::isalpha(static_cast<unsigned char>(name[i])) != 0) ++i;
  if (i == 0 || i == name.size()) return std::nullopt;
  DagName dag;
  bool first = true;
  for (;;) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(name.data() + i, name.data() + name.size(), value);
    if (ec != std::errc() || value < 0) return std::nullopt;
    (first ? dag.number : dag.dependsOn.emplace_back()) = value;
    first = false;
    i = static_cast<std::size_t>(ptr - name.data());
    if (i == name.size()) return dag;
    if (name[i] != '_' || i + 1 == name.size()) return std::nullopt;
    ++i;
  }
}

std::string findBeside(const fs::path& folder, std::string_view stem) {
  for (const char* ext : {".csv", ".csv.gz", ""}) {
    const fs::path candidate = folder / (std::string(stem) + ext);
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return candidate.string();
  }
  return {};
}

// The batch_task file: `path` itself, or batch_task.csv[.gz] in folder `path`.
std::string batchTaskFile(const std::string& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return path;
  std::string found = findBeside(path, "batch_task");
  if (found.empty()) throw Error(path + ": folder has no batch_task.csv or batch_task.csv.gz");
  return found;
}

bool looksLikeHeader(std::string_view line) {
  return !line.empty() && std::isdigit(static_cast<unsigned char>(line.front())) == 0 &&
         line.front() != '-' && line.front() != ',';
}

class Alibaba2017Reader final : public ReaderBase {
 public:
  Alibaba2017Reader(const std::string& path, const ReadOptions& options)
      : options_(options), in_(batchTaskFile(path)), progress_(options, fileSize(in_.path())) {
    meta_["format"] = "alibaba2017";
    meta_["units"] =
        "cpus: cores (plan_cpu / 100); mem: normalized to [0, 1] of the largest machine; "
        "time: microseconds of trace time";
    meta_["machines"] = "none (batch_task only)";
  }

  bool next(WorkloadChunk& out) override {
    out.clear();
    if (done_) return false;
    out.meta = meta_;
    const bool full = fillChunk(in_, out, options_, report_, progress_, [&](std::string_view line) {
      if (in_.lineNumber() == 1 && looksLikeHeader(line)) return false;  // column names
      row(line, out);
      return true;
    });
    if (!full) {
      done_ = true;
      putCounts(out);
      progress_.finish();
    }
    return true;
  }

 private:
  void row(std::string_view line, WorkloadChunk& out) {
    Fields<8> f;
    splitChar(line, ',', f);
    const LineContext at(in_, k2017Columns);
    at.requireCount(f, k2017Columns.size());
    const std::int64_t create = at.integer(f[0], 0);
    const std::int64_t end = at.integer(f[1], 1);
    const std::int64_t jobId = at.integer(f[2], 2);
    at.integer(f[3], 3);
    const std::int64_t instances = at.integer(f[4], 4);
    if (instances < 0 || instances > kMaxInstances) {
      at.badValue(4, f[4], "instance count is not 0..1048576");
    }
    const auto cpu = at.optNumber(f[6], 6);
    const auto mem = at.optNumber(f[7], 7);
    const std::int64_t createUs = at.secondsToMicros(static_cast<double>(create), f[0], 0);
    const std::int64_t endUs = at.secondsToMicros(static_cast<double>(end), f[1], 1);
    if (cpu && *cpu < 0) at.badValue(6, f[6], "negative request");
    if (mem && *mem < 0) at.badValue(7, f[7], "negative request");

    if (instances == 0) return count("zero_instances");
    if (!cpu || !mem) count("missing_request");
    const std::int32_t status = statusCode(f[5]);
    if (status < 0) count("unknown_status");
    if (endUs < createUs) count("negative_duration");
    if (createUs < 0 || endUs < 0) count("negative_time");

    Job job;
    job.traceId = jobId;
    job.submit = fromMicros(createUs);
    job.user = users_.intern("unknown", out.users);
    job.role = roles_.intern("*", out.roles);
    job.firstTask = taskCount_;
    job.taskCount = 1;  // one record of `instances` instances
    Task& task = out.tasks.emplace_back();
    task.job = static_cast<std::uint32_t>(jobCount_);
    task.count = static_cast<std::uint32_t>(instances);
    Scalars demand = Scalars::Zero();
    demand[0] = cpu.value_or(0) / 100.0;
    demand[1] = mem.value_or(0);
    task.demand = demands_.intern(demand, out.demands);
    task.duration = Duration{std::max<std::int64_t>(endUs - createUs, 0)};
    task.outcome.startUs = createUs;
    task.outcome.endUs = endUs;
    task.outcome.status = status;
    out.jobs.push_back(std::move(job));
    ++jobCount_;
    ++taskCount_;
  }

  void count(const char* key) { ++report_.counts[key]; }

  ReadOptions options_;
  LineReader in_;
  Progress progress_;
  bool done_ = false;
  std::map<std::string, std::string> meta_;
  NameTable users_, roles_;
  DemandTable demands_;
  std::uint64_t jobCount_ = 0, taskCount_ = 0;
};

struct Instance {
  std::int64_t start = 0, end = 0, machine = kUnknown;
  std::int32_t status = -1;
};

struct TaskRow {
  std::string name;
  std::int64_t instances = 0, start = 0, end = 0;
  std::int32_t status = -1;
  std::optional<double> cpu, mem;
};

class Alibaba2018Reader final : public ReaderBase {
 public:
  Alibaba2018Reader(const std::string& path, const ReadOptions& options)
      : options_(options), in_(batchTaskFile(path)), progress_(options, fileSize(in_.path())) {
    meta_["format"] = "alibaba2018";
    meta_["units"] =
        "cpus: cores (plan_cpu / 100); mem: normalized to [0, 100] of the largest machine; "
        "time: microseconds of trace time";
    const fs::path folder = fs::path(in_.path()).parent_path();
    // Machines first: instances are checked against them.
    std::string machines = options.machinesFile;
    if (machines.empty()) machines = findBeside(folder, "machine_meta");
    if (!machines.empty()) readMachines(machines);
    meta_["machines"] = machines.empty() ? "none (no machine_meta)" : "machine_meta";
    std::string instances = options.batchInstance;
    if (instances.empty()) instances = findBeside(folder, "batch_instance");
    if (!instances.empty()) readInstances(instances, !machines.empty());
    meta_["batch_instance"] = instances.empty() ? "absent" : "read";
  }

  bool next(WorkloadChunk& out) override {
    out.clear();
    if (done_) return false;
    out.meta = meta_;
    if (!sentMachines_) {
      out.machines = std::move(machines_);
      out.machineEvents = std::move(machineEvents_);
      sentMachines_ = true;
    }
    const bool full = fillChunk(in_, out, options_, report_, progress_, [&](std::string_view line) {
      taskLine(line, out);
      return true;
    });
    if (!full) {
      flushGroup(out);
      report_.counts["orphan_instances"] += orphanInstances();
      if (report_.counts["orphan_instances"] == 0) report_.counts.erase("orphan_instances");
      done_ = true;
      putCounts(out);
      progress_.finish();
    }
    return true;
  }

 private:
  void taskLine(std::string_view line, WorkloadChunk& out) {
    Fields<9> f;
    splitChar(line, ',', f);
    const LineContext at(in_, kTaskColumns);
    at.requireCount(f, kTaskColumns.size());
    TaskRow row;
    if (f[0].empty()) at.badValue(0, f[0], "empty task name");
    if (f[2].empty()) at.badValue(2, f[2], "empty job name");
    row.name = std::string(f[0]);
    row.instances = at.integer(f[1], 1);
    if (row.instances < 0 || row.instances > kMaxInstances) {
      at.badValue(1, f[1], "instance count is not 0..1048576");
    }
    row.status = statusCode(f[4]);
    row.start = at.secondsToMicros(static_cast<double>(at.integer(f[5], 5)), f[5], 5);
    row.end = at.secondsToMicros(static_cast<double>(at.integer(f[6], 6)), f[6], 6);
    row.cpu = at.optNumber(f[7], 7);
    row.mem = at.optNumber(f[8], 8);
    if (row.cpu && *row.cpu < 0) at.badValue(7, f[7], "negative request");
    if (row.mem && *row.mem < 0) at.badValue(8, f[8], "negative request");
    if (row.start < 0 || row.end < 0) ++report_.counts["negative_time"];
    if (f[2] != groupJob_) {
      flushGroup(out);
      groupJob_ = std::string(f[2]);
      if (!seenJobs_.insert(groupJob_).second) ++report_.counts["noncontiguous_job"];
    }
    group_.push_back(std::move(row));
  }

  // Emits the rows of one Alibaba job, resolving DAG names among them.
  void flushGroup(WorkloadChunk& out) {
    if (group_.empty()) return;
    const std::int64_t jobNumber = numberAfterPrefix(groupJob_, "j_");
    if (jobNumber == kUnknown) ++report_.counts["job_name_not_numbered"];
    std::vector<std::optional<DagName>> dags;
    std::unordered_map<std::int64_t, std::uint32_t> byNumber;  // task number -> global job
    const std::uint64_t groupFirst = jobCount_;
    const std::size_t outFirst = out.jobs.size();
    std::uint64_t nextJob = jobCount_;
    for (const TaskRow& row : group_) {
      dags.push_back(row.instances > 0 ? parseDagName(row.name) : std::nullopt);
      if (row.instances == 0) continue;
      if (dags.back() &&
          !byNumber.try_emplace(dags.back()->number, static_cast<std::uint32_t>(nextJob)).second) {
        ++report_.counts["duplicate_task_number"];
      }
      ++nextJob;
    }
    for (std::size_t r = 0; r < group_.size(); ++r) {
      const TaskRow& row = group_[r];
      if (row.instances == 0) {
        ++report_.counts["zero_instances"];
        continue;
      }
      if (!row.cpu || !row.mem) ++report_.counts["missing_request"];
      if (row.status < 0) ++report_.counts["unknown_status"];
      Job job;
      job.traceId = jobNumber;
      job.submit = fromMicros(row.start);
      job.user = users_.intern("unknown", out.users);
      job.role = roles_.intern("*", out.roles);
      job.firstTask = taskCount_;
      if (dags[r]) {
        for (const std::int64_t dep : dags[r]->dependsOn) {
          const auto it = byNumber.find(dep);
          if (dep == dags[r]->number) {
            ++report_.counts["self_dependency"];
          } else if (it == byNumber.end()) {
            ++report_.counts["missing_dependency"];
          } else {
            job.dependsOn.push_back(it->second);
          }
        }
      }
      Task task;
      task.job = static_cast<std::uint32_t>(jobCount_);
      Scalars demand = Scalars::Zero();
      demand[0] = row.cpu.value_or(0) / 100.0;
      demand[1] = row.mem.value_or(0);
      task.demand = demands_.intern(demand, out.demands);
      const auto found = instances_.find(instanceKey(groupJob_, row.name));
      if (found != instances_.end()) {
        if (found->second.size() != static_cast<std::size_t>(row.instances)) {
          ++report_.counts["instance_count_mismatch"];
        }
        std::uint32_t index = 0;
        for (const Instance& instance : found->second) {
          task.index = index++;
          task.duration = Duration{std::max<std::int64_t>(instance.end - instance.start, 0)};
          if (instance.end < instance.start) ++report_.counts["negative_duration"];
          task.outcome = {instance.start, instance.end, instance.machine, instance.status};
          out.tasks.push_back(task);
        }
        job.taskCount = index;
        instances_.erase(found);
      } else {
        if (row.end < row.start) ++report_.counts["negative_duration"];
        task.duration = Duration{std::max<std::int64_t>(row.end - row.start, 0)};
        task.outcome = {row.start, row.end, kUnknown, row.status};
        task.index = 0;
        task.count = static_cast<std::uint32_t>(row.instances);
        job.taskCount = 1;  // one record of instance_num instances
        out.tasks.push_back(task);
      }
      taskCount_ += job.taskCount;
      ++jobCount_;
      out.jobs.push_back(std::move(job));
    }
    group_.clear();
    breakCycles(std::span(out.jobs).subspan(outFirst), groupFirst);
  }

  // Tasks of one job that depend on each other in a ring (M2_3 and M3_2)
  // would wait for each other forever: the edges that close a ring, found
  // by a depth-first walk in row order, are dropped and counted
  // ("dependency_cycle"), as self-dependencies are. `jobs` are one group's,
  // the first of them global job `first`.
  void breakCycles(std::span<Job> jobs, std::uint64_t first) {
    enum : std::uint8_t { kUnseen, kOnPath, kDone };
    std::vector<std::uint8_t> mark(jobs.size(), kUnseen);
    std::vector<std::pair<std::size_t, std::size_t>> path;  // job, next dependency to visit
    for (std::size_t root = 0; root < jobs.size(); ++root) {
      if (mark[root] != kUnseen) continue;
      mark[root] = kOnPath;
      path.emplace_back(root, 0);
      while (!path.empty()) {
        auto& [j, next] = path.back();
        std::vector<std::uint32_t>& deps = jobs[j].dependsOn;
        if (next == deps.size()) {
          mark[j] = kDone;
          path.pop_back();
          continue;
        }
        const std::size_t d = deps[next] - first;  // within the group
        if (mark[d] == kOnPath) {
          deps.erase(deps.begin() + static_cast<std::ptrdiff_t>(next));
          ++report_.counts["dependency_cycle"];
        } else {
          ++next;
          if (mark[d] == kUnseen) {
            mark[d] = kOnPath;
            path.emplace_back(d, 0);  // (invalidates j and next)
          }
        }
      }
    }
  }

  static std::string instanceKey(std::string_view job, std::string_view task) {
    std::string key(job);
    key += '\n';
    key += task;
    return key;
  }

  std::uint64_t orphanInstances() const {
    std::uint64_t n = 0;
    for (const auto& [key, list] : instances_) n += list.size();
    return n;
  }

  // `checkMachines`: machine_meta was read, and names every machine.
  void readInstances(const std::string& path, bool checkMachines) {
    std::unordered_set<std::int64_t> known;
    for (const Machine& machine : machines_) known.insert(machine.traceId);
    LineReader in(path);
    std::string_view line;
    while (in.next(line)) {
      ++report_.lines;
      if (line.empty()) continue;
      guardLine(options_, report_, [&] {
        Fields<14> f;
        splitChar(line, ',', f);
        const LineContext at(in, kInstanceColumns);
        at.requireCount(f, kInstanceColumns.size());
        if (f[1].empty()) at.badValue(1, f[1], "empty task name");
        if (f[2].empty()) at.badValue(2, f[2], "empty job name");
        Instance instance;
        instance.status = statusCode(f[4]);
        instance.start = at.secondsToMicros(static_cast<double>(at.integer(f[5], 5)), f[5], 5);
        instance.end = at.secondsToMicros(static_cast<double>(at.integer(f[6], 6)), f[6], 6);
        instance.machine = numberAfterPrefix(f[7], "m_");
        at.optInt(f[8], 8);
        at.optInt(f[9], 9);
        for (std::size_t i = 10; i < 14; ++i) at.optNumber(f[i], i);
        // Counted once the line is known good (a bad one is skipped whole).
        if (instance.start < 0 || instance.end < 0) ++report_.counts["negative_time"];
        if (f[7].empty()) {
          ++report_.counts["instance_without_machine"];
        } else if (instance.machine == kUnknown) {
          ++report_.counts["machine_not_numbered"];
        } else if (checkMachines && !known.contains(instance.machine)) {
          ++report_.counts["machine_not_in_meta"];
        }
        instances_[instanceKey(f[2], f[1])].push_back(instance);
      });
    }
  }

  void readMachines(const std::string& path) {
    LineReader in(path);
    std::unordered_map<std::string, std::uint32_t> index;
    std::vector<bool> present;
    std::string_view line;
    while (in.next(line)) {
      ++report_.lines;
      if (line.empty()) continue;
      guardLine(options_, report_, [&] {
        Fields<7> f;
        splitChar(line, ',', f);
        const LineContext at(in, kMachineColumns);
        at.requireCount(f, kMachineColumns.size());
        if (f[0].empty()) at.badValue(0, f[0], "empty machine id");
        const std::int64_t time =
            at.secondsToMicros(static_cast<double>(at.integer(f[1], 1)), f[1], 1);
        Scalars capacity = Scalars::Zero();
        capacity[0] = at.number(f[4], 4);
        capacity[1] = at.number(f[5], 5);
        if (capacity[0] < 0) at.badValue(4, f[4], "negative capacity");
        if (capacity[1] < 0) at.badValue(5, f[5], "negative capacity");
        const bool using_ = f[6] == "USING";
        auto [it, added] =
            index.try_emplace(std::string(f[0]), static_cast<std::uint32_t>(machines_.size()));
        MachineEvent event;
        event.time = fromMicros(time);
        event.machine = it->second;
        event.capacity = capacity;
        if (added) {
          current_.push_back(capacity);
          Machine machine;
          machine.traceId = numberAfterPrefix(f[0], "m_");
          machine.capacity = capacity;
          machine.attributes.set("failure_domain_1", std::string(f[2]));
          machine.attributes.set("failure_domain_2", std::string(f[3]));
          machines_.push_back(machine);
          present.push_back(false);
        }
        const bool wasPresent = present[it->second];
        Scalars& current = current_[it->second];
        if (added && !using_) {
          // First seen out of service: it exists, but not from time 0.
          event.kind = MachineEvent::Kind::kAdd;
          machineEvents_.push_back(event);
          event.kind = MachineEvent::Kind::kRemove;
          event.capacity = Scalars::Zero();
        } else if (using_ && !wasPresent) {
          event.kind = MachineEvent::Kind::kAdd;
          current = capacity;
        } else if (!using_ && wasPresent) {
          event.kind = MachineEvent::Kind::kRemove;
          event.capacity = Scalars::Zero();
        } else if (using_ && current != capacity) {
          event.kind = MachineEvent::Kind::kUpdate;
          current = capacity;
        } else {
          return;  // no change
        }
        present[it->second] = using_;
        machineEvents_.push_back(event);
      });
    }
    std::stable_sort(machineEvents_.begin(), machineEvents_.end(),
                     [](const MachineEvent& a, const MachineEvent& b) { return a.time < b.time; });
  }

  ReadOptions options_;
  LineReader in_;
  Progress progress_;
  bool done_ = false, sentMachines_ = false;
  std::map<std::string, std::string> meta_;
  std::vector<Machine> machines_;
  std::vector<MachineEvent> machineEvents_;
  std::vector<Scalars> current_;  // capacity of each machine as events go
  std::unordered_map<std::string, std::vector<Instance>> instances_;
  std::string groupJob_;
  std::vector<TaskRow> group_;
  std::unordered_set<std::string> seenJobs_;
  NameTable users_, roles_;
  DemandTable demands_;
  std::uint64_t jobCount_ = 0, taskCount_ = 0;
};

}  // namespace

std::unique_ptr<TraceReader> makeAlibaba2017Reader(const std::string& path,
                                                   const ReadOptions& options) {
  return std::make_unique<Alibaba2017Reader>(path, options);
}

std::unique_ptr<TraceReader> makeAlibaba2018Reader(const std::string& path,
                                                   const ReadOptions& options) {
  return std::make_unique<Alibaba2018Reader>(path, options);
}

}  // namespace allot::traces::detail
