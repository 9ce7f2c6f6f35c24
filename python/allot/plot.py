"""Matplotlib helpers for simulation results.

``jct_cdf`` and ``utilization`` take one ``SimResult``, a list of them, a
``{label: SimResult}`` dict or the table ``allot.compare`` returns, draw one
line per run and return the axes; ``metric`` draws one bar per policy of
``compare``'s table.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .sim import SimResult


def _runs(results):
    if isinstance(results, SimResult):
        return {results.policy: results}
    if isinstance(results, pd.DataFrame):
        return results.attrs["results"]
    if isinstance(results, dict):
        return results
    return {r.policy: r for r in results}


def jct_cdf(results, ax=None, log=True):
    """Empirical CDF of the completion time of finished jobs, per run."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for label, r in _runs(results).items():
        jct = np.sort(r.jobs["jct"].dropna().to_numpy())
        if len(jct) == 0:
            continue
        ax.step(jct, np.arange(1, len(jct) + 1) / len(jct), where="post", label=label)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("job completion time (s)")
    ax.set_ylabel("fraction of finished jobs")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


def utilization(results, dim="cpus", ax=None, smooth=None, unit="h"):
    """Fraction of the cluster's ``dim`` used by running tasks over simulated time.

    ``smooth`` (seconds) draws a moving average over that window instead of
    the raw samples; ``unit`` is the time axis' unit: s, min, h or d.
    """
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for label, r in _runs(results).items():
        ts = r.timeseries
        total = ts[f"total_{dim}"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            used = pd.Series(np.where(total > 0, ts[f"used_{dim}"].to_numpy() / total, np.nan))
        if smooth and len(ts) > 1:
            step = float(np.median(np.diff(ts["time"])))
            used = used.rolling(max(1, round(smooth / step)), min_periods=1).mean()
        ax.plot(ts["time"] / _UNITS[unit], used, label=label, linewidth=1)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel(f"{dim} utilization")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def metric(table, name, ax=None):
    """One bar per policy: the metric ``name`` of ``compare``'s (or
    ``read_results``') table, such as ``"jct_s_mean"``. A table over seeds
    (``compare(..., seeds=N)``) draws each policy's mean with its 95%
    confidence interval as an error bar; a policy run once has none.
    """
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    if name not in table.index:
        raise KeyError(f"no metric {name!r} in the table (it has: {', '.join(table.index)})")
    row = table.loc[name]
    if isinstance(table.columns, pd.MultiIndex):  # over seeds: (policy, statistic)
        means = row.xs("mean", level="statistic")
        halves = row.xs("ci95", level="statistic").to_numpy(dtype=float)
        ax.bar(means.index, means.to_numpy(dtype=float), yerr=np.nan_to_num(halves), capsize=6)
        ax.set_title(f"mean and 95% interval over {int(row.xs('n', level='statistic').max())} "
                     "runs", fontsize="medium")
    else:
        ax.bar(row.index, row.to_numpy(dtype=float))
    ax.set_ylabel(name)
    ax.grid(True, axis="y", alpha=0.3)
    return ax
