"""End-to-end test of `allot trace`: runs the real binary.

Usage: cli_trace_test.py ALLOT_BINARY SHARED_TRACES_DIR
Checks generate -> inspect --json, convert of a real SWF log (raw and .h5
summaries agree), formats --json, that h5py reads the store's columns, and
that bad input (also stores h5py patched) exits 1 with an "allot: " message,
and that Ctrl-C while a store is written leaves the earlier one.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

# The run/check helpers shared with the other CLI tests (tests/cli/clitest.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from clitest import check, runner  # noqa: E402

ALLOT, SHARED = sys.argv[1], sys.argv[2]
run = runner(ALLOT)

with tempfile.TemporaryDirectory() as tmp:
    # generate -> inspect --json
    out = os.path.join(tmp, "hpc.h5")
    run("trace", "generate", "hpc-like", "-o", out, "--seed", "5", "--tasks", "5000")
    summary = json.loads(run("trace", "inspect", out, "--json").stdout)
    check(summary["task_instances"] == 5000, f"task instances {summary['task_instances']}")
    # hpc-like gangs are one record per job (count = size).
    check(summary["task_records"] == summary["jobs"], f"task records {summary['task_records']}")
    check(summary["records_per_job"]["max"] == 1, "one record per gang")
    check(summary["instances_per_job"]["max"] > 1, "gangs of several instances")
    check(summary["machines"] == 256, f"machines {summary['machines']}")
    check(summary["gang_jobs"] == summary["jobs"], "hpc-like jobs are gangs")
    check(summary["instance_demand"]["cpus"]["max"] == 1.0, "one processor per task")
    check(summary["meta"]["preset"] == "hpc-like" and summary["meta"]["seed"] == "5", "meta")
    for key in ("p50", "p90", "p99", "max"):
        check(key in summary["instance_duration_s"], f"duration {key}")
    # hpc-like users over-estimate: every estimate is at least the duration.
    check(summary["instance_estimate_s"]["p50"] >= summary["instance_duration_s"]["p50"],
          "estimates at least the durations")
    check(summary["instance_estimate_s"]["max"] >= summary["instance_duration_s"]["max"],
          "largest estimate at least the longest duration")
    check(len(summary["top_users"]) > 0, "top users")
    check(summary["recorded"] == {"task_records_with_start": 0,
                                  "task_records_with_start_and_end": 0},
          f"a synthetic workload records no outcome: {summary['recorded']}")
    check(sum(u["task_instances"] for u in summary["top_users"]) <= 5000, "top users' instances")

    # Same seed, same workload; another seed, another one.
    again = os.path.join(tmp, "again.h5")
    run("trace", "generate", "hpc-like", "-o", again, "--seed", "5", "--tasks", "5000")
    other = os.path.join(tmp, "other.h5")
    run("trace", "generate", "hpc-like", "-o", other, "--seed", "6", "--tasks", "5000")
    strip = lambda s: {k: v for k, v in s.items() if k not in ("input", "report")}
    second = json.loads(run("trace", "inspect", again, "--json").stdout)
    third = json.loads(run("trace", "inspect", other, "--json").stdout)
    check(strip(second) == strip(summary), "same seed gives the same summary")
    check(strip(third) != strip(summary), "another seed gives another summary")

    # convert a real log; the store and the raw file summarize the same.
    kth = os.path.join(SHARED, "swf", "KTH-SP2-1996-2.1-cln.swf.gz")
    kth_h5 = os.path.join(tmp, "kth.h5")
    report = json.loads(run("trace", "convert", kth, "--format", "swf", "-o", kth_h5,
                            "--json").stdout)
    check(report["report"]["records"] == 27992, f"records {report['report']['records']}")
    raw = json.loads(run("trace", "inspect", kth, "--json").stdout)
    stored = json.loads(run("trace", "inspect", kth_h5, "--json").stdout)
    check(strip(raw) == strip(stored), "raw and .h5 summaries differ")
    check(stored["jobs"] == 27992, f"jobs {stored['jobs']}")
    check(stored["task_records"] == 27992, f"task records {stored['task_records']}")
    # Every record of the log has its wait and run time: a start and an end.
    check(stored["recorded"] == {"task_records_with_start": 27992,
                                 "task_records_with_start_and_end": 27992},
          f"recorded {stored['recorded']}")
    check(report["task_records"] == 27992 and report["task_instances"] == stored["task_instances"],
          f"convert report {report}")
    # The offered load, against awk's way of counting it (processors, allocated
    # else requested, times run time, over MaxProcs times the submit span);
    # --load-factor multiplies it, a store keeps its factor, and a factor on a
    # scaled store multiplies the two.
    procs_time, submits = 0.0, []
    with gzip.open(kth, "rt") as log:
        for line in log:
            if line.startswith(";") or not line.strip():
                continue
            f = line.split()
            procs = int(f[4]) if int(f[4]) > 0 else int(f[7])
            procs_time += procs * float(f[3])
            submits.append(float(f[1]))
    load = procs_time / (100 * (max(submits) - min(submits)))
    check(abs(raw["offered_load"]["cpus"] - load) < 1e-9 and raw["offered_load"]["mem"] is None,
          f"offered load {raw['offered_load']}, wanted cpus {load}")
    check(f"offered load     cpus={100 * load:.1f}%" in run("trace", "inspect", kth).stdout,
          "inspect's table lacks the offered load")
    faster_h5 = os.path.join(tmp, "kth-x2.h5")
    run("trace", "convert", kth, "-o", faster_h5, "--load-factor", "2")
    faster = json.loads(run("trace", "inspect", faster_h5, "--json").stdout)
    check(faster["meta"]["load_factor"] == "2" and
          abs(faster["offered_load"]["cpus"] - 2 * load) < 1e-6 and
          faster["time"]["first_submit_us"] == raw["time"]["first_submit_us"] and
          abs(faster["time"]["submit_span_us"] - raw["time"]["submit_span_us"] / 2) <= 1,
          f"converted with --load-factor 2: {faster['meta']}, {faster['offered_load']}, "
          f"{faster['time']}")
    again = json.loads(run("trace", "inspect", faster_h5, "--load-factor", "1.5", "--json").stdout)
    check(again["meta"]["load_factor"] == "3" and abs(again["offered_load"]["cpus"] - 3 * load) < 1e-6,
          f"a factor on a scaled store: {again['meta']}")
    err = run("trace", "inspect", kth, "--load-factor", "-1", expect=105).stderr
    check("--load-factor" in err and "not above 0" in err, f"--load-factor -1: {err}")
    # The log's own last end (submit + wait + run), apart from the last end
    # had no job waited (submit + run), which comes earlier on a busy log.
    with gzip.open(kth, "rt") as log:
        fields = [line.split() for line in log if line.strip() and not line.startswith(";")]
    recorded_end = max(float(f[1]) + float(f[2]) + float(f[3]) for f in fields)
    unwaited_end = max(float(f[1]) + float(f[3]) for f in fields)
    check(stored["time"]["last_recorded_end_us"] == round(recorded_end * 1e6) and
          stored["time"]["last_end_us"] == round(unwaited_end * 1e6) and
          unwaited_end < recorded_end, f"time {stored['time']}")
    text = run("trace", "convert", kth, "-o", kth_h5).stdout
    check("27992 records" in text, "convert prints the report: " + text)

    # The store is plain HDF5: h5py reads its columns.
    try:
        import h5py
        with h5py.File(kth_h5, "r") as f:
            check(f.attrs["allot_format"] in ("allot-workload", b"allot-workload"), "format attr")
            check(f["jobs/submit_us"].shape == (27992,), "jobs/submit_us shape")
            check(f["demands"].shape[1] == len(f["dims"]), "demand width")
            # Each record names a row of /demands: one processor each.
            demand = f["demands"][:][f["tasks/demand"][:]]
            check(demand.shape == (27992, len(f["dims"])), "a demand per record")
            check(bool((demand[:, 0] == 1.0).all()), "one cpu per KTH task")
            check(f.attrs["allot_format_version"] == 6, "format version 6")
            # Strings are fixed-length: h5py gives bytes.
            check(list(f["dims"][:2]) == [b"cpus", b"mem"], f"dims {f['dims'][:]}")
            # Users' estimates (SWF requested time): every KTH job has one.
            estimates = f["tasks/estimate_us"][:]
            check(estimates.dtype.name == "int64" and estimates.shape == (27992,),
                  "tasks/estimate_us")
            check(bool((estimates > 0).all()), "every KTH job has an estimate")
            counts = f["tasks/count"][:]
            check(counts.dtype.name == "uint32" and counts.shape == (27992,), "tasks/count")
            check(int(counts.sum()) == stored["task_instances"], "instances = sum of counts")
            # Weighted percentile: the median job duration per instance.
            durations = f["tasks/duration_us"][:] / 1e6
            order = durations.argsort()
            cumulative = counts[order].cumsum()
            import math
            median = durations[order][(cumulative >= math.ceil(0.5 * cumulative[-1])).argmax()]
            check(median == stored["instance_duration_s"]["p50"],
                  f"weighted p50 {median} vs {stored['instance_duration_s']['p50']}")
        # A store another writer made, holding what a replay cannot take: both
        # commands refuse it with a message naming the record (an empty
        # demand table with records naming demand 0 once crashed them; the
        # other values replayed silently).
        import numpy as np
        import shutil

        def patched(name, dataset, values):
            path = os.path.join(tmp, name + ".h5")
            shutil.copy(kth_h5, path)
            with h5py.File(path, "r+") as f:
                del f[dataset]
                f.create_dataset(dataset, data=values)
            return path

        with h5py.File(kth_h5, "r") as f:
            durations, demands = f["tasks/duration_us"][:], f["demands"][:]
            jobs, width = f["tasks/job"][:], f["demands"].shape[1]
        durations[7] = -5
        demands[0, 1] = np.nan
        jobs[3] = 4
        cases = [
            (patched("negative", "tasks/duration_us", durations), "task record 7 duration is -5 us"),
            (patched("nan", "demands", demands), "demand 0: mem is nan"),
            (patched("other_job", "tasks/job", jobs), "task record 3 names job 4"),
            (patched("no_demands", "demands", np.zeros((0, width))),
             "'tasks/demand' row 0 holds index 0, out of range [0, 0)"),
        ]
        for path, needle in cases:
            for args in (["trace", "inspect", path], ["sim", path, "-p", "fifo"]):
                err = run(*args, expect=1).stderr
                check(err.startswith("allot: ") and needle in err and "corrupt" in err,
                      f"allot {' '.join(args)}: {err}")
    except ImportError:
        print("h5py missing: skipped the h5py check")

    # formats --json lists readers, the store and the presets.
    formats = json.loads(run("trace", "formats", "--json").stdout)
    names = {f["name"] for f in formats["formats"]}
    check({"auto", "h5", "swf", "google2011", "alibaba2017"} <= names, f"formats {names}")
    check({p["name"] for p in formats["presets"]} == {"google-like", "hpc-like"}, "presets")

    # Bad input: exit 1 and a message naming the file.
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "w") as f:
        f.write("nothing to see\n")
    err = run("trace", "inspect", notes, expect=1).stderr
    check(err.startswith("allot: ") and "notes.txt" in err, "error message: " + err)
    err = run("trace", "inspect", notes, "--format", "h5", expect=1).stderr
    check("not an HDF5 file" in err, "h5 error: " + err)
    err = run("trace", "generate", "cloud-like", "-o", out, expect=1).stderr
    check("unknown synthetic preset" in err, "preset error: " + err)
    # Set generator options must make sense: zero, negative or NaN values
    # once fell back to the preset silently, and a huge load filled memory.
    for flag, value in [("--load", "nan"), ("--load", "1e308"), ("--hours", "0"),
                        ("--hours", "-1"), ("--jobs-per-hour", "1e308"), ("--jobs", "0"),
                        ("--machines", "0"), ("--users", "0"),
                        # CLI11 alone wrapped "-1" to 2^64 - 1 and ran with it
                        ("--seed", "-1"), ("--seed", "18446744073709551616"),
                        ("--machines", "1e3"), ("--tasks", "-5")]:
        err = run("trace", "generate", "hpc-like", "-o", out, flag, value, expect=105).stderr
        check(err.startswith(flag + ":") and value in err, f"{flag} {value}: {err}")
    err = run("trace", "inspect", out, "--top", "-1", expect=105).stderr
    check(err.startswith("--top: '-1' is not a whole number"), f"--top -1: {err}")

    # Ctrl-C while the store is written (a generation of 96 h takes seconds
    # before and while writing): exit 130, no partial file, and the output
    # keeps the store an earlier run wrote there (the writer truncated it).
    def gone(path):
        return not os.path.exists(path)

    proc = subprocess.Popen([ALLOT, "trace", "generate", "google-like", "--hours", "96",
                             "--level", "9", "-o", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while gone(out + ".partial"):
        check(time.monotonic() < deadline and proc.poll() is None, "no partial store appeared")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    check(proc.returncode == 130 and f"allot: interrupted by signal 2 (Interrupt): {out} not written"
          in err, f"interrupted generate: exit {proc.returncode}, stderr {err!r}")
    check(gone(out + ".partial"), "the partial store stayed")
    kept = json.loads(run("trace", "inspect", out, "--json").stdout)
    check(kept["task_instances"] == 5000, f"the earlier store changed: {kept['task_instances']}")

    # convert -o X.swf.gz: the HPC2N log written back as SWF. Every record
    # keeps the fields the reader reads (job, submit, wait, run, processors,
    # requested processors and time, status, user, queue, preceding job; memory
    # as requested KB per processor), the rest are -1; the store of the
    # written log equals the store of the raw log but for the header.
    hpc2n = os.path.join(SHARED, "swf", "HPC2N-2002-2.1-cln.swf.gz")
    back = os.path.join(tmp, "hpc2n.swf.gz")
    run("trace", "convert", hpc2n, "-o", back)
    with gzip.open(hpc2n, "rt") as f:
        raw = [line.split() for line in f if line.strip() and not line.startswith(";")]
    with gzip.open(back, "rt") as f:
        text = f.read()
    written = [line.split() for line in text.splitlines() if line and not line.startswith(";")]
    kept = [r for r in raw if r[3] != "-1" and (r[4] != "0" or r[7] not in ("0", "-1"))]
    check(len(written) == len(kept) and len(kept) > 200000,
          f"convert -o .swf.gz: {len(written)} records for {len(kept)} replayable ones")
    for w_, r in zip(written, kept):
        procs = r[4] if int(r[4]) > 0 else r[7]
        mem = r[6] if float(r[6]) > 0 else r[9] if float(r[9]) > 0 else "-1"
        want = [r[0], r[1], r[2], r[3], procs, "-1", "-1", procs, r[8], mem, r[10], r[11], "-1",
                "-1", r[14], "-1", r[16] if int(r[16]) > 0 else "-1", "-1"]
        if w_ != want:
            check(False, f"convert -o .swf.gz: record {w_}, wanted {want} from {r}")
    check("; MaxNodes: 240\n; MaxProcs: 240\n" in text and "; Computer: Linux cluster (Seth)" in text,
          f"convert -o .swf.gz header: {text[:2000]}")
    a = json.loads(run("trace", "inspect", hpc2n, "--json").stdout)
    b = json.loads(run("trace", "inspect", back, "--json").stdout)
    for key in ("jobs", "task_instances", "machines", "users", "roles", "time", "capacity_total",
                "instance_demand", "instance_duration_s", "offered_load", "top_users"):
        check(a[key] == b[key], f"convert -o .swf.gz: inspect {key} {a[key]} != {b[key]}")
    # A workload SWF cannot describe is refused, naming why; nothing written.
    google = os.path.join(tmp, "google.swf")
    err = run("trace", "convert", os.path.join(SHARED, "google2011"), "-o", google,
              expect=1).stderr
    check(err.startswith("allot: ") and "SWF describes a job as one rigid gang" in err and
          not os.path.exists(google) and not os.path.exists(google + ".partial"),
          f"convert google2011 -o .swf: {err!r}")

    # --help explains each subcommand.
    helps = {"convert": "--skip-bad", "inspect": "--json", "generate": "--seed",
             "formats": "presets"}
    for sub, needle in helps.items():
        text = run("trace", sub, "--help").stdout
        check(needle in text, f"`allot trace {sub} --help` lacks {needle}: {text}")

print("ok")
