"""allot.simulate and allot.compare on real runs: shapes, units, determinism, config errors."""

import gzip
import warnings

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import allot
from allot_test_data import ALIBABA2017_EXCERPT, KTH_STOP_AT, two_queue_swf, write_swf


# The DataFrames carry times in seconds: a hand-computed FCFS schedule on two
# 2-cpu machines, where the 2-wide job waits for the 3-wide one and the
# 1-wide job may not pass it.
def test_fcfs_schedule_in_seconds(tiny):
    r = allot.simulate(tiny, "fifo", frameworks="single", queue="fcfs", hold_offers=True)
    jobs = r.jobs.set_index("trace_id")
    assert jobs["submit"].tolist() == [0.0, 10.0, 20.0]
    assert jobs["first_start"].tolist() == [0.0, 100.0, 100.0]
    assert jobs["end"].tolist() == [100.0, 150.0, 105.0]
    assert jobs["jct"].tolist() == [100.0, 140.0, 85.0]
    assert jobs["wait"].tolist() == [0.0, 90.0, 80.0]
    assert (jobs["state"] == "finished").all()
    # The 3-wide gang runs as 2 + 1 instances on the two machines.
    first = r.tasks[r.tasks["job"] == 0]
    assert sorted(first["count"]) == [1, 2] and sorted(first["machine"]) == [0, 1]
    assert r.summary["jct_s_mean"] == pytest.approx((100 + 140 + 85) / 3)


# With first-fit the 1-wide job passes the blocked 2-wide one.
def test_first_fit_lets_small_jobs_pass(tiny):
    r = allot.simulate(tiny, "fifo", frameworks="single", queue="first-fit", hold_offers=True)
    assert r.jobs["first_start"].tolist() == [0.0, 100.0, 20.0]


# One job row per workload job, in workload order; task rows account for
# every launched instance; the summary counts agree with the rows.
def test_rows_match_workload(kth):
    r = allot.simulate(kth, "drf", stop_at=KTH_STOP_AT)
    assert len(r.jobs) == len(kth) == kth.jobs == 27992
    assert (r.jobs["job"].to_numpy() == np.arange(len(kth))).all()
    table = kth.jobs_table()
    assert (r.jobs["trace_id"].to_numpy() == table["trace_id"]).all()
    assert (r.jobs["instances"].to_numpy() == table["instances"]).all()
    assert r.tasks["count"].sum() == r.counters["instances_launched"] > 0
    assert len(r.tasks) == r.counters["launches"]
    finished = r.jobs[r.jobs["state"] == "finished"]
    assert len(finished) == r.summary["jobs_finished"] > 1000
    assert finished["jct"].mean() == pytest.approx(r.summary["jct_s_mean"])
    # Every instance of a finished job ran, and it ended after its tasks.
    done = r.tasks[r.tasks["state"] == "finished"].groupby("job")
    assert (done["count"].sum().loc[finished["job"]].to_numpy()
            == finished["instances"].to_numpy()).all()
    assert (done["end"].max().loc[finished["job"]].to_numpy() <= finished["end"].to_numpy()).all()
    # Unfinished at the stop: no end time.
    assert r.jobs.loc[r.jobs["state"] == "unfinished", "end"].isna().all()
    assert r.end <= KTH_STOP_AT
    # The jobs after the stop were never submitted, and each row says so.
    later = r.jobs["submit"] > KTH_STOP_AT
    states = r.jobs["state"].value_counts()
    assert later.sum() > 0 and (r.jobs.loc[later, "state"] == "not_submitted").all()
    for state in ("finished", "unfinished", "not_submitted"):
        assert states[state] == r.summary[f"jobs_{state}"], (state, states, r.summary)


def test_timeseries_columns(kth):
    r = allot.simulate(kth, "fifo", stop_at=KTH_STOP_AT, sample_interval=3600)
    ts = r.timeseries
    for dim in kth.dims:
        assert {f"used_{dim}", f"allocated_{dim}", f"total_{dim}"} <= set(ts.columns)
    assert {"time", "pending", "running", "offers", "jain", "share_*"} <= set(ts.columns)
    assert (np.diff(ts["time"]) == 3600).all()
    assert (ts["used_cpus"] <= ts["allocated_cpus"] + 1e-9).all()
    assert (ts["allocated_cpus"] <= ts["total_cpus"] + 1e-9).all()
    assert ts["total_cpus"].max() == 100  # KTH: 100 one-processor nodes
    assert ts["running"].max() > 0
    assert r.integrals.loc["cpus", "used"] > 0


# Same workload, policy, seed and config: identical DataFrames.
def test_same_seed_same_result(kth):
    a = allot.simulate(kth, "random", seed=7, stop_at=KTH_STOP_AT)
    b = allot.simulate(kth, "random", seed=7, stop_at=KTH_STOP_AT)
    pdt.assert_frame_equal(a.jobs, b.jobs)
    pdt.assert_frame_equal(a.tasks, b.tasks)
    pdt.assert_frame_equal(a.timeseries, b.timeseries)
    pdt.assert_series_equal(a.summary, b.summary)


