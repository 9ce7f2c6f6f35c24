#pragma once

// `allot sim` and `allot trace` restart themselves once, at start, with
// glibc's heap on transparent huge pages (the glibc tunable
// glibc.malloc.hugetlb=1; glibc 2.35 and later).
//
// Why: a replay's hot state is many small heap objects per agent (resources,
// decline filters). Where the kernel hands out huge pages only on request
// (THP "madvise", as on our VMs), they sit on 4 KiB pages, and how many pages
// a round touches then depends on where the heap happened to put them: the
// same Google replay ran 11-13 s or 14-24 s for unrelated changes that moved
// them. On huge pages it runs 11.5-12.7 s either way, and the run's page
// faults drop 7-10x (bench/RESULTS.md). The tunable only works from a
// process's start, hence the restart: about 30 ms on our VM (the binary and
// its libraries loaded again), against seconds saved on a large replay.
//
// Only where the kernel gives huge pages on request alone: with THP
// "always" the heap has them already, with "never" the tunable does nothing.
//
// The user's word stands: a GLIBC_TUNABLES that already names the tunable
// (e.g. glibc.malloc.hugetlb=0, to turn this off) is left as it is, and so is
// everything else in it. The servers (`allot master`, `allot agent`) never
// restart: their children, users' tasks, inherit the environment.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace allot::cli {

inline constexpr std::string_view kHugeHeapTunable = "glibc.malloc.hugetlb";

// The GLIBC_TUNABLES value to restart with, given the current one (null when
// unset); nullopt when the current one names the tunable already.
inline std::optional<std::string> hugeHeapTunables(const char* current) {
  const std::string_view now = current != nullptr ? current : "";
  if (now.find(kHugeHeapTunable) != std::string_view::npos) return std::nullopt;
  std::string value = std::string(kHugeHeapTunable) + "=1";
  if (!now.empty()) value = std::string(now) + ":" + value;
  return value;
}

inline constexpr const char* kThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

// Returns true iff the kernel gives transparent huge pages on request only
// (its setting reads "always [madvise] never").
inline bool hugePagesOnRequestOnly() {
  std::ifstream in(kThpSetting);
  std::string setting;
  std::getline(in, setting);
  return setting.find("[madvise]") != std::string::npos;
}

// Restarts this process (the same executable and arguments) with the tunable
// set, or returns when there is nothing to do or the restart fails (the run
// then goes on as it is: the restart is an optimisation, never a
// requirement).
inline void restartWithHugeHeap(char** argv) {
  const char* current = std::getenv("GLIBC_TUNABLES");
  const std::optional<std::string> value = hugeHeapTunables(current);
  if (!value || !hugePagesOnRequestOnly()) return;
  const std::optional<std::string> before =
      current != nullptr ? std::optional<std::string>(current) : std::nullopt;
  if (::setenv("GLIBC_TUNABLES", value->c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Still here: the restart failed. Leave the environment as it was.
  if (before) {
    ::setenv("GLIBC_TUNABLES", before->c_str(), 1);
  } else {
    ::unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace allot::cli
