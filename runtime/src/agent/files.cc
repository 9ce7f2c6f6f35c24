#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "allot/core/hash.h"

namespace allot::runtime::agent {

UniqueFd::~UniqueFd() {
  if (fd >= 0) ::close(fd);
}

std::string escapeName(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(id.size());
  for (std::size_t i = 0; i < id.size(); ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && i > 0);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  // An empty id still names a file. (push_back: GCC 12's -Wrestrict misreads
  // assigning a literal here, PR105329, and Release builds printed it.)
  if (out.empty()) out.push_back('%');
  return out;
}

std::string fitName(std::string name) {
  if (name.size() <= kMaxNameStem) return name;
  const std::uint64_t h = fnv1a64(name);
  static constexpr char kHex[] = "0123456789abcdef";
  name.resize(200);
  name += '~';
  for (int shift = 60; shift >= 0; shift -= 4) name += kHex[(h >> shift) & 15];
  return name;
}

std::string Layout::taskStem(std::string_view frameworkId, std::string_view taskId) const {
  return tasksDir() + "/" + fitName(escapeName(frameworkId) + "+" + escapeName(taskId));
}

std::string Layout::frameworkDir(std::string_view frameworkId) const {
  return workDir + "/frameworks/" + escapeName(frameworkId);
}

std::string Layout::sandbox(std::string_view frameworkId, std::string_view taskId) const {
  return frameworkDir(frameworkId) + "/tasks/" + escapeName(taskId);
}

std::optional<std::string> writeAtomically(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string error = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return error;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string error = "cannot replace " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return error;
  }
  return std::nullopt;
}

namespace {

// Enough to tell a torn record from a whole one.
std::uint32_t checksum(std::string_view data) {
  return fnv1a32(data);
}

void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint32_t getU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::optional<std::string> appendRecord(const std::string& path, std::string_view record) {
  std::string frame;
  frame.reserve(record.size() + 8);
  putU32(frame, static_cast<std::uint32_t>(record.size()));
  putU32(frame, checksum(record));
  frame.append(record);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot open " + path + ": " + std::strerror(errno);
  ssize_t n;
  do {
    n = ::write(fd, frame.data(), frame.size());
  } while (n < 0 && errno == EINTR);
  std::optional<std::string> error;
  if (n != static_cast<ssize_t>(frame.size())) {
    error = "cannot append to " + path + ": " + (n < 0 ? std::strerror(errno) : "short write");
  }
  ::close(fd);
  return error;
}

std::optional<Records> readRecords(const std::string& path) {
  auto data = readFile(path);
  if (!data) return std::nullopt;
  Records out;
  std::size_t at = 0;
  while (at < data->size()) {
    if (data->size() - at < 8) {
      out.problem = "torn record header";
      break;
    }
    std::uint32_t size = getU32(data->data() + at);
    std::uint32_t sum = getU32(data->data() + at + 4);
    if (data->size() - at - 8 < size) {
      out.problem = "torn record";
      break;
    }
    std::string_view record(data->data() + at + 8, size);
    if (checksum(record) != sum) {
      out.problem = "record with a bad checksum";
      break;
    }
    out.records.emplace_back(record);
    at += 8 + size;
  }
  if (!out.problem.empty()) {
    out.problem += " at byte " + std::to_string(at) + "; cut there";
    if (::truncate(path.c_str(), static_cast<off_t>(at)) != 0) {
      out.problem += std::string(" (truncate failed: ") + std::strerror(errno) + ")";
    }
  }
  return out;
}

std::optional<std::string> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

int openBeneath(const std::string& root, std::string_view path, int flags) {
  UniqueFd dir;
  // Directories on the way are opened O_PATH: they need to be searchable,
  // not readable (a task may make one mode 0111).
  dir.fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir.fd < 0) return -1;
  // O_DIRECTORY | O_NOFOLLOW on a symbolic link fails with ENOTDIR: say
  // ELOOP then, as for a file.
  const auto linkSays = [&dir](const char* name) {
    const int error = errno;
    struct stat st {};
    const bool link = error == ENOTDIR && ::fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      S_ISLNK(st.st_mode);
    return link ? ELOOP : error;
  };
  // The last open's errno, not the closing's, is the caller's.
  const auto last = [&dir, &linkSays](const char* name, int lastFlags) {
    const int fd = ::openat(dir.fd, name, lastFlags | O_CLOEXEC);
    const int error = fd < 0 ? linkSays(name) : 0;
    ::close(dir.fd);
    dir.fd = -1;
    errno = error;
    return fd;
  };
  if (path.empty()) return last(".", flags);
  std::string part;
  for (std::size_t at = 0;;) {
    const std::size_t slash = path.find('/', at);
    part.assign(path.substr(at, slash == std::string_view::npos ? path.npos : slash - at));
    if (slash == std::string_view::npos) {
      return last(part.c_str(), flags | O_NOFOLLOW);
    }
    const int next = ::openat(dir.fd, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      errno = linkSays(part.c_str());
      return -1;
    }
    ::close(dir.fd);
    dir.fd = next;
    at = slash + 1;
  }
}

}  // namespace allot::runtime::agent
