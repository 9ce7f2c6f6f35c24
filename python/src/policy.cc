// Policies written in Python: an Allocator trampoline and the read-only view
// of ClusterState (plus grant) that the Python object's decide() uses.

#include <fmt/format.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "allot/core/error.h"
#include "bindings.h"

namespace allot::python {
namespace {

using namespace pybind11::literals;

class PythonAllocator;

// Shared by an allocator and every view Python holds of it: views that
// outlive the run (kept in a variable, say) then fail cleanly instead of
// reading a destroyed allocator.
struct Link {
  PythonAllocator* allocator = nullptr;
};

class PythonAllocator final : public Allocator {
 public:
  PythonAllocator(py::object policy, AllocatorOptions options)
      : Allocator(std::move(options)),
        policy_(std::move(policy)),
        decide_(policy_.attr("decide")),
        link_(std::make_shared<Link>()) {
    link_->allocator = this;
    // Cached: name() is called by the simulator without the GIL.
    name_ = py::str(py::getattr(policy_, "name", py::type::of(policy_).attr("__name__")));
  }
  ~PythonAllocator() override { link_->allocator = nullptr; }

  std::string_view name() const override { return name_; }
  const std::shared_ptr<Link>& link() const { return link_; }
  const py::object& policy() const { return policy_; }

  // Public forwarders of the protected grants, for the PolicyHost binding.
  bool grantFor(FrameworkIndex fw, AgentIndex agent, Resources resources, std::uint64_t task) {
    return grant(fw, agent, std::move(resources), task);
  }
  bool grantAllFor(FrameworkIndex fw, AgentIndex agent) { return grantAll(fw, agent); }

 private:
  // simulate() runs without the GIL; a Python exception raised here leaves
  // as py::error_already_set through the simulator (which holds no locks
  // and catches nothing) and is restored in Python by the simulate binding.
  void decide(TimePoint now) override {
    py::gil_scoped_acquire gil;
    decide_(toMicros(now));
  }

  py::object policy_;
  py::object decide_;
  std::shared_ptr<Link> link_;
  std::string name_;
};

// Base of the Python-visible views: resolves the link or raises.
class View {
 public:
  explicit View(std::shared_ptr<Link> link) : link_(std::move(link)) {}

  PythonAllocator& allocator() const {
    if (link_->allocator == nullptr) {
      throw std::runtime_error(
          "this policy host belongs to a finished simulation: use state and grant only "
          "inside decide()");
    }
    return *link_->allocator;
  }
  const ClusterState& state() const { return allocator().state(); }
  int dims() const { return state().dimensions()->size(); }

  AgentIndex agentIndex(std::int64_t index) const {
    if (index < 0 || static_cast<std::uint64_t>(index) >= state().agentSlots()) {
      throw py::index_error("agent slot " + std::to_string(index) + " out of range [0, " +
                            std::to_string(state().agentSlots()) + ")");
    }
    return static_cast<AgentIndex>(index);
  }
  FrameworkIndex frameworkIndex(std::int64_t index) const {
    if (index < 0 || static_cast<std::uint64_t>(index) >= state().frameworkSlots()) {
      throw py::index_error("framework slot " + std::to_string(index) + " out of range [0, " +
                            std::to_string(state().frameworkSlots()) + ")");
    }
    return static_cast<FrameworkIndex>(index);
  }
  RoleIndex roleIndex(std::int64_t index) const {
    if (index < 0 || static_cast<std::uint64_t>(index) >= state().roleCount()) {
      throw py::index_error("role " + std::to_string(index) + " out of range [0, " +
                            std::to_string(state().roleCount()) + ")");
    }
    return static_cast<RoleIndex>(index);
  }

  // Resources from Mesos text ("cpus:1;mem:512"), a {name: amount} dict of
  // unreserved scalars, or a vector of scalars over the state's dimensions.
  // Every way of naming resources is checked alike: names the cluster has,
  // amounts that are finite numbers >= 0 (a typo or a NaN is the policy's
  // bug, said here, not a grant refused or an availability error later).
  Resources resources(py::handle value) const {
    const DimensionsPtr& dims = state().dimensions();
    if (std::optional<Resources> r = resourcesFromPython(value, dims)) {
      if (r->dimensions()->size() > dims->size()) {
        throw InvalidArgument(unknownName(r->dimensions()->name(dims->size())));
      }
      return *std::move(r);
    }
    return Resources::fromScalars(scalars(value), dims);
  }

