// `allot run`: a one-off framework, like mesos-execute. It subscribes, waits
// for an offer that fits, launches one task, prints the task's state changes
// and exits with the task's status. The work is done by allot::driver
// (runtime/include/allot/runtime/scheduler.h); this file only decides.

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/scheduler.h"
#include "commands.h"
#include "common.h"
#include "curve_flags.h"

namespace allot::cli {
namespace {

// Exit statuses other than the task's own.
constexpr int kExitNotFinished = 1;  // KILLED, LOST, ERROR, GONE
constexpr int kExitTimeout = 124;    // as timeout(1)
constexpr int kExitInterrupted = 130;

struct RunArgs {
  std::string master;
  double cpus = 1;
  double mem = 128;
  double disk = 0;
  std::string role{kUnreservedRole};
  std::string name = "allot-run";
  std::string principal;
  std::string user;
  double timeout = 0;
  bool json = false;
  bool verbose = false;
  std::vector<std::string> command;
  CurveClientFlags curve;
  // A health check: at most one of the three kinds; the times are Mesos'
  // defaults unless given.
  std::string healthCommand;
  std::optional<unsigned> healthTcp;
  std::string healthHttp;    // PORT or PORT/PATH
  bool healthHttps = false;  // --health-http over TLS
  std::optional<double> healthDelay, healthInterval, healthTimeout, healthGrace;
  std::optional<unsigned> healthFailures;
  std::optional<double> killGrace;  // the task's kill policy
};

// The health check the flags ask for, if any; throws naming the flag when
// they do not make one.
std::optional<wire::HealthCheck> healthCheck(const RunArgs& args) {
  const int kinds = (args.healthCommand.empty() ? 0 : 1) + (args.healthTcp ? 1 : 0) +
                    (args.healthHttp.empty() ? 0 : 1);
  const bool times = args.healthDelay || args.healthInterval || args.healthTimeout ||
                     args.healthGrace || args.healthFailures;
  if (kinds == 0) {
    if (times) {
      throw ParseError(
          "--health-delay/-interval/-timeout/-grace/-failures need a check: --health-cmd, "
          "--health-tcp or --health-http");
    }
    return std::nullopt;
  }
  if (kinds > 1) throw ParseError("give one of --health-cmd, --health-tcp and --health-http");
  wire::HealthCheck check;
  if (!args.healthCommand.empty()) {
    check.set_type(wire::HealthCheck::COMMAND);
    check.set_command(args.healthCommand);
  } else if (args.healthTcp) {
    check.set_type(wire::HealthCheck::TCP);
    check.set_port(*args.healthTcp);
  } else {
    check.set_type(args.healthHttps ? wire::HealthCheck::HTTPS : wire::HealthCheck::HTTP);
    const std::size_t slash = args.healthHttp.find('/');
    const std::string port = args.healthHttp.substr(0, slash);
    char* end = nullptr;
    const unsigned long number = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number == 0 || number > 65535) {
      throw ParseError(fmt::format(
          "--health-http {}: expected PORT or PORT/PATH (8080/health), with a port 1-65535",
          args.healthHttp));
    }
    check.set_port(static_cast<std::uint32_t>(number));
    if (slash != std::string::npos) check.set_path(args.healthHttp.substr(slash));
  }
  if (args.healthDelay) check.set_delay_seconds(*args.healthDelay);
  if (args.healthInterval) check.set_interval_seconds(*args.healthInterval);
  if (args.healthTimeout) check.set_timeout_seconds(*args.healthTimeout);
  if (args.healthGrace) check.set_grace_period_seconds(*args.healthGrace);
  if (args.healthFailures) check.set_consecutive_failures(*args.healthFailures);
  if (auto why = runtime::healthCheckProblem(check)) {
    throw ParseError(fmt::format("the health check flags: {}", *why));
  }
  return check;
}

// One argument as /bin/sh reads it back.
std::string shellQuote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-./=:,+@%") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// A single word is a shell command line as given ("echo a && exit 3"); several
// words are one command and its arguments, quoted for /bin/sh -c.
std::string commandLine(const std::vector<std::string>& words) {
  if (words.size() == 1) return words[0];
  std::string line;
  for (const std::string& word : words) {
    if (!line.empty()) line += ' ';
    line += shellQuote(word);
  }
  return line;
}

std::string clockTime() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  return fmt::format("{:02}:{:02}:{:02}.{:03}", tm.tm_hour, tm.tm_min, tm.tm_sec, ms.count());
}

