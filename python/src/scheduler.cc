// Frameworks written in Python: runtime::SchedulerDriver driven from Python.
// The driver's Scheduler is a trampoline that hands each callback, with its
// data as plain Python values, to an object of python/allot/scheduler.py,
// which calls the user's allot.Scheduler.

#include "allot/runtime/scheduler.h"

#include <fmt/format.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/curve.h"
#include "allot/runtime/wire.h"
#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;
using runtime::SchedulerDriver;

// How often a run on the main thread lets Python run its signal handlers
// (Ctrl-C), which it does only between bytecodes.
constexpr auto kSignalCheckPeriod = std::chrono::milliseconds(100);

py::dict offerToPython(const wire::Offer& offer) {
  const Resources resources = Resources::parse(offer.resources());
  const Scalars total = resources.totalScalars();
  const Dimensions& dims = *resources.dimensions();
  py::dict scalars;
  for (int d = 0; d < dims.size(); ++d) {
    if (total[d] != 0) scalars[py::str(dims.name(d))] = total[d];
  }
  py::dict ranges;
  for (const Pool& pool : resources.pools()) {
    for (const auto& [name, set] : pool.ranges) {
      py::list list = ranges.attr("setdefault")(name, py::list());
      for (const Interval& interval : set.intervals()) {
        list.append(py::make_tuple(interval.first, interval.last));
      }
    }
  }
  py::dict attributes;
  const Attributes parsed = Attributes::parse(offer.attributes());
  for (const auto& [name, value] : parsed.entries()) {
    attributes[py::str(name)] = value;
  }
  return py::dict(
      "id"_a = offer.offer_id(), "framework_id"_a = offer.framework_id(),
      "agent_id"_a = offer.agent_id(), "hostname"_a = offer.hostname(), "resources"_a = scalars,
      "resources_text"_a = toString(resources), "ranges"_a = ranges, "attributes"_a = attributes,
      "task_key"_a = offer.has_task_key() ? py::object(py::int_(offer.task_key())) : py::none());
}

py::dict statusToPython(const wire::TaskStatus& status) {
  return py::dict(
      "task_id"_a = status.task_id(),
      "state"_a = std::string(runtime::taskStateName(status.state())),
      "message"_a = status.message(), "reason"_a = status.reason(),
      "agent_id"_a = status.agent_id(), "framework_id"_a = status.framework_id(),
      "exit_status"_a = status.exit_status(),
      "timestamp"_a = static_cast<double>(status.timestamp_us()) / 1e6,
      "healthy"_a = status.has_healthy() ? py::object(py::bool_(status.healthy())) : py::none(),
      "uuid"_a = py::bytes(status.uuid()), "terminal"_a = runtime::isTerminal(status.state()));
}

// Resources given as text or a dict of scalars, non-empty, in the Mesos text
// syntax the master reads; `what` names them in errors.
std::string resourcesText(py::handle resources, const std::string& what) {
  std::optional<Resources> r;
  try {
    r = resourcesFromPython(resources, Dimensions::standard());
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("{}: {}", what, e.what()));
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(fmt::format("{}: {}", what, e.what()));
  } catch (const py::type_error& e) {
    throw py::type_error(fmt::format("{}: {}", what, e.what()));
  }
  if (!r) {
    throw py::type_error(
        fmt::format("{}: must be text ('cpus:1;mem:128') or a dict of scalars, got {}", what,
                    std::string(py::repr(resources))));
  }
  if (r->empty()) throw InvalidArgument(fmt::format("{}: these are no resources", what));
  return toString(*r);
}