  Scalars scalars(py::handle value) const {
    if (py::isinstance<py::str>(value) || py::isinstance<py::dict>(value)) {
      return resources(value).totalScalars();
    }
    auto array = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(value);
    if (!array || array.ndim() != 1 || array.shape(0) > kMaxScalarDims) {
      throw py::type_error(
          "resources must be text ('cpus:1;mem:512'), a dict of scalars or a 1-D vector of at "
          "most " +
          std::to_string(kMaxScalarDims) + " scalars over state.dims");
    }
    const Dimensions& names = *state().dimensions();
    Scalars v = Scalars::Zero();
    for (py::ssize_t d = 0; d < array.shape(0); ++d) {
      const double amount = array.data()[d];
      if (d >= names.size()) {
        if (amount == 0) continue;
        throw InvalidArgument(
            fmt::format("resources[{}] is {:f}, beyond the cluster's {} scalars ({})", d, amount,
                        names.size(), fmt::join(names.names(), ", ")));
      }
      if (!(std::isfinite(amount) && amount >= 0)) {
        throw InvalidArgument("resources[" + std::to_string(d) + "] ('" +
                              names.name(static_cast<int>(d)) + "') is " + std::to_string(amount) +
                              ": each amount must be a finite, non-negative number");
      }
      v[static_cast<Eigen::Index>(d)] = amount;
    }
    return v;
  }

  std::shared_ptr<Link> link() const { return link_; }

 private:
  std::string unknownName(const std::string& name) const {
    return fmt::format("unknown resource '{}' (the cluster's scalars: {})", name,
                       fmt::join(state().dimensions()->names(), ", "));
  }

  std::shared_ptr<Link> link_;
};

// Snapshots returned by ClusterStateView.agent/framework/role.
struct AgentView {
  AgentIndex index = 0;
  bool alive = false, active = false;
  std::uint64_t version = 0;
  std::string id, hostname;
  py::array_t<double> available, availableUnreserved, total;
};

// One PendingTask, as published by its framework.
struct PendingTaskView {
  std::string shape;
  std::uint32_t count = 1;
  bool gang = false;
  bool spread = false;
  double submitted = 0;  // seconds
  double estimate = 0;   // seconds; 0: unknown
  std::uint64_t key = 0;
  bool asksNothing = false;
};

struct FrameworkView {
  FrameworkIndex index = 0;
  bool alive = false, active = false, suppressed = false;
  RoleIndex role = 0;
  std::string roleName, id, name;
  std::uint64_t registration = 0;
  double weight = 1.0;
  py::array_t<double> allocated;
  std::vector<PendingTaskView> demand;
};

struct RoleView {
  RoleIndex index = 0;
  std::string name;
  double weight = 1.0;
  py::array_t<double> allocated, guarantee, limit;
  std::vector<FrameworkIndex> frameworks;
};

class ClusterStateView : public View {
 public:
  using View::View;

  AgentView agent(std::int64_t index) const {
    const AgentIndex i = agentIndex(index);
    const ClusterState& s = state();
    const AgentState& a = s.agent(i);
    return {i,
            a.alive,
            a.active,
            a.version,
            a.info.id.str(),
            a.info.hostname,
            toArray(s.availableTotal(i), dims()),
            toArray(s.availableUnreserved(i), dims()),
            toArray(a.info.resources.totalScalars(), dims())};
  }

  // Every agent slot at once: columns of a table, for vectorized policies.
  py::dict agents() const {
    const ClusterState& s = state();
    const auto n = static_cast<py::ssize_t>(s.agentSlots());
    const int d = dims();
    py::array_t<bool> alive(n), active(n);
    py::array_t<std::uint64_t> version(n);
    py::array_t<double> available({n, py::ssize_t{d}}), unreserved({n, py::ssize_t{d}}),
        total({n, py::ssize_t{d}});
    for (py::ssize_t i = 0; i < n; ++i) {
      const auto slot = static_cast<AgentIndex>(i);
      const AgentState& a = s.agent(slot);
      alive.mutable_at(i) = a.alive;
      active.mutable_at(i) = a.active;
      version.mutable_at(i) = a.version;
      const Scalars t = a.info.resources.totalScalars();
      for (int k = 0; k < d; ++k) {
        available.mutable_at(i, k) = s.availableTotal(slot)[k];
        unreserved.mutable_at(i, k) = s.availableUnreserved(slot)[k];
        total.mutable_at(i, k) = t[k];
      }
    }
    return py::dict("alive"_a = alive, "active"_a = active, "version"_a = version,
                    "available"_a = available, "available_unreserved"_a = unreserved,
                    "total"_a = total);
  }

