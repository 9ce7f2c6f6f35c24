#pragma once

// How the agent starts and watches executors: task users, cgroup v2
// detection, process start times (against pid reuse) and the spawn itself.

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
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

struct ExecutorLaunch {
  std::string executor;  // path of allot-executor
  std::string sandbox;
  std::string statusFile;
  std::string cgroup;  // empty: no cgroup
  UserIds user;        // uid -1: do not switch
  std::uint64_t memBytes = 0;
  double cpus = 0;
  int pollMs = 100;
  int graceMs = 3000;
  std::string command;
  std::vector<std::string> environment;  // "NAME=value"
};

// Starts the executor in a new session with no inherited descriptors beyond
// stdio. Returns its pid, or an error message.
struct SpawnResult {
  pid_t pid = -1;
  std::string error;
};
SpawnResult spawnExecutor(const ExecutorLaunch& launch);

}  // namespace allot::runtime::agent
