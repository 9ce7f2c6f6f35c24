"""Running simulations and turning results into pandas."""

import json
import os
import threading
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import _allot

from .policy import Policy
from .traces import check_whole, load_trace

# sim::Config fields by their Python names, with defaults. Times in seconds.
CONFIG_DEFAULTS = {
    "allocation_interval": 1.0,   # allocation rounds on multiples of this
    "frameworks": "user",         # simulated frameworks: user | role | job | single
    "queue": "first-fit",         # how frameworks walk pending work: fcfs | first-fit
    "hold_offers": False,         # keep offers instead of declining (gang schedulers)
    "decision_latency": 0.0,      # frameworks' time to answer offers
    "offer_timeout": 0.0,         # rescind offers held longer (0: never)
    "refuse_seconds": None,       # decline filter (None: until the agent frees resources)
    "sample_interval": 0.0,       # time series interval (0: about 5,000 samples)
    "max_attempts": 0,            # lost attempts of a task before its job fails (0: retry)
    "mtbf": None,                 # injected failures: mean up time of each machine (None: none)
    "mttr": None,                 # mean repair time of an injected failure (None: 3600)
    "launches_per_offer": 0,      # instances launched in one offer at most (0: all that fit)
    "demand": None,               # publish the first N pending instances (None: the policy's need)
    "exact_estimates": False,     # publish actual run times as estimates (perfect estimates)
    "stop_at": None,              # simulated time to stop at, from the trace's time 0 (None: the end)
    "roles": None,                # {"role": {"weight": 2, "guarantee": "cpus:8", "limit": "cpus:16"}}
}

JOB_STATES = ["finished", "unschedulable", "failed", "unfinished", "not_submitted"]  # sim::JobState
TASK_STATES = ["finished", "lost", "unfinished", "preempted"]       # sim::TaskState


# Whole-number settings and the largest value each takes: the C++ field's,
# and for seed what policies take (a signed 64-bit parameter), as `allot sim`.
_WHOLE_NUMBERS = {"seed": 2**63 - 1, "max_attempts": 2**32 - 1, "launches_per_offer": 2**32 - 1,
                  "demand": 2**32 - 1}


def _check_seconds(name, value):
    """Seconds as numbers (None passes): a clear error here, instead of
    pybind11's signature dump, for "10"."""
    if value is not None and (isinstance(value, (bool, np.bool_))
                              or not isinstance(value, (int, float, np.integer, np.floating))):
        raise _allot.InvalidArgument(f"{name} must be a number of seconds, got {value!r}")


def _config(config, seed=0):
    unknown = sorted(set(config) - set(CONFIG_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown simulation config key {unknown[0]!r} "
                        f"(known: {', '.join(CONFIG_DEFAULTS)})")
    check_whole("seed", seed, _WHOLE_NUMBERS["seed"])
    for name in ("max_attempts", "launches_per_offer", "demand"):
        if config.get(name) is not None:
            check_whole(name, config[name], _WHOLE_NUMBERS[name])
    for name in ("allocation_interval", "decision_latency", "offer_timeout", "refuse_seconds",
                 "sample_interval", "stop_at", "mtbf", "mttr"):
        _check_seconds(name, config.get(name))
    for name in ("hold_offers", "exact_estimates"):
        # A clear error here, instead of pybind11's signature dump, for "yes".
        if name in config and not isinstance(config[name], (bool, np.bool_)):
            raise _allot.InvalidArgument(f"{name} must be True or False, got {config[name]!r}")
    cfg = {**CONFIG_DEFAULTS, **config}
    cfg["roles"] = _roles(cfg["roles"])
    return cfg


def _roles(roles):
    """Role weights and quotas, as ``{role: {"weight": float, "guarantee": text
    or None, "limit": text or None}}`` (what ``allot sim`` records), or None."""
    if roles is None or (isinstance(roles, Mapping) and not roles):
        return None
    if not isinstance(roles, Mapping):
        raise TypeError(f"roles must be a dict of role names to settings, such as "
                        f"{{'prod': {{'weight': 2, 'limit': 'cpus:64'}}}}, not {roles!r}")
    out = {}
    for role, setting in roles.items():
        if not isinstance(role, str) or not isinstance(setting, Mapping):
            raise TypeError(f"roles[{role!r}] must map a role name to a dict of settings "
                            f"(weight, guarantee, limit), not {setting!r}")
        unknown = sorted(set(setting) - {"weight", "guarantee", "limit"})
        if unknown:
            raise TypeError(f"roles[{role!r}]: unknown setting {unknown[0]!r} "
                            f"(known: weight, guarantee, limit)")
        weight = setting.get("weight", 1.0)
        if isinstance(weight, (bool, np.bool_)) or not isinstance(
                weight, (int, float, np.integer, np.floating)):
            raise _allot.InvalidArgument(f"roles[{role!r}]['weight'] must be a number, "
                                         f"got {weight!r}")
        parts = {}
        for part in ("guarantee", "limit"):
            value = setting.get(part)
            if value is not None and not isinstance(value, str):
                raise _allot.InvalidArgument(f"roles[{role!r}][{part!r}] must be resources as "
                                             f"text, such as 'cpus:8;mem:16384', got {value!r}")
            parts[part] = value or None
        out[role] = {"weight": float(weight), **parts}
    return out


def _role_tuples(roles):
    return [(role, s["weight"], s["guarantee"] or "", s["limit"] or "")
            for role, s in (roles or {}).items()]


def _seconds(us):
    """Microseconds (-1 for never) to float seconds (NaN for never)."""
    us = np.asarray(us)
    return np.where(us < 0, np.nan, us / 1e6)


def _param_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_params(params):
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of parameter names to values, such as "
                        f"{{'seed': 1}}, not {params!r}")


