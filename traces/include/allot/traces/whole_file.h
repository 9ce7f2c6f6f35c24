#pragma once

#include <string>

namespace allot::traces {

// An output file written whole or not at all: written as `partial`, beside
// `target`, and renamed over it by commit(), so that a write that fails, is
// interrupted or crashes leaves what `target` held (and, at worst, a
// .partial file). `target` is the path given, or the file a symbolic link
// there names. The workload store and the simulator's result files use it.
struct WholeFile {
  // Throws Error when `path` names something other than a regular file (a
  // device such as /dev/null, a folder): renaming over it would replace it.
  explicit WholeFile(const std::string& path);
  // Renames `partial` over `target`; throws Error naming `path`.
  void commit() const;
  // Removes `partial`, if there; never throws.
  void discard() const noexcept;
  // The partial file of `target` (for cleaning up after a killed writer).
  static std::string partialOf(const std::string& target) { return target + ".partial"; }

  std::string path, target, partial;
};

}  // namespace allot::traces
