#!/usr/bin/env bash
# Workload store against raw parsing, one read per fresh process: what a user
# sees when `allot sim` or `allot.load_trace` reads a workload once. The
# in-process loop of bench_store repeats the read in one process, where
# glibc hands the freed tables of one iteration to the next and how much it
# reuses shifts with the allocation sizes (HPC2N's raw parse: 65 or 115 ms in
# the loop, depending on the task record's alignment, 150-200 ms fresh).
#
#   bench/traces/bench_store_fresh.sh BUILD_DIR [REPEATS]
#
# BUILD_DIR is a Release build with cli/allot and bench/traces/read_trace.
# The .h5 forms are written once with `allot trace convert` into a temporary
# directory. Then, REPEATS times (default 7), raw and .h5 are read in turn by
# `read_trace FORMAT PATH --whole`, which times the read alone (not the
# process's start or exit). Prints the median and best of each side and the
# ratio of the medians.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: bench_store_fresh.sh BUILD_DIR [REPEATS]}
repeats=${2:-7}
traces=${ALLOT_SHARED_TRACES_DIR:-$src/../shared/traces}
allot=$build/cli/allot
tool=$build/bench/traces/read_trace
for exe in "$allot" "$tool"; do
  [[ -x $exe ]] || { echo "build it: cmake --build $build --target allot read_trace" >&2; exit 1; }
done
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
[[ $type == Release ]] || echo "warning: $build is a '$type' build, not Release" >&2

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# seconds FORMAT PATH: the read time read_trace reports
seconds() {
  "$tool" "$1" "$2" --whole >"$out/read.out" || { echo "read_trace $1 $2 failed" >&2; exit 1; }
  awk '$1 == "seconds" {print $2}' "$out/read.out"
}

# median and best of the numbers on standard input
stats() { sort -g | awk '{v[NR] = $1} END {printf "%.1f %.1f", 1000 * v[int((NR + 1) / 2)], 1000 * v[1]}'; }

printf '| input | raw parse median / best | .h5 load median / best | speed-up (medians) |\n'
printf '| --- | --- | --- | --- |\n'
for input in "hpc2n swf $traces/swf/HPC2N-2002-2.1-cln.swf.gz" \
  "google5 google2011 $traces/google2011/task_events"; do
  read -r name format path <<<"$input"
  "$allot" trace convert "$path" --format "$format" -o "$out/$name.h5" >/dev/null 2>&1 ||
    { echo "allot trace convert $path failed" >&2; exit 1; }
  : >"$out/raw" && : >"$out/h5"
  for _ in $(seq "$repeats"); do
    seconds "$format" "$path" >>"$out/raw"
    seconds h5 "$out/$name.h5" >>"$out/h5"
  done
  read -r raw_median raw_best <<<"$(stats <"$out/raw")"
  read -r h5_median h5_best <<<"$(stats <"$out/h5")"
  ratio=$(awk -v a="$raw_median" -v b="$h5_median" 'BEGIN {printf "%.1f", a / b}')
  printf '| %s | %s / %s ms | %s / %s ms | **%sx** |\n' "$name" "$raw_median" "$raw_best" \
    "$h5_median" "$h5_best" "$ratio"
done
