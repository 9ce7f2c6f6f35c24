"""Loading workloads and listing policies."""

import numbers
import os
import warnings

import numpy as np
import pandas as pd

import _allot


class TraceWarning(UserWarning):
    """A workload was read, but not all of it: ``load_trace(..., skip_bad=True)``
    skipped malformed lines (or the ``.h5`` store was converted that way)."""


def load_trace(path, format="auto", skip_bad=False, machines_file=None, cluster=None,
               load_factor=None):
    """Loads a workload: an allot ``.h5`` store or a raw trace (swf, google2011, ...).

    ``format="auto"`` detects it from the file; ``skip_bad`` skips malformed
    lines instead of raising, and warns (``allot.TraceWarning``) how many it
    skipped, by reason (also in ``.meta``), as it warns of records the format
    marks as not replayable (SWF's run time -1), which are left out; ``machines_file`` is the machine
    table of google2011 / alibaba2018 when it is not beside the trace; ``cluster``
    (``"N*RESOURCES"``, e.g. ``"1300*cpus:64;mem:1"``) replaces the trace's
    machines with N identical ones, as ``allot sim --cluster`` does (traces
    without a machine table, such as alibaba2017, need it); ``load_factor``
    scales the load it offers, as ``allot sim --load-factor``: every job's
    time since the first submission is divided by it (``w.offered_load``
    shows the load; ``w.with_load_factor(x)`` scales a loaded one). Returns an
    opaque ``allot.Workload`` (``len()`` is its jobs; ``.machines``, ``.dims``,
    ``.jobs_table()``, ...) to pass to ``simulate`` and ``compare``.
    """
    if load_factor is not None and (isinstance(load_factor, bool) or
                                    not isinstance(load_factor, numbers.Real)):
        raise TypeError(f"load_factor must be a number, got {load_factor!r}")
    workload = _allot.load_workload(os.fspath(path), format, skip_bad, machines_file or "",
                                    cluster or "",
                                    None if load_factor is None else float(load_factor))
    # Never a silent drop: what was skipped or left out is counted in ``.meta`` too.
    for note in (_allot.skipped_lines_note(workload), _allot.left_out_note(workload)):
        if note:
            warnings.warn(f"{os.fspath(path)}: {note}", TraceWarning, stacklevel=2)
    return workload


def check_whole(name, value, top, low=0):
    """A clear error here, instead of pybind11's signature dump, for -1 or 2.5."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not low <= value <= top):
        raise _allot.InvalidArgument(f"{name} must be a whole number from {low} to {top}, "
                                     f"got {value!r}")


def synthetic(preset="hpc-like", seed=1, machines=0, max_jobs=0, max_tasks=0, horizon=None,
              load=None, jobs_per_hour=None):
    """A seeded synthetic workload ("hpc-like" or "google-like"); horizon in seconds.

    0 machines, jobs or tasks keep the preset's machines and set no job or
    task limit; horizon, load and jobs_per_hour, when given, must be above 0.
    """
    for name, value, top in [("seed", seed, 2**64 - 1), ("machines", machines, 2**32 - 1),
                             ("max_jobs", max_jobs, 2**64 - 1),
                             ("max_tasks", max_tasks, 2**64 - 1)]:
        check_whole(name, value, top)
    return _allot.synthetic_workload(preset, seed, machines, max_jobs, max_tasks, horizon, load,
                                     jobs_per_hour)


def write_swf(path, trace, result=None):
    """Writes a workload as a Standard Workload Format log, for other
    simulators and the Parallel Workloads Archive's tools; gzip when ``path``
    ends in ``.gz``. ``allot.load_trace`` reads it back.

    ``trace`` is a loaded workload or a path. With ``result`` (of
    ``simulate``, ``compare`` or ``read_results``, a run of this workload) the log is that run's schedule: each job's wait and run
    time as the run had them, its status 1 (finished), 0 (failed), 5
    (unschedulable) or -1 (unfinished when the run stopped), as ``allot sim
    --swf DIR`` writes it; without, the trace's own recorded schedule. Times
    are whole seconds. SWF describes a job as one rigid gang of one-processor
    tasks on identical nodes: SWF logs and ``synthetic("hpc-like")`` can be
    written; another workload raises ``allot.InvalidArgument`` naming the
    first job SWF cannot describe.
    """
    path = os.fspath(path)
    if not isinstance(trace, _allot.Workload):
        trace = load_trace(trace)
    if result is None:
        _allot.write_swf(path, trace, notes=[f"written by allot {_allot.__version__}"])
        return
    jobs = result.raw["jobs"]
    ids = trace.jobs_table()["trace_id"]
    if len(jobs["trace_id"]) != len(ids) or not np.array_equal(jobs["trace_id"], ids):
        raise _allot.InvalidArgument(
            f"the result's {len(jobs['trace_id'])} jobs are not the workload's {len(ids)}: "
            "pass the workload the run replayed")
    params = "".join(f", {k}={v}" for k, v in sorted(result.params.items())
                     if not k.startswith("sim."))
    seed = result.config.get("seed")
    note = (f"the schedule of a run of policy {result.policy}{params}"
            f"{'' if seed is None else f', seed {seed}'}, written by allot {_allot.__version__}")
    _allot.write_swf(path, trace, jobs["first_start_us"], jobs["end_us"],
                     np.asarray(jobs["state"], dtype=np.int64), notes=[note])


def policies():
    """The built-in policies: a DataFrame indexed by name with summary and params.

    ``params`` maps each parameter to its default; ``help`` to its description;
    ``demand`` is how many pending instances the policy wants frameworks to
    publish (0: none), the default of ``simulate(..., demand=None)``.
    """
    rows = []
    for p in _allot.builtin_policies():
        rows.append({
            "name": p["name"],
            "summary": p["summary"],
            "demand": p["demand"],
            "params": {q["name"]: q["default"] for q in p["params"]},
            "help": {q["name"]: q["help"] for q in p["params"]},
        })
    return pd.DataFrame(rows).set_index("name")
