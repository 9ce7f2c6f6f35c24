"""Shared constants and helpers of the allot Python tests (named apart from
conftest so that `import` finds this one whatever other test folders hold)."""

from pathlib import Path

KTH_NAME = "swf/KTH-SP2-1996-2.1-cln.swf.gz"
# 20 rows of Alibaba 2017's batch_task in the repository: a trace without machines.
ALIBABA2017_EXCERPT = (Path(__file__).resolve().parents[2] /
                       "tests/data/traces/alibaba2017/batch_task.csv")
# About 16 days of the KTH log after its first submission: ~1,300 jobs finish,
# a second of simulation; the other jobs are recorded as unfinished.
KTH_STOP_AT = 2e6


def write_swf(path, records, header=("MaxNodes: 2", "MaxProcs: 4")):
    """Writes an SWF log; records are (job, submit, run, processors, user), other fields -1."""
    lines = [f"; {h}" for h in header]
    for job, submit, run, procs, user in records:
        fields = [job, submit, -1, run, procs, -1, -1, procs, -1, -1, -1, user] + [-1] * 6
        lines.append(" ".join(map(str, fields)))
    path.write_text("\n".join(lines) + "\n")
    return path


def two_queue_swf(path):
    """One machine of 12 cpus; queues 1 and 2 each submit 20 one-cpu jobs of 1000 s at 0."""
    lines = ["; MaxNodes: 1", "; MaxProcs: 12"]
    for i in range(40):
        queue = 1 + i % 2
        fields = [i + 1, 0, -1, 1000, 1, -1, -1, 1, -1, -1, 1, 1, -1, -1, queue] + [-1] * 3
        lines.append(" ".join(map(str, fields)))
    path.write_text("\n".join(lines) + "\n")
    return path
