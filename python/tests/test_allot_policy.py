"""Policies written in Python (allot.Policy) driving the C++ simulator."""

import numpy as np
import pandas.testing as pdt
import pytest

import allot
from allot_test_data import ALIBABA2017_EXCERPT, KTH_STOP_AT


class PyFifo(allot.Policy):
    """policies/fifo.cc in Python: frameworks in registration order, each
    granted whole every agent whose offerable resources are allocatable (the
    simulator publishes no demand, so fifo's demand path never runs)."""

    name = "pyfifo"

    def decide(self, now):
        s = self.state
        fws = s.frameworks()
        order = [f for f in range(s.framework_slots)
                 if fws["alive"][f] and fws["active"][f] and not fws["suppressed"][f]]
        order.sort(key=lambda f: fws["registration"][f])
        agents = s.agents()
        for f in order:
            assert not fws["has_demand"][f], "the simulator published demand: extend PyFifo"
            for a in range(s.agent_slots):
                if not agents["alive"][a] or not agents["active"][a]:
                    continue
                if not s.allocatable(s.available_total(a)):
                    continue
                if s.allocatable(s.offerable(f, a)):
                    self.grant_all(f, a)


# Acceptance: the Python fifo and the C++ fifo make the same schedule, row for
# row, with frameworks per user and per job (slots of finished jobs reused).
@pytest.mark.parametrize("frameworks, stop_at", [("user", KTH_STOP_AT), ("job", 1e6)])
def test_python_fifo_equals_cpp_fifo(kth, frameworks, stop_at):
    cpp = allot.simulate(kth, "fifo", frameworks=frameworks, stop_at=stop_at)
    py = allot.simulate(kth, PyFifo(), frameworks=frameworks, stop_at=stop_at)
    assert cpp.counters["launches"] > 500
    pdt.assert_frame_equal(py.jobs, cpp.jobs)
    pdt.assert_frame_equal(py.tasks, cpp.tasks)
    assert py.policy == "pyfifo" and cpp.policy == "fifo"


# With injected machine failures too: agents leave and come back under the
# policy's view, and both see the same failures (drawn per machine from the seed).
def test_python_fifo_equals_cpp_fifo_with_failures(kth):
    cfg = dict(stop_at=KTH_STOP_AT, mtbf=5 * 86400, mttr=4 * 3600)
    cpp = allot.simulate(kth, "fifo", **cfg)
    py = allot.simulate(kth, PyFifo(), **cfg)
    assert cpp.counters["machine_failures"] > 100 and cpp.counters["instances_lost"] > 100
    assert py.counters == cpp.counters
    pdt.assert_frame_equal(py.tasks, cpp.tasks)


def test_python_fifo_equals_cpp_fifo_on_hand_trace(tiny):
    for queue in ("fcfs", "first-fit"):
        cfg = dict(frameworks="single", queue=queue, hold_offers=True)
        pdt.assert_frame_equal(allot.simulate(tiny, PyFifo(), **cfg).tasks,
                               allot.simulate(tiny, "fifo", **cfg).tasks)


class Boom(allot.Policy):
    name = "boom"

    def __init__(self, after):
        self.after = after
        self.calls = 0

    def decide(self, now):
        self.calls += 1
        if self.calls > self.after:
            raise ValueError(f"boom at {now} us")
        PyFifo.decide(self, now)


# One Policy object in two simulations at once (threads) is refused with a
# message, not left to fail inside decide() with another run's host; runs one
# after the other, or after an error, reuse it.
@pytest.mark.filterwarnings("ignore::allot.SimulationWarning")  # it grants nothing
def test_one_policy_object_runs_once_at_a_time(tiny):
    import threading

    started, release = threading.Event(), threading.Event()

    class Waits(allot.Policy):
        def decide(self, now):
            started.set()
            release.wait(30)

    policy = Waits()
    first = threading.Thread(target=allot.simulate, args=(tiny, policy))
    first.start()
    try:
        assert started.wait(30)
        with pytest.raises(ValueError, match="already running in another simulation"):
            allot.simulate(tiny, policy)
    finally:
        release.set()
        first.join()
    started.clear()
    allot.simulate(tiny, policy)  # free again
    assert started.is_set()


# An exception in decide() leaves simulate() as the same Python exception.
def test_exception_in_decide_propagates(tiny):
    policy = Boom(after=1)
    with pytest.raises(ValueError, match=r"boom at \d+ us"):
        allot.simulate(tiny, policy)
    assert policy.calls == 2
    # The host is detached after the run: using it now is an error, not a crash.
    with pytest.raises(RuntimeError, match="only inside decide"):
        policy.state


# A view kept past the run refuses to read the destroyed allocator.
def test_kept_view_fails_cleanly(tiny):
    kept = []

    class Keep(allot.Policy):
        def decide(self, now):
            kept.append(self.state)

    with pytest.warns(allot.SimulationWarning, match="3 jobs unfinished"):  # it grants nothing
        allot.simulate(tiny, Keep())
    assert kept
    with pytest.raises(RuntimeError, match="finished simulation"):
        kept[0].agent(0)


