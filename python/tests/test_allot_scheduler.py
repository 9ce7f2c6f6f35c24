"""allot.Scheduler and allot.SchedulerDriver: frameworks written in Python, run
against a real master (allot.Master, runtime::Master in this process) and a real
`allot agent` process whose tasks run for real."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from pathlib import Path

import pytest

import allot


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python_framework.py"
TIMEOUT = 60  # seconds any wait below may take before the test fails


class Cluster:
    def __init__(self, master, agent_dir):
        self.master = master
        self.address = master.address
        self.agent_dir = agent_dir

    def stdout(self, task_id):
        """The stdout of a task's sandbox on the agent."""
        files = list(self.agent_dir.glob(f"frameworks/*/tasks/{task_id}/stdout"))
        assert len(files) == 1, files
        return files[0].read_text()

    def state(self):
        url = f"http://127.0.0.1:{self.master.http_port}/api/v1/state"
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())


@contextlib.contextmanager
def running_cluster(allot_cli, tmp_path, policy="drf"):
    """A master in this process (POLICY, rounds every 0.1 s) and a real agent with 2
    cpus and 512 MB; the agent's log is tmp_path/agent.log."""
    master = allot.Master(policy, host="127.0.0.1", port=0, http_port=0,
                          allocation_interval=0.1).start()
    with open(tmp_path / "agent.log", "w") as log:
        agent = subprocess.Popen([allot_cli, "agent", "--master", master.address, "--work-dir",
                                  tmp_path / "agent", "--resources", "cpus:2;mem:512",
                                  "--cgroup-root", "none"], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Cluster(master, tmp_path / "agent")
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        master.stop()


@pytest.fixture
def cluster(allot_cli, tmp_path):
    with running_cluster(allot_cli, tmp_path) as c:
        yield c


class Recorder(allot.Scheduler):
    """Records every callback; holds offers for the test to answer unless `on_offers`
    answers them; `on_update(driver, status)` runs after each update is recorded."""

    def __init__(self, on_offers=None, on_update=None, on_registered=None):
        self.events = []
        self.offers = []
        self.updates = []
        self.on_offers = on_offers
        self.on_update = on_update
        self.on_registered = on_registered
        self.changed = threading.Condition()

    def _record(self, *event):
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def registered(self, driver, framework_id, master_id):
        self._record("registered", framework_id, master_id)
        if self.on_registered:
            self.on_registered(driver, framework_id)

    def resource_offers(self, driver, offers):
        with self.changed:
            self.offers.extend(offers)
        self._record("offers", offers)
        if self.on_offers:
            self.on_offers(driver, offers)

    def status_update(self, driver, status):
        with self.changed:
            self.updates.append(status)
        self._record("update", status)
        if self.on_update:
            self.on_update(driver, status)

    def error(self, driver, message):
        self._record("error", message)

    def disconnected(self, driver):
        self._record("disconnected")

    def wait(self, predicate, timeout=TIMEOUT):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), self.events

    def states(self, task_id):
        return [u.state for u in self.updates if u.task_id == task_id]


def run(driver):
    """driver.run() on this thread; a run still going after TIMEOUT is stopped and
    fails the test."""
    late = []
    timer = threading.Timer(TIMEOUT, lambda: (late.append(True), driver.stop(False)))
    timer.start()
    try:
        result = driver.run()
    finally:
        timer.cancel()
    assert not late, f"the driver was still running after {TIMEOUT} s"
    return result


@contextlib.contextmanager
def started(driver):
    """As `with driver:`, but a driver that does not stop within TIMEOUT at the end
    fails the test instead of hanging it."""
    driver.start()
    try:
        yield driver
    finally:
        assert driver.stop(timeout=TIMEOUT), f"the driver still ran {TIMEOUT} s after stop()"


def launch_when_offered(tasks, **launch):
    """An on_offers that launches `tasks` on the first offer and declines the rest."""
    todo = list(tasks)

    def on_offers(driver, offers):
        for offer in offers:
            if todo:
                driver.launch_tasks([offer], todo, **launch)
                todo.clear()
            else:
                driver.decline_offer(offer)
    return on_offers


