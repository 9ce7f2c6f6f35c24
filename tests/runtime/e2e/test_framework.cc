// allot-test-framework: the framework the end-to-end tests run, written on
// allot::driver. It launches --tasks tasks (each --command with --cpus and
// --mem) into whatever offers fit, and appends every event to a JSON-lines
// file the test reads: subscriptions, launches, and every status update it
// receives (task id, state, uuid, agent, time). It exits when every task has
// reached a terminal state.
//
// Failover: with --framework-id-file, the id is saved after subscribing and
// read back by a later process, which subscribes as the same framework. A
// process that finds earlier records in --output resumes from them: tasks
// launched before are not launched again, and those not yet terminal are
// reconciled. After each (re)subscription, and every --reconcile-interval,
// it reconciles its non-terminal tasks explicitly.

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/scheduler.h"

namespace allot::runtime {
namespace {

struct Flags {
  std::string master;
  std::string masterKey;  // CURVE: the master's public key (or a file holding it)
  std::string curveKey;   // CURVE: this framework's key pair file
  std::string name = "allot-test-framework";
  std::string role{kUnreservedRole};
  std::string principal;
  std::string user;  // tasks run as this user on agents running as root
  int tasks = 10;
  std::string command = "sleep 0.2";
  double cpus = 0.25;
  double mem = 32;
  std::string taskPrefix = "task";
  std::string output;
  std::string idFile;
  double failoverTimeout = 60;
  double reconcileInterval = 1;
  double masterTimeout = 0;
  double refuseSeconds = 0.1;
  std::string onlyAgent;
  double timeout = 0;
  int maxInFlight = 0;  // launched and not yet terminal; 0: no bound
  bool noTeardown = false;
  bool verbose = false;
};

std::int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hex(const std::string& bytes) {
  std::string out;
  for (char c : bytes) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return out;
}

struct Task {
  std::string agentId;
  bool launched = false;
  bool terminal = false;
  wire::TaskState state = wire::TASK_STATE_UNSPECIFIED;
};

class TestFramework final : public Scheduler {
 public:
  explicit TestFramework(const Flags& flags) : flags_(flags) {
    if (flags.cpus > 0) need_.setScalar("cpus", flags.cpus);
    if (flags.mem > 0) need_.setScalar("mem", flags.mem);
    for (int i = 0; i < flags.tasks; ++i) {
      std::string id = fmt::format("{}-{:04}", flags.taskPrefix, i);
      order_.push_back(id);
      tasks_[id];
    }
    resume();
    for (const auto& [id, task] : tasks_) {
      launchedCount_ += task.launched ? 1 : 0;
      terminalCount_ += task.terminal ? 1 : 0;
    }
    out_.open(flags.output, std::ios::app);
    if (!out_) throw Error(fmt::format("cannot append to --output {}", flags.output));
  }

  // Counters, not scans: the launch benchmark runs 10,000 tasks through
  // here, and a pass over every task per update made it quadratic.
  bool done() const { return terminalCount_ == tasks_.size(); }

  void finish(SchedulerDriver& driver, const std::string& why) {
    nlohmann::json summary = nlohmann::json::object();
    for (const auto& [id, task] : tasks_) {
      summary[std::string(taskStateName(task.state))] =
          summary.value(std::string(taskStateName(task.state)), 0) + 1;
    }
    log({{"event", "done"}, {"why", why}, {"states", summary}});
    driver.stop(flags_.noTeardown);
  }

  void registered(SchedulerDriver& driver, const std::string& frameworkId,
                  const std::string& masterId) override {
    log({{"event", "subscribed"},
         {"framework_id", frameworkId},
         {"master_id", masterId},
         {"again", false}});
    saveId(frameworkId);
    afterSubscription(driver);
  }

  void reregistered(SchedulerDriver& driver, const std::string& masterId) override {
    log({{"event", "subscribed"},
         {"framework_id", driver.frameworkId()},
         {"master_id", masterId},
         {"again", true}});
    afterSubscription(driver);
  }

