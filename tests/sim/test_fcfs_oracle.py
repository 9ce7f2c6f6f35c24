"""Correctness oracle of the simulator: `allot sim` with the fifo policy, one
framework that owns the cluster (hoarding its offers) and a strict FCFS queue
of gangs reproduces the classic FCFS schedule of the full KTH SP2 log, job by
job, as computed by the independent reference in fcfs_reference.py."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fcfs_reference import fcfs_schedule  # noqa: E402

TRACES = Path(os.environ.get("ALLOT_SHARED_TRACES_DIR", HERE.parents[1] / ".." / "shared" / "traces"))
ALLOT = os.environ.get("ALLOT_BIN", str(HERE.parents[1] / "build" / "dev" / "cli" / "allot"))
FCFS = ["--policy", "fifo", "--frameworks", "single", "--queue", "fcfs", "--hold-offers"]


def simulate(trace, out):
    subprocess.run([ALLOT, "sim", str(trace), *FCFS, "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    with h5py.File(out) as f:
        jobs = f["runs/fifo/jobs"]
        return dict(zip(jobs["trace_id"][:].tolist(), jobs["first_start_us"][:].tolist()))


# Every job of the full KTH SP2 log starts exactly when the reference says.
def test_kth_fcfs_schedule_matches_reference_job_by_job(tmp_path):
    trace = TRACES / "swf" / "KTH-SP2-1996-2.1-cln.swf.gz"
    if not trace.exists():
        pytest.skip(f"{trace} not found")
    reference, unschedulable = fcfs_schedule(str(trace))
    starts = simulate(trace, tmp_path / "kth.h5")
    assert len(starts) == len(reference) + len(unschedulable) == 27992
    differ = [job for job, start in reference.items() if starts.get(job) != round(start * 1e6)]
    assert differ == [], f"{len(differ)} jobs start elsewhere, first: {differ[:5]}"


# The comparison can fail: a log whose wide head job blocks the queue gives
# a different schedule under first-fit (backfilling-like skipping).
def test_first_fit_differs_from_fcfs(tmp_path):
    log = tmp_path / "tiny.swf"
    log.write_text(
        "; MaxNodes: 4\n; MaxProcs: 4\n"
        "1 0 -1 100 3 -1 -1 3 -1 -1 1 1 -1 -1 -1 -1 -1 -1\n"
        "2 1 -1 10 4 -1 -1 4 -1 -1 1 1 -1 -1 -1 -1 -1 -1\n"
        "3 2 -1 10 1 -1 -1 1 -1 -1 1 1 -1 -1 -1 -1 -1 -1\n")
    reference, _ = fcfs_schedule(str(log))
    assert simulate(log, tmp_path / "a.h5") == {j: round(s * 1e6) for j, s in reference.items()}
    out = tmp_path / "b.h5"
    subprocess.run([ALLOT, "sim", str(log), "--policy", "fifo", "--frameworks", "single",
                    "--queue", "first-fit", "--hold-offers", "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    with h5py.File(out) as f:
        starts = f["runs/fifo/jobs/first_start_us"][:].tolist()
    assert starts[2] == 2_000_000 and reference[3] == 110
