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
//   "task_events_rows", "job_events_rows", "machine_events_rows",
//   "machine_table_rows": rows accepted from each table (job events are read
//     only up to the last task event's time).
// - A job is emitted once job_events says it ended and none of its tasks is
//   running or pending; the rest at the end of the input, sorted by submit.
//   Job events are merged with task events by time and never read past the
//   last task event, so one task_events part pairs with the whole job_events
//   folder.
// - Machines: machine_events when present (ADD/REMOVE/UPDATE become machine
//   events), else a machine table (count,platform,cpu,memory), else none. A
//   machine table given in ReadOptions while machine_events are read would
//   be ignored: refused (InvalidArgument naming both).
//   Units are the trace's: normalized to the largest machine.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "allot/core/huge_pages.h"
#include "src/readers/fields.h"
#include "src/readers/formats.h"
#include "src/readers/read_loop.h"

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
    "job_events_rows", "events_after_job_end",      "schedule_while_running",
    "missing_request", "running_at_start",          "complete_attempts",
    "ended_pending",   "terminal_without_schedule", "jobs_without_attempts",
    "cut_at_end"};

// The files of a table: `path` itself, or the parts of the folder `path`.
// Parts named as Google names them (part-NNNNN-of-MMMMM) must follow one
// another: a gap would drop every event of the missing part, and the
// attempts it opens or ends, without a word.
std::vector<std::string> googleParts(const std::string& path) {
  std::vector<std::string> parts = listParts(path);
  std::optional<std::pair<long, std::string>> previous;  // its number, its name
  for (const std::string& part : parts) {
    const std::string name = fs::path(part).filename().string();
    const auto digits = [&](std::size_t from) {
      return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(from),
                         name.begin() + static_cast<std::ptrdiff_t>(from + 5),
                         [](char c) { return c >= '0' && c <= '9'; });
    };
    if (name.size() < 19 || !name.starts_with("part-") || name.compare(10, 4, "-of-") != 0 ||
        !digits(5) || !digits(14)) {
      continue;  // not Google's naming: nothing to tell
    }
    const long number = std::stol(name.substr(5, 5));
    if (previous && number == previous->first) {
      throw Error(fmt::format("{}: {} and {} are both part {}; keep one of them", path,
                              previous->second, name, number));
    }
    if (previous && number != previous->first + 1) {
      const std::string missing =
          number == previous->first + 2
              ? fmt::format("part {} is", previous->first + 1)
              : fmt::format("parts {} to {} are", previous->first + 1, number - 1);
      throw Error(fmt::format(
          "{}: {} missing between {} and {}: their events would be lost; give parts that follow "
          "one another",
          path, missing, previous->second, name));
    }
    previous.emplace(number, name);
  }
  return parts;
}

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

std::int64_t validTime(const LineContext& at, std::string_view text, std::size_t column) {
  const std::int64_t time = at.integer(text, column);
  if (time < 0) at.badValue(column, text, "negative time");
  return time;
}

// Parses one task_events line (`in` names the file and line in errors).
// Throws BadLine. `row.user` views the line.
void parseTaskRow(std::string_view line, const LineReader& in, TaskRow& row) {
  Fields<13> f;
  splitChar(line, ',', f);
  const LineContext at(in, kTaskColumns);
  at.requireCount(f, kTaskColumns.size());
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
}

