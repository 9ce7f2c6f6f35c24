// `allot master`: run the runtime master until SIGINT/SIGTERM. Argument
// parsing only; the master is allot::runtime::Master (runtime/include/allot/
// runtime/master.h), its behaviour is docs/runtime-protocol.md.

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/master.h"
#include "allot/runtime/master_service.h"
#include "commands.h"
#include "common.h"
#include "curve_flags.h"
#include "token_file.h"

namespace allot::cli {
namespace {

struct MasterArgs {
  std::string host = "*";
  int port = 5050;
  int httpPort = 5051;
  std::string workDir;
  bool noRegistry = false;
  std::string policy = "drf";
  std::vector<std::string> params;
  std::string allocationInterval = "1s";
  std::string offerTimeout = "30s";
  std::string agentTimeout = "15s";
  std::string agentReregisterTimeout;
  std::string frameworkTimeout = "15s";
  std::string heartbeatInterval = "1s";
  std::string killGracePeriod = "3s";
  std::string unreachableAgentAge = "14d";
  std::size_t maxUnreachableAgents = 10'000;
  std::string utilizationInterval = "5s";
  std::size_t utilizationSamples = 720;
  std::string masterId;
  std::string zk;
  std::string zkSessionTimeout = "10s";
  std::string advertiseHost;
  std::string operatorTokenFile;
  std::string httpTlsCert, httpTlsKey;
  CurveServerFlags curve;
  std::string aclsFile;
  std::string logLevel = "info";
};

void runMaster(const MasterArgs& a) {
  setUpLogging("allot-master", a.logLevel);

  runtime::MasterOptions o;
  o.endpoint = fmt::format("tcp://{}:{}", a.host, a.port);
  o.httpHost = a.host == "*" ? "0.0.0.0" : a.host;
  o.httpPort = a.httpPort;
  o.httpTlsCert = a.httpTlsCert;
  o.httpTlsKey = a.httpTlsKey;
  if (a.noRegistry && !a.workDir.empty()) {
    throw InvalidArgument("--work-dir and --no-registry exclude each other");
  }
  o.workDir = a.workDir;
  if (!a.noRegistry && o.workDir.empty() && a.zk.empty()) {
    // `allot master` alone starts a working one-machine cluster.
    o.workDir =
        (std::filesystem::temp_directory_path() / fmt::format("allot-master-{}", a.port)).string();
    spdlog::info("no --work-dir: the registry is kept in {}", o.workDir);
  }
  o.policy = a.policy;
  for (const std::string& p : a.params) {
    const Params parsed = Params::parse(p);
    for (const auto& [key, value] : parsed.values()) o.params.set(key, value);
  }
  o.allocationInterval = parseDuration("--allocation-interval", a.allocationInterval);
  o.offerTimeout = parseDuration("--offer-timeout", a.offerTimeout, /*allowZero=*/true);
  o.agentTimeout = parseDuration("--agent-timeout", a.agentTimeout);
  if (!a.agentReregisterTimeout.empty()) {
    o.agentReregisterTimeout =
        parseDuration("--agent-reregister-timeout", a.agentReregisterTimeout);
  }
  o.frameworkTimeout = parseDuration("--framework-timeout", a.frameworkTimeout);
  o.agentHeartbeatInterval = parseDuration("--heartbeat-interval", a.heartbeatInterval);
  o.frameworkHeartbeatInterval = o.agentHeartbeatInterval;
  o.killGracePeriod = parseDuration("--kill-grace-period", a.killGracePeriod);
  o.unreachableAgentAge = parseDuration("--unreachable-agent-age", a.unreachableAgentAge);
  o.maxUnreachableAgents = a.maxUnreachableAgents;
  if (o.agentHeartbeatInterval >= o.agentTimeout ||
      o.frameworkHeartbeatInterval >= o.frameworkTimeout) {
    throw InvalidArgument(
        "--heartbeat-interval must be shorter than --agent-timeout and --framework-timeout");
  }
  o.utilizationInterval =
      parseDuration("--utilization-interval", a.utilizationInterval, /*allowZero=*/true);
  o.utilizationSamples = a.utilizationSamples;
  o.masterId = a.masterId;
  if (!a.operatorTokenFile.empty()) {
    o.operatorToken = readTokenFile("--operator-token-file", a.operatorTokenFile);
  }
  o.curve = a.curve.options();
  o.aclsFile = a.aclsFile;
  if (!o.curve) {
    spdlog::warn(
        "the agents' and frameworks' links are plain TCP: whoever reaches port {} may run "
        "commands on the agents (secure them with --curve-key, see `allot keygen --help`)",
        a.port);
  }

  if (!a.zk.empty()) {
    o.zkSessionTimeout = parseDuration("--zk-session-timeout", a.zkSessionTimeout);
  }
  runtime::MasterHaOptions ha;
  ha.zk = a.zk;
  ha.advertiseHost = a.advertiseHost;
  ha.registry = !a.noRegistry;

  // Block SIGINT/SIGTERM before the election's and the master's threads
  // start, which inherit the mask: the service alone takes them.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  runtime::SystemClock clock;
  zmq::context_t context;
  runtime::MasterService service(context, clock, std::move(o), std::move(ha));
  service.stopOnBlockedSignals();
  service.run();
  const std::string lost = service.lostLead();
  if (!lost.empty()) {
    throw Error(
        fmt::format("master {}: lost leadership in ZooKeeper {} ({}); exiting, so that "
                    "a restart stands by while another master leads",
                    service.id(), service.zkShown(), lost));
  }
  if (service.leading()) spdlog::info("master {} stopped", service.id());
}

}  // namespace

void addMasterCommand(CLI::App& app) {
  auto args = std::make_shared<MasterArgs>();
  auto* cmd = app.add_subcommand(
      "master", "Run a master: agents register, frameworks subscribe and receive offers");
  cmd->add_option("--host", args->host, "Address to listen on (* for all)")->capture_default_str();
  cmd->add_option("--port", args->port, "Port of the agents' and frameworks' socket")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--http-port", args->httpPort,
                  "Port of the web UI (http://HOST:PORT/) and the HTTP API (/api/v1/state, "
                  "/api/v1/utilization, /metrics, /health); -1: none")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  cmd->add_option("--work-dir", args->workDir,
                  "Folder of the registry (registry.sqlite): admitted agents and frameworks, "
                  "recovered on restart. Default: $TMPDIR/allot-master-PORT; with --zk the "
                  "registry is in ZooKeeper instead");
  cmd->add_flag("--no-registry", args->noRegistry,
                "Keep no registry: a restarted master knows nothing (throwaway clusters)");
  cmd->add_option("--policy", args->policy, "Allocation policy (see `allot policies`)")
      ->capture_default_str();
  cmd->add_option("--param", args->params, "Policy parameter name=value (repeatable)");
  cmd->add_option("--allocation-interval", args->allocationInterval,
                  "Time between periodic allocation rounds (rounds also run soon after events)")
      ->capture_default_str();
  cmd->add_option("--offer-timeout", args->offerTimeout,
                  "Rescind offers unanswered this long (0: never)")
      ->capture_default_str();
  cmd->add_option("--agent-timeout", args->agentTimeout,
                  "An agent silent this long is unreachable; its tasks are reported LOST")
      ->capture_default_str();
  cmd->add_option("--agent-reregister-timeout", args->agentReregisterTimeout,
                  "After a restart, time agents of the registry have to re-register. Default: "
                  "--agent-timeout");
  cmd->add_option("--framework-timeout", args->frameworkTimeout,
                  "A framework silent this long is disconnected (its failover timeout starts)")
      ->capture_default_str();
  cmd->add_option("--heartbeat-interval", args->heartbeatInterval,
                  "How often agents and drivers are told to send heartbeats")
      ->capture_default_str();
  cmd->add_option("--kill-grace-period", args->killGracePeriod,
                  "Time between SIGTERM and SIGKILL when a task is killed")
      ->capture_default_str();
  cmd->add_option("--unreachable-agent-age", args->unreachableAgentAge,
                  "Forget an agent unreachable this long (from the state and the registry); "
                  "back later, it registers as a new agent")
      ->capture_default_str();
  cmd->add_option("--max-unreachable-agents", args->maxUnreachableAgents,
                  "Unreachable agents kept at most; beyond, the longest unreachable are forgotten")
      ->check(wholeNumberFlag(0, 1'000'000'000))
      ->capture_default_str();
  cmd->add_option("--utilization-interval", args->utilizationInterval,
                  "How often the cluster's use is sampled for the web UI's chart and "
                  "/api/v1/utilization (0: never)")
      ->capture_default_str();
  cmd->add_option("--utilization-samples", args->utilizationSamples,
                  "Samples kept (720 at 5s: the last hour)")
      ->check(wholeNumberFlag(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--zk", args->zk,
                  "High availability: zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH, or "
                  "file://FILE holding it (keeps the password out of `ps`). With USER:PASSWORD "
                  "only masters with the same may stand, and only they read the registry. "
                  "Masters with the same "
                  "URL elect one leader; the others stand by until it goes, binding only their "
                  "--http-port, where /health answers 503 and other requests are redirected "
                  "(307) to the leader. "
                  "Agents and frameworks take the same URL as --master");
  cmd->add_option("--zk-session-timeout", args->zkSessionTimeout,
                  "ZooKeeper session timeout: how soon a dead leader is replaced")
      ->capture_default_str();
  cmd->add_option("--advertise-host", args->advertiseHost,
                  "Host announced in ZooKeeper for agents and frameworks to connect to. Default: "
                  "--host, or this machine's name when --host is *");
  cmd->add_option("--http-tls-cert", args->httpTlsCert,
                  "Serve --http-port over HTTPS with this certificate (PEM, then any "
                  "intermediates); needs --http-tls-key. Clients then use --master "
                  "https://HOST:PORT (and --ca-file for a certificate of a private CA)")
      ->needs(cmd->add_option("--http-tls-key", args->httpTlsKey,
                              "The private key (PEM) of --http-tls-cert"));
  cmd->add_option("--operator-token-file", args->operatorTokenFile,
                  "File holding a token that operator calls (allot weight, quota, reserve, "
                  "unreserve: POST /api/v1/...) must present; reads stay open. Default: no "
                  "token, and anyone who reaches --http-port may change roles and reservations");
  args->curve.add(cmd);
  cmd->add_option("--acls", args->aclsFile,
                  "Access control lists (JSON, Mesos' --acls form): which principals may "
                  "register frameworks in which roles (register_frameworks), run tasks as which "
                  "users (run_tasks) and register agents (register_agents); the first rule that "
                  "matches decides, and \"permissive\": false refuses what none matches. A "
                  "principal is its CURVE key's name in --curve-clients (without it, what a "
                  "framework claims). Read again when it changes. See docs/runtime-protocol.md")
      ->check(CLI::ExistingFile);
  cmd->add_option("--master-id", args->masterId,
                  "Id of this master run (prefix of the ids it assigns). Default: from the time");
  cmd->add_option("--log-level", args->logLevel, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  cmd->footer(
      "Durations: 1s, 250ms, 500us, 2m, 1h, 14d, or a number of seconds.\n"
      "Examples:\n"
      "  allot master --work-dir /var/lib/allot/master\n"
      "  allot master --port 5050 --http-port 5051 --work-dir ./m --policy drf \\\n"
      "      --allocation-interval 1s --offer-timeout 30s --agent-timeout 15s\n"
      "  allot master --no-registry --policy fifo --http-port -1\n"
      "  allot master --curve-key master.key --curve-clients clients.txt --acls acls.json");
  cmd->callback([args] { runMaster(*args); });
}

}  // namespace allot::cli
