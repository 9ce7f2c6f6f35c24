#!/usr/bin/python3
"""Registry at scale: N agents written to ZooKeeper (--zk) and recovered by the next leader.

    /usr/bin/python3 bench/runtime/registry_scale.py BUILD [--agents 2000,10000,40000]
        [--allot PATH] [--session-timeout 2s]

For each N: a real ZooKeeper server, a leading master and a standby with
--zk, and `allot-emulator agents` registering N agents (no processes) with
the leader. Reports how long the N registrations took, the leader's registry
writes (count, mean and p99 from its /metrics, failures), then times
`allot-emulator probe` frameworks one after another (each subscription is a
registry write; the probe's latency includes it), then kills the
leader with SIGKILL and reports how many agents the standby holds from the
registry once it leads, and when (from the kill). The baseline, in the same
run: one master with the SQLite registry (--work-dir), the same N, killed and
restarted on its port. `--allot` runs another allot binary (an earlier
version) with the same emulator. Prints one JSON object per run.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failover import Bench, free_port, wait  # noqa: E402


def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def agents_held(port):
    m = metrics(port)
    if m is None:
        return None
    return sum(v for k, v in m.items() if k.startswith("allot_master_agents{"))


def registry_figures(port, log):
    m = metrics(port) or {}
    count = m.get("allot_master_registry_write_seconds_count")
    total = m.get("allot_master_registry_write_seconds_sum")
    with open(log, errors="replace") as f:
        text = f.read()
    return {
        "writes": None if count is None else int(count),
        "write_mean_ms": None if not count else round(1000 * total / count, 2),
        "write_p99_ms": None if count is None
        else round(1000 * m.get('allot_master_registry_write_seconds{quantile="0.99"}', 0), 2),
        # Older binaries have no failure counter: their log says it.
        "write_failures": int(m["allot_master_registry_write_failures_total"])
        if "allot_master_registry_write_failures_total" in m
        else len(re.findall(r"kept in memory; written again", text)),
    }


def run(args, n, mode):
    directory = tempfile.mkdtemp(prefix=f"allot-registry-{mode}-")
    bench = Bench(args.build, directory, 0, args.session_timeout)
    if args.allot:
        bench.allot = args.allot
    emulator = os.path.join(args.build, "bench", "runtime", "allot-emulator")
    try:
        ports = [(free_port(), free_port()), (free_port(), free_port())]
        zk = bench.zookeeper() if mode == "zk" else None
        leader = bench.master("mA", *ports[0], zk)
        wait(lambda: metrics(ports[0][1]), 30, "the first master answering")
        if zk:
            bench.master("mB", *ports[1], zk)
        t0 = time.monotonic()
        bench.spawn("agents", [emulator, "agents", "--master", f"127.0.0.1:{ports[0][0]}",
                               "--count", str(n), "--resources",
                               "cpus:32;mem:262144;disk:1000000;gpus:4"])
        wait(lambda: agents_held(ports[0][1]) == n, 300, f"{n} agents registered")
        registered = time.monotonic() - t0
        time.sleep(2)  # the last batches' writes
        result = {"mode": mode, "agents": n, "registered_s": round(registered, 3)}
        result.update(registry_figures(ports[0][1], os.path.join(directory, "mA.log")))
        # Then single changes, as a running cluster makes them: new
        # frameworks, one after another, each subscribing (a registry write)
        # and running one short task on an agent, timed by the probe.
        before = metrics(ports[0][1]) or {}
        probe = subprocess.run([emulator, "probe", "--master", f"127.0.0.1:{ports[0][0]}",
                                "--repeat", str(args.probes)], capture_output=True, text=True,
                               timeout=600)
        after = metrics(ports[0][1]) or {}
        summary = json.loads(probe.stdout.strip().splitlines()[-1])
        key = "allot_master_registry_write_seconds"
        writes = after.get(key + "_count", 0) - before.get(key + "_count", 0)
        result.update({
            "probe_p50_ms": summary.get("p50_ms"), "probe_max_ms": summary.get("max_ms"),
            "probe_failures": summary.get("failures"), "probe_writes": int(writes),
            "probe_write_mean_ms": round(1000 * (after.get(key + "_sum", 0) - before.get(
                key + "_sum", 0)) / writes, 2) if writes else None,
        })

        t0 = time.monotonic()
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        if mode == "zk":
            port = ports[1][1]
        else:
            bench.master("mA", *ports[0], None)
            port = ports[0][1]
        wait(lambda: agents_held(port) is not None, 120, "the next master answering")
        answered = time.monotonic() - t0
        # It answers once it leads, with the registry loaded.
        held = agents_held(port)
        result.update({"next_answers_s": round(answered, 3), "next_holds": int(held)})
        return result
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"logs in {directory}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="build tree, e.g. build/release")
    parser.add_argument("--agents", default="2000,10000,40000",
                        help="comma-separated agent counts")
    parser.add_argument("--allot", help="the allot binary to run (default: BUILD/cli/allot)")
    parser.add_argument("--session-timeout", default="2s", help="seconds, as 2s or 10s")
    parser.add_argument("--modes", default="zk,sqlite", help="zk, sqlite or both")
    parser.add_argument("--probes", type=int, default=20,
                        help="new frameworks timed after the registrations")
    parser.add_argument("--keep", action="store_true", help="keep the logs")
    args = parser.parse_args()
    if not shutil.which("java") or not os.path.exists("/usr/share/java/zookeeper.jar"):
        sys.exit("registry_scale.py: needs Debian's zookeeper package (./x test installs it)")
    for n in (int(x) for x in args.agents.split(",")):
        for mode in args.modes.split(","):
            print(json.dumps(run(args, n, mode)), flush=True)


if __name__ == "__main__":
    main()
