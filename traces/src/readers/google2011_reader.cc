// Google clusterdata-2011-2: task_events, job_events, machine_events.
//
// Mapping:
// - One allot Job per Google job (traceId = job ID). submit = the job's
//   SUBMIT in job_events, else its first task event; user from job_events or
//   task_events; priority from the first task event that gives one; role "*".
// - One allot Task record (count 1) per task attempt: from a SCHEDULE to the
//   next terminal event (EVICT, FAIL, FINISH, KILL, LOST) of the same (job,
//   task index). Attempts are never merged: each has its own outcome.
//   A resubmitted task gives a new attempt. Task::index is the trace's task
//   index, so one index may appear several times in a job. The demand is the
//   request on the SCHEDULE row (else the last request seen for the task);
//   outcome = start, end, machine, terminal event type.
// - Cases counted in ReadReport::counts:
//   "complete_attempts": SCHEDULE and terminal event both seen.
//   "running_at_start": attempts scheduled at time 0, i.e. before the trace
//     window (the trace stamps such events 0); their duration counts from 0.
//   "terminal_without_schedule": a terminal event for a task never seen
//     before; it was running before the trace started. Kept as an attempt
//     from time 0 with outcome.startUs unknown.
//   "ended_pending": terminal event of a task submitted but never scheduled;
//     no attempt (it never ran).
//   "cut_at_end": SCHEDULE with no terminal event before the input ends; kept
//     with duration up to the last time in the input, outcome.endUs unknown.
//   "schedule_while_running": a SCHEDULE for a task already running; the
//     previous attempt ends there with status -1.
//   "missing_request": attempts with no resource request anywhere (demand 0).
//   "jobs_without_attempts": jobs none of whose tasks ran; not emitted.
//   "events_after_job_end": task events of a job already emitted; ignored.
//   "time_went_back": task events older than the previous one (parts out
//     of order); processed anyway.
//   "task_events_rows", "job_events_rows", "machine_events_rows",
//   "machine_table_rows": rows accepted from each table (job events are read
//     only up to the last task event's time).
// - A job is emitted once job_events says it ended and none of its tasks is
//   running or pending; the rest at the end of the input, sorted by submit.
//   Job events are merged with task events by time and never read past the
//   last task event, so one task_events part pairs with the whole job_events
//   folder.
// - Machines: machine_events when present (ADD/REMOVE/UPDATE become machine
//   events), else a machine table (count,platform,cpu,memory), else none.
//   Units are the trace's: normalized to the largest machine.
#include <algorithm>
#include <bit>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "src/readers/fields.h"
#include "src/readers/formats.h"

namespace allot::traces::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 13> kTaskColumns{"time",
                                                        "missing_info",
                                                        "job_id",
                                                        "task_index",
                                                        "machine_id",
                                                        "event_type",
                                                        "user",
                                                        "scheduling_class",
                                                        "priority",
                                                        "cpu_request",
                                                        "memory_request",
                                                        "disk_request",
                                                        "different_machine_constraint"};
constexpr std::array<std::string_view, 8> kJobColumns{
    "time", "missing_info",     "job_id",   "event_type",
    "user", "scheduling_class", "job_name", "logical_job_name"};
constexpr std::array<std::string_view, 6> kMachineColumns{"time",        "machine_id", "event_type",
                                                          "platform_id", "cpus",       "memory"};
constexpr std::array<std::string_view, 4> kTableColumns{"count", "platform", "cpu", "memory"};

enum EventType : std::int64_t {
  kSubmit = 0,
  kSchedule = 1,
  kEvict = 2,
  kFail = 3,
  kFinish = 4,
  kKill = 5,
  kLost = 6,
  kUpdatePending = 7,
  kUpdateRunning = 8,
};

// Reader notes counted on the hot path; copied into report_.counts by
// flushNotes() (a map lookup per event would cost more than the parsing).
enum class Note : std::size_t {
  kTimeWentBack,
  kJobEventsRows,
  kEventsAfterJobEnd,
  kScheduleWhileRunning,
  kMissingRequest,
  kRunningAtStart,
  kCompleteAttempts,
  kEndedPending,
  kTerminalWithoutSchedule,
  kJobsWithoutAttempts,
  kCutAtEnd,
  kCount
};
constexpr std::array<std::string_view, static_cast<std::size_t>(Note::kCount)> kNoteNames{
    "time_went_back",         "job_events_rows", "events_after_job_end",
    "schedule_while_running", "missing_request", "running_at_start",
    "complete_attempts",      "ended_pending",   "terminal_without_schedule",
    "jobs_without_attempts",  "cut_at_end"};

