"""End-to-end test of `allot sim`: runs the real binary.

Usage: sim_cli_test.py ALLOT_BINARY SOURCE_DIR
Checks the bundled KTH SP2 excerpt through the table and --json, that -j 2
(child processes) gives the same summaries and result file contents as -j 1,
the HDF5 result file's layout (read with h5py), that the data commands
restart on a huge-page heap only as cli/huge_heap.h says, and that bad input
exits 1 with an "allot: " message naming what is wrong, and that Ctrl-C or
SIGTERM stops the runs, keeps the finished ones and leaves no part file.
"""

import filecmp
import glob
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py

from clitest import check, runner

ALLOT, SOURCE = sys.argv[1], sys.argv[2]
TRACE = os.path.join(SOURCE, "tests/data/traces/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz")
run = runner(ALLOT)
CHECKS = 0
tmp = tempfile.mkdtemp()

# The table names every policy and the metrics rows.
out = run("sim", TRACE, "-p", "fifo", "-p", "drf", "--stop-at", "2000000").stdout
for word in ("fifo", "drf", "JCT mean (s)", "utilization cpus", "Jain's fairness",
             "declined offers"):
    check(word in out, f"table lacks {word!r}:\n{out}")
CHECKS += 1

# JSON, one process and two, with result files: the same summaries, and the
# same datasets in the files.
def sim(jobs, path):
    return json.loads(run("sim", TRACE, "-p", "fifo", "-p", "drf", "-p", "random", "--stop-at",
                          "2000000", "--json", "-j", str(jobs), "-o", path).stdout)

one, two = sim(1, os.path.join(tmp, "one.h5")), sim(2, os.path.join(tmp, "two.h5"))
check([r["label"] for r in one["runs"]] == ["fifo", "drf", "random"], f"labels {one['runs']}")
check([r["summary"] for r in one["runs"]] == [r["summary"] for r in two["runs"]],
      "-j 2 gave other summaries than -j 1")
s = one["runs"][0]["summary"]
check(s["jobs"] == 5000 and s["jobs_finished"] > 0 and 0 < s["utilization_cpus"] <= 1,
      f"fifo summary {s}")
# Stopped at 2,000,000 s, the run never saw the excerpt's later jobs: they
# are not counted as unfinished work.
with gzip.open(TRACE, "rt") as log:
    submits = [float(line.split()[1]) for line in log if line.strip() and not line.startswith(";")]
later = sum(1 for t in submits if t > s["end_s"])
check(later > 0 and s["jobs_not_submitted"] == later and
      s["jobs_finished"] + s["jobs_unfinished"] + s["jobs_not_submitted"] == 5000,
      f"jobs not submitted by {s['end_s']} s: {later}, summary {s}")
CHECKS += 1

with h5py.File(os.path.join(tmp, "one.h5")) as a, h5py.File(os.path.join(tmp, "two.h5")) as b:
    check(a.attrs["allot_format"] == "allot-sim-result", "format attribute")
    check(json.loads(a.attrs["config"])["policies"] == ["fifo", "drf", "random"], "config attribute")
    check(sorted(a["runs"]) == ["drf", "fifo", "random"], f"runs {list(a['runs'])}")
    for label in ("fifo", "drf", "random"):
        for table in ("jobs", "tasks", "timeseries"):
            for column in a[f"runs/{label}/{table}"]:
                x, y = a[f"runs/{label}/{table}/{column}"][()], b[f"runs/{label}/{table}/{column}"][()]
                check((x == y).all(), f"{label}/{table}/{column} differs between -j 1 and -j 2")
    check(len(a["runs/fifo/jobs/trace_id"]) == 5000, "one job row per job")
# And the same bytes: -j 2's runs end in any order, and each run reaches the
# file the same way as with -j 1.
check(filecmp.cmp(os.path.join(tmp, "one.h5"), os.path.join(tmp, "two.h5"), shallow=False),
      "-j 1 and -j 2 wrote different bytes")
CHECKS += 1

# --seeds 3: random runs with seeds 4, 5, 6, each as a run of its own with
# that --seed; the columns hold the mean and the 95% half-width (Student's t,
# 2 degrees of freedom: 4.302653); fifo, which no seed changes, runs once and
# says so. With --mtbf the seed draws the failures, so fifo runs three times.
def seeded(*extra, expect=0):
    return run("sim", TRACE, "-p", "random", "-p", "fifo", "--stop-at", "2000000", "--seed", "4",
               "--seeds", "3", *extra, expect=expect)


proc = seeded("--json", "-j", "2", "-o", os.path.join(tmp, "seeds.h5"))
got = json.loads(proc.stdout)
check([r["label"] for r in got["runs"]] == ["random@4", "random@5", "random@6", "fifo"] and
      [r["seed"] for r in got["runs"]] == [4, 5, 6, 4] and
      {r["column"] for r in got["runs"]} == {"random", "fifo"}, f"seeded runs {got['runs']}")
check("fifo: runs once, not 3 times" in proc.stderr, f"no note of fifo's one run: {proc.stderr}")
alone = json.loads(run("sim", TRACE, "-p", "random", "--stop-at", "2000000", "--seed", "5",
                       "--json").stdout)["runs"][0]
check(alone["summary"] == got["runs"][1]["summary"], "random@5 differs from a run with --seed 5")
jct = [r["summary"]["jct_s_mean"] for r in got["runs"][:3]]
check(len(set(jct)) == 3, f"the seeds changed nothing: {jct}")
mean = sum(jct) / 3
half = 4.302653 * (sum((x - mean) ** 2 for x in jct) / 2) ** 0.5 / 3 ** 0.5
columns = {c["label"]: c for c in got["columns"]}
spread = columns["random"]["summary"]["jct_s_mean"]
check(abs(spread["mean"] - mean) < 1e-6 * mean and abs(spread["ci95"] - half) < 1e-5 * half and
      spread["n"] == 3 and spread["min"] == min(jct) and spread["max"] == max(jct),
      f"random's spread {spread}, wanted mean {mean} and half-width {half}")
