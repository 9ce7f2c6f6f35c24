#pragma once

#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "allot/traces/workload.h"

namespace allot::traces {

// Writing a workload, or a schedule of it, as a Standard Workload Format 2.2
// log: what other simulators and the Parallel Workloads Archive's tools read.
// SWF describes a job as one rigid gang of one-processor tasks on identical
// nodes, so only workloads of that shape are written (SWF logs, the hpc-like
// preset); the reader (docs/trace-formats.md) reads the file back into the
// same workload, up to the rounding below.
//
// Every field is an integer, as the format defines: times are rounded to the
// nearest second (submit, start and end each, so that a wait plus a run time
// gives the rounded end), memory to the nearest KB per processor; a header
// note counts the jobs whose values were rounded.

// One job's schedule, written instead of what the workload records.
struct SwfJobSchedule {
  std::int64_t startUs = kUnknown;  // first start; kUnknown: never started
  std::int64_t endUs = kUnknown;    // kUnknown: did not finish
  std::int32_t status = -1;         // SWF status: 1 completed, 0 failed, 5 cancelled, -1 unknown
};

struct SwfWriteOptions {
  // One per job, in job order: a job with a start and an end gets the wait
  // start - submit and the run time end - start; any other gets wait -1 and
  // its task's duration as run time (so it still reads back as a job). Empty:
  // each job's recorded outcome (the trace's own schedule) and duration.
  std::span<const SwfJobSchedule> schedule;
  // Added to the header, each as a `; Note:` line (e.g. which run the
  // schedule is of, the version of allot).
  std::vector<std::string> notes;
};

// Why `workload` cannot be written as SWF, naming the first job or machine
// that SWF cannot describe; empty when it can. Checked before a long run
// whose schedule is to be written.
std::string swfUnwritableReason(const Workload& workload);

// Writes `workload` as SWF to `out`. Header: the SWF keys of its meta (keys
// such as Computer or UnixStartTime, kept by the SWF reader), MaxJobs,
// MaxRecords, MaxNodes, MaxProcs and MaxMemory of what is written, then the
// notes. Job numbers are the trace's (each job's index + 1 when a job has
// none); users and queues keep their numbers when the names are numbers,
// else are numbered in table order (a note lists the names). Throws
// InvalidArgument with swfUnwritableReason, before writing anything.
void writeSwf(const Workload& workload, std::ostream& out, const SwfWriteOptions& options = {});

// To a file, gzip-compressed when `path` ends in ".gz", written whole or not
// at all (WholeFile). Throws Error naming the path when it cannot be written.
void writeSwfFile(const std::string& path, const Workload& workload,
                  const SwfWriteOptions& options = {});

}  // namespace allot::traces
