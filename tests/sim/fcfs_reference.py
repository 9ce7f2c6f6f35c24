"""Independent reference schedule: strict FCFS (gangs, no backfilling) of an SWF log.

An oracle for `allot sim --policy fifo` and for bench/sim/simgrid_fcfs, so it
reads the SWF file itself (never through allot) and applies the same record
rules as allot's SWF reader (docs/trace-formats.md, `swf`):

- processors = allocated (field 5) if > 0, else requested (field 8);
- left out: zero processors, run time (field 4) < 0, submit (field 2) < 0;
  a run time of 0 is kept;
- machines: MaxNodes machines of MaxProcs/MaxNodes cpus; with only one of
  the two, that many one-cpu machines; with neither, as many one-cpu machines
  as the widest record. Tasks are one cpu each, so placement is counting.

Rule: jobs in submit order (ties: file order); job i starts at the earliest
t >= max(submit_i, start_{i-1}) with at least procs_i free processors and
holds them until t + runtime_i. Releases at t come before starts at t. Jobs
wider than the cluster can never start: they are returned apart and do not
block the queue.

Usage: fcfs_reference.py TRACE.swf[.gz]  -> CSV job_id,submit,start,end
"""

import gzip
import heapq
import math
import re
import sys

MAX_PROCS = 1 << 20  # the reader's cap on machines and processors per job
_LEADING_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _open(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path, "rt")


def swf_fields(path):
    """The whitespace-separated fields of each job line of an SWF log (no header, no blanks)."""
    with _open(path) as f:
        for line in f:
            text = line.strip()
            if text and not text.startswith(";"):
                yield text.split()


def _number(text):
    """An SWF field as int when integral (exact arithmetic), else float."""
    value = float(text)
    return int(value) if value.is_integer() else value


def read_swf(path):
    """Returns (jobs, total_processors); jobs are (job_id, submit, runtime, procs) in file order."""
    jobs, header, widest = [], {}, 0
    with _open(path) as f:
        for line in f:
            text = line.strip()
            if not text:
                continue
            if text.startswith(";"):
                # "; Key: value" header lines; the reader takes the number the value starts with.
                key, colon, value = text[1:].partition(":")
                match = _LEADING_NUMBER.match(value.strip())
                if colon and key.strip() in ("MaxNodes", "MaxProcs") and match:
                    number = float(match.group(0))
                    if number > 0 and math.isfinite(number):
                        header[key.strip()] = number
                continue
            fields = text.split()
            if len(fields) != 18:
                raise ValueError(f"{path}: expected 18 fields, found {len(fields)}: {text!r}")
            job_id, submit, runtime = int(float(fields[0])), _number(fields[1]), _number(fields[3])
            allocated, requested = _number(fields[4]), _number(fields[7])
            procs = int(allocated if allocated > 0 else max(requested, 0))
            widest = max(widest, procs)  # counted before any record is left out, as the reader does
            if procs == 0 or runtime < 0 or submit < 0:
                continue
            jobs.append((job_id, submit, runtime, procs))
    nodes, procs = header.get("MaxNodes"), header.get("MaxProcs")
    if nodes and procs:
        machines, cpus = nodes, procs / nodes
    elif nodes or procs:
        machines, cpus = nodes or procs, 1
    else:
        machines, cpus = widest, 1
    machines = min(math.floor(machines), MAX_PROCS)
    # One-cpu tasks: a machine of c cpus holds floor(c) of them (the epsilon absorbs
    # the rounding of MaxProcs/MaxNodes, as allot's tolerant fit does).
    return jobs, machines * math.floor(cpus + 1e-9)


def schedule(jobs, total):
    """Strict FCFS of (job_id, submit, runtime, procs) -> ({job_id: start}, [unschedulable ids])."""
    starts, unschedulable = {}, []
    releases = []  # heap of (end, procs) of running jobs
    free, previous_start = total, 0
    # Stable sort: jobs submitted at the same second keep their file order.
    for job_id, submit, runtime, procs in sorted(jobs, key=lambda job: job[1]):
        if job_id in starts or job_id in unschedulable:
            raise ValueError(f"job {job_id} appears twice: results are keyed by job id")
        if procs > total:
            unschedulable.append(job_id)
            continue
        t = max(submit, previous_start)
        # Release everything that ended by t, then wait for further releases until the gang fits.
        while releases and (releases[0][0] <= t or free < procs):
            end, held = heapq.heappop(releases)
            free += held
            t = max(t, end)
        starts[job_id] = t
        free -= procs
        heapq.heappush(releases, (t + runtime, procs))
        previous_start = t
    return starts, unschedulable


def fcfs_schedule(path):
    """Strict FCFS schedule of the SWF log at `path`: ({job_id: start_seconds}, [unschedulable ids])."""
    return schedule(*read_swf(path))


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    jobs, total = read_swf(argv[1])
    starts, unschedulable = schedule(jobs, total)
    out = sys.stdout
    out.write("job_id,submit,start,end\n")
    for job_id, submit, runtime, _ in sorted(jobs, key=lambda job: job[1]):
        if job_id in starts:
            out.write(f"{job_id},{submit},{starts[job_id]},{starts[job_id] + runtime}\n")
    if unschedulable:
        print(f"{len(unschedulable)} jobs wider than the cluster ({total} processors): "
              f"{' '.join(map(str, unschedulable))}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