// An allot.HealthCheck (or any object with its attributes) as the wire's:
// the kind from which of command, tcp_port and http_port is set (exactly one,
// as allot.HealthCheck checks), the times only when given.
wire::HealthCheck healthCheck(py::handle check) {
  wire::HealthCheck out;
  const py::object command = check.attr("command");
  const py::object tcp = check.attr("tcp_port");
  const py::object http = check.attr("http_port");
  if (!command.is_none()) {
    out.set_type(wire::HealthCheck::COMMAND);
    out.set_command(command.cast<std::string>());
  } else if (!tcp.is_none()) {
    out.set_type(wire::HealthCheck::TCP);
    out.set_port(tcp.cast<std::uint32_t>());
  } else if (!http.is_none()) {
    out.set_type(py::bool_(check.attr("https")) ? wire::HealthCheck::HTTPS
                                                : wire::HealthCheck::HTTP);
    out.set_port(http.cast<std::uint32_t>());
    out.set_path(check.attr("path").cast<std::string>());
  }
  const auto time = [&](const char* field, void (wire::HealthCheck::*set)(double)) {
    const py::object value = check.attr(field);
    if (!value.is_none()) (out.*set)(value.cast<double>());
  };
  time("delay", &wire::HealthCheck::set_delay_seconds);
  time("interval", &wire::HealthCheck::set_interval_seconds);
  time("timeout", &wire::HealthCheck::set_timeout_seconds);
  time("grace", &wire::HealthCheck::set_grace_period_seconds);
  const py::object failures = check.attr("failures");
  if (!failures.is_none()) out.set_consecutive_failures(failures.cast<std::uint32_t>());
  return out;
}

// A task description (an allot.Task, or any object with its attributes) as a
// TaskInfo. Raises, naming the task and the field, what allot can tell is
// wrong before the master does: resources that do not parse, an environment
// that is not text, a kill grace the master refuses.
wire::TaskInfo taskInfo(py::handle task) {
  wire::TaskInfo info;
  const py::object id = task.attr("task_id");
  if (!py::isinstance<py::str>(id)) {
    throw py::type_error("task_id must be text, got " + std::string(py::repr(id)));
  }
  info.set_task_id(id.cast<std::string>());
  const std::string where = fmt::format("task '{}'", info.task_id());
  const auto text = [&](const char* field) {
    const py::object value = task.attr(field);
    if (!py::isinstance<py::str>(value)) {
      throw py::type_error(
          fmt::format("{}: {} must be text, got {}", where, field, std::string(py::repr(value))));
    }
    return value.cast<std::string>();
  };
  info.set_name(text("name"));
  if (info.name().empty()) info.set_name(info.task_id());
  info.set_command(text("command"));
  info.set_agent_id(text("agent_id"));
  info.set_resources(resourcesText(task.attr("resources"), where + ": resources"));
  const py::object env = task.attr("env");
  if (!env.is_none()) {
    if (!py::isinstance<py::dict>(env)) {
      throw py::type_error(fmt::format("{}: env must be a dict of text to text, got {}", where,
                                       std::string(py::repr(env))));
    }
    for (auto [name, value] : env.cast<py::dict>()) {
      if (!py::isinstance<py::str>(name) || !py::isinstance<py::str>(value)) {
        throw py::type_error(fmt::format("{}: env[{}] must be text, got {}", where,
                                         std::string(py::repr(name)),
                                         std::string(py::repr(value))));
      }
      (*info.mutable_environment())[name.cast<std::string>()] = value.cast<std::string>();
    }
  }
  const py::object check = py::getattr(task, "health_check", py::none());
  if (!check.is_none()) {
    *info.mutable_health_check() = healthCheck(check);
    if (auto why = runtime::healthCheckProblem(info.health_check())) {
      throw InvalidArgument(fmt::format("{}: {}", where, *why));
    }
  }
  const py::object grace = task.attr("kill_grace");
  if (!grace.is_none()) {
    info.mutable_kill_policy()->set_grace_period_seconds(grace.cast<double>());
    if (auto why = runtime::killPolicyProblem(info.kill_policy())) {
      throw InvalidArgument(fmt::format("{}: {}", where, *why));
    }
  }
  return info;
}

