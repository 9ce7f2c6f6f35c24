// Shared declarations of the _allot extension's translation units.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>

#include "allot/core/resources.h"
#include "allot/policies/allocator.h"
#include "allot/policies/registry.h"
#include "allot/sim/result.h"

namespace allot::python {

namespace py = pybind11;

// The first `n` components of a scalar vector, as a new numpy array.
py::array_t<double> toArray(const Scalars& scalars, int n);

// An Allocator whose decide() calls `policy.decide(now_us)` in Python. The
// policy reads the cluster and grants through `policy._allot_host`, set for
// the lifetime of the returned allocator. Options come from `params`
// (min_allocatable). REQUIRES: the GIL is held.
std::unique_ptr<Allocator> makePythonAllocator(py::object policy, const Params& params);

// Registers the classes Python policies see (PolicyHost, ClusterStateView).
void bindPolicyHost(py::module_& m);

// Seconds from Python as a Duration; negative, NaN, infinite or sub-microsecond
// values (and 0 where `positive`) raise InvalidArgument naming `name`.
Duration seconds(const char* name, double value, bool positive = false);

// Resources from Mesos text ("cpus:1;mem:512", Resources::parse) or a
// {name: amount} dict of unreserved scalars, over `dims`; names `dims` lacks
// extend the table (the caller decides whether they may). Nullopt for any
// other type. Raises ParseError for bad text, InvalidArgument for an amount
// that is not finite and >= 0, TypeError for a name or amount of the wrong type.
std::optional<Resources> resourcesFromPython(py::handle value, const DimensionsPtr& dims);

// Registers Master, the runtime master driven from Python (see master.cc).
void bindMaster(py::module_& m);

// Registers SchedulerDriver, the runtime scheduler driver driven from Python
// (see scheduler.cc).
void bindScheduler(py::module_& m);

// The whole Result as plain Python values and numpy columns (see result.cc).
py::dict resultToPython(const sim::Result& result);

}  // namespace allot::python