bool isTerminal(std::int64_t type) {
  return type >= kEvict && type <= kLost;
}

std::optional<fs::path> existing(const fs::path& path) {
  std::error_code error;
  if (fs::exists(path, error)) return path;
  return std::nullopt;
}

// One parsed task_events row.
struct TaskRow {
  std::int64_t time = 0, jobId = 0, machine = kUnknown, type = 0;
  std::uint32_t index = 0;
  std::optional<std::int64_t> priority;
  std::string_view user;
  std::optional<double> cpu, mem, disk;
  bool differentMachine = false;
};

struct JobRow {
  std::int64_t time = 0, jobId = 0, type = 0;
  std::string user;
};

// Kept small (there is one per task of every open job): requests as three
// doubles (cpus, mem, disk) rather than full Scalars.
struct TaskState {
  bool pending = false, running = false;
  bool differentMachine = false;
  bool haveRequest = false;
  std::int64_t start = 0, machine = kUnknown;
  std::array<double, 3> request{};    // last request seen
  std::array<double, 3> runDemand{};  // request when the attempt started
};

// The tasks of one job by task index: a flat open-addressing table (linear
// probing, at most three quarters full): no node allocation per task as
// with std::unordered_map.
class TaskTable {
 public:
  // The state of task `index`, added (default) when absent.
  TaskState& operator[](std::uint32_t index) {
    if (4 * (size_ + 1) > 3 * slots_.size()) grow();
    std::size_t i = slot(index);
    if (!slots_[i].used) {
      slots_[i].used = true;
      slots_[i].index = index;
      ++size_;
    }
    return slots_[i].state;
  }
  // Calls f(index, state) for every task, in no particular order.
  template <typename F>
  void forEach(F&& f) {
    for (Slot& s : slots_) {
      if (s.used) f(s.index, s.state);
    }
  }
  void clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
  }

 private:
  struct Slot {
    bool used = false;
    std::uint32_t index = 0;
    TaskState state;
  };

  // Fibonacci hashing: dense indexes spread evenly, and indexes that share
  // their low bits (multiples of a power of two) do not pile up.
  std::size_t slot(std::uint32_t index) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>((index * 0x9E3779B97F4A7C15ULL) >> shift_);
    while (slots_[i].used && slots_[i].index != index) i = (i + 1) & mask;
    return i;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 8 : old.size() * 2, Slot{});
    shift_ = 64 - std::countr_zero(slots_.size());
    for (Slot& s : old) {
      if (s.used) slots_[slot(s.index)] = s;
    }
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
  int shift_ = 64;  // 64 - log2(slots_.size())
};

struct JobState {
  std::int64_t submit = 0;
  bool submitFromJobEvents = false, ended = false, havePriority = false;
  std::int32_t priority = 0;
  std::string user;
  std::uint32_t running = 0, pending = 0;
  TaskTable tasks;
  std::vector<Task> attempts;  // Task::job filled at emission
};

std::int64_t validTime(const LineContext& at, std::string_view text, std::size_t column) {
  const std::int64_t time = at.integer(text, column);
  if (time < 0) at.badValue(column, text, "negative time");
  return time;
}

class Google2011Reader final : public ReaderBase {
 public:
  Google2011Reader(const std::string& path, const ReadOptions& options)
      : options_(options), tasks_(taskParts(path)), progress_(options, tasks_.totalBytes()) {
    const fs::path first(tasks_.files().front());
    // The trace's layout: ROOT/{task_events,job_events,machine_events}/part-*.
    const fs::path root = first.parent_path().filename() == "task_events"
                              ? first.parent_path().parent_path()
                              : first.parent_path();
    meta_["format"] = "google2011";
    meta_["units"] =
        "normalized: cpus, mem and disk are fractions of the largest machine's capacity "
        "(Google clusterdata-2011-2); time: microseconds of trace time";

    std::string jobEvents = options.jobEvents;
    if (jobEvents.empty()) {
      if (auto found = existing(root / "job_events")) jobEvents = found->string();
    }
    if (!jobEvents.empty()) jobs_.emplace(listParts(jobEvents));
    meta_["job_events"] = jobEvents.empty() ? "absent" : "read";

    std::string machineEvents = options.machineEvents;
    if (machineEvents.empty()) {
      if (auto found = existing(root / "machine_events")) machineEvents = found->string();
    }
    std::string machineTable = options.machinesFile;
    if (machineTable.empty()) {
      if (auto found = existing(root / "machines.csv")) machineTable = found->string();
    }
    if (!machineEvents.empty()) {
      readMachineEvents(machineEvents);
      meta_["machines"] = "machine_events";
    } else if (!machineTable.empty()) {
      readMachineTable(machineTable);
      meta_["machines"] = "machine table " + fs::path(machineTable).filename().string();
    } else {
      meta_["machines"] = "none (no machine_events and no machine table)";
    }
  }

