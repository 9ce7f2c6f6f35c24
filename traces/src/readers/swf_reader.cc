// Standard Workload Format (Parallel Workloads Archive, version 2.2).
//
// Mapping, one SWF record (job) -> one allot Job:
// - Job::gang = true; one Task record with count = the processor count:
//   allocated processors (field 5), else requested (field 8), i.e. a rigid
//   gang of that many one-processor instances. Each instance demands cpus = 1
//   and, when known, mem = used memory (field 7), else requested memory
//   (field 10), converted from KB per processor to MB.
// - submit = field 2 (seconds from the log's start); duration = run time
//   (field 4); estimate = requested time (field 9), 0 when unknown (-1 or
//   0); outcome start = submit + wait (field 3, when known),
//   end = start + run, status = field 11; machine unknown.
// - user = field 12, role = queue (field 15) or "*" when unknown; a
//   preceding job (field 17) becomes Job::dependsOn when that job was read.
// - Records that cannot be replayed are counted and left out, per the SWF
//   spec's use of -1 for "unknown": no processor count ("zero_processors"),
//   unknown run time ("unknown_runtime"), unknown submit time
//   ("unknown_submit"); leftOutNote says so. Zero run time is kept. Any other
//   negative value is malformed.
// - A job number already read is counted ("duplicate_job_number"); a later
//   preceding-job field names the most recent job with that number.
// Machines (sent in the last chunk): MaxNodes machines of MaxProcs/MaxNodes
// cpus each; with only one of the two, that many one-cpu machines; with
// neither, as many one-cpu machines as the widest job ("machines_inferred").
// Machine memory: MaxMemory (KB per processor) when the header has it, else
// the largest per-processor memory any job uses, times the machine's cpus.
// The header values used here are checked like record fields (a bad one is
// a BadLine at its header line, skipped and counted with skipBad): MaxNodes
// and MaxProcs positive integers, MaxMemory a positive number, at most
// kMaxMachines machines, a key repeated with another value refused (the
// first stays when skipped). Other keys are free text, kept in meta only.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>

#include "allot/core/huge_pages.h"
#include "src/readers/fields.h"
#include "src/readers/formats.h"

