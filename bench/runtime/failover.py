#!/usr/bin/python3
"""Failover time of the runtime master, against a plain master restart.

    /usr/bin/python3 bench/runtime/failover.py BUILD [--agents 10] [--trials 3]
        [--session-timeout 2s]

Starts a real ZooKeeper server (Debian's zookeeper package), two masters with
--zk, N agents and three `allot run` frameworks whose tasks sleep, all on
loopback. Each trial kills the leader with SIGKILL and measures, from the
kill, when the standby answers /health (elected), when every agent is active
there again with its task count (re-registered), and when the three
frameworks are active there (re-subscribed); the killed master is restarted
and stands by for the next trial. The baseline, in the same run: one master
without ZooKeeper (SQLite registry), killed and restarted at once on the same
port, measured the same way. Prints one JSON object per trial and a summary.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    sys.exit(f"failover.py: timed out after {timeout} s waiting for {what}")


def http_json(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


class Bench:
    def __init__(self, build, directory, agents, session_timeout):
        self.allot = os.path.join(build, "cli", "allot")
        self.dir = directory
        self.n_agents = agents
        self.session_timeout = session_timeout
        self.procs = []

    def spawn(self, name, args):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def zookeeper(self):
        port = free_port()
        # ZooKeeper grants session timeouts of 2 to 20 ticks: a tick of a
        # tenth of the one asked for grants it.
        tick = max(100, int(float(self.session_timeout.rstrip("s")) * 100))
        self.spawn("zookeeper", ["java", "-cp", "/usr/share/java/zookeeper.jar",
                                 "org.apache.zookeeper.server.ZooKeeperServerMain", str(port),
                                 os.path.join(self.dir, "zk"), str(tick)])

        def answers():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"srvr")
                    return s.recv(64).startswith(b"Zookeeper")
            except OSError:
                return False
        wait(answers, 60, "ZooKeeper")
        return f"zk://127.0.0.1:{port}/allot-failover"

    def master(self, name, port, http, zk=None):
        args = [self.allot, "master", "--host", "127.0.0.1", "--port", str(port), "--http-port",
                str(http), "--heartbeat-interval", "200ms", "--agent-timeout", "5s",
                "--framework-timeout", "5s", "--log-level", "warn", "--master-id", name]
        if zk:
            args += ["--zk", zk, "--zk-session-timeout", self.session_timeout]
        else:
            args += ["--work-dir", os.path.join(self.dir, name)]
        return self.spawn(name, args)

    def cluster(self, master):
        for i in range(self.n_agents):
            self.spawn(f"agent{i}", [self.allot, "agent", "--master", master, "--id", f"agent{i}",
                                     "--work-dir", os.path.join(self.dir, f"agent{i}"),
                                     "--resources", "cpus:4;mem:4096", "--cgroup-root", "none",
                                     "--log-level", "warn"])
        for i in range(3):
            self.spawn(f"run{i}", [self.allot, "run", "--master", master, "--name", f"sleeper{i}",
                                   "--cpus", "0.5", "--mem", "32", "--", "sleep", "3600"])

    def recovered(self, http, tasks):
        """(elected, agents, frameworks): whether the master on `http`
        answers, has every agent active with the tasks, and the 3
        frameworks active."""
        state = http_json(http, "/api/v1/state")
        if state is None:
            return False, False, False
        active = [a for a in state["agents"] if a["status"] == "active"]
        agents = len(active) == self.n_agents and sum(a["tasks"] for a in active) == tasks
        frameworks = sum(1 for f in state["frameworks"] if f["active"]) == 3
        return True, agents, frameworks

    def measure(self, victim, http):
        t0 = time.monotonic()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        marks = {}
        end = t0 + 120
        while len(marks) < 3 and time.monotonic() < end:
            elected, agents, frameworks = self.recovered(http, 3)
            now = time.monotonic() - t0
            for key, ok in (("elected_s", elected), ("agents_s", agents),
                            ("frameworks_s", frameworks)):
                if ok and key not in marks:
                    marks[key] = round(now, 3)
            time.sleep(0.01)
        if len(marks) < 3:
            sys.exit(f"failover.py: not recovered within 120 s: {marks}; logs in {self.dir}")
        return marks

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="build tree, e.g. build/release")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--session-timeout", default="2s", help="seconds, as 2s or 10s")
    args = parser.parse_args()
    if not shutil.which("java") or not os.path.exists("/usr/share/java/zookeeper.jar"):
        sys.exit("failover.py: needs Debian's zookeeper package (./x test installs it)")

    results = {"failover": [], "restart": []}
    for mode in ("failover", "restart"):
        directory = tempfile.mkdtemp(prefix=f"allot-{mode}-")
        bench = Bench(args.build, directory, args.agents, args.session_timeout)
        try:
            ports = [(free_port(), free_port()), (free_port(), free_port())]
            if mode == "failover":
                zk = bench.zookeeper()
                masters = [bench.master("mA", *ports[0], zk), None]
                wait(lambda: http_json(ports[0][1], "/health"), 30, "mA leading")
                masters[1] = bench.master("mB", *ports[1], zk)
                bench.cluster(zk)
                leader = 0
            else:
                masters = [bench.master("m", *ports[0])]
                bench.cluster(f"127.0.0.1:{ports[0][0]}")
                leader = 0
            wait(lambda: bench.recovered(ports[leader][1], 3) == (True, True, True), 60,
                 "the cluster up with its 3 tasks running")
            for trial in range(args.trials):
                if mode == "failover":
                    standby = 1 - leader
                    marks = bench.measure(masters[leader], ports[standby][1])
                    names = ("mA", "mB")
                    masters[leader] = bench.master(names[leader], *ports[leader], zk)
                    leader = standby
                else:
                    victim = masters[0]
                    t0 = time.monotonic()
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    masters[0] = bench.master("m", *ports[0])
                    marks = {}
                    while len(marks) < 3 and time.monotonic() - t0 < 120:
                        r = bench.recovered(ports[0][1], 3)
                        now = time.monotonic() - t0
                        for key, ok in zip(("elected_s", "agents_s", "frameworks_s"), r):
                            if ok and key not in marks:
                                marks[key] = round(now, 3)
                        time.sleep(0.01)
                row = {"mode": mode, "trial": trial, "agents": args.agents,
                       "session_timeout": args.session_timeout if mode == "failover" else None,
                       **marks}
                print(json.dumps(row), flush=True)
                results[mode].append(row)
                time.sleep(1)  # the restarted master settles (standby, or serving)
        finally:
            bench.close()
    summary = {mode: {key: statistics.median(r[key] for r in rows)
                      for key in ("elected_s", "agents_s", "frameworks_s")}
               for mode, rows in results.items()}
    print(json.dumps({"median": summary}))


if __name__ == "__main__":
    main()