def _split_policy(policy, params):
    """``"sparrow:probe_ratio=4"`` -> ``("sparrow", params with probe_ratio=4)``,
    as ``allot sim -p`` reads it: the policy's own parameters win over ``params``."""
    if not isinstance(policy, str) or ":" not in policy:
        return policy, params
    name, own = policy.split(":", 1)
    _check_params(params)
    try:
        return name, {**(params or {}), **_allot.parse_params(own)}
    except _allot.Error as e:
        raise type(e)(f"policy {policy!r}: {e}") from None


def _policy_params(policy, params, seed):
    """Policy parameters as text; the run's seed becomes `seed` where the policy has one."""
    _check_params(params)
    params = {k: _param_text(v) for k, v in (params or {}).items()}
    if isinstance(policy, str):
        for info in _allot.builtin_policies():
            if info["name"] == policy:
                if any(p["name"] == "seed" for p in info["params"]) and "seed" not in params:
                    params["seed"] = str(seed)
                break
        # An unknown policy is reported by the simulator, naming the known ones.
    else:
        extra = sorted(set(params) - {"min_allocatable"})
        if extra:
            raise _allot.InvalidArgument(
                f"Python policies take only the min_allocatable parameter, got {extra[0]!r}")
    return params


@dataclass
class SimResult:
    """The outcome of one run. Times are simulated seconds from trace time 0, NaN for never.

    - ``jobs``: one row per workload job (in workload order): job, trace_id,
      user, role, framework (indexes), submit, ready, first_start, end, work,
      instances, lost_instances, state (finished, unschedulable, failed,
      unfinished, or not_submitted before a ``stop_at``), and wait
      (first_start - submit) and jct (end - submit).
    - ``tasks``: one row per launch of ``count`` identical instances: job,
      task (workload task record), count, machine (-1 where a ``history``
      names none), attempt, ready, start, end, state.
    - ``timeseries``: time, then used_/allocated_/total_<dim>, pending,
      running, offers, jain and share_<role> (dominant share of what the
      role's tasks use).
    - ``summary``: the simulator's metrics (jct_s_mean, utilization_cpus, ...).
    """

    policy: str
    params: dict
    config: dict
    jobs: pd.DataFrame
    tasks: pd.DataFrame
    timeseries: pd.DataFrame
    summary: pd.Series
    frameworks: pd.DataFrame
    roles: list
    dims: list
    counters: dict
    integrals: pd.DataFrame
    end: float
    raw: dict = field(repr=False)

    def __repr__(self):
        s = self.summary
        return (f"<SimResult {self.policy}: {len(self.jobs)} jobs, "
                f"{int(s.get('jobs_finished', 0))} finished, "
                f"JCT mean {s.get('jct_s_mean', float('nan')):.1f} s>")


# sim::kNoMachine: a recorded launch on no machine of the workload's table.
_NO_MACHINE = 2**32 - 1


