#!/usr/bin/env bash
# Simulator benchmark: the full HPC2N log (202,876 jobs) replayed under strict
# FCFS by SimGrid (bench/sim/simgrid_fcfs) and by `allot sim --policy fifo`,
# in the same run. Target: allot at least 20x faster than SimGrid.
#
#   bench/sim/bench_hpc2n.sh BUILD_DIR [REPEATS]
#
# BUILD_DIR is a Release build with the simgrid_fcfs target built (and
# cli/allot for the allot side). Each program runs REPEATS times (default 3);
# the median wall and CPU (user + sys) seconds of the whole process are
# printed. SimGrid runs twice over: with its default contexts, and with the
# small stacks a SimGrid user would pick for a million actors that only sleep
# (16 KiB, no guard page: about 2x faster); the faster one is the baseline.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: bench_hpc2n.sh BUILD_DIR [REPEATS]}
repeats=${2:-3}
traces=${ALLOT_SHARED_TRACES_DIR:-$src/../shared/traces}
trace=$traces/swf/HPC2N-2002-2.1-cln.swf.gz
simgrid=$build/bench/sim/simgrid_fcfs
allot=$build/cli/allot

[[ -x $simgrid ]] || { echo "build it: cmake --build $build --target simgrid_fcfs" >&2; exit 1; }
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $type == Release ]] || echo "warning: $build is a '$type' build, not Release" >&2

# timed NAME COMMAND...: runs COMMAND REPEATS times; prints
# "NAME: median wall W s, median cpu C s (REPEATS runs)" and keeps the last
# run's stdout in $out/NAME.out.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timed() {
  local name=$1
  shift
  for _ in $(seq "$repeats"); do
    /usr/bin/time -f '%e %U %S' -o "$out/time" "$@" >"$out/$name.out" 2>"$out/$name.err" ||
      { cat "$out/$name.err" >&2; return 1; }
    cat "$out/time" >>"$out/$name.times"
  done
  echo "$name: median wall $(median_wall "$name") s, median cpu $(median_cpu "$name") s ($repeats runs)"
}
median() { sort -g | sed -n "$(((repeats + 1) / 2))p"; }
median_wall() { awk '{print $1}' "$out/$1.times" | median; }
median_cpu() { awk '{printf "%.2f\n", $2 + $3}' "$out/$1.times" | median; }

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trace: $trace"
timed simgrid_default "$simgrid" "$trace"
timed simgrid_small_stacks "$simgrid" "$trace" --cfg=contexts/stack-size:16 --cfg=contexts/guard-size:0
echo "simgrid (last run, small stacks): $(tail -n 1 "$out/simgrid_small_stacks.out")"
baseline=$(printf '%s\n%s\n' "$(median_wall simgrid_default)" "$(median_wall simgrid_small_stacks)" |
  sort -g | head -n 1)

# The baseline must replay the same schedule: every job's start equals the
# independent Python reference's (tests/sim/fcfs_reference.py).
"$simgrid" "$trace" --csv "$out/simgrid_starts.csv" --cfg=contexts/stack-size:16 \
  --cfg=contexts/guard-size:0 >/dev/null 2>&1
/usr/bin/python3 - "$src/tests/sim" "$trace" "$out/simgrid_starts.csv" <<'PY'
import csv, sys
sys.path.insert(0, sys.argv[1])
from fcfs_reference import fcfs_schedule
reference, _ = fcfs_schedule(sys.argv[2])
simgrid = {int(r["job_id"]): float(r["start"]) for r in csv.DictReader(open(sys.argv[3]))}
differ = sum(simgrid.get(job) != start for job, start in reference.items()) + len(simgrid.keys() - reference.keys())
print(f"schedule check: SimGrid and the Python reference differ on {differ} of {len(reference)} jobs")
sys.exit(1 if differ else 0)
PY

# ---- allot side ------------------------------------------------------------
# `allot sim` with the same rule: one framework that owns the cluster (it
# hoards its offers), strict FCFS over gangs, fifo policy. Timed as a whole
# process like SimGrid (reading the log included); events/s from its --json.
fcfs=(--policy fifo --frameworks single --queue fcfs --hold-offers)
timed allot_sim "$allot" sim "$trace" "${fcfs[@]}" --json
/usr/bin/python3 - "$out/allot_sim.out" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
s = run["summary"]
print(f"allot sim (last run): {s['events']:.0f} events in {run['wall_s']:.3f} s of simulation "
      f"= {run['events_per_s'] / 1e6:.2f} M events/s (target: 1 M); "
      f"{s['jobs_finished']:.0f} jobs finished")
PY
awk -v s="$baseline" -v a="$(median_wall allot_sim)" \
  'BEGIN {printf "allot vs SimGrid (best median wall): %.1fx faster (target: 20x)\n", s / a}'
awk -v s="$(median_cpu simgrid_small_stacks)" -v a="$(median_cpu allot_sim)" \
  'BEGIN {printf "allot vs SimGrid (median cpu, small stacks): %.1fx faster\n", s / a}'

# And the same schedule: allot's job starts equal the Python reference's.
"$allot" sim "$trace" "${fcfs[@]}" -o "$out/allot.h5" >/dev/null
/usr/bin/python3 - "$src/tests/sim" "$trace" "$out/allot.h5" <<'PY'
import sys
import h5py
sys.path.insert(0, sys.argv[1])
from fcfs_reference import fcfs_schedule
reference, _ = fcfs_schedule(sys.argv[2])
with h5py.File(sys.argv[3]) as f:
    jobs = f["runs/fifo/jobs"]
    allot = dict(zip(jobs["trace_id"][:].tolist(), (jobs["first_start_us"][:] / 1e6).tolist()))
differ = sum(allot.get(job) != start for job, start in reference.items()) + len(allot.keys() - reference.keys())
print(f"schedule check: allot and the Python reference differ on {differ} of {len(reference)} jobs")
sys.exit(1 if differ else 0)
PY
# ---------------------------------------------------------------------------
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
