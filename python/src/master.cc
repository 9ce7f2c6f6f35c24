// The runtime master, driven from Python: how a policy written in Python
// (allot.Policy) allocates a real cluster, as it allocates a simulated one.

#include "allot/runtime/master.h"

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <zmq.hpp>

#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;

// A master with its ZeroMQ context and clock (which must outlive it). Its
// loop runs in run_once() without the GIL; a Python policy's decide() takes
// the GIL for its call.
class MasterHandle {
 public:
  MasterHandle(py::object policy, const std::map<std::string, std::string>& params,
               const std::string& host, int port, int httpPort, const std::string& workDir,
               double allocationInterval, double offerTimeout, double agentTimeout,
               double frameworkTimeout, const std::string& masterId) {
    runtime::MasterOptions options;
    options.endpoint = fmt::format("tcp://{}:{}", host, port);
    options.httpHost = host;
    options.httpPort = httpPort;
    options.workDir = workDir;
    options.masterId = masterId;
    options.allocationInterval = seconds("allocation_interval", allocationInterval, true);
    options.offerTimeout = seconds("offer_timeout", offerTimeout, true);
    options.agentTimeout = seconds("agent_timeout", agentTimeout, true);
    options.frameworkTimeout = seconds("framework_timeout", frameworkTimeout, true);
    for (const auto& [k, v] : params) options.params.set(k, v);
    if (py::isinstance<py::str>(policy)) {
      options.policy = policy.cast<std::string>();
    } else {
      policy_ = policy;
      options.policy = py::str(py::getattr(policy, "name", py::type::of(policy).attr("__name__")));
      options.makePolicy = [policy](const Params& p) { return makePythonAllocator(policy, p); };
    }
    master_ = std::make_unique<runtime::Master>(context_, clock_, std::move(options));
  }

  ~MasterHandle() { detach(); }

  // One turn of the master's loop, waiting at most `maxWait` seconds for
  // something to happen. Returns false once the master has stopped: by
  // stop(), by itself (stop_reason), or because its policy raised (then
  // raised here, once).
  bool runOnce(double maxWait) {
    if (!running_) return false;
    try {
      py::gil_scoped_release release;
      master_->runOnce(secondsToDuration(std::max(maxWait, 0.0)));
    } catch (...) {
      // A policy's exception leaves the master mid-round: it stops for good.
      running_ = false;
      detach();
      throw;
    }
    if (stopRequested_ || !master_->stopReason().empty()) {
      running_ = false;
      detach();
    }
    return running_;
  }

  void stop() { stopRequested_ = true; }
  bool running() const { return running_; }
  std::string endpoint() const { return master_->endpoint(); }
  int httpPort() const { return master_->httpPort(); }
  std::string id() const { return master_->id(); }
  std::string stopReason() const { return master_->stopReason(); }

 private:
  // The Python policy's host is valid only while the master runs.
  void detach() {
    if (policy_ && py::hasattr(policy_, "_allot_host")) {
      py::setattr(policy_, "_allot_host", py::none());
    }
    policy_ = py::object();
  }

  zmq::context_t context_;
  runtime::SystemClock clock_;
  std::unique_ptr<runtime::Master> master_;
  py::object policy_;  // a Python policy, until the master stops
  bool running_ = true;
  bool stopRequested_ = false;
};

}  // namespace

void bindMaster(py::module_& m) {
  py::class_<MasterHandle>(m, "Master",
                           "A real allot master (runtime::Master) whose policy is a registered "
                           "name or a Python allot.Policy; use allot.Master.")
      .def(py::init<py::object, const std::map<std::string, std::string>&, const std::string&, int,
                    int, const std::string&, double, double, double, double, const std::string&>(),
           "policy"_a, "params"_a, "host"_a, "port"_a, "http_port"_a, "work_dir"_a,
           "allocation_interval"_a, "offer_timeout"_a, "agent_timeout"_a, "framework_timeout"_a,
           "master_id"_a)
      .def("run_once", &MasterHandle::runOnce, "max_wait"_a,
           "One turn of the loop, without the GIL; False once the master has stopped.")
      .def("stop", &MasterHandle::stop, "Stops the master at the end of its current turn.")
      .def_property_readonly("running", &MasterHandle::running)
      .def_property_readonly("endpoint", &MasterHandle::endpoint)
      .def_property_readonly("http_port", &MasterHandle::httpPort)
      .def_property_readonly("id", &MasterHandle::id)
      .def_property_readonly("stop_reason", &MasterHandle::stopReason);
}

}  // namespace allot::python