  bool next(WorkloadChunk& out) override {
    out.clear();
    if (done_) return false;
    // A chunk fills up to these sizes: growing by doubling would fault in
    // (and copy) about twice the pages, which costs more than the copying on
    // VMs.
    out.jobs.reserve(kChunkJobs);
    out.tasks.reserve(kChunkTasks);
    out.meta = meta_;
    if (!sentMachines_) {
      out.machines = std::move(machines_);
      out.machineEvents = std::move(machineEvents_);
      sentMachines_ = true;
    }
    std::string_view line;
    while (!inputEnded_ && out.jobs.size() < kChunkJobs && out.tasks.size() < kChunkTasks) {
      if (!tasks_.next(line)) {
        endOfInput();
        break;
      }
      ++report_.lines;
      if (line.empty()) continue;
      if (guardLine(options_, report_, [&] { taskLine(line, out); })) ++taskRows_;
      if ((report_.lines & 0xffff) == 0) progress_.update(tasks_.bytesRead());
    }
    if (inputEnded_) {
      while (nextLeft_ < left_.size() && out.jobs.size() < kChunkJobs &&
             out.tasks.size() < kChunkTasks) {
        emit(left_[nextLeft_++], out);
      }
      if (nextLeft_ == left_.size()) {
        flushNotes();
        putCounts(out);
        done_ = true;
        progress_.finish();
      }
    }
    flushNotes();
    return true;
  }

 private:
  void note(Note which) { ++notes_[static_cast<std::size_t>(which)]; }
  void flushNotes() {
    for (std::size_t i = 0; i < notes_.size(); ++i) {
      if (notes_[i] > 0) report_.counts[std::string(kNoteNames[i])] = notes_[i];
    }
    report_.counts["task_events_rows"] = taskRows_;
  }

  static std::vector<std::string> taskParts(const std::string& path) {
    std::error_code error;
    if (fs::is_directory(fs::path(path) / "task_events", error)) {
      return listParts((fs::path(path) / "task_events").string());
    }
    return listParts(path);
  }

  void taskLine(std::string_view line, WorkloadChunk& out) {
    Fields<13> f;
    splitChar(line, ',', f);
    const LineContext at(tasks_.current(), kTaskColumns);
    at.requireCount(f, kTaskColumns.size());
    TaskRow row;
    row.time = validTime(at, f[0], 0);
    at.optInt(f[1], 1);
    row.jobId = at.integer(f[2], 2);
    const std::int64_t index = at.integer(f[3], 3);
    if (index < 0 || index > 0xffffffffLL) at.badValue(3, f[3], "task index out of range");
    row.index = static_cast<std::uint32_t>(index);
    row.machine = at.optInt(f[4], 4).value_or(kUnknown);
    row.type = at.integer(f[5], 5);
    if (row.type < kSubmit || row.type > kUpdateRunning) {
      at.badValue(5, f[5], "event type is not 0..8");
    }
    row.user = f[6];
    at.optInt(f[7], 7);
    row.priority = at.optInt(f[8], 8);
    row.cpu = at.optNumber(f[9], 9);
    row.mem = at.optNumber(f[10], 10);
    row.disk = at.optNumber(f[11], 11);
    for (std::size_t i = 9; i <= 11; ++i) {
      if (!f[i].empty() && f[i].front() == '-') at.badValue(i, f[i], "negative request");
    }
    const auto constraint = at.optInt(f[12], 12);
    if (constraint && *constraint != 0 && *constraint != 1) {
      at.badValue(12, f[12], "constraint is not 0 or 1");
    }
    row.differentMachine = constraint.value_or(0) == 1;
    // The line is well formed; from here on nothing throws BadLine.
    readJobEventsUntil(row.time, out);
    apply(row, out);
  }

