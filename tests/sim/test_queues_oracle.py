"""Validation of the queue policies: `allot sim --policy capacity` and `--policy
fair` (one framework per queue, no preemption) reproduce, job by job, the
schedules computed by the independent reference in queues_reference.py, on
the full KTH SP2 log with its jobs put in three queues by user group. The
reference itself is checked first on small logs worked out by hand."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from queues_reference import queue_schedule  # noqa: E402

TRACES = Path(os.environ.get("ALLOT_SHARED_TRACES_DIR", HERE.parents[1] / ".." / "shared" / "traces"))
ALLOT = os.environ.get("ALLOT_BIN", str(HERE.parents[1] / "build" / "dev" / "cli" / "allot"))
KTH = TRACES / "swf" / "KTH-SP2-1996-2.1-cln.swf.gz"

# Hierarchy, unequal guarantees, a maximum below 100% on a parent and a leaf.
CAPACITY = "g12:60:90;g12.1:50;g12.2:50:80;3:40:70"
# Weights 2:1 at the root, equal below; a minimum share on queue 3.
FAIR = "g12:0:100:2;g12.1:0;g12.2:0;3:20:100:1"


def swf(path, procs, jobs):
    """Writes an SWF log of (id, submit, runtime, width, queue) on `procs` one-cpu machines."""
    lines = [f"; MaxNodes: {procs}", f"; MaxProcs: {procs}"]
    for job_id, submit, runtime, width, queue in jobs:
        lines.append(f"{job_id} {submit} -1 {runtime} {width} -1 -1 {width} -1 -1 1 1 1 -1 {queue} -1 -1 -1")
    path.write_text("\n".join(lines) + "\n")
    return path


def by_group(source, target):
    """KTH with each job's queue (field 15) set from its user group (field 13): group % 3 + 1."""
    with gzip.open(source, "rt") as f, open(target, "w") as out:
        for line in f:
            fields = line.split()
            if fields and not line.startswith(";"):
                fields[14] = str(int(fields[12]) % 3 + 1)
                line = " ".join(fields) + "\n"
            out.write(line)
    return target


def simulate(trace, out, runs):
    """allot sim with one framework per queue; runs: {policy: queues}. Returns {policy: {job: start_us}}."""
    args = [ALLOT, "sim", str(trace), "--frameworks", "role", "-o", str(out)]
    for policy, queues in runs.items():
        args += ["--policy", policy, "--param", f"{policy}:queues={queues}"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    starts = {}
    with h5py.File(out) as f:
        for policy in runs:
            jobs = f[f"runs/{policy}/jobs"]
            starts[policy] = dict(zip(jobs["trace_id"][:].tolist(), jobs["first_start_us"][:].tolist()))
    return starts


def started(starts):
    """Only jobs that started (never started: a negative or NaN-like sentinel in the file)."""
    return {job: s for job, s in starts.items() if s >= 0}


# Capacity, 4 processors, queues 1 and 2 at 50%: queue 1 alone takes all 4
# (elastic); queue 2's jobs arriving at 10 wait until queue 1's jobs end at
# 100, then each queue gets 2 of the next 4 as its guarantee says.
def test_reference_capacity_by_hand(tmp_path):
    jobs = [(1, 0, 100, 1, 1), (2, 0, 100, 1, 1), (3, 0, 100, 1, 1), (4, 0, 100, 1, 1), (5, 0, 100, 1, 1),
            (6, 0, 100, 1, 1), (7, 10, 100, 1, 2), (8, 10, 100, 1, 2), (9, 10, 100, 1, 2)]
    log = swf(tmp_path / "a.swf", 4, jobs)
    starts, never = queue_schedule(str(log), "1:50;2:50", "capacity")
    assert starts == {1: 0, 2: 0, 3: 0, 4: 0, 5: 100, 6: 100, 7: 100, 8: 100, 9: 200}
    assert never == []
    # A maximum of 50% keeps queue 1 at 2 processors even on an idle cluster.
    starts, _ = queue_schedule(str(log), "1:50:50;2:50", "capacity")
    assert [starts[j] for j in range(1, 7)] == [0, 0, 100, 100, 200, 200]


# Fair, 3 processors, weights 2:1: two of queue 1's jobs and one of queue
# 2's start at 0; a queue with no work leaves its share to the others.
def test_reference_fair_by_hand(tmp_path):
    jobs = [(1, 0, 10, 1, 1), (2, 0, 10, 1, 1), (3, 0, 10, 1, 1), (4, 0, 10, 1, 2), (5, 0, 10, 1, 2)]
    log = swf(tmp_path / "b.swf", 3, jobs)
    starts, _ = queue_schedule(str(log), "1:0:100:2;2:0:100:1", "fair")
    assert starts == {1: 0, 2: 0, 4: 0, 3: 10, 5: 10}
    starts, _ = queue_schedule(str(log), "1:0:100:2;2:0:100:1;3:0:100:5", "fair")
    assert starts == {1: 0, 2: 0, 4: 0, 3: 10, 5: 10}


# allot reproduces the hand-made logs too, under both policies.
def test_allot_matches_reference_on_small_logs(tmp_path):
    jobs = [(1, 0, 100, 1, 1), (2, 0, 100, 2, 1), (3, 0, 50, 1, 1), (4, 3, 100, 1, 2), (5, 4, 30, 2, 2),
            (6, 5, 0, 1, 3), (7, 5, 20, 3, 3), (8, 60, 10, 1, 1), (9, 61, 10, 4, 2)]
    log = swf(tmp_path / "c.swf", 4, jobs)
    runs = {"capacity": "g:70;g.1:50;g.2:50:80;3:30:60", "fair": "g:0:100:2;g.1:0;g.2:0;3:10"}
    starts = simulate(log, tmp_path / "c.h5", runs)
    for policy, queues in runs.items():
        reference, _ = queue_schedule(str(log), queues, policy)
        assert started(starts[policy]) == {j: s * 1_000_000 for j, s in reference.items()}, policy


# Every job of KTH SP2 (in three queues by user group) starts exactly when
# the reference says, under capacity and under fair; the two schedules
# differ, so each comparison can fail.
def test_kth_queue_schedules_match_reference_job_by_job(tmp_path):
    if not KTH.exists():
        pytest.skip(f"{KTH} not found")
    trace = by_group(KTH, tmp_path / "kth-groups.swf")
    runs = {"capacity": CAPACITY, "fair": FAIR}
    starts = simulate(trace, tmp_path / "kth.h5", runs)
    schedules = {}
    for policy, queues in runs.items():
        reference, never = queue_schedule(str(trace), queues, policy)
        ours = started(starts[policy])
        assert len(ours) + len(never) >= len(reference)
        differ = [job for job, start in reference.items() if ours.get(job) != round(start * 1e6)]
        assert differ == [], f"{policy}: {len(differ)} of {len(reference)} jobs start elsewhere, first: {differ[:5]}"
        assert set(ours) == set(reference)
        schedules[policy] = reference
    moved = [job for job in schedules["capacity"] if schedules["capacity"][job] != schedules["fair"].get(job)]
    assert len(moved) > 1000
