// The runtime master, driven from Python: how a policy written in Python
// (allot.Policy) allocates a real cluster, as it allocates a simulated one.

#include "allot/runtime/master.h"

#include <fmt/format.h>
#include <pybind11/stl.h>
#include <spdlog/spdlog.h>

#include <atomic>
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
#include "allot/runtime/curve.h"
#include "allot/runtime/master_service.h"
#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;

// A master with its ZeroMQ context and clock (which must outlive it), as
// `allot master` serves it (runtime::MasterService: alone, or standing by in
// ZooKeeper until it leads). Its loop runs in run_once() without the GIL; a
// Python policy's decide() takes the GIL for its call.
class MasterHandle {
 public:
  struct Config {
    std::string host;
    int port = 0;
    int httpPort = 0;
    std::string workDir;
    double allocationInterval = 1, offerTimeout = 30, agentTimeout = 15, frameworkTimeout = 15;
    std::string masterId;
    std::string httpTlsCert, httpTlsKey;
    std::string operatorToken;
    std::string curveKey, curveClients;
    std::string acls;
    std::string zk;
    double zkSessionTimeout = 10;
    std::string advertiseHost;
  };

  MasterHandle(py::object policy, const std::map<std::string, std::string>& params,
               const Config& c) {
    runtime::MasterOptions options;
    options.endpoint = fmt::format("tcp://{}:{}", c.host, c.port);
    options.httpHost = c.host;
    options.httpPort = c.httpPort;
    options.workDir = c.workDir;
    options.masterId = c.masterId;
    options.allocationInterval = seconds("allocation_interval", c.allocationInterval, true);
    options.offerTimeout = seconds("offer_timeout", c.offerTimeout, true);
    options.agentTimeout = seconds("agent_timeout", c.agentTimeout, true);
    options.frameworkTimeout = seconds("framework_timeout", c.frameworkTimeout, true);
    options.httpTlsCert = c.httpTlsCert;
    options.httpTlsKey = c.httpTlsKey;
    options.operatorToken = c.operatorToken;
    if (!c.curveKey.empty()) {
      runtime::CurveServerOptions curve;
      curve.keys = runtime::readCurveKeyFile("curve_key", c.curveKey,
                                             [](const std::string& w) { spdlog::warn("{}", w); });
      curve.clientsFile = c.curveClients;
      options.curve = std::move(curve);
    }
    options.aclsFile = c.acls;
    options.zkSessionTimeout = seconds("zk_session_timeout", c.zkSessionTimeout, true);
    for (const auto& [k, v] : params) options.params.set(k, v);
    if (py::isinstance<py::str>(policy)) {
      options.policy = policy.cast<std::string>();
    } else {
      policy_ = policy;
      options.policy = py::str(py::getattr(policy, "name", py::type::of(policy).attr("__name__")));
      // Made when the master is, which with zk is once it leads, in
      // run_once() without the GIL; copies of the function must not touch
      // reference counts without it either.
      std::shared_ptr<py::object> held(new py::object(policy), [](py::object* o) {
        py::gil_scoped_acquire gil;
        delete o;
      });
      options.makePolicy = [held](const Params& p) {
        py::gil_scoped_acquire gil;
        return makePythonAllocator(*held, p);
      };
    }
    endpoint_ = options.endpoint;
    httpPort_ = options.httpPort;
    runtime::MasterHaOptions ha;
    ha.zk = c.zk;
    ha.advertiseHost = c.advertiseHost;
    // Without the GIL: with zk the election's first steps wait on ZooKeeper
    // (up to zk_session_timeout when it does not answer), and the policy's
    // factory takes the GIL itself.
    py::gil_scoped_release release;
    service_ = std::make_unique<runtime::MasterService>(context_, clock_, std::move(options),
                                                        std::move(ha));
  }

  // With the GIL: the master's policy may be a Python object.
  ~MasterHandle() { detach(); }

