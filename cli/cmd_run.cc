// `allot run`: a one-off framework, like mesos-execute. It subscribes, waits
// for an offer that fits, launches one task, prints the task's state changes
// and exits with the task's status. The work is done by allot::driver
// (runtime/include/allot/runtime/scheduler.h); this file only decides.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/cron.h"
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
// The framework's failover timeout with --checkpoint and no --failover-timeout.
constexpr double kDefaultFailoverSeconds = 24 * 3600;
// With --restart: a copy that ran at least this long before it ended is
// launched again after --backoff, not after its doubled delay.
constexpr std::chrono::seconds kBackoffReset{60};

// --restart: which ends of a copy launch it again (without a limit; --retries
// K is `never` with K relaunches of copies that did not finish).
enum class Restart { kNever, kOnFailure, kAlways };

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
  std::uint32_t instances = 1;  // copies of the command, each a task
  std::uint32_t retries = 0;    // launches again of a copy that does not finish
  Restart restart = Restart::kNever;
  double backoff = 1;       // seconds before a --restart relaunch, doubled while copies end fast
  double maxBackoff = 300;  // ... up to this
  std::string cron;         // --cron EXPR: a round of the copies at each match
  bool cronUtc = false;     // --cron in UTC, not the local time zone
  std::string every;        // --every DURATION: a round each DURATION
  std::uint32_t maxRunning = 0;           // copies launched and not ended at most (0: no limit)
  std::vector<std::string> environment;   // --env NAME=VALUE, set in each task
  std::string checkpoint;                 // --checkpoint FILE: a run another allot run takes over
  std::optional<double> failoverTimeout;  // seconds the master keeps the framework without us
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