// A pending task (an allot.PendingTask, or any object with its attributes)
// as a DEMAND entry; raises naming the key and the field what the master
// would refuse.
wire::Demand::Task pendingTask(py::handle task) {
  wire::Demand::Task out;
  const py::object key = task.attr("key");
  if (!py::isinstance<py::int_>(key) || py::isinstance<py::bool_>(key) ||
      key.cast<py::int_>() < py::int_(0)) {
    throw py::type_error("a pending task's key must be an int >= 0, got " +
                         std::string(py::repr(key)));
  }
  out.set_key(key.cast<std::uint64_t>());
  const std::string where = fmt::format("pending task {}", out.key());
  out.set_resources(resourcesText(task.attr("resources"), where + ": resources"));
  const py::object count = task.attr("count");
  if (!py::isinstance<py::int_>(count) || py::isinstance<py::bool_>(count) ||
      count.cast<py::int_>() < py::int_(1) || count.cast<py::int_>() > py::int_(1'000'000)) {
    throw InvalidArgument(fmt::format("{}: count must be an int from 1 to 1,000,000, got {}", where,
                                      std::string(py::repr(count))));
  }
  out.set_count(count.cast<std::uint32_t>());
  out.set_gang(py::bool_(task.attr("gang")));
  out.set_spread(py::bool_(task.attr("spread")));
  const auto time = [&](const char* field) {
    return toMicros(seconds((where + ": " + field).c_str(), task.attr(field).cast<double>()));
  };
  out.set_waited_us(time("waited"));
  out.set_estimate_us(time("estimate"));
  return out;
}

std::optional<wire::Filters> filters(std::optional<double> refuseSeconds) {
  if (!refuseSeconds) return std::nullopt;
  wire::Filters f;
  f.set_refuse_seconds(toSeconds(seconds("refuse_seconds", *refuseSeconds)));
  return f;
}

// A SchedulerDriver with its clock, whose callbacks go to a Python object
// (`sink`, for the length of run()). run() holds the loop without the GIL;
// each callback takes it.
//
// Threads: the driver's methods are made on the loop thread. A call from a
// callback (the loop thread) is made at once; a call from any other thread,
// or before run(), is posted to the loop (a LoopInbox) and made on the loop
// thread at its next turn. A run runs once: calls after it raise.
class DriverHandle final : public runtime::Scheduler {
 public:
  using Call = std::function<void(SchedulerDriver&)>;

  DriverHandle(const std::string& master, const std::string& name, const std::string& role,
               double weight, const std::string& user, const std::string& principal,
               const std::string& hostname, const std::string& frameworkId, double failoverTimeout,
               const std::string& masterKey, const std::string& keyFile,
               std::optional<double> masterTimeout, double zkSessionTimeout) {
    if (!isUnreservedRole(role) && !isValidRoleName(role)) {
      throw InvalidArgument(fmt::format(
          "role '{}' is not a role name: letters, digits, '_', '-', '.' and '/', or '*'", role));
    }
    if (!(std::isfinite(weight) && weight > 0)) {
      throw InvalidArgument(fmt::format("weight must be a positive number, got {}", weight));
    }
    wire::FrameworkInfo info;
    info.set_name(name);
    info.set_role(role);
    info.set_weight(weight);
    info.set_user(user);
    info.set_principal(principal);
    info.set_hostname(hostname);
    info.set_framework_id(frameworkId);
    info.set_failover_timeout_us(toMicros(seconds("failover_timeout", failoverTimeout)));
    runtime::DriverOptions options;
    if (masterTimeout) options.masterTimeout = seconds("master_timeout", *masterTimeout, true);
    options.zkSessionTimeout = seconds("zk_session_timeout", zkSessionTimeout, true);
    if (!masterKey.empty()) {
      options.curve.serverKey = runtime::readCurvePublicKey("master_key", masterKey);
    }
    if (!keyFile.empty()) {
      if (masterKey.empty()) throw InvalidArgument("key_file needs master_key");
      options.curve.keys = runtime::readCurveKeyFile("key_file", keyFile);
    }
    frameworkId_ = frameworkId;
    driver_ = std::make_unique<SchedulerDriver>(*this, std::move(info), master, clock_, options);
    inbox_.emplace(driver_->loop(), [this](std::deque<Call> calls) {
      for (Call& call : calls) call(*driver_);
    });
  }

