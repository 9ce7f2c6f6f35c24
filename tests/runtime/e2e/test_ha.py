"""End-to-end tests of high availability: real ZooKeeper (Debian's
`zookeeper` package, started standalone by each test with a 100 ms tick),
real `allot master --zk` processes (one leads, the others stand by binding no
port), agents, `allot run` and allot-test-framework following the leader
through `--master zk://...`, on loopback.

Binaries come from the environment as for test_e2e.py (whose helpers this
file reuses): ALLOT_BIN, ALLOT_TEST_FRAMEWORK, ALLOT_TEST_GARBAGE.

    /usr/bin/python3 -m pytest -v tests/runtime/e2e/test_ha.py
"""

import collections
import http.client
import json
import os
import re
import socket
import time

import pytest

from test_e2e import (AGENT_TIMEOUT, SOURCE, Cluster, Process, check_one_terminal_each,
                      free_port, managed, run_allot, task_processes, wait_for,
                      wait_task_processes)

ZOOKEEPER_JAR = os.environ.get("ALLOT_ZOOKEEPER_JAR", "/usr/share/java/zookeeper.jar")
ZK_PATH = "/allot-test"
# Where `python3 -m allot` is found: BUILD/python (the _allot module) and
# SOURCE/python (the package).
PYTHONPATH = os.environ.get("ALLOT_PYTHONPATH", "")
SESSION = 2.0  # seconds: every master's --zk-session-timeout here


def zookeeper_answers(port):
    """The four-letter command `srvr`: true once ZooKeeper answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        return answer.startswith(b"Zookeeper version")
    except OSError:
        return False


def refuses(port):
    """True when nothing listens on 127.0.0.1:PORT."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class ZooKeeper:
    """A standalone ZooKeeper server (ZooKeeperServerMain PORT DATADIR 100):
    sessions of 0.2 to 2 s are allowed."""

    def __init__(self, directory):
        self.dir = directory
        self.port = free_port()
        self.process = None

    def start(self):
        if not os.path.exists(ZOOKEEPER_JAR):
            pytest.fail(f"no {ZOOKEEPER_JAR}: install Debian's zookeeper package "
                        "(scripts/debian-packages-test.txt)")
        # No admin server: it takes port 8080, which parallel tests would share.
        args = ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-cp", ZOOKEEPER_JAR,
                "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.port),
                os.path.join(self.dir, "zookeeper-data"), "100"]
        self.process = Process("zookeeper", args, self.dir)
        deadline = time.monotonic() + 30
        while not zookeeper_answers(self.port):
            if not self.process.alive() or time.monotonic() > deadline:
                self.process.kill9()
                pytest.fail(f"ZooKeeper on port {self.port} did not answer within 30 s:\n"
                            + self.process.tail())
            time.sleep(0.1)
        return self

    def url(self, path=ZK_PATH):
        return f"zk://127.0.0.1:{self.port}{path}"