# The run's seed reaches the policy's `seed` parameter (as `allot sim --seed`).
def test_seed_is_the_policy_seed(kth):
    a = allot.simulate(kth, "random", seed=1, stop_at=KTH_STOP_AT)
    b = allot.simulate(kth, "random", seed=2, stop_at=KTH_STOP_AT)
    assert a.params["seed"] == "1" and b.params["seed"] == "2"
    assert not a.tasks["machine"].equals(b.tasks["machine"])
    # An explicit parameter wins over the run's seed.
    c = allot.simulate(kth, "random", seed=2, params={"seed": 1}, stop_at=KTH_STOP_AT)
    pdt.assert_frame_equal(a.tasks, c.tasks)


def test_path_or_workload(tiny):
    a = allot.simulate(tiny, "drf")
    b = allot.simulate(allot.load_trace(tiny), "drf")
    pdt.assert_frame_equal(a.jobs, b.jobs)
    assert a.config["frameworks"] == "user" and a.config["stop_at"] is None


def test_unknown_config_key_raises_type_error(tiny):
    with pytest.raises(TypeError, match="'stop_after'"):
        allot.simulate(tiny, "drf", stop_after=10)


@pytest.mark.parametrize("config, match", [
    ({"frameworks": "team"}, "grouping 'team'"),
    ({"queue": "lifo"}, "queue discipline 'lifo'"),
    ({"decision_latency": -1.0}, "decision_latency"),
    ({"allocation_interval": 0.0}, "allocation_interval must be a positive number"),
    # As `allot sim`'s flags: no infinite times, none that would round to 0 us.
    ({"refuse_seconds": float("inf")}, "refuse_seconds must be a finite number of seconds"),
    ({"stop_at": float("inf")}, "stop_at must be a finite number of seconds"),
    ({"sample_interval": 1e-9}, "sample_interval = 1e-09 s is below allot's time resolution"),
    ({"mtbf": 0}, "mtbf must be a positive number of seconds, got 0"),
    ({"mtbf": 86400, "mttr": -5}, "mttr must be a positive number of seconds, got -5"),
    ({"mttr": 60}, "mttr has no effect without mtbf: no failures are injected"),
    ({"mtbf": "30d"}, "mtbf must be a number of seconds, got '30d'"),
])
def test_bad_config_values_raise(tiny, config, match):
    with pytest.raises(allot.InvalidArgument, match=match):
        allot.simulate(tiny, "drf", **config)


@pytest.mark.parametrize("config, match", [
    ({"seed": -1}, "seed must be a whole number from 0 to 9223372036854775807, got -1"),
    ({"seed": 2**63}, "seed must be"),
    ({"demand": -3}, "demand must be a whole number from 0 to 4294967295, got -3"),
    ({"demand": 2**32}, "demand must be"),
    ({"max_attempts": 2.5}, "max_attempts must be a whole number"),
    ({"launches_per_offer": True}, "launches_per_offer must be"),
    ({"hold_offers": "yes"}, "hold_offers must be True or False, got 'yes'"),
    ({"exact_estimates": 1}, "exact_estimates must be True or False, got 1"),
    ({"allocation_interval": 0}, "allocation_interval must be a positive number of seconds"),
    ({"allocation_interval": -1}, "allocation_interval must be a positive number of seconds"),
    ({"decision_latency": -1}, "decision_latency must be a non-negative number of seconds"),
    ({"stop_at": "10"}, "stop_at must be a number of seconds, got '10'"),
    ({"offer_timeout": True}, "offer_timeout must be a number of seconds, got True"),
    ({"refuse_seconds": [5]}, r"refuse_seconds must be a number of seconds, got \[5\]"),
])
def test_bad_whole_numbers_raise(tiny, config, match):
    with pytest.raises(allot.InvalidArgument, match=match):
        allot.simulate(tiny, "drf", **config)
    with pytest.raises(allot.InvalidArgument, match=match):
        allot.compare(tiny, ["drf"], **config)


def test_compare_refuses_params_of_policies_not_compared(tiny):
    # A typo in a policy's name would drop its parameters without a word.
    with pytest.raises(allot.InvalidArgument,
                       match="params name policy 'tetis', which is not among the policies "
                             r"compared \(fifo, drf\)"):
        allot.compare(tiny, ["fifo", "drf"], params={"tetis": {"seed": 3}})


def test_compare_checks_every_policys_params_before_any_run(tiny):
    # A bad value for the last policy used to surface only after the runs before it.
    class Counting(allot.Policy):
        name = "counting"
        calls = 0

        def decide(self, now):
            Counting.calls += 1

    with pytest.raises(allot.InvalidArgument, match=r"^capacity: queues: item 'eng:200'"):
        allot.compare(tiny, [Counting(), "fifo", "capacity"],
                      params={"capacity": {"queues": "eng:200"}})
    assert Counting.calls == 0
    with pytest.raises(allot.NotFound, match="^nosuch: "):
        allot.compare(tiny, [Counting(), "nosuch"])
    assert Counting.calls == 0


