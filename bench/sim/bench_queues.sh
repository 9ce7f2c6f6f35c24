#!/usr/bin/env bash
# Cost of the queue policies (capacity, fair) in `allot sim`, with a
# same-run baseline:
#
#   1. Google 2011, first 5 parts, 12,583 machines (frameworks per user, one
#      role, so one queue): capacity and fair at their declared demand (the
#      whole pending queue), against drf with --demand 256 (README's
#      command, the simulator benchmark of bench/RESULTS.md).
#   2. KTH SP2 in three queues by user group (the validation log of
#      tests/sim/test_queues_oracle.py): capacity and fair with the
#      validation's queue trees, against fifo (--frameworks role).
#
#   bench/sim/bench_queues.sh BUILD_DIR [STOP_AT_SECONDS]
#
# BUILD_DIR is a Release build with cli/allot. STOP_AT_SECONDS cuts the
# Google replay short (default: the whole 5 parts). Each run is one process,
# timed whole with /usr/bin/time (wall, user CPU, peak RSS); rounds,
# launches, queueing delay and the simulation's own wall time come from
# --json. Prints one Markdown row per run.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: bench_queues.sh BUILD_DIR [STOP_AT_SECONDS]}
stop=${2:-}
traces=${ALLOT_SHARED_TRACES_DIR:-$src/../shared/traces}
allot=$build/cli/allot
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $type == Release ]] || echo "warning: $build is a '$type' build, not Release" >&2

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# row LABEL ARGS...: runs `allot sim ARGS... --json` and prints a table row.
row() {
  local label=$1
  shift
  /usr/bin/time -f '%e %U %M' -o "$out/time" "$allot" sim "$@" --json >"$out/run.json" 2>"$out/err"
  /usr/bin/python3 - "$label" "$out/run.json" "$out/time" <<'PY'
import json, sys
label, runs, timing = sys.argv[1], json.load(open(sys.argv[2]))["runs"], open(sys.argv[3]).read().split()
run = runs[0]
s = run["summary"]
wall, user, rss = float(timing[0]), float(timing[1]), int(timing[2]) / 1024
per_round = run["wall_s"] / max(s["rounds"], 1) * 1e3
wait = "-" if s["wait_s_mean"] is None else f"{s['wait_s_mean']:.1f} s"
print(f"| {label} | {wall:.1f} s | {user:.1f} s | {rss:.0f} MB | {s['rounds']:.0f} | {per_round:.2f} ms | "
      f"{s['instances_launched']:.0f} | {s['jobs_finished']:.0f} | {wait} |")
PY
}

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, commit $(git -C "$src" rev-parse --short HEAD), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| run | wall | user CPU | peak RSS | rounds | sim wall per round | instances launched | jobs finished | mean wait |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
google=("$traces/google2011")
[[ -n $stop ]] && google+=(--stop-at "$stop")
row "Google: drf --demand 256 (baseline)" "${google[@]}" -p drf --demand 256
row "Google: capacity" "${google[@]}" -p capacity
row "Google: fair" "${google[@]}" -p fair

kth=$out/kth-groups.swf
/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$src/tests/sim')
from test_queues_oracle import by_group
by_group('$traces/swf/KTH-SP2-1996-2.1-cln.swf.gz', '$kth')"
capacity=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$src/tests/sim'); import test_queues_oracle as t; print(t.CAPACITY)")
fair=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$src/tests/sim'); import test_queues_oracle as t; print(t.FAIR)")
row "KTH in 3 queues: fifo (baseline)" "$kth" --frameworks role -p fifo
row "KTH in 3 queues: capacity" "$kth" --frameworks role -p capacity --param "queues=$capacity"
row "KTH in 3 queues: fair" "$kth" --frameworks role -p fair --param "queues=$fair"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
