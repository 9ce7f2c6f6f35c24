"""allot.Master: the real master, in this process, allocating through a policy
written in Python (examples/fifo_policy.py), with a real agent process and
`allot run` as the framework."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import allot


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))
from fifo_policy import Fifo  # noqa: E402  (examples/ is no package)


class PyFifo(Fifo):
    """The example's fifo, counting its rounds, with a bug after its grants in
    the first `fail_rounds` rounds that grant anything."""

    def __init__(self, fail_rounds=0):
        super().__init__()
        self.rounds = 0
        self.fail_rounds = fail_rounds
        self.granted = False

    def grant_all(self, fw, agent):
        granted = super().grant_all(fw, agent)
        self.granted |= granted
        return granted

    def decide(self, now):
        self.rounds += 1
        self.granted = False
        super().decide(now)
        if self.granted and self.fail_rounds > 0:
            self.fail_rounds -= 1
            raise RuntimeError("pyfifo's bug")


def state(master):
    url = f"http://127.0.0.1:{master.http_port}/api/v1/state"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def run_on(address, allot_cli, tmp_path, *run_args, agent_args=()):
    """Starts an agent (with AGENT_ARGS) on the master at `address`, runs
    `allot run RUN_ARGS` against it and returns the run's CompletedProcess;
    the agent is stopped afterwards."""
    agent = subprocess.Popen([allot_cli, "agent", "--master", address, "--work-dir",
                              tmp_path / "agent", "--resources", "cpus:2;mem:512",
                              "--cgroup-root", "none", *agent_args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return subprocess.run([allot_cli, "run", "--master", address, "--timeout", "30",
                               *run_args], capture_output=True, text=True, timeout=60)
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def test_a_python_policy_allocates_a_real_cluster(allot_cli, tmp_path):
    policy = PyFifo()
    with allot.Master(policy, host="127.0.0.1", port=0, http_port=0,
                      allocation_interval=0.1) as master:
        assert master.running and master.port > 0
        run = run_on(master.address, allot_cli, tmp_path, "--cpus", "0.5", "--mem", "32",
                     "--instances", "6", "--json", "--", "echo $ALLOT_INSTANCE")
        s = state(master)
    assert run.returncode == 0, run.stdout + run.stderr
    finished = [json.loads(line) for line in run.stdout.splitlines()
                if json.loads(line)["state"] == "TASK_FINISHED"]
    assert sorted(u["instance"] for u in finished) == list(range(6))
    assert s["policy"] == "pyfifo" and policy.rounds > 0
    assert not master.running
    with pytest.raises(RuntimeError, match="only inside decide"):
        policy.state  # the master is gone: its host is detached


def test_a_policy_that_raises_loses_no_resources(allot_cli, tmp_path, capfd):
    """The master logs a round whose policy raised (the first of a run of
    them; then at most one a minute) and goes on; what the policy granted
    before it raised is offered again in later rounds, so the task runs once
    the policy stops failing. /metrics counts the failed rounds."""
    policy = PyFifo(fail_rounds=3)
    with allot.Master(policy, host="127.0.0.1", port=0, http_port=0,
                      allocation_interval=0.1) as master:
        run = run_on(master.address, allot_cli, tmp_path, "--cpus", "2", "--mem", "512", "--",
                     "true")
        with urllib.request.urlopen(f"http://127.0.0.1:{master.http_port}/metrics") as r:
            metrics = r.read().decode()
    assert policy.fail_rounds == 0
    assert run.returncode == 0, run.stdout + run.stderr
    assert "allot_master_allocation_rounds_failed_total 3\n" in metrics, metrics
    logged = capfd.readouterr()
    assert (logged.out + logged.err).count("allocation round failed") == 1, logged


def test_a_registered_policy_by_name(allot_cli, tmp_path):
    with allot.Master("drf", host="127.0.0.1", port=0, http_port=0,
                      allocation_interval=0.1) as master:
        run = run_on(master.address, allot_cli, tmp_path, "--cpus", "1", "--mem", "32", "--", "true")
        assert state(master)["policy"] == "drf"
    assert run.returncode == 0, run.stdout + run.stderr


def test_bad_options_are_refused_naming_them(tmp_path):
    with pytest.raises(allot.InvalidArgument, match="allocation_interval must be a positive"):
        allot.Master("drf", port=0, http_port=-1, allocation_interval=0)
    with pytest.raises(allot.Error, match="unknown policy|no policy"):
        allot.Master("nosuch", port=0, http_port=-1)
    with pytest.raises(allot.InvalidArgument, match="curve_clients and curve_allow_any need "
                                                    "curve_key"):
        allot.Master("drf", port=0, http_port=-1, curve_allow_any=True)
    with pytest.raises(allot.InvalidArgument, match="either curve_clients=FILE"):
        allot.Master("drf", port=0, http_port=-1, curve_key=tmp_path / "k")
    with pytest.raises(allot.Error, match="curve_key.*nosuch"):
        allot.Master("drf", port=0, http_port=-1, curve_key=tmp_path / "nosuch",
                     curve_allow_any=True)
    with pytest.raises(allot.InvalidArgument, match="http_tls_cert and http_tls_key go together"):
        allot.Master("drf", port=0, http_port=-1, http_tls_cert=tmp_path / "cert.pem")
    with pytest.raises(allot.InvalidArgument, match="expected zk://"):
        allot.Master("drf", port=5050, http_port=5051, zk="zk://nohostport")
    # Refused before any connection is tried (nothing listens on port 1).
    with pytest.raises(allot.InvalidArgument, match="work_dir.*exclude each other"):
        allot.Master("drf", port=5050, http_port=5051, zk="zk://127.0.0.1:1/allot",
                     work_dir=tmp_path)
    with pytest.raises(allot.InvalidArgument, match="needs fixed ports"):
        allot.Master("drf", port=0, http_port=5051, zk="zk://127.0.0.1:1/allot")


def test_a_zookeeper_that_does_not_answer_is_waited_for_without_the_gil():
    """allot.Master(zk=...) with nothing listening: the constructor raises
    allot.Error naming the URL after the session timeout, and meanwhile other
    Python threads run (the wait does not hold the GIL)."""
    import threading
    outcome = []

    def make():
        try:
            allot.Master("drf", host="127.0.0.1", port=5050, http_port=5051,
                         zk="zk://127.0.0.1:1/allot", zk_session_timeout=1.0)
        except allot.Error as e:
            outcome.append(e)

    thread = threading.Thread(target=make)
    started = time.monotonic()
    thread.start()
    ticks = 0
    while thread.is_alive() and time.monotonic() - started < 30:
        time.sleep(0.01)
        ticks += 1
    thread.join()
    waited = time.monotonic() - started
    assert outcome and "127.0.0.1:1" in str(outcome[0]), outcome
    assert waited >= 0.9 and ticks >= 0.5 * waited / 0.01, (waited, ticks)


def test_a_secured_master_admits_only_the_clients_it_lists(allot_cli, tmp_path):
    """curve_key with curve_clients, and operator_token, as `allot master`
    takes them: an agent and an `allot run` whose keys the clients file lists
    run a task; an `allot run` that does not know the master's key is never
    subscribed; an operator call without the token is refused, with it done."""
    keys = {}
    for name in ("master", "agent", "run"):
        made = subprocess.run([allot_cli, "keygen", tmp_path / f"{name}.key"],
                              capture_output=True, text=True, check=True)
        keys[name] = made.stdout.strip()
    (tmp_path / "clients").write_text(f"{keys['agent']} agent\n{keys['run']} run\n")
    (tmp_path / "token").write_text("s3cret\n")
    with allot.Master("drf", host="127.0.0.1", port=0, http_port=0, allocation_interval=0.1,
                      curve_key=tmp_path / "master.key", curve_clients=tmp_path / "clients",
                      operator_token="s3cret") as master:
        run = run_on(master.address, allot_cli, tmp_path, "--master-key", keys["master"],
                     "--curve-key", tmp_path / "run.key", "--cpus", "1", "--mem", "32", "--",
                     "true", agent_args=("--master-key", keys["master"], "--curve-key",
                                         tmp_path / "agent.key"))
        plain = subprocess.run([allot_cli, "run", "--master", master.address, "--timeout", "3",
                                "--", "true"], capture_output=True, text=True, timeout=30)
        http = f"127.0.0.1:{master.http_port}"
        refused = subprocess.run([allot_cli, "weight", "ops", "2", "--master", http],
                                 capture_output=True, text=True, timeout=30)
        done = subprocess.run([allot_cli, "weight", "ops", "2", "--master", http,
                               "--token-file", tmp_path / "token"],
                              capture_output=True, text=True, timeout=30)
        s = state(master)
    assert run.returncode == 0 and "TASK_FINISHED" in run.stdout, run.stdout + run.stderr
    assert plain.returncode != 0 and "TASK_FINISHED" not in plain.stdout, plain.stdout
    assert refused.returncode != 0 and "401" in refused.stderr, refused.stdout + refused.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["name"]: r["weight"] for r in s["roles"]}.get("ops") == 2, s["roles"]


def test_python_m_allot_master_serves_a_policy_file(allot_cli, tmp_path):
    """`python3 -m allot master --policy FILE.py:CLASS`, as a service: the
    example policy serves an agent and `allot run`; SIGTERM stops it (exit 0).
    The same class in the simulator makes the C++ fifo's schedule."""
    log = tmp_path / "master.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "allot", "master", "--policy",
                                 f"{EXAMPLES}/fifo_policy.py:Fifo", "--host", "127.0.0.1",
                                 "--port", "0", "--http-port", "0", "--allocation-interval", "0.1"],
                                stdout=out, stderr=subprocess.STDOUT, env=os.environ)

    def serving():
        return [line for line in log.read_text().splitlines() if "serving on" in line]
    try:
        deadline = time.monotonic() + 30
        while not serving() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert serving(), log.read_text()
        line = serving()[0]
        port = int(line.split("tcp://127.0.0.1:")[1].split()[0])
        http_port = int(line.split("HTTP port ")[1].split(")")[0])
        run = run_on(f"127.0.0.1:{port}", allot_cli, tmp_path, "--cpus", "1", "--mem", "32",
                     "--", "true")
        assert run.returncode == 0, run.stdout + run.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/state") as r:
            assert json.loads(r.read())["policy"] == "pyfifo"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    trace = allot.load_trace(Path(__file__).resolve().parents[2] /
                             "tests/data/traces/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz")
    py = allot.simulate(trace, Fifo(), stop_at=700000)
    cpp = allot.simulate(trace, "fifo", stop_at=700000)
    assert len(py.tasks) > 0
    assert py.tasks.equals(cpp.tasks)

    bad = subprocess.run([sys.executable, "-m", "allot", "master", "--policy",
                          f"{EXAMPLES}/fifo_policy.py:Nope", "--port", "0", "--http-port", "-1"],
                         capture_output=True, text=True, env=os.environ)
    assert bad.returncode != 0 and "has no allot.Policy subclass 'Nope'" in bad.stderr, bad.stderr


def test_set_log_level_quiets_the_master():
    """allot.set_log_level: at "warning" the master's info lines ("listening
    on ...") are not written; at the default they are; a bad level raises."""
    program = ("import allot, sys\n"
               "if sys.argv[1] != 'default': allot.set_log_level(sys.argv[1])\n"
               "with allot.Master('drf', host='127.0.0.1', port=0, http_port=-1):\n"
               "    pass\n")
    env = dict(os.environ)
    out = {level: subprocess.run([sys.executable, "-c", program, level], capture_output=True,
                                 text=True, timeout=60, env=env)
           for level in ("default", "warning")}
    for level, run in out.items():
        assert run.returncode == 0, (level, run.stdout, run.stderr)
    assert "listening on tcp://127.0.0.1:" in out["default"].stdout + out["default"].stderr
    assert "listening on" not in out["warning"].stdout + out["warning"].stderr, out["warning"]
    with pytest.raises(allot.InvalidArgument, match="log level 'loud'"):
        allot.set_log_level("loud")
