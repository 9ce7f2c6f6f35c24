"""allot: replay cluster traces against allocation policies and compare them.

    import allot
    w = allot.load_trace("KTH-SP2-1996-2.1-cln.swf.gz")
    r = allot.simulate(w, policy="drf", stop_at=30 * 86400)
    r.jobs, r.tasks, r.timeseries, r.summary        # pandas
    table = allot.compare(w, ["drf", "fifo", "random"], stop_at=30 * 86400, history=True)
    allot.plot.jct_cdf(table)
    table = allot.read_results("r.h5")   # what `allot sim ... -o r.h5` wrote

Policies are the built-in ones by name (``allot.policies()``) or Python
objects deriving from ``allot.Policy``. The simulator itself is C++ (the
``_allot`` extension built by CMake into ``build/<preset>/python``); it runs
without the GIL. Frameworks written in Python derive from ``allot.Scheduler``
and run on ``allot.SchedulerDriver`` (the C++ scheduler driver).
"""

from _allot import (  # noqa: F401  (re-exported)
    ClusterStateView,
    Error,
    InvalidArgument,
    NotFound,
    ParseError,
    PolicyHost,
    Workload,
    __version__,
    set_log_level,
)

from .data import shared_traces_dir
from .master import Master
from .policy import Policy
from .scheduler import (HealthCheck, Offer, PendingTask, Scheduler, SchedulerDriver, Task,
                        TaskStatus)
from .sim import (CONFIG_DEFAULTS, SimResult, SimulationWarning, compare, differences, history,
                  read_results, simulate)
from .traces import TraceWarning, load_trace, policies, synthetic, write_swf

__all__ = [
    "CONFIG_DEFAULTS",
    "ClusterStateView",
    "Error",
    "HealthCheck",
    "InvalidArgument",
    "Master",
    "NotFound",
    "Offer",
    "ParseError",
    "PendingTask",
    "Policy",
    "PolicyHost",
    "Scheduler",
    "SchedulerDriver",
    "SimResult",
    "SimulationWarning",
    "Task",
    "TaskStatus",
    "TraceWarning",
    "Workload",
    "compare",
    "differences",
    "history",
    "load_trace",
    "plot",
    "policies",
    "read_results",
    "set_log_level",
    "shared_traces_dir",
    "simulate",
    "synthetic",
    "write_swf",
]


def __getattr__(name):
    # allot.plot imports matplotlib, which is slow: only when asked for.
    if name == "plot":
        import importlib

        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'allot' has no attribute {name!r}")