def _to_result(raw, config):
    j = raw["jobs"]
    jobs = pd.DataFrame({
        "job": j["job"],
        "trace_id": j["trace_id"],
        "user": j["user"],
        "role": j["role"],
        "framework": j["framework"],
        "submit": _seconds(j["submit_us"]),
        "ready": _seconds(j["ready_us"]),
        "first_start": _seconds(j["first_start_us"]),
        "end": _seconds(j["end_us"]),
        "work": j["work_us"] / 1e6,
        "instances": j["instances"],
        "lost_instances": j["lost_instances"],
        "state": pd.Categorical.from_codes(j["state"].astype(np.int8), JOB_STATES),
    })
    jobs["wait"] = jobs["first_start"] - jobs["submit"]
    jobs["jct"] = jobs["end"] - jobs["submit"]

    t = raw["tasks"]
    machine = t["machine"].astype(np.int64)
    machine[machine == _NO_MACHINE] = -1
    tasks = pd.DataFrame({
        "job": t["job"],
        "task": t["task"],
        "count": t["count"],
        "machine": machine,
        "attempt": t["attempt"],
        "ready": _seconds(t["ready_us"]),
        "start": _seconds(t["start_us"]),
        "end": _seconds(t["end_us"]),
        "state": pd.Categorical.from_codes(t["state"].astype(np.int8), TASK_STATES),
    })

    s = raw["timeseries"]
    series = {"time": s["time_us"] / 1e6}
    for kind in ("used", "allocated", "total"):
        for d, dim in enumerate(raw["dims"]):
            series[f"{kind}_{dim}"] = s[kind][:, d]
    series["pending"] = s["pending"]
    series["running"] = s["running"]
    series["offers"] = s["offers"]
    series["jain"] = s["jain"]
    for r, role in enumerate(raw["roles"]):
        series[f"share_{role}"] = s["role_share"][:, r]
    timeseries = pd.DataFrame(series)

    frameworks = pd.DataFrame({"name": raw["frameworks"]["name"],
                               "role": raw["frameworks"]["role"]})
    integrals = pd.DataFrame({"used": raw["used_integral"], "capacity": raw["capacity_integral"]},
                             index=pd.Index(raw["dims"][:len(raw["used_integral"])], name="dim"))
    return SimResult(
        policy=raw["policy"],
        params=dict(raw["params"]),
        config=config,
        jobs=jobs,
        tasks=tasks,
        timeseries=timeseries,
        summary=pd.Series(raw["summary"], dtype=float, name=raw["policy"]),
        frameworks=frameworks,
        roles=list(raw["roles"]),
        dims=list(raw["dims"]),
        counters=dict(raw["counters"]),
        integrals=integrals,
        end=_seconds(raw["end_us"]).item(),
        raw=raw,
    )


class SimulationWarning(UserWarning):
    """A run ended with jobs unfinished before its ``stop_at``: it stalled, or
    nothing was left to happen; or its ``stop_at`` comes no later than the
    first submission, so nothing runs; or an option set cannot change the run
    (``offer_timeout`` without ``hold_offers=True``, ``refuse_seconds`` with
    it, ``exact_estimates=True`` without published demand, ``max_attempts``
    where no machine is removed or fails) or may keep it from ending (an
    ``mtbf`` that the longest task rarely outlives, without ``max_attempts``
    or ``stop_at``); or, while it runs, it spends its time on
    offers that frameworks without published demand decline (``allot sim``
    prints the same on stderr)."""


def _warn_if_cut_short(result):
    message = _allot.cut_short_warning(result.summary.to_dict(),
                                       bool(result.config.get("hold_offers", False)))
    if message:
        warnings.warn(f"{result.policy}: {message}", SimulationWarning, stacklevel=3)


def _workload(trace):
    if isinstance(trace, _allot.Workload):
        return trace
    if isinstance(trace, (str, os.PathLike)):
        return load_trace(trace)
    raise TypeError(f"trace must be a path or an allot.Workload, not {type(trace).__name__}")