class RunScheduler final : public runtime::Scheduler {
 public:
  RunScheduler(const RunArgs& args, Resources need, std::optional<wire::HealthCheck> check)
      : args_(args),
        need_(std::move(need)),
        command_(commandLine(args.command)),
        check_(std::move(check)) {
    taskId_ = fmt::format("{}-{}-{}", args.name, ::getpid(),
                          std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
  }

  // The exit status once the task ended (or the run gave up).
  std::optional<int> result() const { return result_; }
  void giveUp(int code) { result_ = code; }
  // After --timeout: the task's end (KILLED, most likely) exits with 124.
  void markTimedOut() { timedOut_ = true; }
  bool timedOut() const { return timedOut_; }
  bool launched() const { return launched_; }
  const std::string& taskId() const { return taskId_; }
  const std::string& agentId() const { return agentId_; }

  void registered(runtime::SchedulerDriver&, const std::string& frameworkId,
                  const std::string& masterId) override {
    note(fmt::format("subscribed as framework {} (master {}); waiting for an offer of {}{}",
                     frameworkId, masterId, toString(need_),
                     isUnreservedRole(args_.role) ? "" : " in role " + args_.role));
  }

  void reregistered(runtime::SchedulerDriver& driver, const std::string& masterId) override {
    note(fmt::format("subscribed again (master {})", masterId));
    ++reconcileRound_;
    reconcileUntilAnswered(driver, reconcileRound_);
  }

  void disconnected(runtime::SchedulerDriver&) override {
    note("lost the master; subscribing again");
  }

  void error(runtime::SchedulerDriver& driver, const std::string& message) override {
    if (driver.removed()) {
      // Torn down by an operator (or failed over too late): its task is
      // killed by the master, and no update of it will come here.
      std::cerr << fmt::format("allot run: the master removed this framework ({}); {}\n", message,
                               launched_ ? fmt::format("task {} is killed with it", taskId_)
                                         : std::string("no task was launched"));
      result_ = kExitNotFinished;
      driver.stop();
      return;
    }
    note("the master refused a message: " + message);
  }

  void resourceOffers(runtime::SchedulerDriver& driver,
                      const std::vector<wire::Offer>& offers) override {
    wire::Filters later;
    later.set_refuse_seconds(3600);  // one task only: let other frameworks have them
    for (const wire::Offer& offer : offers) {
      std::optional<Resources> use;
      if (!launched_) use = fit(offer);
      if (!use) {
        driver.declineOffer(offer.offer_id(), later);
        continue;
      }
      wire::TaskInfo task;
      task.set_task_id(taskId_);
      task.set_name(args_.name);
      task.set_agent_id(offer.agent_id());
      task.set_resources(toString(*use));
      task.set_command(command_);
      if (check_) *task.mutable_health_check() = *check_;
      if (args_.killGrace) task.mutable_kill_policy()->set_grace_period_seconds(*args_.killGrace);
      wire::Filters rest;
      rest.set_refuse_seconds(3600);
      driver.launchTasks({offer.offer_id()}, {task}, rest);
      launched_ = true;
      agentId_ = offer.agent_id();
      note(fmt::format("launching task {} on agent {} ({}): {}", taskId_, offer.agent_id(),
                       offer.hostname(), command_));
      driver.suppressOffers();
    }
  }

  void statusUpdate(runtime::SchedulerDriver& driver, const wire::TaskStatus& status) override {
    if (status.task_id() != taskId_ || result_) return;
    answered_ = true;
    if (status.state() == lastState_ && status.uuid().empty()) return;  // a reconciliation echo
    lastState_ = status.state();
    if (!status.agent_id().empty()) agentId_ = status.agent_id();
    print(status);
    if (!runtime::isTerminal(status.state())) return;
    result_ = timedOut_ ? kExitTimeout : exitCode(status);
    if (status.state() != wire::TASK_FINISHED && status.state() != wire::TASK_FAILED) {
      std::cerr << fmt::format("allot run: task {} ended {}{}\n", taskId_,
                               runtime::taskStateName(status.state()),
                               status.message().empty() ? "" : ": " + status.message());
    }
    driver.stop(false);
  }

 private:
  // Asks the master for the task's state, again every kReconcileRetry until
  // an update of it arrives: a restarted master does not answer for a task
  // of an agent it still expects to re-register (the framework asks again),
  // and answers TASK_LOST once that agent is given up.
  void reconcileUntilAnswered(runtime::SchedulerDriver& driver, std::uint64_t round) {
    if (!launched_ || result_ || round != reconcileRound_ || !driver.subscribed()) return;
    answered_ = false;
    wire::Reconcile::Task task;
    task.set_task_id(taskId_);
    task.set_agent_id(agentId_);
    driver.reconcileTasks({task});
    driver.loop().after(kReconcileRetry, [this, &driver, round] {
      if (!answered_) reconcileUntilAnswered(driver, round);
    });
  }

  // The resources to launch with, if the offer holds `need_`: reserved for
  // our role first, else unreserved.
  std::optional<Resources> fit(const wire::Offer& offer) const {
    try {
      Resources offered = Resources::parse(offer.resources());
      if (!isUnreservedRole(args_.role)) {
        Resources reserved = need_.withRole(args_.role);
        if (offered.contains(reserved)) return reserved;
      }
      if (offered.contains(need_)) return need_;
    } catch (const ParseError& e) {
      spdlog::warn("offer {} has unreadable resources: {}", offer.offer_id(), e.what());
    }
    return std::nullopt;
  }

  // FINISHED: 0; FAILED: the command's exit status (128 + signal when
  // killed by one, at least 1); anything else terminal: 1.
  static int exitCode(const wire::TaskStatus& status) {
    if (status.state() == wire::TASK_FINISHED) return 0;
    if (status.state() != wire::TASK_FAILED) return kExitNotFinished;
    const int raw = status.exit_status();
    int code = 1;
    if (WIFEXITED(raw)) code = WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) code = 128 + WTERMSIG(raw);
    return code == 0 ? 1 : code;
  }