def stop_when_ended(task_ids, failover=False):
    """An on_update that stops the driver once every task of `task_ids` ended."""
    def on_update(driver, status):
        ended = {u.task_id for u in driver._scheduler.updates if u.terminal}
        if set(task_ids) <= ended:
            driver.stop(failover=failover)
    return on_update


# Three tasks launched from a callback run on the real agent: each writes its
# own line to its sandbox, and its updates arrive in the agent's order
# (STARTING, RUNNING, FINISHED), with the offer's agent filled in.
def test_tasks_run_and_finish_on_a_real_agent(cluster):
    tasks = [allot.Task(f"t{i}", "echo hello $WHO-$N", {"cpus": 0.5, "mem": 32},
                        env={"WHO": "python", "N": str(i)}) for i in range(3)]
    scheduler = Recorder(on_offers=launch_when_offered(tasks),
                         on_update=stop_when_ended(["t0", "t1", "t2"]))
    driver = allot.SchedulerDriver(scheduler, cluster.address, name="three")
    assert run(driver) is None
    registered = [e for e in scheduler.events if e[0] == "registered"]
    assert len(registered) == 1 and registered[0][1] == driver.framework_id
    assert registered[0][2] == cluster.master.id == driver.master_id
    offer = scheduler.offers[0]
    assert offer.resources["cpus"] == 2 and offer.resources["mem"] == 512
    assert "cpus:2" in offer.resources_text and offer.ranges["ports"] == [(31000, 32000)]
    for i in range(3):
        assert scheduler.states(f"t{i}") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
        assert cluster.stdout(f"t{i}") == f"hello python-{i}\n"
    finished = [u for u in scheduler.updates if u.state == "TASK_FINISHED"]
    assert all(u.agent_id == offer.agent_id and u.terminal and u.uuid for u in finished)
    assert not driver.subscribed and not driver.running
    with pytest.raises(allot.Error, match="the driver has stopped"):
        driver.revive_offers()
    with pytest.raises(RuntimeError, match="runs once"):
        driver.run()  # at once


# A decline's refuse_seconds reaches the master: declined for 0.2 s the agent
# is offered again long before the default filter (5 s) would let it; declined
# for an hour it is not offered again until revive_offers() clears the filter.
def test_decline_with_refuse_seconds(cluster):
    declined = []

    def on_offers(driver, offers):
        for offer in offers:
            declined.append(time.monotonic())
            driver.decline_offer(offer, refuse_seconds=0.2 if len(declined) == 1 else 3600)

    scheduler = Recorder(on_offers=on_offers)
    with started(allot.SchedulerDriver(scheduler, cluster.address)) as driver:
        scheduler.wait(lambda s: len(s.offers) >= 2, timeout=4)
        assert declined[1] - declined[0] < 4
        time.sleep(1.5)  # 15 allocation rounds
        assert len(scheduler.offers) == 2
        driver.revive_offers()  # from this thread: queued onto the driver's
        scheduler.wait(lambda s: len(s.offers) == 3)


# kill_task of a running task ends it TASK_KILLED.
def test_kill_task_gives_task_killed(cluster):
    def on_update(driver, status):
        if status.state == "TASK_RUNNING":
            driver.kill_task(status.task_id, status.agent_id)
        elif status.terminal:
            driver.stop(failover=False)

    scheduler = Recorder(on_offers=launch_when_offered([allot.Task("sleeper", "sleep 60",
                                                                   "cpus:0.5;mem:32")]),
                         on_update=on_update)
    run(allot.SchedulerDriver(scheduler, cluster.address))
    assert scheduler.states("sleeper")[-1] == "TASK_KILLED"
    assert scheduler.states("sleeper")[:2] == ["TASK_STARTING", "TASK_RUNNING"]