def simulate(trace, policy="drf", seed=0, params=None, *, _cancel=None, **config):
    """Replays ``trace`` (a path or a loaded ``allot.Workload``) against ``policy``.

    ``policy`` is a built-in name (see ``allot.policies()``), one with
    parameters of its own as ``allot sim -p`` takes it
    (``"sparrow:probe_ratio=4"``; they win over ``params``), or an
    ``allot.Policy`` instance. ``params`` are the policy's parameters
    (``{"min_allocatable": "cpus:1"}``); ``seed`` becomes the policy's ``seed``
    parameter when it has one, as in ``allot sim --seed``. ``config`` keys are
    those of ``allot.CONFIG_DEFAULTS`` (times in seconds); an unknown key
    raises TypeError. The simulation runs in C++ without the GIL, so other
    Python threads run meanwhile; Ctrl-C stops it (KeyboardInterrupt). Same
    inputs and seed, same result. A run that ends with jobs unfinished before
    ``stop_at`` (stalled, or with nothing left to happen) warns with
    ``allot.SimulationWarning``. So does, before the run, an option that
    cannot change it (see ``SimulationWarning``); and, once while it still
    runs, a run without published demand that has made 2 M offers and over
    ten per instance it launched (``demand=256`` sizes offers to pending work
    instead).

    Large replays run faster with glibc's heap on huge pages, which ``allot
    sim`` sets up for itself but a Python process must be started with:
    ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python3 ...`` (Google's first 5
    parts with ``demand=256``: 13.6-14.6 s instead of 17.0-17.6 s on our VM).
    """
    if isinstance(policy, type):
        raise TypeError(f"policy {policy.__name__} is a class: pass an instance, "
                        f"{policy.__name__}()")
    cfg = _config(config, seed)
    workload = _workload(trace)
    if cfg["stop_at"] is not None:
        message = _allot.stop_before_work_warning(workload, cfg["stop_at"])
        if message:
            warnings.warn(message, SimulationWarning, stacklevel=2)
    label = policy if isinstance(policy, str) else getattr(policy, "name", type(policy).__name__)
    policy, params = _split_policy(policy, params)
    text_params = _policy_params(policy, params, seed)

    def note(message):
        # Called by the run itself (frames: this, simulate, its caller).
        warnings.warn(f"{label}: {message}", SimulationWarning, stacklevel=3)

    # A Python policy object holds one run's host: two runs at once (threads)
    # would grant through each other's.
    busy = None
    if not isinstance(policy, str) and hasattr(policy, "__dict__"):
        busy = policy.__dict__.setdefault("_allot_run_lock", threading.Lock())  # atomic
        if not busy.acquire(blocking=False):
            raise ValueError(f"policy {label!r} is already running in another simulation: "
                             "one Policy object cannot run twice at once; give each its own")
    seeded = isinstance(policy, Policy)
    if seeded:  # Policy.seed and Policy.rng, for this run
        policy._allot_seed, policy._allot_rng = seed, None
    try:
        raw = _allot.simulate(workload, policy, text_params, seed=seed, note=note,
                              cancel=_cancel, **{**cfg, "roles": _role_tuples(cfg["roles"])})
    finally:
        if seeded:
            policy._allot_seed, policy._allot_rng = None, None
        if busy is not None:
            busy.release()
    config = {"seed": seed, **cfg}
    if cfg["mtbf"] is not None and cfg["mttr"] is None:
        config["mttr"] = _allot.DEFAULT_MTTR  # what the run used, as `allot sim` records it
    result = _to_result(raw, config)
    _warn_if_cut_short(result)
    return result


def _labels(policies):
    labels, seen = [], {}
    for p in policies:
        name = p if isinstance(p, str) else getattr(p, "name", type(p).__name__)
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def history(trace, stop_at=None, sample_interval=0.0):
    """The schedule the trace itself records, as a ``SimResult`` to set beside replays.

    Each task record's recorded start and end (SWF wait and run times,
    Google's SCHEDULE to terminal event, Alibaba's start and end) is one
    launch, summarized by the same code as a replay's (``jct_s_mean``,
    ``wait_s_p95``, ``utilization_cpus``, ...), over the same span: from the
    first submission to the last recorded time, or ``stop_at``, with the
    time series sampled as a replay's (``sample_interval``; nothing is ever
    offered, and Jain's index is over one framework per user and role). A job
    counts as finished when the trace records the start and end of all its
    tasks. Counters are of launches only; ``tasks.machine`` is -1 where the
    trace names no machine (SWF). Utilization exceeds 1 where the trace's
    scheduler overcommitted what tasks request (Google 2011's cell: 112% of
    its cpus), which a replay never does.
    Raises ``allot.InvalidArgument`` for a workload that records no start
    (a synthetic one). ``compare(..., history=True)`` adds it as a column.
    """
    _check_seconds("stop_at", stop_at)
    _check_seconds("sample_interval", sample_interval)
    workload = _workload(trace)
    raw = _allot.history(workload, stop_at, sample_interval)
    return _to_result(raw, {"stop_at": stop_at, "sample_interval": sample_interval})


