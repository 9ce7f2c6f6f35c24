#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "allot/traces/readers.h"
#include "allot/traces/workload.h"

namespace allot::traces {

// The one entry point for reading a workload, whatever its form: an allot
// HDF5 store (.h5) or a raw trace in a format of traceFormats(). Everything
// in allot that reads a workload goes through loadWorkload.

// Format names loadWorkload accepts: "auto", "h5" (the store) and every name
// of traceFormats().
std::vector<FormatInfo> loadFormats();

// Guesses the format of `path`: "h5" for any file with the HDF5 signature
// (whatever its name); "swf" for *.swf[.gz] or text starting with ';' header
// comments or 18 numeric fields; "google2011" for a path through a
// task_events folder or a folder holding task_events/; "alibaba2017" or
// "alibaba2018" for batch_task files (told apart by the v2017 header line or
// the column count). Throws Error naming the path and the known formats when
// it cannot tell, or when the path does not exist.
std::string detectFormat(const std::string& path);

// Loads the workload at `path`. `format` is "auto" (detectFormat), "h5", or
// a raw format name (passed to readWorkload with `options`). For "h5", only
// options.progress is used and `report` gets records = jobs and counts
// {"jobs", "task_records", "task_instances", "machines"}. Throws
// InvalidArgument for an unknown format name, Error/ParseError as the store
// and readers do.
Workload loadWorkload(const std::string& path, std::string_view format = "auto",
                      const ReadOptions& options = {}, ReadReport* report = nullptr);

// What a read with skipBad left out, from the workload's meta (so also for a
// store converted that way), e.g. "2 malformed lines skipped: 1 with run_time:
// not a number (first: log.swf:4: column 4 (run_time): bad value 'ten': not a
// number), 1 with wrong number of fields (first: log.swf:5: ...)"; empty when
// nothing was.
// Everything that replays a workload says it, so that no skip goes unseen.
std::string skippedLinesNote(const Workload& w);

// Well-formed records the reader left out because the format marks them as
// not replayable, from the workload's meta ("left_out.<reason>"), e.g. "3
// records left out: 2 with run time unknown (-1), 1 with no processor
// count"; empty when none were. Said wherever skippedLinesNote is.
std::string leftOutNote(const Workload& w);

}  // namespace allot::traces
