// allot-executor: runs the tasks of ONE framework on an agent and outlives
// the agent.
//
// The agent starts one executor per framework (posix_spawn, new session),
// handing it a listening socket as fd 3, and sends it LAUNCH, KILL and EXIT
// messages (protocol.h). For each task the executor creates the sandbox,
// starts `/bin/sh -c COMMAND` in its own session and process group (as the
// task user when given), enforces the memory limit (a cgroup v2 per task
// when the agent names one, else by polling the resident size of the task's
// process tree), carries out kill requests (SIGTERM, then SIGKILL after the
// grace period), runs the task's health check if it has one (a command, a
// TCP connection or an HTTP(S) GET, each in a child of its own; HEALTH tells the
// agent of each change, and too many failures in a row kill the task) and
// finally writes the outcome atomically to the task's status file, then
// tells the agent ENDED. Because the outcome is a file and
// the executor is not tied to the agent, tasks survive an agent crash and a
// restarted agent reads what happened meanwhile, connecting again.
//
// The executor exits when it has no task left and the agent sent EXIT, or
// no agent has been connected for --idle-ms. SIGTERM kills every task (the
// queued int value, when sent with sigqueue(), is the grace period in
// milliseconds) and then exits.
//
// Status file, one "key value" per line:
//   wait_status <raw wait status of the task, -1 when it never ran>
//   killed <1 when a kill was requested>
//   reason <MEMORY_LIMIT | EXECUTOR_ERROR | TASK_UNHEALTHY_CHECK | empty>
//   message <for a person, may be empty>
//
// Its start-up is paid once per framework and agent, not per task; it links
// the C and C++ runtimes and OpenSSL (HTTPS checks), statically.

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol.h"

namespace {

using allot::executor::Launch;
namespace executor = allot::executor;

struct Options {
  std::string name;     // for the log: the framework and agent work dir
  std::string log;      // the executor's own log file; empty: stderr
  int pollMs = 100;     // memory polling period (tasks without a cgroup)
  int graceMs = 3000;   // SIGTERM -> SIGKILL for a plain SIGTERM to the executor
  int idleMs = 60'000;  // no task and no agent for this long: exit
};

struct Outcome {
  int waitStatus = -1;
  bool killed = false;
  std::string reason;
  std::string message;
};

int gLogFd = 2;  // the executor's own complaints; a task's go to its stderr

void diag(int fd, const std::string& text) {
  std::string line = "allot-executor: " + text + "\n";
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
}

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

bool writeAll(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool writeFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = writeAll(fd, data);
  return ::close(fd) == 0 && ok;
}

// What is left to read on `fd` (to its end, or its first error), which is
// then closed.
std::string readToEnd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  return readToEnd(fd);
}

// Written to a temp file and renamed, so the agent never reads half a status.
void writeStatus(const std::string& statusFile, const Outcome& r) {
  std::string text = "wait_status " + std::to_string(r.waitStatus) + "\nkilled " +
                     (r.killed ? "1" : "0") + "\nreason " + r.reason + "\nmessage ";
  for (char c : r.message) text += (c == '\n' ? ' ' : c);
  text += "\n";
  std::string tmp = statusFile + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !writeAll(fd, text) || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), statusFile.c_str()) != 0) {
    diag(gLogFd, errnoText("cannot write status file " + statusFile));
  }
}

bool mkdirs(const std::string& path) {
  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string prefix = path.substr(0, i);
      if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}

std::int64_t nowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Resident bytes of `pid` and its descendants (through /proc/PID/task/PID/children).
std::uint64_t treeRss(pid_t pid, long pageSize, int depth = 0) {
  std::string statm = readFile("/proc/" + std::to_string(pid) + "/statm");
  if (statm.empty()) return 0;
  std::uint64_t pages = 0;
  const char* space = std::strchr(statm.c_str(), ' ');
  if (space != nullptr) pages = std::strtoull(space + 1, nullptr, 10);
  std::uint64_t total = pages * static_cast<std::uint64_t>(pageSize);
  if (depth > 64) return total;
  std::string children =
      readFile("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  const char* p = children.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    long child = std::strtol(p, &end, 10);
    if (end == p) break;
    if (child > 0) total += treeRss(static_cast<pid_t>(child), pageSize, depth + 1);
    p = end;
  }
  return total;
}