_history = history


def compare(trace, policies=("drf", "fifo", "random"), seed=0, params=None, jobs=1,
            history=False, seeds=1, **config):
    """Runs each policy on the same workload; returns their summaries side by side.

    The result is a DataFrame indexed by metric with one column per policy
    (repeated names get ``#2``, ...); ``result.attrs["results"]`` maps each
    column to its ``SimResult``. ``params`` maps a policy name to its
    parameters; a policy given as ``"NAME:a=1,b=x"`` (as ``allot sim -p``
    takes it) has parameters of its own, which win, so one policy can be
    compared with itself under other parameters. One name or Policy object
    alone counts as a list of one. ``jobs`` > 1 runs that many simulations at once in threads
    (the simulator releases the GIL). ``history=True`` adds a column
    ``history``: the trace's own schedule (``allot.history``), to compare the
    policies with what happened. Each named policy is built with its
    parameters before any run, so a bad value raises at once, naming its
    column. Other arguments as for ``simulate``.

    ``seeds`` > 1 runs each policy with seeds ``seed``, ``seed + 1``, ... as
    ``allot sim --seeds``: the columns become (policy, statistic) pairs,
    statistic ``mean``, ``ci95`` (the half-width of the mean's 95% confidence
    interval, Student's t) and ``n`` (runs with a value);
    ``result.attrs["results"]`` maps each run, labelled ``POLICY@SEED``, to
    its ``SimResult`` and ``result.attrs["summaries"]`` holds every run's
    summary. A policy that no seed changes (no ``seed`` parameter of its own
    to follow, or a Policy object without ``uses_seed = True``; and no
    ``mtbf``) runs once, with a ``SimulationWarning``.
    """
    check_whole("seeds", seeds, 10000, low=1)
    cfg = _config(config, seed)
    if seed + seeds - 1 > _WHOLE_NUMBERS["seed"]:
        raise _allot.InvalidArgument(
            f"seed {seed} with seeds={seeds}: the last seed would pass {_WHOLE_NUMBERS['seed']}")
    workload = _workload(trace)
    # One name or Policy object is a list of one ("fifo" is not f, i, f, o).
    single = isinstance(policies, str) or hasattr(policies, "decide")
    policies = [policies] if single else list(policies)
    labels = _labels(policies)
    if history and "history" in labels:
        raise ValueError("a policy named 'history' would share its column with history=True")
    # The trace's own schedule first: a workload without one is refused
    # before the runs.
    recorded = _history(workload, cfg["stop_at"], cfg["sample_interval"]) if history else None
    params = params or {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must map policy names to their parameters, such as "
                        f"{{'drf': {{'seed': 1}}}}, not {params!r}")
    # Parameters of a policy not compared (a typo in its name) would be
    # dropped without a word; `allot sim --param` refuses them too.
    names = [p.split(":", 1)[0] for p in policies if isinstance(p, str)]
    stray = sorted(set(params) - set(names))
    if stray:
        raise _allot.InvalidArgument(
            f"params name policy {stray[0]!r}, which is not among the policies compared "
            f"({', '.join(names) or 'only Policy objects'})")
    check_whole("jobs", jobs, 256, low=1)  # as `allot sim -j`

    # Each named policy is built once with its parameters before any run, as
    # `allot sim` does: a bad value of the last one would otherwise surface
    # after all the runs before it.
    def own(policy):  # a named policy's name and parameters, with those of "NAME:a=1"
        return _split_policy(policy, params.get(policy.split(":", 1)[0]))

    for label, policy in zip(labels, policies):
        if isinstance(policy, str):
            try:
                name, given = own(policy)
                _allot.check_policy(name, _policy_params(name, given, seed))
            except _allot.Error as e:
                raise type(e)(f"{label}: {e}") from None

    # The runs: (label, column, policy, seed), one per seed where the seed
    # can change the run.
    failures = cfg["mtbf"] is not None and cfg["mtbf"] > 0
    runs = []
    for label, policy in zip(labels, policies):
        if isinstance(policy, str):
            name, given = own(policy)
            follows = "seed" not in (given or {}) and "seed" in _policy_params(name, None, seed)
        else:
            follows = bool(getattr(policy, "uses_seed", False))
        if seeds == 1 or not (follows or failures):
            runs.append((label, label, policy, seed))
            if seeds > 1:
                warnings.warn(f"{label}: runs once, not {seeds} times: nothing in its run follows "
                              f"the seed (no seed parameter of its own, or params set it, or a "
                              f"Policy without uses_seed; and no mtbf)", SimulationWarning,
                              stacklevel=2)
        else:
            runs.extend((f"{label}@{seed + k}", label, policy, seed + k) for k in range(seeds))
    objects = [id(r[2]) for r in runs if not isinstance(r[2], str)]
    if jobs > 1 and len(objects) != len(set(objects)):
        raise ValueError("one Policy object cannot run twice at once: pass distinct objects "
                         "or jobs=1")

    def run(item, cancel=None):
        _, _, policy, run_seed = item
        name = policy.split(":", 1)[0] if isinstance(policy, str) else None
        return simulate(workload, policy, seed=run_seed, params=params.get(name), _cancel=cancel,
                        **cfg)

    if jobs > 1:
        # Ctrl-C reaches only this thread: the runs on the others are told to
        # stop, else the interrupt would wait for each to end.
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = [pool.submit(run, r, cancel) for r in runs]
            results = [f.result() for f in futures]
        except BaseException:
            cancel.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        results = [run(r) for r in runs]
    by_label = {r[0]: result for r, result in zip(runs, results)}
    if recorded is not None:
        by_label["history"] = recorded
        runs.append(("history", "history", None, None))
    # rename_axis: a new index, not the name set on the runs' summaries' own
    table = pd.DataFrame({label: r.summary for label, r in by_label.items()}).rename_axis("metric")
    if seeds == 1:
        table.attrs["results"] = by_label
        return table
    spread = _over_seeds(table, {r[0]: r[1] for r in runs})
    spread.attrs.update(results=by_label, summaries=table)
    return spread


