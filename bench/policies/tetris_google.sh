#!/usr/bin/env bash
# Validation of tetris against drf and fifo (and bestfit, worstfit) on the
# Google 2011 trace: replays the first PARTS parts of task_events with
# `allot sim` on the cell's machine table, in full and scaled down so that
# the cluster is contended, and prints makespan and mean JCT per policy.
#
# Usage: bench/policies/tetris_google.sh BUILD [PARTS] [FRACTIONS] [POLICIES]
#   BUILD      a build directory (e.g. build/release), holding cli/allot
#   PARTS      how many task_events parts, from the first (1-5; default 1)
#   FRACTIONS  machine fractions to run, space-separated (default "1 0.1"):
#              each count of machines.csv times the fraction, rounded, at
#              least 1 (the same mix of machine types, fewer of each)
#   POLICIES   space-separated (default "tetris drf fifo bestfit worstfit")
# Each policy runs with its own demand window (`allot sim` default: tetris,
# bestfit and worstfit have frameworks publish 1,000 pending instances; drf
# and fifo get none and offer whole agents, as stock Mesos). Extra `allot
# sim` flags can be given in ALLOT_SIM_FLAGS (e.g. "--exact-estimates").
# Scratch files go to ${TMPDIR:-/tmp}/tetris-google.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD [PARTS] [FRACTIONS] [POLICIES]}
PARTS=${2:-1}
FRACTIONS=${3:-1 0.1}
POLICIES=${4:-tetris drf fifo bestfit worstfit}
ALLOT=$(realpath "$BUILD")/cli/allot
HERE=$(cd "$(dirname "$0")" && pwd)
TRACES=${ALLOT_SHARED_TRACES_DIR:-$HERE/../../../shared/traces}/google2011
PY=/usr/bin/python3
WORK=${TMPDIR:-/tmp}/tetris-google
mkdir -p "$WORK/parts$PARTS/task_events"

[[ -x $ALLOT ]] || { echo "no $ALLOT" >&2; exit 1; }
[[ -d $TRACES/task_events ]] || { echo "no Google trace at $TRACES" >&2; exit 1; }

# The first PARTS parts of task_events, as a folder of links.
rm -f "$WORK/parts$PARTS/task_events/"*
mapfile -t parts < <(ls "$TRACES/task_events/" | sort | head -n "$PARTS")
[[ ${#parts[@]} -eq $PARTS ]] || { echo "only ${#parts[@]} parts in $TRACES/task_events" >&2; exit 1; }
for p in "${parts[@]}"; do ln -s "$TRACES/task_events/$p" "$WORK/parts$PARTS/task_events/$p"; done

flags=()
for p in $POLICIES; do flags+=(-p "$p"); done

for fraction in $FRACTIONS; do
  machines=$WORK/machines-$fraction.csv
  # The same machine types, each count scaled (the table's comments dropped).
  "$PY" - "$TRACES/machines.csv" "$fraction" > "$machines" <<'EOF'
import sys
rows = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
fraction = float(sys.argv[2])
print(rows[0])
for row in rows[1:]:
    count, rest = row.split(",", 1)
    print(f"{max(1, round(int(count) * fraction))},{rest}")
EOF
  count=$(tail -n +2 "$machines" | cut -d, -f1 | paste -sd+ | bc)
  out=$WORK/parts$PARTS-$fraction.json
  echo "== $PARTS part(s), machines x $fraction ($count machines): $POLICIES"
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$ALLOT" sim "$WORK/parts$PARTS/task_events" --format google2011 --machines "$machines" \
    --job-events "$TRACES/job_events" "${flags[@]}" --json ${ALLOT_SIM_FLAGS:-} > "$out"
  echo "   ($(( $(date +%s) - start )) s wall; JSON in $out)"
  "$PY" - "$out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def num(v, f="{:.1f}"):
    return "-" if v is None else f.format(v)
print(f"   {'policy':10} {'makespan s':>11} {'JCT mean s':>11} {'JCT p50 s':>10} {'finished':>9} "
      f"{'unfinished':>10} {'wait mean s':>11} {'cpu util':>8} {'sim wall s':>10}")
for r in d["runs"]:
    s = r["summary"]
    print(f"   {r['label']:10} {num(s['makespan_s'], '{:.0f}'):>11} {num(s['jct_s_mean']):>11} "
          f"{num(s['jct_s_p50']):>10} {s['jobs_finished']:>9.0f} {s['jobs_unfinished']:>10.0f} "
          f"{num(s['wait_s_mean']):>11} {100 * s['utilization_cpus']:>7.1f}% {r['wall_s']:>10.1f}")
EOF
done