std::uint64_t toMb(std::uint64_t bytes) {
  return (bytes + (1u << 19)) >> 20;
}

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (arg == "--name") {
      o.name = v;
    } else if (arg == "--log") {
      o.log = v;
    } else if (arg == "--poll-ms") {
      o.pollMs = static_cast<int>(std::strtol(v, nullptr, 10));
    } else if (arg == "--grace-ms") {
      o.graceMs = static_cast<int>(std::strtol(v, nullptr, 10));
    } else if (arg == "--idle-ms") {
      o.idleMs = static_cast<int>(std::strtol(v, nullptr, 10));
    } else {
      return false;
    }
  }
  return true;
}

// Creates the task's cgroup with its limits. Returns false (and the task
// falls back to polling) when the tree refuses.
bool setUpCgroup(const executor::Launch& o, int diagFd) {
  if (::mkdir(o.cgroup.c_str(), 0755) != 0 && errno != EEXIST) {
    diag(diagFd, errnoText("cgroup " + o.cgroup));
    return false;
  }
  bool ok = true;
  if (o.memBytes > 0) {
    ok = writeFile(o.cgroup + "/memory.max", std::to_string(o.memBytes)) &&
         writeFile(o.cgroup + "/memory.swap.max", "0");
  }
  if (ok && o.cpus > 0) {
    long quota = static_cast<long>(o.cpus * 100000);
    ok = writeFile(o.cgroup + "/cpu.max", std::to_string(quota < 1000 ? 1000 : quota) + " 100000");
  }
  if (!ok) diag(diagFd, errnoText("cgroup limits in " + o.cgroup));
  return ok;
}

// What the child needs, prepared before it exists: the child shares the
// executor's memory until it execs (CLONE_VM | CLONE_VFORK, as posix_spawn
// does), so it must not allocate. A fork would copy the executor's page
// tables only to drop them at the exec; on VMs where page faults are dear
// that copy was a fifth of the executor's cost per task.
struct TaskSetup {
  const char* sandbox = nullptr;
  const char* command = nullptr;
  char* const* envp = nullptr;
  const char* cgroupProcs = nullptr;  // "<cgroup>/cgroup.procs", or null
  // What each step's failure says, e.g. "chdir /var/lib/allot/.../sandbox".
  const char* chdirWhat = nullptr;
  const char* setgidWhat = nullptr;
  const char* setuidWhat = nullptr;
  const char* cgroupWhat = nullptr;
  long uid = -1;
  long gid = -1;
  int nice = 0;
  int outFd = -1;
  int errFd = -1;
  int reportFd = -1;  // close-on-exec: a successful exec closes it silently
};

// Writes "<what>: <strerror(errno)>" to the report pipe and exits.
[[noreturn]] void failSetup(const TaskSetup& t, const char* what) {
  const char* why = ::strerrordesc_np(errno);  // a table lookup: no locale, no allocation
  if (why == nullptr) why = "unknown error";
  const iovec parts[] = {{const_cast<char*>(what), std::strlen(what)},
                         {const_cast<char*>(": "), 2},
                         {const_cast<char*>(why), std::strlen(why)}};
  [[maybe_unused]] auto n = ::writev(t.reportFd, parts, 3);
  ::_exit(127);
}

// The child: becomes the task. Only system calls from here to the exec.
int becomeTask(void* arg) {
  const TaskSetup& t = *static_cast<const TaskSetup*>(arg);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGHUP}) ::sigaction(sig, &dfl, nullptr);
  if (::setsid() < 0) failSetup(t, "setsid");
  if (t.cgroupProcs != nullptr) {
    int fd = ::open(t.cgroupProcs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) failSetup(t, t.cgroupWhat);
    ::close(fd);
  }
  if (::chdir(t.sandbox) != 0) failSetup(t, t.chdirWhat);
  // Close-on-exec: only its copy on fd 0 reaches the task.
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(t.outFd, 1) < 0 || ::dup2(t.errFd, 2) < 0) {
    failSetup(t, "redirecting stdio");
  }
  if (t.gid >= 0) {
    auto gid = static_cast<gid_t>(t.gid);
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0) failSetup(t, t.setgidWhat);
  }
  if (t.uid >= 0 && ::setuid(static_cast<uid_t>(t.uid)) != 0) failSetup(t, t.setuidWhat);
  // No core dumps filling the sandbox (memory is enforced by polling or the cgroup).
  rlimit noCore{0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore);
  ::setpriority(PRIO_PROCESS, 0, t.nice);  // from the executor's (see renice())
  // A task outliving a vanished executor would be invisible to the agent.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char* const argv[] = {"sh", "-c", t.command, nullptr};
  ::execve("/bin/sh", const_cast<char* const*>(argv), t.envp);
  failSetup(t, "exec /bin/sh");
}

