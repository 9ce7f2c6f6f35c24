// `allot run`'s framework (allot/runtime/run.h): copies of one command as a
// job array, a service (--restart) or cron rounds, on the scheduler driver.
// The command line's flags are read in cli/cmd_run.cc; this file decides.

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
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
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/run.h"
#include "allot/runtime/scheduler.h"

namespace allot::runtime {

const char* restartName(Restart restart) {
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

namespace {

// The framework's failover timeout with a checkpoint and no --failover-timeout.
constexpr double kDefaultFailoverSeconds = 24 * 3600;
// With --restart: a copy that ran at least this long before it ended is
// launched again after --backoff, not after its doubled delay.
constexpr std::chrono::seconds kBackoffReset{60};

// The wall clock as "12:34:56.789", for state changes.
std::string clockTime() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  return fmt::format("{:%H:%M:%S}.{:03}", fmt::localtime(std::chrono::system_clock::to_time_t(now)),
                     ms.count() % 1000);
}

// A time as people here read it: "2026-12-06 09:00:00" in the local zone.
std::string localTime(TimePoint at) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S}",
                     fmt::localtime(static_cast<std::time_t>(toMicros(at) / 1'000'000)));
}

}  // namespace

PlacementConstraint PlacementConstraint::parse(std::string_view text) {
  PlacementConstraint c;
  c.text = std::string(text);
  const auto bad = [&](const std::string& why) {
    return ParseError(fmt::format(
        "--constraint '{}': {} (FIELD:UNIQUE, FIELD:MAX_PER:N, FIELD:CLUSTER:VALUE, "
        "FIELD:LIKE:REGEX, FIELD:UNLIKE:REGEX or FIELD:GROUP_BY[:N]; FIELD is hostname or an "
        "agent attribute)",
        text, why));
  };
  const std::size_t first = text.find(':');
  if (first == std::string_view::npos || first == 0) throw bad("no FIELD:OPERATOR");
  c.field = std::string(text.substr(0, first));
  const std::string_view rest = text.substr(first + 1);
  const std::size_t second = rest.find(':');
  const std::string_view op = rest.substr(0, second);
  const bool argument = second != std::string_view::npos;
  if (argument) c.value = std::string(rest.substr(second + 1));
  if (op == "UNIQUE") {
    if (argument) throw bad("UNIQUE takes no argument");
    c.op = Op::kUnique;
  } else if (op == "MAX_PER") {
    c.op = Op::kMaxPer;
    char* end = nullptr;
    const unsigned long n = std::strtoul(c.value.c_str(), &end, 10);
    if (!argument || c.value.empty() || *end != '\0' || n < 1 || n > 100'000 ||
        !std::isdigit(static_cast<unsigned char>(c.value[0]))) {
      throw bad("MAX_PER needs a count from 1 to 100,000");
    }
    c.maxPer = static_cast<std::uint32_t>(n);
  } else if (op == "GROUP_BY") {
    c.op = Op::kGroupBy;
    c.maxPer = 1;
    if (argument) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(c.value.c_str(), &end, 10);
      if (c.value.empty() || *end != '\0' || n < 1 || n > 100'000 ||
          !std::isdigit(static_cast<unsigned char>(c.value[0]))) {
        throw bad("GROUP_BY's N, the values to spread over, is a count from 1 to 100,000");
      }
      c.maxPer = static_cast<std::uint32_t>(n);
    }
  } else if (op == "CLUSTER" || op == "LIKE" || op == "UNLIKE") {
    if (!argument || c.value.empty()) throw bad(fmt::format("{} needs an argument", op));
    c.op = op == "CLUSTER" ? Op::kCluster : op == "LIKE" ? Op::kLike : Op::kUnlike;
    if (c.op != Op::kCluster) {
      try {
        c.regex = std::make_shared<const std::regex>(c.value);
      } catch (const std::regex_error& e) {
        throw bad(fmt::format("'{}' is no regular expression: {}", c.value, e.what()));
      }
    }
  } else {
    throw bad(fmt::format("unknown operator '{}'", op));
  }
  return c;
}