# A framework in role `web` reserves part of its first offer for its role: a
# later offer holds the reservation (cpus(web):1), which it then gives back:
# a later offer has none left, and the master's state shows none.
def test_reserve_and_unreserve_through_offers(cluster):
    texts = []

    def on_offers(driver, offers):
        for offer in offers:
            texts.append(offer.resources_text)
            reserved = "cpus(web):1" in offer.resources_text
            if len(texts) == 1:
                driver.reserve_resources(offer, "cpus(web):1;mem(web):64", refuse_seconds=0.1)
            elif reserved and "unreserved" not in texts:
                texts.append("unreserved")
                driver.unreserve_resources(offer, "cpus(web):1;mem(web):64",
                                           refuse_seconds=0.1)
            elif "unreserved" in texts and "(web)" not in offer.resources_text:
                driver.stop(failover=False)
            else:
                driver.decline_offer(offer, refuse_seconds=0.1)

    scheduler = Recorder(on_offers=on_offers)
    run(allot.SchedulerDriver(scheduler, cluster.address, role="web"))
    assert "(web)" not in texts[0], texts
    first_reserved = next(t for t in texts if "cpus(web):1" in t)
    assert "mem(web):64" in first_reserved, texts
    assert texts.index("unreserved") < len(texts) - 1
    assert "(web)" not in texts[-1], texts
    assert not any(a["reserved"] for a in cluster.state()["agents"]), cluster.state()["agents"]
    assert not [e for e in scheduler.events if e[0] == "error"], scheduler.events


# With a policy that places tasks (`easy`), a framework that published a gang
# of two tasks under key 9 is offered exactly the gang's resources, the offer
# naming the key; both tasks run there.
def test_published_demand_gets_offers_sized_to_a_pending_task(allot_cli, tmp_path):
    tasks = [allot.Task(f"g{i}", "true", "cpus:0.5;mem:64") for i in range(2)]
    sized = []

    def on_registered(driver, framework_id):
        driver.publish_demand([allot.PendingTask(9, {"cpus": 0.5, "mem": 64}, count=2,
                                                 gang=True, estimate=30)])

    def on_offers(driver, offers):
        for offer in offers:
            if offer.task_key == 9 and not sized:
                sized.append(offer)
                driver.launch_tasks(offer, tasks)
                driver.publish_demand([])  # nothing pending any more
            else:
                driver.decline_offer(offer, refuse_seconds=0.1)

    with running_cluster(allot_cli, tmp_path, "easy") as cluster:
        scheduler = Recorder(on_offers=on_offers, on_registered=on_registered,
                             on_update=stop_when_ended(["g0", "g1"]))
        run(allot.SchedulerDriver(scheduler, cluster.address))
    assert sized and sized[0].resources == {"cpus": 1.0, "mem": 128.0}, scheduler.offers
    for task in tasks:
        assert scheduler.states(task.task_id)[-1] == "TASK_FINISHED"


# A task's health check runs on the agent: the scheduler sees TASK_RUNNING
# healthy, then unhealthy once ./ok is gone, then TASK_KILLED with reason
# TASK_UNHEALTHY_CHECK after two failures in a row.
def test_a_health_check_reports_health_and_kills_an_unhealthy_task(cluster):
    check = allot.HealthCheck(command="test -f ok", delay=0, interval=0.2, grace=30, failures=2)
    task = allot.Task("sick", "touch ok; sleep 1; rm ok; exec sleep 60", "cpus:0.5;mem:32",
                      health_check=check)
    scheduler = Recorder(on_offers=launch_when_offered([task]),
                         on_update=stop_when_ended(["sick"]))
    run(allot.SchedulerDriver(scheduler, cluster.address))
    health = [(u.state, u.healthy) for u in scheduler.updates if u.healthy is not None]
    assert health == [("TASK_RUNNING", True), ("TASK_RUNNING", False),
                      ("TASK_KILLED", False)], scheduler.updates
    assert scheduler.updates[-1].reason == "TASK_UNHEALTHY_CHECK", scheduler.updates[-1]


# master_timeout: a master that falls silent (stopped) is taken for lost
# after that long, well before the default of five of its 1 s heartbeats.
def test_master_timeout_says_how_long_a_silent_master_is_waited_for(tmp_path):
    master = allot.Master("drf", host="127.0.0.1", port=0, http_port=-1).start()
    scheduler = Recorder()
    try:
        with started(allot.SchedulerDriver(scheduler, master.address,
                                           master_timeout=0.5)) as driver:
            scheduler.wait(lambda s: driver.subscribed)
            master.stop()
            stopped = time.monotonic()
            scheduler.wait(lambda s: ("disconnected",) in s.events)
            waited = time.monotonic() - stopped
    finally:
        master.stop()
    assert 0.3 < waited < 4, waited