// task_events read, split and parsed on a worker thread, in batches of rows
// handed to the reading thread in input order; the reading thread only
// applies them (the attempt state machine, emission). A third thread
// inflates ahead of the worker: it was idle while applying was most of the
// time, and paid off (part 0, median of 15: 0.119 -> 0.106 s) once applying
// got cheaper than parsing.
// Bad lines are parsed into their error (message and reason) and thrown or
// counted by the reading thread when it reaches them, so errors, skipBad
// counts and report lines are what a sequential read gives. Other failures
// (I/O, corrupt gzip, overlong lines) end the stream where they happened and
// are rethrown there.
class TaskRowPipeline {
 public:
  // One input line: empty, a parsed row or a bad line, packed into one
  // cache line. The parsing thread writes entries that the reading thread
  // read a batch earlier, so each line written moves between the cores:
  // with 136-byte entries (three lines) those stores were a quarter of the
  // parsing thread's time.
  struct alignas(64) Entry {
    static constexpr std::uint8_t kCpu = 1, kMem = 2, kDisk = 4, kPriority = 8,
                                  kDifferentMachine = 16, kBlank = 32, kError = 64;
    std::int64_t time, jobId, machine;
    double cpu, mem, disk;  // when the flags say so
    std::uint32_t index;    // or, with kError, the index into Batch::errors
    std::int16_t priority;  // clamped to -1..1000, as jobs keep it
    std::uint8_t type, flags;
    std::uint32_t userOffset, userSize;  // into Batch::users
  };
  static_assert(sizeof(Entry) == 64);
  struct Batch {
    // Up to kBatchRows entries, made as rows first need them and then
    // overwritten batch after batch (the parse sets every field):
    // value-initializing an entry per row was a third of the parsing
    // thread's time. Made on demand, not all at once, so that a small input
    // does not clear 1 MiB of batches.
    std::vector<Entry> entries;
    std::size_t count = 0;                                    // entries in use
    std::string users;                                        // row.user bytes
    std::vector<std::pair<std::string, std::string>> errors;  // message, reason
    bool last = false;                                        // the input ends after this batch
    std::exception_ptr failure;                               // ... because of this error, if set
  };
  // A line source for fillChunk(): one Line per input line.
  struct Line {
    const Entry* entry = nullptr;
    bool empty() const { return (entry->flags & Entry::kBlank) != 0; }
  };

  explicit TaskRowPipeline(std::vector<std::string> files)
      : in_(std::move(files), Inflate::kAhead), worker_([this] { run(); }) {}
  TaskRowPipeline(const TaskRowPipeline&) = delete;
  TaskRowPipeline& operator=(const TaskRowPipeline&) = delete;
  ~TaskRowPipeline() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  // Sets `line` to the next input line; false at the end of the input.
  // Rethrows a failure of the input (I/O, gzip) where it happened.
  bool next(Line& line) {
    while (batch_ == nullptr || nextEntry_ == batch_->count) {
      if (batch_ != nullptr && batch_->failure) std::rethrow_exception(batch_->failure);
      if (batch_ != nullptr && batch_->last) return false;
      batch_ = nextBatch();
      nextEntry_ = 0;
      if (batch_ == nullptr) return false;
    }
    line.entry = &batch_->entries[nextEntry_++];
    return true;
  }

  // The row of a non-empty line (its user views the batch); throws its
  // BadLine when it is malformed.
  TaskRow row(const Line& line) const {
    const Entry& e = *line.entry;
    if ((e.flags & Entry::kError) != 0) {
      const auto& [message, reason] = batch_->errors[e.index];
      throw BadLine(message, reason);
    }
    TaskRow row;
    row.time = e.time;
    row.jobId = e.jobId;
    row.machine = e.machine;
    row.type = e.type;
    row.index = e.index;
    if ((e.flags & Entry::kPriority) != 0) row.priority = e.priority;
    row.user = std::string_view(batch_->users).substr(e.userOffset, e.userSize);
    if ((e.flags & Entry::kCpu) != 0) row.cpu = e.cpu;
    if ((e.flags & Entry::kMem) != 0) row.mem = e.mem;
    if ((e.flags & Entry::kDisk) != 0) row.disk = e.disk;
    row.differentMachine = (e.flags & Entry::kDifferentMachine) != 0;
    return row;
  }

  std::uint64_t bytesRead() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  // The next batch (the previous one goes back to the worker), or null after
  // the last one.
  const Batch* nextBatch() {
    std::unique_lock lock(mutex_);
    if (current_) free_.push_back(std::move(current_));
    changed_.notify_all();
    changed_.wait(lock, [&] { return !full_.empty() || finished_; });
    if (full_.empty()) return nullptr;
    current_ = std::move(full_.front());
    full_.pop_front();
    return current_.get();
  }

  // Rows per batch: hand-overs stay rare (about 220 for a part), and a batch
  // (about 250 KiB) stays in the cache between the two threads.
  static constexpr std::size_t kBatchRows = 2048;
  static constexpr std::size_t kBatches = 4;

  static void pack(const TaskRow& row, std::uint32_t userOffset, std::uint32_t userSize,
                   Entry& entry) {
    std::uint8_t flags = row.differentMachine ? Entry::kDifferentMachine : 0;
    entry.time = row.time;
    entry.jobId = row.jobId;
    entry.machine = row.machine;
    entry.cpu = row.cpu.value_or(0);
    entry.mem = row.mem.value_or(0);
    entry.disk = row.disk.value_or(0);
    if (row.cpu) flags |= Entry::kCpu;
    if (row.mem) flags |= Entry::kMem;
    if (row.disk) flags |= Entry::kDisk;
    entry.index = row.index;
    entry.priority = 0;
    if (row.priority) {
      entry.priority = static_cast<std::int16_t>(std::clamp<std::int64_t>(*row.priority, -1, 1000));
      flags |= Entry::kPriority;
    }
    entry.type = static_cast<std::uint8_t>(row.type);  // 0..8, checked by the parse
    entry.flags = flags;
    entry.userOffset = userOffset;
    entry.userSize = userSize;
  }