// A time as people here read it: "2026-12-06 09:00:00" in the local zone.
std::string localTime(TimePoint at) {
  const std::time_t t = static_cast<std::time_t>(toMicros(at) / 1'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// --checkpoint FILE: the run's log, one JSON object a line: first the run's
// settings, then its framework id, each launch (written before the launch is
// sent) and each copy's retry or end (written before the update that ends it
// is acknowledged). A new `allot run` given the same file and command takes
// the framework over (within --failover-timeout) with its tasks, as Mesos
// frameworks fail over. Appending keeps each write small, however many copies.
class Checkpoint {
 public:
  explicit Checkpoint(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  // The objects an earlier run wrote, or none when there is no file. Throws
  // Error naming FILE:LINE for a line that is not a JSON object (a crash
  // mid-write leaves at most a last partial line, which is dropped).
  std::vector<nlohmann::json> read() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(path_);
    if (!in) return out;
    std::string line, next;
    std::size_t number = 0;
    bool more = static_cast<bool>(std::getline(in, line));
    while (more) {
      ++number;
      more = static_cast<bool>(std::getline(in, next));
      const bool last = !more;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        if (last) break;
        throw Error(fmt::format("--checkpoint {}:{}: not a line allot run wrote: {}", path_, number,
                                line.substr(0, 80)));
      }
      out.push_back(std::move(j));
      line = std::move(next);
    }
    return out;
  }

  void append(const nlohmann::json& j) {
    if (!out_.is_open()) {
      out_.open(path_, std::ios::app);
      if (!out_)
        throw Error(fmt::format("--checkpoint {}: cannot write: {}", path_, std::strerror(errno)));
    }
    out_ << j.dump() << '\n';
    out_.flush();
    if (!out_)
      throw Error(fmt::format("--checkpoint {}: cannot write: {}", path_, std::strerror(errno)));
  }

  // The run is over: nothing to take over.
  void remove() {
    out_.close();
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

 private:
  std::string path_;
  std::ofstream out_;
};

// Runs args.instances copies of the command, each launched again up to
// args.retries times when it ends other than FINISHED, and ends when every
// copy has ended for good. One copy without retries is mesos-execute.
class RunScheduler final : public runtime::Scheduler {
 public:
  // With `cron` or `every`, the copies run in rounds (see startRound()).
  RunScheduler(const RunArgs& args, Resources need, std::optional<wire::HealthCheck> check,
               Checkpoint* checkpoint, std::optional<runtime::CronSchedule> cron = std::nullopt,
               std::optional<Duration> every = std::nullopt)
      : args_(args),
        need_(std::move(need)),
        command_(commandLine(args.command)),
        check_(std::move(check)),
        checkpoint_(checkpoint),
        cron_(std::move(cron)),
        every_(every),
        instances_(args.instances) {
    base_ = fmt::format("{}-{}-{}", args.name, ::getpid(),
                        std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      instances_[i].taskId = taskIdOf(i, 0);
      // Between rounds every copy has ended; the first round starts them.
      if (scheduled()) instances_[i].phase = Phase::kEnded;
    }
    recount();
  }

  // The copies run in rounds, at --cron's times or every --every.
  bool scheduled() const { return cron_ || every_; }

  // What the checkpoint's first line holds: a run resumes only with the same.
  nlohmann::json settings() const {
    nlohmann::json j = {{"allot_run_checkpoint", 1},
                        {"name", args_.name},
                        {"command", command_},
                        {"resources", toString(need_)},
                        {"role", args_.role},
                        {"user", args_.user},
                        {"instances", instances_.size()},
                        {"retries", args_.retries},
                        {"max_running", args_.maxRunning},
                        {"environment", args_.environment}};
    if (args_.restart != Restart::kNever) j["restart"] = restartName(args_.restart);
    if (cron_) j["cron"] = {{"schedule", cron_->text()}, {"utc", cron_->utc()}};
    if (every_) j["every_us"] = toMicros(*every_);
    return j;
  }

  // Starts the checkpoint, or takes over the run it records: its framework
  // id (returned), task ids, launches, retries and ends. Throws Error when
  // it records another run.
  std::string startCheckpoint() {
    const std::vector<nlohmann::json> events = checkpoint_->read();
    if (events.empty()) {
      checkpoint_->append(settings());
      checkpoint_->append({{"base", base_}});
      return {};
    }
    if (events[0] != settings()) {
      throw Error(fmt::format(
          "--checkpoint {} records another run ({}); give the same command and flags to take it "
          "over, or remove the file to start anew",
          checkpoint_->path(), events[0].dump()));
    }
    std::string frameworkId;
    bool sawBase = false;
    byTaskId_.clear();
    for (std::size_t n = 1; n < events.size(); ++n) {
      const nlohmann::json& e = events[n];
      try {
        if (e.contains("base")) {
          sawBase = true;
          base_ = e.at("base").get<std::string>();
          for (std::size_t i = 0; i < instances_.size(); ++i) instances_[i].taskId = taskIdOf(i, 0);
        } else if (e.contains("framework_id")) {
          frameworkId = e.at("framework_id").get<std::string>();
        } else if (e.contains("round")) {
          resetRound(e.at("round").get<std::uint64_t>(),
                     fromMicros(e.at("at").get<std::int64_t>()));
        } else if (e.contains("round_end")) {
          ++(e.at("status").get<int>() == 0 ? roundsFinished_ : roundsFailed_);
        } else if (e.contains("skipped")) {
          ++roundsSkipped_;
        } else {
          Instance& i = instances_.at(e.at("instance").get<std::size_t>());
          const std::size_t index = static_cast<std::size_t>(&i - instances_.data());
          if (e.contains("launch")) {
            i.attempts = e.at("attempt").get<std::uint32_t>() + 1;
            i.taskId = taskIdOf(index, i.attempts - 1);
            i.agentId = e.at("launch").get<std::string>();
            i.phase = Phase::kLaunched;
            i.restarts = e.value("restarts", 0U);
            i.launchedAt = fromMicros(e.value("at", std::int64_t{0}));
          } else if (e.contains("retry")) {
            i.phase = Phase::kPending;
            i.taskId = taskIdOf(index, i.attempts);
          } else {
            i.phase = Phase::kEnded;
            i.exitCode = e.at("end").get<int>();
          }
        }
      } catch (const std::exception& error) {
        throw Error(fmt::format("--checkpoint {}:{}: not a line allot run wrote: {} ({})",
                                checkpoint_->path(), n + 1, e.dump(), error.what()));
      }
    }
    recount();
    // A run that died before it subscribed has nothing to take over but its
    // file: it goes on as new, under the ids the file may already name.
    if (!sawBase) {
      byTaskId_.clear();
      round_ = 0;
      for (std::size_t i = 0; i < instances_.size(); ++i) {
        instances_[i].taskId = taskIdOf(i, 0);
        if (scheduled()) instances_[i].phase = Phase::kEnded;
      }
      recount();
      checkpoint_->append({{"base", base_}});
    }
    resumed_ = !frameworkId.empty();
    return frameworkId;
  }

  // The run is over (every copy ended, torn down, or interrupted): its
  // checkpoint has nothing left to take over.
  void endCheckpoint() {
    if (checkpoint_ == nullptr) return;
    checkpoint_->remove();
  }

  // The exit status once every instance ended (or the run gave up).
  std::optional<int> result() const { return result_; }
  void giveUp(int code) { result_ = code; }
  // After --timeout: the tasks' ends (KILLED, most likely) exit with 124.
  void markTimedOut() { timedOut_ = true; }
  bool timedOut() const { return timedOut_; }
  bool launched() const {
    return std::any_of(instances_.begin(), instances_.end(),
                       [](const Instance& i) { return i.attempts > 0; });
  }
  // Kills every running instance (--timeout); the pending ones are not launched.
  void killAll(runtime::SchedulerDriver& driver) {
    waiting_.clear();
    for (Instance& i : instances_) {
      if (i.phase == Phase::kPending || i.phase == Phase::kDelayed) end(i, kExitTimeout);
      if (i.phase == Phase::kLaunched) driver.killTask(i.taskId, i.agentId);
    }
  }
  // "task ID" or "N tasks" (then `one` or `many`): what --timeout or a
  // teardown kills.
  std::string runningTasks(std::string_view one = "", std::string_view many = "") const {
    std::vector<std::string> ids;
    for (const Instance& i : instances_) {
      if (i.phase == Phase::kLaunched) ids.push_back(i.taskId);
    }
    if (ids.empty()) return fmt::format("no task{}", one);
    return ids.size() == 1 ? fmt::format("task {}{}", ids[0], one)
                           : fmt::format("{} tasks{}", ids.size(), many);
  }

  void registered(runtime::SchedulerDriver& driver, const std::string& frameworkId,
                  const std::string& masterId) override {
    if (resumed_) {
      note(
          fmt::format("took over framework {} (master {}) from --checkpoint {}: {} of {} copies "
                      "launched, {} ended",
                      frameworkId, masterId, checkpoint_->path(), count(Phase::kLaunched),
                      instances_.size(), count(Phase::kEnded)));
      reconcileLaunched(driver);
      if (count(Phase::kPending) == 0) driver.suppressOffers();
      if (scheduled()) {
        armSchedule(driver);
      } else if (count(Phase::kEnded) == instances_.size()) {
        finish();
        driver.stop(false);
      }
      return;
    }
    if (checkpoint_ != nullptr) checkpoint_->append({{"framework_id", frameworkId}});
    if (scheduled()) {
      driver.suppressOffers();
      armSchedule(driver);
      return;
    }
    note(fmt::format(
        "subscribed as framework {} (master {}); waiting for an offer of {}{}{}", frameworkId,
        masterId, toString(need_), isUnreservedRole(args_.role) ? "" : " in role " + args_.role,
        instances_.size() == 1 ? "" : fmt::format(" for each of {} instances", instances_.size())));
  }

  void reregistered(runtime::SchedulerDriver& driver, const std::string& masterId) override {
    note(fmt::format("subscribed again (master {})", masterId));
    reconcileLaunched(driver);
  }

  void disconnected(runtime::SchedulerDriver&) override {
    note("lost the master; subscribing again");
  }

  void error(runtime::SchedulerDriver& driver, const std::string& message) override {
    if (driver.removed()) {
      // Torn down by an operator (or failed over too late): its tasks are
      // killed by the master, and no update of them will come here.
      std::cerr << fmt::format("allot run: the master removed this framework ({}){}; {}\n", message,
                               resumed_ ? ", taken over from --checkpoint after its "
                                          "--failover-timeout had passed"
                                        : "",
                               launched() ? runningTasks(" is", " are") + " killed with it"
                                          : std::string("no task was launched"));
      result_ = kExitNotFinished;
      driver.stop();
      return;
    }
    note("the master refused a message: " + message);
  }

  void resourceOffers(runtime::SchedulerDriver& driver,
                      const std::vector<wire::Offer>& offers) override {
    for (const wire::Offer& offer : offers) {
      std::vector<wire::TaskInfo> tasks;
      std::optional<Resources> left;
      try {
        left = Resources::parse(offer.resources());
      } catch (const ParseError& e) {
        spdlog::warn("offer {} has unreadable resources: {}", offer.offer_id(), e.what());
      }
      while (left && !result_ && !waiting_.empty()) {
        if (args_.maxRunning > 0 && count(Phase::kLaunched) >= args_.maxRunning) break;
        const std::optional<Resources> use = fit(*left);
        if (!use) break;
        Instance& i = instances_[waiting_.front()];
        waiting_.pop_front();
        *left -= *use;
        tasks.push_back(taskInfo(i, offer, *use));
        setPhase(i, Phase::kLaunched);
        i.agentId = offer.agent_id();
        i.launchedAt = driver.loop().now();
        ++i.attempts;
        log({{"instance", &i - instances_.data()},
             {"attempt", i.attempts - 1},
             {"launch", i.agentId},
             {"at", toMicros(i.launchedAt)},
             {"restarts", i.restarts}});
        note(fmt::format("launching task {} on agent {} ({}): {}", i.taskId, offer.agent_id(),
                         offer.hostname(), command_));
      }
      // What is left: back to other frameworks soon while instances wait,
      // for an hour once none does (one task only: let them have it).
      wire::Filters filters;
      filters.set_refuse_seconds(pending() > 0 ? 5 : 3600);
      if (tasks.empty()) {
        driver.declineOffer(offer.offer_id(), filters);
      } else {
        driver.launchTasks({offer.offer_id()}, tasks, filters);
      }
    }
    // At --max-running, offers come back when a copy ends (a revive).
    if (pending() == 0 || (args_.maxRunning > 0 && count(Phase::kLaunched) >= args_.maxRunning)) {
      driver.suppressOffers();
    }
  }

  void statusUpdate(runtime::SchedulerDriver& driver, const wire::TaskStatus& status) override {
    const auto found = byTaskId_.find(status.task_id());
    if (found == byTaskId_.end() || result_) return;
    Instance& i = instances_[found->second.instance];
    // An earlier attempt's: it ended (LOST, the master kills it should its
    // agent come back) before this one was launched.
    if (found->second.attempt + 1 != i.attempts || i.phase != Phase::kLaunched) return;
    i.answered = true;
    if (status.state() == i.lastState && status.uuid().empty()) return;  // a reconciliation echo
    i.lastState = status.state();
    if (!status.agent_id().empty()) i.agentId = status.agent_id();
    print(status, found->second);
    if (!runtime::isTerminal(status.state())) return;
    const int code = exitCode(status);
    if (!timedOut_ && launchAgain(i, code)) {
      relaunch(driver, found->second.instance, status);
      return;
    }
    if (status.state() != wire::TASK_FINISHED && status.state() != wire::TASK_FAILED) {
      std::cerr << fmt::format("allot run: task {} ended {}{}\n", i.taskId,
                               runtime::taskStateName(status.state()),
                               status.message().empty() ? "" : ": " + status.message());
    }
    end(i, timedOut_ ? kExitTimeout : code);
    if (result_) {
      driver.stop(false);
    } else if (args_.maxRunning > 0 && pending() > 0) {
      driver.reviveOffers();  // a place under --max-running is free
    }
  }

  // Relaunches over the run (--retries, --restart).
  std::uint64_t relaunches() const { return relaunches_; }

  static const char* restartName(Restart restart) {
    switch (restart) {
      case Restart::kNever:
        return "never";
      case Restart::kOnFailure:
        return "on-failure";
      case Restart::kAlways:
        return "always";
    }
    return "?";
  }

 private:
  // kDelayed: ended, and waiting out its --restart backoff before it is
  // pending again (not offered meanwhile).
  enum class Phase { kPending, kLaunched, kEnded, kDelayed };
  struct Instance {
    std::string taskId;  // of the current attempt
    std::string agentId;
    Phase phase = Phase::kPending;
    std::uint32_t attempts = 0;  // launches so far
    // --restart relaunches in a row of attempts that ran less than
    // kBackoffReset: the next delay is --backoff times 2 to this.
    std::uint32_t restarts = 0;
    TimePoint launchedAt{};
    int exitCode = 0;      // once ended
    bool answered = true;  // an update came since the last reconciliation
    wire::TaskState lastState = wire::TASK_STATE_UNSPECIFIED;
  };

  // Whether a copy whose attempt ended with exit status `code` runs again.
  bool launchAgain(const Instance& i, int code) const {
    switch (args_.restart) {
      case Restart::kAlways:
        return true;
      case Restart::kOnFailure:
        return code != 0;
      case Restart::kNever:
        return code != 0 && i.attempts <= args_.retries;
    }
    return false;
  }

  // Launches copy `index` again as a new task: at once for --retries, after
  // its backoff for --restart (a copy ending fast over and over is not
  // relaunched in a tight loop, as Marathon backs off).
  void relaunch(runtime::SchedulerDriver& driver, std::size_t index,
                const wire::TaskStatus& status) {
    Instance& i = instances_[index];
    ++relaunches_;
    Duration delay{0};
    if (args_.restart == Restart::kNever) {
      note(fmt::format("task {} ended {}; launching it again (retry {} of {})", i.taskId,
                       runtime::taskStateName(status.state()), i.attempts, args_.retries));
    } else {
      if (driver.loop().now() - i.launchedAt >= kBackoffReset) i.restarts = 0;
      const double seconds =
          std::min(args_.maxBackoff,
                   args_.backoff * std::ldexp(1.0, static_cast<int>(std::min(i.restarts, 62U))));
      delay = secondsToDuration(seconds);
      ++i.restarts;
      note(
          fmt::format("task {} ended {}; launching it again in {:g} s (--restart {}, "
                      "relaunch {})",
                      i.taskId, runtime::taskStateName(status.state()), seconds,
                      restartName(args_.restart), i.attempts));
    }
    log({{"instance", index}, {"retry", i.attempts}});
    byTaskId_.erase(i.taskId);  // a late update of the old attempt is not ours any more
    i.lastState = wire::TASK_STATE_UNSPECIFIED;
    i.taskId = taskIdOf(index, i.attempts);
    if (delay <= Duration::zero()) {
      setPhase(i, Phase::kPending);
      waiting_.push_back(index);
      driver.reviveOffers();
      return;
    }
    setPhase(i, Phase::kDelayed);
    const std::uint32_t attempts = i.attempts;
    driver.loop().after(delay, [this, &driver, index, attempts] {
      Instance& copy = instances_[index];
      if (result_ || copy.phase != Phase::kDelayed || copy.attempts != attempts) return;
      setPhase(copy, Phase::kPending);
      waiting_.push_back(index);
      driver.reviveOffers();
    });
  }
  struct Attempt {
    std::size_t instance = 0;
    std::uint32_t attempt = 0;
  };

  // NAME-PID-N as mesos-execute names its task; .cR in round R; .I for each
  // of several instances; .rK for the K-th retry.
  std::string taskIdOf(std::size_t instance, std::uint32_t attempt) {
    std::string id = base_;
    if (scheduled()) id += fmt::format(".c{}", round_);
    if (instances_.size() > 1) id += fmt::format(".{}", instance);
    if (attempt > 0) id += fmt::format(".r{}", attempt);
    byTaskId_[id] = Attempt{instance, attempt};
    return id;
  }

  std::size_t count(Phase phase) const { return counts_[static_cast<std::size_t>(phase)]; }
  void setPhase(Instance& i, Phase phase) {
    --counts_[static_cast<std::size_t>(i.phase)];
    ++counts_[static_cast<std::size_t>(phase)];
    i.phase = phase;
  }
  // After a checkpoint's replay set phases directly: the counts and the
  // queue of waiting copies, in index order.
  void recount() {
    counts_ = {};
    waiting_.clear();
    for (std::size_t n = 0; n < instances_.size(); ++n) {
      ++counts_[static_cast<std::size_t>(instances_[n].phase)];
      if (instances_[n].phase == Phase::kPending) waiting_.push_back(n);
    }
  }
  std::size_t pending() const { return count(Phase::kPending); }

  void log(const nlohmann::json& event) {
    if (checkpoint_ != nullptr) checkpoint_->append(event);
  }

  // Ends an instance for good; once all have, the run's exit status: the
  // first instance's (by index) that did not finish, else 0.
  void end(Instance& instance, int code) {
    log({{"instance", &instance - instances_.data()}, {"end", code}});
    setPhase(instance, Phase::kEnded);
    instance.exitCode = code;
    if (count(Phase::kEnded) != instances_.size()) return;
    if (scheduled() && !timedOut_) {
      finishRound();
    } else {
      finish();
    }
  }

  void finish() { result_ = summarize(instances_.size() > 1 ? "" : std::optional<std::string>()); }

  // The exit status of the copies' ends: the first copy's (by index) that
  // did not finish, else 0; with `prefix`, prints a line of how many finished.
  int summarize(const std::optional<std::string>& prefix) const {
    int overall = timedOut_ ? kExitTimeout : 0;
    std::size_t finished = 0;
    std::vector<std::string> failed;  // the first few, to look for in the output
    for (std::size_t n = 0; n < instances_.size(); ++n) {
      const Instance& i = instances_[n];
      if (i.exitCode == 0) ++finished;
      if (overall == 0) overall = i.exitCode;
      if (i.exitCode != 0 && failed.size() < 10) {
        failed.push_back(fmt::format("{} ({}: {})", n, i.taskId, i.exitCode));
      }
    }
    if (prefix) {
      const std::size_t others = instances_.size() - finished - failed.size();
      std::cerr << fmt::format(
          "allot run: {}{} of {} instances finished{}{}\n", *prefix, finished, instances_.size(),
          overall == 0 ? "" : fmt::format("; exit status {}", overall),
          failed.empty() ? ""
                         : fmt::format("; not finished: {}{}", fmt::join(failed, ", "),
                                       others == 0 ? "" : fmt::format(" and {} more", others)));
    }
    return overall;
  }

  // --- Rounds (--cron, --every). ---

  // Sets a timer for the next round: --cron's next time, or --every after
  // the last round's start (at once for the first).
  void armSchedule(runtime::SchedulerDriver& driver) {
    const TimePoint now = driver.loop().now();
    TimePoint at = now;
    if (cron_) {
      const std::optional<std::int64_t> next = cron_->next(toMicros(now) / 1'000'000);
      if (!next) return;  // parse() refused schedules that never come
      at = fromMicros(*next * 1'000'000);
    } else if (round_ > 0) {
      at = std::max(now, roundStartedAt_ + *every_);
    }
    if (round_ == 0 || cron_) {
      note(fmt::format("next round at {} ({})", localTime(at), scheduleText()));
    }
    driver.loop().after(at - now, [this, &driver] { startRound(driver); });
  }

  // A round: every copy launched again (new task ids NAME-PID-N.cR.I), as
  // the first run of a job array; skipped while the last one still runs.
  void startRound(runtime::SchedulerDriver& driver) {
    if (result_ || timedOut_) return;
    const TimePoint now = driver.loop().now();
    if (count(Phase::kEnded) != instances_.size()) {
      ++roundsSkipped_;
      log({{"skipped", toMicros(now)}});
      note(fmt::format("skipping the round of {}: round {} is still running", localTime(now),
                       round_));
      if (every_) roundStartedAt_ = now;  // the next one --every after this one's time
      armSchedule(driver);
      return;
    }
    resetRound(round_ + 1, now);
    log({{"round", round_}, {"at", toMicros(now)}});
    note(fmt::format("round {}: launching {}", round_,
                     instances_.size() == 1 ? std::string("the command")
                                            : fmt::format("{} copies", instances_.size())));
    driver.reviveOffers();
    armSchedule(driver);
  }

  // Every copy pending again under round `round`'s task ids.
  void resetRound(std::uint64_t round, TimePoint startedAt) {
    round_ = round;
    roundStartedAt_ = startedAt;
    byTaskId_.clear();
    for (std::size_t n = 0; n < instances_.size(); ++n) {
      Instance& i = instances_[n];
      i = Instance{};
      i.taskId = taskIdOf(n, 0);
    }
    recount();
  }

  void finishRound() {
    const int overall =
        summarize(fmt::format("round {} (started {}): ", round_, localTime(roundStartedAt_)));
    ++(overall == 0 ? roundsFinished_ : roundsFailed_);
    log({{"round_end", round_}, {"status", overall}});
  }

  std::string scheduleText() const {
    if (cron_) return fmt::format("--cron '{}'{}", cron_->text(), cron_->utc() ? " UTC" : "");
    return fmt::format("--every {}", args_.every);
  }

 public:
  // "R rounds: F finished, K did not, S skipped" for the last line.
  std::string rounds() const {
    return fmt::format("{} round{}: {} finished every copy, {} did not, {} skipped", round_,
                       round_ == 1 ? "" : "s", roundsFinished_, roundsFailed_, roundsSkipped_);
  }

 private:
  wire::TaskInfo taskInfo(const Instance& i, const wire::Offer& offer, const Resources& use) const {
    wire::TaskInfo task;
    task.set_task_id(i.taskId);
    task.set_name(args_.name);
    task.set_agent_id(offer.agent_id());
    task.set_resources(toString(use));
    task.set_command(command_);
    auto& env = *task.mutable_environment();
    for (const std::string& item : args_.environment) {
      const std::size_t eq = item.find('=');
      env[item.substr(0, eq)] = item.substr(eq + 1);
    }
    env["ALLOT_INSTANCE"] = std::to_string(&i - instances_.data());
    env["ALLOT_INSTANCES"] = std::to_string(instances_.size());
    if (scheduled()) env["ALLOT_ROUND"] = std::to_string(round_);
    if (check_) *task.mutable_health_check() = *check_;
    if (args_.killGrace) task.mutable_kill_policy()->set_grace_period_seconds(*args_.killGrace);
    return task;
  }

  // Asks the master for the state of every launched task (see below).
  void reconcileLaunched(runtime::SchedulerDriver& driver) {
    ++reconcileRound_;
    for (Instance& i : instances_) i.answered = i.phase != Phase::kLaunched;
    reconcileUntilAnswered(driver, reconcileRound_);
  }

  // Asks the master for the state of each launched task not heard of since
  // the re-subscription, again every kReconcileRetry until an update of it
  // arrives: a restarted master does not answer for a task of an agent it
  // still expects to re-register (the framework asks again), and answers
  // TASK_LOST once that agent is given up.
  void reconcileUntilAnswered(runtime::SchedulerDriver& driver, std::uint64_t round) {
    if (result_ || round != reconcileRound_ || !driver.subscribed()) return;
    std::vector<wire::Reconcile::Task> tasks;
    for (const Instance& i : instances_) {
      if (i.phase != Phase::kLaunched || i.answered) continue;
      wire::Reconcile::Task& task = tasks.emplace_back();
      task.set_task_id(i.taskId);
      task.set_agent_id(i.agentId);
    }
    if (tasks.empty()) return;
    driver.reconcileTasks(tasks);
    driver.loop().after(kReconcileRetry,
                        [this, &driver, round] { reconcileUntilAnswered(driver, round); });
  }

  // The resources to launch with, if `offered` holds `need_`: reserved for
  // our role first, else unreserved.
  std::optional<Resources> fit(const Resources& offered) const {
    if (!isUnreservedRole(args_.role)) {
      Resources reserved = need_.withRole(args_.role);
      if (offered.contains(reserved)) return reserved;
    }
    if (offered.contains(need_)) return need_;
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

  void print(const wire::TaskStatus& status, const Attempt& attempt) const {
    const bool several = instances_.size() > 1 || args_.retries > 0 ||
                         args_.restart != Restart::kNever || scheduled();
    if (args_.json) {
      nlohmann::json j;
      j["time"] = clockTime();
      j["task_id"] = status.task_id();
      j["agent_id"] = status.agent_id();
      j["state"] = std::string(runtime::taskStateName(status.state()));
      j["message"] = status.message();
      j["reason"] = status.reason();
      if (several) {
        j["instance"] = attempt.instance;
        j["attempt"] = attempt.attempt;
      }
      if (scheduled()) j["round"] = round_;
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
  Checkpoint* checkpoint_;                     // null without --checkpoint
  std::optional<runtime::CronSchedule> cron_;  // --cron
  std::optional<Duration> every_;              // --every
  bool resumed_ = false;                       // took over the run a checkpoint records
  std::string base_;
  std::vector<Instance> instances_;
  // Copies by phase, and the waiting ones in launch order (kept, so that an
  // offer costs what it launches, not a pass over every copy).
  std::array<std::size_t, 4> counts_{};
  std::deque<std::size_t> waiting_;
  std::map<std::string, Attempt> byTaskId_;  // every attempt's task id
  std::uint64_t reconcileRound_ = 0;         // one per re-subscription
  static constexpr std::chrono::seconds kReconcileRetry{3};
  std::optional<int> result_;
  bool timedOut_ = false;
  std::uint64_t relaunches_ = 0;
  // Rounds: the current one (0 before the first) and counts.
  std::uint64_t round_ = 0;
  TimePoint roundStartedAt_{};
  std::uint64_t roundsFinished_ = 0, roundsFailed_ = 0, roundsSkipped_ = 0;
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
  for (const std::string& item : args.environment) {
    const std::size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const bool valid = eq != std::string::npos && !name.empty() &&
                       std::isdigit(static_cast<unsigned char>(name[0])) == 0 &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
                       });
    if (!valid) {
      throw ParseError(fmt::format(
          "--env '{}': expected NAME=VALUE with a NAME of letters, digits and '_', not starting "
          "with a digit",
          item));
    }
    if (name.starts_with("ALLOT_")) {
      throw ParseError(
          fmt::format("--env '{}': ALLOT_ names are set by allot (ALLOT_INSTANCE, "
                      "ALLOT_SANDBOX, ...)",
                      item));
    }
    if (item.find('\0') != std::string::npos) throw ParseError("--env: a value holds NUL");
  }
  if (args.restart != Restart::kNever && args.retries > 0) {
    throw ParseError(fmt::format(
        "--retries {} with --restart {}: --restart launches copies again without a limit; "
        "--retries K alone launches a copy that did not finish again up to K times",
        args.retries, RunScheduler::restartName(args.restart)));
  }
  if (!(std::isfinite(args.backoff) && args.backoff > 0 && std::isfinite(args.maxBackoff) &&
        args.maxBackoff >= args.backoff)) {
    throw ParseError(fmt::format(
        "--backoff {} --max-backoff {}: expected seconds, 0 < --backoff <= --max-backoff",
        args.backoff, args.maxBackoff));
  }
  std::optional<runtime::CronSchedule> cron;
  std::optional<Duration> every;
  if (!args.cron.empty()) cron = runtime::CronSchedule::parse(args.cron, args.cronUtc);
  if (!args.every.empty()) every = parseDuration("--every", args.every);
  if ((cron || every) && args.restart == Restart::kAlways) {
    throw ParseError(
        "--restart always with --cron or --every: a round ends when its copies end, and with "
        "--restart always they never do (--restart on-failure relaunches until they finish)");
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

  std::optional<Checkpoint> checkpoint;
  if (!args.checkpoint.empty()) checkpoint.emplace(args.checkpoint);
  RunScheduler scheduler(args, need, std::move(check), checkpoint ? &*checkpoint : nullptr,
                         std::move(cron), every);
  if (checkpoint) {
    info.set_framework_id(scheduler.startCheckpoint());
    // Mesos' default failover timeout is 0: a checkpoint is for outliving this process.
    info.set_failover_timeout_us(
        toMicros(secondsToDuration(args.failoverTimeout.value_or(kDefaultFailoverSeconds))));
  } else if (args.failoverTimeout) {
    info.set_failover_timeout_us(toMicros(secondsToDuration(*args.failoverTimeout)));
  }
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
    if (scheduler.scheduled()) {
      std::cerr << fmt::format(
          "allot run: stopping the schedule; tearing the framework down ({} killed with it); "
          "{}\n",
          scheduler.runningTasks(), scheduler.rounds());
    } else if (args.restart == Restart::kAlways) {
      std::cerr << fmt::format(
          "allot run: stopping the service; tearing the framework down ({} killed with it; {} "
          "relaunches over the run)\n",
          scheduler.runningTasks(), scheduler.relaunches());
    } else {
      std::cerr << "allot run: interrupted; tearing the framework down\n";
    }
    driver.stop(false);
  });

  if (args.timeout > 0) {
    driver.loop().after(secondsToDuration(args.timeout), [&] {
      if (scheduler.result()) return;
      if (!scheduler.launched() && !scheduler.scheduled()) {
        std::cerr << fmt::format(
            "allot run: timed out after {} s: no offer of {}{} came (is an agent with enough "
            "free resources registered?)\n",
            args.timeout, toString(need),
            isUnreservedRole(args.role) ? "" : " in role " + args.role);
        scheduler.giveUp(kExitTimeout);
        driver.stop(false);
        return;
      }
      std::cerr << fmt::format("allot run: timed out after {} s; killing {}\n", args.timeout,
                               scheduler.runningTasks());
      scheduler.markTimedOut();
      scheduler.killAll(driver);
      if (scheduler.result()) {  // none was running
        driver.stop(false);
        return;
      }
      // Wait a little for TASK_KILLED, then leave; tearing down kills it anyway.
      driver.loop().after(std::chrono::seconds(10), [&] {
        if (!scheduler.result()) driver.stop(false);
      });
    });
  }

  driver.run();
  ::close(signalFd);
  // Whichever way this process ends the run (every copy ended, torn down,
  // interrupted, timed out), there is nothing left for another to take over.
  scheduler.endCheckpoint();
  // A service (--restart always) or a schedule runs until it is stopped:
  // that is its normal end, and a supervisor (systemd) should not count it a
  // failure.
  if (interrupted && !scheduler.result()) {
    return args.restart == Restart::kAlways || scheduler.scheduled() ? 0 : kExitInterrupted;
  }
  if (scheduler.timedOut() && !scheduler.result()) return kExitTimeout;
  return scheduler.result().value_or(kExitNotFinished);
}

}  // namespace

void addRunCommand(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run a command as a task on the cluster, like mesos-execute (or N copies of it, a job "
      "array): wait for offers that fit, launch, print state changes, exit with the task's "
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
      "web.run --health-http 8000/ -- python3 -m http.server 8000\n"
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
  const std::map<std::string, Restart> restarts{{"never", Restart::kNever},
                                                {"on-failure", Restart::kOnFailure},
                                                {"always", Restart::kAlways}};
  cmd->add_option("--restart", args->restart,
                  "Launch a copy again, without a limit, whenever it ends (always: a service, "
                  "kept running until allot run is stopped) or whenever it ends other than "
                  "FINISHED (on-failure); never: only as --retries says")
      ->transform(CLI::CheckedTransformer(restarts, CLI::ignore_case))
      ->default_str("never");
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