  FrameworkView framework(std::int64_t index) const {
    const FrameworkIndex i = frameworkIndex(index);
    const ClusterState& s = state();
    const FrameworkState& f = s.framework(i);
    std::vector<PendingTaskView> demand;
    for (const PendingTask& t : f.demand) {
      demand.push_back({toString(t.shape), t.count, t.gang, t.spread,
                        static_cast<double>(toMicros(t.submitted)) / 1e6, toSeconds(t.estimate),
                        t.key, t.asksNothing});
    }
    return {i,
            f.alive,
            f.active,
            f.suppressed,
            f.role,
            f.alive ? s.role(f.role).name : std::string(),
            f.info.id.str(),
            f.info.name,
            f.registration,
            f.info.weight,
            toArray(f.allocated, dims()),
            std::move(demand)};
  }

  py::dict frameworks() const {
    const ClusterState& s = state();
    const auto n = static_cast<py::ssize_t>(s.frameworkSlots());
    const int d = dims();
    py::array_t<bool> alive(n), active(n), suppressed(n), hasDemand(n);
    py::array_t<std::uint32_t> role(n);
    py::array_t<std::uint64_t> registration(n);
    py::array_t<double> weight(n), allocated({n, py::ssize_t{d}});
    for (py::ssize_t i = 0; i < n; ++i) {
      const FrameworkState& f = s.framework(static_cast<FrameworkIndex>(i));
      alive.mutable_at(i) = f.alive;
      active.mutable_at(i) = f.active;
      suppressed.mutable_at(i) = f.suppressed;
      hasDemand.mutable_at(i) = !f.demand.empty();
      role.mutable_at(i) = f.role;
      registration.mutable_at(i) = f.registration;
      weight.mutable_at(i) = f.info.weight;
      for (int k = 0; k < d; ++k) allocated.mutable_at(i, k) = f.allocated[k];
    }
    return py::dict("alive"_a = alive, "active"_a = active, "suppressed"_a = suppressed,
                    "has_demand"_a = hasDemand, "role"_a = role, "registration"_a = registration,
                    "weight"_a = weight, "allocated"_a = allocated);
  }

  RoleView role(std::int64_t index) const {
    const RoleIndex i = roleIndex(index);
    const RoleState& r = state().role(i);
    return {i,
            r.name,
            r.weight,
            toArray(r.allocated, dims()),
            toArray(r.guarantee, dims()),
            toArray(r.limit, dims()),
            r.frameworks};
  }
};

class PolicyHost : public View {
 public:
  using View::View;

  bool grant(std::int64_t fw, std::int64_t agent, py::handle resources, py::object task) {
    const FrameworkIndex f = frameworkIndex(fw);
    const AgentIndex a = agentIndex(agent);
    const std::uint64_t key = task.is_none() ? kNoTask : pendingKey(f, task);
    return allocator().grantFor(f, a, this->resources(resources), key);
  }
  bool grantAll(std::int64_t fw, std::int64_t agent) {
    const FrameworkIndex f = frameworkIndex(fw);
    const AgentIndex a = agentIndex(agent);
    return allocator().grantAllFor(f, a);
  }

