// `allot agent`: run a runtime agent until SIGINT/SIGTERM. Argument parsing
// only; the agent is allot::runtime::Agent (runtime/include/allot/runtime/
// agent.h), its behaviour is docs/runtime-protocol.md.

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <string>
#include <zmq.hpp>

#include "allot/core/error.h"
#include "allot/runtime/agent.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/event_loop.h"
#include "commands.h"
#include "common.h"
#include "curve_flags.h"

namespace allot::cli {
namespace {

struct AgentArgs {
  runtime::AgentOptions options;
  std::string heartbeat = "1s";
  std::string masterTimeout;
  std::string registerRetry = "1s";
  std::string statusRetry = "10s";
  std::string killGrace = "3s";
  std::string memoryPoll = "100ms";
  std::string executorIdle = "30s";
  std::string gcDelay = "7d";
  std::string diskWatchInterval = "1m";
  std::string logLevel = "info";
  CurveClientFlags curve;
};

void runAgent(AgentArgs a) {
  setUpLogging("allot-agent", a.logLevel);

  runtime::AgentOptions& o = a.options;
  o.heartbeat = parseDuration("--heartbeat", a.heartbeat);
  if (!a.masterTimeout.empty())
    o.masterTimeout = parseDuration("--master-timeout", a.masterTimeout);
  o.registerRetry = parseDuration("--register-retry", a.registerRetry);
  o.statusRetry = parseDuration("--status-retry", a.statusRetry);
  o.killGrace = parseDuration("--kill-grace", a.killGrace);
  o.memoryPoll = parseDuration("--memory-poll", a.memoryPoll);
  o.executorIdle = parseDuration("--executor-idle", a.executorIdle);
  o.gcDelay = parseDuration("--gc-delay", a.gcDelay, true);
  o.diskWatchInterval = parseDuration("--disk-watch-interval", a.diskWatchInterval);
  o.curve = a.curve.options();

  // Block SIGINT/SIGTERM before ZeroMQ starts its threads, which inherit the
  // mask: the loop alone receives them, through a signalfd.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  zmq::context_t context;
  runtime::SystemClock clock;
  runtime::EventLoop loop(clock);
  loop.stopOnSignals();
  runtime::Agent agent(context, loop, o);
  agent.start();
  spdlog::info("agent {} on {} registering with {}", agent.id(), o.workDir, o.master);
  loop.run();
  if (!agent.stopReason().empty()) {
    throw Error(fmt::format("agent {} stopped by the master: {}", agent.id(), agent.stopReason()));
  }
  spdlog::info(
      "agent {} stopped; its {} task(s) keep running and are recovered by the next agent "
      "on {}",
      agent.id(), agent.taskCount(), o.workDir);
}

}  // namespace

void addAgentCommand(CLI::App& app) {
  auto args = std::make_shared<AgentArgs>();
  args->options.workDir = "/var/lib/allot/agent";
  CLI::App* cmd = app.add_subcommand(
      "agent",
      "Run an agent: register with the master, run tasks in sandboxes, report their status");
  cmd->footer(
      "Each framework's tasks run through one allot-executor process (found beside this\n"
      "binary), each task as its own process group in\n"
      "<work-dir>/frameworks/<framework>/tasks/<task>/ with stdout and stderr files,\n"
      "kept after the task ends (allot logs, allot ls) until --gc-delay has passed.\n"
      "Tasks survive an agent restart: start the agent again on the same --work-dir and it\n"
      "recovers them, re-registers under the same id and resends unacknowledged updates.\n"
      "Example: allot agent --master 127.0.0.1:5050 --resources 'cpus:4;mem:8192' "
      "--attributes 'rack:r1'");
  runtime::AgentOptions& o = args->options;
  cmd->add_option("--master", o.master,
                  "Master address HOST:PORT (or tcp://HOST:PORT), or zk://HOST:PORT/PATH to "
                  "follow the leading master of those started with that --zk")
      ->required();
  cmd->add_option("--resources", o.resources,
                  "Resources to offer, e.g. 'cpus:4;mem:8192;disk:1000;ports:[31000-32000]' "
                  "(mem and disk in MB); cpus, mem, disk and ports left out are detected");
  cmd->add_option("--attributes", o.attributes, "Attributes, e.g. 'rack:r1;zone:a'");
  cmd->add_option("--work-dir", o.workDir, "Sandboxes and checkpoints; one agent per directory")
      ->capture_default_str();
  cmd->add_option("--id", o.id,
                  "Agent id (default: the one kept in the work dir, else <hostname>-<random>)");
  cmd->add_option("--hostname", o.hostname, "Hostname to report (default: this host's name)");
  cmd->add_option("--task-user", o.taskUser,
                  "When run as root: user for tasks whose framework names none")
      ->capture_default_str();
  cmd->add_option("--executor", o.executorPath,
                  "Path of allot-executor (default: beside this binary)");
  cmd->add_option("--cgroup-root", o.cgroupRoot,
                  "cgroup v2 directory for task cgroups, or 'none' for rlimits and memory "
                  "polling (default: detected)");
  cmd->add_option("--heartbeat", args->heartbeat, "Heartbeat interval until the master names one")
      ->capture_default_str();
  cmd->add_option("--master-timeout", args->masterTimeout,
                  "Register again after this long without word from the master "
                  "(default: 15 heartbeats)");
  cmd->add_option("--register-retry", args->registerRetry,
                  "Resend an unanswered registration after this long, doubling each time up "
                  "to 8 times as long")
      ->capture_default_str();
  cmd->add_option("--status-retry", args->statusRetry,
                  "Resend an unacknowledged status update this often")
      ->capture_default_str();
  cmd->add_option("--kill-grace", args->killGrace,
                  "SIGTERM-to-SIGKILL grace when the master names none")
      ->capture_default_str();
  cmd->add_option("--memory-poll", args->memoryPoll,
                  "How often an executor measures its tasks' memory (without cgroups)")
      ->capture_default_str();
  cmd->add_option("--executor-idle", args->executorIdle,
                  "Stop a framework's executor after this long without tasks")
      ->capture_default_str();
  cmd->add_option("--gc-delay", args->gcDelay,
                  "Remove a finished task's sandbox this long after it ended (its logs and "
                  "files go with it), sooner as the disk fills")
      ->capture_default_str();
  cmd->add_option("--gc-disk-headroom", args->options.gcDiskHeadroom,
                  "Sandboxes are kept --gc-delay x (1 - this - the disk's used fraction): at "
                  "90% full (the default 0.1), every finished task's sandbox goes at once")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--disk-watch-interval", args->diskWatchInterval,
                  "How often to look at the disk and remove old sandboxes")
      ->capture_default_str();
  args->curve.add(cmd);
  cmd->add_option("--log-level", args->logLevel, "trace, debug, info, warn, error")
      ->capture_default_str();
  cmd->callback([args] { runAgent(*args); });
}

}  // namespace allot::cli
