// `allot run`: a one-off framework, like mesos-execute (and job arrays,
// services, cron jobs). This file reads the flags into runtime::RunOptions;
// runtime::runCommand (runtime/include/allot/runtime/run.h) does the work.

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/cron.h"
#include "allot/runtime/run.h"
#include "allot/runtime/wire.h"
#include "commands.h"
#include "common.h"
#include "curve_flags.h"

namespace allot::cli {
namespace {

constexpr std::array kRestarts{runtime::Restart::kNever, runtime::Restart::kOnFailure,
                               runtime::Restart::kAlways};

std::vector<std::string> restartNames() {
  std::vector<std::string> names;
  for (const runtime::Restart when : kRestarts) names.emplace_back(runtime::restartName(when));
  return names;
}

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
  std::uint32_t instances = 1;    // copies of the command, each a task
  std::uint32_t retries = 0;      // launches again of a copy that does not finish
  std::string restart = "never";  // never, on-failure or always
  double backoff = 1;       // seconds before a --restart relaunch, doubled while copies end fast
  double maxBackoff = 300;  // ... up to this
  std::string cron;         // --cron EXPR: a round of the copies at each match
  bool cronUtc = false;     // --cron in UTC, not the local time zone
  std::string every;        // --every DURATION: a round each DURATION
  std::uint32_t maxRunning = 0;           // copies launched and not ended at most (0: no limit)
  std::uint32_t ports = 0;                // ports each copy is given
  std::vector<std::string> constraints;   // FIELD:OP[:ARGUMENT]
  std::vector<std::string> environment;   // --env NAME=VALUE, set in each task
  std::string checkpoint;                 // --checkpoint FILE: a run another allot run takes over
  std::optional<double> failoverTimeout;  // seconds the master keeps the framework without us
  CurveClientFlags curve;
  // A health check: at most one of the three kinds; the times are Mesos'
  // defaults unless given.
  std::string healthCommand;
  std::string healthTcp;     // PORT or PORTk
  std::string healthHttp;    // PORT or PORT/PATH, PORT possibly PORTk
  bool healthHttps = false;  // --health-http over TLS
  std::optional<double> healthDelay, healthInterval, healthTimeout, healthGrace;
  std::optional<unsigned> healthFailures;
  std::optional<double> killGrace;  // the task's kill policy
};

// A health check's port: a number, or PORTk (the copy's k-th port of
// --ports, returned as an index). Throws naming the flag.
struct CheckPort {
  std::uint32_t number = 0;
  std::optional<std::uint32_t> index;
};
CheckPort checkPort(const char* flag, const std::string& text, const std::string& whole) {
  CheckPort port;
  const bool named = text.starts_with("PORT") || text.starts_with("$PORT");
  const std::string digits = named ? text.substr(text.find('T') + 1) : text;
  char* end = nullptr;
  const unsigned long number = std::strtoul(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || !std::isdigit(static_cast<unsigned char>(digits[0])) ||
      (!named && (number == 0 || number > 65535)) || (named && number > 65535)) {
    throw ParseError(fmt::format(
        "{} {}: expected a port 1-65535 or PORTk, the copy's k-th port of --ports (PORT0)", flag,
        whole));
  }
  if (named) {
    port.index = static_cast<std::uint32_t>(number);
    port.number = 1;  // replaced by the copy's port at each launch
  } else {
    port.number = static_cast<std::uint32_t>(number);
  }
  return port;
}

// The health check the flags ask for, if any; throws naming the flag when
// they do not make one.
std::optional<wire::HealthCheck> healthCheck(const RunArgs& args,
                                             std::optional<std::uint32_t>& portIndex) {
  const int kinds = (args.healthCommand.empty() ? 0 : 1) + (args.healthTcp.empty() ? 0 : 1) +
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
  } else if (!args.healthTcp.empty()) {
    check.set_type(wire::HealthCheck::TCP);
    const CheckPort port = checkPort("--health-tcp", args.healthTcp, args.healthTcp);
    check.set_port(port.number);
    portIndex = port.index;
  } else {
    check.set_type(args.healthHttps ? wire::HealthCheck::HTTPS : wire::HealthCheck::HTTP);
    const std::size_t slash = args.healthHttp.find('/');
    const CheckPort port =
        checkPort("--health-http", args.healthHttp.substr(0, slash), args.healthHttp);
    check.set_port(port.number);
    portIndex = port.index;
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
  runtime::RunOptions options;
  if (args.cpus > 0) options.need.setScalar("cpus", args.cpus);
  if (args.mem > 0) options.need.setScalar("mem", args.mem);
  if (args.disk > 0) options.need.setScalar("disk", args.disk);
  if (options.need.empty()) {
    throw ParseError(fmt::format("--cpus {} --mem {} --disk {} ask for no resources", args.cpus,
                                 args.mem, args.disk));
  }
  options.master = args.master;
  options.curve = args.curve.options();
  options.role = args.role;
  options.name = args.name;
  options.principal = args.principal;
  options.user = args.user;
  options.command = commandLine(args.command);
  options.environment = args.environment;
  options.instances = args.instances;
  options.retries = args.retries;
  for (const runtime::Restart when : kRestarts) {
    if (args.restart == runtime::restartName(when)) options.restart = when;
  }
  options.backoff = args.backoff;
  options.maxBackoff = args.maxBackoff;
  options.maxRunning = args.maxRunning;
  if (!args.cron.empty()) options.cron = runtime::CronSchedule::parse(args.cron, args.cronUtc);
  if (!args.every.empty()) options.every = parseDuration("--every", args.every);
  options.checkpoint = args.checkpoint;
  options.failoverTimeout = args.failoverTimeout;
  options.ports = args.ports;
  for (const std::string& text : args.constraints) {
    options.constraints.push_back(runtime::PlacementConstraint::parse(text));
  }
  options.healthCheck = healthCheck(args, options.healthPortIndex);
  options.killGrace = args.killGrace;
  options.timeout = args.timeout;
  options.json = args.json;
  setUpLogging("allot-run", args.verbose ? "info" : "warn");
  return runtime::runCommand(options, std::cout, std::cerr);
}

}  // namespace

void addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run a command as a task on the cluster, like mesos-execute: once, as N copies (a job "
      "array), kept running (--restart always: a service) or in rounds (--cron, --every: a cron "
      "job); wait for offers that fit, launch, print state changes, exit with the task's "
      "status");
  cmd->footer(
      "Exit status: 0 when the task FINISHED; the command's exit status when it FAILED (128+N "
      "when killed by signal N); 1 when it was KILLED, LOST or refused (TASK_ERROR); 124 on "
      "--timeout; 130 when interrupted. With --instances, that of the first copy (by index) that "
      "did not finish after its --retries, 0 when all finished. With --restart always (a "
      "service) or --cron/--every, 0 when stopped by SIGINT or SIGTERM.\n"
      "Examples: allot run --master 127.0.0.1:5050 --cpus 0.5 --mem 64 -- sh -c 'echo hi'\n"
      "          allot run --master 127.0.0.1:5050 --instances 100 --retries 2 -- "
      "'./sweep.sh $ALLOT_INSTANCE'\n"
      "          allot run --master 127.0.0.1:5050 --instances 2 --restart always --checkpoint "
      "web.run --ports 1 --health-tcp PORT0 -- 'python3 -m http.server $PORT0'\n"
      "          allot run --master 127.0.0.1:5050 --cron '30 2 * * *' --checkpoint "
      "backup.run -- ./backup.sh");
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
  cmd->add_option("--instances", args->instances,
                  "Run this many copies of the command, each a task with ALLOT_INSTANCE (0 to "
                  "N-1) and ALLOT_INSTANCES (N) in its environment, as many at once as offers "
                  "fit (a job array); the exit status is then that of the first copy that did "
                  "not finish")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--retries", args->retries,
                  "Launch a copy again, up to this many times, when it ends other than FINISHED "
                  "(FAILED, LOST with its agent, KILLED as unhealthy, ...)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--restart", args->restart,
                  "Launch a copy again, without a limit, whenever it ends (always: a service, "
                  "kept running until allot run is stopped) or whenever it ends other than "
                  "FINISHED (on-failure); never: only as --retries says")
      ->check(CLI::IsMember(restartNames()))
      ->type_name("WHEN")
      ->capture_default_str();
  cmd->add_option("--backoff", args->backoff,
                  "With --restart: seconds before a copy is launched again, doubled for each "
                  "relaunch in a row of a copy that ran less than 60 s")
      ->capture_default_str();
  cmd->add_option("--max-backoff", args->maxBackoff,
                  "With --restart: the longest wait before a relaunch, in seconds")
      ->capture_default_str();
  auto* cron = cmd->add_option(
      "--cron", args->cron,
      "Run the copies in rounds at the times of a cron schedule (minute hour day-of-month month "
      "day-of-week, as crontab(5); @daily, @hourly, ...), in the local time zone, until stopped; "
      "a round still running at the next time makes that one skipped. Each copy is a task "
      "NAME-PID-N.cR.I with its round in ALLOT_ROUND");
  cron->type_name("SCHEDULE");
  cmd->add_flag("--cron-utc", args->cronUtc, "Read --cron's times in UTC")->needs(cron);
  cmd->add_option("--every", args->every,
                  "Run the copies in rounds, the first at once and then every DURATION (30s, 5m, "
                  "1h), until stopped; a round still running makes the next one skipped")
      ->type_name("DURATION")
      ->excludes(cron);
  cmd->add_option("--max-running", args->maxRunning,
                  "With --instances: run at most this many copies at once (0: as many as offers "
                  "fit)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--ports", args->ports,
                  "Give each copy this many ports of its agent (from the offer's ports "
                  "resource, as Marathon does), in its environment as PORT0, PORT1, ..., PORT "
                  "(= PORT0) and PORTS (comma-separated); no other copy gets them while it runs")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--constraint", args->constraints,
                  "Where copies may run, as Marathon's constraints (repeatable): FIELD:UNIQUE "
                  "(one running copy per value), FIELD:MAX_PER:N, FIELD:CLUSTER:VALUE (only "
                  "there), FIELD:LIKE:REGEX, FIELD:UNLIKE:REGEX, FIELD:GROUP_BY[:N] (evenly over "
                  "the values offers show, N at least); FIELD is hostname or an agent "
                  "attribute (allot agent --attributes 'rack:r1'). Copies that cannot be "
                  "placed wait")
      ->type_name("FIELD:OP[:ARG]")
      ->allow_extra_args(false);
  cmd->add_option("--env", args->environment,
                  "Set NAME=VALUE in the task's environment (repeatable)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  auto* checkpoint = cmd->add_option(
      "--checkpoint", args->checkpoint,
      "Keep the run's state in FILE, so that if this process dies (crash, kill -9, a closed "
      "terminal) its tasks keep running and `allot run` given the same FILE, command and flags "
      "takes them over (the framework fails over, as Mesos' do); removed when the run ends");
  checkpoint->type_name("FILE");
  cmd->add_option("--failover-timeout", args->failoverTimeout,
                  "Seconds the master keeps the framework and its tasks while no allot run "
                  "holds it (default: 86400 with --checkpoint, else the master's minimum)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", args->timeout,
                  "Give up after this many seconds (the task is killed); 0: wait forever")
      ->capture_default_str();
  const char* health = "Health check (Mesos' HealthCheck, run on the agent beside the task)";
  cmd->add_option("--health-cmd", args->healthCommand,
                  "Healthy while this shell command, run in the task's sandbox as its user, "
                  "exits 0")
      ->group(health);
  cmd->add_option("--health-tcp", args->healthTcp,
                  "Healthy while 127.0.0.1:PORT on the agent accepts connections; PORT is a "
                  "number, or PORTk: the copy's k-th port of --ports")
      ->group(health);
  auto* http = cmd->add_option("--health-http", args->healthHttp,
                               "Healthy while GET http://127.0.0.1:PORT/PATH on the agent "
                               "answers 2xx or 3xx (PORT or PORT/PATH; PORT0/health: the "
                               "copy's first port of --ports)")
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