  void print(const wire::TaskStatus& status) const {
    if (args_.json) {
      nlohmann::json j;
      j["time"] = clockTime();
      j["task_id"] = status.task_id();
      j["agent_id"] = status.agent_id();
      j["state"] = std::string(runtime::taskStateName(status.state()));
      j["message"] = status.message();
      j["reason"] = status.reason();
      if (status.has_healthy()) j["healthy"] = status.healthy();
      if (runtime::isTerminal(status.state())) j["exit_code"] = exitCode(status);
      std::cout << j.dump() << std::endl;
      return;
    }
    std::string line = fmt::format("[{}] task {}: {}", clockTime(), status.task_id(),
                                   runtime::taskStateName(status.state()));
    if (status.has_healthy()) line += status.healthy() ? ", healthy" : ", unhealthy";
    if (!status.message().empty()) line += " (" + status.message() + ")";
    std::cout << line << std::endl;
  }

  void note(const std::string& text) const {
    if (!args_.json) std::cerr << "allot run: " << text << "\n";
  }

  const RunArgs& args_;
  Resources need_;
  std::string command_;
  std::optional<wire::HealthCheck> check_;
  std::string taskId_;
  std::string agentId_;
  bool launched_ = false;
  std::uint64_t reconcileRound_ = 0;  // one per re-subscription
  bool answered_ = false;             // an update of the task came since the last reconcile
  static constexpr std::chrono::seconds kReconcileRetry{3};
  wire::TaskState lastState_ = wire::TASK_STATE_UNSPECIFIED;
  std::optional<int> result_;
  bool timedOut_ = false;
};