// Starts the task in a child that shares our memory until its exec; returns
// its pid, or -1 with errno set.
pid_t startTask(TaskSetup& setup) {
  // The child runs on its own stack; we are suspended until it execs or exits.
  constexpr std::size_t kStack = 64 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  pid_t pid = ::clone(becomeTask, static_cast<char*>(stack) + kStack,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &setup);
  const int saved = errno;
  ::munmap(stack, kStack);
  errno = saved;
  return pid;
}

// Why the last OpenSSL call failed: its error queue, else errno.
std::string tlsError(const char* what) {
  const unsigned long code = ::ERR_get_error();
  if (code == 0) return errnoText(what);
  char text[256];
  ::ERR_error_string_n(code, text, sizeof text);
  return std::string(what) + ": " + text;
}

// A TCP or HTTP(S) health check, in a forked child: connects to
// 127.0.0.1:port (and for HTTP asks GET path, over TLS for HTTPS, not
// verifying the certificate, as Mesos' and Marathon's checks do not); exits
// 0 when healthy, else writes why to `reportFd` and exits 1. Blocking, with
// the check's timeout on each step; the executor kills it at the timeout
// anyway.
[[noreturn]] void probe(const allot::executor::Check& c, int reportFd) {
  const auto fail = [&](const std::string& why) {
    [[maybe_unused]] auto n = ::write(reportFd, why.data(), std::min<std::size_t>(why.size(), 512));
    ::_exit(1);
  };
  const std::string where = "127.0.0.1:" + std::to_string(c.port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errnoText("socket"));
  timeval limit{static_cast<time_t>(c.timeoutMs / 1000),
                static_cast<suseconds_t>((c.timeoutMs % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);  // connect and send
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(c.port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    fail(errnoText("connection to " + where + " failed"));
  }
  if (c.type == "TCP") ::_exit(0);
  // HTTPS: a TLS session on the connected socket; the child exits without
  // freeing it.
  SSL* tls = nullptr;
  if (c.type == "HTTPS") {
    SSL_CTX* context = ::SSL_CTX_new(::TLS_client_method());
    if (context == nullptr) fail(tlsError("TLS set-up"));
    ::SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nullptr);
    tls = ::SSL_new(context);
    if (tls == nullptr || ::SSL_set_fd(tls, fd) != 1) fail(tlsError("TLS set-up"));
    if (::SSL_connect(tls) != 1) fail(tlsError(("TLS handshake with " + where).c_str()));
  }
  const std::string path = c.path.empty() ? "/" : c.path;
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + where +
                              "\r\nUser-Agent: allot-health-check\r\nConnection: close\r\n\r\n";
  const bool sent = tls == nullptr
                        ? writeAll(fd, request)
                        : ::SSL_write(tls, request.data(), static_cast<int>(request.size())) ==
                              static_cast<int>(request.size());
  if (!sent) fail(tlsError(("sending GET " + path + " to " + where).c_str()));
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 1024) {
    const ssize_t n = tls == nullptr ? ::read(fd, buf, sizeof buf)
                                     : ::SSL_read(tls, buf, static_cast<int>(sizeof buf));
    if (n < 0 && tls == nullptr && errno == EINTR) continue;
    if (n < 0) fail(tlsError(("reading the answer of " + where).c_str()));
    if (n == 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  // "HTTP/1.1 200 OK": the code is the second word.
  const std::size_t space = head.find(' ');
  const int code = head.compare(0, 5, "HTTP/") == 0 && space != std::string::npos
                       ? std::atoi(head.c_str() + space + 1)
                       : 0;
  if (code >= 200 && code < 400) ::_exit(0);
  if (code == 0) fail("GET " + path + " on " + where + ": no HTTP answer");
  fail("GET " + path + " on " + where + " answered " + std::to_string(code));
  ::_exit(1);  // fail() does not return
}

// A task's health check and where it stands.
struct Health {
  allot::executor::Check check;
  // What a COMMAND check runs with: the task's.
  std::string sandbox;
  long uid = -1;
  long gid = -1;
  std::vector<std::string> environment;
  std::int64_t launchedAt = 0;
  std::int64_t nextAt = 0;
  pid_t pid = -1;              // the check running now, or -1
  std::int64_t deadline = -1;  // when it times out
  int reportFd = -1;           // a TCP/HTTP check's reason, read when it ends
  bool timedOut = false;
  std::string setupError;  // a COMMAND check that could not start
  std::uint32_t failuresInARow = 0;
  bool passedOnce = false;
  int healthy = -1;  // the last told: -1 nothing yet, 0, 1
  std::string told;  // its message
};

// One task of this executor, from its launch until its status is written.
struct Task {
  std::string key;
  std::string statusFile;
  std::string cgroup;  // created for the task; empty: none
  std::uint64_t memBytes = 0;
  pid_t pid = -1;
  int nice = 0;    // its CPU share as a nice value (without a cgroup)
  int errFd = -1;  // the task's stderr: complaints about the task go there
  bool pollMemory = false;
  std::int64_t nextPoll = 0;
  std::int64_t killDeadline = -1;  // monotonic ms when SIGKILL follows SIGTERM
  std::string setupError;          // from the child, between clone and exec
  std::unique_ptr<Health> health;  // when it has a health check
  Outcome outcome;
};

class Executor {
 public:
  Executor(Options options, int sigFd) : o_(std::move(options)), sigFd_(sigFd) {
    pageSize_ = ::sysconf(_SC_PAGESIZE);
    errno = 0;
    nice_ = ::getpriority(PRIO_PROCESS, 0);
    idleSince_ = nowMs();
    devNull_ = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  }

  // Serves the agent until it is time to exit.
  void run() {
    while (!done()) {
      const std::int64_t now = nowMs();
      const int timeout = tick(now);
      pollfd fds[3] = {{executor::kListenFd, POLLIN, 0},
                       {sigFd_, POLLIN, 0},
                       {agent_, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0}};
      const int ready = ::poll(fds, agent_ >= 0 ? 3 : 2, timeout);
      if (ready < 0 && errno != EINTR) {
        diag(gLogFd, errnoText("poll"));
        ::sleep(1);
        continue;
      }
      if (ready <= 0) continue;
      if ((fds[1].revents & POLLIN) != 0) onSignals();
      if ((fds[0].revents & POLLIN) != 0) onAccept();
      if (agent_ >= 0 && fds[2].fd == agent_) {
        if ((fds[2].revents & POLLOUT) != 0) flush();
        if (agent_ >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) onAgent();
      }
    }
  }

 private:
  // Memory polls and kill deadlines due by `now`; returns the poll timeout
  // until the next one (ms, -1: none).
  int tick(std::int64_t now) {
    std::int64_t next = -1;
    auto until = [&](std::int64_t at) { next = next < 0 ? at : std::min(next, at); };
    for (auto& [pid, t] : tasks_) {
      if (t.pollMemory && now >= t.nextPoll) {
        const std::uint64_t rss = treeRss(pid, pageSize_);
        if (rss > t.memBytes) {
          ::kill(-pid, SIGKILL);
          t.outcome.reason = "MEMORY_LIMIT";
          t.outcome.message = "memory limit exceeded: " + std::to_string(toMb(rss)) + " MB > " +
                              std::to_string(toMb(t.memBytes)) + " MB";
          t.pollMemory = false;
        }
        t.nextPoll = now + o_.pollMs;
      }
      if (t.killDeadline >= 0 && now >= t.killDeadline) {
        ::kill(-pid, SIGKILL);
        t.killDeadline = -1;
      }
      if (t.pollMemory) until(t.nextPoll);
      if (t.killDeadline >= 0) until(t.killDeadline);
      if (t.health && !t.outcome.killed) {
        Health& h = *t.health;
        if (h.pid < 0 && now >= h.nextAt) startCheck(t, now);
        if (h.pid > 0 && now >= h.deadline) {
          ::kill(-h.pid, SIGKILL);  // its end (reap) counts the failure
          h.timedOut = true;
          h.deadline = std::numeric_limits<std::int64_t>::max();
        }
        if (h.pid < 0) until(h.nextAt);
        if (h.pid > 0 && h.deadline != std::numeric_limits<std::int64_t>::max()) until(h.deadline);
      }
    }
    if (tasks_.empty() && agent_ < 0 && !exitRequested_) until(idleSince_ + o_.idleMs);
    return next < 0 ? -1 : static_cast<int>(std::max<std::int64_t>(0, next - now));
  }

  bool done() const {
    if (!tasks_.empty()) return false;
    if (exitRequested_) return true;
    return agent_ < 0 && nowMs() - idleSince_ >= o_.idleMs;
  }

  void onAccept() {
    int fd = ::accept4(executor::kListenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
        (peer.uid != 0 && peer.uid != ::getuid())) {
      diag(gLogFd, "refused a connection from uid " + std::to_string(peer.uid) + " (pid " +
                       std::to_string(peer.pid) + ")");
      ::close(fd);
      return;
    }
    // One agent per work directory: a new connection is a restarted agent.
    // What the old one sent before it went (a LAUNCH, a KILL) still counts.
    if (agent_ >= 0) {
      onAgent(std::numeric_limits<int>::max());
      if (agent_ >= 0) closeAgent();
    }
    agent_ = fd;
    // The agent may have missed changes while it was away.
    for (auto& [pid, t] : tasks_) {
      if (t.health && t.health->healthy >= 0) tell(t);
    }
  }

  void closeAgent() {
    ::close(agent_);
    agent_ = -1;
    out_.clear();  // the next agent reads the status files instead
    idleSince_ = nowMs();
  }

  // Reads and handles up to `most` messages of the agent.
  void onAgent(int most = 64) {
    for (int i = 0; i < most && agent_ >= 0; ++i) {
      ssize_t n = ::recv(agent_, buf_.data(), buf_.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) return closeAgent();  // the agent went away; tasks go on
      if (static_cast<std::size_t>(n) > executor::kMaxMessage) {
        diag(gLogFd, "dropped a message of " + std::to_string(n) + " bytes (limit " +
                         std::to_string(executor::kMaxMessage) + ")");
        continue;
      }
      onMessage(std::string_view(buf_.data(), static_cast<std::size_t>(n)));
    }
  }

  void onMessage(std::string_view packet) {
    const auto fields = executor::split(packet);
    if (fields[0] == "LAUNCH") {
      if (auto launch = executor::decodeLaunch(fields)) return start(*launch);
    } else if (fields[0] == "KILL" && fields.size() == 3) {
      auto it = byKey_.find(std::string(fields[1]));
      if (it == byKey_.end()) return;  // ended meanwhile: ENDED is on its way
      return kill(tasks_.at(it->second), std::atoi(std::string(fields[2]).c_str()));
    } else if (fields[0] == "CHECK") {
      if (auto check = executor::decodeCheck(fields)) {
        // Held until the task's LAUNCH, which follows; a few at most.
        if (pendingChecks_.size() >= 1024) {
          diag(gLogFd, "dropped 1024 health checks whose task never came");
          pendingChecks_.clear();
        }
        std::string key = check->key;
        pendingChecks_.insert_or_assign(std::move(key), std::move(*check));
        return;
      }
    } else if (fields[0] == "EXIT" && fields.size() == 1) {
      exitRequested_ = true;
      return;
    }
    std::string head(fields[0].substr(0, 16));
    for (char& c : head) {
      if (c < 0x20 || c > 0x7e) c = '?';  // garbage stays readable in the log
    }
    diag(gLogFd, "dropped a malformed message (" + head + ", " + std::to_string(fields.size()) +
                     " fields)");
  }

  void kill(Task& t, int graceMs) {
    if (t.outcome.killed) return;  // already killing
    t.outcome.killed = true;
    if (graceMs <= 0) {
      ::kill(-t.pid, SIGKILL);
    } else {
      ::kill(-t.pid, SIGTERM);
      t.killDeadline = nowMs() + graceMs;
    }
  }

  // A task that could not start: its status is written at once.
  void refuse(const Launch& l, const std::string& message) {
    Outcome outcome;
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = message;
    writeStatus(l.statusFile, outcome);
    notify(l.key);
  }

  void start(const Launch& l) {
    std::optional<executor::Check> check;
    if (auto p = pendingChecks_.find(l.key); p != pendingChecks_.end()) {
      check = std::move(p->second);
      pendingChecks_.erase(p);
    }
    if (byKey_.count(l.key) != 0) {
      diag(gLogFd, "task " + l.key + " is already running here; second LAUNCH dropped");
      return;
    }
    if (!mkdirs(l.sandbox)) return refuse(l, errnoText("cannot create sandbox " + l.sandbox));
    int outFd =
        ::open((l.sandbox + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int errFd =
        ::open((l.sandbox + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (outFd < 0 || errFd < 0) {
      std::string message = errnoText("cannot create stdout/stderr in " + l.sandbox);
      if (outFd >= 0) ::close(outFd);
      if (errFd >= 0) ::close(errFd);
      return refuse(l, message);
    }
    if (l.uid >= 0) {
      auto uid = static_cast<uid_t>(l.uid);
      auto gid = static_cast<gid_t>(l.gid >= 0 ? l.gid : -1);
      if (::chown(l.sandbox.c_str(), uid, gid) != 0 || ::fchown(outFd, uid, gid) != 0 ||
          ::fchown(errFd, uid, gid) != 0) {
        diag(errFd, errnoText("chown of the sandbox to uid " + std::to_string(l.uid)));
      }
    }
    const bool inCgroup = !l.cgroup.empty() && setUpCgroup(l, errFd);
    int nice = 0;
    if (!inCgroup && l.cpus > 0 && l.cpus < 1) {
      // Without a cgroup, approximate the task's CPU share with a nice value:
      // the scheduler weighs each nice step by about 1.25x, so a 0.1-cpu task
      // gets nice 10 (weight ~110 of 1024), as cgroup cpu.weight would. The
      // control plane (agent, master) then stays responsive when short tasks
      // flood the machine (see renice()).
      const double steps = std::log(1.0 / l.cpus) / std::log(1.25);
      nice = std::clamp(static_cast<int>(std::lround(steps)), 0, 19);
    }
    renice(nice);  // before the clone: the child starts from ours
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      std::string message = errnoText("pipe");
      ::close(outFd);
      ::close(errFd);
      return refuse(l, message);
    }
    std::vector<std::string> env = l.environment;
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string cgroupProcs = l.cgroup + "/cgroup.procs";
    const std::string cgroupWhat = "joining cgroup " + l.cgroup;
    const std::string chdirWhat = "chdir " + l.sandbox;
    const std::string setgidWhat = "setgid " + std::to_string(l.gid);
    const std::string setuidWhat = "setuid " + std::to_string(l.uid);
    TaskSetup setup{.sandbox = l.sandbox.c_str(),
                    .command = l.command.c_str(),
                    .envp = envp.data(),
                    .cgroupProcs = inCgroup ? cgroupProcs.c_str() : nullptr,
                    .chdirWhat = chdirWhat.c_str(),
                    .setgidWhat = setgidWhat.c_str(),
                    .setuidWhat = setuidWhat.c_str(),
                    .cgroupWhat = cgroupWhat.c_str(),
                    .uid = l.uid,
                    .gid = l.gid,
                    .nice = nice,
                    .outFd = outFd,
                    .errFd = errFd,
                    .reportFd = report[1]};
    const pid_t pid = startTask(setup);
    const int cloneErrno = errno;
    ::close(report[1]);
    ::close(outFd);
    if (pid < 0) {
      ::close(report[0]);
      ::close(errFd);
      if (inCgroup) ::rmdir(l.cgroup.c_str());
      errno = cloneErrno;
      return refuse(l, errnoText("clone"));
    }
    // The child has exec'd (EOF) or said why it could not; we were
    // suspended until then (CLONE_VFORK), so this does not block.
    std::string setupError = readToEnd(report[0]);
    Task& t = tasks_[pid];
    t.key = l.key;
    t.statusFile = l.statusFile;
    t.cgroup = inCgroup ? l.cgroup : std::string();
    t.memBytes = l.memBytes;
    t.pid = pid;
    t.errFd = errFd;
    t.setupError = std::move(setupError);
    t.pollMemory = !inCgroup && l.memBytes > 0 && t.setupError.empty();
    t.nextPoll = nowMs();
    t.nice = nice;
    byKey_[t.key] = pid;
    if (check && t.setupError.empty()) {
      auto h = std::make_unique<Health>();
      h->check = std::move(*check);
      h->sandbox = l.sandbox;
      h->uid = l.uid;
      h->gid = l.gid;
      if (h->check.type == "COMMAND") h->environment = l.environment;
      h->launchedAt = nowMs();
      h->nextAt = h->launchedAt + h->check.delayMs;
      t.health = std::move(h);
    }
  }

  // Starts the task's health check; a check that cannot start fails at once.
  void startCheck(Task& t, std::int64_t now) {
    Health& h = *t.health;
    h.timedOut = false;
    h.setupError.clear();
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      h.setupError = errnoText("pipe");
      return checked(t, -1);
    }
    pid_t pid = -1;
    if (h.check.type == "COMMAND") {
      std::vector<char*> envp;
      for (std::string& e : h.environment) envp.push_back(e.data());
      envp.push_back(nullptr);
      const std::string chdirWhat = "chdir " + h.sandbox;
      const std::string setgidWhat = "setgid " + std::to_string(h.gid);
      const std::string setuidWhat = "setuid " + std::to_string(h.uid);
      TaskSetup setup{.sandbox = h.sandbox.c_str(),
                      .command = h.check.command.c_str(),
                      .envp = envp.data(),
                      .cgroupProcs = nullptr,
                      .chdirWhat = chdirWhat.c_str(),
                      .setgidWhat = setgidWhat.c_str(),
                      .setuidWhat = setuidWhat.c_str(),
                      .cgroupWhat = nullptr,
                      .uid = h.uid,
                      .gid = h.gid,
                      .nice = t.nice,
                      .outFd = devNull_,
                      .errFd = devNull_,
                      .reportFd = report[1]};
      pid = startTask(setup);
      if (pid < 0) h.setupError = errnoText("clone");
      ::close(report[1]);
      // Exec'd (EOF) or said why not: we were suspended until then.
      h.setupError += readToEnd(report[0]);
    } else {
      pid = ::fork();
      if (pid == 0) {
        ::setsid();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::close(report[0]);
        probe(h.check, report[1]);
      }
      if (pid < 0) h.setupError = errnoText("fork");
      ::close(report[1]);
      if (pid > 0) {
        h.reportFd = report[0];
      } else {
        ::close(report[0]);
      }
    }
    if (pid < 0) return checked(t, -1);
    h.pid = pid;
    h.deadline = now + h.check.timeoutMs;
    checks_[pid] = t.pid;
  }

  // The task's health check ended with wait status `status` (-1: it never
  // started): counts it, tells the agent of a change, and kills the task
  // after too many failures in a row.
  void checked(Task& t, int status) {
    Health& h = *t.health;
    h.pid = -1;
    std::string report;
    if (h.reportFd >= 0) {
      report = readToEnd(h.reportFd);
      h.reportFd = -1;
    }
    const std::int64_t now = nowMs();
    h.nextAt = now + h.check.intervalMs;
    if (t.outcome.killed) return;
    const bool passed = status >= 0 && !h.timedOut && h.setupError.empty() && WIFEXITED(status) &&
                        WEXITSTATUS(status) == 0;
    if (passed) {
      h.passedOnce = true;
      h.failuresInARow = 0;
      if (h.healthy != 1) tell(t, 1, "health check passed");
      return;
    }
    std::string why;
    if (h.timedOut) {
      why = "timed out after " + std::to_string(h.check.timeoutMs) + " ms";
    } else if (!h.setupError.empty()) {
      why = "cannot start it: " + h.setupError;
    } else if (!report.empty()) {
      why = report;
    } else if (WIFEXITED(status)) {
      why = "exited with status " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      why = "terminated by signal " + std::to_string(WTERMSIG(status));
    } else {
      why = "ended with wait status " + std::to_string(status);
    }
    if (!h.passedOnce && now < h.launchedAt + h.check.graceMs) {
      diag(t.errFd, "health check failed in the grace period (not counted): " + why);
      return;
    }
    ++h.failuresInARow;
    diag(t.errFd,
         "health check failed (" + std::to_string(h.failuresInARow) + " in a row): " + why);
    if (h.healthy != 0) tell(t, 0, "health check failed: " + why);
    if (h.check.failures > 0 && h.failuresInARow >= h.check.failures) {
      t.outcome.reason = "TASK_UNHEALTHY_CHECK";
      t.outcome.message = "killed after " + std::to_string(h.failuresInARow) +
                          " failed health checks in a row; the last: " + why;
      kill(t, static_cast<int>(
                  std::min<std::int64_t>(h.check.killGraceMs, std::numeric_limits<int>::max())));
    }
  }

  // Tells the agent the task's health: a change (healthy 0 or 1), or the
  // last told again (-1) to an agent that just connected.
  void tell(Task& t, int healthy = -1, std::string message = {}) {
    Health& h = *t.health;
    if (healthy >= 0) {
      for (char& c : message) {
        if (c == '\0' || c == '\n') c = ' ';
      }
      h.healthy = healthy;
      h.told = std::move(message);
    }
    if (agent_ < 0) return;  // the next agent hears it when it connects
    out_.push_back(executor::encode({"HEALTH", t.key, h.healthy == 1 ? "1" : "0", h.told}));
    flush();
  }

  // The executor's work (starting, watching and reaping tasks) is done for
  // its tasks, so it runs at the nice value of its most favoured one, as a
  // per-task executor did: with many small tasks starting at once, the
  // agent and the master stay ahead of it. Raising the priority again needs
  // root; without it the executor keeps the lower one.
  void renice(int starting = 19) {
    if (tasks_.empty() && starting == 19) return;
    int wanted = starting;
    for (const auto& [pid, t] : tasks_) wanted = std::min(wanted, t.nice);
    if (wanted != nice_ && ::setpriority(PRIO_PROCESS, 0, wanted) == 0) nice_ = wanted;
  }

  void onSignals() {
    signalfd_siginfo info{};
    bool child = false;
    while (::read(sigFd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGCHLD) {
        child = true;
      } else if (info.ssi_signo == SIGTERM) {
        const int grace = info.ssi_code == SI_QUEUE ? info.ssi_int : o_.graceMs;
        for (auto& [pid, t] : tasks_) kill(t, grace);
        exitRequested_ = true;
      }
    }
    if (child) reap();
  }

  // Every ended child: its group is killed while the leader is still a
  // zombie (so the group id cannot be reused meanwhile), then it is reaped
  // and its status written.
  void reap() {
    while (true) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
      const pid_t pid = info.si_pid;
      auto it = tasks_.find(pid);
      auto check = checks_.find(pid);
      if (it != tasks_.end() || check != checks_.end()) ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (it != tasks_.end()) finish(it->second, status);
      if (check != checks_.end()) {
        // Its task may have ended meanwhile.
        auto task = tasks_.find(check->second);
        checks_.erase(check);
        if (task != tasks_.end() && task->second.health && task->second.health->pid == pid) {
          checked(task->second, status);
        }
      }
    }
  }

  void finish(Task& t, int status) {
    Outcome& outcome = t.outcome;
    outcome.waitStatus = status;
    if (!t.setupError.empty()) {
      outcome.reason = "EXECUTOR_ERROR";
      outcome.message = "cannot start the task: " + t.setupError;
    }
    if (!t.cgroup.empty()) {
      std::string events = readFile(t.cgroup + "/memory.events");
      auto at = events.find("oom_kill ");
      if (at != std::string::npos && std::strtoull(events.c_str() + at + 9, nullptr, 10) > 0) {
        std::string peak = readFile(t.cgroup + "/memory.peak");
        outcome.reason = "MEMORY_LIMIT";
        outcome.message =
            "memory limit exceeded: " +
            (peak.empty()
                 ? std::string("more than")
                 : std::to_string(toMb(std::strtoull(peak.c_str(), nullptr, 10))) + " MB >") +
            " " + std::to_string(toMb(t.memBytes)) + " MB";
      }
      ::rmdir(t.cgroup.c_str());
    }
    if (t.health) {
      // A check still running goes with its task; reap() finds no task for it.
      if (t.health->pid > 0) ::kill(-t.health->pid, SIGKILL);
      if (t.health->reportFd >= 0) ::close(t.health->reportFd);
    }
    writeStatus(t.statusFile, outcome);
    ::close(t.errFd);
    std::string key = std::move(t.key);
    byKey_.erase(key);
    tasks_.erase(t.pid);
    if (tasks_.empty() && agent_ < 0) idleSince_ = nowMs();
    renice();
    notify(key);
  }

  void notify(const std::string& key) {
    if (agent_ < 0) return;  // the next agent reads the status file
    out_.push_back(executor::encode({"ENDED", key}));
    flush();
  }

  void flush() {
    while (!out_.empty() && agent_ >= 0) {
      ssize_t n =
          ::send(agent_, out_.front().data(), out_.front().size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT resumes
      if (n < 0) return closeAgent();
      out_.pop_front();
    }
  }

  Options o_;
  int sigFd_;
  long pageSize_ = 4096;
  int agent_ = -1;  // the connected agent, or -1
  int nice_ = 0;    // ours now
  std::map<pid_t, Task> tasks_;
  std::unordered_map<std::string, pid_t> byKey_;
  std::deque<std::string> out_;  // ENDED and HEALTH messages not yet sent
  std::unordered_map<std::string, executor::Check> pendingChecks_;  // by key, until LAUNCH
  std::unordered_map<pid_t, pid_t> checks_;  // running health check -> its task
  int devNull_ = -1;                         // a COMMAND check's stdio
  std::vector<char> buf_ = std::vector<char>(executor::kMaxMessage + 1);
  std::int64_t idleSince_ = 0;
  bool exitRequested_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int listening = 0;
  socklen_t len = sizeof listening;
  if (!parseArgs(argc, argv, o) ||
      ::getsockopt(executor::kListenFd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
      listening == 0) {
    diag(2,
         "usage: allot-executor [--name TEXT] [--log FILE] [--poll-ms N] [--grace-ms N] "
         "[--idle-ms N], with a listening SOCK_SEQPACKET socket on fd 3 (started by the agent)");
    return 2;
  }
  if (!o.log.empty()) {
    int fd = ::open(o.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) gLogFd = fd;
  }
  ::fcntl(executor::kListenFd, F_SETFD, FD_CLOEXEC);  // tasks must not inherit it
  // Terminal signals of the agent's session must not reach us; SIGTERM and
  // SIGCHLD are read through a signalfd.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sigFd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigFd < 0) {
    diag(gLogFd, errnoText("signalfd"));
    return 1;
  }
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  Executor(o, sigFd).run();
  return 0;
}