class Master:
    """One of several masters behind one ZooKeeper URL: its own ports and
    process."""

    def __init__(self, name, directory):
        self.name = name
        self.port, self.http_port = free_port(), free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.process = None

    def log(self):
        try:
            with open(self.process.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def binds_only_http(self):
        """A standby: no ZeroMQ port; its HTTP port answers (StandbyHttp)."""
        return refuses(self.port) and not refuses(self.http_port)

    def http(self, path, method="GET", body=None):
        """(status, headers, JSON body) without following redirects."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), json.loads(r.read() or b"null")
        finally:
            conn.close()


class HaCluster(Cluster):
    """test_e2e's Cluster with masters behind ZooKeeper: agents and
    frameworks are given the zk:// URL as their master; use(name) points the
    HTTP helpers (healthy, state, wait_agents) at one master."""

    def __init__(self, directory, zookeeper):
        super().__init__(directory)
        self.zookeeper = zookeeper
        self.processes.append(zookeeper.process)  # stopped last, its log in the diagnostics
        self.master_address = zookeeper.url()
        self.masters = {}

    def master_args(self):
        """The base flags with the current master's ports, plus --zk. No
        --work-dir: with --zk the registry lives in ZooKeeper (ZK_PATH/registry),
        where the next leader recovers it, and a --work-dir is refused."""
        m = self.current
        args = super().master_args()
        for flag, value in (("--port", m.port), ("--http-port", m.http_port)):
            args[args.index(flag) + 1] = str(value)
        at = args.index("--work-dir")
        del args[at:at + 2]
        return args + ["--zk", self.zookeeper.url(), "--zk-session-timeout", f"{SESSION:g}s"]

    def python_master_args(self, policy):
        """`python3 -m allot master` with the same settings as master_args,
        serving POLICY (FILE.py:CLASS)."""
        if not PYTHONPATH:
            pytest.fail("set ALLOT_PYTHONPATH to BUILD/python:SOURCE/python (ctest does)")
        m = self.current
        return ["/usr/bin/env", f"PYTHONPATH={PYTHONPATH}", "/usr/bin/python3", "-m", "allot",
                "master", "--policy", policy, "--host", "127.0.0.1", "--port", str(m.port),
                "--http-port", str(m.http_port), "--allocation-interval", "0.1",
                "--offer-timeout", "5", "--agent-timeout", f"{AGENT_TIMEOUT}",
                "--framework-timeout", "2", "--zk", self.zookeeper.url(),
                "--zk-session-timeout", f"{SESSION:g}"]

    def use(self, name):
        self.current = self.masters[name]
        self.port, self.http_port = self.current.port, self.current.http_port
        self.master = self.current.process
        return self.current

    def start_master(self, name="a", python_policy=None):
        """Starts master NAME (again: on the same ports), without
        waiting: it may lead or stand by. With PYTHON_POLICY (FILE.py:CLASS),
        a Python master (`python3 -m allot master`) serving it."""
        if name not in self.masters:
            self.masters[name] = Master(name, self.dir)
        previous = getattr(self, "current", None)
        m = self.use(name)
        self.restarts[f"master-{name}"] += 1
        m.process = self.spawn(f"master-{name}.{self.restarts[f'master-{name}']}",
                               self.python_master_args(python_policy) if python_policy
                               else self.master_args())
        self.use(previous.name if previous is not None else name)
        return m

    def leads(self, name):
        """True once master NAME answers /health."""
        previous = self.current
        try:
            self.use(name)
            return self.healthy()
        finally:
            self.use(previous.name)

    def wait_leads(self, name, timeout):
        wait_for(lambda: self.leads(name), timeout, f"master {name} to lead (/health)", self)

    def wait_standby(self, name, leader=None, timeout=15):
        """Waits until master NAME logs that it stands by (naming LEADER's
        endpoint, when given), then checks it binds no ZeroMQ port and that its
        HTTP port answers /health with 503 and redirects the API (307) to the
        leader."""
        m = self.masters[name]
        want = re.compile("standby" if leader is None
                          else re.escape(self.masters[leader].endpoint) + r"(?!\d)")
        wait_for(lambda: any("standby" in line and want.search(line)
                             for line in m.log().splitlines()),
                 timeout, f"master {name} to log that it stands by"
                 + (f" behind {leader}" if leader else ""), self)
        assert m.process.alive(), self.diagnostics()
        wait_for(m.binds_only_http, 5, f"standby master {name} to serve only HTTP", self)
        status, headers, body = m.http("/health")
        assert status == 503 and body["status"] == "standby", (status, body)
        if leader is not None:
            lead = self.masters[leader]
            assert body["leader"]["http"] == f"127.0.0.1:{lead.http_port}", body
            status, headers, body = m.http("/api/v1/state?x=1")
            assert status == 307, (status, body)
            assert headers["Location"] == f"http://127.0.0.1:{lead.http_port}/api/v1/state?x=1"


@pytest.fixture
def zookeeper(tmp_path):
    zk = ZooKeeper(str(tmp_path)).start()
    yield zk
    zk.process.kill9()


@pytest.fixture
def ha(request, tmp_path, zookeeper):
    yield from managed(request, HaCluster(str(tmp_path), zookeeper))


# ---------------------------------------------------------------------------


def test_failover_to_the_standby_keeps_running_tasks(ha):
    """Masters A and B behind one ZooKeeper path: A, first, leads; B stands by
    binding only its HTTP port, which redirects to A. kill -9 of A while a framework's tasks run on two agents:
    B leads within ~10 s, the agents re-register with it bringing the tasks
    (same processes), the framework re-subscribes with its id, every task
    FINISHES once. A restarted stands by behind B."""
    ha.start_master("a")
    ha.wait_leads("a", 20)
    assert "elected" in ha.masters["a"].log(), ha.masters["a"].log()
    ha.start_master("b")
    ha.wait_standby("b", leader="a")
    assert "elected" not in ha.masters["b"].log()

    ha.use("a")
    for i in range(2):
        ha.start_agent(i)
    agents = [ha.agent_id(i) for i in range(2)]
    ha.wait_agents(agents, timeout=20)
    fw = ha.framework("failover", tasks=4, command="sleep 10", cpus=1.5, mem=32,
                      reconcile_interval=0.5, timeout=120).start()
    fw.wait_running(4, timeout=30)
    framework_id = open(fw.id_file).read().strip()
    pids = wait_task_processes(ha, ha.dir, "sleep 10", 4)
    placed = {e["agent_id"] for e in fw.events() if e["event"] == "launch"}
    # Operator settings go to the registry in ZooKeeper with the rest.
    for args in (("reserve", agents[0], "mem(ops):64"), ("weight", "ops", "4")):
        done = run_allot(*args, "--master", ha.zookeeper.url())
        assert done.returncode == 0, done.stdout + done.stderr

    ha.masters["a"].process.kill9()
    killed_at = time.monotonic()
    ha.wait_leads("b", 12)
    took = time.monotonic() - killed_at
    # A's session ends a session timeout after A's last ping, which may come
    # up to a third of it before the kill: B cannot lead sooner.
    assert took >= SESSION * 2 / 3 - 0.2, \
        f"B led {took:.1f} s after A's death, before A's session could have ended"
    assert "elected" in ha.masters["b"].log()
    # B took over A's registry from ZooKeeper (not a file of its own).
    wait_for(lambda: "holds 2 agents, 1 frameworks and 1 configured roles" in
             ha.masters["b"].log(), 5,
             "B to load A's registry (2 agents, 1 framework, 1 role) from ZooKeeper", ha)
    assert "registry zk://" in ha.masters["b"].log()

    ha.use("b")
    ha.wait_agents(agents, timeout=15)
    wait_for(lambda: sum(1 for t in ha.state()["tasks"] if t["state"] == "TASK_RUNNING") == 4,
             10, "B to list the 4 tasks RUNNING (re-registered by the agents)", ha)
    state = ha.state()
    assert {t["agent_id"] for t in state["tasks"]} == placed, state["tasks"]
    assert sorted(task_processes(ha.dir, "sleep 10")) == sorted(pids), \
        "the tasks' processes did not survive the failover"
    reserved = {a["id"]: a["reserved"] for a in state["agents"]}
    assert reserved == {agents[0]: "mem(ops):64", agents[1]: ""}, reserved
    assert {r["name"]: r["weight"] for r in state["roles"]}.get("ops") == 4, state["roles"]

    assert fw.wait_exit(90) == 0, ha.diagnostics()
    final = check_one_terminal_each(fw, 4)
    assert collections.Counter(final.values()) == {"TASK_FINISHED": 4}, final
    subs = [e for e in fw.events() if e["event"] == "subscribed"]
    assert len(subs) >= 2 and subs[-1]["again"], f"the framework did not subscribe again: {subs}"
    assert {s["framework_id"] for s in subs} == {framework_id}, subs
    assert subs[0]["master_id"] != subs[-1]["master_id"], "the master id did not change"
    assert all(ha.agents[i].alive() for i in range(2)), ha.diagnostics()

    # A, back, stands by behind B, which keeps leading.
    ha.start_master("a")
    ha.wait_standby("a", leader="b")
    assert ha.leads("b")
    assert ha.masters["a"].binds_only_http()
    # A standby stops at once on SIGTERM, cleanly.
    ha.masters["a"].process.stop(timeout=5)
    assert ha.masters["a"].process.popen.returncode == 0, ha.masters["a"].process.tail()
    assert ha.leads("b") and ha.masters["b"].process.alive()


def test_a_master_serving_a_python_policy_takes_over_through_zookeeper(ha):
    """`python3 -m allot master --zk` serving examples/fifo_policy.py stands by
    behind a C++ `allot master` (its HTTP port redirecting to it). kill -9 of
    the leader: the Python master leads, recovers the registry from ZooKeeper,
    the agent re-registers with its running task (same process), and the
    Python policy's offers run a new `allot run`. SIGTERM stops it with 0."""
    policy = os.path.join(SOURCE, "examples", "fifo_policy.py") + ":Fifo"
    ha.start_master("a")
    ha.wait_leads("a", 20)
    ha.start_master("py", python_policy=policy)
    ha.wait_standby("py", leader="a")
    py = ha.masters["py"]
    assert "standing by in ZooKeeper" in py.log(), py.log()

    ha.use("a")
    ha.start_agent(0)
    agent = ha.agent_id(0)
    ha.wait_agents([agent], timeout=20)
    assert ha.state()["policy"] == "drf"
    fw = ha.framework("long", tasks=1, command="sleep 20", cpus=1, mem=32,
                      reconcile_interval=0.5, timeout=120).start()
    fw.wait_running(1, timeout=30)
    pids = wait_task_processes(ha, ha.dir, "sleep 20", 1)

    ha.masters["a"].process.kill9()
    ha.wait_leads("py", 15)
    wait_for(lambda: "holds 1 agents, 1 frameworks" in py.log(), 5,
             "the Python master to load the registry (1 agent, 1 framework) from ZooKeeper", ha)
    assert "elected" in py.log() and "registry zk://" in py.log(), py.log()
    ha.use("py")
    ha.wait_agents([agent], timeout=15)
    assert ha.state()["policy"] == "pyfifo"
    wait_for(lambda: [t["state"] for t in ha.state()["tasks"]] == ["TASK_RUNNING"], 10,
             "the Python master to list the task RUNNING (re-registered by the agent)", ha)
    assert task_processes(ha.dir, "sleep 20") == pids, "the task's process did not survive"

    r = run_allot("run", "--master", ha.zookeeper.url(), "--cpus", "0.5", "--mem", "32",
                  "--timeout", "30", "--", "true", timeout=60)
    assert r.returncode == 0 and "TASK_FINISHED" in r.stdout, r.stdout + r.stderr
    assert fw.wait_exit(60) == 0, ha.diagnostics()
    assert collections.Counter(check_one_terminal_each(fw, 1).values()) == {"TASK_FINISHED": 1}

    py.process.stop(timeout=10)
    assert py.process.popen.returncode == 0, py.process.tail()


def test_allot_run_through_zookeeper(ha):
    """`allot run --master zk://...` finds the leading master and runs a
    command; `allot agents --master zk://...` reads the leader's HTTP API,
    and says so when no master leads."""
    none = run_allot("agents", "--master", ha.zookeeper.url())
    assert none.returncode != 0 and "no master leads" in none.stderr, none.stdout + none.stderr
    ha.start_master("a")
    ha.wait_leads("a", 20)
    ha.start_agent(0)
    ha.wait_agents([ha.agent_id(0)], timeout=20)
    r = run_allot("run", "--master", ha.zookeeper.url(), "--cpus", "0.5", "--mem", "32",
                  "--timeout", "30", "--", "true", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TASK_FINISHED" in r.stdout, r.stdout + r.stderr
    listed = run_allot("agents", "--master", ha.zookeeper.url(), "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)] == [ha.agent_id(0)], listed.stdout
    # Through a standby: reads and operator calls are redirected to the leader.
    ha.start_master("b")
    ha.wait_standby("b", leader="a")
    standby = f"127.0.0.1:{ha.masters['b'].http_port}"
    listed = run_allot("agents", "--master", standby, "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)] == [ha.agent_id(0)], listed.stdout
    weighted = run_allot("weight", "ops", "3", "--master", standby)
    assert weighted.returncode == 0, weighted.stdout + weighted.stderr
    ha.use("a")
    assert {r["name"]: r["weight"] for r in ha.state()["roles"]}.get("ops") == 3


def test_allot_master_refuses_a_bad_zk_url_and_an_unreachable_zookeeper():
    """A malformed --zk is refused naming the flag and the URL; a ZooKeeper
    that does not answer ends the master within about its session timeout,
    saying so and naming the URL. Neither binds a port."""
    def master(*flags):
        port, http_port = free_port(), free_port()
        started = time.monotonic()
        r = run_allot("master", "--host", "127.0.0.1", "--port", str(port), "--http-port",
                      str(http_port), *flags, timeout=30)
        return r, time.monotonic() - started, (port, http_port)

    r, _, _ = master("--zk", "zk://nohostport")
    out = r.stdout + r.stderr
    assert r.returncode not in (0, 124), (r.returncode, out)
    assert "--zk" in out and "zk://nohostport" in out, out

    url = f"zk://127.0.0.1:{free_port()}/x"
    r, took, ports = master("--zk", url, "--zk-session-timeout", "1s")
    out = r.stdout + r.stderr
    assert r.returncode not in (0, 124), (r.returncode, out)
    assert url in out, out
    assert re.search(r"ZooKeeper.*(no connection|not reach|unreachable|is it running)", out), out
    assert took < 10, f"gave up only after {took:.1f} s with a 1 s session timeout: {out}"
    assert "listening on" not in out, out


def test_master_that_loses_zookeeper_exits_saying_it_lost_leadership(ha):
    """kill -9 of ZooKeeper under a leading master (session timeout 2 s): the
    master cannot know whether another leads, so it exits 1 within ~15 s,
    not before its session could have ended, saying it lost leadership."""
    m = ha.start_master("a")
    ha.wait_leads("a", 20)
    ha.zookeeper.process.kill9()
    killed_at = time.monotonic()
    status = m.process.wait(15)
    took = time.monotonic() - killed_at
    assert status is not None, "the master still runs 15 s after ZooKeeper's death\n" + m.log()
    assert status == 1, (status, m.process.tail())
    assert took >= SESSION - 0.5, f"exited {took:.1f} s after ZooKeeper's death: too early"
    assert "lost leadership" in m.log(), m.process.tail()


def test_masters_with_zookeeper_credentials_keep_others_out(ha, tmp_path):
    """Masters given USER:PASSWORD (here through a file:// URL, out of `ps`)
    protect the path: agents and `allot agents` without credentials follow
    the leader, a master without them or with others cannot stand, and no
    log shows the password."""
    secret = tmp_path / "zk-url"
    secret.write_text(ha.zookeeper.url().replace("zk://", "zk://ops:s3cret-pw@") + "\n")
    secret.chmod(0o600)
    base = HaCluster.master_args

    def with_credentials(self):
        args = base(self)
        args[args.index("--zk") + 1] = f"file://{secret}"
        return args

    ha.master_args = with_credentials.__get__(ha)
    ha.start_master("a")
    ha.wait_leads("a", 20)
    ha.use("a")
    ha.start_agent(0)  # --master zk://... without credentials
    ha.wait_agents([ha.agent_id(0)], timeout=20)
    listed = run_allot("agents", "--master", ha.zookeeper.url(), "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr

    for url in (ha.zookeeper.url(), ha.zookeeper.url().replace("zk://", "zk://ops:guess@")):
        intruder = run_allot("master", "--zk", url, "--host", "127.0.0.1", "--port",
                             str(free_port()), "--http-port", str(free_port()),
                             "--zk-session-timeout", f"{SESSION:g}s", timeout=30)
        assert intruder.returncode != 0, intruder.stdout + intruder.stderr
        assert "protected by other ZooKeeper credentials" in intruder.stderr, intruder.stderr
        assert "guess" not in intruder.stderr
    assert ha.leads("a")
    logs = ha.masters["a"].log() + "".join(p.tail(200) for p in ha.processes)
    assert "s3cret-pw" not in logs, "a log shows the password"
