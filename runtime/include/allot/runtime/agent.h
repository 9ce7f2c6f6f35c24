#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "allot/core/time.h"
#include "allot/runtime/curve.h"
#include "allot/runtime/event_loop.h"

namespace allot::runtime {

// How an agent runs. Durations are microseconds (allot::Duration).
struct AgentOptions {
  // "HOST:PORT" or "tcp://HOST:PORT", or "zk://HOST:PORT[,...]/PATH" to
  // follow the leading master of several (allot/runtime/zookeeper.h).
  std::string master;
  std::string workDir;     // sandboxes and checkpoints; created when missing
  std::string id;          // empty: the id kept in workDir, else a new one
  std::string hostname;    // empty: gethostname()
  std::string resources;   // core syntax; names left out are detected (cpus, mem, disk, ports)
  std::string attributes;  // "rack:r1;zone:a"
  // When the agent runs as root, tasks run as their framework's user, or as
  // this user when the framework names none.
  std::string taskUser = "nobody";
  std::string executorPath;  // empty: allot-executor beside /proc/self/exe
  // A cgroup v2 directory under which each task gets its own cgroup; empty:
  // detected (a writable cgroup2 tree with the cpu and memory controllers),
  // "none": never use cgroups (rlimits and memory polling instead).
  std::string cgroupRoot;

  Duration registerRetry = std::chrono::seconds(1);  // resend REGISTER_AGENT while unanswered
  Duration heartbeat = std::chrono::seconds(1);      // until AgentRegistered names one
  // No word from the master for this long: re-register. Zero: 15 heartbeats.
  // A master that lost the agent says so (NOT_REGISTERED) and the agent
  // registers at once; silence more often means a busy master, which a
  // re-registration (rescinding the agent's offers) only loads further.
  Duration masterTimeout{0};
  Duration statusRetry = std::chrono::seconds(10);  // resend unacknowledged updates this often
  Duration killGrace = std::chrono::seconds(3);     // SHUTDOWN_FRAMEWORK, KILL_TASK without one
  Duration memoryPoll = std::chrono::milliseconds(100);  // executor's RSS polling period
  // A framework's executor with no task left is stopped after this long
  // (the next task starts a new one).
  Duration executorIdle = std::chrono::seconds(30);
  // Watch executors with pidfd_open (Linux 5.3+); false, or when the kernel
  // refuses it: check them every 100 ms instead.
  bool pidfd = true;
  // Sandboxes of tasks the agent has forgotten (ended, their updates
  // acknowledged) are removed this long after the task ended, less as the
  // work directory's disk fills: after gcDelay * max(0, 1 - gcDiskHeadroom
  // - used fraction), as Mesos' --gc_delay and --gc_disk_headroom; checked
  // every diskWatchInterval.
  Duration gcDelay = std::chrono::hours(24 * 7);
  double gcDiskHeadroom = 0.1;
  Duration diskWatchInterval = std::chrono::minutes(1);
  // With a zk:// master: the ZooKeeper session timeout.
  Duration zkSessionTimeout = std::chrono::seconds(10);
  // CURVE (allot/runtime/curve.h): the master's public key (every master of
  // a zk:// path shares one key pair) and this agent's key pair.
  CurveClientOptions curve;
};

// What the agent has done since it started; for tests and logs.
struct AgentCounters {
  std::size_t registrations = 0;     // REGISTER_AGENT messages sent
  std::size_t launched = 0;          // tasks handed to an executor
  std::size_t executors = 0;         // executors started (one per framework while it has tasks)
  std::size_t recovered = 0;         // tasks recovered from checkpoints at start
  std::size_t updatesSent = 0;       // STATUS_UPDATE messages sent, retries included
  std::size_t acks = 0;              // STATUS_UPDATE_ACKs that matched an update
  std::size_t badMessages = 0;       // frames, payloads or fields refused
  std::size_t sandboxesRemoved = 0;  // by the collector (moved aside, then `rm -rf`)
};

// A Mesos-like agent: registers with the master, launches each task through
// its framework's allot-executor process (one per framework, as Mesos'
// default executor) in its own sandbox, kills tasks, and sends
// status updates reliably (checkpointed before sending, resent until
// acknowledged, kept across restarts). Tasks keep running when the agent
// dies; a new Agent on the same work directory recovers them.
//
// Runs on `loop`'s thread; `context` and `loop` must outlive the agent.
// Not thread-safe. Bad messages are logged and dropped, never thrown.
class Agent {
 public:
  // Recovers the work directory and connects. Throws allot::Error when the
  // options are unusable (bad resources or attributes text, unwritable work
  // directory, missing executor, unknown task user).
  Agent(zmq::context_t& context, EventLoop& loop, AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Sends the first REGISTER_AGENT and arms the timers.
  void start();

  const std::string& id() const;
  // The resources it registers with, in the core syntax.
  const std::string& resources() const;
  bool registered() const;
  // Tasks known (running, or terminal with unacknowledged updates).
  std::size_t taskCount() const;
  const AgentCounters& counters() const;
  // Empty while the agent runs. Set when the master answered REPLACED
  // (another agent process registered with this id): the agent then kills
  // its tasks, removes its id file and stops the event loop.
  const std::string& stopReason() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// This host's resources in the core syntax: cpus from the affinity mask,
// mem (MB) from /proc/meminfo less a reserve for the system (min(1 GB,
// half)), disk (MB) available under `workDir`, and ports [31000-32000].
std::string detectResources(const std::string& workDir);

// `given` completed with the detected value of each of cpus, mem, disk and
// ports it does not name. Throws ParseError when the result does not parse.
std::string completeResources(const std::string& given, const std::string& workDir);

}  // namespace allot::runtime