  void run() {
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < kBatches; ++i) free_.push_back(std::make_unique<Batch>());
    }
    for (bool last = false; !last;) {
      std::unique_ptr<Batch> batch;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || !free_.empty(); });
        if (stop_) break;
        batch = std::move(free_.back());
        free_.pop_back();
      }
      batch->count = 0;
      batch->users.clear();
      batch->errors.clear();
      batch->failure = nullptr;
      // Users come in runs (rows of one job): a repeat shares the bytes of
      // the previous row's user.
      std::uint32_t userOffset = 0, userSize = 0;
      bool haveUser = false;
      try {
        std::string_view line;
        TaskRow row;
        while (batch->count < kBatchRows) {
          if (!in_.next(line)) {
            last = true;
            break;
          }
          if (batch->count == batch->entries.size()) batch->entries.emplace_back();
          Entry& entry = batch->entries[batch->count];
          if (line.empty()) {
            entry.flags = Entry::kBlank;
            ++batch->count;
            continue;
          }
          try {
            parseTaskRow(line, in_.current(), row);
            // Rows are in time order within and across parts; one that goes
            // back means parts out of order (or a damaged file): attempts
            // would pair events of different times.
            if (row.time < lastTime_) {
              LineContext(in_.current(), kTaskColumns)
                  .badLine("column 1 (time): " + std::to_string(row.time) +
                               " comes before the previous row's time " +
                               std::to_string(lastTime_) +
                               " (rows must be in time order: are the parts out of order?)",
                           "time: before the previous row's");
            }
            lastTime_ = row.time;
            const std::string_view user = row.user;
            if (!haveUser || userSize != user.size() ||
                std::string_view(batch->users).substr(userOffset, userSize) != user) {
              userOffset = static_cast<std::uint32_t>(batch->users.size());
              userSize = static_cast<std::uint32_t>(user.size());
              batch->users.append(user);
              haveUser = true;
            }
            pack(row, userOffset, userSize, entry);
          } catch (const BadLine& bad) {
            batch->errors.emplace_back(bad.what(), bad.reason());
            entry.flags = Entry::kError;
            entry.index = static_cast<std::uint32_t>(batch->errors.size() - 1);
          }
          ++batch->count;  // only once the entry is whole
        }
      } catch (...) {
        batch->failure = std::current_exception();
        last = true;
      }
      batch->last = last;
      bytes_.store(in_.bytesRead(), std::memory_order_relaxed);
      {
        std::lock_guard lock(mutex_);
        full_.push_back(std::move(batch));
        if (last) finished_ = true;
      }
      changed_.notify_all();
    }
    std::lock_guard lock(mutex_);
    finished_ = true;
    changed_.notify_all();
  }

  PartsReader in_;             // worker thread only
  std::int64_t lastTime_ = 0;  // of the last row accepted; worker thread only
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<Batch>> full_;  // parsed, in input order
  std::vector<std::unique_ptr<Batch>> free_;
  std::unique_ptr<Batch> current_;  // held by the reading thread
  const Batch* batch_ = nullptr;    // current_, being read (reading thread)
  std::size_t nextEntry_ = 0;
  bool stop_ = false, finished_ = false;
  std::atomic<std::uint64_t> bytes_{0};
  std::thread worker_;  // last: starts once the members above exist
};

struct JobRow {
  std::int64_t time = 0, jobId = 0, type = 0;
  std::string user;
};

// Kept small: there is one per task of every open job (Google part 0 holds
// about 190,000 at once), and on our VMs the page faults of growing these
// tables were most of the reader's time. Requests are ids of the reader's
// request table, not three doubles each: 32 bytes instead of 72.
struct TaskState {
  std::int64_t start = 0, machine = kUnknown;
  std::uint32_t request = 0;    // the last request seen (Google2011Reader::requests_)
  std::uint32_t runDemand = 0;  // the request when the attempt started, as a demand id
  bool pending = false, running = false;
  bool differentMachine = false;
  bool haveRequest = false;
};
static_assert(sizeof(TaskState) == 32);

