"""Fixtures of the allot Python tests: real traces from the shared folder, tiny ones written here."""

import pytest

import allot

KTH_NAME = "swf/KTH-SP2-1996-2.1-cln.swf.gz"
# About 16 days of the KTH log after its first submission: ~1,300 jobs finish,
# a second of simulation; the other jobs are recorded as unfinished.
KTH_STOP_AT = 2e6


@pytest.fixture(scope="session")
def kth_path():
    path = allot.shared_traces_dir() / KTH_NAME
    if not path.exists():
        pytest.skip(f"{path} not found (set ALLOT_SHARED_TRACES_DIR)")
    return path


@pytest.fixture(scope="session")
def kth(kth_path):
    return allot.load_trace(kth_path)


def write_swf(path, records, header=("MaxNodes: 2", "MaxProcs: 4")):
    """Writes an SWF log; records are (job, submit, run, processors, user), other fields -1."""
    lines = [f"; {h}" for h in header]
    for job, submit, run, procs, user in records:
        fields = [job, submit, -1, run, procs, -1, -1, procs, -1, -1, -1, user] + [-1] * 6
        lines.append(" ".join(map(str, fields)))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny(tmp_path):
    """Two machines of 2 cpus; a 3-wide job at 0 (100 s), 2-wide at 10 (50 s), 1-wide at 20 (5 s)."""
    return write_swf(tmp_path / "tiny.swf",
                     [(1, 0, 100, 3, 1), (2, 10, 50, 2, 2), (3, 20, 5, 1, 1)])
