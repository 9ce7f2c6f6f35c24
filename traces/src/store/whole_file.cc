#include "allot/traces/whole_file.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "allot/core/error.h"

namespace allot::traces {

namespace fs = std::filesystem;

WholeFile::WholeFile(const std::string& path_) : path(path_), target(path_) {
  std::error_code error;
  const fs::file_status link = fs::symlink_status(path, error);
  if (fs::is_symlink(link)) {
    target = fs::weakly_canonical(path, error).string();
    if (error) throw Error(path + ": cannot follow the symbolic link (" + error.message() + ")");
  }
  const fs::file_status status = fs::status(target, error);
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    throw Error(path + ": exists and is not a regular file; give the path of a file to write");
  }
  partial = partialOf(target);
  // One left by a write that was killed is not reused: HDF5 would open it as
  // it is, keeping its mode (a stale partial of mode 000 gave a result file
  // no one could read).
  fs::remove(partial, error);
}

void WholeFile::commit() const {
  std::error_code error;
  fs::rename(partial, target, error);
  if (error) {
    discard();
    throw Error(path + ": cannot move the written file into place from " + partial + " (" +
                error.message() + ")");
  }
}

void WholeFile::discard() const noexcept {
  std::error_code ignored;
  fs::remove(partial, ignored);
}

}  // namespace allot::traces