@pytest.mark.parametrize("jobs", [0, -3, 2.5, True, 257])
def test_compare_refuses_bad_jobs(tiny, jobs):
    with pytest.raises(allot.InvalidArgument, match="jobs must be a whole number from 1 to 256"):
        allot.compare(tiny, ["fifo"], jobs=jobs)


@pytest.mark.parametrize("policy", ["drf", "random", "sparrow"])
def test_negative_seed_parameter_raises(tiny, policy):
    # The policy's own parameter, as `--param seed=-5`, is held to --seed's range.
    with pytest.raises(allot.InvalidArgument, match="parameter seed: '-5' is not a whole number"):
        allot.simulate(tiny, policy, params={"seed": "-5"})


def test_whole_numbers_take_numpy_integers(tiny):
    a = allot.simulate(tiny, "random", seed=np.uint64(7), demand=np.int64(4))
    b = allot.simulate(tiny, "random", seed=7, demand=4)
    pdt.assert_frame_equal(a.jobs, b.jobs)


def test_bad_policy_or_param_raises(tiny):
    with pytest.raises(allot.NotFound, match="known: drf, fifo, random"):
        allot.simulate(tiny, "lottery")
    with pytest.raises(allot.InvalidArgument, match="colour"):
        allot.simulate(tiny, "drf", params={"colour": "red"})
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError too
        allot.simulate(tiny, "fifo", params={"min_allocatable": "cpus:x"})


def test_load_errors(tmp_path):
    with pytest.raises(allot.Error, match="nothing-here"):
        allot.load_trace(tmp_path / "nothing-here.swf")
    with pytest.raises(allot.InvalidArgument):
        allot.load_trace(tmp_path / "x.swf", format="csv")


def test_skipped_lines_warn(tmp_path):
    path = write_swf(tmp_path / "mixed.swf", [(1, 0, 10, 1, 1), (2, 5, 10, 1, 1)])
    path.write_text(path.read_text() + "3 5 0 ten 1 -1 -1 1 -1 -1 -1 1 -1 -1 -1 -1 -1 -1\n")
    with pytest.raises(allot.ParseError, match=r"mixed.swf:5: column 4 \(run_time\)"):
        allot.load_trace(path)
    with pytest.warns(allot.TraceWarning) as caught:
        w = allot.load_trace(path, skip_bad=True)
    assert len(caught) == 1 and caught[0].filename == __file__
    assert str(caught[0].message) == (f"{path}: 1 malformed line skipped: "
                                      "1 with run_time: not a number (first: "
                                      f"{path}:5: column 4 (run_time): bad value 'ten': "
                                      "not a number)")
    assert len(w) == 2 and w.meta["count.skipped_lines"] == "1"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        allot.load_trace(write_swf(tmp_path / "clean.swf", [(1, 0, 10, 1, 1)]), skip_bad=True)


def test_left_out_records_warn(tmp_path):
    # SWF's -1 run time: a well-formed record that cannot be replayed is left
    # out, and the load says so (the warning points at the caller's line).
    path = write_swf(tmp_path / "unknown.swf", [(1, 0, 10, 1, 1), (2, 5, -1, 1, 1)])
    with pytest.warns(allot.TraceWarning) as caught:
        w = allot.load_trace(path)
    assert len(caught) == 1 and caught[0].filename == __file__
    assert str(caught[0].message) == (f"{path}: 1 record left out as not replayable: "
                                      "1 with run time unknown (-1)")
    assert len(w) == 1 and w.meta["count.unknown_runtime"] == "1"


def test_history_is_the_logs_own_schedule(kth_path):
    # The log's fields, read apart from allot: submit (2), wait (3), run (4).
    with gzip.open(kth_path, "rt") as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith(";")]
    swf = pd.DataFrame([[float(r[1]), float(r[2]), float(r[3])] for r in rows],
                       columns=["submit", "wait", "run"])
    start = swf["submit"].min()
    h = allot.history(kth_path)
    assert h.policy == "history" and len(h.jobs) == len(swf)
    assert (h.jobs["state"] == "finished").all()
    np.testing.assert_array_equal(h.jobs["wait"], swf["wait"])
    np.testing.assert_array_equal(h.jobs["jct"], swf["wait"] + swf["run"])
    assert h.summary["wait_s_mean"] == pytest.approx(swf["wait"].mean(), rel=1e-12)
    assert h.summary["jct_s_p95"] == np.percentile(swf["wait"] + swf["run"], 95,
                                                   method="inverted_cdf")
    # 100 one-processor nodes from the first submission to the last end.
    span = (swf["submit"] + swf["wait"] + swf["run"]).max() - start
    procs = np.array([int(r[4]) if int(r[4]) > 0 else int(r[7]) for r in rows])
    assert h.summary["utilization_cpus"] == pytest.approx(
        (procs * swf["run"]).sum() / (100 * span), rel=1e-9)
    # Sampled as a replay is, from the first submission on: the mean of the
    # samples' used share is close to the exact utilization.
    ts = h.timeseries
    assert ts["time"].iloc[0] == start and (ts["total_cpus"] == 100).all()
    assert (ts["offers"] == 0).all() and (ts["used_cpus"] == ts["allocated_cpus"]).all()
    assert (ts["used_cpus"] / 100).mean() == pytest.approx(h.summary["utilization_cpus"], abs=0.01)
    assert 0 < h.summary["jain_fairness_mean"] <= 1


