#!/usr/bin/python3
"""How fast `allot logs` reads a task's output through the master, against reading the file.

    /usr/bin/python3 bench/runtime/logs_read.py [BUILD] [MB]

Starts `allot master` and one `allot agent` (BUILD, default build/release)
on loopback, runs a task that writes MB (default 256) megabytes to its
stdout, then times, 5 times each and alternating:
  - `allot logs TASK > /dev/null`: the whole file in 1 MiB pieces, each a
    GET to the master, a READ_FILE to the agent and its FILE_DATA back;
  - `allot logs TASK --tail 100`: one piece from the end;
  - `cat SANDBOX/stdout > /dev/null`: the baseline, the same bytes read on
    the agent's machine (from the page cache);
  - `allot ls TASK many`: a directory of 10,000 empty files the task made
    (LIST_FILES and its FILE_LIST of about 0.4 MB), against `ls -l` of it
    on the agent's machine.
Prints the medians, the throughput, and the CPU time the master and the
agent spent per whole read (from /proc/PID/stat).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from failover import Bench, free_port, http_json, wait

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(args):
    t0 = time.monotonic()
    subprocess.run(args, stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "release")
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    directory = tempfile.mkdtemp(prefix="allot-logs-read-")
    bench = Bench(build, directory, 0, "2s")
    try:
        port, http = free_port(), free_port()
        master = bench.master("m", port, http)
        wait(lambda: http_json(http, "/api/v1/state") is not None, 30, "the master answering")
        agent = bench.spawn("agent", [bench.allot, "agent", "--master", f"127.0.0.1:{port}",
                                      "--work-dir", os.path.join(directory, "agent"),
                                      "--resources", "cpus:2;mem:1024", "--cgroup-root", "none",
                                      "--log-level", "warn"])
        wait(lambda: len((http_json(http, "/api/v1/state") or {}).get("agents", [])) == 1, 30,
             "the agent registered")
        subprocess.run([bench.allot, "run", "--master", f"127.0.0.1:{port}", "--name", "writer",
                        "--cpus", "0.5", "--mem", "64", "--",
                        f"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {megabytes}M; "
                        "mkdir many && seq -f many/%g 1 10000 | xargs touch"],
                       capture_output=True, text=True, check=True)
        (task,) = http_json(http, "/api/v1/state")["completed_tasks"]
        sandbox = os.path.join(directory, "agent", "frameworks", task["framework_id"], "tasks",
                               task["id"])
        size = os.path.getsize(os.path.join(sandbox, "stdout"))
        logs = [bench.allot, "logs", task["id"], "--master", f"127.0.0.1:{http}"]
        forms = {"allot logs (whole)": logs, "allot logs --tail 100": logs + ["--tail", "100"],
                 "cat (baseline)": ["cat", os.path.join(sandbox, "stdout")],
                 "allot ls many (10,000 entries)":
                     [bench.allot, "ls", task["id"], "many", "--master", f"127.0.0.1:{http}"],
                 "ls -l many (baseline)": ["ls", "-l", os.path.join(sandbox, "many")]}
        times = {name: [] for name in forms}
        cpu = {"master": [], "agent": []}
        for _ in range(5):
            for name, args in forms.items():
                before = cpu_seconds(master.pid), cpu_seconds(agent.pid)
                times[name].append(timed(args))
                if name == "allot logs (whole)":
                    cpu["master"].append(cpu_seconds(master.pid) - before[0])
                    cpu["agent"].append(cpu_seconds(agent.pid) - before[1])
        print(f"stdout of {size:,} bytes ({size / 2**20:.0f} MiB), 5 runs each, alternating")
        for name, runs in times.items():
            median = statistics.median(runs)
            print(f"{name}: median {median * 1000:.1f} ms (min {min(runs) * 1000:.1f}, max "
                  f"{max(runs) * 1000:.1f})" +
                  (f", {size / 2**20 / median:.0f} MiB/s"
                   if "tail" not in name and not name.startswith(("allot ls", "ls -l")) else ""))
        print(f"CPU per whole read: master {statistics.median(cpu['master']):.2f} s, agent "
              f"{statistics.median(cpu['agent']):.2f} s (medians)")
    finally:
        bench.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
