"""allot.read_results: what `allot sim -o FILE` wrote, as allot.compare returns it.

The CLI (ALLOT_BUILD_DIR/cli/allot, in separate processes with -j 2) and
allot.simulate run the same simulator on the same inputs: the file read back
must hold exactly the DataFrames simulate returns.
"""

import gzip
import json
import subprocess

import h5py
import numpy as np
import pandas.testing as pdt
import pytest

import allot
from allot_test_data import KTH_STOP_AT, two_queue_swf


def test_cli_results_equal_simulate(allot_cli, kth_path, tmp_path):
    out = tmp_path / "r.h5"
    subprocess.run([allot_cli, "sim", kth_path, "-p", "random", "-p", "drf", "-p", "random",
                    "--seed", "3", "--stop-at", str(KTH_STOP_AT), "--sample-interval", "600",
                    "-j", "2", "-o", out],
                   check=True, capture_output=True)
    table = allot.read_results(out)
    # Runs in the order given, repeats labelled as compare labels them.
    assert list(table.columns) == ["random", "drf", "random#2"]
    assert table.attrs["config"]["policies"] == ["random", "drf", "random"]
    assert table.attrs["config"]["trace"] == str(kth_path)
    assert table.attrs["config"]["skip_bad"] is False and table.attrs["config"]["cluster"] is None
    # The project version; the commit part is each target's build's.
    assert table.attrs["allot_version"].split("+")[0] == allot.__version__.split("+")[0]

    config = dict(stop_at=KTH_STOP_AT, sample_interval=600.0)
    for label, policy in [("random", "random"), ("drf", "drf"), ("random#2", "random")]:
        read = table.attrs["results"][label]
        ran = allot.simulate(kth_path, policy, seed=3, **config)
        assert read.policy == ran.policy == policy
        assert read.config == ran.config
        assert read.params == ran.params
        assert read.dims == ran.dims and read.roles == ran.roles
        pdt.assert_frame_equal(read.jobs, ran.jobs)
        pdt.assert_frame_equal(read.tasks, ran.tasks)
        pdt.assert_frame_equal(read.timeseries, ran.timeseries)
        pdt.assert_frame_equal(read.frameworks, ran.frameworks)
        pdt.assert_frame_equal(read.integrals, ran.integrals)
        pdt.assert_series_equal(read.summary, ran.summary)
        assert read.end == ran.end
        assert read.counters == {k: v for k, v in ran.counters.items() if k != "launches"}
        assert len(read.jobs) > 0 and read.summary["jobs_finished"] > 0
    # Plots take the table as they take compare's: one line per run.
    import matplotlib
    matplotlib.use("Agg")
    assert len(allot.plot.jct_cdf(table).get_lines()) == 3


# A file of `allot sim --seeds 2` reads as compare(seeds=2) returns: the same
# table, each run under POLICY@SEED with its own seed; fifo ran once.
def test_cli_results_over_seeds_equal_compare(allot_cli, kth_path, tmp_path):
    out = tmp_path / "r.h5"
    printed = subprocess.run([allot_cli, "sim", kth_path, "-p", "random", "-p", "fifo", "--seed",
                              "3", "--seeds", "2", "--stop-at", str(KTH_STOP_AT), "-j", "2", "-o",
                              out, "--json", "--baseline", "fifo"],
                             check=True, capture_output=True, text=True).stdout
    table = allot.read_results(out)
    # --baseline's differences are those of allot.differences on the file.
    [printed] = json.loads(printed)["differences"]["columns"]
    mine = allot.differences(table, "fifo")
    for metric, got in printed["summary"].items():
        for stat in ("mean", "ci95", "n", "relative"):
            want = mine.loc[metric, ("random", stat)]
            assert (got[stat] is None and np.isnan(want)) or got[stat] == pytest.approx(want), \
                (metric, stat, got, want)
    with pytest.warns(allot.SimulationWarning, match="fifo: runs once"):
        ran = allot.compare(kth_path, ["random", "fifo"], seed=3, seeds=2, stop_at=KTH_STOP_AT)
    assert list(table.attrs["results"]) == ["random@3", "random@4", "fifo"]
    pdt.assert_frame_equal(table, ran)
    pdt.assert_frame_equal(table.attrs["summaries"], ran.attrs["summaries"])
    for label in ("random@3", "random@4", "fifo"):
        read, mine = table.attrs["results"][label], ran.attrs["results"][label]
        assert read.config == mine.config and read.params == mine.params
        pdt.assert_frame_equal(read.tasks, mine.tasks)
    assert table.attrs["results"]["random@4"].config["seed"] == 4


