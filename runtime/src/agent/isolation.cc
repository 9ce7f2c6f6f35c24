#include "isolation.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <utility>

#include "files.h"
#include "runtime/executor/protocol.h"

namespace allot::runtime::agent {

int openPidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int signalPidfd(int pidfd, int signal, siginfo_t& info) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, &info, 0));
}

std::optional<UserIds> lookupUser(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return UserIds{static_cast<long>(pw.pw_uid), static_cast<long>(pw.pw_gid)};
}

namespace {

bool hasControllers(const std::string& dir) {
  auto text = readFile(dir + "/cgroup.controllers");
  if (!text) return false;
  std::istringstream in(*text);
  bool cpu = false, memory = false;
  for (std::string word; in >> word;) {
    cpu = cpu || word == "cpu";
    memory = memory || word == "memory";
  }
  return cpu && memory;
}

bool writeText(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

}  // namespace

std::string detectCgroupRoot() {
  auto mounts = readFile("/proc/self/mountinfo");
  if (!mounts) return {};
  std::string mountPoint;
  std::istringstream lines(*mounts);
  for (std::string line; std::getline(lines, line);) {
    // "... mount-point options ... - fstype source super-options"
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string skip, point;
    fields >> skip >> skip >> skip >> skip >> point;
    mountPoint = point;
    break;
  }
  if (mountPoint.empty()) return {};
  // Our own cgroup holds processes, so (no internal processes) controllers
  // can be delegated only from the root or from an empty sibling subtree.
  std::string parent = mountPoint;
  if (!hasControllers(parent)) return {};
  std::string root = parent + "/allot";
  if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) return {};
  writeText(parent + "/cgroup.subtree_control", "+cpu +memory");
  if (!hasControllers(root)) return {};
  if (!writeText(root + "/cgroup.subtree_control", "+cpu +memory")) return {};
  return root;
}

namespace {

// The state (field 3) and start time (field 22) of /proc/PID/stat.
bool readStat(pid_t pid, char& state, std::uint64_t& ticks) {
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  // The command name (field 2) may hold spaces and parentheses: count from
  // the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return false;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  fields >> state;
  for (int i = 4; i < 22 && fields >> field; ++i) {
  }
  fields >> ticks;
  return !fields.fail();
}

}  // namespace

std::uint64_t processStartTicks(pid_t pid) {
  char state = 0;
  std::uint64_t ticks = 0;
  return readStat(pid, state, ticks) ? ticks : 0;
}

bool processAlive(pid_t pid, std::uint64_t ticks) {
  char state = 0;
  std::uint64_t actual = 0;
  return readStat(pid, state, actual) && actual == ticks && state != 'Z' && state != 'X';
}

std::string defaultExecutorPath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "allot-executor";
  std::string self(buf, static_cast<std::size_t>(n));
  auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) +
         "/allot-executor";
}

namespace {

// The abstract-namespace address of `socket` (a leading NUL, no terminator).
std::optional<std::pair<sockaddr_un, socklen_t>> abstractAddress(const std::string& socket) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.empty() || socket.size() + 1 > sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path + 1, socket.data(), socket.size());
  return std::pair{addr,
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + socket.size())};
}

}  // namespace

int connectExecutor(const std::string& socket) {
  auto addr = abstractAddress(socket);
  if (!addr) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr->first), addr->second) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::optional<std::string> sendToExecutor(int fd, std::string_view message) {
  while (true) {
    const int sent = trySendToExecutor(fd, message);
    if (sent == 1) return std::nullopt;
    if (sent < 0) return std::string(std::strerror(errno));
    pollfd room{fd, POLLOUT, 0};
    const int ready = ::poll(&room, 1, 5000);
    if (ready == 0) return std::string("the executor read nothing for 5 s");
    if (ready < 0 && errno != EINTR) return std::string(std::strerror(errno));
  }
}

int trySendToExecutor(int fd, std::string_view message) {
  while (true) {
    ssize_t n = ::send(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(message.size())) return 1;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n >= 0) errno = EMSGSIZE;
    return -1;
  }
}

int listenExecutor(const std::string& socket) {
  auto addr = abstractAddress(socket);
  if (!addr) {
    errno = ENAMETOOLONG;
    return -1;
  }
  // Above the descriptors posix_spawn maps, so dup2 to 3 always copies it.
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  const int high = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  errno = saved;
  if (high < 0 ||
      ::bind(high, reinterpret_cast<const sockaddr*>(&addr->first), addr->second) != 0 ||
      ::listen(high, 64) != 0) {
    const int error = errno;
    if (high >= 0) ::close(high);
    errno = error;
    return -1;
  }
  return high;
}

StartedExecutor startExecutor(const ExecutorStart& s, const std::string& socket) {
  StartedExecutor result;
  const int high = listenExecutor(socket);
  if (high < 0) {
    result.error = "cannot create the executor's socket " + socket + ": " + std::strerror(errno);
    return result;
  }
  std::vector<std::string> args = {s.executor,
                                   "--name",
                                   s.name,
                                   "--log",
                                   s.log,
                                   "--poll-ms",
                                   std::to_string(s.pollMs),
                                   "--grace-ms",
                                   std::to_string(s.graceMs),
                                   "--idle-ms",
                                   std::to_string(s.idleMs)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string path = "PATH=/usr/local/bin:/usr/bin:/bin";
  char* envp[] = {path.data(), nullptr};

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // A new session keeps the terminal's signals away; the dispositions the
  // agent uses are reset. SIGTERM stays blocked through the exec, so one
  // sent before the executor set up its signalfd waits instead of killing it.
  sigset_t blocked, defaults;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &blocked);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The executor reports into its log and the status files; it must not
  // hold the agent's stdout and stderr open (pipes to a supervisor).
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, high, executor::kListenFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, executor::kListenFd + 1);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, s.executor.c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ::close(high);
    result.error = "cannot start " + s.executor + ": " + std::strerror(rc);
    return result;
  }
  // The listening socket exists until the executor exits: connecting now
  // queues in its backlog even before it runs.
  result.pid = pid;
  result.fd = connectExecutor(socket);
  int saved = errno;
  ::close(high);
  if (result.fd < 0) {
    result.error = std::string("cannot connect to the executor: ") + std::strerror(saved);
  }
  return result;
}

}  // namespace allot::runtime::agent
