"""Validation of the backfilling policies: `allot sim --policy easy` and
`--policy conservative` (one framework holding the whole queue) reproduce, job
by job, the schedules of the full KTH SP2 log computed by the independent
reference in backfill_reference.py. The reference itself is checked first on
small logs worked out by hand."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from backfill_reference import backfill_schedule  # noqa: E402
from fcfs_reference import fcfs_schedule  # noqa: E402

TRACES = Path(os.environ.get("ALLOT_SHARED_TRACES_DIR", HERE.parents[1] / ".." / "shared" / "traces"))
ALLOT = os.environ.get("ALLOT_BIN", str(HERE.parents[1] / "build" / "dev" / "cli" / "allot"))
KTH = TRACES / "swf" / "KTH-SP2-1996-2.1-cln.swf.gz"


def swf(path, procs, jobs):
    """Writes an SWF log of (id, submit, runtime, procs, requested time) on `procs` one-cpu machines."""
    lines = [f"; MaxNodes: {procs}", f"; MaxProcs: {procs}"]
    for job_id, submit, runtime, width, requested in jobs:
        lines.append(f"{job_id} {submit} -1 {runtime} {width} -1 -1 {width} {requested} -1 1 1 "
                     "-1 -1 -1 -1 -1 -1")
    path.write_text("\n".join(lines) + "\n")
    return path


def simulate(trace, out, *policies):
    args = [ALLOT, "sim", str(trace), "--frameworks", "single", "-o", str(out)]
    for policy in policies:
        args += ["--policy", policy]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    starts = {}
    with h5py.File(out) as f:
        for policy in policies:
            jobs = f[f"runs/{policy}/jobs"]
            starts[policy] = dict(zip(jobs["trace_id"][:].tolist(), jobs["first_start_us"][:].tolist()))
    return starts


# Job 2 (4 wide) waits for job 1 to end at 100; job 3 ends by then and jumps
# ahead at 2; job 4 would run past 100 on the processor job 2 needs, so it
# waits until 110 (EASY's "extra" is 0).
JOBS = [(1, 0, 100, 3, 100), (2, 1, 10, 4, 10), (3, 2, 10, 1, 10), (4, 3, 200, 1, 200)]


# The reference backfills exactly as worked out by hand, and differs from FCFS.
def test_reference_easy_by_hand(tmp_path):
    log = swf(tmp_path / "a.swf", 4, JOBS)
    assert backfill_schedule(str(log), "easy") == ({1: 0, 2: 100, 3: 2, 4: 110}, [])
    assert fcfs_schedule(str(log)) == ({1: 0, 2: 100, 3: 110, 4: 110}, [])
    # One more processor leaves an extra one at the shadow time: job 4 takes it at 3.
    log5 = swf(tmp_path / "b.swf", 5, JOBS)
    assert backfill_schedule(str(log5), "easy") == ({1: 0, 2: 100, 3: 2, 4: 3}, [])


# Conservative reservations by hand: every queued job keeps its place.
def test_reference_conservative_by_hand(tmp_path):
    log = swf(tmp_path / "a.swf", 4, JOBS)
    assert backfill_schedule(str(log), "conservative") == ({1: 0, 2: 100, 3: 2, 4: 110}, [])
    # Job 1 ends at 50, long before its request: job 2 moves up to 50.
    early = [(1, 0, 50, 3, 100)] + JOBS[1:]
    log = swf(tmp_path / "c.swf", 4, early)
    assert backfill_schedule(str(log), "conservative")[0][2] == 50
    assert backfill_schedule(str(log), "easy")[0][2] == 50


# Compression never moves a reservation later. On 4 processors: job 3 (4
# wide) is reserved at 100 behind jobs 1 and 2, and job 4 (2 for 60 s) fits
# before it, at 30. Job 1 ending at 10, 90 s early, lets job 4 move up to 10
# and job 3 to 70; recomputing every reservation from scratch instead gave
# job 3 the slot from 30 and pushed job 4 back to 80.
COMPRESS = [(1, 0, 100, 2, 100), (2, 0, 30, 2, 30), (3, 1, 50, 4, 50), (4, 2, 60, 2, 60)]


def test_reference_conservative_compression_by_hand(tmp_path):
    log = swf(tmp_path / "ontime.swf", 4, COMPRESS)
    assert backfill_schedule(str(log), "conservative")[0] == {1: 0, 2: 0, 3: 100, 4: 30}
    early = [(1, 0, 10, 2, 100)] + COMPRESS[1:]
    log = swf(tmp_path / "early.swf", 4, early)
    assert backfill_schedule(str(log), "conservative")[0] == {1: 0, 2: 0, 3: 70, 4: 10}


# allot reproduces the hand-made logs too.
def test_allot_matches_reference_on_small_logs(tmp_path):
    logs = [swf(tmp_path / f"{procs}.swf", procs, JOBS) for procs in (4, 5)]
    logs.append(swf(tmp_path / "early.swf", 4, [(1, 0, 10, 2, 100)] + COMPRESS[1:]))
    for log in logs:
        starts = simulate(log, log.with_suffix(".h5"), "easy", "conservative")
        for mode in ("easy", "conservative"):
            reference, _ = backfill_schedule(str(log), mode)
            assert starts[mode] == {j: s * 1_000_000 for j, s in reference.items()}, (log.name, mode)


# Every job of the full KTH SP2 log starts exactly when the reference says,
# under both policies; the two schedules differ, so each comparison can fail.
def test_kth_backfilled_schedules_match_reference_job_by_job(tmp_path):
    if not KTH.exists():
        pytest.skip(f"{KTH} not found")
    starts = simulate(KTH, tmp_path / "kth.h5", "easy", "conservative")
    schedules = {}
    for mode in ("easy", "conservative"):
        reference, unschedulable = backfill_schedule(str(KTH), mode)
        assert len(starts[mode]) == len(reference) + len(unschedulable) == 27992
        differ = [job for job, start in reference.items() if starts[mode].get(job) != round(start * 1e6)]
        assert differ == [], f"{mode}: {len(differ)} jobs start elsewhere, first: {differ[:5]}"
        schedules[mode] = reference
    moved = [job for job in schedules["easy"] if schedules["easy"][job] != schedules["conservative"][job]]
    assert len(moved) > 1000
