// allot-executor: runs ONE task for the agent and outlives it.
//
// The agent spawns one executor per task (posix_spawn, new session). The
// executor creates the sandbox, starts `/bin/sh -c COMMAND` in its own
// session and process group (as the task user when given), enforces the
// memory limit (cgroup v2 when the agent passes --cgroup, else by polling the
// resident size of the task's process tree), forwards a kill request
// (SIGTERM, then SIGKILL after the grace period) and finally writes the
// outcome atomically to --status-file. Because the outcome is a file and the
// executor is not tied to the agent, tasks survive an agent crash and a
// restarted agent reads what happened meanwhile.
//
// Kill requests: the agent sends SIGTERM with sigqueue()/pidfd_send_signal();
// the int value is the grace period in milliseconds (a plain SIGTERM uses
// --grace-ms).
//
// Status file, one "key value" per line:
//   wait_status <raw wait status of the task, -1 when it never ran>
//   killed <1 when a kill was requested>
//   reason <MEMORY_LIMIT | EXECUTOR_ERROR | empty>
//   message <for a person, may be empty>
//
// This binary is started per task, so it links only the C and C++ runtimes
// and does no more work than needed.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include <string>
#include <vector>

namespace {

struct Options {
  std::string sandbox;
  std::string statusFile;
  std::string cgroup;  // cgroup v2 directory to create for the task, or empty
  long uid = -1;
  long gid = -1;
  std::uint64_t memLimitBytes = 0;  // 0: no limit
  double cpus = 0;
  int pollMs = 100;
  int graceMs = 3000;
  std::string command;
};

struct Outcome {
  int waitStatus = -1;
  bool killed = false;
  std::string reason;
  std::string message;
};

int gDiagFd = 2;  // where the executor's own complaints go (the task's stderr)

void diag(const std::string& text) {
  std::string line = "allot-executor: " + text + "\n";
  [[maybe_unused]] auto n = ::write(gDiagFd, line.data(), line.size());
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

std::string readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// Written to a temp file and renamed, so the agent never reads half a status.
void writeStatus(const Options& o, const Outcome& r) {
  std::string text = "wait_status " + std::to_string(r.waitStatus) + "\nkilled " +
                     (r.killed ? "1" : "0") + "\nreason " + r.reason + "\nmessage ";
  for (char c : r.message) text += (c == '\n' ? ' ' : c);
  text += "\n";
  std::string tmp = o.statusFile + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || !writeAll(fd, text) || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), o.statusFile.c_str()) != 0) {
    diag(errnoText("cannot write status file " + o.statusFile));
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
    if (arg == "--") {
      for (int j = i + 1; j < argc; ++j) {
        if (j > i + 1) o.command += ' ';
        o.command += argv[j];
      }
      return !o.command.empty();
    }
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (arg == "--sandbox") {
      o.sandbox = v;
    } else if (arg == "--status-file") {
      o.statusFile = v;
    } else if (arg == "--cgroup") {
      o.cgroup = v;
    } else if (arg == "--uid") {
      o.uid = std::strtol(v, nullptr, 10);
    } else if (arg == "--gid") {
      o.gid = std::strtol(v, nullptr, 10);
    } else if (arg == "--mem-bytes") {
      o.memLimitBytes = std::strtoull(v, nullptr, 10);
    } else if (arg == "--cpus") {
      o.cpus = std::strtod(v, nullptr);
    } else if (arg == "--poll-ms") {
      o.pollMs = static_cast<int>(std::strtol(v, nullptr, 10));
    } else if (arg == "--grace-ms") {
      o.graceMs = static_cast<int>(std::strtol(v, nullptr, 10));
    } else {
      return false;
    }
  }
  return false;
}

