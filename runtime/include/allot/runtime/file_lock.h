#pragma once

#include <string>
#include <string_view>

namespace allot::runtime {

// An exclusive flock(2) on a file, held until destroyed (or the process
// dies): what keeps two agents, or two masters, off one work directory. The
// holder's pid is written into the file so that the next one can be named.
class FileLock {
 public:
  // Takes the lock on `path` (created with mode 0600) without waiting.
  // Throws allot::Error "`inUse` (pid N holds PATH)" when another process
  // holds it, and an error naming the file when it cannot be opened.
  FileLock(const std::string& path, std::string_view inUse);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace allot::runtime
