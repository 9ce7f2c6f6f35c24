#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "allot/core/error.h"

namespace allot::runtime {

// What a configuration file holds, read again when the file changes (its
// size or modification time), so an operator edits it without a restart: the
// master's CURVE clients file and its ACLs. An edit that does not read keeps
// the last good value and is reported once (not on every look).
template <class T>
class ReloadingFile {
 public:
  // Reads `path` with `read`, which throws allot::Error naming what is wrong;
  // this first read's error propagates.
  ReloadingFile(std::string path, std::function<T(const std::string&)> read)
      : path_(std::move(path)), read_(std::move(read)) {
    stamp_ = stampOf(path_);
    value_ = read_(path_);
  }

  // The value, re-read first when the file changed. When the new version
  // does not read, `warn` hears the error (once per distinct error) and the
  // last good value stays.
  const T& get(const std::function<void(const std::string&)>& warn) {
    const Stamp now = stampOf(path_);
    if (now != stamp_) {
      // The stamp is taken before reading: a change during the read is
      // seen next time.
      stamp_ = now;
      try {
        value_ = read_(path_);
        lastError_.clear();
      } catch (const Error& e) {
        if (e.what() != lastError_ && warn) warn(e.what());
        lastError_ = e.what();
      }
    }
    return value_;
  }

  // The value as last read, without looking at the file.
  const T& value() const { return value_; }
  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    std::int64_t mtimeNs = -1;
    std::int64_t sizeBytes = -1;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stampOf(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
            static_cast<std::int64_t>(st.st_size)};
  }

  std::string path_;
  std::function<T(const std::string&)> read_;
  T value_{};
  Stamp stamp_;
  std::string lastError_;
};

}  // namespace allot::runtime