  ~DriverHandle() override {
    // The driver waits up to 0.5 s for its last messages to leave.
    py::gil_scoped_release release;
    inbox_.reset();  // it watches the driver's loop
    driver_.reset();
  }

  DriverHandle(const DriverHandle&) = delete;
  DriverHandle& operator=(const DriverHandle&) = delete;

  // Runs the loop on this thread until stop(); raises what a callback raised.
  void run(py::object sink, bool checkSignals) {
    {
      std::lock_guard lock(mutex_);
      if (phase_ == Phase::kStopped && !ran_) return;  // stopped before it ran
      if (phase_ != Phase::kIdle) {
        throw std::runtime_error("this driver has run already; a driver runs once: make a new one");
      }
      phase_ = Phase::kRunning;
      ran_ = true;
      loopThread_ = std::this_thread::get_id();
    }
    sink_ = std::move(sink);
    if (checkSignals) {
      driver_->loop().every(kSignalCheckPeriod, [] {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      });
    }
    try {
      py::gil_scoped_release release;
      driver_->run();
    } catch (...) {
      finish();
      throw;
    }
    finish();
  }

  void stop(bool failover) {
    std::unique_lock lock(mutex_);
    switch (phase_) {
      case Phase::kIdle:
        phase_ = Phase::kStopped;  // run() will return at once, without connecting
        return;
      case Phase::kRunning:
        if (std::this_thread::get_id() != loopThread_) {
          // In turn with the calls queued before it.
          inbox_->post([failover](SchedulerDriver& d) { d.stop(failover); });
          return;
        }
        lock.unlock();
        driver_->stop(failover);
        return;
      case Phase::kStopped:
        return;
    }
  }

  void launchTasks(std::vector<std::string> offerIds, const py::list& tasks,
                   std::optional<double> refuseSeconds) {
    std::vector<wire::TaskInfo> infos;
    for (py::handle task : tasks) infos.push_back(taskInfo(task));
    onLoop("launch_tasks",
           [offerIds = std::move(offerIds), infos = std::move(infos),
            f = filters(refuseSeconds)](SchedulerDriver& d) { d.launchTasks(offerIds, infos, f); });
  }

  void declineOffer(std::string offerId, std::optional<double> refuseSeconds) {
    onLoop("decline_offer", [offerId = std::move(offerId), f = filters(refuseSeconds)](
                                SchedulerDriver& d) { d.declineOffer(offerId, f); });
  }

  void suppressOffers() {
    onLoop("suppress_offers", [](SchedulerDriver& d) { d.suppressOffers(); });
  }

  void reviveOffers() {
    onLoop("revive_offers", [](SchedulerDriver& d) { d.reviveOffers(); });
  }

  void reserveResources(std::vector<std::string> offerIds, const py::object& resources,
                        std::optional<double> refuseSeconds, bool unreserve) {
    std::string text = resourcesText(resources, unreserve ? "unreserve" : "reserve");
    onLoop(unreserve ? "unreserve_resources" : "reserve_resources",
           [offerIds = std::move(offerIds), text = std::move(text), f = filters(refuseSeconds),
            unreserve](SchedulerDriver& d) {
             if (unreserve) {
               d.unreserveResources(offerIds, text, f);
             } else {
               d.reserveResources(offerIds, text, f);
             }
           });
  }

  void publishDemand(const py::list& tasks) {
    wire::Demand demand;
    std::set<std::uint64_t> keys;
    for (py::handle task : tasks) {
      *demand.add_tasks() = pendingTask(task);
      if (!keys.insert(demand.tasks().rbegin()->key()).second) {
        throw InvalidArgument(
            fmt::format("pending task {}: a key names one pending task; this one is there twice",
                        demand.tasks().rbegin()->key()));
      }
    }
    onLoop("publish_demand",
           [demand = std::move(demand)](SchedulerDriver& d) { d.publishDemand(demand); });
  }