  // One turn of the master's loop (standing by: of the wait for the lead),
  // waiting at most `maxWait` seconds. Returns false once the master has
  // stopped: by stop(), or by itself (stop_reason); raises, once, what its
  // policy raised, or that it lost the lead in ZooKeeper.
  bool runOnce(double maxWait) {
    if (!running_) return false;
    if (stopRequested_) service_->stop();
    bool more = false;
    try {
      py::gil_scoped_release release;
      more = service_->runOnce(secondsToDuration(std::max(maxWait, 0.0)));
    } catch (...) {
      // A policy's exception leaves the master mid-round: it stops for good.
      running_ = false;
      detach();
      throw;
    }
    if (!more) {
      running_ = false;
      detach();
      if (!service_->zkShown().empty() && !service_->lostLead().empty()) {
        throw Error(fmt::format("master {}: lost leadership in ZooKeeper {} ({})", service_->id(),
                                service_->zkShown(), service_->lostLead()));
      }
    }
    return running_;
  }

  void stop() {
    stopRequested_ = true;
    service_->stop();
  }
  bool running() const { return running_; }
  bool leading() const { return service_->leading(); }
  std::string endpoint() const {
    return service_->leading() ? service_->master()->endpoint() : endpoint_;
  }
  int httpPort() const { return service_->leading() ? service_->master()->httpPort() : httpPort_; }
  std::string id() const { return service_->id(); }
  std::string stopReason() const {
    return service_->leading() ? service_->master()->stopReason() : std::string();
  }

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
  std::unique_ptr<runtime::MasterService> service_;
  std::string endpoint_;  // as configured, shown while standing by
  int httpPort_ = 0;
  py::object policy_;  // a Python policy, until the master stops
  bool running_ = true;
  std::atomic<bool> stopRequested_{false};
};

}  // namespace

void bindMaster(py::module_& m) {
  py::class_<MasterHandle>(m, "Master",
                           "A real allot master (runtime::Master) whose policy is a registered "
                           "name or a Python allot.Policy; use allot.Master.")
      .def(py::init([](py::object policy, const std::map<std::string, std::string>& params,
                       const py::dict& config) {
             MasterHandle::Config c;
             c.host = config["host"].cast<std::string>();
             c.port = config["port"].cast<int>();
             c.httpPort = config["http_port"].cast<int>();
             c.workDir = config["work_dir"].cast<std::string>();
             c.allocationInterval = config["allocation_interval"].cast<double>();
             c.offerTimeout = config["offer_timeout"].cast<double>();
             c.agentTimeout = config["agent_timeout"].cast<double>();
             c.frameworkTimeout = config["framework_timeout"].cast<double>();
             c.masterId = config["master_id"].cast<std::string>();
             c.httpTlsCert = config["http_tls_cert"].cast<std::string>();
             c.httpTlsKey = config["http_tls_key"].cast<std::string>();
             c.operatorToken = config["operator_token"].cast<std::string>();
             c.curveKey = config["curve_key"].cast<std::string>();
             c.curveClients = config["curve_clients"].cast<std::string>();
             c.acls = config["acls"].cast<std::string>();
             c.zk = config["zk"].cast<std::string>();
             c.zkSessionTimeout = config["zk_session_timeout"].cast<double>();
             c.advertiseHost = config["advertise_host"].cast<std::string>();
             return std::make_unique<MasterHandle>(std::move(policy), params, c);
           }),
           "policy"_a, "params"_a, "config"_a)
      .def("run_once", &MasterHandle::runOnce, "max_wait"_a,
           "One turn of the loop, without the GIL; False once the master has stopped.")
      .def("stop", &MasterHandle::stop, "Stops the master at the end of its current turn.")
      .def_property_readonly("running", &MasterHandle::running)
      .def_property_readonly("leading", &MasterHandle::leading)
      .def_property_readonly("endpoint", &MasterHandle::endpoint)
      .def_property_readonly("http_port", &MasterHandle::httpPort)
      .def_property_readonly("id", &MasterHandle::id)
      .def_property_readonly("stop_reason", &MasterHandle::stopReason);
}

}  // namespace allot::python