class Boom(Exception):
    pass


# A callback that raises ends run() with that very exception and its traceback
# (the callback's frame in it); after start() join() raises it. The update
# whose callback raised is not acknowledged: the framework's next driver gets
# it again.
def test_a_callback_that_raises_ends_run_with_its_exception(cluster):
    def explode(driver, status):
        if status.state == "TASK_FINISHED":
            raise Boom(f"no thanks: {status.task_id}")

    scheduler = Recorder(on_offers=launch_when_offered([allot.Task("once", "true", "cpus:1")]),
                         on_update=explode)
    driver = allot.SchedulerDriver(scheduler, cluster.address, failover_timeout=60)
    with pytest.raises(Boom, match="no thanks: once") as raised:
        run(driver)
    assert "explode" in [frame.name for frame in traceback.extract_tb(raised.tb)]
    assert not driver.running

    def raise_on_register(driver, framework_id):
        raise Boom("on a thread")

    again = Recorder(on_registered=raise_on_register)
    started = allot.SchedulerDriver(again, cluster.address, framework_id=driver.framework_id,
                                    failover_timeout=60).start()
    with pytest.raises(Boom, match="on a thread"):
        started.join(TIMEOUT)

    last = Recorder(on_update=stop_when_ended(["once"]))
    run(allot.SchedulerDriver(last, cluster.address, framework_id=driver.framework_id))
    assert last.states("once") == ["TASK_FINISHED"]
    assert last.updates[0].uuid  # the agent's update, sent again, not a reconciliation


# stop(failover=True) leaves the framework and its running task at the master;
# a new driver given the framework id takes it over and reconciliation (explicit
# and implicit) reports the task running.
def test_failover_to_a_new_driver_then_reconcile(cluster):
    def on_update(driver, status):
        if status.state == "TASK_RUNNING":
            driver.stop()  # failover

    first = Recorder(on_offers=launch_when_offered([allot.Task("long", "sleep 60", "cpus:1")]),
                     on_update=on_update)
    driver = allot.SchedulerDriver(first, cluster.address, failover_timeout=60)
    run(driver)
    framework_id = driver.framework_id
    assert framework_id and first.states("long") == ["TASK_STARTING", "TASK_RUNNING"]

    def reconcile(driver, framework_id):
        driver.reconcile_tasks(["long"])
        driver.reconcile_tasks()

    second = Recorder(on_registered=reconcile)
    with started(allot.SchedulerDriver(second, cluster.address, framework_id=framework_id,
                                       failover_timeout=60)) as taken:
        second.wait(lambda s: len(s.updates) >= 2)
        assert taken.framework_id == framework_id and taken.subscribed
        assert second.events[0][:2] == ("registered", framework_id)
        answers = [(u.task_id, u.state, u.uuid) for u in second.updates[:2]]
        assert answers == [("long", "TASK_RUNNING", b"")] * 2
        taken.kill_task("long")
        second.wait(lambda s: "TASK_KILLED" in s.states("long"))
        taken.stop(failover=False)