def test_compare_with_history(tmp_path):
    # Jobs at 0 and 10 s that waited 0 and 90 s and ran 100 and 50 s.
    path = tmp_path / "waits.swf"
    path.write_text("; MaxNodes: 2\n; MaxProcs: 4\n"
                    "1 0 0 100 3 -1 -1 3 -1 -1 -1 1 -1 -1 -1 -1 -1 -1\n"
                    "2 10 90 50 2 -1 -1 2 -1 -1 -1 2 -1 -1 -1 -1 -1 -1\n")
    table = allot.compare(path, ["fifo"], history=True)
    assert list(table.columns) == ["fifo", "history"]
    assert table.loc["wait_s_mean", "history"] == 45 and table.loc["jct_s_mean", "history"] == 120
    assert table.attrs["results"]["history"].summary.equals(allot.history(path).summary)
    stopped = allot.history(path, stop_at=120)
    assert stopped.end == 120 and stopped.summary["jobs_finished"] == 1
    with pytest.raises(allot.InvalidArgument, match="no history to compare with"):
        allot.compare(write_swf(tmp_path / "no-waits.swf", [(1, 0, 10, 1, 1)]), ["fifo"],
                      history=True)


# A load factor divides each job's time since the first submission, as
# `allot sim --load-factor`: at load_trace or on a loaded workload (a copy);
# the offered load grows by it, and the recorded schedule no longer applies.
def test_load_factor_scales_the_arrivals(kth_path, kth):
    faster = allot.load_trace(kth_path, load_factor=2)
    copy = kth.with_load_factor(2)
    before, after = kth.jobs_table()["submit_us"], faster.jobs_table()["submit_us"]
    first = before.min()
    assert (after == first + np.round((before - first) / 2)).all()
    assert (copy.jobs_table()["submit_us"] == after).all()
    assert (kth.jobs_table()["submit_us"] == before).all()  # the loaded one is left alone
    assert faster.meta["load_factor"] == "2" and "load_factor" not in kth.meta
    assert faster.offered_load["cpus"] == pytest.approx(2 * kth.offered_load["cpus"])
    assert np.isnan(kth.offered_load["mem"])  # the log records no memory
    slow = allot.simulate(kth, "fifo", stop_at=KTH_STOP_AT).summary
    fast = allot.simulate(copy, "fifo", stop_at=KTH_STOP_AT).summary
    assert fast["jobs_not_submitted"] < slow["jobs_not_submitted"]
    with pytest.raises(allot.InvalidArgument, match=r"scaled \(load factor 2\)"):
        allot.history(faster)
    with pytest.raises(allot.InvalidArgument, match="load factor must be a number above 0"):
        kth.with_load_factor(0)
    with pytest.raises(TypeError, match="load_factor must be a number"):
        allot.load_trace(kth_path, load_factor="2")


def test_cluster_replaces_the_machines():
    path = ALIBABA2017_EXCERPT
    assert allot.load_trace(path).machines == 0
    w = allot.load_trace(path, cluster="4*cpus:8;mem:1")
    assert w.machines == 4 and w.meta["cluster"] == "4*cpus:8;mem:1"
    assert (w.machine_capacities()[:, w.dims.index("cpus")] == 8).all()
    summary = allot.simulate(w, "fifo").summary
    assert summary["jobs_finished"] == len(w) == 20
    with pytest.raises(allot.ParseError, match="machine count '0'"):
        allot.load_trace(path, cluster="0*cpus:8")
    # The recorded schedule ran on the trace's own machines, not on these
    # (its utilization came out at 20 times the cluster's cpus).
    with pytest.raises(allot.InvalidArgument, match=r"replaced by a uniform cluster \(4\*cpus"):
        allot.history(w)


def test_compare_tables_summaries(kth):
    table = allot.compare(kth, ["drf", "fifo", "fifo"], stop_at=KTH_STOP_AT)
    assert list(table.columns) == ["drf", "fifo", "fifo#2"]
    results = table.attrs["results"]
    assert set(results) == {"drf", "fifo", "fifo#2"}
    pdt.assert_series_equal(table["drf"], results["drf"].summary, check_names=False)
    # The table's index name is its own: the runs' summaries are as simulate
    # returns them (naming the table's index once renamed theirs too).
    assert table.index.name == "metric" and results["drf"].summary.index.name is None
    assert table.loc["jobs", "drf"] == len(kth)
    # The same policy twice gives the same numbers; fifo and drf differ.
    pdt.assert_series_equal(table["fifo"], table["fifo#2"], check_names=False)
    assert table.loc["jct_s_mean", "fifo"] != table.loc["jct_s_mean", "drf"]