def _over_seeds(table, column_of):
    """A table of runs (labelled POLICY@SEED, or POLICY for those run once)
    as one column per policy (``column_of`` maps a run's label to its
    policy's) and statistic: each metric's mean, the half-width of its 95%
    confidence interval and how many runs have it."""
    columns = {}
    for label in table.columns:
        columns.setdefault(column_of.get(label, label), []).append(label)
    spreads = {}
    for column, members in columns.items():
        stats = {metric: _allot.spread_of(table.loc[metric, members].astype(float).tolist())
                 for metric in table.index}
        for stat in ("mean", "ci95", "n"):
            spreads[(column, stat)] = {metric: stats[metric][stat] for metric in table.index}
    spread = pd.DataFrame(spreads).rename_axis("metric")
    spread.columns.names = ["policy", "statistic"]
    spread.attrs["column_of"] = {label: column_of.get(label, label) for label in table.columns}
    return spread


def differences(table, baseline):
    """Each policy's difference from ``baseline``, paired by seed, as ``allot sim --baseline``.

    ``table`` is what ``compare`` or ``read_results`` returns; ``baseline``
    one of its policies (``"drf"``, ``"drf#2"``, ``"history"``). The result
    is indexed by metric, with (policy, statistic) columns for every other
    policy: ``mean``, the mean of its value minus the baseline's over the
    seeds, each of its runs paired with the baseline's run of the same seed
    (a policy run once pairs its one value with each of the other's);
    ``ci95``, the half-width of that mean's 95% confidence interval
    (Student's t over the paired differences; NaN for one pair); ``n``, the
    pairs with both values; and ``relative``, ``mean`` over the baseline's
    mean. Runs of one seed share what the seed draws outside the policies
    (``mtbf``'s failures): what that does alike to both cancels out of their
    difference (which narrows the interval only where the two respond alike).
    ``allot.plot.metric`` draws it as it draws ``compare(seeds=N)``'s table.
    """
    results = table.attrs.get("results")
    if results is None:
        raise ValueError("differences needs the table compare or read_results returns (it keeps "
                         "each run in attrs['results'])")
    if isinstance(table.columns, pd.MultiIndex):  # over seeds: every run in attrs
        summaries, column_of = table.attrs["summaries"], table.attrs["column_of"]
    else:
        summaries, column_of = table, {label: label for label in table.columns}
    runs = {}  # column -> {seed: run label}, seed None for one run
    for label in summaries.columns:
        runs.setdefault(column_of[label], {})[results[label].config.get("seed")] = label
    if baseline not in runs:
        raise _allot.InvalidArgument(f"baseline {baseline!r}: no such column; the columns are "
                                     f"{', '.join(map(str, runs))}")
    if len(runs) < 2:
        raise _allot.InvalidArgument(f"baseline {baseline!r}: there is no other column to "
                                     "compare with it")

    def values(column, seeds, metric):
        if len(runs[column]) == 1:
            return [float(summaries.loc[metric, next(iter(runs[column].values()))])]
        return [float(summaries.loc[metric, runs[column][s]]) for s in seeds]

    base_seeds = sorted(runs[baseline]) if len(runs[baseline]) > 1 else None
    columns = {}
    for column in runs:
        if column == baseline:
            continue
        seeds = base_seeds
        if len(runs[column]) > 1:
            if base_seeds is not None and set(runs[column]) != set(base_seeds):
                raise _allot.InvalidArgument(
                    f"{column} ran with seeds {sorted(runs[column])}, {baseline} with "
                    f"{base_seeds}: differences pair runs of the same seed")
            seeds = sorted(runs[column])
        stats = {}
        for metric in summaries.index:
            base = values(baseline, seeds, metric)
            d = _allot.paired_difference_of(base, values(column, seeds, metric))
            mean = _allot.spread_of(base)["mean"]
            relative = d["mean"] / mean if mean != 0 else float("nan")
            stats[metric] = {"mean": d["mean"], "ci95": d["ci95"], "n": d["n"],
                             "relative": relative}
        for stat in ("mean", "ci95", "n", "relative"):
            columns[(column, stat)] = {metric: s[stat] for metric, s in stats.items()}
    out = pd.DataFrame(columns).rename_axis("metric")
    out.columns.names = ["policy", "statistic"]
    out.attrs["baseline"] = baseline
    return out