// Creates the task's cgroup with its limits. Returns false (and the task
// falls back to polling) when the tree refuses.
bool setUpCgroup(const Options& o) {
  if (::mkdir(o.cgroup.c_str(), 0755) != 0 && errno != EEXIST) {
    diag(errnoText("cgroup " + o.cgroup));
    return false;
  }
  bool ok = true;
  if (o.memLimitBytes > 0) {
    ok = writeFile(o.cgroup + "/memory.max", std::to_string(o.memLimitBytes)) &&
         writeFile(o.cgroup + "/memory.swap.max", "0");
  }
  if (ok && o.cpus > 0) {
    long quota = static_cast<long>(o.cpus * 100000);
    ok = writeFile(o.cgroup + "/cpu.max", std::to_string(quota < 1000 ? 1000 : quota) + " 100000");
  }
  if (!ok) diag(errnoText("cgroup limits in " + o.cgroup));
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
  const char* cgroupProcs = nullptr;  // "<cgroup>/cgroup.procs", or null
  // What each step's failure says, e.g. "chdir /var/lib/allot/.../sandbox".
  const char* chdirWhat = nullptr;
  const char* setgidWhat = nullptr;
  const char* setuidWhat = nullptr;
  const char* cgroupWhat = nullptr;
  long uid = -1;
  long gid = -1;
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
  // A task outliving a vanished executor would be invisible to the agent.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::execl("/bin/sh", "sh", "-c", t.command, static_cast<char*>(nullptr));
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parseArgs(argc, argv, o) || o.sandbox.empty() || o.statusFile.empty()) {
    diag(
        "usage: allot-executor --sandbox DIR --status-file FILE [--uid N --gid N] "
        "[--mem-bytes N] [--cpus X] [--cgroup DIR] [--poll-ms N] [--grace-ms N] -- COMMAND");
    return 2;
  }
  Outcome outcome;

  // SIGTERM is the agent's kill request, read through a signalfd; terminal
  // signals of the agent's session must not reach us.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigset_t termOnly;
  sigemptyset(&termOnly);
  sigaddset(&termOnly, SIGTERM);
  int sigFd = ::signalfd(-1, &termOnly, SFD_CLOEXEC | SFD_NONBLOCK);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);

  if (!mkdirs(o.sandbox)) {
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = errnoText("cannot create sandbox " + o.sandbox);
    writeStatus(o, outcome);
    return 1;
  }
  int outFd =
      ::open((o.sandbox + "/stdout").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  int errFd =
      ::open((o.sandbox + "/stderr").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (outFd < 0 || errFd < 0) {
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = errnoText("cannot create stdout/stderr in " + o.sandbox);
    writeStatus(o, outcome);
    return 1;
  }
  gDiagFd = errFd;
  if (o.uid >= 0) {
    auto uid = static_cast<uid_t>(o.uid);
    auto gid = static_cast<gid_t>(o.gid >= 0 ? o.gid : -1);
    if (::chown(o.sandbox.c_str(), uid, gid) != 0 || ::fchown(outFd, uid, gid) != 0 ||
        ::fchown(errFd, uid, gid) != 0) {
      diag(errnoText("chown of the sandbox to uid " + std::to_string(o.uid)));
    }
  }
  bool inCgroup = !o.cgroup.empty() && setUpCgroup(o);
  if (!inCgroup && o.cpus > 0 && o.cpus < 1) {
    // Without a cgroup, approximate the task's CPU share with a nice value,
    // for this executor (the task's launch and exit are its work) and, by
    // inheritance, the task: the scheduler weighs each nice step by about
    // 1.25x, so a 0.1-cpu task gets nice 10 (weight ~110 of 1024), as cgroup
    // cpu.weight would. The control plane (agent, master) then stays
    // responsive when short tasks flood the machine. Never above the agent.
    const double steps = std::log(1.0 / o.cpus) / std::log(1.25);
    ::setpriority(PRIO_PROCESS, 0, std::clamp(static_cast<int>(std::lround(steps)), 0, 19));
  }

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = errnoText("pipe");
    writeStatus(o, outcome);
    return 1;
  }
  const std::string cgroupProcs = o.cgroup + "/cgroup.procs";
  const std::string cgroupWhat = "joining cgroup " + o.cgroup;
  const std::string chdirWhat = "chdir " + o.sandbox;
  const std::string setgidWhat = "setgid " + std::to_string(o.gid);
  const std::string setuidWhat = "setuid " + std::to_string(o.uid);
  TaskSetup setup{.sandbox = o.sandbox.c_str(),
                  .command = o.command.c_str(),
                  .cgroupProcs = inCgroup ? cgroupProcs.c_str() : nullptr,
                  .chdirWhat = chdirWhat.c_str(),
                  .setgidWhat = setgidWhat.c_str(),
                  .setuidWhat = setuidWhat.c_str(),
                  .cgroupWhat = cgroupWhat.c_str(),
                  .uid = o.uid,
                  .gid = o.gid,
                  .outFd = outFd,
                  .errFd = errFd,
                  .reportFd = report[1]};
  pid_t child = startTask(setup);
  if (child < 0) {
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = errnoText("clone");
    writeStatus(o, outcome);
    return 1;
  }
  ::close(report[1]);
  // Blocks until the exec succeeded (EOF) or the child said why it did not.
  std::string setupError;
  char buf[512];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    setupError.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);

  int childFd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  long pageSize = ::sysconf(_SC_PAGESIZE);
  bool pollMemory = !inCgroup && o.memLimitBytes > 0 && setupError.empty();
  std::int64_t killDeadline = -1;  // monotonic ms when SIGKILL follows SIGTERM
  std::int64_t nextPoll = nowMs();
  while (childFd >= 0) {
    std::int64_t now = nowMs();
    if (pollMemory && now >= nextPoll) {
      std::uint64_t rss = treeRss(child, pageSize);
      if (rss > o.memLimitBytes) {
        ::kill(-child, SIGKILL);
        outcome.reason = "MEMORY_LIMIT";
        outcome.message = "memory limit exceeded: " + std::to_string(toMb(rss)) + " MB > " +
                          std::to_string(toMb(o.memLimitBytes)) + " MB";
        pollMemory = false;
      }
      nextPoll = now + o.pollMs;
    }
    if (killDeadline >= 0 && now >= killDeadline) {
      ::kill(-child, SIGKILL);
      killDeadline = -1;
    }
    int timeout = -1;
    if (pollMemory) timeout = static_cast<int>(nextPoll - now);
    if (killDeadline >= 0) {
      int untilKill = static_cast<int>(killDeadline - now);
      timeout = timeout < 0 ? untilKill : std::min(timeout, untilKill);
    }
    pollfd fds[2] = {{childFd, POLLIN, 0}, {sigFd, POLLIN, 0}};
    int ready = ::poll(fds, sigFd >= 0 ? 2 : 1, timeout < 0 ? -1 : std::max(timeout, 0));
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) break;  // the task ended
    if (ready > 0 && sigFd >= 0 && (fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      while (::read(sigFd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (outcome.killed) continue;  // already killing
        outcome.killed = true;
        int grace = info.ssi_code == SI_QUEUE ? info.ssi_int : o.graceMs;
        if (grace <= 0) {
          ::kill(-child, SIGKILL);
        } else {
          ::kill(-child, SIGTERM);
          killDeadline = nowMs() + grace;
        }
      }
    }
  }
  // The group's leader is a zombie now, so its pid (the group id) cannot be
  // reused: anything it left behind goes with it.
  ::kill(-child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.waitStatus = status;
  if (!setupError.empty()) {
    outcome.reason = "EXECUTOR_ERROR";
    outcome.message = "cannot start the task: " + setupError;
  }
  if (inCgroup) {
    std::string events = readFile(o.cgroup + "/memory.events");
    auto at = events.find("oom_kill ");
    if (at != std::string::npos && std::strtoull(events.c_str() + at + 9, nullptr, 10) > 0) {
      std::string peak = readFile(o.cgroup + "/memory.peak");
      outcome.reason = "MEMORY_LIMIT";
      outcome.message =
          "memory limit exceeded: " +
          (peak.empty()
               ? std::string("more than")
               : std::to_string(toMb(std::strtoull(peak.c_str(), nullptr, 10))) + " MB >") +
          " " + std::to_string(toMb(o.memLimitBytes)) + " MB";
    }
    ::rmdir(o.cgroup.c_str());
  }
  writeStatus(o, outcome);
  return 0;
}
