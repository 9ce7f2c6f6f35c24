"""allot.plot draws one line per run from any of the accepted inputs, and a bar per policy."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import allot  # noqa: E402
from allot_test_data import KTH_STOP_AT  # noqa: E402


def test_plots_one_line_per_run(tiny):
    table = allot.compare(tiny, ["drf", "fifo"])
    ax = allot.plot.jct_cdf(table)
    assert [line.get_label() for line in ax.get_lines()] == ["drf", "fifo"]
    # The CDF of three finished jobs ends at 1.
    assert ax.get_lines()[0].get_ydata()[-1] == 1.0
    ax = allot.plot.utilization(table.attrs["results"]["fifo"], smooth=60, unit="min")
    assert [line.get_label() for line in ax.get_lines()] == ["fifo"]
    assert ax.get_xlabel() == "simulated time (min)"


# metric: a bar per policy, the 95% intervals as error bars over seeds.
def test_metric_bars_carry_the_intervals(kth):
    plain = allot.compare(kth, ["drf", "fifo"], stop_at=KTH_STOP_AT)
    ax = allot.plot.metric(plain, "jct_s_mean")
    assert [p.get_height() for p in ax.patches] == list(plain.loc["jct_s_mean"])
    spread = allot.compare(kth, ["drf", "random"], seeds=3, stop_at=KTH_STOP_AT)
    ax = allot.plot.metric(spread, "jct_s_mean")
    means = spread.loc["jct_s_mean"].xs("mean", level="statistic")
    halves = spread.loc["jct_s_mean"].xs("ci95", level="statistic")
    assert [p.get_height() for p in ax.patches] == list(means)
    (bars,) = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    segments = bars.errorbar.lines[2][0].get_segments()
    assert [s[1][1] - s[0][1] for s in segments] == pytest.approx(list(2 * halves))
    assert "over 3 runs" in ax.get_title()
    # Differences draw the same way: their means, their intervals.
    d = allot.differences(spread, "drf")
    ax = allot.plot.metric(d, "jct_s_mean")
    assert [p.get_height() for p in ax.patches] == [d.loc["jct_s_mean", ("random", "mean")]]
    with pytest.raises(KeyError, match="no metric 'jct'"):
        allot.plot.metric(plain, "jct")