# Simulations in threads (the GIL is released) give what sequential runs give.
def test_compare_in_threads_matches_sequential(kth):
    seq = allot.compare(kth, ["drf", "random"], seed=3, stop_at=KTH_STOP_AT)
    par = allot.compare(kth, ["drf", "random"], seed=3, stop_at=KTH_STOP_AT, jobs=2)
    pdt.assert_frame_equal(seq, par)
    for label in ("drf", "random"):
        pdt.assert_frame_equal(seq.attrs["results"][label].tasks,
                               par.attrs["results"][label].tasks)


# seeds=3: each seeded policy runs with seeds 5, 6, 7, each run as simulate
# gives it with that seed; the columns are the mean, the 95% half-width
# (Student's t with 2 degrees of freedom: 4.302653) and the count; fifo,
# which no seed changes, runs once with a warning.
def test_compare_over_seeds(kth):
    with pytest.warns(allot.SimulationWarning, match="fifo: runs once, not 3 times"):
        table = allot.compare(kth, ["random", "fifo"], seed=5, seeds=3, stop_at=KTH_STOP_AT,
                              jobs=2)
    assert list(table.columns) == [(p, s) for p in ("random", "fifo") for s in ("mean", "ci95", "n")]
    results = table.attrs["results"]
    assert list(results) == ["random@5", "random@6", "random@7", "fifo"]
    alone = allot.simulate(kth, "random", seed=6, stop_at=KTH_STOP_AT)
    pdt.assert_frame_equal(results["random@6"].tasks, alone.tasks)
    values = np.array([results[f"random@{s}"].summary["jct_s_mean"] for s in (5, 6, 7)])
    assert len(set(values)) == 3  # the seed changed each run
    assert table.loc["jct_s_mean", ("random", "mean")] == pytest.approx(values.mean())
    assert table.loc["jct_s_mean", ("random", "ci95")] == pytest.approx(
        4.302653 * values.std(ddof=1) / np.sqrt(3), rel=1e-6)
    assert table.loc["jct_s_mean", ("random", "n")] == 3
    assert table.loc["jct_s_mean", ("fifo", "mean")] == results["fifo"].summary["jct_s_mean"]
    assert table.loc["jct_s_mean", ("fifo", "n")] == 1
    assert np.isnan(table.loc["jct_s_mean", ("fifo", "ci95")])
    summaries = table.attrs["summaries"]
    assert list(summaries.columns) == list(results)
    # With injected failures the seed draws them, so fifo runs three times too.
    failing = allot.compare(kth, ["fifo"], seeds=3, stop_at=KTH_STOP_AT, mtbf=86400 * 10)
    assert list(failing.attrs["results"]) == ["fifo@0", "fifo@1", "fifo@2"]
    assert failing.loc["machine_failures", ("fifo", "n")] == 3
    with pytest.raises(allot.InvalidArgument, match="seeds must be"):
        allot.compare(kth, ["fifo"], seeds=0)


