#!/usr/bin/python3
"""What collecting old sandboxes costs an agent, against `rm -rf` of the same tree.

    /usr/bin/python3 bench/runtime/sandbox_gc.py [BUILD] [N]

Makes a work directory holding N (default 100,000) sandboxes of tasks no
agent knows (frameworks/fw-K/tasks/tI/ with a 100-byte stdout, 100 frameworks),
then times, with `allot master` and `allot agent` (BUILD, default
build/release) on loopback:
  - the agent's start on that work directory until the master lists it
    (its one full scan, which queues the sandboxes by age), against the same
    on an empty work directory (baseline);
  - with --gc-disk-headroom 1 (every finished sandbox is due at once): from
    the start until no sandbox, framework directory or trash is left, with
    the agent's CPU time; against `rm -rf` of an identical tree (baseline).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

from failover import Bench, free_port, http_json, wait
from logs_read import cpu_seconds

HERE = os.path.dirname(os.path.abspath(__file__))


def make_sandboxes(work, n):
    for k in range(100):
        os.makedirs(os.path.join(work, "frameworks", f"fw-{k}", "tasks"))
    payload = b"x" * 99 + b"\n"
    for i in range(n):
        sandbox = os.path.join(work, "frameworks", f"fw-{i % 100}", "tasks", f"t{i}")
        os.mkdir(sandbox)
        with open(os.path.join(sandbox, "stdout"), "wb") as f:
            f.write(payload)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "release")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    directory = tempfile.mkdtemp(prefix="allot-sandbox-gc-")
    bench = Bench(build, directory, 0, "2s")
    try:
        t0 = time.monotonic()
        make_sandboxes(os.path.join(directory, "copy"), n)
        made = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run(["rm", "-rf", os.path.join(directory, "copy")], check=True)
        rm_seconds = time.monotonic() - t0
        make_sandboxes(os.path.join(directory, "agent"), n)

        port, http = free_port(), free_port()
        bench.master("m", port, http)
        wait(lambda: http_json(http, "/api/v1/state") is not None, 30, "the master answering")

        def start(name, work, extra):
            t = time.monotonic()
            agent = bench.spawn(name, [bench.allot, "agent", "--master", f"127.0.0.1:{port}",
                                       "--id", name, "--work-dir", work, "--resources",
                                       "cpus:2;mem:1024", "--cgroup-root", "none",
                                       "--log-level", "warn"] + extra)
            wait(lambda: any(a["id"] == name and a["status"] == "active"
                             for a in (http_json(http, "/api/v1/state") or {}).get("agents", [])),
                 120, f"{name} registered")
            return agent, time.monotonic() - t

        _, empty_start = start("empty", os.path.join(directory, "empty"), [])
        work = os.path.join(directory, "agent")
        agent, full_start = start("full", work, ["--gc-disk-headroom", "1",
                                                 "--disk-watch-interval", "0.1s"])
        t0 = time.monotonic() - full_start

        def left():
            return (glob.glob(os.path.join(work, "frameworks", "*"))
                    + glob.glob(os.path.join(work, "meta", "trash", "*")))
        wait(lambda: not left(), 600, "every sandbox removed")
        removed = time.monotonic() - t0
        cpu = cpu_seconds(agent.pid)
        print(f"{n:,} sandboxes in 100 frameworks (made in {made:.1f} s)")
        print(f"agent start until registered: {full_start * 1000:.0f} ms with them, "
              f"{empty_start * 1000:.0f} ms on an empty work dir (baseline)")
        print(f"all removed {removed:.2f} s after the agent's start ({n / removed:,.0f} "
              f"sandboxes/s; agent CPU {cpu:.2f} s); rm -rf of the same tree (baseline): "
              f"{rm_seconds:.2f} s")
    finally:
        bench.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