# Bad resources are refused where the task is made, naming the task and the
# token; so are a task changed afterwards, at its launch, and other bad
# arguments, before anything reaches the master.
def test_bad_arguments_raise_clear_errors():
    with pytest.raises(allot.ParseError, match=r"task 'x': resources: bad resource 'cpus:lots'"):
        allot.Task("x", "true", "cpus:lots;mem:32")
    with pytest.raises(allot.InvalidArgument, match=r"task 'x': resources: resource 'mem' must "
                                                    r"be a finite, non-negative number, not -1"):
        allot.Task("x", "true", {"cpus": 1, "mem": -1})
    with pytest.raises(TypeError, match=r"task 'x': resources: resource 'cpus': the amount must "
                                        r"be a number, got '1'"):
        allot.Task("x", "true", {"cpus": "1"})
    with pytest.raises(allot.InvalidArgument, match="task 'x': resources: these are no resources"):
        allot.Task("x", "true", "")
    with pytest.raises(TypeError, match=r"task 'x': env\['A'\] must be text, got 1"):
        allot.Task("x", "true", "cpus:1", env={"A": 1})
    with pytest.raises(allot.InvalidArgument, match="task 'x': kill_policy.grace_period_seconds"):
        allot.Task("x", "true", "cpus:1", kill_grace=-2)
    with pytest.raises(allot.InvalidArgument, match="exactly one of command, tcp_port"):
        allot.HealthCheck(command="true", tcp_port=80)
    with pytest.raises(allot.InvalidArgument, match="https is for an http_port check"):
        allot.HealthCheck(tcp_port=80, https=True)
    with pytest.raises(allot.InvalidArgument, match="tcp_port must be a port 1-65535, got 0"):
        allot.HealthCheck(tcp_port=0)
    with pytest.raises(allot.InvalidArgument, match="failures must be an int >= 0"):
        allot.HealthCheck(command="true", failures=-1)
    with pytest.raises(allot.InvalidArgument, match="task 'x': health_check.interval"):
        allot.Task("x", "true", "cpus:1", health_check=allot.HealthCheck(command="true",
                                                                         interval=-1))
    with pytest.raises(TypeError, match="health_check must be an allot.HealthCheck"):
        allot.Task("x", "true", "cpus:1", health_check="test -f ok")

    driver = allot.SchedulerDriver(allot.Scheduler(), "127.0.0.1:1")
    task = allot.Task("y", "true", "cpus:1")
    task.resources = "cpus:1;mem:"
    with pytest.raises(allot.ParseError, match="task 'y': resources: bad resource"):
        driver.launch_tasks(["o1"], [task])
    with pytest.raises(TypeError, match="must be allot.Task"):
        driver.launch_tasks(["o1"], [{"task_id": "z"}])
    with pytest.raises(allot.InvalidArgument, match="refuse_seconds must be a non-negative"):
        driver.decline_offer("o1", refuse_seconds=-1)
    with pytest.raises(allot.InvalidArgument, match="reserve: these are no resources"):
        driver.reserve_resources("o1", "")
    with pytest.raises(allot.ParseError, match="unreserve: bad resource"):
        driver.unreserve_resources("o1", "cpus(web):x")
    with pytest.raises(TypeError, match="key must be an int >= 0, got -1"):
        allot.PendingTask(-1, "cpus:1")
    with pytest.raises(allot.ParseError, match="pending task 3: resources: bad resource"):
        allot.PendingTask(3, "cpus:1;mem:")
    with pytest.raises(allot.InvalidArgument, match="pending task 3: count must be an int"):
        allot.PendingTask(3, "cpus:1", count=0)
    with pytest.raises(allot.InvalidArgument, match="pending task 3: waited must be a non-neg"):
        allot.PendingTask(3, "cpus:1", waited=-1)
    with pytest.raises(allot.InvalidArgument, match="pending task 3: a key names one pending"):
        driver.publish_demand([allot.PendingTask(3, "cpus:1"), allot.PendingTask(3, "cpus:2")])
    with pytest.raises(TypeError, match="must be allot.PendingTask"):
        driver.publish_demand([{"key": 1}])
    with pytest.raises(allot.ParseError, match="master address 'nowhere'"):
        allot.SchedulerDriver(allot.Scheduler(), "nowhere")
    with pytest.raises(allot.InvalidArgument, match="role 'a b' is not a role name"):
        allot.SchedulerDriver(allot.Scheduler(), role="a b")
    with pytest.raises(allot.InvalidArgument, match="failover_timeout must be a non-negative"):
        allot.SchedulerDriver(allot.Scheduler(), failover_timeout=float("nan"))
    with pytest.raises(TypeError, match="must be an allot.Scheduler"):
        allot.SchedulerDriver(object())


