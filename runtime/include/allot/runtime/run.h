#pragma once

// `allot run`'s framework, like mesos-execute grown into job arrays,
// services and cron jobs: it subscribes, launches copies of one command as
// offers fit, prints their state changes and ends with an exit status.
//
//   RunOptions options;
//   options.master = "127.0.0.1:5050";
//   options.need = Resources::parse("cpus:1;mem:128");
//   options.command = "echo hello";
//   int status = runCommand(options, std::cout, std::cerr);
//
// Built on the scheduler driver (scheduler.h). SIGINT and SIGTERM, blocked
// in the calling thread and read from a signalfd, tear the framework down.

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/runtime/cron.h"
#include "allot/runtime/curve.h"
#include "allot/runtime/wire.h"

namespace allot::runtime {

// Which ends of a copy launch it again, without a limit (`never`: only as
// RunOptions::retries says).
enum class Restart { kNever, kOnFailure, kAlways };

// "never", "on-failure", "always".
const char* restartName(Restart restart);

// Where copies may run, as Marathon's constraints say it: FIELD is
// `hostname` or an agent attribute (`rack`), compared with each offer's.
//   FIELD:UNIQUE         at most one running copy per value
//   FIELD:MAX_PER:N      at most N running copies per value
//   FIELD:CLUSTER:VALUE  only where FIELD is VALUE
//   FIELD:LIKE:REGEX     only where FIELD matches REGEX (whole value)
//   FIELD:UNLIKE:REGEX   not where FIELD matches REGEX
//   FIELD:GROUP_BY[:N]   evenly over FIELD's values: a copy goes where the
//                        fewest run, counting every value seen in offers
//                        (and N values at least, those not yet seen with 0)
// An agent without the attribute satisfies only UNLIKE.
struct PlacementConstraint {
  enum class Op { kUnique, kMaxPer, kCluster, kLike, kUnlike, kGroupBy };
  std::string field;
  Op op = Op::kUnique;
  std::string value;                        // CLUSTER's value, LIKE's and UNLIKE's regex
  std::uint32_t maxPer = 1;                 // MAX_PER's N (UNIQUE: 1); GROUP_BY's N
  std::string text;                         // as given
  std::shared_ptr<const std::regex> regex;  // LIKE's and UNLIKE's, compiled once

  // Parses FIELD:OP[:ARGUMENT]; throws ParseError naming --constraint.
  static PlacementConstraint parse(std::string_view text);
  // Whether a copy may run where FIELD is `value` (nullopt: the agent has no
  // such attribute), with `running` copies there already and (GROUP_BY) at
  // least `fewest` copies at every value.
  bool allows(std::optional<std::string_view> value, std::uint32_t running,
              std::uint32_t fewest = 0) const;
};

struct RunOptions {
  std::string master;  // HOST:PORT, tcp://HOST:PORT or zk://HOST:PORT/PATH
  CurveClientOptions curve;
  Resources need;  // each copy's
  std::string role{kUnreservedRole};
  std::string name = "allot-run";  // the framework's and the tasks' name
  std::string principal;
  std::string user;                      // the tasks run as this user
  std::string command;                   // a shell command line
  std::vector<std::string> environment;  // NAME=VALUE, set in each task
  std::uint32_t instances = 1;           // copies, each a task (a job array)
  std::uint32_t retries = 0;             // relaunches of a copy that did not finish
  Restart restart = Restart::kNever;
  double backoff = 1;       // seconds before a `restart` relaunch, doubled while copies end fast
  double maxBackoff = 300;  // ... up to this
  std::uint32_t maxRunning = 0;  // copies launched and not ended at most (0: no limit)
  // Rounds of the copies at a cron schedule's times, or every `every`.
  std::optional<CronSchedule> cron;
  std::optional<Duration> every;
  std::string checkpoint;                 // a file from which another run takes this one over
  std::optional<double> failoverTimeout;  // seconds; 24 h by default with a checkpoint
  std::vector<PlacementConstraint> constraints;
  // Ports each copy is given from its offer's `ports` (the lowest free ones,
  // the role's reserved ones first), named in its environment: PORT0, PORT1,
  // ..., PORT (= PORT0) and PORTS ("31000,31001"), as Marathon does.
  std::uint32_t ports = 0;
  std::optional<wire::HealthCheck> healthCheck;
  // The health check's port is the copy's PORTk, not healthCheck->port.
  std::optional<std::uint32_t> healthPortIndex;
  std::optional<double> killGrace;  // seconds between the task's SIGTERM and SIGKILL
  double timeout = 0;               // seconds, then the copies are killed; 0: none
  bool json = false;                // state changes as JSON lines, and no notes on `err`
};

// Exit statuses other than a task's own.
constexpr int kRunExitNotFinished = 1;  // KILLED, LOST, ERROR, GONE
constexpr int kRunExitTimeout = 124;    // as timeout(1)
constexpr int kRunExitInterrupted = 130;

// Runs `options`; returns the exit status: 0 when every copy FINISHED, else
// the first copy's (by index) that did not (its command's exit status when
// it FAILED, 128+N when killed by signal N; kRunExitNotFinished otherwise),
// kRunExitTimeout after `timeout`, kRunExitInterrupted on SIGINT/SIGTERM (0
// for a service or a schedule, whose normal end that is). State changes go
// to `out`, notes and the summary to `err`. Throws ParseError for options
// that make no run, naming the flag of `allot run`; Error for a checkpoint
// it cannot use.
int runCommand(const RunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace allot::runtime
