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
# `allot sim` (simulator issue). Timed here as a whole process, like SimGrid;
# its own --json line (events/s) is printed as it comes.
if [[ -x $allot ]] && "$allot" sim --help >/dev/null 2>&1; then
  timed allot_sim "$allot" sim "$trace" --policy fifo --json
  echo "allot sim (last run): $(tail -n 1 "$out/allot_sim.out")"
  awk -v s="$baseline" -v a="$(median_wall allot_sim)" \
    'BEGIN {printf "allot vs SimGrid (best median wall): %.1fx faster (target: 20x)\n", s / a}'
else
  echo "allot sim: pending ($allot has no 'sim' command yet)"
fi
# ---------------------------------------------------------------------------
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