check(columns["fifo"]["runs"] == ["fifo"] and columns["fifo"]["summary"]["jct_s_mean"]["n"] == 1 and
      columns["fifo"]["summary"]["jct_s_mean"]["ci95"] is None, f"fifo column {columns['fifo']}")
with h5py.File(os.path.join(tmp, "seeds.h5")) as f:
    check(sorted(f["runs"]) == ["fifo", "random@4", "random@5", "random@6"],
          f"result file runs {list(f['runs'])}")
    check(json.loads(f["runs/random@5"].attrs["params"])["seed"] == "5", "random@5's seed param")
    check(json.loads(f.attrs["config"])["seeds"] == 3, "config lacks seeds")
table = seeded().stdout
check("3 runs per policy, seeds 4 to 6" in table and
      f"{mean:.1f} ± {half:.1f}" in table, f"table lacks random's mean ± half-width:\n{table}")
failing = json.loads(seeded("--mtbf", "10d", "--json").stdout)
check([r["label"] for r in failing["runs"]][3:] == ["fifo@4", "fifo@5", "fifo@6"],
      f"fifo with --mtbf: {[r['label'] for r in failing['runs']]}")
check(len({r["summary"]["machine_failures"] for r in failing["runs"][3:]}) > 1,
      "the seeds drew the same failures")
err = run("sim", TRACE, "-p", "random", "--seed", "9223372036854775807", "--seeds", "2",
          expect=1).stderr
check("the last seed would pass" in err, f"seed overflow: {err}")
CHECKS += 1

# --baseline: each other column's difference from the baseline's, paired by
# seed (random@k - fifo@k with --mtbf, which gives both the same failures;
# fifo - random@k when fifo ran once), against Python's own paired t interval;
# the table marks an interval that leaves out 0. A label that is no column, or
# a baseline alone, is refused.
def paired(summaries, base, other, key):
    diffs = [o[key] - b[key] for b, o in zip(base, other)]
    mean = sum(diffs) / len(diffs)
    sd = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) ** 0.5
    return mean, 4.302653 * sd / len(diffs) ** 0.5, mean / (sum(b[key] for b in base) / len(base))


def difference_of(output, label, key):
    [column] = [c for c in output["differences"]["columns"] if c["label"] == label]
    return column["summary"][key]


vs_fifo = json.loads(seeded("--mtbf", "10d", "--json", "--baseline", "fifo").stdout)
check([r["summary"] for r in vs_fifo["runs"]] == [r["summary"] for r in failing["runs"]],
      "--baseline changed the runs")
check(vs_fifo["differences"]["baseline"] == "fifo" and
      [c["label"] for c in vs_fifo["differences"]["columns"]] == ["random"],
      f"differences {vs_fifo['differences']}")
by_run = [r["summary"] for r in vs_fifo["runs"]]
for key in ("jct_s_mean", "utilization_cpus", "machine_failures"):
    mean, half, relative = paired(by_run, by_run[3:], by_run[:3], key)
    got_d = difference_of(vs_fifo, "random", key)
    check(abs(got_d["mean"] - mean) <= 1e-9 * max(1, abs(mean)) and
          abs(got_d["ci95"] - half) <= 1e-6 * max(1, half) and got_d["n"] == 3 and
          abs(got_d["relative"] - relative) <= 1e-9 * max(1, abs(relative)),
          f"random - fifo {key}: {got_d}, wanted {mean} ± {half} ({relative})")
once = json.loads(seeded("--json", "--baseline", "random").stdout)
by_run = [r["summary"] for r in once["runs"]]
mean, half, _ = paired(by_run, by_run[:3], [by_run[3]] * 3, "jct_s_mean")
got_d = difference_of(once, "fifo", "jct_s_mean")
check(abs(got_d["mean"] - mean) <= 1e-9 * abs(mean) and abs(got_d["ci95"] - half) <= 1e-6 * half,
      f"fifo run once - random@k: {got_d}, wanted {mean} ± {half}")
table = seeded("--baseline", "random").stdout
row = [line for line in table.split("\n")[table.split("\n").index(
    "difference from random, paired by seed (mean ± half-width): * where the 95% interval "
    "leaves out 0") + 1:] if line.startswith("JCT mean (s)")]
star = " *" if abs(mean) > half else ""
check(row and row[0].endswith(f"{mean:+.1f} ± {half:.1f}{star}"),
      f"difference table's JCT row {row}, wanted {mean:+.1f} ± {half:.1f}{star}:\n{table}")
err = seeded("--baseline", "drf", expect=1).stderr
check("--baseline drf: no such column; the columns are random, fifo" in err, f"unknown: {err}")
err = run("sim", TRACE, "-p", "random", "--baseline", "random", expect=1).stderr
check("no other column to compare with it" in err, f"baseline alone: {err}")
CHECKS += 1

# --load-factor 1.5: each job is submitted at the first submission plus its
# time since then over 1.5 (the result file's submit_us against the log's
# own), the config records the factor, and --history, whose recorded
# schedule is of the log's own submissions, is refused.
scaled = os.path.join(tmp, "scaled.h5")
got = json.loads(run("sim", TRACE, "-p", "fifo", "--load-factor", "1.5", "--stop-at", "2000000",
                     "--json", "-o", scaled).stdout)
check(got["config"]["load_factor"] == 1.5, f"config load_factor {got['config']['load_factor']}")
first = min(submits)
with h5py.File(scaled) as f:
    ids, submit_us = f["runs/fifo/jobs/trace_id"][()], f["runs/fifo/jobs/submit_us"][()]
with gzip.open(TRACE, "rt") as log:
    by_id = {int(line.split()[0]): float(line.split()[1]) for line in log
             if line.strip() and not line.startswith(";")}
