"""Frameworks written in Python: the scheduler side of two-level scheduling, as Mesos'
Python bindings (``mesos.interface.Scheduler`` and ``MesosSchedulerDriver``) offered.

    class Echo(allot.Scheduler):
        def resource_offers(self, driver, offers):
            for offer in offers:
                driver.launch_tasks([offer], [allot.Task("t1", "echo hi", "cpus:0.1;mem:32")])
                driver.suppress_offers()

        def status_update(self, driver, status):
            if status.terminal:
                driver.stop(failover=False)

    allot.SchedulerDriver(Echo(), "127.0.0.1:5050", name="echo").run()
"""

import dataclasses
import os
import socket
import sys
import warnings

import _allot

from ._serving import Background, signals_stop


@dataclasses.dataclass(frozen=True)
class Offer:
    """Resources of one agent offered to the framework until it answers (launch_tasks
    or decline_offer) or the master rescinds them.

    ``resources`` maps each scalar (``cpus``, ``mem`` in MB, ``disk`` in MB, ``gpus``,
    any other name) to its amount over all the offer's pools (unreserved and reserved
    for the framework's role); ``resources_text`` is the whole offer in the Mesos text
    syntax (``"cpus:2;mem:1024;ports:[31000-32000]"``, reservations as
    ``cpus(role):1``); ``ranges`` maps each range resource (``ports``) to its
    ``(first, last)`` intervals. ``task_key`` is set when the policy sized the offer
    to a task of the framework's published demand."""

    id: str
    agent_id: str
    hostname: str
    resources: dict
    resources_text: str
    ranges: dict = dataclasses.field(default_factory=dict)
    attributes: dict = dataclasses.field(default_factory=dict)
    framework_id: str = ""
    task_key: int = None

    def __hash__(self):  # the dicts are not hashable; the id is unique
        return hash(self.id)


@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """A task's status. ``state`` is a name such as ``"TASK_RUNNING"`` (TASK_STAGING,
    TASK_STARTING, TASK_RUNNING, TASK_FINISHED, TASK_FAILED, TASK_KILLED, TASK_LOST,
    TASK_ERROR, TASK_UNREACHABLE, TASK_GONE); ``terminal`` says whether the task has
    ended. ``message`` is for a person, ``reason`` for a program (``"MEMORY_LIMIT"``);
    ``exit_status`` is the raw wait status of an ended task; ``timestamp`` is in seconds
    since the epoch; ``healthy`` is None for a task without a health check. ``uuid``
    is empty in the answers to ``reconcile_tasks``."""

    task_id: str
    state: str
    message: str = ""
    reason: str = ""
    agent_id: str = ""
    framework_id: str = ""
    exit_status: int = 0
    timestamp: float = 0.0
    healthy: bool = None
    uuid: bytes = b""
    terminal: bool = False


@dataclasses.dataclass
class HealthCheck:
    """Mesos' health check of a task, run by its executor on the agent: healthy while
    ``command`` (a shell command, in the task's sandbox, as its user) exits 0, while
    127.0.0.1:``tcp_port`` accepts a connection, or while GET ``path`` on
    127.0.0.1:``http_port`` (``https``: over TLS, not verified) answers 2xx or 3xx:
    exactly one of the three. The first check comes ``delay`` seconds after the launch
    (default 15), the next ``interval`` after each (10), each may take ``timeout``
    (20); failures in the first ``grace`` seconds (10) do not count until a check
    passes; ``failures`` failed checks in a row kill the task (3; 0: never) with
    reason ``TASK_UNHEALTHY_CHECK``. Each change of health reaches the scheduler as a
    ``TaskStatus`` whose ``healthy`` is set."""

    command: str = None
    tcp_port: int = None
    http_port: int = None
    path: str = "/"
    https: bool = False
    delay: float = None
    interval: float = None
    timeout: float = None
    grace: float = None
    failures: int = None

    def __post_init__(self):
        kinds = sum(x is not None for x in (self.command, self.tcp_port, self.http_port))
        if kinds != 1:
            raise _allot.InvalidArgument(
                "a health check has exactly one of command, tcp_port and http_port")
        if self.https and self.http_port is None:
            raise _allot.InvalidArgument("https is for an http_port check")
        for name in ("tcp_port", "http_port"):
            port = getattr(self, name)
            if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                                     or not 1 <= port <= 65535):
                raise _allot.InvalidArgument(f"{name} must be a port 1-65535, got {port!r}")
        if self.failures is not None and (not isinstance(self.failures, int)
                                          or isinstance(self.failures, bool)
                                          or self.failures < 0):
            raise _allot.InvalidArgument(
                f"failures must be an int >= 0 (0: never kill), got {self.failures!r}")