namespace allot::traces::detail {
namespace {

constexpr std::array<std::string_view, 18> kColumns{
    "job_number",       "submit_time",   "wait_time",       "run_time",       "allocated_procs",
    "average_cpu_time", "used_memory",   "requested_procs", "requested_time", "requested_memory",
    "status",           "user_id",       "group_id",        "executable",     "queue",
    "partition",        "preceding_job", "think_time"};

enum Column : std::size_t {
  kJob = 0,
  kSubmit = 1,
  kWait = 2,
  kRun = 3,
  kAllocProcs = 4,
  kUsedMem = 6,
  kReqProcs = 7,
  kReqTime = 8,
  kReqMem = 9,
  kStatus = 10,
  kUser = 11,
  kQueue = 14,
  kPreceding = 16,
};

// Upper bound on processors per job: keeps a corrupt line from asking for
// billions of tasks.
constexpr double kMaxProcs = detail::kSwfMaxProcs;
// Upper bound on machines (MaxNodes, or MaxProcs without it): a clamped
// count would be another cluster.
constexpr std::int64_t kMaxMachineCount = 1 << 20;
constexpr auto kMaxMachines = static_cast<double>(kMaxMachineCount);

// The header keys the reader reads as numbers (the cluster's shape).
bool isUsedHeaderKey(std::string_view key) {
  return key == "MaxNodes" || key == "MaxProcs" || key == "MaxMemory";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool isKey(std::string_view key) {
  if (key.empty() || !std::isalpha(static_cast<unsigned char>(key.front()))) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

// REQUIRES: an integer within +-9e15 (record() checks the columns it names).
std::string integerText(double value) {
  return std::to_string(static_cast<std::int64_t>(value));
}

class SwfReader final : public ReaderBase {
 public:
  SwfReader(const std::string& path, const ReadOptions& options)
      : options_(options), in_(path), progress_(options, fileSize(path)) {
    meta_["format"] = "swf";
    meta_["units"] =
        "cpus: processors (one task instance per processor, Task::count = processors); mem: "
        "MB per instance (SWF gives KB per processor); time: microseconds from the log's start "
        "(UnixStartTime)";
  }

  bool next(WorkloadChunk& out) override {
    out.clear();
    if (done_) return false;
    std::string_view line;
    while (out.jobs.size() < kChunkJobs && out.tasks.size() < kChunkTasks) {
      if (!in_.next(line)) {
        finish(out);
        done_ = true;
        progress_.finish();
        return true;
      }
      ++report_.lines;
      const std::string_view text = trim(line);
      if (text.empty()) continue;
      if (text.front() == ';') {
        // Not a record: a bad value the reader uses is skipped and counted
        // with skipBad like a bad record, but a good line is not a record.
        guardLine(options_, report_, [&] {
          headerLine(text.substr(1));
          return false;
        });
        continue;
      }
      guardLine(options_, report_, [&] { record(text, out); });
    }
    out.meta = meta_;
    progress_.update(in_.fileBytesRead());
    return true;
  }

 private:
  // "; Key: value" sets meta[Key]; an indented comment line without a key
  // continues the previous key (as Note lines do). The keys the reader uses
  // are checked (BadLine: "FILE:LINE: header KEY: bad value 'V': REASON").
  void headerLine(std::string_view text) {
    std::size_t indent = 0;
    while (indent < text.size() && isBlank(text[indent])) ++indent;
    const std::size_t colon = text.find(':');
    if (indent <= 2 && colon != std::string_view::npos && isKey(trim(text.substr(0, colon)))) {
      const std::string key(trim(text.substr(0, colon)));
      const std::string_view value = trim(text.substr(colon + 1));
      lastKey_.clear();  // a skipped line has nothing to continue
      const bool repeated = isUsedHeaderKey(key) && !usedHeaderValue(key, value);
      lastKey_ = key;
      if (repeated) return;  // the same value again: meta keeps the first text
      std::string& slot = meta_[key];
      if (!slot.empty()) slot += '\n';  // repeated keys (Note, Queue) accumulate
      slot += value;
      return;
    }
    const std::string_view rest = trim(text);
    if (!rest.empty() && !lastKey_.empty()) {
      meta_[lastKey_] += '\n';
      meta_[lastKey_] += rest;
    }
  }

  // Checks the value of a header key the reader uses and keeps it in
  // header_. Returns false when the key was given before with the same
  // value (nothing new for meta); throws BadLine for a bad value.
  bool usedHeaderValue(const std::string& key, std::string_view value) {
    const LineContext at(in_, kColumns);
    // Counted with skipBad under "KEY: REASON" (`detail`, the first line
    // and value of a repeated key, only in the message).
    auto bad = [&](std::string_view reason, const std::string& detail = {}) {
      std::string shown(value.substr(0, 64));
      if (value.size() > 64) shown += "...";
      at.badLine("header " + key + ": bad value '" + shown + "': " + std::string(reason) + detail,
                 key + ": " + std::string(reason));
    };
    const bool count = key != "MaxMemory";  // MaxNodes, MaxProcs
    const char* reason = count ? "not a positive integer" : "not a positive number";
    double number = 0;
    const char* first = value.data();
    if (value.size() > 1 && value[0] == '+' && value[1] != '-') ++first;
    const auto [ptr, ec] = std::from_chars(first, value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
        !std::isfinite(number) || number <= 0) {
      bad(reason);
    }
    // Integers up to 9e15 convert exactly; larger counts are nonsense.
    if (count && (number != std::floor(number) || number > 9e15)) bad(reason);
    if (key == "MaxNodes" && number > kMaxMachines) {
      bad("more machines than allot accepts (" + std::to_string(kMaxMachineCount) + ")");
    }
    const auto [it, added] = header_.try_emplace(key, HeaderValue{number, in_.lineNumber(), {}});
    if (added) {
      it->second.text = value;
      return true;
    }
    if (it->second.value == number) return false;
    bad("repeated with another value",
        " than line " + std::to_string(it->second.line) + " ('" + it->second.text + "')");
    return false;  // not reached
  }

  void record(std::string_view text, WorkloadChunk& out) {
    Fields<18> f;
    splitBlanks(text, f);
    const LineContext at(in_, kColumns);
    at.requireCount(f, kColumns.size());
    std::array<double, 18> v{};
    for (std::size_t i = 0; i < v.size(); ++i) {
      v[i] = at.number(f[i], i);
      // Every field is a count, a time or an id, or -1 for "unknown".
      if (v[i] < 0 && v[i] != -1) at.badValue(i, f[i], "negative, and not -1 (unknown)");
    }
    for (const std::size_t i : {kAllocProcs, kReqProcs}) {
      if (v[i] != std::floor(v[i])) at.badValue(i, f[i], "processor count is not an integer");
      if (v[i] > kMaxProcs) at.badValue(i, f[i], "more processors than allot accepts (1048576)");
    }
    // Numbers that name jobs, users and queues: a number beyond int64's
    // range would be undefined behaviour to convert, and clamped or
    // truncated ids would make two users (or jobs) one.
    for (const auto& [i, what] : {std::pair{kJob, "job number"},
                                  {kPreceding, "preceding job number"},
                                  {kUser, "user id"},
                                  {kQueue, "queue number"},
                                  {kStatus, "status"}}) {
      if (v[i] != std::floor(v[i]) || std::fabs(v[i]) > 9e15) {
        at.badValue(i, f[i], std::string(what) + " is not an integer");
      }
    }
    if (v[kStatus] > std::numeric_limits<std::int32_t>::max()) {
      at.badValue(kStatus, f[kStatus], "status out of range");
    }
    const auto jobNumber = static_cast<std::int64_t>(v[kJob]);
    const std::int64_t submit = at.secondsToMicros(v[kSubmit], f[kSubmit], kSubmit);
    const std::int64_t wait = at.secondsToMicros(v[kWait], f[kWait], kWait);
    const std::int64_t run = at.secondsToMicros(v[kRun], f[kRun], kRun);
    const std::int64_t requested = at.secondsToMicros(v[kReqTime], f[kReqTime], kReqTime);

    const double procs = v[kAllocProcs] > 0 ? v[kAllocProcs] : std::max(v[kReqProcs], 0.0);
    widest_ = std::max(widest_, procs);
    if (procs == 0) return leaveOut("zero_processors", "no processor count");
    if (v[kRun] < 0) return leaveOut("unknown_runtime", "run time unknown (-1)");
    if (v[kSubmit] < 0) return leaveOut("unknown_submit", "submit time unknown (-1)");

    const double memKb = v[kUsedMem] > 0 ? v[kUsedMem] : v[kReqMem] > 0 ? v[kReqMem] : 0.0;
    maxMemKb_ = std::max(maxMemKb_, memKb);

    Job job;
    job.traceId = jobNumber;
    job.submit = fromMicros(submit);
    job.user = users_.intern(integerText(v[kUser]), out.users);
    job.role = roles_.intern(v[kQueue] >= 0 ? integerText(v[kQueue]) : "*", out.roles);
    job.gang = true;
    job.firstTask = taskCount_;
    job.taskCount = 1;  // one record of `procs` instances
    if (v[kPreceding] > 0) {
      if (const auto found = findJob(static_cast<std::int64_t>(v[kPreceding]))) {
        job.dependsOn.push_back(*found);
      } else {
        ++report_.counts["missing_preceding_job"];
      }
    }
    const auto index = static_cast<std::uint32_t>(jobCount_);
    rememberJob(jobNumber, index);

    Task& task = out.tasks.emplace_back();
    task.job = index;
    task.count = static_cast<std::uint32_t>(procs);
    Scalars demand = Scalars::Zero();
    demand[0] = 1.0;
    demand[1] = memKb / 1024.0;
    task.demand = demands_.intern(demand, out.demands);
    task.duration = Duration{run};
    task.estimate = Duration{std::max<std::int64_t>(requested, 0)};  // -1: unknown
    if (v[kWait] >= 0) {
      task.outcome.startUs = submit + wait;
      task.outcome.endUs = submit + wait + run;
    }
    task.outcome.status = static_cast<std::int32_t>(v[kStatus]);  // -1 .. int32 max
    out.jobs.push_back(std::move(job));
    ++jobCount_;
    ++taskCount_;
  }

  // Job numbers usually increase through a log: keep them in a sorted
  // vector, and only the out-of-order ones in a hash map. A number read
  // before is counted ("duplicate_job_number") and then names the later job
  // (the map is searched first).
  void rememberJob(std::int64_t number, std::uint32_t index) {
    if (jobsInOrder_.empty() || number > jobsInOrder_.back().first) {
      // On huge pages: HPC2N's 202,876 entries, grown in 4 KiB pages, were a
      // third of a streaming read's page faults.
      growHuge(jobsInOrder_);
      jobsInOrder_.emplace_back(number, index);
    } else {
      if (findJob(number)) ++report_.counts["duplicate_job_number"];
      jobsOutOfOrder_[number] = index;
    }
  }
  std::optional<std::uint32_t> findJob(std::int64_t number) const {
    if (const auto it = jobsOutOfOrder_.find(number); it != jobsOutOfOrder_.end()) {
      return it->second;
    }
    const auto it = std::lower_bound(jobsInOrder_.begin(), jobsInOrder_.end(), number,
                                     [](const std::pair<std::int64_t, std::uint32_t>& a,
                                        std::int64_t b) { return a.first < b; });
    if (it != jobsInOrder_.end() && it->first == number) return it->second;
    return std::nullopt;
  }

  void finish(WorkloadChunk& out) {
    const auto nodes = header_.find("MaxNodes");
    const auto procs = header_.find("MaxProcs");
    double machines = 0, cpus = 1;
    if (nodes != header_.end() && procs != header_.end()) {
      machines = nodes->second.value;
      cpus = procs->second.value / nodes->second.value;
    } else if (nodes != header_.end()) {
      machines = nodes->second.value;
    } else if (procs != header_.end()) {
      machines = procs->second.value;
      // Checked here, since MaxNodes may follow MaxProcs in the header. Not
      // a line to skip: with MaxNodes absent, the header gives no other size.
      if (machines > kMaxMachines) {
        throw ParseError(in_.path() + ":" + std::to_string(procs->second.line) +
                         ": header MaxProcs: bad value '" + procs->second.text +
                         "': more machines than allot accepts (" +
                         std::to_string(kMaxMachineCount) +
                         "), one one-cpu machine per processor without MaxNodes");
      }
    } else {
      machines = widest_;
      meta_["machines"] = "inferred: one one-cpu machine per processor of the widest job";
      ++report_.counts["machines_inferred"];
    }
    // An integer within kMaxMachines: MaxNodes and MaxProcs are checked,
    // and the widest job has at most kMaxProcs processors.
    const auto memory = header_.find("MaxMemory");
    double memPerCpuMb = maxMemKb_ / 1024.0;
    if (memory != header_.end()) {
      memPerCpuMb = memory->second.value / 1024.0;
      meta_["machine_mem"] = "MaxMemory (KB per processor) times cpus";
    } else {
      meta_["machine_mem"] = "largest per-processor memory of any job times cpus";
    }
    Machine machine;
    machine.capacity[0] = cpus;
    machine.capacity[1] = memPerCpuMb * cpus;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(machines); ++i) {
      machine.traceId = i;
      out.machines.push_back(machine);
    }
    if (widest_ > machines * cpus) ++report_.counts["wider_than_cluster"];
    out.meta = meta_;
    putCounts(out);
  }

  ReadOptions options_;
  LineReader in_;
  Progress progress_;
  bool done_ = false;
  std::map<std::string, std::string> meta_;
  // The header values the reader uses, with the line and text that gave them.
  struct HeaderValue {
    double value = 0;
    std::uint64_t line = 0;
    std::string text;
  };
  std::map<std::string, HeaderValue, std::less<>> header_;
  std::string lastKey_;
  NameTable users_, roles_;
  DemandTable demands_;
  std::vector<std::pair<std::int64_t, std::uint32_t>> jobsInOrder_;
  std::unordered_map<std::int64_t, std::uint32_t> jobsOutOfOrder_;
  std::uint64_t jobCount_ = 0, taskCount_ = 0;
  double widest_ = 0, maxMemKb_ = 0;
};

}  // namespace

std::unique_ptr<TraceReader> makeSwfReader(const std::string& path, const ReadOptions& options) {
  return std::make_unique<SwfReader>(path, options);
}

}  // namespace allot::traces::detail