wanted = [round(first * 1e6 + round((by_id[i] - first) * 1e6 / 1.5)) for i in ids]
check(list(submit_us) == wanted and len(ids) == 5000,
      f"submissions not scaled: {list(submit_us[:5])}, wanted {wanted[:5]}")
plain = json.loads(run("sim", TRACE, "-p", "fifo", "--stop-at", "2000000", "--json").stdout)
check(plain["config"]["load_factor"] is None and
      got["runs"][0]["summary"]["jobs_not_submitted"] < plain["runs"][0]["summary"][
          "jobs_not_submitted"], "1.5 times the load did not bring jobs before the stop")
# The table's header says the load offered (processors x run time over the
# 100 processors x the submit span), 1.5 times the log's.
with gzip.open(TRACE, "rt") as log:
    records = [line.split() for line in log if line.strip() and not line.startswith(";")]
work = sum((int(f[4]) if int(f[4]) > 0 else int(f[7])) * float(f[3]) for f in records)
load = work / (100 * (max(by_id.values()) - min(by_id.values())))
table = run("sim", TRACE, "-p", "fifo", "--load-factor", "1.5", "--stop-at", "2000000").stdout
check(f"5000 jobs, 100 machines, offered load cpus {150 * load:.1f}%, frameworks" in table,
      f"header without the offered load {150 * load:.1f}%:\n{table[:300]}")
err = run("sim", TRACE, "-p", "fifo", "--load-factor", "1.5", "--history", expect=1).stderr
check("scaled (load factor 1.5): there is no history" in err, f"--history: {err}")
CHECKS += 1

# -p POLICY:name=value,... gives a run parameters of its own, which win over
# --param: random:seed=7 is random with seed 7, beside random with --param's 3;
# labels are the text given. A parameter the policy lacks, a bad item and a
# '/' are refused, naming the -p.
def own_params(*policies):
    return json.loads(run("sim", TRACE, *[a for p in policies for a in ("-p", p)], "--param",
                          "seed=3", "--stop-at", "2000000", "--json").stdout)["runs"]


runs = own_params("random:seed=7", "random", "drf:shuffle_agents=false,seed=2")
check([r["label"] for r in runs] == ["random:seed=7", "random", "drf:shuffle_agents=false,seed=2"]
      and [r["policy"] for r in runs] == ["random", "random", "drf"], f"labels {runs}")
check(runs[0]["params"]["seed"] == "7" and runs[1]["params"]["seed"] == "3" and
      runs[2]["params"]["shuffle_agents"] == "false", f"params {[r['params'] for r in runs]}")
three = own_params("random")[0]  # --param seed=3
alone = json.loads(run("sim", TRACE, "-p", "random", "--seed", "7", "--stop-at", "2000000",
                       "--json").stdout)["runs"][0]
check(runs[0]["summary"] == alone["summary"] and runs[1]["summary"] == three["summary"] and
      runs[0]["summary"] != runs[1]["summary"], "random:seed=7 is not random with seed 7")
for bad, says in [("sparrow:probe=1", "has no parameter 'probe' (it takes: mode, probe_ratio"),
                  ("sparrow:probe_ratio", "-p 'sparrow:probe_ratio': bad policy parameter"),
                  ("drf:seed=1/2", "without '/'"), (":seed=1", "expected POLICY")]:
    err = run("sim", TRACE, "-p", bad, expect=1).stderr
    check(says in err, f"-p {bad}: {err}")
CHECKS += 1