# `allot sim`'s config keys (result file, times in microseconds) to
# CONFIG_DEFAULTS' (seconds); keys with the same name and unit are kept.
_FILE_SECONDS = {"allocation_interval_us": "allocation_interval",
                 "decision_latency_us": "decision_latency", "offer_timeout_us": "offer_timeout",
                 "refuse_us": "refuse_seconds", "sample_interval_us": "sample_interval",
                 "stop_at_us": "stop_at", "mtbf_us": "mtbf", "mttr_us": "mttr"}

# Counters the result file keeps in each run's summary (all but `launches`).
_FILE_COUNTERS = ["events", "rounds", "offers", "declines", "rescinds", "instances_launched",
                  "instances_lost", "instances_preempted", "machine_failures"]


def _config_from_file(text):
    config = {}
    for key, value in json.loads(text).items():
        if key in _FILE_SECONDS:
            config[_FILE_SECONDS[key]] = None if value is None else value / 1e6
        elif key == "demand_window":
            config["demand"] = None if value == "auto" else value
        else:
            config[key] = value
    return config


def _read_run(group):
    def columns(name):
        return {k: v[()] for k, v in group[name].items()}

    def texts(name):
        return list(group[name].asstr()[()])

    summary = dict(zip(group["summary/name"].asstr()[()], group["summary/value"][()].tolist()))
    end_s = summary.get("end_s", float("nan"))
    return {
        "policy": group.attrs["policy"],
        # The policy's parameters; `allot sim` also records its own ("sim.*").
        "params": {k: v for k, v in json.loads(group.attrs["params"]).items()
                   if not k.startswith("sim.")},
        "dims": texts("dims"),
        "roles": texts("roles"),
        "frameworks": {"name": texts("frameworks/name"), "role": group["frameworks/role"][()]},
        "jobs": columns("jobs"),
        "tasks": columns("tasks"),
        "timeseries": columns("timeseries"),
        # The summary holds machine_failures only when some were injected.
        "counters": {k: int(summary.get(k, 0)) for k in _FILE_COUNTERS},
        "end_us": -1 if np.isnan(end_s) else round(end_s * 1e6),
        "used_integral": group["integrals/used"][()],
        "capacity_integral": group["integrals/capacity"][()],
        "summary": summary,
    }