def test_cli_config_reads_in_seconds(allot_cli, tmp_path):
    trace = tmp_path / "t.swf"
    trace.write_text("; MaxNodes: 2\n; MaxProcs: 2\n1 0 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n")
    out = tmp_path / "r.h5"
    subprocess.run([allot_cli, "sim", trace, "-p", "fifo", "--interval", "0.5",
                    "--refuse-seconds", "5", "--latency", "0.25", "--demand", "16", "-o", out],
                   check=True, capture_output=True)
    config = allot.read_results(out).attrs["results"]["fifo"].config
    assert config["allocation_interval"] == 0.5 and config["refuse_seconds"] == 5.0
    assert config["decision_latency"] == 0.25 and config["demand"] == 16
    assert config["stop_at"] is None and set(config) == set(allot.CONFIG_DEFAULTS) | {"seed"}


def test_not_a_result_file_is_an_error_naming_it(allot_cli, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(allot.Error, match="notes.h5: cannot read this result file"):
        allot.read_results(text)
    with pytest.raises(allot.Error, match="nothing.h5"):
        allot.read_results(tmp_path / "nothing.h5")

    # A workload store is HDF5, but not results.
    trace = tmp_path / "t.swf"
    trace.write_text("; MaxNodes: 2\n1 0 0 10 1 -1 -1 1 20 -1 1 1 1 -1 1 1 -1 -1\n")
    store = tmp_path / "w.h5"
    subprocess.run([allot_cli, "trace", "convert", trace, "--format", "swf", "-o", store],
                   check=True, capture_output=True)
    with pytest.raises(allot.Error,
                       match="w.h5: not an allot result file \\(allot_format is 'allot-workload'"):
        allot.read_results(store)

    # A result file missing a dataset names what is missing.
    out = tmp_path / "r.h5"
    subprocess.run([allot_cli, "sim", trace, "-p", "fifo", "-o", out],
                   check=True, capture_output=True)
    with h5py.File(out, "r+") as f:
        del f["runs/fifo/tasks/start_us"]
    with pytest.raises(allot.Error,
                       match=r"r.h5: cannot read.*run 'fifo' \(/runs/fifo\) lacks .*start_us"):
        allot.read_results(out)
    # A task naming a job the run does not have.
    subprocess.run([allot_cli, "sim", trace, "-p", "fifo", "-o", out],
                   check=True, capture_output=True)
    with h5py.File(out, "r+") as f:
        jobs = f["runs/fifo/tasks/job"][()]
        jobs[0] = 7
        f["runs/fifo/tasks/job"][...] = jobs
    with pytest.raises(allot.Error,
                       match=r"r.h5: cannot read.*run 'fifo' \(/runs/fifo\): tasks row 0 names "
                             r"job 7 of 1"):
        allot.read_results(out)
    with h5py.File(out, "r+") as f:
        f.attrs["allot_format_version"] = np.int64(2)
    with pytest.raises(allot.Error, match="version 2; this allot reads version 1"):
        allot.read_results(out)


def test_cli_history_equals_allot_history(allot_cli, kth_path, tmp_path):
    out = tmp_path / "h.h5"
    subprocess.run([allot_cli, "sim", kth_path, "-p", "fifo", "--stop-at", str(KTH_STOP_AT),
                    "--history", "-o", out], check=True, capture_output=True)
    table = allot.read_results(out)
    assert list(table.columns) == ["fifo", "history"] and table.attrs["config"]["history"]
    read = table.attrs["results"]["history"]
    recorded = allot.history(kth_path, stop_at=KTH_STOP_AT)
    assert read.policy == recorded.policy == "history" and read.params == {}
    pdt.assert_frame_equal(read.jobs, recorded.jobs)
    pdt.assert_frame_equal(read.tasks, recorded.tasks)
    pdt.assert_frame_equal(read.integrals, recorded.integrals)
    pdt.assert_frame_equal(read.timeseries, recorded.timeseries)
    pdt.assert_series_equal(read.summary, recorded.summary)
    assert (read.tasks["machine"] == -1).all()  # SWF names no machine


# Injected failures: the file records the repair time the run used (the
# default when only mtbf is given), as simulate's result does, and both hold
# the same run.
def test_cli_failures_equal_simulate(allot_cli, kth_path, tmp_path):
    out = tmp_path / "r.h5"
    subprocess.run([allot_cli, "sim", kth_path, "-p", "fifo", "--seed", "5", "--mtbf", "20d",
                    "--max-attempts", "4", "--stop-at", str(KTH_STOP_AT), "-o", out],
                   check=True, capture_output=True)
    read = allot.read_results(out).attrs["results"]["fifo"]
    ran = allot.simulate(kth_path, "fifo", seed=5, mtbf=20 * 86400, max_attempts=4,
                         stop_at=KTH_STOP_AT)
    assert read.config["mtbf"] == ran.config["mtbf"] == 20 * 86400
    assert read.config["mttr"] == ran.config["mttr"] == 3600.0
    assert ran.counters["machine_failures"] > 0 and ran.counters["instances_lost"] > 0
    assert read.counters == {k: v for k, v in ran.counters.items() if k != "launches"}
    pdt.assert_frame_equal(read.tasks, ran.tasks)
    pdt.assert_series_equal(read.summary, ran.summary)


def test_cli_role_settings_equal_simulate_roles(allot_cli, tmp_path):
    """`allot sim --weight/--guarantee/--limit` records the roles as
    allot.simulate(roles=...) does, and gives the same run."""
    trace = two_queue_swf(tmp_path / "queues.swf")
    out = tmp_path / "r.h5"
    subprocess.run([allot_cli, "sim", trace, "-p", "drf", "--frameworks", "role",
                    "--launches-per-offer", "1", "--refuse-seconds", "0", "--weight", "1=2",
                    "--limit", "2=cpus:5;mem:1", "--guarantee", "2=cpus:1", "-o", out],
                   check=True, capture_output=True)
    read = allot.read_results(out).attrs["results"]["drf"]
    ran = allot.simulate(trace, "drf", frameworks="role", launches_per_offer=1, refuse_seconds=0,
                         roles={"1": {"weight": 2}, "2": {"limit": "cpus:5;mem:1",
                                                          "guarantee": "cpus:1"}})
    assert read.config == ran.config
    assert read.config["roles"] == {
        "1": {"weight": 2.0, "guarantee": None, "limit": None},
        "2": {"weight": 1.0, "guarantee": "cpus:1", "limit": "cpus:5;mem:1"}}
    pdt.assert_frame_equal(read.jobs, ran.jobs)

    bad = subprocess.run([allot_cli, "sim", trace, "--weight", "1=-1"], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "--weight '1=-1': the weight must be a positive number" \
        in bad.stderr, bad.stderr
    twice = subprocess.run([allot_cli, "sim", trace, "--limit", "1=cpus:1", "--limit",
                            "1=cpus:2"], capture_output=True, text=True)
    assert twice.returncode != 0 and "--limit: role '1' given twice" in twice.stderr, twice.stderr


def _swf_records(path):
    with (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)) as f:
        return [line.split() for line in f if line.strip() and not line.startswith(";")]


# allot.write_swf of a run writes what `allot sim --swf` writes for it, record
# for record, from simulate's result and from read_results' alike; jobs the
# stop cut off have wait -1 and status -1.
def test_write_swf_equals_cli_swf(allot_cli, kth, kth_path, tmp_path):
    subprocess.run([allot_cli, "sim", kth_path, "-p", "fifo", "--stop-at", str(KTH_STOP_AT),
                    "--swf", tmp_path / "cli", "-o", tmp_path / "r.h5"], check=True,
                   capture_output=True)
    cli = _swf_records(tmp_path / "cli" / "fifo.swf")
    result = allot.simulate(kth, "fifo", stop_at=KTH_STOP_AT)
    allot.write_swf(tmp_path / "py.swf", kth, result)
    assert _swf_records(tmp_path / "py.swf") == cli
    read = allot.read_results(tmp_path / "r.h5").attrs["results"]["fifo"]
    allot.write_swf(tmp_path / "read.swf.gz", kth, read)
    assert _swf_records(tmp_path / "read.swf.gz") == cli
    assert len(allot.load_trace(tmp_path / "read.swf.gz")) == len(kth) == len(cli)
    finished = result.jobs["state"] == "finished"
    assert 0 < finished.sum() < len(kth)
    status = np.array([int(r[10]) for r in cli])
    wait = np.array([int(r[2]) for r in cli])
    assert (status[finished.to_numpy()] == 1).all() and (status[~finished.to_numpy()] == -1).all()
    assert (wait[~finished.to_numpy()] == -1).all()
    np.testing.assert_array_equal(wait[finished.to_numpy()],
                                  result.jobs["wait"][finished].to_numpy())
    with open(tmp_path / "py.swf") as f:
        assert "; Note: the schedule of a run of policy fifo, seed 0" in f.read()

    # Without a result: the log's own schedule, which reads back as the log
    # (the trace given by its path, as simulate takes it).
    allot.write_swf(tmp_path / "own.swf", kth_path)
    again = allot.load_trace(tmp_path / "own.swf")
    for column in ("trace_id", "submit_us", "user", "role", "instances", "depends_on"):
        assert [list(x) if isinstance(x, np.ndarray) else x
                for x in again.jobs_table()[column]] == \
               [list(x) if isinstance(x, np.ndarray) else x
                for x in kth.jobs_table()[column]], column
    pdt.assert_frame_equal(allot.history(again).jobs, allot.history(kth).jobs)

    # A result of another workload, and a workload SWF cannot describe.
    tiny = allot.load_trace(two_queue_swf(tmp_path / "two.swf"))
    with pytest.raises(allot.InvalidArgument, match="not the workload's"):
        allot.write_swf(tmp_path / "x.swf", tiny, result)
    with pytest.raises(allot.InvalidArgument, match="one rigid gang"):
        allot.write_swf(tmp_path / "g.swf", allot.synthetic("google-like", max_jobs=10))
    assert not (tmp_path / "g.swf").exists()