bool PlacementConstraint::allows(std::optional<std::string_view> at, std::uint32_t running,
                                 std::uint32_t fewest) const {
  switch (op) {
    case Op::kGroupBy:
      return at.has_value() && running <= fewest;
    case Op::kUnique:
    case Op::kMaxPer:
      return at.has_value() && running < maxPer;
    case Op::kCluster:
      return at.has_value() && *at == value;
    case Op::kLike:
    case Op::kUnlike: {
      const bool matches = at.has_value() && std::regex_match(at->begin(), at->end(), *regex);
      return op == Op::kLike ? matches : !matches;
    }
  }
  return false;
}

namespace {

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
class RunScheduler final : public Scheduler {
 public:
  // With `cron` or `every`, the copies run in rounds (see startRound()).
  RunScheduler(const RunOptions& options, std::ostream& out, std::ostream& err,
               Checkpoint* checkpoint)
      : options_(options),
        out_(out),
        err_(err),
        checkpoint_(checkpoint),
        instances_(options.instances) {
    base_ = fmt::format("{}-{}-{}", options.name, ::getpid(),
                        std::chrono::system_clock::now().time_since_epoch().count() % 1000000);
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      instances_[i].taskId = taskIdOf(i, 0);
      // Between rounds every copy has ended; the first round starts them.
      if (scheduled()) instances_[i].phase = Phase::kEnded;
    }
    recount();
  }

  // The copies run in rounds, at --cron's times or every --every.
  bool scheduled() const { return options_.cron || options_.every; }