// The tasks of one job by task index. Google task indexes are dense
// (0..n-1 within a job), so states live in a vector indexed by task index:
// events of neighbouring tasks touch neighbouring states, where a hash table
// cost a cache miss per event (its probe loop was 18% of the reader's time on
// part 0). An absent task and a default TaskState behave the same, so the
// vector needs no "used" marks. Memory stays bounded by the input: the vector
// grows to cover an index only while the index is below 2 x (rows of the job
// so far) + 8; indexes beyond that (sparse or hostile input) go to a map, and
// move into the vector once it covers them.
class TaskTable {
 public:
  explicit TaskTable(std::pmr::memory_resource* memory) : dense_(memory) {}

  // The state of task `index` (default when new); `rows` counts the rows of
  // this job so far. Valid until the next call.
  TaskState& get(std::uint32_t index, std::uint64_t rows) {
    if (index < dense_.size()) [[likely]] {
      return dense_[index];
    }
    if (index < 2 * rows + 8) {
      grow(std::max<std::size_t>({std::size_t{index} + 1, 2 * dense_.size(), 4}));
      return dense_[index];
    }
    return sparse_[index];
  }
  // Calls f(index, state) for every task that may have been used, in index
  // order.
  template <typename F>
  void forEachInOrder(F&& f) {
    for (std::size_t i = 0; i < dense_.size(); ++i) f(static_cast<std::uint32_t>(i), dense_[i]);
    if (sparse_.empty()) return;
    std::vector<std::uint32_t> indexes;
    indexes.reserve(sparse_.size());
    for (const auto& entry : sparse_) indexes.push_back(entry.first);
    std::sort(indexes.begin(), indexes.end());
    for (const std::uint32_t index : indexes) f(index, sparse_.at(index));
  }