 private:
  // `task` as the key of one of framework `fw`'s published pending tasks: a
  // grant for a key the framework does not know would be declined unused.
  std::uint64_t pendingKey(FrameworkIndex fw, py::handle task) const {
    if (PyBool_Check(task.ptr()) || PyIndex_Check(task.ptr()) == 0) {
      throw py::type_error(
          "task must be a pending task's key (an int, framework(i).demand[j].key), "
          "got " +
          std::string(py::repr(task)));
    }
    const auto number = py::reinterpret_steal<py::object>(PyNumber_Index(task.ptr()));
    if (!number) throw py::error_already_set();
    // Negative or past 64 bits: no key is, and the search below finds none.
    const unsigned long long key = PyLong_AsUnsignedLongLong(number.ptr());
    const bool fits = !(key == static_cast<unsigned long long>(-1) && PyErr_Occurred() != nullptr);
    if (!fits) PyErr_Clear();
    const std::vector<PendingTask>& demand = state().framework(fw).demand;
    const auto known = std::find_if(demand.begin(), demand.end(),
                                    [&](const PendingTask& t) { return fits && t.key == key; });
    if (known == demand.end()) {
      throw InvalidArgument("task " + std::string(py::repr(number)) +
                            " is not the key of a pending task of framework " + std::to_string(fw) +
                            " (" + std::to_string(demand.size()) + " published; see framework(" +
                            std::to_string(fw) + ").demand)");
    }
    return known->key;
  }
};

}  // namespace

py::array_t<double> toArray(const Scalars& scalars, int n) {
  py::array_t<double> out(n);
  std::copy_n(scalars.data(), n, out.mutable_data());
  return out;
}

std::unique_ptr<Allocator> makePythonAllocator(py::object policy, const Params& params) {
  if (!py::hasattr(policy, "decide")) {
    throw py::type_error("a policy must be a registered name or an object with decide(now_us)");
  }
  auto allocator = std::make_unique<PythonAllocator>(policy, parseAllocatorOptions(params));
  py::setattr(policy, "_allot_host", py::cast(PolicyHost(allocator->link())));
  return allocator;
}

void bindPolicyHost(py::module_& m) {
  py::class_<AgentView>(m, "AgentView", "One agent slot of the cluster, as decide() sees it.")
      .def_readonly("index", &AgentView::index)
      .def_readonly("alive", &AgentView::alive)
      .def_readonly("active", &AgentView::active, "Deactivated agents receive no offers.")
      .def_readonly("version", &AgentView::version,
                    "Changes whenever anything a policy could see of the agent changes.")
      .def_readonly("id", &AgentView::id)
      .def_readonly("hostname", &AgentView::hostname)
      .def_readonly("available", &AgentView::available, "Available scalars, all pools.")
      .def_readonly("available_unreserved", &AgentView::availableUnreserved)
      .def_readonly("total", &AgentView::total)
      .def("__repr__", [](const AgentView& a) {
        return "<AgentView " + std::to_string(a.index) + " " + a.id + (a.alive ? "" : " dead") +
               (a.active ? "" : " inactive") + ">";
      });

  py::class_<PendingTaskView>(m, "PendingTask", "One unit of a framework's published pending work.")
      .def_readonly("shape", &PendingTaskView::shape,
                    "Each instance's resources, as Mesos text; the token (a millionth of an "
                    "average agent's first resource) for a task that asks for nothing.")
      .def_readonly("count", &PendingTaskView::count, "Identical instances.")
      .def_readonly("gang", &PendingTaskView::gang,
                    "True: all instances of this key start together or none.")
      .def_readonly("spread", &PendingTaskView::spread,
                    "True: at most one instance of this key per agent, running ones included.")
      .def_readonly("submitted", &PendingTaskView::submitted, "When it began to wait (s).")
      .def_readonly("estimate", &PendingTaskView::estimate,
                    "Expected run time of each instance (s); 0: unknown.")
      .def_readonly("key", &PendingTaskView::key, "Pass as grant(..., task=key).")
      .def_readonly("asks_nothing", &PendingTaskView::asksNothing,
                    "True: published with no resources; `shape` is the token, which a grant "
                    "for it holds (an empty grant is no offer).")
      .def("__repr__", [](const PendingTaskView& t) {
        return "<PendingTask " + std::to_string(t.key) + " " + std::to_string(t.count) + " x " +
               t.shape + ">";
      });

  py::class_<FrameworkView>(m, "FrameworkView", "One framework slot, as decide() sees it.")
      .def_readonly("index", &FrameworkView::index)
      .def_readonly("alive", &FrameworkView::alive)
      .def_readonly("active", &FrameworkView::active)
      .def_readonly("suppressed", &FrameworkView::suppressed)
      .def_readonly("role", &FrameworkView::role, "Role index (see ClusterStateView.role).")
      .def_readonly("role_name", &FrameworkView::roleName)
      .def_readonly("id", &FrameworkView::id)
      .def_readonly("name", &FrameworkView::name)
      .def_readonly("registration", &FrameworkView::registration,
                    "Increases with every registration: sort by it for arrival order.")
      .def_readonly("weight", &FrameworkView::weight)
      .def_readonly("allocated", &FrameworkView::allocated)
      .def_readonly("demand", &FrameworkView::demand,
                    "Published pending work (PendingTask), in the framework's queue order.")
      .def("__repr__", [](const FrameworkView& f) {
        return "<FrameworkView " + std::to_string(f.index) + " " + f.name + ">";
      });

  py::class_<RoleView>(m, "RoleView")
      .def_readonly("index", &RoleView::index)
      .def_readonly("name", &RoleView::name)
      .def_readonly("weight", &RoleView::weight)
      .def_readonly("allocated", &RoleView::allocated)
      .def_readonly("guarantee", &RoleView::guarantee)
      .def_readonly("limit", &RoleView::limit)
      .def_readonly("frameworks", &RoleView::frameworks,
                    "Alive frameworks of the role, in registration order.");

  py::class_<ClusterStateView>(m, "ClusterStateView",
                               "Read-only view of the allocator's books (ClusterState). Slots "
                               "of removed agents and frameworks are reused: skip dead ones.")
      .def_property_readonly(
          "dims", [](const ClusterStateView& v) { return v.state().dimensions()->names(); })
      .def_property_readonly("agent_slots",
                             [](const ClusterStateView& v) { return v.state().agentSlots(); })
      .def_property_readonly("agent_count",
                             [](const ClusterStateView& v) { return v.state().agentCount(); })
      .def_property_readonly("framework_slots",
                             [](const ClusterStateView& v) { return v.state().frameworkSlots(); })
      .def_property_readonly("framework_count",
                             [](const ClusterStateView& v) { return v.state().frameworkCount(); })
      .def_property_readonly("role_count",
                             [](const ClusterStateView& v) { return v.state().roleCount(); })
      .def_property_readonly("config_version",
                             [](const ClusterStateView& v) { return v.state().configVersion(); })
      .def("agent", &ClusterStateView::agent, "slot"_a)
      .def("agents", &ClusterStateView::agents,
           "Every agent slot as numpy columns: alive, active, version, available, "
           "available_unreserved, total (slots x dims).")
      .def("framework", &ClusterStateView::framework, "slot"_a)
      .def("frameworks", &ClusterStateView::frameworks,
           "Every framework slot as numpy columns: alive, active, suppressed, has_demand, role, "
           "registration, weight, allocated (slots x dims).")
      .def("role", &ClusterStateView::role, "index"_a)
      .def(
          "find_role",
          [](const ClusterStateView& v, const std::string& name) {
            return v.state().findRole(name);
          },
          "name"_a)
      .def("total",
           [](const ClusterStateView& v) { return toArray(v.state().totalScalars(), v.dims()); })
      .def(
          "available_total",
          [](const ClusterStateView& v, std::int64_t agent) {
            return toArray(v.state().availableTotal(v.agentIndex(agent)), v.dims());
          },
          "agent"_a, "Scalars available on the agent, all pools.")
      .def(
          "available_unreserved",
          [](const ClusterStateView& v, std::int64_t agent) {
            return toArray(v.state().availableUnreserved(v.agentIndex(agent)), v.dims());
          },
          "agent"_a)
      .def(
          "offerable",
          [](const ClusterStateView& v, std::int64_t fw, std::int64_t agent) {
            const FrameworkIndex f = v.frameworkIndex(fw);
            return toArray(v.state().offerable(f, v.agentIndex(agent)).totalScalars(), v.dims());
          },
          "fw"_a, "agent"_a,
          "Scalars the framework may be offered on the agent: unreserved plus its role's "
          "reservation.")
      .def(
          "allocated_on",
          [](const ClusterStateView& v, std::int64_t fw, std::int64_t agent) {
            const FrameworkIndex f = v.frameworkIndex(fw);
            return toArray(v.state().allocatedOn(f, v.agentIndex(agent)).totalScalars(), v.dims());
          },
          "fw"_a, "agent"_a)
      .def(
          "is_filtered",
          [](const ClusterStateView& v, std::int64_t fw, std::int64_t agent, py::handle resources) {
            const FrameworkIndex f = v.frameworkIndex(fw);
            return v.state().isFiltered(f, v.agentIndex(agent), v.resources(resources));
          },
          "fw"_a, "agent"_a, "resources"_a,
          "True iff a decline filter of the framework on the agent covers the resources.")
      .def(
          "allocatable",
          [](const ClusterStateView& v, py::handle resources) {
            return v.allocator().allocatable(v.scalars(resources));
          },
          "resources"_a, "True iff the resources are worth offering (min_allocatable).");

  py::class_<PolicyHost>(m, "PolicyHost",
                         "What a Python policy's decide() acts through: the state and grants.")
      .def_property_readonly("state",
                             [](const PolicyHost& h) {
                               h.allocator();  // raise now if the run is over
                               return ClusterStateView(h.link());
                             })
      .def("grant", &PolicyHost::grant, "fw"_a, "agent"_a, "resources"_a, "task"_a = py::none(),
           "Lends resources (text, dict or scalar vector) of the agent to the framework in "
           "this round; `task` is the key of the pending task they are sized for, if any. "
           "False when the framework may not get them (inactive, suppressed, filtered, "
           "reserved for another role); raises when they are not available, name a resource "
           "the cluster lacks or an amount that is not a finite number >= 0, or when `task` is "
           "not the key of one of the framework's pending tasks.")
      .def("grant_all", &PolicyHost::grantAll, "fw"_a, "agent"_a,
           "Lends everything on the agent the framework may be offered. False as grant().")
      .def(
          "allocatable",
          [](const PolicyHost& h, py::handle resources) {
            return h.allocator().allocatable(h.scalars(resources));
          },
          "resources"_a);
}

}  // namespace allot::python
