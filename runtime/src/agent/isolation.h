#pragma once

// How the agent starts and watches executors: task users, cgroup v2
// detection, process start times (against pid reuse) and the spawn itself.

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::runtime::agent {

// pidfd_open(2) and pidfd_send_signal(2) through syscall(): glibc 2.36's
// <sys/pidfd.h> lacks C linkage for C++.
int openPidfd(pid_t pid);
int signalPidfd(int pidfd, int signal, siginfo_t& info);

struct UserIds {
  long uid = -1;
  long gid = -1;
};

// The ids of user `name`, or nullopt when there is no such user.
std::optional<UserIds> lookupUser(const std::string& name);

// A cgroup v2 directory under which task cgroups with the cpu and memory
// controllers can be created (made ready here: "<mount>/allot" with both
// controllers enabled), or empty when the host has none writable (cgroup v1
// or hybrid hierarchies whose cgroup2 tree lacks the controllers).
std::string detectCgroupRoot();

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or 0
// when the process does not exist. A pid with another start time is another
// process.
std::uint64_t processStartTicks(pid_t pid);

// Returns true iff `pid` is a live (not zombie) process started at `ticks`.
bool processAlive(pid_t pid, std::uint64_t ticks);

// allot-executor beside the running binary (/proc/self/exe).
std::string defaultExecutorPath();

// How the agent starts an executor (one per framework; see
// runtime/executor/protocol.h).
struct ExecutorStart {
  std::string executor;  // path of allot-executor
  std::string name;      // shown by ps and in the log: framework and work dir
  std::string log;       // the executor's own log file
  int pollMs = 100;      // memory polling period of tasks without a cgroup
  int graceMs = 3000;    // kill grace when the executor itself gets SIGTERM
  int idleMs = 60'000;   // no task and no agent connected for this long: exit
};

struct StartedExecutor {
  pid_t pid = -1;
  int fd = -1;  // connected to the executor
  std::string error;
};

// A listening socket named `socket` in the abstract namespace (close-on-exec,
// numbered 10 or above, so that a dup2 onto fd 3 always copies it), or -1
// with errno set.
int listenExecutor(const std::string& socket);

// Creates a listening socket named `socket` (listenExecutor), starts the
// executor with it as fd 3 (new session, no other inherited
// descriptor beyond stdio on /dev/null) and connects to it.
StartedExecutor startExecutor(const ExecutorStart& start, const std::string& socket);

// Connects to the executor listening on `socket`; returns the descriptor
// (close-on-exec) or -1 with errno set.
int connectExecutor(const std::string& socket);

// Sends one message, waiting (at most 5 s) for room; returns an error
// message when it could not. For tools and tests: the agent uses
// trySendToExecutor and never waits.
std::optional<std::string> sendToExecutor(int fd, std::string_view message);

// Sends one message without waiting: 1 when sent, 0 when the executor's
// queue is full (it holds only net.unix.max_dgram_qlen packets, 10 by
// default), -1 with errno set when the connection is broken.
int trySendToExecutor(int fd, std::string_view message);

}  // namespace allot::runtime::agent