  void killTask(std::string taskId, std::string agentId) {
    onLoop("kill_task", [taskId = std::move(taskId), agentId = std::move(agentId)](
                            SchedulerDriver& d) { d.killTask(taskId, agentId); });
  }

  void reconcileTasks(const std::vector<std::pair<std::string, std::string>>& tasks) {
    std::vector<wire::Reconcile::Task> list;
    for (const auto& [taskId, agentId] : tasks) {
      list.emplace_back().set_task_id(taskId);
      list.back().set_agent_id(agentId);
    }
    onLoop("reconcile_tasks",
           [list = std::move(list)](SchedulerDriver& d) { d.reconcileTasks(list); });
  }

  std::string frameworkId() const {
    std::lock_guard lock(mutex_);
    return frameworkId_;
  }
  std::string masterId() const {
    std::lock_guard lock(mutex_);
    return masterId_;
  }
  bool subscribed() const {
    std::lock_guard lock(mutex_);
    return subscribed_;
  }
  bool removed() const {
    std::lock_guard lock(mutex_);
    return removed_;
  }
  std::string phase() const {
    std::lock_guard lock(mutex_);
    switch (phase_) {
      case Phase::kIdle:
        return "idle";
      case Phase::kRunning:
        return "running";
      case Phase::kStopped:
        return "stopped";
    }
    return "?";
  }
  // Calls from other threads that the end of the run left unmade.
  std::uint64_t droppedCalls() const {
    std::lock_guard lock(mutex_);
    return droppedCalls_;
  }
  bool onLoopThread() const {
    std::lock_guard lock(mutex_);
    return phase_ == Phase::kRunning && std::this_thread::get_id() == loopThread_;
  }

  // --- runtime::Scheduler, on the loop thread. ---

  void registered(SchedulerDriver& /*driver*/, const std::string& frameworkId,
                  const std::string& masterId) override {
    py::gil_scoped_acquire gil;
    deliver("registered", frameworkId, masterId);
  }
  void reregistered(SchedulerDriver& /*driver*/, const std::string& masterId) override {
    py::gil_scoped_acquire gil;
    deliver("reregistered", masterId);
  }
  void disconnected(SchedulerDriver& /*driver*/) override {
    py::gil_scoped_acquire gil;
    deliver("disconnected");
  }
  void resourceOffers(SchedulerDriver& /*driver*/,
                      const std::vector<wire::Offer>& offers) override {
    py::gil_scoped_acquire gil;
    py::list list;
    for (const wire::Offer& offer : offers) list.append(offerToPython(offer));
    deliver("resource_offers", list);
  }
  void offerRescinded(SchedulerDriver& /*driver*/, const std::string& offerId) override {
    py::gil_scoped_acquire gil;
    deliver("offer_rescinded", offerId);
  }
  void statusUpdate(SchedulerDriver& /*driver*/, const wire::TaskStatus& status) override {
    py::gil_scoped_acquire gil;
    deliver("status_update", statusToPython(status));
  }
  void error(SchedulerDriver& /*driver*/, const std::string& message) override {
    py::gil_scoped_acquire gil;
    deliver("error", message);
  }

 private:
  enum class Phase { kIdle, kRunning, kStopped };

  // Calls sink.NAME(args...) with the driver's state brought up to date for
  // the properties. REQUIRES: the GIL, the loop thread.
  template <typename... Args>
  void deliver(const char* name, Args&&... args) {
    {
      std::lock_guard lock(mutex_);
      frameworkId_ = driver_->frameworkId();
      masterId_ = driver_->masterId();
      subscribed_ = driver_->subscribed();
      removed_ = driver_->removed();
    }
    sink_.attr(name)(std::forward<Args>(args)...);
  }

  void onLoop(const char* what, Call call) {
    std::unique_lock lock(mutex_);
    switch (phase_) {
      case Phase::kIdle:
        inbox_->post(std::move(call));  // delivered once run() starts the loop
        return;
      case Phase::kRunning:
        if (std::this_thread::get_id() == loopThread_) {
          lock.unlock();
          call(*driver_);
          return;
        }
        inbox_->post(std::move(call));
        return;
      case Phase::kStopped:
        throw Error(
            fmt::format("SchedulerDriver.{}: the driver has stopped; a driver runs once: make a "
                        "new one (with framework_id to take the framework over)",
                        what));
    }
  }