  // Applies job events up to `time`, so that a job's end is known before
  // task events of the same time.
  void readJobEventsUntil(std::int64_t time, WorkloadChunk& out) {
    if (time < lastTime_) note(Note::kTimeWentBack);
    lastTime_ = std::max(lastTime_, time);
    if (!jobs_) return;
    for (;;) {
      if (!pendingJobRow_) {
        std::string_view line;
        if (!jobs_->next(line)) {
          jobs_.reset();
          return;
        }
        ++report_.lines;
        if (line.empty()) continue;
        JobRow row;
        const bool ok = guardLine(options_, report_, [&] { row = parseJobRow(line); });
        if (!ok) continue;
        note(Note::kJobEventsRows);
        pendingJobRow_ = std::move(row);
      }
      if (pendingJobRow_->time > time) return;
      applyJob(*pendingJobRow_, out);
      pendingJobRow_.reset();
    }
  }

  JobRow parseJobRow(std::string_view line) const {
    Fields<8> f;
    splitChar(line, ',', f);
    const LineContext at(jobs_->current(), kJobColumns);
    at.requireCount(f, kJobColumns.size());
    JobRow row;
    row.time = validTime(at, f[0], 0);
    at.optInt(f[1], 1);
    row.jobId = at.integer(f[2], 2);
    row.type = at.integer(f[3], 3);
    if (row.type < kSubmit || row.type > kUpdateRunning) {
      at.badValue(3, f[3], "event type is not 0..8");
    }
    row.user = std::string(f[4]);
    at.optInt(f[5], 5);
    return row;
  }

  void applyJob(const JobRow& row, WorkloadChunk& out) {
    if (emitted_.contains(row.jobId)) return;
    JobState& job = jobState(row.jobId, row.time);
    if (row.type == kSubmit) {
      if (!job.submitFromJobEvents) {
        job.submit = std::min(job.submit, row.time);
        job.submitFromJobEvents = true;
      }
      job.ended = false;
      if (!row.user.empty()) job.user = row.user;
    } else if (isTerminal(row.type)) {
      job.ended = true;
      maybeEmit(row.jobId, out);
    }
  }

  JobState& jobState(std::int64_t jobId, std::int64_t time) {
    auto [it, added] = open_.try_emplace(jobId);
    if (added) it->second.submit = time;
    return it->second;
  }

  void apply(const TaskRow& row, WorkloadChunk& out) {
    // Rows of one job come in runs: remember the last job looked up (map
    // values keep their address until erased; emit() forgets it).
    if (lastJob_ == nullptr || lastJobId_ != row.jobId) {
      auto found = open_.find(row.jobId);
      if (found == open_.end()) {
        if (emitted_.contains(row.jobId)) {
          note(Note::kEventsAfterJobEnd);
          return;
        }
        found = open_.try_emplace(row.jobId).first;
        found->second.submit = row.time;
      }
      lastJob_ = &found->second;
      lastJobId_ = row.jobId;
    }
    JobState& job = *lastJob_;
    if (job.user.empty()) job.user = std::string(row.user);
    if (!job.havePriority && row.priority) {
      job.priority = static_cast<std::int32_t>(std::clamp<std::int64_t>(*row.priority, -1, 1000));
      job.havePriority = true;
    }
    TaskState& task = job.tasks[row.index];
    if (row.cpu || row.mem || row.disk) {
      task.request[0] = row.cpu.value_or(task.request[0]);
      task.request[1] = row.mem.value_or(task.request[1]);
      task.request[2] = row.disk.value_or(task.request[2]);
      task.haveRequest = true;
    }
    switch (row.type) {
      case kSubmit:
        if (!task.pending && !task.running) {
          task.pending = true;
          ++job.pending;
        }
        break;
      case kSchedule:
        if (task.running) {
          note(Note::kScheduleWhileRunning);
          closeAttempt(job, row.index, task, row.time, -1, row.time);
        }
        if (task.pending) {
          task.pending = false;
          --job.pending;
        }
        task.running = true;
        ++job.running;
        task.start = row.time;
        task.machine = row.machine;
        task.differentMachine = row.differentMachine;
        if (!task.haveRequest) note(Note::kMissingRequest);
        task.runDemand = task.request;
        if (row.time == 0) note(Note::kRunningAtStart);
        break;
      case kEvict:
      case kFail:
      case kFinish:
      case kKill:
      case kLost:
        if (task.running) {
          note(Note::kCompleteAttempts);
          closeAttempt(job, row.index, task, row.time, static_cast<std::int32_t>(row.type),
                       row.time);
        } else if (task.pending) {
          task.pending = false;
          --job.pending;
          note(Note::kEndedPending);
        } else {
          // Running since before the trace, its SCHEDULE not recorded.
          note(Note::kTerminalWithoutSchedule);
          if (!task.haveRequest) note(Note::kMissingRequest);
          task.start = 0;
          task.machine = row.machine;
          task.differentMachine = row.differentMachine;
          task.runDemand = task.request;
          task.running = true;
          ++job.running;
          closeAttempt(job, row.index, task, row.time, static_cast<std::int32_t>(row.type),
                       row.time);
          job.attempts.back().outcome.startUs = kUnknown;
        }
        // (no lookup: most terminal events leave the job open)
        if (job.ended && job.running == 0 && job.pending == 0) emit(row.jobId, out);
        break;
      default:  // UPDATE_PENDING, UPDATE_RUNNING: the request was taken above
        break;
    }
  }

