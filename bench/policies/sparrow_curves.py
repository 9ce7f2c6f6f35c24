#!/usr/bin/python3
"""Response time against load for the sparrow policy's modes on the Sparrow
paper's synthetic setup, as a CSV and a PNG.

Runs the `sparrow_curves` benchmark program (bench/policies/sparrow_curves.cc;
one simulation per load, duration distribution, seed and mode), collects its
rows into one CSV, plots mean response time and response time over ideal
(the job's longest task) against load, one curve per mode, and prints the
gap to the ideal at 80% and 90% load.

    /usr/bin/python3 bench/policies/sparrow_curves.py --build-dir build/release \
        --machines 10000 --jobs 10000 --durations exp,constant \
        --out bench/results/sparrow --name paper-10000
    /usr/bin/python3 bench/policies/sparrow_curves.py --plot-only bench/results/sparrow/paper-10000.csv

It writes NAME.csv and NAME.png in --out (--plot-only: the PNG beside the
CSV). The recorded runs keep their CSVs in bench/results/sparrow/ and their
PNGs as docs/img/sparrow_NAME.png; see docs/validation.md.

The program is found in --build-dir (default: $ALLOT_BUILD_DIR, else
build/release, else build/dev).
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = ["random", "per-task", "batch-bound", "batch", "omniscient"]
LABELS = {
    "random": "random placement",
    "per-task": "per-task sampling (d=2)",
    "batch-bound": "batch sampling (d=2)",
    "batch": "batch sampling + late binding (sparrow)",
    "omniscient": "omniscient",
}
DURATIONS = {
    "exp": "exponential durations, drawn per task",
    "constant": "constant durations",
    "exp-job": "exponential durations, drawn per job",
}
ROOT = Path(__file__).resolve().parents[2]


def find_program(build_dir):
    candidates = [build_dir] if build_dir else []
    if os.environ.get("ALLOT_BUILD_DIR"):
        candidates.append(os.environ["ALLOT_BUILD_DIR"])
    candidates += [ROOT / "build" / "release", ROOT / "build" / "dev"]
    for c in candidates:
        program = Path(c) / "bench" / "policies" / "sparrow_curves"
        if program.exists():
            return program
    sys.exit("sparrow_curves not found: build it (ninja -C BUILD sparrow_curves) "
             "and pass --build-dir")


def run(args):
    program = find_program(args.build_dir)
    rows = []
    for durations in args.durations.split(","):
        with tempfile.NamedTemporaryFile(suffix=".csv") as part:
            command = [str(program), "--machines", str(args.machines), "--slots",
                       str(args.slots), "--tasks", str(args.tasks), "--mean", str(args.mean),
                       "--jobs", str(args.jobs), "--interval", str(args.interval), "--loads",
                       args.loads, "--modes", args.modes, "--seeds", args.seeds,
                       "--durations", durations, "--csv", part.name]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)
            with open(part.name, newline="") as f:
                for row in csv.DictReader(f):
                    row["durations"] = durations
                    rows.append(row)
    return rows


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write(rows, path):
    fields = ["durations"] + [k for k in rows[0] if k != "durations"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def curves(rows):
    """{durations: {mode: [(load, mean response, mean ideal, ratio)]}}, seeds averaged."""
    acc = {}
    for r in rows:
        key = (r["durations"], r["mode"], float(r["load"]))
        acc.setdefault(key, []).append(r)
    out = {}
    for (durations, mode, load), rs in sorted(acc.items()):
        response = sum(float(r["mean_response_s"]) for r in rs) / len(rs)
        ideal = sum(float(r["mean_ideal_s"]) for r in rs) / len(rs)
        out.setdefault(durations, {}).setdefault(mode, []).append(
            (load, response, ideal, response / ideal if ideal else float("nan")))
    return out


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)

    data = curves(rows)
    fig, axes = plt.subplots(len(data), 2, figsize=(12, 4.2 * len(data)), squeeze=False)
    for i, (durations, modes) in enumerate(sorted(data.items())):
        left, right = axes[i]
        for mode in MODES:
            if mode not in modes:
                continue
            pts = modes[mode]
            loads = [p[0] for p in pts]
            left.plot(loads, [p[1] for p in pts], marker="o", ms=3, label=LABELS[mode])
            right.plot(loads, [p[3] for p in pts], marker="o", ms=3, label=LABELS[mode])
        any_mode = next(iter(modes.values()))
        left.plot([p[0] for p in any_mode], [p[2] for p in any_mode], "k--", lw=1,
                  label="ideal (longest task)")
        left.set_title(f"mean response time ({DURATIONS.get(durations, durations)})")
        left.set_xlabel("load (fraction of slots busy)")
        left.set_ylabel("seconds")
        right.set_title("mean response time / mean ideal")
        right.set_xlabel("load (fraction of slots busy)")
        right.set_ylabel("ratio")
        right.axhline(1.0, color="k", ls="--", lw=1)
        right.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}")
        right.yaxis.set_major_formatter(plain)
        right.yaxis.set_minor_formatter(plain)
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
        left.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def report(rows):
    data = curves(rows)
    print("gap to ideal (mean response / mean ideal - 1):")
    for durations, modes in sorted(data.items()):
        for mode in MODES:
            if mode not in modes:
                continue
            gaps = {round(p[0], 3): p[3] - 1 for p in modes[mode]}
            shown = ", ".join(f"load {l}: {100 * gaps[l]:+.1f}%" for l in (0.8, 0.9) if l in gaps)
            print(f"  {durations:9s} {mode:12s} {shown}")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir")
    p.add_argument("--machines", type=int, default=1000)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--tasks", type=int, default=100)
    p.add_argument("--mean", type=float, default=100.0, help="mean task duration (s)")
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--interval", type=float, default=0.1, help="allocation round grid (s)")
    p.add_argument("--loads", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--seeds", default="1")
    p.add_argument("--durations", default="exp", help="comma-separated: exp, constant, exp-job")
    p.add_argument("--out", default=".", help="folder for curves.csv and curves.png")
    p.add_argument("--name", default="curves", help="file name stem in --out")
    p.add_argument("--plot-only", metavar="CSV", help="plot an existing CSV instead of running")
    args = p.parse_args(argv)

    if args.plot_only:
        rows = read(args.plot_only)
        png = Path(args.plot_only).with_suffix(".png")
        title = "sparrow modes on the Sparrow paper's synthetic setup"
    else:
        rows = run(args)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write(rows, out / f"{args.name}.csv")
        print(f"wrote {out / (args.name + '.csv')}")
        png = out / f"{args.name}.png"
        title = (f"{args.machines} machines x {args.slots} slots, {args.tasks}-task jobs, "
                 f"mean task {args.mean:g} s, rounds every {args.interval:g} s, "
                 f"{args.jobs} jobs, seeds {args.seeds}")
    plot(rows, png, title)
    report(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