# Calls from another thread than the driver's are queued onto its loop, in
# order: an offer held by the scheduler is launched from the test's thread, a
# suppression made before the driver ran holds until a revive from the test's
# thread. Once the driver stopped, calls raise.
def test_calls_from_another_thread_are_made_on_the_driver_thread(cluster):
    scheduler = Recorder()
    driver = allot.SchedulerDriver(scheduler, cluster.address)
    driver.suppress_offers()  # before it runs: made when it starts
    with started(driver):
        scheduler.wait(lambda s: any(e[0] == "registered" for e in s.events))
        time.sleep(1)  # 10 allocation rounds
        assert scheduler.offers == []
        driver.revive_offers()
        scheduler.wait(lambda s: s.offers)
        offer = scheduler.offers[0]
        driver.launch_tasks(offer, allot.Task("from-main", "echo queued", "cpus:1;mem:32"))
        scheduler.wait(lambda s: "TASK_FINISHED" in s.states("from-main"))
        assert driver.running and driver.subscribed
    assert not driver.running
    assert cluster.stdout("from-main") == "queued\n"
    with pytest.raises(allot.Error, match="kill_task: the driver has stopped"):
        driver.kill_task("from-main")


# A call queued from another thread after the driver was told to stop is not
# made: run() says so with a RuntimeWarning.
def test_calls_queued_as_the_driver_stops_are_dropped_with_a_warning(cluster):
    def stop_then_call_from_a_thread(driver, framework_id):
        driver.stop()
        other = threading.Thread(target=driver.revive_offers)
        other.start()
        other.join()

    driver = allot.SchedulerDriver(Recorder(on_registered=stop_then_call_from_a_thread),
                                   cluster.address)
    with pytest.warns(RuntimeWarning, match="1 call.* from other threads were dropped"):
        run(driver)


# `with driver:` runs the driver on a thread for the block and stops it (with
# failover) at its end; the framework's fields reach the master.
def test_with_runs_the_driver_for_the_block(cluster):
    scheduler = Recorder()
    driver = allot.SchedulerDriver(scheduler, cluster.address, name="block", weight=2.5,
                                   user="nobody", principal="alice", hostname="here",
                                   failover_timeout=30)
    with driver as same:
        assert same is driver
        scheduler.wait(lambda s: s.events and s.events[0][0] == "registered")
        assert driver.running and driver.subscribed
        assert repr(driver) == f"<allot.SchedulerDriver {driver.framework_id} (running)>"
    assert not driver.running and not driver.subscribed
    [framework] = [f for f in cluster.state()["frameworks"] if f["name"] == "block"]
    assert framework["id"] == driver.framework_id  # failed over: still known
    assert (framework["role"], framework["weight"], framework["user"], framework["principal"],
            framework["hostname"], framework["failover_timeout_us"]) == (
                "*", 2.5, "nobody", "alice", "here", 30_000_000)


# examples/python_framework.py runs its copies to the end and exits 0; SIGINT
# (Ctrl-C) stops it cleanly while a copy runs: it tears the framework down
# (the copy is killed), says so and exits 130.
def test_the_example_framework(cluster, tmp_path):
    env = dict(os.environ)
    run = subprocess.run([sys.executable, EXAMPLE, "--master", cluster.address, "--tasks", "5",
                          "--cpus", "0.5", "--", "echo copy $ALLOT_TASK"],
                         capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 of 5 finished" in run.stdout
    for i in range(5):
        assert f"python-framework-{i} TASK_FINISHED" in run.stdout
        assert cluster.stdout(f"python-framework-{i}") == f"copy {i}\n"

    log = tmp_path / "interrupted.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, EXAMPLE, "--master", cluster.address,
                                 "--name", "sleepy", "--tasks", "1", "--", "sleep 60"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while "sleepy-0 TASK_RUNNING" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=TIMEOUT) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "SIGINT: tore the framework down" in log.read_text()
    assert "Traceback" not in log.read_text()
    def removed():
        return [f for f in cluster.state()["completed_frameworks"] if f["name"] == "sleepy"]
    deadline = time.monotonic() + TIMEOUT
    while not removed() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [f["tasks_killed"] for f in removed()] == [1], cluster.state()["frameworks"]