  // Ends the running attempt of `task` at `end` (endUs = `outcomeEnd`).
  void closeAttempt(JobState& job, std::uint32_t index, TaskState& task, std::int64_t end,
                    std::int32_t status, std::int64_t outcomeEnd) {
    Task& attempt = job.attempts.emplace_back();  // built in place
    attempt.index = index;
    for (std::size_t d = 0; d < task.runDemand.size(); ++d) {
      attempt.demand[static_cast<Eigen::Index>(d)] = task.runDemand[d];
    }
    attempt.duration = Duration{std::max<std::int64_t>(end - task.start, 0)};
    attempt.differentMachine = task.differentMachine;
    attempt.outcome.startUs = task.start;
    attempt.outcome.endUs = outcomeEnd;
    attempt.outcome.machine = task.machine;
    attempt.outcome.status = status;
    task.running = false;
    --job.running;
  }

  void maybeEmit(std::int64_t jobId, WorkloadChunk& out) {
    const auto it = open_.find(jobId);
    if (it == open_.end()) return;
    const JobState& job = it->second;
    if (job.ended && job.running == 0 && job.pending == 0) emit(jobId, out);
  }

  void emit(std::int64_t jobId, WorkloadChunk& out) {
    if (jobId == lastJobId_) lastJob_ = nullptr;
    auto node = open_.extract(jobId);
    emitted_.insert(jobId);
    JobState& state = node.mapped();
    if (state.attempts.empty()) {
      note(Note::kJobsWithoutAttempts);
      return;
    }
    Job job;
    job.traceId = jobId;
    job.submit = fromMicros(state.submit);
    job.user = users_.intern(state.user, out.users);
    job.role = roles_.intern("*", out.roles);
    job.priority = state.priority;
    job.firstTask = taskCount_;
    job.taskCount = static_cast<std::uint32_t>(state.attempts.size());
    const std::size_t first = out.tasks.size();
    out.tasks.insert(out.tasks.end(), state.attempts.begin(), state.attempts.end());
    for (std::size_t i = first; i < out.tasks.size(); ++i) {
      out.tasks[i].job = static_cast<std::uint32_t>(jobCount_);
    }
    taskCount_ += state.attempts.size();
    ++jobCount_;
    out.jobs.push_back(std::move(job));
  }

  // Closes what is still open: running attempts are cut at the last time
  // seen; every remaining job is queued for emission in submit order.
  void endOfInput() {
    inputEnded_ = true;
    for (auto& [jobId, job] : open_) {
      std::vector<std::pair<std::uint32_t, TaskState*>> running;
      job.tasks.forEach([&](std::uint32_t index, TaskState& task) {
        if (task.running) running.emplace_back(index, &task);
      });
      std::sort(running.begin(), running.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [index, task] : running) {
        note(Note::kCutAtEnd);
        closeAttempt(job, index, *task, lastTime_, -1, kUnknown);
      }
      job.tasks.clear();
      left_.push_back(jobId);
    }
    std::sort(left_.begin(), left_.end(), [&](std::int64_t a, std::int64_t b) {
      const std::int64_t sa = open_.at(a).submit, sb = open_.at(b).submit;
      return sa != sb ? sa < sb : a < b;
    });
  }