def _check_task_jobs(result):
    """Raises ValueError naming the first task row of a run whose job index
    names no job (a damaged or hand-edited file). (A job's framework is not
    checked: jobs that never became ready keep framework 0, also in runs
    without frameworks.)"""
    jobs = result.tasks["job"].to_numpy()
    bad = np.flatnonzero(jobs >= len(result.jobs))
    if bad.size:
        row = int(bad[0])
        raise ValueError(f"tasks row {row} names job {int(jobs[row])} of {len(result.jobs)}")


def _read_labelled_run(f, label, run_config):
    """One run of a result file; a missing dataset or a task naming no job is
    named with its run's path."""
    group = f["runs"][label]
    try:
        params = json.loads(group.attrs["params"])
        if "sim.seed" in params:  # the run's own seed (they differ with --seeds)
            run_config = {**run_config, "seed": int(params["sim.seed"])}
        result = _to_result(_read_run(group), run_config)
    except KeyError as e:
        raise KeyError(f"run {label!r} ({group.name}) lacks {e}") from e
    try:
        _check_task_jobs(result)
    except ValueError as e:
        raise ValueError(f"run {label!r} ({group.name}): {e}") from e
    return result


def read_results(path):
    """Reads a result file of ``allot sim -o FILE``: the table ``compare`` returns.

    A DataFrame indexed by metric with one column per run (its label in the
    file: the policy, ``#2`` for a repeat); ``attrs["results"]`` maps each
    label to its ``SimResult``, ``attrs["config"]`` holds the run
    configuration (``CONFIG_DEFAULTS``' keys in seconds, plus ``trace``,
    ``format``, the reader's ``skip_bad``, ``machines_file``, ``job_events``,
    ``machine_events``, ``batch_instance`` and ``cluster`` (None when not
    given), ``load_factor`` (the workload's, None when not scaled),
    ``skipped_lines``, ``policies`` and ``history``: whether ``--history``
    added the run ``history``) and ``attrs["allot_version"]``
    the version that wrote the file. A file of ``allot sim --seeds N`` reads as
    ``compare(seeds=N)`` returns: (policy, statistic) columns, each run under
    ``POLICY@SEED`` in ``attrs["results"]`` and its summary in
    ``attrs["summaries"]``. ``SimResult.counters`` lacks ``launches``, which the
    file does not keep. Raises ``allot.Error`` naming the file when it is not
    an allot result file, is damaged, or lacks a dataset.
    """
    import h5py  # only here: the rest of allot does not need it

    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("allot_format")
            if isinstance(kind, bytes):
                kind = kind.decode(errors="replace")
            if kind != "allot-sim-result":
                raise _allot.Error(f"{path}: not an allot result file (allot_format is "
                                   f"{kind!r}, not 'allot-sim-result')")
            version = int(f.attrs["allot_format_version"])
            if version != 1:
                raise _allot.Error(f"{path}: result format version {version}; this allot "
                                   "reads version 1")
            config = _config_from_file(f.attrs["config"])
            run_config = {k: v for k, v in config.items() if k in CONFIG_DEFAULTS or k == "seed"}
            # The order of `allot sim -p ...` (each policy's runs by seed
            # with --seeds), where the file's runs are those.
            first, seeds = config.get("seed", 0), config.get("seeds", 1)
            labels, column_of = [], {}
            for column in _labels(config.get("policies", [])):
                runs = [column] if column in f["runs"] else \
                    [f"{column}@{s}" for s in range(first, first + seeds)]
                labels += runs
                column_of.update((run, column) for run in runs)
            if config.get("history"):
                labels.append("history")
            if sorted(labels) != sorted(f["runs"]):
                labels = list(f["runs"])
            results = {label: _read_labelled_run(f, label, run_config) for label in labels}
            allot_version = f.attrs["allot_version"]
    except _allot.Error:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise _allot.Error(f"{path}: cannot read this result file ({e})") from e
    table = pd.DataFrame({label: r.summary for label, r in results.items()}).rename_axis("metric")
    if config.get("seeds", 1) > 1:  # as compare(seeds=N) returns it
        summaries, table = table, _over_seeds(table, column_of)
        table.attrs["summaries"] = summaries
    table.attrs.update(results=results, config=config, allot_version=allot_version)
    return table
