#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "allot/core/time.h"
#include "allot/policies/registry.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/curve.h"

namespace allot::runtime {

// How a master runs. Durations are microseconds (allot::Duration).
struct MasterOptions {
  // ROUTER endpoint agents and drivers connect to ("tcp://*:5050"; port 0 or
  // "*" picks a free port, see Master::endpoint()).
  std::string endpoint = "tcp://*:5050";
  // HTTP API (/api/v1/state, /api/v1/utilization, /metrics, /health) and the
  // web UI (/). Port 0 picks a free port; a negative port serves no HTTP.
  std::string httpHost = "0.0.0.0";
  int httpPort = 5051;
  // HTTPS instead of HTTP: the certificate (PEM, then any intermediates) and
  // its private key (PEM). Both or neither.
  std::string httpTlsCert;
  std::string httpTlsKey;
  // Folder of the registry (registry.sqlite). Empty: no registry, nothing
  // survives a restart (tests, throwaway clusters).
  std::string workDir;
  // Allocation policy by registry name, and its parameters.
  std::string policy = "drf";
  Params params;
  // When set, makes the allocation policy from `params` instead of the
  // registry: how a policy written in Python runs in the master
  // (allot.Master), as it runs in the simulator. Called once, by the
  // constructor; an exception the policy raises later (in a round) leaves
  // run()/runOnce() and the master must not be run again.
  std::function<std::unique_ptr<Allocator>(const Params&)> makePolicy;

  Duration allocationInterval = std::chrono::seconds(1);
  // Event-triggered rounds (resources freed, framework added, revive) run at
  // most this long after the previous round: one pending round at a time.
  Duration roundDelay = std::chrono::milliseconds(5);
  // Offers unanswered this long are rescinded; zero: never.
  Duration offerTimeout = std::chrono::seconds(30);
  Duration agentHeartbeatInterval = std::chrono::seconds(1);
  Duration agentTimeout = std::chrono::seconds(15);
  // After a restart, agents of the registry have this long to re-register;
  // zero: agentTimeout.
  Duration agentReregisterTimeout{0};
  Duration frameworkHeartbeatInterval = std::chrono::seconds(1);
  Duration frameworkTimeout = std::chrono::seconds(15);
  // Master-generated status updates (LOST, ERROR) are resent this often
  // until the framework acknowledges them.
  Duration updateRetryInterval = std::chrono::seconds(10);
  // Grace period of KILL_TASK (SIGTERM, then SIGKILL).
  Duration killGracePeriod = std::chrono::seconds(3);
  // Filter applied when ACCEPT/DECLINE carry no Filters message.
  Duration defaultRefuse = std::chrono::seconds(5);
  // Terminal, acknowledged tasks remembered (state, reconciliation, killing
  // tasks of agents that come back).
  std::size_t completedTasks = 100'000;
  // Unreachable agents are forgotten (dropped from the state and the
  // registry) once unreachable this long, and beyond this many the longest
  // unreachable first: a cluster whose machines come and go under new ids
  // would otherwise grow both for good. An agent with a task update not yet
  // acknowledged is kept until it is. A forgotten agent that comes back
  // registers as a new one. As Mesos' --registry_max_agent_age and
  // --registry_max_agent_count.
  Duration unreachableAgentAge = std::chrono::hours(24 * 14);
  std::size_t maxUnreachableAgents = 10'000;
  // The cluster's use (total, used by tasks, offered, per scalar dimension)
  // is sampled this often for /api/v1/utilization and the web UI's chart,
  // keeping the latest `utilizationSamples` (by default the last hour).
  // Zero: no sampling.
  Duration utilizationInterval = std::chrono::seconds(5);
  std::size_t utilizationSamples = 720;
  // High availability (allot/runtime/zookeeper.h): with `zk` set, this
  // master leads through its member node `zkMemberNode`, and the registry is
  // kept in ZooKeeper (ZK_PATH/registry) instead of workDir, so that the
  // next leader recovers it. Registry writes need the member node to live:
  // a master that finds it gone stops (stopReason()).
  std::string zk;
  std::string zkMemberNode;
  Duration zkSessionTimeout = std::chrono::seconds(10);
  // When set, operator calls (POST /api/v1/...) must carry
  // "Authorization: Bearer <operatorToken>" (401 otherwise). Reads (state,
  // metrics, the web UI) stay open. Empty: operator calls are open too.
  std::string operatorToken;
  // When set, agents and frameworks must connect with CURVE
  // (allot/runtime/curve.h): encrypted, knowing this master's public key,
  // and, with a clients file, holding a key it lists. Unset: plain TCP, open
  // to whoever reaches `endpoint`.
  std::optional<CurveServerOptions> curve;
  // Access control lists (a JSON file in Mesos' --acls form, see
  // runtime/src/master/acl.h): which principals may register frameworks in
  // which roles, run tasks as which users, and register agents. Read again
  // when the file changes (for later requests; subscribed frameworks and
  // registered agents stay). Empty: everything is allowed.
  std::string aclsFile;
  // The master's id (prefix of the ids it assigns); empty: made from the
  // start time, so it changes on every restart.
  std::string masterId;
};

// A master id made from `now` and 16 random bits: what a master without
// MasterOptions::masterId calls itself.
std::string makeMasterId(TimePoint now);

// The runtime master: agents, frameworks, offers and tasks over one ZeroMQ
// ROUTER socket, with an allocation policy from the policy registry (driven
// exactly as the simulator drives it), a SQLite registry of admitted agents
// and frameworks, and an HTTP API. The behaviour is specified in
// docs/runtime-protocol.md.
//
// Threads: everything runs on the thread that calls run()/runOnce(), except
// the HTTP server's worker threads, which hand each request to that thread
// and wait for its answer. Bad messages are logged, answered with ERROR and
// dropped; nothing a peer sends stops the master.
class Master {
 public:
  // Binds the sockets and loads the registry. Throws allot::Error with an
  // actionable message (address in use, unknown policy, unreadable registry,
  // bad option). `context` and `clock` must outlive the master.
  Master(zmq::context_t& context, const Clock& clock, MasterOptions options);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Runs the event loop until stop() or, after stopOnSignals(), SIGINT/SIGTERM.
  void run();
  // One loop iteration waiting at most `maxWait` (tests drive the master so).
  void runOnce(Duration maxWait);
  // Thread-safe and async-signal-safe.
  void stop();
  // Stopped: by stop(), a signal, or by itself (stopReason()).
  bool stopped() const;
  // See EventLoop::stopOnSignals; call before other threads start.
  void stopOnSignals();

  // The ROUTER endpoint actually bound ("tcp://0.0.0.0:5050").
  std::string endpoint() const;
  // The HTTP port actually bound; -1 without HTTP.
  int httpPort() const;
  const std::string& id() const;
  // Why the master stopped by itself (it found it no longer leads); empty
  // when it was stopped by stop() or a signal.
  const std::string& stopReason() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::runtime
