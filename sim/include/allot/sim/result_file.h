#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "allot/sim/result.h"
#include "allot/traces/whole_file.h"

namespace allot::sim {

// The version of allot that wrote a result file: the project version and the
// git commit of the build ("0.1.0+g1a2b3c4", "-dirty" for uncommitted code).
std::string_view codeVersion();

// One HDF5 file holding the results of one or more runs of the same
// workload, with the run configuration (JSON) and the code version:
//
//   /                      attrs: allot_format = "allot-sim-result",
//                          allot_format_version, allot_version, config (JSON)
//   /runs/<label>/         attrs: policy, params (JSON)
//       dims, roles        names of the scalar dimensions and of the roles
//       frameworks/        name, role
//       jobs/              job, trace_id, user, role, framework, submit_us,
//                          ready_us, first_start_us, end_us, work_us,
//                          instances, lost_instances, state
//       tasks/             job, task, count, machine, attempt, ready_us,
//                          start_us, end_us, state
//       timeseries/        time_us, used, allocated, total (samples x dims),
//                          pending, running, offers, role_share
//                          (samples x roles), jain
//       summary/           name, value
//       integrals/         used, capacity (unit-seconds per dimension)
//
// Times are simulated microseconds; -1 stands for "never" (a job that never
// started or finished). States are the numeric values of JobState and
// TaskState. The same results give the same bytes (no timestamps stored).
//
// The file is written as PATH.partial and renamed over PATH when committed,
// so a run that crashes or is killed leaves what PATH held before (and a
// .partial file), never a truncated result file in its place.
class ResultFile {
 public:
  // Creates (truncates) PATH.partial. Throws Error naming the path on failure.
  ResultFile(const std::string& path, std::string_view configJson);
  // Commits, unless committed or discarded already (an exception on its way
  // keeps the runs written so far), or discards when no run was written
  // (PATH keeps what it held); errors are ignored here.
  ~ResultFile();
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  // Writes one run under /runs/<label>. Throws InvalidArgument for a label
  // already written or one containing '/'.
  void write(std::string_view label, const Result& result, std::string_view paramsJson);
  // Copies the run `label` of the result file `from` (written by another
  // process) into this file.
  void copyRun(const std::string& from, std::string_view label);
  // Closes the file and renames it over `path`. Throws Error naming the path.
  void commit();
  // Closes and removes the file: `path` keeps what it held before.
  void discard();

 private:
  std::string path_;
  traces::WholeFile out_;  // written as out_.partial until commit()
  std::int64_t file_;      // an hid_t, kept out of this header; -1 once closed
  std::size_t runs_ = 0;   // written or copied
};

// The labels of the runs in a result file, and the summary of one run.
std::vector<std::string> readRunLabels(const std::string& path);
std::map<std::string, double> readSummary(const std::string& path, std::string_view label);

}  // namespace allot::sim
