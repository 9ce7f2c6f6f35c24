#pragma once

#include "allot/traces/readers.h"
#include "src/readers/fields.h"
#include "src/readers/formats.h"

namespace allot::traces::detail {

// The loop of every line-by-line reader's next(): takes lines from `in`
// until `out` holds kChunkJobs jobs or kChunkTasks task records, or the input
// ends. Each line is counted in report.lines; empty lines are skipped; the
// others go to `parse(line)`, which adds what the line says to `out` and
// returns true when the line was a record (counted in report.records) or
// false when it was not (a header). A malformed line throws BadLine, which is
// rethrown, or with options.skipBad counted by reason and skipped. Reports
// progress once per call. Returns true when the chunk is full, false once
// the input has ended.
//
// `in` is a line source: `bool next(Line&)` (false at the end of the input),
// `bytesRead()`, and a `Line` type with `empty()` (LineReader, PartsReader:
// std::string_view).
template <class Lines, class Parse>
bool fillChunk(Lines& in, const WorkloadChunk& out, const ReadOptions& options, ReadReport& report,
               Progress& progress, Parse&& parse) {
  typename Lines::Line line{};
  bool full = true;
  while (out.jobs.size() < kChunkJobs && out.tasks.size() < kChunkTasks) {
    if (!in.next(line)) {
      full = false;
      break;
    }
    ++report.lines;
    if (line.empty()) continue;
    guardLine(options, report, [&] { return parse(line); });
  }
  progress.update(in.bytesRead());
  return full;
}

}  // namespace allot::traces::detail