# differences: each policy minus the baseline, paired by seed (with mtbf the
# runs of a seed share its failures), as `allot sim --baseline`; a policy run
# once pairs with each run of the other; one run each gives no interval.
def test_differences_pair_runs_by_seed(kth):
    table = allot.compare(kth, ["drf", "random", "fifo"], seeds=3, stop_at=KTH_STOP_AT,
                          mtbf=86400 * 10, jobs=2)
    d = allot.differences(table, "fifo")
    assert list(d.columns) == [(p, s) for p in ("drf", "random")
                               for s in ("mean", "ci95", "n", "relative")]
    assert d.attrs["baseline"] == "fifo"
    results = table.attrs["results"]
    for metric in ("jct_s_mean", "utilization_cpus", "machine_failures"):
        base = np.array([results[f"fifo@{s}"].summary[metric] for s in range(3)])
        diff = np.array([results[f"random@{s}"].summary[metric] for s in range(3)]) - base
        assert d.loc[metric, ("random", "mean")] == pytest.approx(diff.mean())
        assert d.loc[metric, ("random", "ci95")] == pytest.approx(
            4.302653 * diff.std(ddof=1) / np.sqrt(3), rel=1e-6)
        assert d.loc[metric, ("random", "n")] == 3
        assert d.loc[metric, ("random", "relative")] == pytest.approx(diff.mean() / base.mean())
    # Paired, not side by side: shuffling one policy's seeds changes the interval.
    base = np.array([results[f"fifo@{s}"].summary["jct_s_mean"] for s in range(3)])
    other = np.array([results[f"random@{s}"].summary["jct_s_mean"] for s in (1, 2, 0)])
    assert d.loc["jct_s_mean", ("random", "ci95")] != pytest.approx(
        4.302653 * (other - base).std(ddof=1) / np.sqrt(3), rel=1e-6)

    with pytest.warns(allot.SimulationWarning, match="fifo: runs once"):
        once = allot.compare(kth, ["random", "fifo"], seeds=3, stop_at=KTH_STOP_AT)
    d = allot.differences(once, "random")
    fifo = once.attrs["results"]["fifo"].summary["jct_s_mean"]
    diff = fifo - np.array([once.attrs["results"][f"random@{s}"].summary["jct_s_mean"]
                            for s in range(3)])
    assert d.loc["jct_s_mean", ("fifo", "mean")] == pytest.approx(diff.mean())
    assert d.loc["jct_s_mean", ("fifo", "n")] == 3

    plain = allot.compare(kth, ["drf", "fifo"], stop_at=KTH_STOP_AT)
    d = allot.differences(plain, "drf")
    assert d.loc["jct_s_mean", ("fifo", "mean")] == pytest.approx(
        plain.loc["jct_s_mean", "fifo"] - plain.loc["jct_s_mean", "drf"])
    assert d.loc["jct_s_mean", ("fifo", "n")] == 1 and np.isnan(d.loc["jct_s_mean", ("fifo", "ci95")])
    with pytest.raises(allot.InvalidArgument, match="baseline 'easy': no such column; the "
                                                    "columns are drf, fifo"):
        allot.differences(plain, "easy")
    with pytest.raises(ValueError, match="needs the table compare or read_results returns"):
        allot.differences(pd.DataFrame(plain.to_numpy(), index=plain.index,
                                       columns=plain.columns), "drf")


# "NAME:a=1,b=x" gives a policy parameters of its own, as `allot sim -p`
# does: they win over params, so a policy is compared with itself.
def test_policy_with_parameters_of_its_own(kth):
    table = allot.compare(kth, ["random:seed=7", "random"], params={"random": {"seed": 3}},
                          stop_at=KTH_STOP_AT)
    assert list(table.columns) == ["random:seed=7", "random"]
    results = table.attrs["results"]
    assert results["random:seed=7"].params["seed"] == "7" and results["random"].params["seed"] == "3"
    assert results["random:seed=7"].policy == "random"
    seven = allot.simulate(kth, "random", seed=7, stop_at=KTH_STOP_AT)
    pdt.assert_frame_equal(results["random:seed=7"].tasks, seven.tasks)
    pdt.assert_frame_equal(allot.simulate(kth, "random:seed=7", stop_at=KTH_STOP_AT).tasks,
                           seven.tasks)
    assert not table["random:seed=7"].equals(table["random"])
    with pytest.raises(allot.ParseError, match="'random:seed': bad policy parameter"):
        allot.simulate(kth, "random:seed")
    with pytest.raises(allot.InvalidArgument, match="sparrow:probe=1: policy 'sparrow' has no"):
        allot.compare(kth, ["sparrow:probe=1"])


def test_policies_listing():
    p = allot.policies()
    assert list(p.index)[:3] == ["drf", "fifo", "random"]
    assert {"easy", "conservative", "capacity", "fair", "tetris", "flow", "sparrow"} <= set(p.index)
    # Task-placing policies ask for published demand; Mesos-style ones do not.
    assert p.loc["drf", "demand"] == 0 and p.loc["easy", "demand"] > 0
    assert p.loc["random", "params"]["seed"] == "0"
    assert p.loc["drf", "params"]["min_allocatable"] == "cpus:0.01|mem:32"
    assert isinstance(p.loc["fifo", "summary"], str) and p.loc["fifo", "summary"]


@pytest.mark.parametrize("kwargs, match", [
    ({"seed": -1}, "seed must be a whole number from 0 to 18446744073709551615, got -1"),
    ({"machines": 2**32}, "machines must be a whole number"),
    ({"max_jobs": 1.5}, "max_jobs must be a whole number"),
    ({"horizon": -1.0}, "horizon must be above 0, got -1"),
    ({"horizon": float("nan")}, "horizon must be above 0, got nan"),
    ({"load": 0.0}, "load must be above 0, got 0"),
    ({"jobs_per_hour": -5.0}, "jobs_per_hour must be above 0, got -5"),
    ({"jobs_per_hour": 1e308}, "at most 10000000"),
    # The bounds of `allot trace generate`, held by the generator itself.
    ({"horizon": 1e20}, "horizon at most 878400 hours"),
    ({"machines": 10**7 + 1}, "at most 10000000 machines, got 10000001"),
    ({"max_jobs": 2**32 + 1}, "at most 4294967296 jobs"),
    ({"max_tasks": 2**40 + 1}, "at most 1099511627776 task instances"),
])
def test_synthetic_refuses_what_would_fall_back_to_the_preset(kwargs, match):
    # A negative horizon or rate used to be taken as "unset": the preset's ran.
    with pytest.raises(allot.InvalidArgument, match=match):
        allot.synthetic("hpc-like", max_jobs=kwargs.pop("max_jobs", 10), **kwargs)