  // What the checkpoint's first line holds: a run resumes only with the same.
  nlohmann::json settings() const {
    nlohmann::json j = {{"allot_run_checkpoint", 1},
                        {"name", options_.name},
                        {"command", options_.command},
                        {"resources", toString(options_.need)},
                        {"role", options_.role},
                        {"user", options_.user},
                        {"instances", instances_.size()},
                        {"retries", options_.retries},
                        {"max_running", options_.maxRunning},
                        {"environment", options_.environment}};
    // Only when set: checkpoints written before these flags stay readable.
    if (options_.ports > 0) j["ports"] = options_.ports;
    if (!options_.constraints.empty()) {
      std::vector<std::string> texts;
      for (const PlacementConstraint& c : options_.constraints) texts.push_back(c.text);
      j["constraints"] = texts;
    }
    if (options_.restart != Restart::kNever) j["restart"] = restartName(options_.restart);
    if (options_.cron)
      j["cron"] = {{"schedule", options_.cron->text()}, {"utc", options_.cron->utc()}};
    if (options_.every) j["every_us"] = toMicros(*options_.every);
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
          lastTick_ = fromMicros(e.at("skipped").get<std::int64_t>());
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
            i.placed = e.value("placed", std::map<std::string, std::string>{});
          } else if (e.contains("retry")) {
            // A --restart relaunch waits out its backoff, in this process too.
            i.notBefore = fromMicros(e.value("not_before", std::int64_t{0}));
            i.phase = i.notBefore > TimePoint{} ? Phase::kDelayed : Phase::kPending;
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
  void killAll(SchedulerDriver& driver) {
    waiting_.clear();
    for (Instance& i : instances_) {
      if (i.phase == Phase::kPending || i.phase == Phase::kDelayed) end(i, kRunExitTimeout);
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

  void registered(SchedulerDriver& driver, const std::string& frameworkId,
                  const std::string& masterId) override {
    if (resumed_) {
      note(
          fmt::format("took over framework {} (master {}) from --checkpoint {}: {} of {} copies "
                      "launched, {} ended",
                      frameworkId, masterId, checkpoint_->path(), count(Phase::kLaunched),
                      instances_.size(), count(Phase::kEnded)));
      reconcileLaunched(driver);
      if (count(Phase::kPending) == 0) driver.suppressOffers();
      for (std::size_t n = 0; n < instances_.size(); ++n) {
        if (instances_[n].phase == Phase::kDelayed) armRelaunch(driver, n);
      }
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
        "subscribed as framework {} (master {}); waiting for an offer of {}{}{}{}", frameworkId,
        masterId, toString(options_.need),
        options_.ports == 0
            ? ""
            : fmt::format(" and {} port{}", options_.ports, options_.ports == 1 ? "" : "s"),
        isUnreservedRole(options_.role) ? "" : " in role " + options_.role,
        instances_.size() == 1 ? "" : fmt::format(" for each of {} instances", instances_.size())));
  }

  void reregistered(SchedulerDriver& driver, const std::string& masterId) override {
    note(fmt::format("subscribed again (master {})", masterId));
    reconcileLaunched(driver);
  }

  void disconnected(SchedulerDriver&) override { note("lost the master; subscribing again"); }

  void error(SchedulerDriver& driver, const std::string& message) override {
    if (driver.removed()) {
      // Torn down by an operator (or failed over too late): its tasks are
      // killed by the master, and no update of them will come here.
      err_ << fmt::format("allot run: the master removed this framework ({}){}; {}\n", message,
                          resumed_ ? ", taken over from --checkpoint after its "
                                     "--failover-timeout had passed"
                                   : "",
                          launched() ? runningTasks(" is", " are") + " killed with it"
                                     : std::string("no task was launched"));
      result_ = kRunExitNotFinished;
      driver.stop();
      return;
    }
    note("the master refused a message: " + message);
  }

  void resourceOffers(SchedulerDriver& driver, const std::vector<wire::Offer>& offers) override {
    // The driver checked that each offer's attributes and resources parse.
    std::vector<Attributes> attributesOf;
    attributesOf.reserve(offers.size());
    for (const wire::Offer& offer : offers) {
      attributesOf.push_back(Attributes::parse(offer.attributes()));
    }
    // GROUP_BY spreads over the values offers show: all of this batch's
    // first, so that its first offer does not take every copy.
    for (const PlacementConstraint& c : options_.constraints) {
      if (c.op != PlacementConstraint::Op::kGroupBy) continue;
      for (std::size_t k = 0; k < offers.size(); ++k) {
        if (auto at = fieldOf(c, offers[k], attributesOf[k])) seenValues_[c.field].emplace(*at);
      }
    }
    for (std::size_t k = 0; k < offers.size(); ++k) {
      const wire::Offer& offer = offers[k];
      const Attributes& attributes = attributesOf[k];
      std::vector<wire::TaskInfo> tasks;
      Resources left = Resources::parse(offer.resources());
      while (!result_ && !waiting_.empty()) {
        if (options_.maxRunning > 0 && count(Phase::kLaunched) >= options_.maxRunning) break;
        if (!placeable(offer, attributes)) break;
        const std::optional<Resources> use = fit(left);
        if (!use) break;
        Instance& i = instances_[waiting_.front()];
        waiting_.pop_front();
        left -= *use;
        tasks.push_back(taskInfo(i, offer, *use));
        i.placed = placeOf(offer, attributes);  // before setPhase, which counts it
        setPhase(i, Phase::kLaunched);
        i.agentId = offer.agent_id();
        i.launchedAt = driver.loop().now();
        ++i.attempts;
        nlohmann::json launch = {{"instance", &i - instances_.data()},
                                 {"attempt", i.attempts - 1},
                                 {"launch", i.agentId},
                                 {"at", toMicros(i.launchedAt)},
                                 {"restarts", i.restarts}};
        if (!i.placed.empty()) launch["placed"] = i.placed;
        log(launch);
        note(fmt::format("launching task {} on agent {} ({}): {}", i.taskId, offer.agent_id(),
                         offer.hostname(), options_.command));
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
    if (pending() == 0 ||
        (options_.maxRunning > 0 && count(Phase::kLaunched) >= options_.maxRunning)) {
      driver.suppressOffers();
    }
  }

  void statusUpdate(SchedulerDriver& driver, const wire::TaskStatus& status) override {
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
    if (!isTerminal(status.state())) return;
    const int code = exitCode(status);
    if (!timedOut_ && launchAgain(i, code)) {
      relaunch(driver, found->second.instance, status);
      return;
    }
    if (status.state() != wire::TASK_FINISHED && status.state() != wire::TASK_FAILED) {
      err_ << fmt::format("allot run: task {} ended {}{}\n", i.taskId,
                          taskStateName(status.state()),
                          status.message().empty() ? "" : ": " + status.message());
    }
    end(i, timedOut_ ? kRunExitTimeout : code);
    if (result_) {
      driver.stop(false);
    } else if (options_.maxRunning > 0 && pending() > 0) {
      driver.reviveOffers();  // a place under --max-running is free
    }
  }

  // Relaunches over the run (--retries, --restart).
  std::uint64_t relaunches() const { return relaunches_; }

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
    TimePoint notBefore{};  // kDelayed: when it is pending again
    // Launched: the values of the constraints' fields where it runs.
    std::map<std::string, std::string> placed;
    int exitCode = 0;      // once ended
    bool answered = true;  // an update came since the last reconciliation
    wire::TaskState lastState = wire::TASK_STATE_UNSPECIFIED;
  };

  // Whether a copy whose attempt ended with exit status `code` runs again.
  bool launchAgain(const Instance& i, int code) const {
    switch (options_.restart) {
      case Restart::kAlways:
        return true;
      case Restart::kOnFailure:
        return code != 0;
      case Restart::kNever:
        return code != 0 && i.attempts <= options_.retries;
    }
    return false;
  }

  // Launches copy `index` again as a new task: at once for --retries, after
  // its backoff for --restart (a copy ending fast over and over is not
  // relaunched in a tight loop, as Marathon backs off).
  void relaunch(SchedulerDriver& driver, std::size_t index, const wire::TaskStatus& status) {
    Instance& i = instances_[index];
    ++relaunches_;
    Duration delay{0};
    if (options_.restart == Restart::kNever) {
      note(fmt::format("task {} ended {}; launching it again (retry {} of {})", i.taskId,
                       taskStateName(status.state()), i.attempts, options_.retries));
    } else {
      if (driver.loop().now() - i.launchedAt >= kBackoffReset) i.restarts = 0;
      const double seconds =
          std::min(options_.maxBackoff,
                   options_.backoff * std::ldexp(1.0, static_cast<int>(std::min(i.restarts, 62U))));
      delay = secondsToDuration(seconds);
      ++i.restarts;
      note(
          fmt::format("task {} ended {}; launching it again in {:g} s (--restart {}, "
                      "relaunch {})",
                      i.taskId, taskStateName(status.state()), seconds,
                      restartName(options_.restart), i.attempts));
    }
    nlohmann::json retry = {{"instance", index}, {"retry", i.attempts}};
    if (delay > Duration::zero()) {
      i.notBefore = driver.loop().now() + delay;
      retry["not_before"] = toMicros(i.notBefore);
    }
    log(retry);
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
    armRelaunch(driver, index);
  }

  // Makes delayed copy `index` pending at its notBefore time.
  void armRelaunch(SchedulerDriver& driver, std::size_t index) {
    const Instance& i = instances_[index];
    const std::uint32_t attempts = i.attempts;
    const Duration delay = std::max(Duration::zero(), i.notBefore - driver.loop().now());
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
    if ((i.phase == Phase::kLaunched) != (phase == Phase::kLaunched)) {
      countPlaced(i, phase == Phase::kLaunched ? 1 : -1);
    }
    i.phase = phase;
  }
  // Adds `delta` to the running copies at each of `i`'s placed values.
  void countPlaced(const Instance& i, int delta) {
    for (const auto& [field, value] : i.placed) {
      std::uint32_t& n = placedCounts_[field][value];
      n = static_cast<std::uint32_t>(static_cast<int>(n) + delta);
    }
  }
  // After a checkpoint's replay set phases directly: the counts and the
  // queue of waiting copies, in index order.
  void recount() {
    counts_ = {};
    waiting_.clear();
    placedCounts_.clear();
    for (std::size_t n = 0; n < instances_.size(); ++n) {
      ++counts_[static_cast<std::size_t>(instances_[n].phase)];
      if (instances_[n].phase == Phase::kPending) waiting_.push_back(n);
      if (instances_[n].phase == Phase::kLaunched) countPlaced(instances_[n], 1);
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
    int overall = timedOut_ ? kRunExitTimeout : 0;
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
      err_ << fmt::format(
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
  // the last round's start or skip (at once for the first).
  void armSchedule(SchedulerDriver& driver) {
    const TimePoint now = driver.loop().now();
    TimePoint at = now;
    if (options_.cron) {
      const std::optional<std::int64_t> next = options_.cron->next(toMicros(now) / 1'000'000);
      if (!next) return;  // parse() refused schedules that never come
      at = fromMicros(*next * 1'000'000);
    } else if (round_ > 0) {
      at = std::max(now, lastTick_ + *options_.every);
    }
    if (round_ == 0 || options_.cron) {
      note(fmt::format("next round at {} ({})", localTime(at), scheduleText()));
    }
    driver.loop().after(at - now, [this, &driver] { startRound(driver); });
  }

  // A round: every copy launched again (new task ids NAME-PID-N.cR.I), as
  // the first run of a job array; skipped while the last one still runs.
  void startRound(SchedulerDriver& driver) {
    if (result_ || timedOut_) return;
    const TimePoint now = driver.loop().now();
    if (count(Phase::kEnded) != instances_.size()) {
      ++roundsSkipped_;
      log({{"skipped", toMicros(now)}});
      if (options_.json) {
        out_ << nlohmann::json{{"time", clockTime()},
                               {"skipped", localTime(now)},
                               {"running", round_}}
                    .dump()
             << std::endl;
      }
      note(fmt::format("skipping the round of {}: round {} is still running", localTime(now),
                       round_));
      lastTick_ = now;  // --every: the next one a period after this one's time
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
    lastTick_ = startedAt;
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
    if (options_.json) {
      // The round's summary, which without --json goes to stderr.
      std::size_t finished = 0;
      for (const Instance& i : instances_) finished += i.exitCode == 0 ? 1 : 0;
      out_ << nlohmann::json{{"time", clockTime()},
                             {"round_end", round_},
                             {"started", localTime(roundStartedAt_)},
                             {"finished", finished},
                             {"instances", instances_.size()},
                             {"status", overall}}
                  .dump()
           << std::endl;
    }
  }

  std::string scheduleText() const {
    if (options_.cron)
      return fmt::format("--cron '{}'{}", options_.cron->text(),
                         options_.cron->utc() ? " UTC" : "");
    return fmt::format("--every {:g}s", std::chrono::duration<double>(*options_.every).count());
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
    task.set_name(options_.name);
    task.set_agent_id(offer.agent_id());
    task.set_resources(toString(use));
    task.set_command(options_.command);
    auto& env = *task.mutable_environment();
    for (const std::string& item : options_.environment) {
      const std::size_t eq = item.find('=');
      env[item.substr(0, eq)] = item.substr(eq + 1);
    }
    env["ALLOT_INSTANCE"] = std::to_string(&i - instances_.data());
    env["ALLOT_INSTANCES"] = std::to_string(instances_.size());
    if (scheduled()) env["ALLOT_ROUND"] = std::to_string(round_);
    const std::vector<std::uint64_t> ports = portsOf(use);
    std::string list;
    for (std::size_t k = 0; k < ports.size(); ++k) {
      env[fmt::format("PORT{}", k)] = std::to_string(ports[k]);
      list += (k == 0 ? "" : ",") + std::to_string(ports[k]);
    }
    if (!ports.empty()) {
      env["PORT"] = std::to_string(ports[0]);
      env["PORTS"] = list;
    }
    if (options_.healthCheck) {
      *task.mutable_health_check() = *options_.healthCheck;
      if (options_.healthPortIndex) {
        task.mutable_health_check()->set_port(
            static_cast<std::uint32_t>(ports.at(*options_.healthPortIndex)));
      }
    }
    if (options_.killGrace)
      task.mutable_kill_policy()->set_grace_period_seconds(*options_.killGrace);
    return task;
  }

  // Asks the master for the state of every launched task (see below).
  void reconcileLaunched(SchedulerDriver& driver) {
    ++reconcileRound_;
    for (Instance& i : instances_) i.answered = i.phase != Phase::kLaunched;
    reconcileUntilAnswered(driver, reconcileRound_);
  }

  // Asks the master for the state of each launched task not heard of since
  // the re-subscription, again every kReconcileRetry until an update of it
  // arrives: a restarted master does not answer for a task of an agent it
  // still expects to re-register (the framework asks again), and answers
  // TASK_LOST once that agent is given up.
  void reconcileUntilAnswered(SchedulerDriver& driver, std::uint64_t round) {
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

  // The resources to launch with, if `offered` holds `options_.need`: reserved for
  // our role first, else unreserved; with `options_.ports`, that many of the
  // offer's lowest free ports, the role's reserved ones first.
  std::optional<Resources> fit(const Resources& offered) const {
    std::optional<Resources> use;
    if (!isUnreservedRole(options_.role)) {
      Resources reserved = options_.need.withRole(options_.role);
      if (offered.contains(reserved)) use = std::move(reserved);
    }
    if (!use && offered.contains(options_.need)) use = options_.need;
    if (!use || options_.ports == 0) return use;
    std::uint64_t wanted = options_.ports;
    for (const std::string& role : {options_.role, std::string(kUnreservedRole)}) {
      Ranges take;
      for (const Interval& free : offered.ranges("ports", role).intervals()) {
        if (wanted == 0) break;
        const std::uint64_t n = std::min(wanted, free.last - free.first + 1);
        take.add({free.first, free.first + n - 1});
        wanted -= n;
      }
      if (!take.empty()) use->setRanges("ports", std::move(take), role);
      if (isUnreservedRole(options_.role)) break;  // one pool: the same role twice
    }
    if (wanted > 0) return std::nullopt;
    return use;
  }

  // A constraint's field on `offer`'s agent (nullopt: no such attribute).
  static std::optional<std::string_view> fieldOf(const PlacementConstraint& c,
                                                 const wire::Offer& offer,
                                                 const Attributes& attributes) {
    if (c.field == "hostname") return std::string_view(offer.hostname());
    return attributes.get(c.field);
  }

  // Whether the constraints let one more copy run on `offer`'s agent.
  bool placeable(const wire::Offer& offer, const Attributes& attributes) {
    for (const PlacementConstraint& c : options_.constraints) {
      const std::optional<std::string_view> at = fieldOf(c, offer, attributes);
      if (!at) {
        if (!c.allows(at, 0)) return false;
        continue;
      }
      // Running copies by value (kept as copies start and end).
      const std::map<std::string, std::uint32_t, std::less<>>& running = placedCounts_[c.field];
      const auto here = running.find(*at);
      const std::uint32_t runningHere = here == running.end() ? 0 : here->second;
      std::uint32_t fewest = 0;
      if (c.op == PlacementConstraint::Op::kGroupBy) {
        // Over every value offers showed (none running: 0) and running ones.
        std::set<std::string>& seen = seenValues_[c.field];
        seen.emplace(*at);
        std::size_t values = seen.size();
        std::optional<std::uint32_t> least;
        for (const std::string& value : seen) {
          const auto n = running.find(value);
          const std::uint32_t count = n == running.end() ? 0 : n->second;
          least = least ? std::min(*least, count) : count;
        }
        for (const auto& [value, count] : running) {
          if (seen.count(value) == 0) {
            ++values;
            least = least ? std::min(*least, count) : count;
          }
        }
        if (values >= c.maxPer && least) fewest = *least;
      }
      if (!c.allows(at, runningHere, fewest)) return false;
    }
    return true;
  }

  // The constraints' fields where a copy launched on `offer` runs.
  std::map<std::string, std::string> placeOf(const wire::Offer& offer,
                                             const Attributes& attributes) const {
    std::map<std::string, std::string> placed;
    for (const PlacementConstraint& c : options_.constraints) {
      if (auto at = fieldOf(c, offer, attributes)) placed[c.field] = std::string(*at);
    }
    return placed;
  }

  // The ports of `use`, ascending.
  static std::vector<std::uint64_t> portsOf(const Resources& use) {
    std::vector<std::uint64_t> ports;
    for (const Pool& pool : use.pools()) {
      for (const auto& [name, set] : pool.ranges) {
        if (name != "ports") continue;
        for (const Interval& interval : set.intervals()) {
          for (std::uint64_t p = interval.first; p <= interval.last; ++p) ports.push_back(p);
        }
      }
    }
    std::sort(ports.begin(), ports.end());
    return ports;
  }

  // FINISHED: 0; FAILED: the command's exit status (128 + signal when
  // killed by one, at least 1); anything else terminal: 1.
  static int exitCode(const wire::TaskStatus& status) {
    if (status.state() == wire::TASK_FINISHED) return 0;
    if (status.state() != wire::TASK_FAILED) return kRunExitNotFinished;
    const int raw = status.exit_status();
    int code = 1;
    if (WIFEXITED(raw)) code = WEXITSTATUS(raw);
    if (WIFSIGNALED(raw)) code = 128 + WTERMSIG(raw);
    return code == 0 ? 1 : code;
  }

  void print(const wire::TaskStatus& status, const Attempt& attempt) const {
    const bool several = instances_.size() > 1 || options_.retries > 0 ||
                         options_.restart != Restart::kNever || scheduled();
    if (options_.json) {
      nlohmann::json j;
      j["time"] = clockTime();
      j["task_id"] = status.task_id();
      j["agent_id"] = status.agent_id();
      j["state"] = std::string(taskStateName(status.state()));
      j["message"] = status.message();
      j["reason"] = status.reason();
      if (several) {
        j["instance"] = attempt.instance;
        j["attempt"] = attempt.attempt;
      }
      if (scheduled()) j["round"] = round_;
      if (status.has_healthy()) j["healthy"] = status.healthy();
      if (isTerminal(status.state())) j["exit_code"] = exitCode(status);
      out_ << j.dump() << std::endl;
      return;
    }
    std::string line = fmt::format("[{}] task {}: {}", clockTime(), status.task_id(),
                                   taskStateName(status.state()));
    if (status.has_healthy()) line += status.healthy() ? ", healthy" : ", unhealthy";
    if (!status.message().empty()) line += " (" + status.message() + ")";
    out_ << line << std::endl;
  }

  void note(const std::string& text) const {
    if (!options_.json) err_ << "allot run: " << text << "\n";
  }

  const RunOptions& options_;
  std::ostream& out_;
  std::ostream& err_;
  Checkpoint* checkpoint_;  // null without --checkpoint
  bool resumed_ = false;    // took over the run a checkpoint records
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
  TimePoint lastTick_{};  // when the last round started or was skipped
  std::uint64_t roundsFinished_ = 0, roundsFailed_ = 0, roundsSkipped_ = 0;
  // GROUP_BY: the values of each such field that offers have shown.
  std::map<std::string, std::set<std::string>> seenValues_;
  // Launched copies by constraint field and value (Instance::placed).
  std::map<std::string, std::map<std::string, std::uint32_t, std::less<>>> placedCounts_;
};

}  // namespace

int runCommand(const RunOptions& options, std::ostream& out, std::ostream& err) {
  if (options.need.empty())
    throw ParseError("each copy must ask for some resources (--cpus, --mem)");
  if (options.command.empty()) throw ParseError("no command to run");
  if (options.instances < 1) throw ParseError("--instances must be at least 1");
  for (const std::string& item : options.environment) {
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
  if (options.restart != Restart::kNever && options.retries > 0) {
    throw ParseError(fmt::format(
        "--retries {} with --restart {}: --restart launches copies again without a limit; "
        "--retries K alone launches a copy that did not finish again up to K times",
        options.retries, restartName(options.restart)));
  }
  if (!(std::isfinite(options.backoff) && options.backoff > 0 &&
        std::isfinite(options.maxBackoff) && options.maxBackoff >= options.backoff)) {
    throw ParseError(fmt::format(
        "--backoff {} --max-backoff {}: expected seconds, 0 < --backoff <= --max-backoff",
        options.backoff, options.maxBackoff));
  }
  if (options.cron && options.every) throw ParseError("give one of --cron and --every");
  if (options.every && *options.every <= Duration::zero())
    throw ParseError("--every must be positive");
  if ((options.cron || options.every) && options.restart == Restart::kAlways) {
    throw ParseError(
        "--restart always with --cron or --every: a round ends when its copies end, and with "
        "--restart always they never do (--restart on-failure relaunches until they finish)");
  }
  if (options.healthCheck) {
    if (auto why = healthCheckProblem(*options.healthCheck)) {
      throw ParseError(fmt::format("the health check: {}", *why));
    }
  }
  if (options.ports > 65535) throw ParseError("--ports: at most 65535");
  if (options.healthPortIndex &&
      (!options.healthCheck || *options.healthPortIndex >= options.ports)) {
    throw ParseError(
        fmt::format("the health check's port PORT{}: each copy is given {} port{} (--ports)",
                    *options.healthPortIndex, options.ports, options.ports == 1 ? "" : "s"));
  }
  if (options.killGrace) {
    wire::KillPolicy policy;
    policy.set_grace_period_seconds(*options.killGrace);
    if (auto why = killPolicyProblem(policy)) {
      throw ParseError(fmt::format("--kill-grace: {}", *why));
    }
  }

  wire::FrameworkInfo info;
  info.set_name(options.name);
  info.set_role(options.role);
  info.set_principal(options.principal);
  info.set_user(options.user);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  info.set_hostname(host);

  std::optional<Checkpoint> checkpoint;
  if (!options.checkpoint.empty()) checkpoint.emplace(options.checkpoint);
  RunScheduler scheduler(options, out, err, checkpoint ? &*checkpoint : nullptr);
  if (checkpoint) {
    info.set_framework_id(scheduler.startCheckpoint());
    // Mesos' default failover timeout is 0: a checkpoint is for outliving this process.
    info.set_failover_timeout_us(
        toMicros(secondsToDuration(options.failoverTimeout.value_or(kDefaultFailoverSeconds))));
  } else if (options.failoverTimeout) {
    info.set_failover_timeout_us(toMicros(secondsToDuration(*options.failoverTimeout)));
  }
  SystemClock clock;
  DriverOptions driverOptions;
  driverOptions.curve = options.curve;
  SchedulerDriver driver(scheduler, info, options.master, clock, driverOptions);

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
      err << fmt::format(
          "allot run: stopping the schedule; tearing the framework down ({} killed with it); "
          "{}\n",
          scheduler.runningTasks(), scheduler.rounds());
    } else if (options.restart == Restart::kAlways) {
      err << fmt::format(
          "allot run: stopping the service; tearing the framework down ({} killed with it; {} "
          "relaunches over the run)\n",
          scheduler.runningTasks(), scheduler.relaunches());
    } else {
      err << "allot run: interrupted; tearing the framework down\n";
    }
    driver.stop(false);
  });

  if (options.timeout > 0) {
    driver.loop().after(secondsToDuration(options.timeout), [&] {
      if (scheduler.result()) return;
      if (!scheduler.launched() && !scheduler.scheduled()) {
        err << fmt::format(
            "allot run: timed out after {} s: no offer of {}{} came (is an agent with enough "
            "free resources registered?)\n",
            options.timeout, toString(options.need),
            isUnreservedRole(options.role) ? "" : " in role " + options.role);
        scheduler.giveUp(kRunExitTimeout);
        driver.stop(false);
        return;
      }
      err << fmt::format("allot run: timed out after {} s; killing {}\n", options.timeout,
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
    return options.restart == Restart::kAlways || scheduler.scheduled() ? 0 : kRunExitInterrupted;
  }
  if (scheduler.timedOut() && !scheduler.result()) return kRunExitTimeout;
  return scheduler.result().value_or(kRunExitNotFinished);
}

}  // namespace allot::runtime