  void disconnected(SchedulerDriver&) override { log({{"event", "disconnected"}}); }

  void error(SchedulerDriver&, const std::string& message) override {
    log({{"event", "error"}, {"message", message}});
  }

  void offerRescinded(SchedulerDriver&, const std::string& offerId) override {
    log({{"event", "rescinded"}, {"offer_id", offerId}});
  }

  void resourceOffers(SchedulerDriver& driver, const std::vector<wire::Offer>& offers) override {
    wire::Filters filters;
    filters.set_refuse_seconds(flags_.refuseSeconds);
    for (const wire::Offer& offer : offers) {
      std::vector<wire::TaskInfo> launch;
      if (flags_.onlyAgent.empty() || offer.agent_id() == flags_.onlyAgent) {
        launch = pack(offer);
      }
      if (launch.empty()) {
        driver.declineOffer(offer.offer_id(), filters);
        continue;
      }
      for (const wire::TaskInfo& task : launch) {
        log({{"event", "launch"},
             {"task_id", task.task_id()},
             {"agent_id", offer.agent_id()},
             {"offer_id", offer.offer_id()}});
      }
      driver.launchTasks({offer.offer_id()}, launch, filters);
    }
    if (pendingLaunches() == 0 || atBound()) {
      // Offers now would only be declined: none until a task ends.
      driver.suppressOffers();
      suppressedAtBound_ = pendingLaunches() > 0;
    }
  }

  void statusUpdate(SchedulerDriver& driver, const wire::TaskStatus& status) override {
    log({{"event", "update"},
         {"task_id", status.task_id()},
         {"state", std::string(taskStateName(status.state()))},
         {"agent_id", status.agent_id()},
         {"uuid", hex(status.uuid())},
         {"reason", status.reason()},
         {"message", status.message()},
         {"exit_status", status.exit_status()},
         {"timestamp_us", status.timestamp_us()}});
    auto it = tasks_.find(status.task_id());
    if (it == tasks_.end()) return;
    Task& task = it->second;
    if (task.terminal) return;  // the first terminal state is the one that counts
    task.state = status.state();
    if (!status.agent_id().empty()) task.agentId = status.agent_id();
    task.terminal = isTerminal(status.state());
    if (task.terminal) ++terminalCount_;
    if (done()) {
      finish(driver, "all tasks terminal");
    } else if (suppressedAtBound_ && !atBound()) {
      suppressedAtBound_ = false;
      driver.reviveOffers();
    }
  }

  // Reconciles the tasks launched and not yet terminal (none: no message).
  void reconcile(SchedulerDriver& driver) {
    if (!driver.subscribed()) return;
    std::vector<wire::Reconcile::Task> list;
    for (const auto& [id, task] : tasks_) {
      if (!task.launched || task.terminal) continue;
      wire::Reconcile::Task& t = list.emplace_back();
      t.set_task_id(id);
      t.set_agent_id(task.agentId);
    }
    if (list.empty()) return;
    log({{"event", "reconcile"}, {"tasks", list.size()}});
    driver.reconcileTasks(list);
  }

 private:
  void afterSubscription(SchedulerDriver& driver) {
    if (done()) {
      finish(driver, "all tasks terminal");
      return;
    }
    reconcile(driver);
    if (pendingLaunches() > 0) {
      driver.reviveOffers();
    } else {
      driver.suppressOffers();
    }
  }

  std::size_t pendingLaunches() const { return tasks_.size() - launchedCount_; }
  bool atBound() const {
    return flags_.maxInFlight > 0 && launchedCount_ > terminalCount_ &&
           launchedCount_ - terminalCount_ >= static_cast<std::size_t>(flags_.maxInFlight);
  }