# Granting what the agent does not have is a policy bug: it raises.
def test_granting_too_much_raises(tiny):
    class Greedy(allot.Policy):
        def decide(self, now):
            s = self.state
            for f in range(s.framework_slots):
                if s.framework(f).alive:
                    self.grant(f, 0, "cpus:1000")

    with pytest.raises(RuntimeError):
        allot.simulate(tiny, Greedy())


# A grant's resources and task key are checked however they are given: a
# typo, a NaN or a wrong key is the policy's bug, raised where it is made (a
# NaN vector used to be a grant refused, a wrong key an offer declined).
@pytest.mark.parametrize("resources, task, error, words", [
    ({"cpu": 1.0}, None, allot.InvalidArgument, r"unknown resource 'cpu' \(the cluster's scalars: cpus, mem"),
    ("foo:1", None, allot.InvalidArgument, "unknown resource 'foo'"),
    ({"cpus": "1"}, None, TypeError, "resource 'cpus': the amount must be a number, got '1'"),
    (np.array([np.nan, 0.0]), None, allot.InvalidArgument, r"resources\[0\] \('cpus'\) is nan"),
    (np.array([-1.0, 0.0]), None, allot.InvalidArgument, "must be a finite, non-negative number"),
    (np.array([np.inf]), None, allot.InvalidArgument, "is inf"),
    (np.array([0.0] * 7 + [1.0]), None, allot.InvalidArgument, r"resources\[7\] is 1.0+, beyond"),
    ("cpus:1", "xyz", TypeError, "task must be a pending task's key"),
    ("cpus:1", 1.5, TypeError, "task must be a pending task's key"),
    ("cpus:1", True, TypeError, "task must be a pending task's key"),
    ("cpus:1", 123456789, allot.InvalidArgument, "task 123456789 is not the key of a pending task"),
    ("cpus:1", -1, allot.InvalidArgument, "task -1 is not the key"),
    ("cpus:1", 2**70, allot.InvalidArgument, "is not the key"),
])
def test_grant_arguments_are_checked(tiny, resources, task, error, words):
    class Bad(allot.Policy):
        def decide(self, now):
            s = self.state
            for f in range(s.framework_slots):
                if s.framework(f).alive and not s.framework(f).suppressed:
                    self.grant(f, 0, resources, task=task)

    with pytest.raises(error, match=words):
        allot.simulate(tiny, Bad(), demand=8)


def test_grant_with_a_published_key_launches_it(tiny):
    keys = []

    class ByKey(allot.Policy):
        def decide(self, now):
            s = self.state
            for f in range(s.framework_slots):
                fw = s.framework(f)
                if not fw.alive or fw.suppressed or not fw.demand:
                    continue
                t = fw.demand[0]
                for a in range(s.agent_slots):
                    if s.allocatable(s.offerable(f, a)) and self.grant(f, a, t.shape, task=t.key):
                        keys.append(t.key)
                        break

    # The 1-wide job fits one grant; the gangs would need grants on both
    # machines, so they are left unfinished, and the run says so.
    with pytest.warns(allot.SimulationWarning, match="2 jobs unfinished"):
        r = allot.simulate(tiny, ByKey(), demand=8)
    assert keys and r.summary["instances_launched"] >= 1


# What decide() sees: the trace's machines as agents, its dims, frameworks
# with roles, time in microseconds on allocation-interval multiples.
def test_state_view_reads_the_cluster(tiny):
    seen = {}

    class Look(allot.Policy):
        name = "look"

        def decide(self, now):
            s = self.state
            seen.setdefault("now", []).append(now)
            seen["dims"] = s.dims
            seen["agents"] = s.agent_count
            seen["total"] = s.total()
            a = s.agent(1)
            seen["agent"] = (a.alive, a.active, a.total.tolist(), a.available.tolist())
            f = next(s.framework(i) for i in range(s.framework_slots) if s.framework(i).alive)
            seen["framework"] = (f.role_name, f.weight, f.allocated.tolist(), f.demand)
            seen["offerable"] = s.offerable(f.index, 1).tolist()
            seen["allocatable"] = (s.allocatable("cpus:1"), s.allocatable({"mem": 1.0}),
                                   self.allocatable(np.array([0.001, 0.0])))
            seen["role"] = s.role(f.role).name
            with pytest.raises(IndexError):
                s.agent(s.agent_slots)

    with pytest.warns(allot.SimulationWarning, match="3 jobs unfinished"):  # it grants nothing
        r = allot.simulate(tiny, Look(), stop_at=30)
    assert r.policy == "look"
    assert seen["dims"] == ["cpus", "mem", "disk", "gpus"]
    assert seen["agents"] == 2
    assert seen["total"].tolist() == [4.0, 0.0, 0.0, 0.0]
    assert seen["agent"] == (True, True, [2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0])
    assert seen["framework"] == ("*", 1.0, [0.0, 0.0, 0.0, 0.0], [])
    assert seen["offerable"] == [2.0, 0.0, 0.0, 0.0]
    # min_allocatable is cpus:0.01|mem:32: one cpu is worth offering, 1 MB is not.
    assert seen["allocatable"] == (True, False, False)
    assert seen["role"] == "*"
    assert all(isinstance(t, int) and t % 1_000_000 == 0 for t in seen["now"])
    # Nothing was granted: no task ran.
    assert len(r.tasks) == 0 and (r.jobs["state"] == "unfinished").all()