  void readMachineEvents(const std::string& path) {
    PartsReader in(listParts(path));
    std::unordered_map<std::int64_t, std::uint32_t> index;
    std::string_view line;
    while (in.next(line)) {
      ++report_.lines;
      if (line.empty()) continue;
      guardLine(options_, report_, [&] {
        Fields<6> f;
        splitChar(line, ',', f);
        const LineContext at(in.current(), kMachineColumns);
        at.requireCount(f, kMachineColumns.size());
        const std::int64_t time = validTime(at, f[0], 0);
        const std::int64_t id = at.integer(f[1], 1);
        const std::int64_t type = at.integer(f[2], 2);
        if (type < 0 || type > 2) at.badValue(2, f[2], "event type is not 0..2");
        const auto cpus = at.optNumber(f[4], 4);
        const auto memory = at.optNumber(f[5], 5);
        auto [it, added] = index.try_emplace(id, static_cast<std::uint32_t>(machines_.size()));
        if (added) {
          Machine machine;
          machine.traceId = id;
          if (!f[3].empty()) machine.attributes.set("platform", std::string(f[3]));
          machines_.push_back(machine);
          if (type != 0) ++report_.counts["machine_event_before_add"];
        }
        Machine& machine = machines_[it->second];
        if (type != 1) {
          if (!cpus || !memory) ++report_.counts["machine_missing_capacity"];
          machine.capacity[0] = cpus.value_or(machine.capacity[0]);
          machine.capacity[1] = memory.value_or(machine.capacity[1]);
        }
        MachineEvent event;
        event.time = fromMicros(time);
        event.machine = it->second;
        event.kind = static_cast<MachineEvent::Kind>(type);
        if (type != 1) event.capacity = machine.capacity;
        machineEvents_.push_back(event);
        ++report_.counts["machine_events_rows"];
      });
    }
    // Machines take their first capacity; events keep every change.
    for (auto& machine : machines_) machine.capacity = Scalars::Zero();
    for (const auto& event : machineEvents_) {
      Machine& machine = machines_[event.machine];
      if (event.kind != MachineEvent::Kind::kRemove && machine.capacity.isZero()) {
        machine.capacity = event.capacity;
      }
    }
    std::stable_sort(machineEvents_.begin(), machineEvents_.end(),
                     [](const MachineEvent& a, const MachineEvent& b) { return a.time < b.time; });
  }

  void readMachineTable(const std::string& path) {
    LineReader in(path);
    std::string_view line;
    bool header = true;
    while (in.next(line)) {
      ++report_.lines;
      if (line.empty() || line.front() == '#') continue;
      Fields<4> f;
      splitChar(line, ',', f);
      if (header && f.count > 0 && f[0] == "count") {  // the column names
        header = false;
        continue;
      }
      header = false;
      guardLine(options_, report_, [&] {
        const LineContext at(in, kTableColumns);
        at.requireCount(f, kTableColumns.size());
        const std::int64_t count = at.integer(f[0], 0);
        if (count < 0 || count > 1'000'000) at.badValue(0, f[0], "count is not 0..1000000");
        Machine machine;
        machine.capacity[0] = at.number(f[2], 2);
        machine.capacity[1] = at.number(f[3], 3);
        if (machine.capacity[0] < 0) at.badValue(2, f[2], "negative capacity");
        if (machine.capacity[1] < 0) at.badValue(3, f[3], "negative capacity");
        if (!f[1].empty()) machine.attributes.set("platform", std::string(f[1]));
        if (machines_.size() + static_cast<std::size_t>(count) > 10'000'000) {
          at.badValue(0, f[0], "more than 10000000 machines in the table");
        }
        machines_.insert(machines_.end(), static_cast<std::size_t>(count), machine);
        ++report_.counts["machine_table_rows"];
      });
    }
  }

  ReadOptions options_;
  PartsReader tasks_;
  Progress progress_;
  std::optional<PartsReader> jobs_;
  std::optional<JobRow> pendingJobRow_;
  std::map<std::string, std::string> meta_;
  std::vector<Machine> machines_;
  std::vector<MachineEvent> machineEvents_;
  bool sentMachines_ = false, inputEnded_ = false, done_ = false;
  std::int64_t lastTime_ = 0;
  std::unordered_map<std::int64_t, JobState> open_;
  JobState* lastJob_ = nullptr;  // open_[lastJobId_], or null
  std::int64_t lastJobId_ = 0;
  std::unordered_set<std::int64_t> emitted_;
  std::vector<std::int64_t> left_;  // jobs still open at the end, in submit order
  std::size_t nextLeft_ = 0;
  NameTable users_, roles_;
  std::uint64_t jobCount_ = 0, taskCount_ = 0, taskRows_ = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(Note::kCount)> notes_{};
};

}  // namespace

std::unique_ptr<TraceReader> makeGoogle2011Reader(const std::string& path,
                                                  const ReadOptions& options) {
  return std::make_unique<Google2011Reader>(path, options);
}

}  // namespace allot::traces::detail
