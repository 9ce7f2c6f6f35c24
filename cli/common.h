#pragma once

// Pieces shared by the subcommands: progress display, time formatting and the
// flags that choose how a workload is read.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "allot/core/time.h"
#include "allot/traces/load.h"

namespace allot::cli {

// Progress on stderr. On a terminal, a one-line bar redrawn at most once per
// percent or when the note after it changes. Elsewhere (logs of long batch
// runs), a plain line every kLogInterval, none for runs shorter than that, so
// short runs and pipes stay clean.
class ProgressBar {
 public:
  static constexpr std::chrono::seconds kLogInterval{30};

  explicit ProgressBar(std::string label);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { finish(); }

  // A callback for readers and writers.
  std::function<void(std::uint64_t, std::uint64_t)> callback();
  void update(std::uint64_t done, std::uint64_t total, const std::string& note = "");
  // Prints `line` on a line of its own above the bar, which the next update
  // draws again.
  void print(const std::string& line);
  void finish();

 private:
  std::string label_;
  bool terminal_;
  bool drawn_ = false;
  int last_ = -1;
  std::string lastNote_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastLine_ = start_;
};

double secondsSince(std::chrono::steady_clock::time_point start);

// Ctrl-C (SIGINT) and SIGTERM during long work that writes files, held back
// (blocked) while an instance lives and polled by the work's progress
// callbacks: the work then unwinds (Interrupted), removes what it had half
// written and exits with 128 + the signal (interruptedExit), instead of
// dying with partial files behind. Forked children inherit the mask. A
// signal still held at the end (it came as the work finished) is consumed.
class HeldSignals {
 public:
  HeldSignals();
  ~HeldSignals();
  HeldSignals(const HeldSignals&) = delete;
  HeldSignals& operator=(const HeldSignals&) = delete;

  // The held signal, or 0.
  int pending() const;

 private:
  sigset_t set_{};
  sigset_t previous_{};
};

// Thrown by a progress callback when a signal is held.
struct Interrupted {
  int signal;
};

// Prints "allot: interrupted by signal N (NAME): WHAT" and throws what makes
// the command exit with 128 + the signal.
[[noreturn]] void interruptedExit(int signal, const std::string& what);

// Parses a duration flag: "1.5s", "250ms", "500us", "2m", "1h", or a bare
// number of seconds. Zero is refused unless `allowZero` (where 0 means
// "never"). Throws ParseError naming the flag and the text.
Duration parseDuration(const std::string& flag, const std::string& text, bool allowZero = false);

// A CLI11 check of a finite number (CLI11's ranges let NaN through) of
// `unit` from `min` (exclusive when `aboveMin`) to `max`. `seconds`: the
// number is a time, and a positive one below allot's 1 us resolution, which
// would become 0 (roundsToZero), is refused too.
CLI::Validator numberFlag(const char* unit, double min, double max, bool aboveMin = false,
                          bool seconds = false);
// numberFlag of seconds, `min` inclusive.
inline CLI::Validator secondsFlag(double min, double max = 1e300) {
  return numberFlag("seconds", min, max, /*aboveMin=*/false, /*seconds=*/true);
}
// A CLI11 check of a whole number from `min` to `max`. CLI11's own
// conversion lets "-1" wrap to 2^64 - 1 in an unsigned option and says only
// "Could not convert" where a value overflows the option's type.
CLI::Validator wholeNumberFlag(std::uint64_t min, std::uint64_t max);
// A seed: 0 to 2^63 - 1 (policies take their seed as a signed 64-bit parameter).
inline constexpr std::uint64_t kMaxSeed = std::numeric_limits<std::int64_t>::max();
inline CLI::Validator seedFlag() {
  return wholeNumberFlag(0, kMaxSeed);
}

// Logs of a runtime process (`allot master`, `agent`, `run`) go to stderr,
// tagged with `name`, at `level` (trace, debug, info, warn, error, off).
void setUpLogging(const std::string& name, const std::string& level);

// "3d 04:05:06" style for spans of simulated time.
std::string formatSpan(std::int64_t us);

// A rate with a unit prefix that keeps three significant digits or so:
// "850", "7.6 k", "1.47 M" (a bare M with two decimals showed 0.00 for the
// thousands of events per second of a small trace).
std::string formatRate(double perSecond);

// How to read a workload: --format, --skip-bad and the per-format side files.
struct ReaderFlags {
  std::string format = "auto";
  bool skipBad = false;
  std::string machines, jobEvents, machineEvents, batchInstance;
  std::string cluster;  // N*RESOURCES: replaces the machine table (traces::useUniformCluster)
  std::optional<double> loadFactor;  // scales the offered load (traces::scaleLoad)

  void add(CLI::App* cmd);
  traces::ReadOptions options() const;
};

// Throws InvalidArgument when `output` is one of the files a read of `trace`
// with `flags` takes as input (the trace, a file in its folder, a side file),
// under any name (a link, a relative path): writing it would destroy the
// input. `option` names the output flag in the message.
void refuseOverwritingInput(const std::string& output, const std::string& option,
                            const std::string& trace, const ReaderFlags& flags);

// Loads a workload with a "reading" progress bar, on --cluster's machines when
// given.
traces::Workload load(const std::string& path, const ReaderFlags& flags,
                      traces::ReadReport* report);

}  // namespace allot::cli
