#pragma once

// Shared by the libFuzzer targets of the trace readers: turns a fuzz input
// into files on disk (the readers take paths, and the gzip sniffing, part
// listing and line splitting are part of what is fuzzed) and reads them.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/error.h"
#include "allot/traces/readers.h"

namespace allot::fuzz {

// This process's scratch folder, under /dev/shm when there is one (inputs
// are written for every run). Left behind on exit: it is small.
inline const std::filesystem::path& scratchDir() {
  static const std::filesystem::path dir = [] {
    std::error_code error;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", error)
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    auto path = base / ("allot-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

inline void writeFile(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Splits the input at lines holding only "@@" into at most `count` parts
// (the last part keeps any further separators).
inline std::vector<std::string_view> splitParts(std::string_view data, std::size_t count) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < count) {
    const std::size_t at = data.find("\n@@\n");
    if (at == std::string_view::npos) break;
    parts.push_back(data.substr(0, at + 1));
    data.remove_prefix(at + 4);
  }
  parts.push_back(data);
  parts.resize(count);
  return parts;
}

// Options from the first input byte, so both error paths get fuzzed.
inline traces::ReadOptions optionsFrom(std::string_view data) {
  traces::ReadOptions options;
  options.skipBad = !data.empty() && (static_cast<unsigned char>(data.front()) & 1U) != 0;
  return options;
}

// Reads the trace through the streaming reader. allot::Error is the
// documented answer to bad input; any other exception escapes and libFuzzer
// reports it as a crash, as it does sanitizer findings.
inline void readExpectingOnlyErrors(const std::string& path, std::string_view format,
                                    const traces::ReadOptions& options) {
  try {
    auto reader = traces::openTrace(path, format, options);
    traces::WorkloadChunk chunk;
    // The chunk contract must hold whatever the input: global indexes,
    // tasks grouped by job in job order, every task record standing for at
    // least one instance and naming a demand of this or an earlier chunk,
    // dependencies on known jobs.
    std::uint64_t jobs = 0, tasks = 0, demands = 0;
    while (reader->next(chunk)) {
      demands += chunk.demands.size();
      std::size_t next = 0;
      for (const auto& job : chunk.jobs) {
        if (job.firstTask != tasks + next) __builtin_trap();
        for (std::uint32_t t = 0; t < job.taskCount; ++t, ++next) {
          if (next >= chunk.tasks.size() || chunk.tasks[next].job != jobs) __builtin_trap();
          if (chunk.tasks[next].count == 0) __builtin_trap();
          if (chunk.tasks[next].demand >= demands) __builtin_trap();
        }
        for (const auto dep : job.dependsOn) {
          if (dep > jobs + chunk.jobs.size()) __builtin_trap();
        }
        ++jobs;
      }
      if (next != chunk.tasks.size()) __builtin_trap();
      tasks += chunk.tasks.size();
    }
  } catch (const Error&) {
  }
}

}  // namespace allot::fuzz