def test_synthetic_workload_runs():
    w = allot.synthetic("hpc-like", seed=5, machines=16, max_jobs=200)
    assert len(w) == 200 and w.machines == 16
    r = allot.simulate(w, "drf")
    assert len(r.jobs) == 200
    assert isinstance(r.summary, pd.Series) and r.summary["jobs"] == 200


# Ctrl-C stops a running simulation: the KeyboardInterrupt comes out of the
# C++ call itself (drf on the full log takes seconds), not after it returns.
def test_interrupt_stops_the_run(kth, ctrl_c):
    import os
    import signal
    import threading

    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            allot.simulate(kth, "drf")
    finally:
        timer.cancel()
    assert "_allot.simulate(" in str(caught.traceback[-1].statement)


# Ctrl-C during compare(jobs=2) stops the runs on the worker threads too
# (signals reach only the main thread): each slow policy below would take
# a round per submission of the log, 28,000 of them at a millisecond each,
# had its run gone on to its end.
def test_interrupt_stops_compare_runs_on_threads(kth, ctrl_c):
    import os
    import signal
    import threading
    import time

    class Slow(allot.Policy):
        def __init__(self, name):
            super().__init__()
            self.name, self.calls = name, 0

        def decide(self, now):
            self.calls += 1
            time.sleep(0.001)

    policies = [Slow("a"), Slow("b")]
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            allot.compare(kth, policies, jobs=2)
    finally:
        timer.cancel()
    calls = [p.calls for p in policies]
    assert all(0 < c < len(kth) / 2 for c in calls), calls
    assert threading.active_count() == 1, threading.enumerate()