@dataclasses.dataclass
class Task:
    """A command task to launch: ``command`` runs under ``/bin/sh -c`` in the task's
    sandbox on the agent (its output in the sandbox's ``stdout`` and ``stderr``), with
    ``env`` added to its environment. ``resources`` are Mesos text (``"cpus:1;mem:128"``)
    or a dict of scalars (``{"cpus": 1, "mem": 128}``), checked when the task is made
    and again at its launch: bad ones raise ``allot.ParseError`` or
    ``allot.InvalidArgument`` naming the task. ``name`` defaults to ``task_id``;
    ``agent_id`` to the agent of the offers it is launched on. ``kill_grace`` is the
    time in seconds between SIGTERM and SIGKILL when the task is killed (None: the
    master's). ``health_check`` is a ``HealthCheck``. Which user runs it is the
    framework's (``SchedulerDriver(user=...)``)."""

    task_id: str
    command: str
    resources: object
    name: str = ""
    env: dict = dataclasses.field(default_factory=dict)
    agent_id: str = ""
    kill_grace: float = None
    health_check: HealthCheck = None

    def __post_init__(self):
        if self.health_check is not None and not isinstance(self.health_check, HealthCheck):
            raise TypeError(f"health_check must be an allot.HealthCheck, got "
                            f"{self.health_check!r}")
        _allot.check_task(self)


@dataclasses.dataclass
class PendingTask:
    """Work the framework waits to run, for ``SchedulerDriver.publish_demand``:
    ``count`` instances of ``resources`` (text or a dict of scalars) under the
    framework's ``key`` (an int >= 0, one per pending task). With ``gang`` the
    instances start together or not at all; with ``spread`` at most one runs on each
    agent. ``waited`` is how long it has waited and ``estimate`` its expected run time,
    in seconds (0: unknown). A policy that places tasks (``easy``, ``tetris``, ...) then
    offers resources sized to one of them and names its key in ``Offer.task_key``.
    Checked when made: bad fields raise naming the key."""

    key: int
    resources: object
    count: int = 1
    gang: bool = False
    spread: bool = False
    waited: float = 0.0
    estimate: float = 0.0

    def __post_init__(self):
        _allot.check_pending_task(self)


class Scheduler:
    """A framework's scheduler: subclass it and override the callbacks it needs. The
    driver calls them on its loop thread, one at a time; they may call the driver's
    methods. Each has a default that does nothing, except ``resource_offers``, which
    declines the offers (an offer left unanswered holds its resources until the master
    rescinds it).

    An exception a callback raises ends ``run()`` with that exception (as the C++
    driver does): ``run()`` raises it, or ``join()``/``stop()`` after ``start()``. The
    framework is left as by ``stop(failover=True)``; a status update whose callback
    raised is not acknowledged, so the agent sends it again to the framework's next
    driver."""

    def registered(self, driver, framework_id, master_id):
        """The first subscription of this driver: ``framework_id`` is new, or the one the
        driver was given to take over."""

    def reregistered(self, driver, master_id):
        """A later subscription (the master restarted, or the driver subscribed again
        after silence); offers received before are void."""

    def disconnected(self, driver):
        """The master is lost; the driver is subscribing again."""

    def resource_offers(self, driver, offers):
        """New offers (a list of ``Offer``): launch tasks on them or decline them."""
        for offer in offers:
            driver.decline_offer(offer)

    def offer_rescinded(self, driver, offer_id):
        """An offer is void: launches on it end TASK_LOST."""

    def status_update(self, driver, status):
        """A ``TaskStatus``. The driver acknowledges it when this returns."""

    def error(self, driver, message):
        """The master refused a message (``message`` names its code and what was wrong).
        After ``FRAMEWORK_REMOVED`` the framework is gone for good (``driver.removed``)
        and the scheduler should stop the driver."""