def test_python_policy_params(tiny):
    # min_allocatable applies to Python policies too; nothing else does.
    with pytest.raises(allot.InvalidArgument, match="seed"):
        allot.simulate(tiny, PyFifo(), params={"seed": 1})
    with pytest.warns(allot.SimulationWarning, match="3 jobs unfinished"):
        r = allot.simulate(tiny, PyFifo(), params={"min_allocatable": "cpus:3"})
    # No machine has 3 free cpus: nothing is offered, nothing runs.
    assert len(r.tasks) == 0


def test_policy_without_decide_is_rejected(tiny):
    with pytest.raises(TypeError, match="decide"):
        allot.simulate(tiny, object())


# Tasks that ask for nothing (job 4 of the Alibaba excerpt has empty cpu and
# memory requests) reach Python policies with the token as their shape, which
# a grant for them holds (an empty grant is no offer). A policy that grants
# only those starts only that job, and all of it.
def test_tasks_that_ask_for_nothing_carry_the_token():
    w = allot.load_trace(ALIBABA2017_EXCERPT, cluster="4*cpus:8;mem:1")
    seen, granted = [], []

    class TokensOnly(allot.Policy):
        def decide(self, now):
            s = self.state
            for i in range(s.framework_slots):
                fw = s.framework(i)
                if not fw.alive or not fw.active or fw.suppressed:
                    continue
                for t in fw.demand:
                    if not t.asks_nothing:
                        continue
                    seen.append(t.shape)
                    for a in range(s.agent_slots):
                        if s.offerable(fw.index, a)[0] >= 1e-3 and self.grant(
                                fw.index, a, t.shape, task=t.key):
                            granted.append(t.key)
                            break

    with pytest.warns(allot.SimulationWarning, match="18 jobs unfinished"):
        r = allot.simulate(w, TokensOnly(), demand=100_000, stop_at=20_000)
    # 8 cpus per machine over 4 machines: a millionth of the mean is 8e-06.
    assert set(seen) == {"cpus:8e-06"} and granted
    nothing = r.jobs["trace_id"] == 4  # its two tasks are jobs here
    assert (r.jobs[nothing]["state"] == "finished").all()
    assert (r.jobs[~nothing]["state"] == "unfinished").all()
    started = r.tasks[r.tasks["job"].isin(r.jobs[nothing]["job"])]
    assert started["count"].sum() == 393 + 452


class PyRandom(allot.Policy):
    """Each free agent granted whole to a framework drawn with self.rng."""

    name = "pyrandom"
    uses_seed = True

    def __init__(self):
        super().__init__()
        self.seeds_seen = []

    def decide(self, now):
        if not self.seeds_seen or self.seeds_seen[-1] != self.seed:
            self.seeds_seen.append(self.seed)
        s = self.state
        fws = s.frameworks()
        live = [f for f in range(s.framework_slots)
                if fws["alive"][f] and fws["active"][f] and not fws["suppressed"][f]]
        agents = s.agents()
        for a in range(s.agent_slots):
            if not agents["alive"][a] or not agents["active"][a] or not live:
                continue
            f = live[int(self.rng.integers(len(live)))]
            if s.allocatable(s.offerable(f, a)):
                self.grant_all(f, a)


# A Python policy that draws from self.rng: the same seed gives the same run,
# compare(seeds=3) runs it once per seed (uses_seed), each seeing its own
# seed; without uses_seed it runs once; outside a run there is no seed.
def test_python_policy_draws_from_the_runs_seed(kth):
    STOP = 700_000  # 1.2 days after the log's first job: each round is Python
    policy = PyRandom()
    one = allot.simulate(kth, policy, seed=4, stop_at=STOP)
    again = allot.simulate(kth, policy, seed=4, stop_at=STOP)
    other = allot.simulate(kth, policy, seed=5, stop_at=STOP)
    pdt.assert_frame_equal(one.tasks, again.tasks)
    assert not one.tasks.equals(other.tasks)
    assert policy.seeds_seen == [4, 5]  # 4 twice, as one list entry per change
    table = allot.compare(kth, [PyRandom()], seed=7, seeds=3, stop_at=STOP)
    runs = table.attrs["results"]
    assert list(runs) == ["pyrandom@7", "pyrandom@8", "pyrandom@9"]
    assert table.loc["jobs", ("pyrandom", "n")] == 3
    pdt.assert_frame_equal(runs["pyrandom@8"].tasks,
                           allot.simulate(kth, PyRandom(), seed=8, stop_at=STOP).tasks)
    with pytest.warns(allot.SimulationWarning, match="pyfifo: runs once, not 3 times"):
        fifo = allot.compare(kth, [PyFifo()], seeds=3, stop_at=STOP)
    assert list(fifo.attrs["results"]) == ["pyfifo"]
    with pytest.raises(RuntimeError, match="only during allot.simulate"):
        policy.seed