 private:
  void grow(std::size_t size) {
    dense_.resize(size);
    // Invariant: every sparse index is beyond the vector.
    for (auto it = sparse_.begin(); it != sparse_.end();) {
      if (it->first < size) {
        dense_[it->first] = it->second;
        it = sparse_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::pmr::vector<TaskState> dense_;
  std::unordered_map<std::uint32_t, TaskState> sparse_;
};

// Its tables come from the reader's HugePagePool.
struct JobState {
  explicit JobState(std::pmr::memory_resource* memory) : tasks(memory), attempts(memory) {}

  std::int64_t submit = 0;
  bool submitFromJobEvents = false, ended = false, havePriority = false;
  std::int32_t priority = 0;
  std::string user;
  std::uint32_t running = 0, pending = 0;
  std::uint64_t rows = 0;  // task events applied
  TaskTable tasks;
  std::pmr::vector<Task> attempts;  // Task::job filled at emission
};

class Google2011Reader final : public ReaderBase {
 public:
  Google2011Reader(const std::string& path, const ReadOptions& options)
      : options_(options), taskFiles_(taskParts(path)), progress_(options, totalBytes(taskFiles_)) {
    const fs::path first(taskFiles_.front());
    // The trace's layout: ROOT/{task_events,job_events,machine_events}/part-*.
    const fs::path root = first.parent_path().filename() == "task_events"
                              ? first.parent_path().parent_path()
                              : first.parent_path();
    std::string machineEvents = options.machineEvents;
    if (machineEvents.empty()) {
      if (auto found = existing(root / "machine_events")) machineEvents = found->string();
    }
    // machine_events take precedence over a machine table: one the user
    // named would be ignored, so refuse it, as checkReadOptions refuses
    // inputs the format does not read (a machines.csv merely found beside
    // them stays second).
    if (!options.machinesFile.empty() && !machineEvents.empty()) {
      throw InvalidArgument(fmt::format(
          "{}: machine table '{}' would be ignored: machine_events {} '{}', which take precedence "
          "over a machine table (use one or the other)",
          path, options.machinesFile, options.machineEvents.empty() ? "found at" : "given as",
          machineEvents));
    }
    // Inflating and parsing task_events starts first: building the machine
    // table (12,583 machines) no longer delays it.
    rows_.emplace(taskFiles_);
    requests_.intern(Scalars::Zero(), requestValues_);  // id 0
    meta_["format"] = "google2011";
    meta_["units"] =
        "normalized: cpus, mem and disk are fractions of the largest machine's capacity "
        "(Google clusterdata-2011-2); time: microseconds of trace time";

    std::string jobEvents = options.jobEvents;
    if (jobEvents.empty()) {
      if (auto found = existing(root / "job_events")) jobEvents = found->string();
    }
    // job_events parts are small (1.7 MB of text for part 0), read a few
    // rows at a time: inflated on this thread, not ahead on a thread of
    // their own with fresh 2 MiB blocks per part (a tenth of part 0's read).
    if (!jobEvents.empty()) jobs_.emplace(googleParts(jobEvents), Inflate::kInline);
    meta_["job_events"] = jobEvents.empty() ? "absent" : "read";

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
    if (!inputEnded_ && !fillChunk(*rows_, out, options_, report_, progress_,
                                   [&](const TaskRowPipeline::Line& line) {
                                     const TaskRow& row = rows_->row(line);
                                     readJobEventsUntil(row.time, out);
                                     apply(row, out);
                                     ++taskRows_;
                                     return true;
                                   })) {
      endOfInput();
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
    // Demands interned for the attempts so far, in the order of their ids: an
    // attempt kept in its open job until a later chunk finds its demand in
    // this chunk or an earlier one.
    out.demands = std::move(newDemands_);
    newDemands_.clear();
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

  static std::uint64_t totalBytes(const std::vector<std::string>& files) {
    std::uint64_t total = 0;
    for (const auto& file : files) total += fileSize(file);
    return total;
  }

  static std::vector<std::string> taskParts(const std::string& path) {
    std::error_code error;
    if (fs::is_directory(fs::path(path) / "task_events", error)) {
      return googleParts((fs::path(path) / "task_events").string());
    }
    return googleParts(path);
  }

  // Applies job events up to `time`, so that a job's end is known before
  // task events of the same time.
  void readJobEventsUntil(std::int64_t time, WorkloadChunk& out) {
    lastTime_ = time;  // task rows come in time order (TaskRowPipeline checks)
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
    auto [it, added] = open_.try_emplace(jobId, &memory_);
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
        found = open_.try_emplace(row.jobId, &memory_).first;
        found->second.submit = row.time;
      }
      lastJob_ = &found->second;
      lastJobId_ = row.jobId;
    }
    JobState& job = *lastJob_;
    if (job.user.empty()) job.user = std::string(row.user);
    if (!job.havePriority && row.priority) {
      job.priority = static_cast<std::int32_t>(*row.priority);  // clamped by the pipeline's pack
      job.havePriority = true;
    }
    TaskState& task = job.tasks.get(row.index, job.rows++);
    if (row.cpu || row.mem || row.disk) {
      Scalars request = requestValues_[task.request];
      request[0] = row.cpu.value_or(request[0]);
      request[1] = row.mem.value_or(request[1]);
      request[2] = row.disk.value_or(request[2]);
      task.request = requests_.intern(request, requestValues_);
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
        task.runDemand = demandOfRequest(task.request);
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
          task.runDemand = demandOfRequest(task.request);
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
    fillAttempt(job.attempts.emplace_back(), index, task, end, status, outcomeEnd);  // in place
    task.running = false;
    --job.running;
  }

  // The attempt record of the running `task` ending at `end`.
  void fillAttempt(Task& attempt, std::uint32_t index, const TaskState& task, std::int64_t end,
                   std::int32_t status, std::int64_t outcomeEnd) {
    attempt.index = index;
    attempt.demand = task.runDemand;
    attempt.duration = Duration{std::max<std::int64_t>(end - task.start, 0)};
    attempt.differentMachine = task.differentMachine;
    attempt.outcome.startUs = task.start;
    attempt.outcome.endUs = outcomeEnd;
    attempt.outcome.machine = task.machine;
    attempt.outcome.status = status;
  }

  // The demand id of request `id`, interned on its first attempt: requests
  // no attempt ran with stay out of the workload's demand table.
  std::uint32_t demandOfRequest(std::uint32_t id) {
    if (requestDemand_.size() <= id) requestDemand_.resize(requestValues_.size(), kNoDemand);
    std::uint32_t& demand = requestDemand_[id];
    if (demand == kNoDemand) demand = demands_.intern(requestValues_[id], newDemands_);
    return demand;
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
    // Tasks still running: only at the end of the input (a job is emitted
    // earlier only once none runs), cut there.
    const std::uint32_t cut = state.running;
    if (state.attempts.empty() && cut == 0) {
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
    job.taskCount = static_cast<std::uint32_t>(state.attempts.size() + cut);
    // A job's records all go into this chunk, past kChunkTasks if it is
    // large (part 0 has a job of 20,010 tasks): room for them at once, on
    // huge pages, where growing record by record faulted in fresh copies on
    // small pages (a fifth of the reader's page faults).
    growHuge(out.tasks, job.taskCount);
    const std::size_t first = out.tasks.size();
    out.tasks.insert(out.tasks.end(), state.attempts.begin(), state.attempts.end());
    if (cut > 0) {
      // Cut attempts are built straight into the chunk, in task index order
      // (most attempts of a part are cut: 131,409 of 189,994 in part 0).
      state.tasks.forEachInOrder([&](std::uint32_t index, const TaskState& task) {
        if (task.running)
          fillAttempt(out.tasks.emplace_back(), index, task, lastTime_, -1, kUnknown);
      });
    }
    for (std::size_t i = first; i < out.tasks.size(); ++i) {
      out.tasks[i].job = static_cast<std::uint32_t>(jobCount_);
    }
    taskCount_ += job.taskCount;
    ++jobCount_;
    out.jobs.push_back(std::move(job));
  }

  // At the end of the input, running attempts are cut at the last time seen
  // (built by emit()); every remaining job is queued for emission in submit
  // order.
  void endOfInput() {
    inputEnded_ = true;
    std::vector<std::pair<std::int64_t, std::int64_t>> order;  // submit, job id
    order.reserve(open_.size());
    for (auto& [jobId, job] : open_) {
      notes_[static_cast<std::size_t>(Note::kCutAtEnd)] += job.running;
      order.emplace_back(job.submit, jobId);
    }
    std::sort(order.begin(), order.end());
    left_.reserve(order.size());
    for (const auto& entry : order) left_.push_back(entry.second);
  }

  void readMachineEvents(const std::string& path) {
    PartsReader in(googleParts(path));
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
    // Rows first, then the machines in one allocation: inserting row by row
    // moved every machine made so far at each growth (12,583 for Google's).
    std::vector<std::pair<std::size_t, Machine>> rows;
    std::size_t total = 0;
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
        if (total + static_cast<std::size_t>(count) > 10'000'000) {
          at.badValue(0, f[0], "more than 10000000 machines in the table");
        }
        total += static_cast<std::size_t>(count);
        rows.emplace_back(static_cast<std::size_t>(count), std::move(machine));
        ++report_.counts["machine_table_rows"];
      });
    }
    machines_.reserve(machines_.size() + total);
    for (const auto& [count, machine] : rows) machines_.insert(machines_.end(), count, machine);
  }

  ReadOptions options_;
  std::vector<std::string> taskFiles_;
  Progress progress_;
  std::optional<TaskRowPipeline> rows_;
  std::optional<PartsReader> jobs_;
  std::optional<JobRow> pendingJobRow_;
  std::map<std::string, std::string> meta_;
  std::vector<Machine> machines_;
  std::vector<MachineEvent> machineEvents_;
  bool sentMachines_ = false, inputEnded_ = false, done_ = false;
  std::int64_t lastTime_ = 0;
  // Open jobs' states, their task tables and attempts: most of the memory
  // the reader first touches (about 10 MB for part 0).
  HugePagePool memory_;
  std::pmr::unordered_map<std::int64_t, JobState> open_{&memory_};
  JobState* lastJob_ = nullptr;  // open_[lastJobId_], or null
  std::int64_t lastJobId_ = 0;
  std::unordered_set<std::int64_t> emitted_;
  std::vector<std::int64_t> left_;  // jobs still open at the end, in submit order
  std::size_t nextLeft_ = 0;
  NameTable users_, roles_;
  DemandTable demands_;
  std::vector<Scalars> newDemands_;  // interned since the last chunk
  // Distinct requests (cpus, mem, disk; the other dimensions zero), by id;
  // id 0 is the all-zero request of a task before its first.
  DemandTable requests_;
  std::vector<Scalars> requestValues_;
  static constexpr std::uint32_t kNoDemand = 0xffffffffU;
  std::vector<std::uint32_t> requestDemand_;  // demand id by request id, or kNoDemand
  std::uint64_t jobCount_ = 0, taskCount_ = 0, taskRows_ = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(Note::kCount)> notes_{};
};

}  // namespace

std::unique_ptr<TraceReader> makeGoogle2011Reader(const std::string& path,
                                                  const ReadOptions& options) {
  return std::make_unique<Google2011Reader>(path, options);
}

}  // namespace allot::traces::detail
