#!/usr/bin/python3
"""Plots the flow policy's placement latency against cluster size from the
JSON of bench/policies/flow_bench (Google Benchmark), beside Firmament's
published sub-second placement at 12,500 machines.

Usage: /usr/bin/python3 bench/policies/plot_flow_latency.py FLOW.json OUT.png
"""

import json
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(path):
    """{(solver, incremental, per_record): [(machines, mean ms, worst ms)]}"""
    with open(path) as f:
        data = json.load(f)
    out = defaultdict(list)
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        args = dict(re.findall(r"(\w+):(\d+)", b["name"]))
        key = ("cycle canceling" if args["cycle"] == "1" else "successive shortest path",
               args["incremental"] == "1", int(args["per_record"]))
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
        out[key].append((int(args["machines"]), b["real_time"] * unit, b["worst_ms"]))
    for points in out.values():
        points.sort()
    return out, data.get("context", {})


def main(src, dst):
    runs, context = series(src)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    styles = {1: "-", 10: "--"}
    for (solver, incremental, per_record), points in sorted(runs.items()):
        if not incremental and solver.startswith("successive") and per_record == 10:
            continue  # same as incremental within noise; shown in bench/RESULTS.md
        label = (f"{solver}, {1000 // per_record} records x {per_record}"
                 + ("" if incremental else ", no reuse"))
        xs = [p[0] for p in points]
        ax.plot(xs, [p[1] for p in points], styles[per_record], marker="o", label=label)
    ax.axhline(1000, color="grey", linestyle=":", linewidth=1)
    ax.plot([12500], [1000], marker="*", color="black", markersize=12, linestyle="none",
            label="Firmament: sub-second at 12,500 machines (OSDI 2016)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("machines (Google 2011 mix, 0-80% used)")
    ax.set_ylabel("one round, 1,000 pending instances [ms]")
    ax.set_title("flow policy: placement latency per round")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    host = context.get("host_name", "")
    date = context.get("date", "")
    fig.text(0.99, 0.01, f"{date} {host}", fontsize=6, ha="right", color="grey")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
