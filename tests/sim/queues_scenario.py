"""The documented YARN behaviour of two queues at 50%, replayed by `allot sim`.

tests/data/queues/two-queues.swf: 10 one-processor machines; queue 1 (A)
submits 20 one-processor jobs at 0 s (the first ten run 600, 650, ..., 1050
s), queue 2 (B) 10 jobs of 2000 s at 100 s. A alone takes the whole cluster
(elasticity); when B arrives, without preemption B reaches its 50% only as
A's tasks end; with preemption, once B has been starved for the timeout.

Usage: queues_scenario.py [ALLOT_BIN] -> a Markdown table per run (printed)
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
TRACE = HERE.parents[0] / "data" / "queues" / "two-queues.swf"
ALLOT = os.environ.get("ALLOT_BIN", str(HERE.parents[1] / "build" / "dev" / "cli" / "allot"))
RUNS = {
    "capacity": ("capacity", "queues=1:50;2:50"),
    "capacity+preemption": ("capacity", "queues=1:50;2:50,preemption=true,preemption_timeout=15"),
    "fair": ("fair", "queues=1:0;2:0"),
    "fair+preemption": ("fair", "queues=1:0;2:0,preemption=true,preemption_timeout=15"),
}
TIMES = [0, 99, 100, 114, 115, 599, 600, 650, 700, 750, 800, 850, 1050, 2115, 2800]


def run(label, allot=ALLOT):
    """Per-launch records of one run: dict of numpy columns (queue, start, end in s, state, attempt)."""
    policy, params = RUNS[label]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.h5"
        subprocess.run([allot, "sim", str(TRACE), "--frameworks", "role", "--policy", policy,
                        "--param", params, "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
        with h5py.File(out) as f:
            g = f[f"runs/{policy}"]
            jobs, tasks = g["jobs"], g["tasks"]
            ids = jobs["trace_id"][:]
            job = tasks["job"][:]
            end = tasks["end_us"][:].astype(float)
            end[end < 0] = np.inf
            return {
                "queue": np.where(ids[job] <= 20, "A", "B"),
                "start": tasks["start_us"][:] / 1e6,
                "end": end / 1e6,
                "state": tasks["state"][:],
                "attempt": tasks["attempt"][:],
            }


def running(records, queue, t):
    """Instances of `queue` running at time t (s)."""
    r = records
    return int(np.sum((r["queue"] == queue) & (r["start"] <= t) & (t < r["end"])))


def first_time(records, queue, n):
    """The first launch time at which `queue` runs at least n instances, or None."""
    for t in sorted(set(records["start"].tolist())):
        if running(records, queue, t) >= n:
            return t
    return None


def main(argv):
    allot = argv[1] if len(argv) > 1 else ALLOT
    for label in RUNS:
        r = run(label, allot)
        preempted = int(np.sum(r["attempt"] > 0))
        print(f"\n{label}: B reaches 5 of 10 at {first_time(r, 'B', 5)} s; "
              f"{preempted} launches are reruns of preempted instances")
        print("| t (s) | " + " | ".join(str(t) for t in TIMES) + " |")
        print("| --- " * (len(TIMES) + 1) + "|")
        for q in ("A", "B"):
            print(f"| {q} running | " + " | ".join(str(running(r, q, t)) for t in TIMES) + " |")


if __name__ == "__main__":
    main(sys.argv)
