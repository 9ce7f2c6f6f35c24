"""Tests of the strict-FCFS reference (fcfs_reference.py) on hand-computed schedules and the KTH log."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fcfs_reference import fcfs_schedule  # noqa: E402

# CTest passes the folder; run by hand, the traces sit beside the project (../shared/traces).
SHARED = Path(os.environ.get("ALLOT_SHARED_TRACES_DIR")
              or Path(__file__).resolve().parents[2].parent / "shared" / "traces")
KTH = SHARED / "swf" / "KTH-SP2-1996-2.1-cln.swf.gz"


def write_swf(tmp_path, records, header=("MaxNodes: 2", "MaxProcs: 4"), name="t.swf"):
    """Writes an SWF file; records are (job, submit, run, allocated, requested), other fields -1."""
    lines = [f"; {h}" for h in header]
    for job, submit, run, allocated, requested in records:
        fields = [job, submit, -1, run, allocated, -1, -1, requested] + [-1] * 10
        lines.append(" ".join(map(str, fields)))
    path = tmp_path / name
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


# A blocked head job holds back a later job that would fit now: no backfilling.
def test_blocked_head_holds_back_smaller_jobs(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 100, 3, 3), (2, 10, 50, 2, 2), (3, 20, 5, 1, 1)])
    # Job 3 fits at 20 (one processor free) but may not pass job 2, which waits
    # for job 1's end; both then start at 100 on the four processors.
    assert fcfs_schedule(path) == ({1: 0, 2: 100, 3: 100}, [])


# A release at second t frees processors for a start at the same t, zero run times included.
def test_release_and_start_at_the_same_second(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 10, 4, 4), (2, 10, 5, 4, 4), (3, 15, 0, 4, 4),
                                (4, 15, 1, 4, 4)])
    assert fcfs_schedule(path) == ({1: 0, 2: 10, 3: 15, 4: 15}, [])


# A job wider than the cluster is reported apart and does not block the jobs after it.
def test_job_wider_than_cluster_is_unschedulable(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 10, 5, 5), (2, 5, 10, 1, 1), (3, 6, 10, 4, 4)])
    assert fcfs_schedule(path) == ({2: 5, 3: 15}, [1])


# Zero-processor, unknown-runtime and unknown-submit records are left out; requested
# processors count when allocated is unknown.
def test_left_out_records_and_requested_processors(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 10, 0, -1), (2, 0, -1, 4, 4), (3, -1, 10, 4, 4),
                                (4, 0, 10, -1, 3), (5, 1, 10, 2, 2)])
    # Job 4 holds its 3 requested processors until 10, so job 5 (2 processors) waits.
    assert fcfs_schedule(path) == ({4: 0, 5: 10}, [])


# MaxNodes x MaxProcs/MaxNodes gives the cluster size: 3 machines of 2 cpus hold 6 processors.
def test_header_gives_cluster_size(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 10, 6, 6), (2, 0, 10, 7, 7)],
                     header=("Version: 2.2", "MaxNodes: 3", "MaxProcs: 6"))
    assert fcfs_schedule(path) == ({1: 0}, [2])


# With only MaxNodes, each node is one processor.
def test_header_with_only_max_nodes(tmp_path):
    path = write_swf(tmp_path, [(1, 0, 10, 3, 3), (2, 0, 10, 2, 2)], header=("MaxNodes: 4",))
    assert fcfs_schedule(path) == ({1: 0, 2: 10}, [])


# Without a header the cluster is as wide as the widest record, even one left out for its run time.
def test_no_header_cluster_is_widest_record(tmp_path):
    path = write_swf(tmp_path, [(1, 0, -1, 3, 3), (2, 0, 10, 2, 2), (3, 0, 10, 1, 1)], header=())
    assert fcfs_schedule(path) == ({2: 0, 3: 0}, [])


# Jobs run in submit order; jobs submitted at the same second keep their file order, whatever their ids.
def test_submit_order_then_file_order(tmp_path):
    path = write_swf(tmp_path, [(7, 5, 10, 4, 4), (9, 0, 10, 4, 4), (3, 0, 10, 4, 4)])
    assert fcfs_schedule(path) == ({9: 0, 3: 10, 7: 20}, [])


# Gzip input is read like plain text, and the CLI prints job_id,submit,start,end rows in submit order.
def test_gzip_input_and_cli(tmp_path):
    records = [(1, 0, 100, 3, 3), (2, 10, 50, 4, 4), (3, 20, 5, 1, 1)]
    path = write_swf(tmp_path, records, name="t.swf.gz")
    assert fcfs_schedule(path) == ({1: 0, 2: 100, 3: 150}, [])
    script = Path(__file__).resolve().parent / "fcfs_reference.py"
    out = subprocess.run([sys.executable, str(script), str(path)], check=True,
                         capture_output=True, text=True).stdout
    assert out.splitlines() == ["job_id,submit,start,end", "1,0,0,100", "2,10,100,150",
                                "3,20,150,155"]


# On the full KTH SP2 log: every kept record is scheduled, starts follow submit order, every start
# is either the earliest FCFS allows or some job's end, and no more than 100 processors are ever busy.
@pytest.mark.skipif(not KTH.exists(), reason=f"{KTH} not found (set ALLOT_SHARED_TRACES_DIR)")
def test_kth_invariants():
    starts, unschedulable = fcfs_schedule(KTH)
    # Independent count of kept records: numpy parse of the same file, the reader's rules as masks.
    with gzip.open(KTH, "rt") as f:
        table = np.loadtxt(f, comments=";", ndmin=2)
    procs = np.where(table[:, 4] > 0, table[:, 4], np.maximum(table[:, 7], 0))
    kept = table[(procs > 0) & (table[:, 3] >= 0) & (table[:, 1] >= 0)]
    kept_procs = procs[(procs > 0) & (table[:, 3] >= 0) & (table[:, 1] >= 0)]
    assert len(starts) + len(unschedulable) == len(kept) == 27992
    assert unschedulable == []  # KTH's widest job is exactly the 100-processor machine

    order = np.argsort(kept[:, 1], kind="stable")
    ids, submit, run, width = (kept[order, 0].astype(int), kept[order, 1], kept[order, 3],
                               kept_procs[order])
    start = np.array([starts[i] for i in ids], dtype=float)
    end = start + run
    assert np.all(start >= submit)
    assert np.all(np.diff(start) >= 0)
    earliest = np.maximum(submit, np.concatenate(([0.0], start[:-1])))
    assert np.all((start == earliest) | np.isin(start, end))
    assert np.count_nonzero(start > earliest) > 0  # the log is busy: the check above was exercised

    # Replay: at equal times releases (-width) come before starts (+width).
    times = np.concatenate((end, start))
    deltas = np.concatenate((-width, width))
    busy = np.cumsum(deltas[np.lexsort((deltas, times))])
    assert busy.min() >= 0 and busy.max() <= 100