  // As many pending tasks as the offer holds (unreserved first, then
  // reserved for the role), marked launched.
  std::vector<wire::TaskInfo> pack(const wire::Offer& offer) {
    std::vector<wire::TaskInfo> launch;
    Resources left;
    try {
      left = Resources::parse(offer.resources());
    } catch (const ParseError& e) {
      spdlog::warn("offer {}: {}", offer.offer_id(), e.what());
      return launch;
    }
    const Resources reserved = need_.withRole(flags_.role);
    // Tasks are launched in order and never un-launched: the cursor only
    // moves forward past launched ones.
    for (; cursor_ < order_.size() && !atBound(); ++cursor_) {
      const std::string& id = order_[cursor_];
      Task& pending = tasks_[id];
      if (pending.launched) continue;
      Resources use;
      if (left.contains(need_)) {
        use = need_;
      } else if (!isUnreservedRole(flags_.role) && left.contains(reserved)) {
        use = reserved;
      } else {
        break;
      }
      left -= use;
      wire::TaskInfo& task = launch.emplace_back();
      task.set_task_id(id);
      task.set_name(id);
      task.set_agent_id(offer.agent_id());
      task.set_resources(toString(use));
      task.set_command(flags_.command);
      pending.launched = true;
      pending.agentId = offer.agent_id();
      ++launchedCount_;
    }
    return launch;
  }

  // Picks up where an earlier process with the same --output stopped.
  void resume() {
    std::ifstream in(flags_.output);
    std::string line;
    int lineNo = 0;
    while (std::getline(in, line)) {
      ++lineNo;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        // A process killed mid-write leaves a torn last line.
        spdlog::warn("{}:{}: not JSON, skipped", flags_.output, lineNo);
        continue;
      }
      auto it = tasks_.find(j.value("task_id", std::string()));
      if (it == tasks_.end()) continue;
      const std::string event = j.value("event", std::string());
      if (event == "launch") {
        it->second.launched = true;
        it->second.agentId = j.value("agent_id", std::string());
      } else if (event == "update" && !it->second.terminal) {
        wire::TaskState state = wire::TASK_STATE_UNSPECIFIED;
        wire::TaskState_Parse(j.value("state", std::string()), &state);
        it->second.launched = true;
        it->second.state = state;
        it->second.terminal = isTerminal(state);
      }
    }
  }

  void saveId(const std::string& id) {
    if (flags_.idFile.empty()) return;
    const std::string tmp = flags_.idFile + ".tmp";
    {
      std::ofstream file(tmp, std::ios::trunc);
      file << id << "\n";
    }
    std::filesystem::rename(tmp, flags_.idFile);
  }

  void log(nlohmann::json record) {
    record["time_us"] = nowUs();
    record["pid"] = ::getpid();
    out_ << record.dump() << std::endl;  // flushed: the process may be killed at any time
  }

  const Flags& flags_;
  Resources need_;
  std::vector<std::string> order_;
  std::map<std::string, Task> tasks_;
  std::size_t launchedCount_ = 0;
  std::size_t terminalCount_ = 0;
  bool suppressedAtBound_ = false;  // suppressed with tasks left: revive when one ends
  std::size_t cursor_ = 0;          // order_ before it is launched
  std::ofstream out_;
};

int run(const Flags& flags) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("test-framework"));
  spdlog::set_level(flags.verbose ? spdlog::level::debug : spdlog::level::info);

  wire::FrameworkInfo info;
  info.set_name(flags.name);
  info.set_role(flags.role);
  info.set_principal(flags.principal);
  info.set_user(flags.user);
  info.set_failover_timeout_us(toMicros(secondsToDuration(flags.failoverTimeout)));
  if (!flags.idFile.empty()) {
    std::ifstream file(flags.idFile);
    std::string id;
    if (file >> id) info.set_framework_id(id);
  }
  DriverOptions options;
  if (flags.masterTimeout > 0) options.masterTimeout = secondsToDuration(flags.masterTimeout);
  options.subscribeBackoffMax = std::chrono::seconds(1);
  if (!flags.masterKey.empty()) {
    options.curve.serverKey = readCurvePublicKey("--master-key", flags.masterKey);
    if (!flags.curveKey.empty())
      options.curve.keys = readCurveKeyFile("--curve-key", flags.curveKey);
  }

  TestFramework framework(flags);
  SystemClock clock;
  SchedulerDriver driver(framework, info, flags.master, clock, options);
  driver.loop().stopOnSignals();
  if (flags.reconcileInterval > 0) {
    driver.loop().every(secondsToDuration(flags.reconcileInterval),
                        [&] { framework.reconcile(driver); });
  }
  bool timedOut = false;
  if (flags.timeout > 0) {
    driver.loop().after(secondsToDuration(flags.timeout), [&] {
      timedOut = true;
      framework.finish(driver, "timeout");
    });
  }
  driver.run();
  if (timedOut) {
    std::cerr << "allot-test-framework: timed out with tasks not terminal\n";
    return 2;
  }
  return framework.done() ? 0 : 1;
}

}  // namespace
}  // namespace allot::runtime

