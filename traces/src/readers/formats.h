#pragma once

#include <map>
#include <memory>
#include <string>

#include "allot/traces/readers.h"

namespace allot::traces::detail {

// Processors of one SWF job at most, read or written: more is a corrupt line,
// not a job.
inline constexpr double kSwfMaxProcs = 1 << 20;

// What every reader shares: the report, and the final counts copied into the
// last chunk's meta as "count.<key>", with lines skipped as "skipped.<reason>"
// and the first of each as "skipped_first.<reason>" (so that a store
// converted with skipBad still says what it left out).
class ReaderBase : public TraceReader {
 public:
  const ReadReport& report() const override { return report_; }

 protected:
  void putCounts(WorkloadChunk& out) const {
    for (const auto& [key, value] : report_.counts)
      out.meta["count." + key] = std::to_string(value);
    out.meta["count.records"] = std::to_string(report_.records);
    out.meta["count.skipped_lines"] = std::to_string(report_.skipped);
    for (const auto& [reason, count] : report_.skippedByReason)
      out.meta["skipped." + reason] = std::to_string(count);
    for (const auto& [reason, error] : report_.firstSkipped)
      out.meta["skipped_first." + reason] = error;
    for (const auto& [reason, count] : leftOut_)
      out.meta["left_out." + reason] = std::to_string(count);
  }

  // A well-formed record the format marks as not replayable (SWF's -1 run
  // time): counted under `key`, and said in leftOutNote by `reason`.
  void leaveOut(const char* key, const char* reason) {
    ++report_.counts[key];
    ++leftOut_[reason];
  }

  ReadReport report_;

 private:
  std::map<std::string, std::uint64_t> leftOut_;
};

// Chunk sizes: small enough to keep memory low, large enough to amortize.
// 16,384 tasks are 2 MiB of records: a consumer that reuses its chunk touches
// those pages once (at 65,536 tasks, first-touch page faults of the chunk
// were about a quarter of the Google reader's faults on our VMs).
inline constexpr std::size_t kChunkJobs = 8192;
inline constexpr std::size_t kChunkTasks = 1 << 14;

// One factory per format; openTrace() finds them by name in a constant table.
std::unique_ptr<TraceReader> makeSwfReader(const std::string& path, const ReadOptions& options);
std::unique_ptr<TraceReader> makeGoogle2011Reader(const std::string& path,
                                                  const ReadOptions& options);
std::unique_ptr<TraceReader> makeAlibaba2017Reader(const std::string& path,
                                                   const ReadOptions& options);
std::unique_ptr<TraceReader> makeAlibaba2018Reader(const std::string& path,
                                                   const ReadOptions& options);

}  // namespace allot::traces::detail