int runOnce(const RunArgs& args) {
  // NaN passes every `<= 0` test: check for what is allowed, not against
  // what is not.
  auto amount = [](const char* flag, double value) {
    if (!(std::isfinite(value) && value >= 0)) {
      throw ParseError(
          fmt::format("{} must be a positive number (or 0 for none), not {}", flag, value));
    }
  };
  amount("--cpus", args.cpus);
  amount("--mem", args.mem);
  amount("--disk", args.disk);
  if (args.cpus <= 0 && args.mem <= 0) throw ParseError("--cpus or --mem must be positive");
  Resources need;
  if (args.cpus > 0) need.setScalar("cpus", args.cpus);
  if (args.mem > 0) need.setScalar("mem", args.mem);
  if (args.disk > 0) need.setScalar("disk", args.disk);
  if (need.empty()) {
    throw ParseError(fmt::format("--cpus {} --mem {} --disk {} ask for no resources", args.cpus,
                                 args.mem, args.disk));
  }
  std::optional<wire::HealthCheck> check = healthCheck(args);
  if (args.killGrace) {
    wire::KillPolicy policy;
    policy.set_grace_period_seconds(*args.killGrace);
    if (auto why = runtime::killPolicyProblem(policy)) {
      throw ParseError(fmt::format("--kill-grace: {}", *why));
    }
  }

  setUpLogging("allot-run", args.verbose ? "info" : "warn");

  wire::FrameworkInfo info;
  info.set_name(args.name);
  info.set_role(args.role);
  info.set_principal(args.principal);
  info.set_user(args.user);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  info.set_hostname(host);

  RunScheduler scheduler(args, need, std::move(check));
  runtime::SystemClock clock;
  runtime::DriverOptions driverOptions;
  driverOptions.curve = args.curve.options();
  runtime::SchedulerDriver driver(scheduler, info, args.master, clock, driverOptions);

  // SIGINT/SIGTERM: tear the framework down (the master kills the task).
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  const int signalFd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signalFd < 0) throw Error("allot run: cannot watch for signals (signalfd)");
  bool interrupted = false;
  driver.loop().watchFd(signalFd, [&] {
    signalfd_siginfo siginfo{};
    while (::read(signalFd, &siginfo, sizeof siginfo) > 0) {
    }
    interrupted = true;
    std::cerr << "allot run: interrupted; tearing the framework down\n";
    driver.stop(false);
  });

  if (args.timeout > 0) {
    driver.loop().after(secondsToDuration(args.timeout), [&] {
      if (scheduler.result()) return;
      if (!scheduler.launched()) {
        std::cerr << fmt::format(
            "allot run: timed out after {} s: no offer of {}{} came (is an agent with enough "
            "free resources registered?)\n",
            args.timeout, toString(need),
            isUnreservedRole(args.role) ? "" : " in role " + args.role);
        scheduler.giveUp(kExitTimeout);
        driver.stop(false);
        return;
      }
      std::cerr << fmt::format("allot run: timed out after {} s; killing task {}\n", args.timeout,
                               scheduler.taskId());
      scheduler.markTimedOut();
      driver.killTask(scheduler.taskId(), scheduler.agentId());
      // Wait a little for TASK_KILLED, then leave; tearing down kills it anyway.
      driver.loop().after(std::chrono::seconds(10), [&] {
        if (!scheduler.result()) driver.stop(false);
      });
    });
  }

  driver.run();
  ::close(signalFd);
  if (interrupted && !scheduler.result()) return kExitInterrupted;
  if (scheduler.timedOut() && !scheduler.result()) return kExitTimeout;
  return scheduler.result().value_or(kExitNotFinished);
}

}  // namespace

void addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run one command as a task on the cluster, like mesos-execute: wait for an offer that "
      "fits, launch, print state changes, exit with the task's status");
  cmd->footer(
      "Exit status: 0 when the task FINISHED; the command's exit status when it FAILED (128+N "
      "when killed by signal N); 1 when it was KILLED, LOST or refused (TASK_ERROR); 124 on "
      "--timeout; 130 when interrupted.\n"
      "Example: allot run --master 127.0.0.1:5050 --cpus 0.5 --mem 64 -- sh -c 'echo hi'");
  cmd->add_option("--master", args->master,
                  "Master address, HOST:PORT, or zk://HOST:PORT/PATH (the leading master)")
      ->required();
  args->curve.add(cmd);
  cmd->add_option("--cpus", args->cpus, "CPUs for the task (cores)")->capture_default_str();
  cmd->add_option("--mem", args->mem, "Memory for the task (MB)")->capture_default_str();
  cmd->add_option("--disk", args->disk, "Disk for the task (MB); 0: none")->capture_default_str();
  cmd->add_option("--role", args->role, "Role to subscribe in")->capture_default_str();
  cmd->add_option("--name", args->name, "Framework and task name")->capture_default_str();
  cmd->add_option("--principal", args->principal, "Framework principal");
  cmd->add_option("--user", args->user, "Run the task as this user (agents running as root)");
  cmd->add_option("--timeout", args->timeout,
                  "Give up after this many seconds (the task is killed); 0: wait forever")
      ->capture_default_str();
  const char* health = "Health check (Mesos' HealthCheck, run on the agent beside the task)";
  cmd->add_option("--health-cmd", args->healthCommand,
                  "Healthy while this shell command, run in the task's sandbox as its user, "
                  "exits 0")
      ->group(health);
  cmd->add_option("--health-tcp", args->healthTcp,
                  "Healthy while 127.0.0.1:PORT on the agent accepts connections")
      ->group(health);
  auto* http = cmd->add_option("--health-http", args->healthHttp,
                               "Healthy while GET http://127.0.0.1:PORT/PATH on the agent "
                               "answers 2xx or 3xx (PORT or PORT/PATH)")
                   ->group(health);
  cmd->add_flag("--health-https", args->healthHttps,
                "With --health-http: GET over TLS (https://); the certificate is not verified, "
                "as Mesos' HTTPS checks do not")
      ->needs(http)
      ->group(health);
  cmd->add_option("--health-delay", args->healthDelay,
                  "Seconds from the launch to the first check [15]")
      ->group(health);
  cmd->add_option("--health-interval", args->healthInterval,
                  "Seconds from the end of a check to the next [10]")
      ->group(health);
  cmd->add_option("--health-timeout", args->healthTimeout,
                  "Seconds a check may take before it counts as failed [20]")
      ->group(health);
  cmd->add_option("--health-grace", args->healthGrace,
                  "Seconds from the launch in which failures do not count, until a check "
                  "passes [10]")
      ->group(health);
  cmd->add_option("--health-failures", args->healthFailures,
                  "Failed checks in a row that kill the task (TASK_KILLED, reason "
                  "TASK_UNHEALTHY_CHECK); 0: never [3]")
      ->group(health);
  cmd->add_option("--kill-grace", args->killGrace,
                  "Seconds between the task's SIGTERM and SIGKILL when it is killed (--timeout, "
                  "an unhealthy check, interrupting allot run); default: the master's "
                  "--kill-grace-period");
  cmd->add_flag("--json", args->json, "Print each state change as one JSON object per line");
  cmd->add_flag("-v,--verbose", args->verbose, "Log the driver's work on stderr");
  cmd->add_option("command", args->command,
                  "The command, after '--': one word is a shell line (\"echo a; exit 3\"), several "
                  "are a program and its arguments")
      ->required();
  cmd->callback([args] {
    int code = runOnce(*args);
    std::cout.flush();
    std::exit(code);
  });
}

}  // namespace allot::cli