class _Callbacks:
    """What the C++ driver calls: plain values in, allot objects out to the scheduler."""

    def __init__(self, scheduler, driver):
        self.scheduler = scheduler
        self.driver = driver

    def registered(self, framework_id, master_id):
        self.scheduler.registered(self.driver, framework_id, master_id)

    def reregistered(self, master_id):
        self.scheduler.reregistered(self.driver, master_id)

    def disconnected(self):
        self.scheduler.disconnected(self.driver)

    def resource_offers(self, offers):
        self.scheduler.resource_offers(self.driver, [Offer(**o) for o in offers])

    def offer_rescinded(self, offer_id):
        self.scheduler.offer_rescinded(self.driver, offer_id)

    def status_update(self, status):
        self.scheduler.status_update(self.driver, TaskStatus(**status))

    def error(self, message):
        self.scheduler.error(self.driver, message)


def _offer_id(offer):
    return offer.id if isinstance(offer, Offer) else offer


def _refuse(refuse_seconds):
    if refuse_seconds is None:
        return None
    if isinstance(refuse_seconds, bool) or not isinstance(refuse_seconds, (int, float)):
        raise TypeError(f"refuse_seconds must be a number of seconds, got {refuse_seconds!r}")
    return float(refuse_seconds)


class SchedulerDriver:
    """Connects a ``Scheduler`` to a master (``"HOST:PORT"``, ``"tcp://HOST:PORT"`` or
    ``"zk://HOST:PORT[,...]/PATH"``) as one framework, through the C++ driver
    (``runtime::SchedulerDriver``): subscription, heartbeats, re-subscription after a
    master restart, and acknowledgement of each status update after ``status_update``
    returns (each update is delivered once).

    The framework is ``name`` (default: the program's name) in ``role`` with
    ``weight``; its tasks run as ``user`` on agents running as root (default: the
    agent's ``--task-user``); ``principal`` is what it claims for the master's ACLs.
    ``framework_id`` takes over that framework (failover: its tasks are kept,
    ``reconcile_tasks`` tells their state); ``failover_timeout`` is how long, in
    seconds, the master keeps the framework and its tasks once its driver is gone (0:
    removed as soon as the master finds it gone). With CURVE, ``master_key`` is the
    master's public key (or the file holding it) and ``key_file`` this framework's key
    pair file (``allot keygen``). ``master_timeout`` is how long, in seconds, the master
    may be silent before the driver takes it for lost (``disconnected``) and subscribes
    again (default: five of the master's heartbeat intervals, at least 2 s);
    ``zk_session_timeout`` the ZooKeeper session's with a ``zk://`` master.

    ``run()`` runs the driver on the calling thread until ``stop()``; ``start()`` on a
    thread of its own; ``with allot.SchedulerDriver(...) as driver:`` starts it and
    stops it (with failover) at the end of the block. A driver runs once.

    Threads: callbacks run on the driver's thread, where the methods act at once.
    Methods called from another thread, or before the driver runs, are queued and made
    on the driver's thread in their order, at its next turn; they return None at once.
    Calls still queued when the driver stops are dropped (with a ``RuntimeWarning``);
    calls after it stopped raise ``allot.Error``.
    """

    def __init__(self, scheduler, master="127.0.0.1:5050", *, name=None, role="*",
                 weight=1.0, user="", principal="", hostname=None, framework_id=None,
                 failover_timeout=0.0, master_key=None, key_file=None, master_timeout=None,
                 zk_session_timeout=10.0):
        if not isinstance(scheduler, Scheduler):
            raise TypeError(f"scheduler must be an allot.Scheduler, got {scheduler!r}")
        if name is None:
            name = os.path.basename(sys.argv[0] or "") or "python"
        self._scheduler = scheduler
        self._driver = _allot.SchedulerDriver(
            master, name, role, float(weight), user, principal,
            hostname if hostname is not None else socket.gethostname(), framework_id or "",
            float(failover_timeout), str(master_key or ""), str(key_file or ""),
            None if master_timeout is None else float(master_timeout),
            float(zk_session_timeout))
        self._thread = None

    # --- Running ---

    def run(self, *, teardown_on_signal=False):
        """Runs the driver on this thread until ``stop()`` (from a callback or another
        thread); raises what a callback raised. In the main thread, Ctrl-C and SIGTERM
        stop it as ``stop()`` does (``stop(failover=False)`` with
        ``teardown_on_signal``), after the callback running then, if any, has returned.
        Returns the signal that stopped it (``signal.SIGINT``, ``signal.SIGTERM``), or
        None."""
        stopped_by = []

        def stop(number):
            stopped_by.append(number)
            self._driver.stop(not teardown_on_signal)

        with signals_stop(stop) as installed:
            self._run(check_signals=installed)
        return stopped_by[0] if stopped_by else None

    def _run(self, check_signals):
        self._driver.run(_Callbacks(self._scheduler, self), check_signals)
        dropped = self._driver.dropped_calls
        if dropped:
            warnings.warn(f"{dropped} call(s) made from other threads were dropped: the "
                          "driver stopped before it made them", RuntimeWarning, stacklevel=3)

    def start(self):
        """Runs the driver on a new thread; returns at once (self)."""
        if self._thread is not None:
            raise RuntimeError("this driver has been started already")
        self._thread = Background("allot-driver", lambda: self._run(check_signals=False),
                                  lambda: self._driver.stop(True))
        return self

    def stop(self, failover=True, timeout=None):
        """Stops the driver. With ``failover`` the framework stays registered at the
        master for its ``failover_timeout`` (its tasks run on; a new driver with its
        ``framework_id`` takes it over); without, it is torn down and its tasks killed.
        From a callback, the driver stops when the callback returns. After ``start()``,
        and not from a callback, waits for the driver's thread as ``join(timeout)``
        does: returns whether it stopped, and raises what a callback raised."""
        self._driver.stop(bool(failover))
        if self._thread is not None and not self._driver.on_loop_thread:
            return self.join(timeout)
        return True

    def join(self, timeout=None):
        """After ``start()``: waits for the driver to stop (at most ``timeout`` seconds;
        returns whether it did) and raises what a callback raised."""
        if self._thread is None:
            raise RuntimeError("join() waits for a driver start() ran")
        if self._driver.on_loop_thread:
            raise RuntimeError("join() from a callback would wait for itself")
        return self._thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # --- Calls to the master ---

    def launch_tasks(self, offer_ids, tasks, refuse_seconds=None):
        """Launches ``tasks`` (``Task``s) on the offers ``offer_ids`` (ids or ``Offer``s,
        or one of either), all of one agent. What the tasks do not use goes back to the
        master, refused to this framework for ``refuse_seconds`` (None: the master's
        default, 5 s). When the driver is not subscribed, each task gets TASK_LOST."""
        if isinstance(offer_ids, (str, Offer)):
            offer_ids = [offer_ids]
        if isinstance(tasks, Task):
            tasks = [tasks]
        tasks = list(tasks)
        for task in tasks:
            if not isinstance(task, Task):
                raise TypeError(f"tasks must be allot.Task objects, got {task!r}")
        self._driver.launch_tasks([_offer_id(o) for o in offer_ids], tasks,
                                  _refuse(refuse_seconds))

    def decline_offer(self, offer_id, refuse_seconds=None):
        """Gives the offer (an id or an ``Offer``) back, refused to this framework for
        ``refuse_seconds`` (None: the master's default, 5 s)."""
        self._driver.decline_offer(_offer_id(offer_id), _refuse(refuse_seconds))

    def suppress_offers(self):
        """No more offers until ``revive_offers()`` (kept across re-subscriptions)."""
        self._driver.suppress_offers()

    def revive_offers(self):
        """Offers again, and clears the framework's decline filters."""
        self._driver.revive_offers()

    def reserve_resources(self, offer_ids, resources, refuse_seconds=None):
        """Reserves part of the offers ``offer_ids`` (ids or ``Offer``s, all of one agent)
        for the framework's role: ``resources`` name the role, as
        ``"cpus(web):1;mem(web):256"``. The reserved resources come back in a later offer
        (as ``cpus(web):1`` in ``resources_text``); the rest of the offers is declined
        for ``refuse_seconds``. The master refuses (``error``) another role's, or more
        than the offers hold."""
        self._reserve(offer_ids, resources, refuse_seconds, unreserve=False)

    def unreserve_resources(self, offer_ids, resources, refuse_seconds=None):
        """Gives back to the unreserved pool resources this role reserved, from the
        offers holding them (as ``reserve_resources``)."""
        self._reserve(offer_ids, resources, refuse_seconds, unreserve=True)

    def _reserve(self, offer_ids, resources, refuse_seconds, unreserve):
        if isinstance(offer_ids, (str, Offer)):
            offer_ids = [offer_ids]
        self._driver.reserve_resources([_offer_id(o) for o in offer_ids], resources,
                                       _refuse(refuse_seconds), unreserve)

    def publish_demand(self, tasks):
        """Tells the master the framework's pending work (``PendingTask``s, in its
        queue order), replacing what it published before; an empty list: nothing
        pending. Sent again on each re-subscription."""
        tasks = list(tasks)
        for task in tasks:
            if not isinstance(task, PendingTask):
                raise TypeError(f"tasks must be allot.PendingTask objects, got {task!r}")
        self._driver.publish_demand(tasks)

    def kill_task(self, task_id, agent_id=""):
        """Kills the task: a TASK_KILLED update follows (TASK_LOST for a task the
        master does not know)."""
        self._driver.kill_task(task_id, agent_id)

    def reconcile_tasks(self, tasks=()):
        """Asks the master for the state of ``tasks`` (task ids, ``(task_id,
        agent_id)`` pairs or ``TaskStatus``es), or of all the framework's tasks when
        empty. The answers come as ``status_update`` calls with an empty ``uuid``."""
        pairs = []
        for task in tasks:
            if isinstance(task, str):
                pairs.append((task, ""))
            elif isinstance(task, TaskStatus):
                pairs.append((task.task_id, task.agent_id))
            else:
                task_id, agent_id = task
                pairs.append((task_id, agent_id))
        self._driver.reconcile_tasks(pairs)

    # --- State, as of the latest callback ---

    @property
    def framework_id(self):
        """The framework's id ("" until the first subscription of a new framework)."""
        return self._driver.framework_id

    @property
    def master_id(self):
        return self._driver.master_id

    @property
    def subscribed(self):
        return self._driver.subscribed

    @property
    def removed(self):
        """The master removed the framework (torn down, or its failover timeout passed)."""
        return self._driver.removed

    @property
    def running(self):
        return self._driver.phase == "running"

    def __repr__(self):
        return (f"<allot.SchedulerDriver {self.framework_id or 'unsubscribed'} "
                f"({self._driver.phase})>")