# The data commands restart once with glibc's heap on huge pages
# (cli/huge_heap.h): the tunable is added to the user's GLIBC_TUNABLES, and
# one that names it already is left as it is. Read from /proc/PID/environ
# while the restarted command reads its trace from a named pipe.
def tunables_while_reading(tunables):
    fifo = os.path.join(tmp, "trace.fifo")
    if os.path.exists(fifo):
        os.remove(fifo)
    os.mkfifo(fifo)
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables is not None:
        env["GLIBC_TUNABLES"] = tunables
    proc = subprocess.Popen([ALLOT, "trace", "inspect", fifo, "--format", "swf"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Opening the pipe waits for its reader: the process after the restart.
    with open(fifo, "wb") as pipe:
        with open(f"/proc/{proc.pid}/environ", "rb") as f:
            seen = [v.decode() for v in f.read().split(b"\0") if v.startswith(b"GLIBC_TUNABLES=")]
        with gzip.open(TRACE) as trace:
            pipe.write(trace.read())
    out, err = proc.communicate(timeout=120)
    check(proc.returncode == 0 and "jobs 5000" in out,
          f"trace inspect from a pipe: exit {proc.returncode}\n{out}\n{err}")
    return seen

# Only where the kernel gives huge pages on request alone (THP "madvise");
# elsewhere nothing changes. (glibc rewrites a GLIBC_TUNABLES of several
# tunables in place at start, so the combined value is checked by the C++
# test of hugeHeapTunables instead.)
try:
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        on_request = "[madvise]" in f.read()
except OSError:  # no THP, or no sysfs: allot reads no "[madvise]" either
    on_request = False
for tunables, wanted in [
    (None, ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1"] if on_request else []),
    ("glibc.malloc.hugetlb=0", ["GLIBC_TUNABLES=glibc.malloc.hugetlb=0"]),
]:
    seen = tunables_while_reading(tunables)
    check(seen == wanted, f"GLIBC_TUNABLES {tunables!r} became {seen}, wanted {wanted}")
    CHECKS += 1

# A trace without a machine table (Alibaba 2017's batch_task) is refused
# with a pointer to --cluster, and replays on the cluster --cluster makes.
ALIBABA = os.path.join(SOURCE, "tests/data/traces/alibaba2017/batch_task.csv")
err = run("sim", ALIBABA, "-p", "fifo", expect=1).stderr
check(err.startswith("allot: ") and "no machines" in err and "--cluster" in err,
      f"machine-less trace: stderr {err!r}")
on4 = json.loads(run("sim", ALIBABA, "-p", "fifo", "--json", "--cluster", "4*cpus:8;mem:1").stdout)
check(on4["machines"] == 4, f"--cluster 4*...: {on4['machines']} machines")
check(on4["config"]["cluster"] == "4*cpus:8;mem:1" and on4["config"]["machines_file"] is None,
      f"--cluster is not in the run's configuration: {on4['config']}")
summary4 = on4["runs"][0]["summary"]
check(summary4["jobs_finished"] == on4["jobs"] == 20, f"--cluster 4*...: {summary4}")
on1 = json.loads(run("sim", ALIBABA, "-p", "fifo", "--json", "--cluster", "1*cpus:8;mem:1").stdout)
check(on1["runs"][0]["summary"]["makespan_s"] > summary4["makespan_s"],
      "one machine takes longer than four")
for spec, words in [("4", "expected N*RESOURCES"), ("0*cpus:1", "machine count '0'"),
                    ("4*cpus:x", "'x' is not a number"), ("4*ports:[1-9]", "unreserved scalars")]:
    err = run("sim", ALIBABA, "--cluster", spec, expect=105).stderr  # CLI11's validation code
    check("--cluster" in err and words in err, f"--cluster {spec}: stderr {err!r}")
CHECKS += 1

# Bad input: exit 1, a message naming the problem.
header_only = os.path.join(tmp, "header-only.swf")
with open(header_only, "w") as f:
    f.write("; MaxProcs: 4\n")
for args, words in [
    (("sim", header_only), "header-only.swf: the workload has no jobs: nothing to replay"),
    (("sim", os.path.join(tmp, "missing.swf")), "missing.swf"),
    (("sim", TRACE, "-p", "nosuch"), "unknown policy 'nosuch'"),
    (("sim", TRACE, "-p", "fifo", "--param", "seed=3"), "no chosen policy has a parameter 'seed'"),
    (("sim", TRACE, "-p", "drf", "--param", "drf:"), "--param 'drf:': expected [POLICY:]name=value"),
    (("sim", TRACE, "-p", "drf", "--param", "seed=1", "--param", "seed=2"),
     "--param 'seed=2': drf already has seed=1 from --param 'seed=1'; give it once"),
    (("sim", TRACE, "--event-log", os.path.join(tmp, "no/such/dir/log")), "cannot write the event log"),
    (("sim", TRACE, "--machines", "/nonexistent/machines.csv"),
     "read as swf, which takes no machine table ('/nonexistent/machines.csv' would be ignored"),
    (("sim", TRACE, "-p", "drf", "--param", "min_allocatable=cpu:1"),
     "min_allocatable asks for a resource no machine has"),
]:
    err = run(*args, expect=1).stderr
    check(err.startswith("allot: ") and words in err, f"{args}: stderr {err!r}, wanted {words!r}")
    CHECKS += 1

# --param POLICY:name=value wins over --param name=value, in either order.
for order in (("seed=1", "drf:seed=2"), ("drf:seed=2", "seed=1")):
    args = ["sim", TRACE, "-p", "drf", "-p", "random", "--stop-at", "1", "--json"]
    for text in order:
        args += ["--param", text]
    params = {r["label"]: r["params"] for r in json.loads(run(*args).stdout)["runs"]}
    check(params["drf"]["seed"] == "2" and params["random"]["seed"] == "1",
          f"--param {order}: {params}")
    CHECKS += 1

# Malformed lines: the first stops the run naming file:line, column and
# value; with --skip-bad they are skipped, and the run says how many and why
# on stderr and records it, with --skip-bad, in its configuration (--json and
# the result file); so does a run of a store converted that way.
mixed = os.path.join(tmp, "mixed.swf")
with open(mixed, "w") as f:
    f.write("; MaxNodes: 2\n; MaxProcs: 2\n1 0 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n"
            "2 5 0 ten 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n3 5 0 10 1\n"
            "4 9 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n")
err = run("sim", mixed, "-p", "fifo", expect=1).stderr
check(f"{mixed}:4: column 4 (run_time): bad value 'ten'" in err, f"malformed line: stderr {err!r}")
note = (f"2 malformed lines skipped: 1 with run_time: not a number (first: {mixed}:4: column 4 "
        f"(run_time): bad value 'ten': not a number), 1 with wrong number of fields (first: "
        f"{mixed}:5: expected 18 fields, found 5)")
res = run("sim", mixed, "-p", "fifo", "--skip-bad", "--json", "-o", os.path.join(tmp, "mixed.h5"))
check(res.stderr.count(f"allot: note: {mixed}: {note}\n") == 1, f"--skip-bad: stderr {res.stderr!r}")
config = json.loads(res.stdout)["config"]
check(config["skip_bad"] is True and config["skipped_lines"] == 2, f"--skip-bad: config {config}")
check(json.loads(res.stdout)["runs"][0]["summary"]["jobs_finished"] == 2, res.stdout)
with h5py.File(os.path.join(tmp, "mixed.h5")) as f:
    check(json.loads(f.attrs["config"]) == config, "the result file's config differs from --json's")
store = os.path.join(tmp, "mixed-store.h5")
run("trace", "convert", mixed, "--skip-bad", "-o", store)
res = run("sim", store, "-p", "fifo", "--json")
check(f"allot: note: {store}: {note}" in res.stderr, f"store of a --skip-bad read: {res.stderr!r}")
check(json.loads(res.stdout)["config"]["skipped_lines"] == 2, res.stdout)
res = run("sim", TRACE, "-p", "fifo", "--skip-bad", "--stop-at", "1", "--json")
check("skipped" not in res.stderr and json.loads(res.stdout)["config"]["skipped_lines"] == 0,
      f"clean trace with --skip-bad: {res.stderr!r}")
CHECKS += 1

# --swf DIR: each run's schedule as an SWF log. Read back by a plain parser,
# each job's wait and run time are the result file's; measured by --history,
# the log gives the run's own metrics; history.swf is the log's own schedule.
swf_dir = os.path.join(tmp, "swf")
res = run("sim", TRACE, "-p", "fifo", "-p", "easy", "--history", "--swf", swf_dir, "-j", "2",
          "--json", "-o", os.path.join(tmp, "swf.h5"))
ran = {r["label"]: r["summary"] for r in json.loads(res.stdout)["runs"]}
check(sorted(os.listdir(swf_dir)) == ["easy.swf", "fifo.swf", "history.swf"],
      f"--swf wrote {os.listdir(swf_dir)}")


def swf_records(path):
    with open(path) as f:
        return [[int(x) for x in line.split()] for line in f
                if line.strip() and not line.startswith(";")]


with gzip.open(TRACE, "rt") as f:
    log = [[int(x) for x in line.split()] for line in f if line.strip() and not line.startswith(";")]
with h5py.File(os.path.join(tmp, "swf.h5")) as f:
    for label in ("fifo", "easy"):
        jobs = f[f"runs/{label}/jobs"]
        submit, start, end = (jobs[k][()] for k in ("submit_us", "first_start_us", "end_us"))
        got = swf_records(os.path.join(swf_dir, label + ".swf"))
        check(len(got) == len(log) == len(submit), f"--swf {label}: {len(got)} records")
        for i, (g, l) in enumerate(zip(got, log)):
            want_wait = (start[i] - submit[i]) // 1_000_000
            want_run = (end[i] - start[i]) // 1_000_000
            # The log's job, size, estimate, user and queue; the run's wait,
            # run time and status (every job finished).
            if (g[0], g[1], g[4], g[8], g[11], g[14]) != (l[0], l[1], l[4], l[8], l[11], l[14]) or \
                    (g[2], g[3], g[10]) != (want_wait, want_run, 1):
                check(False, f"--swf {label}: record {i} {g}, log {l}, run wait {want_wait} "
                             f"run {want_run}")
for label in ("fifo", "easy"):
    again = json.loads(run("sim", os.path.join(swf_dir, label + ".swf"), "-p", "fifo",
                           "--history", "--json").stdout)
    measured = again["runs"][1]["summary"]
    for key in ("jct_s_mean", "jct_s_p99", "wait_s_mean", "slowdown_mean", "bounded_slowdown_mean",
                "makespan_s", "utilization_cpus", "jain_fairness_mean", "jobs_finished"):
        check(measured[key] == ran[label][key],
              f"--swf {label} measured by --history: {key} {measured[key]} != {ran[label][key]}")
check(swf_records(os.path.join(swf_dir, "history.swf")) ==
      [l[:5] + [-1, -1] + l[7:11] + [l[11], -1, -1, l[14], -1, l[16], -1] for l in log],
      "--swf history.swf is not the log's own schedule")
with open(os.path.join(swf_dir, "fifo.swf")) as f:
    header = f.read(4096)
check("; Note: the schedule of `allot sim` run fifo: policy fifo, seed 0" in header and
      "; UnixStartTime: 843480031" in header, f"--swf header: {header}")
# A workload SWF cannot describe is refused before any run, naming why.
google = os.path.join(tmp, "google-like.h5")
run("trace", "generate", "google-like", "--jobs", "20", "-o", google)
err = run("sim", google, "-p", "fifo", "--swf", os.path.join(tmp, "gswf"), expect=1).stderr
check(f"allot: --swf {os.path.join(tmp, 'gswf')}: machine 0 has 0.5 cpus" in err and
      "one rigid gang" in err and not os.path.exists(os.path.join(tmp, "gswf")),
      f"--swf of google-like: {err!r}")
CHECKS += 1

# --history: a column with the log's own schedule (its wait and run times),
# measured as the runs are; refused with --cluster, and for a workload that
# records no start, before any run.
res = run("sim", TRACE, "-p", "fifo", "--history", "--json")
hist = json.loads(res.stdout)
check([r["label"] for r in hist["runs"]] == ["fifo", "history"] and hist["config"]["history"],
      f"--history: runs {[r['label'] for r in hist['runs']]}")
recorded = hist["runs"][1]
check(recorded["summary"]["jobs_finished"] == 5000 and recorded["params"] == {},
      f"--history: {recorded}")
with gzip.open(TRACE, "rt") as f:
    waits = [float(line.split()[2]) for line in f if line.strip() and not line.startswith(";")]
check(abs(recorded["summary"]["wait_s_mean"] - sum(waits) / len(waits)) < 1e-6,
      f"--history: mean wait {recorded['summary']['wait_s_mean']}, the log's {sum(waits) / len(waits)}")
out = run("sim", TRACE, "-p", "fifo", "--history").stdout
check("history" in out.splitlines()[2], f"--history: table header {out.splitlines()[2]!r}")
check("overcommitted" not in res.stderr, f"--history on KTH: stderr {res.stderr!r}")
# A log whose recorded jobs overlap on more processors than the machine has:
# the history's utilization exceeds 100%, and the run says why.
over = os.path.join(tmp, "over.swf")
with open(over, "w") as f:
    f.write("; MaxNodes: 2\n; MaxProcs: 2\n1 0 0 10 2 -1 -1 2 20 -1 1 1 1 -1 1 1 -1 -1\n"
            "2 0 0 10 2 -1 -1 2 20 -1 1 2 2 -1 1 1 -1 -1\n")
res = run("sim", over, "-p", "fifo", "--history", "--json")
check(json.loads(res.stdout)["runs"][1]["summary"]["utilization_cpus"] == 2.0, res.stdout)
check("allot: note: history: the trace's recorded tasks held 200.0% of the machines' cpus" in
      res.stderr and "overcommitted" in res.stderr, f"overcommitted history: {res.stderr!r}")
err = run("sim", ALIBABA, "--cluster", "4*cpus:8;mem:1", "--history", expect=1).stderr
check("--history" in err and "--cluster" in err, f"--history --cluster: stderr {err!r}")
synthetic = os.path.join(tmp, "synthetic.h5")
run("trace", "generate", "hpc-like", "--hours", "1", "-o", synthetic)
err = run("sim", synthetic, "--history", "-o", os.path.join(tmp, "none.h5"), expect=1).stderr
check("no history to compare with" in err and not os.path.exists(os.path.join(tmp, "none.h5")),
      f"--history on a synthetic workload: stderr {err!r}")
CHECKS += 1

# An output that is the input under any name (itself, a link, a file of a
# trace folder) is refused before anything is read or written; the input
# stays a store that loads.
kept = os.path.join(tmp, "kept.h5")
run("trace", "convert", TRACE, "-o", kept)
link = os.path.join(tmp, "link.h5")
os.symlink(kept, link)
before = open(kept, "rb").read()
for args in (("sim", kept, "-p", "fifo", "-o", kept), ("sim", link, "-p", "fifo", "-o", kept),
             ("trace", "convert", kept, "-o", link)):
    err = run(*args, expect=1).stderr
    check(err.startswith("allot: -o ") and "would destroy the input" in err, f"{args}: {err!r}")
check(open(kept, "rb").read() == before, "a refused output changed the input")
folder = os.path.join(tmp, "folder")
os.makedirs(os.path.join(folder, "task_events"))
part = os.path.join(folder, "task_events", "part-00000-of-00500.csv")
open(part, "w").close()
err = run("sim", folder, "-o", part, expect=1).stderr
check("is the trace's file" in err, f"output inside the trace folder: {err!r}")
CHECKS += 1

# An event log onto the input is refused the same way; one per run, FILE.LABEL,
# from -j 2's child processes as from one process, with the same lines.
tiny = os.path.join(tmp, "tiny.swf")
with open(os.path.join(SOURCE, "tests/data/traces/swf/tiny.swf")) as f:
    tiny_text = f.read()
with open(tiny, "w") as f:
    f.write(tiny_text)
err = run("sim", tiny, "-p", "fifo", "--event-log", tiny, expect=1).stderr
check(err.startswith("allot: --event-log ") and "would destroy the input" in err, err)
check(open(tiny).read() == tiny_text, "a refused event log changed the input")
logs = {}
for jobs in ("1", "2"):
    base = os.path.join(tmp, f"events-j{jobs}.log")
    run("sim", tiny, "-p", "fifo", "-p", "drf", "--event-log", base, "-j", jobs, "--json")
    logs[jobs] = {label: open(f"{base}.{label}").read() for label in ("fifo", "drf")}
    check(all("launch" in text for text in logs[jobs].values()), f"-j {jobs} logs {logs[jobs]}")
check(logs["1"] == logs["2"], "-j 2 wrote other event logs than -j 1")
CHECKS += 1

# A bad policy parameter value is refused before the trace is read or any
# run starts, naming the run, whatever -j; an existing -o file keeps its runs.
keep = os.path.join(tmp, "keep.h5")
run("sim", tiny, "-p", "fifo", "-o", keep)
kept_bytes = open(keep, "rb").read()
for jobs in ("1", "2"):
    res = run("sim", tiny, "-p", "fifo", "-p", "capacity", "--param", "queues=eng:200", "-o", keep,
              "-j", jobs, expect=1)
    check(res.stderr.startswith("allot: capacity: queues: item 'eng:200'") and res.stdout == "",
          f"bad parameter value, -j {jobs}: stdout {res.stdout!r}, stderr {res.stderr!r}")
check(open(keep, "rb").read() == kept_bytes, "a refused run changed the -o file")
CHECKS += 1

# With -j, each run's wall time is its own process's, not the time since the
# first run started: at most two runs live at once, so the wall times of six
# add up to at most twice the whole command's (they added up to about four
# times when runs counted the time they waited for a slot).
began = time.monotonic()
six = json.loads(run("sim", TRACE, *[a for _ in range(6) for a in ("-p", "drf")], "--stop-at",
                     "2000000", "--json", "-j", "2").stdout)["runs"]
elapsed = time.monotonic() - began
walls = [r["wall_s"] for r in six]
check(len(walls) == 6 and sum(walls) <= 2 * elapsed, f"wall times {walls} in {elapsed:.2f} s")
CHECKS += 1

# Injected machine failures (--mtbf, --mttr): counted in the table and the
# summaries, recorded in the result file's config; rows and config entries
# absent or null without them; bad durations refused naming the flag.
check("machine failures" not in out and "instances lost" not in out,
      f"a run without failures shows failure rows:\n{out}")
failing = os.path.join(tmp, "failing.h5")
table = run("sim", TRACE, "-p", "fifo", "-p", "easy", "--mtbf", "10d", "--mttr", "2h",
            "--max-attempts", "10", "-o", failing).stdout
check("machine failures" in table and "task instances lost" in table and
      "a failure per machine every 10d 00:00:00 on average (repair 02:00:00)" in table,
      f"failure rows or header missing:\n{table}")
runs = json.loads(run("sim", TRACE, "-p", "fifo", "-p", "easy", "--mtbf", "10d", "--mttr", "2h",
                      "--max-attempts", "10", "--json").stdout)["runs"]
for r in runs:
    # 100 machines over about 74 days, failing every 10 days on average.
    check(500 < r["summary"]["machine_failures"] < 1000 and r["summary"]["instances_lost"] > 0,
          f"{r['label']} with failures: {r['summary']}")
# Jobs that lose a task more often than --max-attempts fail, in their own row.
table = run("sim", TRACE, "-p", "fifo", "--mtbf", "2d", "--max-attempts", "1").stdout
failed = [line for line in table.splitlines() if line.startswith("jobs failed")]
check(len(failed) == 1 and int(failed[0].split()[-1]) > 0, f"no failed jobs row:\n{table}")
check("jobs failed" not in out, f"a run without failed jobs shows the row:\n{out}")
with h5py.File(failing) as f:
    config = json.loads(f.attrs["config"])
check(config["mtbf_us"] == 864000 * 10**6 and config["mttr_us"] == 7200 * 10**6,
      f"failure config {config}")
with h5py.File(os.path.join(tmp, "one.h5")) as f:
    config = json.loads(f.attrs["config"])
check(config["mtbf_us"] is None and config["mttr_us"] is None, f"config without failures {config}")
for args, code, words in [(["--mttr", "1h"], 107, "--mttr requires --mtbf"),
                          (["--mtbf", "abc"], 1, "allot: --mtbf 'abc': expected a positive "
                           "duration such as"),
                          (["--mtbf", "0"], 1, "allot: --mtbf '0': expected a positive duration"),
                          (["--mtbf", "200000d"], 1, "allot: --mtbf '200000d': at most 100 years"),
                          (["--mtbf", "1d", "--mttr", "0"], 1, "allot: --mttr '0': expected")]:
    err = run("sim", TRACE, *args, expect=code).stderr
    check(err.startswith(words), f"{args}: stderr {err!r}")
CHECKS += 1

# Numbers CLI11's own ranges let through (NaN), times past what the clock
# holds, and seeds the policies cannot take: refused naming the flag.
for flag, value, words in [("--latency", "nan", "not a finite number"),
                           ("--refuse-seconds", "inf", "not a finite number"),
                           ("--latency", "1e18", "above the most allowed"),
                           ("--interval", "1e-9", "below the least allowed"),
                           # would round to 0 us: automatic sampling
                           ("--sample-interval", "1e-9", "below allot's time resolution"),
                           ("--stop-at", "-1", "below the least allowed"),
                           ("--seed", "-1", "not a whole number"),
                           ("--seed", "9223372036854775808", "not a whole number"),
                           # CLI11 alone said "Could not convert" for these
                           ("--max-attempts", "-1", "'-1' is not a whole number from 0 to"),
                           ("--launches-per-offer", "2.5", "not a whole number"),
                           ("--demand", "4294967296", "from 0 to 4294967295")]:
    err = run("sim", TRACE, flag, value, expect=105).stderr
    check(err.startswith(flag + ":") and words in err, f"{flag} {value}: stderr {err!r}")
    CHECKS += 1

# Two users' gangs of 3 on 4 machines starve each other under drf; with
# decline filters that expire they would ask forever: the run stops as
# stalled, says so on stderr, and reports when in its summary.
starve = os.path.join(tmp, "starve.swf")
with open(starve, "w") as f:
    f.write("; MaxNodes: 4\n; MaxProcs: 4\n"
            "1 0 0 100 3 -1 -1 3 200 -1 1 1 1 -1 1 1 -1 -1\n"
            "2 0 0 100 3 -1 -1 3 200 -1 1 2 2 -1 1 1 -1 -1\n")
res = run("sim", starve, "-p", "drf", "--refuse-seconds", "5", "--json")
summary = json.loads(res.stdout)["runs"][0]["summary"]
check(summary["jobs_unfinished"] == 2 and summary["stalled_at_s"] > 0, f"stalled run: {summary}")
check("stopped as stalled" in res.stderr and "2 jobs unfinished" in res.stderr,
      f"stalled run: stderr {res.stderr!r}")
CHECKS += 1

# The same with Mesos' filters until the agent changes: the declines leave
# nothing to happen and the run ends early; it says so, as the unfinished
# count alone would not (here at 2 s). A run stopped by --stop-at before
# then says nothing.
res = run("sim", starve, "-p", "drf", "--json")
summary = json.loads(res.stdout)["runs"][0]["summary"]
check(summary["jobs_unfinished"] == 2 and "stalled_at_s" not in summary, f"ended run: {summary}")
check("ended at" in res.stderr and "2 jobs unfinished" in res.stderr and "nothing was left" in
      res.stderr, f"ended run: stderr {res.stderr!r}")
res = run("sim", starve, "-p", "drf", "--stop-at", "1", "--json")
check("warning" not in res.stderr, f"run stopped by --stop-at: stderr {res.stderr!r}")
res = run("sim", TRACE, "-p", "fifo", "--json")
check("warning" not in res.stderr, f"run where every job finishes: stderr {res.stderr!r}")
CHECKS += 1

# A --stop-at no later than the first submission (simulated time counts from
# the trace's time 0): warned before the run, once whatever the policies.
late = os.path.join(tmp, "late.swf")
with open(late, "w") as f:
    f.write("; MaxNodes: 2\n; MaxProcs: 2\n1 1000 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n")
res = run("sim", late, "-p", "drf", "-p", "fifo", "--stop-at", "1000", "--json")
check(res.stderr.count("allot: warning: --stop-at 1000 s is not after the first job's submission, "
                       "at 1000 s of simulated time: nothing will run") == 1,
      f"stop before the first submission: stderr {res.stderr!r}")
res = run("sim", late, "-p", "drf", "--stop-at", "1100", "--json")
check("warning" not in res.stderr, f"stop after the first submission: stderr {res.stderr!r}")
check(json.loads(res.stdout)["runs"][0]["summary"]["jobs_finished"] == 1, res.stdout)
CHECKS += 1

# Options that cannot change a run are noted before it, once each, naming
# the runs concerned unless all are: easy publishes demand by default, drf
# does not; the log removes no machine. Set where they act, no note.
res = run("sim", late, "-p", "drf", "-p", "easy", "--offer-timeout", "10", "--exact-estimates",
          "--max-attempts", "2", "--json")
for text in ["allot: note: --offer-timeout has no effect without --hold-offers",
             "allot: note: drf: --exact-estimates has no effect without published demand",
             "allot: note: --max-attempts has no effect on this workload"]:
    check(res.stderr.count(text) == 1, f"inert options: {text!r} not once in {res.stderr!r}")
check(res.stderr.count("allot: note:") == 3, f"inert options: stderr {res.stderr!r}")
res = run("sim", late, "-p", "easy", "--hold-offers", "--offer-timeout", "10", "--exact-estimates",
          "--json")
check("note" not in res.stderr, f"options that act: stderr {res.stderr!r}")
res = run("sim", late, "-p", "fifo", "--hold-offers", "--refuse-seconds", "5", "--json")
check(res.stderr.count("allot: note: --refuse-seconds has no effect with --hold-offers") == 1,
      f"refuse with hold: stderr {res.stderr!r}")
CHECKS += 1

# Whole-agent offers declined by frameworks without published demand: once a
# run has made 2 M of them, ten per instance launched, it says so once, with
# the option that sizes offers to pending work; in one process and from -j 2's
# children alike. With --demand it makes few offers and says nothing. (A
# google-like cell of 3,000 machines: each job's arrival revives its user's
# framework, which is offered every agent and declines all but a few.)
# Millions of offers take minutes under the sanitizers (whose ctest sets
# ALLOT_SANITIZED_BUILD); there the note's rule is left to its unit test.


def check_churn_note():
    churn = os.path.join(tmp, "churn.h5")
    run("trace", "generate", "google-like", "-o", churn, "--machines", "3000", "--tasks", "30000",
        "--hours", "4", "--seed", "1")
    note = "offers so far for"
    res = run("sim", churn, "-p", "drf", "--json")
    summary = json.loads(res.stdout)["runs"][0]["summary"]
    check(summary["offers"] >= 2e6 and summary["offers"] >= 10 * summary["instances_launched"],
          f"churn run: {summary}")
    check(res.stderr.count("allot: note: drf: ") == 1 and res.stderr.count(note) == 1 and
          "With --demand 256 they publish their pending work" in res.stderr,
          f"churn run: stderr {res.stderr!r}")
    res = run("sim", churn, "-p", "drf", "-p", "fifo", "-j", "2", "--json")
    check(res.stderr.count(note) == 2 and res.stderr.count("allot: note: drf: ") == 1 and
          res.stderr.count("allot: note: fifo: ") == 1, f"churn runs, -j 2: stderr {res.stderr!r}")
    res = run("sim", churn, "-p", "drf", "--demand", "256", "--json")
    check(note not in res.stderr, f"churn run with --demand: stderr {res.stderr!r}")
    check(json.loads(res.stdout)["runs"][0]["summary"]["offers"] < 2e6, res.stdout)


if os.environ.get("ALLOT_SANITIZED_BUILD") == "1":
    print("skipped under the sanitizers: the note on declined offers")
else:
    check_churn_note()
    CHECKS += 1

# Ctrl-C and SIGTERM. Per-job frameworks under drf and random take about a
# minute on the excerpt (two-level scheduling's gang problem), time enough to
# interrupt them. With -j 2, Ctrl-C (SIGINT to the whole process group, as a
# terminal sends it): exit 130, the children stopped, their part files
# removed, and the result file, which would hold no run, not written: the
# output keeps the results an earlier run left there.
def start(*args):
    return subprocess.Popen([ALLOT, "sim", TRACE, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(condition, what):
    deadline = time.monotonic() + 60
    while not condition():
        check(time.monotonic() < deadline, f"timed out waiting for {what}")
        time.sleep(0.05)


def group_gone(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


out = os.path.join(tmp, "interrupted.h5")
run("sim", TRACE, "-p", "fifo", "--stop-at", "2000000", "-o", out)
proc = start("-p", "drf", "-p", "random", "--frameworks", "job", "-j", "2", "-o", out)
wait_for(lambda: len(glob.glob(out + ".part[0-9]*")) == 2, "two part files")
time.sleep(0.3)
os.killpg(proc.pid, signal.SIGINT)
_, err = proc.communicate(timeout=60)
check(proc.returncode == 130, f"-j 2 interrupted: exit {proc.returncode}, stderr {err!r}")
check("allot: interrupted by signal 2 (Interrupt): 0 of 2 runs finished; " + out + " not written"
      in err, f"-j 2 interrupted: stderr {err!r}")
check(glob.glob(out + ".*") == [], f"-j 2 interrupted left {glob.glob(out + '.*')}")
with h5py.File(out) as f:
    check(json.loads(f.attrs["config"])["policies"] == ["fifo"] and list(f["runs"]) == ["fifo"],
          "the earlier result file did not stay as it was")
wait_for(lambda: group_gone(proc.pid), "the child processes to end")
CHECKS += 1

# One process, SIGTERM to it alone while drf runs (its event log exists):
# exit 143, and the result file keeps fifo, which had finished.
log = os.path.join(tmp, "events")
proc = start("-p", "fifo", "-p", "drf", "--frameworks", "job", "-o", out, "--event-log", log)
wait_for(lambda: os.path.exists(log + ".drf"), "drf's event log")
time.sleep(0.3)
proc.send_signal(signal.SIGTERM)
_, err = proc.communicate(timeout=60)
check(proc.returncode == 143, f"SIGTERM: exit {proc.returncode}, stderr {err!r}")
check("interrupted by signal 15 (Terminated): 1 of 2 runs finished; they are in " + out in err,
      f"SIGTERM: stderr {err!r}")
with h5py.File(out) as f:
    check(json.loads(f.attrs["config"])["policies"] == ["fifo", "drf"], "SIGTERM: not the new file")
    check(list(f["runs"]) == ["fifo"] and len(f["runs/fifo/jobs/job"]) == 5000,
          f"SIGTERM: runs kept {list(f['runs'])}")
check(glob.glob(out + ".*") == [], f"SIGTERM left {glob.glob(out + '.*')}")
CHECKS += 1

print(f"sim_cli_test: {CHECKS} checks passed")
