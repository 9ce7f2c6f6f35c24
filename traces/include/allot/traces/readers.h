#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "allot/traces/workload.h"

namespace allot::traces {

// Readers of raw cluster-trace formats ("swf", "google2011", "alibaba2017",
// "alibaba2018"), found by name through openTrace(). Every reader streams its
// input (gzip or plain text, detected by the magic bytes), so memory stays
// bounded by the reader's open state, not by the file size; exceptions are
// stated per format in traceFormats().
//
// Task records: readers merge identical instances into one Task with
// Task::count (see workload.h). swf: one record per job, count = processors;
// alibaba2017: one per batch_task row, count = instances; alibaba2018: one
// per batch_instance row (count 1), or for a task without instance rows one
// with count = instance_num; google2011: one per attempt (count 1).
//
// Bad input: a malformed line throws allot::ParseError whose message reads
//   "FILE:LINE: column N (NAME): bad value 'VALUE': REASON"
// (or "FILE:LINE: REASON" when no single column is at fault). With
// ReadOptions::skipBad the line is skipped instead and counted by reason in
// ReadReport::skippedByReason. Unreadable files and corrupt gzip data throw
// allot::Error naming the file.

struct ReadOptions {
  // Count and skip malformed lines instead of throwing.
  bool skipBad = false;
  // google2011: machine table CSV ("count,platform,cpu,memory", '#' comments)
  // used when there is no machine_events; alibaba2018: machine_meta file.
  // Empty: found beside the main input (google2011/machines.csv,
  // machine_meta.csv[.gz]) when present.
  std::string machinesFile;
  // google2011: job_events and machine_events (file or directory of parts).
  // Empty: the job_events/ and machine_events/ folders beside task_events/.
  std::string jobEvents, machineEvents;
  // alibaba2018: batch_instance file. Empty: batch_instance.csv[.gz] beside
  // batch_task when present. Held in memory while reading (it is joined with
  // batch_task), so give only excerpts of the real 1.3-billion-row table.
  std::string batchInstance;
  // Called now and then with bytes read of the (compressed) main input and
  // its total size. May be empty. Called on the reading thread.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct ReadReport {
  std::uint64_t lines = 0;    // input lines seen, header and comments included
  std::uint64_t records = 0;  // data lines accepted
  std::uint64_t skipped = 0;  // malformed lines skipped (skipBad only)
  std::map<std::string, std::uint64_t> skippedByReason;  // reason -> count
  // reason -> the error of the first line skipped for it (FILE:LINE: ...),
  // so that the other lines of that kind can be found.
  std::map<std::string, std::string> firstSkipped;
  // Reader notes: records that are well formed but need a decision, e.g.
  // "running_at_start", "cut_at_end", "zero_processors". Each key is
  // explained in the format's section of docs and in the reader's source.
  std::map<std::string, std::uint64_t> counts;
};

struct FormatInfo {
  std::string name, description;
};

// The formats openTrace() knows, in a fixed order.
std::vector<FormatInfo> traceFormats();

// A piece of a workload. Chunks are meant to be concatenated in the order a
// reader yields them (appendChunk): every index in a chunk is global, i.e. it
// counts the items of all earlier chunks too (Task::job, Job::firstTask,
// Job::dependsOn, Job::user, Job::role, Task::demand, MachineEvent::machine).
// Task indexes count records, not instances.
//
// Order: jobs come in the order the reader completes them. That is submit
// order for swf and alibaba2017 files sorted by time, but for google2011 it
// is the order in which jobs end, so a consumer that needs Workload's
// submit-time order calls sortJobsBySubmit() on the collected workload.
// Machines may come in any chunk (swf sends them last, because it infers
// machine memory from the jobs); a machine with no kAdd event is present
// from time 0.
struct WorkloadChunk {
  DimensionsPtr dims = Dimensions::standard();  // the same table in every chunk
  std::map<std::string, std::string> meta;      // entries to set (later chunks win)
  std::vector<Machine> machines;                // appended to Workload::machines
  std::vector<MachineEvent> machineEvents;      // appended; sorted by time per chunk
  std::vector<std::string> users, roles;        // appended to the name tables
  std::vector<Job> jobs;                        // appended
  std::vector<Task> tasks;                      // records, appended, grouped by job
  std::vector<Scalars> demands;                 // appended to Workload::demands

  void clear();
  bool empty() const;
};

// A streaming reader of one trace. Not copyable; not thread safe.
class TraceReader {
 public:
  TraceReader() = default;
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;
  virtual ~TraceReader() = default;

  // Clears `out` and fills it with the next piece of the workload. Returns
  // false, with `out` empty, once the trace is exhausted; the last chunk
  // before that carries the final counts in meta ("count.records",
  // "count.skipped_lines", "count.<key>" for each ReadReport::counts key).
  // Throws ParseError on a malformed line unless skipBad.
  virtual bool next(WorkloadChunk& out) = 0;

  // Counts so far; final once next() returned false.
  virtual const ReadReport& report() const = 0;
};

// Opens `path` as a trace of `format` (a name from traceFormats()). What
// `path` may be depends on the format: an .swf[.gz] file; a google2011
// folder (with task_events/), task_events folder of parts or one part; an
// alibaba batch_task file or the folder holding it. Throws InvalidArgument
// for an unknown format name (the message lists the known ones) and Error
// when an input cannot be opened, or when `options` name an input file that
// `format` does not read (see checkReadOptions).
std::unique_ptr<TraceReader> openTrace(const std::string& path, std::string_view format,
                                       const ReadOptions& options = {});

// Throws InvalidArgument when `options` name an input file (machine table,
// job_events, machine_events, batch_instance) that a trace of `format`
// ("h5" included) does not read: such a file would be ignored, yet recorded
// in results as if it had been used.
void checkReadOptions(const std::string& path, std::string_view format, const ReadOptions& options);

// Reads the whole trace into memory: collects the stream with appendChunk
// and sorts jobs by submit time. The report, when given, receives the
// reader's final report.
Workload readWorkload(const std::string& path, std::string_view format,
                      const ReadOptions& options = {}, ReadReport* report = nullptr);

// Appends a chunk to a workload (moves its vectors). REQUIRES: chunks are
// appended in the order one reader produced them, starting from an empty
// workload.
void appendChunk(Workload& workload, WorkloadChunk&& chunk);

// Sorts jobs by submit time (stable: ties keep their order) and reorders
// tasks to follow, remapping Task::job, Job::firstTask and Job::dependsOn.
void sortJobsBySubmit(Workload& workload);

}  // namespace allot::traces
