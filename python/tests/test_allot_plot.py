"""allot.plot draws one line per run from any of the accepted inputs."""

import matplotlib

matplotlib.use("Agg")

import allot  # noqa: E402


def test_plots_one_line_per_run(tiny):
    table = allot.compare(tiny, ["drf", "fifo"])
    ax = allot.plot.jct_cdf(table)
    assert [line.get_label() for line in ax.get_lines()] == ["drf", "fifo"]
    # The CDF of three finished jobs ends at 1.
    assert ax.get_lines()[0].get_ydata()[-1] == 1.0
    ax = allot.plot.utilization(table.attrs["results"]["fifo"], smooth=60, unit="min")
    assert [line.get_label() for line in ax.get_lines()] == ["fifo"]
    assert ax.get_xlabel() == "simulated time (min)"