# Two users' gangs of 3 on 4 one-cpu machines starve each other under drf: with
# filters until the agent changes nothing is left to happen after a few
# seconds; with filters that expire the run stalls. Both warn, as `allot sim`
# does on stderr; a run stopped by stop_at before then, and one where every
# job finishes, do not.
def test_stop_before_the_first_submission_warns(tmp_path):
    late = write_swf(tmp_path / "late.swf", [(1, 1000, 10, 1, 1)])
    with pytest.warns(allot.SimulationWarning,
                      match=r"stop_at 1000 s is not after the first job's submission, at 1000 s"):
        r = allot.simulate(late, "drf", stop_at=1000)
    assert r.summary["jobs_unfinished"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert allot.simulate(late, "drf", stop_at=1100).summary["jobs_finished"] == 1


def test_runs_cut_short_warn(tmp_path):
    starve = write_swf(tmp_path / "starve.swf", [(1, 0, 100, 3, 1), (2, 0, 100, 3, 2)],
                       header=("MaxNodes: 4", "MaxProcs: 4"))
    with pytest.warns(allot.SimulationWarning, match="2 jobs unfinished: nothing was left"):
        r = allot.simulate(starve, "drf")
    assert r.summary["jobs_unfinished"] == 2
    with pytest.warns(allot.SimulationWarning, match="stopped as stalled .* 2 jobs unfinished"):
        allot.simulate(starve, "drf", refuse_seconds=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        allot.simulate(starve, "drf", stop_at=1)
        allot.simulate(starve, "fifo", frameworks="single", queue="fcfs", hold_offers=True)


# What `allot sim` refuses, Python refuses with the same text: a workload
# without machines (every job would be unschedulable) or without jobs.
def test_unreplayable_workloads_are_refused(tmp_path):
    with pytest.raises(allot.InvalidArgument,
                       match=r"no machines \(format alibaba2017 gives none\); replay it on a "
                             r"cluster of your choice with load_trace\(\.\.\., cluster="):
        allot.simulate(ALIBABA2017_EXCERPT, "fifo")
    with pytest.raises(allot.InvalidArgument, match="the workload has no jobs: nothing to replay"):
        allot.compare(write_swf(tmp_path / "empty.swf", []), ["fifo"])
    w = allot.load_trace(ALIBABA2017_EXCERPT, cluster="4*cpus:64;mem:1")
    assert allot.simulate(w, "fifo").summary["jobs_finished"] > 0


# Arguments of the wrong kind get errors that say what to pass.
def test_wrong_kinds_of_arguments_say_what_to_pass(tiny):
    class Mine(allot.Policy):
        def decide(self, now_us):
            pass

    with pytest.raises(TypeError, match=r"policy Mine is a class: pass an instance, Mine\(\)"):
        allot.simulate(tiny, Mine)
    with pytest.raises(TypeError, match="params must be a dict of parameter names"):
        allot.simulate(tiny, "drf", params="seed=1")
    with pytest.raises(TypeError, match="params must be a dict of parameter names"):
        allot.compare(tiny, ["drf"], params={"drf": "seed=1"})
    with pytest.raises(TypeError, match="params must map policy names"):
        allot.compare(tiny, ["drf"], params="seed=1")
    with pytest.raises(allot.InvalidArgument, match="stop_at must be a number of seconds, got '10'"):
        allot.history(tiny, stop_at="10")
    # One policy alone is a list of one, not its letters.
    assert list(allot.compare(tiny, "fifo").columns) == ["fifo"]


# Options that cannot change the run warn before it, each naming the policy
# and why; the same options where they act say nothing.
def test_inert_options_warn(tiny):
    with pytest.warns(allot.SimulationWarning) as seen:
        allot.simulate(tiny, "drf", offer_timeout=10, exact_estimates=True, max_attempts=2)
    texts = sorted(str(w.message) for w in seen)
    assert len(texts) == 3, texts
    assert texts[0].startswith("drf: exact_estimates=True has no effect without published "
                               "demand (demand=256)")
    assert texts[1].startswith("drf: max_attempts has no effect on this workload")
    assert texts[2].startswith("drf: offer_timeout has no effect without hold_offers=True")
    assert all(w.filename == __file__ for w in seen)
    with pytest.warns(allot.SimulationWarning,
                      match="drf: refuse_seconds has no effect with hold_offers=True"):
        allot.simulate(tiny, "drf", hold_offers=True, refuse_seconds=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        allot.simulate(tiny, "drf", hold_offers=True, offer_timeout=10, exact_estimates=True,
                       demand=8)


# Whole-agent offers that frameworks without published demand decline: a run
# that has made 2 M of them, ten per instance launched, warns once while it
# runs and names demand=256; with demand it makes few offers and says nothing.
def test_declined_offers_warn_once():
    cell = allot.synthetic("google-like", seed=1, machines=3000, max_tasks=30000,
                           horizon=4 * 3600)
    with pytest.warns(allot.SimulationWarning, match="M offers so far for .* demand=256") as seen:
        r = allot.simulate(cell, "drf")
    assert len(seen) == 1
    assert seen[0].filename == __file__  # points at the caller, not inside allot
    assert r.summary["offers"] >= 10 * r.summary["instances_launched"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = allot.simulate(cell, "drf", demand=256)
    assert r.summary["offers"] < 2e6


def test_role_weights_and_quotas_shape_the_split(tmp_path):
    trace = two_queue_swf(tmp_path / "queues.swf")
    base = dict(frameworks="role", launches_per_offer=1, refuse_seconds=0)

    def started(**roles):
        r = allot.simulate(trace, "drf", roles=roles or None, **base)
        early = r.jobs[r.jobs["first_start"] < 500]
        return early["role"].map(lambda i: r.roles[i]).value_counts().to_dict(), r

    assert started()[0] == {"1": 6, "2": 6}
    split, r = started(**{"1": {"weight": 2}})
    assert split == {"1": 8, "2": 4}
    assert r.config["roles"] == {"1": {"weight": 2.0, "guarantee": None, "limit": None}}
    assert started(**{"2": {"limit": "cpus:3"}})[0] == {"1": 9, "2": 3}
    # drf keeps an unmet guarantee as headroom, shrinking what other roles are
    # offered to the surplus over it (Mesos 1.9 on): once queue 2 is done, its
    # 10 cpus stay set aside and queue 1 runs 2 jobs at a time to the end.
    split, r = started(**{"2": {"guarantee": "cpus:10"}})
    assert split == {"1": 2, "2": 10}
    assert r.summary["jobs_unfinished"] == 0
    queue1 = r.jobs[r.jobs["role"].map(lambda i: r.roles[i]) == "1"]
    assert queue1["end"].max() == 10001  # 20 jobs of 1000 s, 2 at a time from 1 s


@pytest.mark.parametrize("roles, error, match", [
    ({"1": {"weight": 0}}, allot.InvalidArgument, "weight must be a positive number"),
    ({"1": {"weight": "2"}}, allot.InvalidArgument, r"roles\['1'\]\['weight'\] must be a number"),
    ({"1": {"limit": 3}}, allot.InvalidArgument, "must be resources as text"),
    ({"1": {"limit": "cpus(x):1"}}, allot.InvalidArgument, "quota is unreserved scalars only"),
    ({"1": {"share": 2}}, TypeError, "unknown setting 'share'"),
    ([("1", 2)], TypeError, "roles must be a dict"),
])
def test_bad_role_settings_raise(tmp_path, roles, error, match):
    trace = two_queue_swf(tmp_path / "queues.swf")
    with pytest.raises(error, match=match):
        allot.simulate(trace, "drf", frameworks="role", roles=roles)


def test_a_role_no_framework_is_in_warns(tmp_path):
    trace = two_queue_swf(tmp_path / "queues.swf")
    with pytest.warns(allot.SimulationWarning, match="role 'prod' have no effect"):
        allot.simulate(trace, "drf", frameworks="role", roles={"prod": {"weight": 2}})