  // After the loop, however it ended. REQUIRES: the GIL, the loop thread.
  void finish() {
    {
      std::lock_guard lock(mutex_);
      phase_ = Phase::kStopped;
      droppedCalls_ += inbox_->close().size();
      subscribed_ = false;
    }
    sink_ = py::object();
  }

  runtime::SystemClock clock_;
  std::unique_ptr<SchedulerDriver> driver_;
  py::object sink_;  // during run()

  mutable std::mutex mutex_;  // guards what follows
  Phase phase_ = Phase::kIdle;
  bool ran_ = false;
  std::thread::id loopThread_;
  // Calls from other threads (and before run()), made on the loop thread.
  // Made with the driver, reset before it; posted to with mutex_ held.
  std::optional<runtime::LoopInbox<Call>> inbox_;
  std::uint64_t droppedCalls_ = 0;
  // The driver's state as of the latest callback, for any thread.
  std::string frameworkId_;
  std::string masterId_;
  bool subscribed_ = false;
  bool removed_ = false;
};

}  // namespace

void bindScheduler(py::module_& m) {
  py::class_<DriverHandle>(m, "SchedulerDriver",
                           "A real scheduler driver (runtime::SchedulerDriver) calling a Python "
                           "object back; use allot.SchedulerDriver.")
      .def(
          py::init<const std::string&, const std::string&, const std::string&, double,
                   const std::string&, const std::string&, const std::string&, const std::string&,
                   double, const std::string&, const std::string&, std::optional<double>, double>(),
          "master"_a, "name"_a, "role"_a, "weight"_a, "user"_a, "principal"_a, "hostname"_a,
          "framework_id"_a, "failover_timeout"_a, "master_key"_a, "key_file"_a, "master_timeout"_a,
          "zk_session_timeout"_a)
      .def("run", &DriverHandle::run, "sink"_a, "check_signals"_a,
           "Runs the loop on this thread, without the GIL, until stop(); callbacks go to "
           "`sink`'s methods. With `check_signals`, Python's signal handlers run every 0.1 s.")
      .def("stop", &DriverHandle::stop, "failover"_a)
      .def("launch_tasks", &DriverHandle::launchTasks, "offer_ids"_a, "tasks"_a, "refuse_seconds"_a)
      .def("decline_offer", &DriverHandle::declineOffer, "offer_id"_a, "refuse_seconds"_a)
      .def("suppress_offers", &DriverHandle::suppressOffers)
      .def("revive_offers", &DriverHandle::reviveOffers)
      .def("kill_task", &DriverHandle::killTask, "task_id"_a, "agent_id"_a)
      .def("reserve_resources", &DriverHandle::reserveResources, "offer_ids"_a, "resources"_a,
           "refuse_seconds"_a, "unreserve"_a)
      .def("publish_demand", &DriverHandle::publishDemand, "tasks"_a)
      .def("reconcile_tasks", &DriverHandle::reconcileTasks, "tasks"_a)
      .def_property_readonly("framework_id", &DriverHandle::frameworkId)
      .def_property_readonly("master_id", &DriverHandle::masterId)
      .def_property_readonly("subscribed", &DriverHandle::subscribed)
      .def_property_readonly("removed", &DriverHandle::removed)
      .def_property_readonly("phase", &DriverHandle::phase)
      .def_property_readonly("dropped_calls", &DriverHandle::droppedCalls)
      .def_property_readonly("on_loop_thread", &DriverHandle::onLoopThread);
  m.def(
      "check_pending_task", [](py::handle task) { (void)pendingTask(task); }, "task"_a,
      "Raises what publish_demand would about `task`.");
  m.def(
      "check_task", [](py::handle task) { (void)taskInfo(task); }, "task"_a,
      "Raises what launching `task` would raise before it reaches the master.");
}

}  // namespace allot::python