int main(int argc, char** argv) {
  allot::runtime::Flags flags;
  CLI::App app{"allot-test-framework: launches N tasks and logs every status update as JSON lines"};
  app.add_option("--master", flags.master, "Master address, HOST:PORT")->required();
  app.add_option("--name", flags.name, "Framework name")->capture_default_str();
  app.add_option("--role", flags.role, "Role")->capture_default_str();
  app.add_option("--principal", flags.principal, "Principal (with CURVE: its key's name)");
  app.add_option("--user", flags.user, "User its tasks run as (agents running as root)");
  app.add_option("--tasks", flags.tasks, "Number of tasks")->capture_default_str();
  app.add_option("--command", flags.command, "Command of every task")->capture_default_str();
  app.add_option("--cpus", flags.cpus, "CPUs per task")->capture_default_str();
  app.add_option("--mem", flags.mem, "Memory per task (MB)")->capture_default_str();
  app.add_option("--task-prefix", flags.taskPrefix, "Task ids are PREFIX-0000, PREFIX-0001, ...")
      ->capture_default_str();
  app.add_option("--output", flags.output, "JSON-lines file of events (appended; resumed from)")
      ->required();
  app.add_option("--framework-id-file", flags.idFile,
                 "Read the framework id from here (failover) and save it here");
  app.add_option("--failover-timeout", flags.failoverTimeout, "Failover timeout (s)")
      ->capture_default_str();
  app.add_option("--reconcile-interval", flags.reconcileInterval,
                 "Reconcile non-terminal tasks this often (s); 0: only after subscribing")
      ->capture_default_str();
  app.add_option("--master-timeout", flags.masterTimeout,
                 "Presume the master lost after this much silence (s); 0: driver default")
      ->capture_default_str();
  app.add_option("--refuse-seconds", flags.refuseSeconds, "Filter of declines and launches (s)")
      ->capture_default_str();
  app.add_option("--only-agent", flags.onlyAgent, "Launch on this agent only");
  app.add_option("--max-in-flight", flags.maxInFlight,
                 "Launch no more while this many tasks are launched and not terminal (0: no bound)")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout, "Give up after this many seconds (exit 2); 0: never")
      ->capture_default_str();
  app.add_option("--master-key", flags.masterKey, "The master's CURVE public key, or its file");
  app.add_option("--curve-key", flags.curveKey, "This framework's CURVE key pair file");
  app.add_flag("--no-teardown", flags.noTeardown,
               "When done, leave the framework registered instead of tearing it down");
  app.add_flag("-v,--verbose", flags.verbose, "Debug logging");
  CLI11_PARSE(app, argc, argv);
  try {
    return allot::runtime::run(flags);
  } catch (const std::exception& e) {
    std::cerr << "allot-test-framework: " << e.what() << "\n";
    return 1;
  }
}
