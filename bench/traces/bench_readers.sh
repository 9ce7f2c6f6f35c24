#!/usr/bin/env bash
# Trace readers against pandas.read_csv on the same files, in the same run,
# and peak memory of the streaming reader for 1 versus 5 Google parts.
#
#   bench/traces/bench_readers.sh [BUILD_DIR] [REPEATS] [--record]
#
# BUILD_DIR (default build-bench-readers beside the repo) gets a Release
# build of read_trace. Each timing is the best of REPEATS reads (default 5),
# with the median beside it. Our reader and pandas read in turn, each in a
# fresh process, as a user's first read does; pandas also reads REPEATS
# times in one process (later reads reuse memory the first one faulted in).
# pandas runs in /usr/bin/python3 (Debian python3-pandas) and times read_csv
# alone, after import. With --record, the results are appended to
# bench/RESULTS.md under "Trace readers".
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/../build-bench-readers}
repeats=${2:-5}
record=no
[[ " $* " == *" --record "* ]] && record=yes
traces=${ALLOT_SHARED_TRACES_DIR:-$src/../shared/traces}
swf=$traces/swf/HPC2N-2002-2.1-cln.swf.gz
part=$traces/google2011/task_events/part-00000-of-00500.csv.gz

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DALLOT_BUILD_TESTS=OFF -DALLOT_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"${ALLOT_JOBS:-2}" --target read_trace >/dev/null
tool=$build/bench/traces/read_trace

# One read by our reader in a fresh process: "WALL CPU" (the read's wall
# seconds as read_trace times it; user + sys CPU seconds of the process).
ours_once() {
  local cpu
  cpu=$( { /usr/bin/time -f 'cpu %U %S' "$tool" "$1" "$2" >"$build/read_trace.out"; } 2>&1 |
    awk '$1 == "cpu" {print $2 + $3}')
  echo "$(awk '$1 == "seconds" {print $2}' "$build/read_trace.out") $cpu"
}

# pandas.read_csv on the same file, REPEATS (3rd argument) times in one
# process: one line "WALL CPU ROWS" per read (read_csv alone, after import
# and after one tiny read that loads pandas' parser and gzip code; CPU:
# process time).
pandas_reads() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys, time
import pandas as pd
import gzip, io
kind, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
def read(source, **extra):
    if kind == "swf":
        return pd.read_csv(source, sep=r"\s+", comment=";", header=None, **extra)
    return pd.read_csv(source, header=None, **extra)
# A tiny gzip read first, with the same options: pandas imports its parser
# and gzip modules on first use, which is not what is measured here.
read(io.BytesIO(gzip.compress(b"1,2\n" if kind != "swf" else b"1 2\n")), compression="gzip")
for _ in range(repeats):
    start, cpu = time.perf_counter(), time.process_time()
    frame = read(path)
    print(f"{time.perf_counter() - start:.3f} {time.process_time() - cpu:.3f} {len(frame)}")
PY
}

# "BEST MEDIAN BEST_CPU" of lines "WALL CPU ..." on standard input
stats() {
  sort -g -k1 | awk '{w[NR] = $1; if (NR == 1 || $2 < cpu) cpu = $2}
    END {printf "%.3f %.3f %.3f\n", w[1], w[int((NR + 1) / 2)], cpu}'
}

# measure FORMAT PANDAS_KIND PATH: REPEATS rounds, each one read by our reader
# and one by pandas, both in fresh processes, in turn (this VM's speed drifts
# by the minute: interleaving gives both sides the same minutes); then REPEATS
# pandas reads in one process (warm: the later reads reuse its memory).
# Prints "OURS_BEST OURS_MEDIAN OURS_CPU FRESH_BEST FRESH_MEDIAN FRESH_CPU
# WARM_BEST WARM_MEDIAN WARM_CPU ROWS".
measure() {
  local ours=() fresh=() warm
  for _ in $(seq "$repeats"); do
    ours+=("$(ours_once "$1" "$3")")
    fresh+=("$(pandas_reads "$2" "$3" 1)")
  done
  warm=$(pandas_reads "$2" "$3" "$repeats")
  echo "$(printf '%s\n' "${ours[@]}" | stats) $(printf '%s\n' "${fresh[@]}" | stats)" \
    "$(stats <<<"$warm") $(tail -n 1 <<<"$warm" | awk '{print $3}')"
}

peak_kb() {
  /usr/bin/time -v "$tool" "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'
}

read -r swf_best swf_median swf_cpu swf_pd_best swf_pd_median swf_pd_cpu \
  swf_warm_best swf_warm_median swf_warm_cpu swf_rows < <(measure swf swf "$swf")
read -r g_best g_median g_cpu g_pd_best g_pd_median g_pd_cpu \
  g_warm_best g_warm_median g_warm_cpu g_rows < <(measure google2011 csv "$part")
rss_one=$(peak_kb google2011 "$part")
rss_five=$(peak_kb google2011 "$traces/google2011")
rss_five_whole=$(peak_kb google2011 "$traces/google2011" --whole)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

report=$(cat <<MD
### Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(uname -m))

Command: \`bench/traces/bench_readers.sh $build $repeats\` (Release; best / median of $repeats
reads; each round one read by allot and one by pandas, both in fresh processes, in turn; then
$repeats pandas reads in one process; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)).

| input | allot reader, wall s (best / median) | pandas.read_csv, fresh process, wall s | speed-up (best) | pandas, $repeats reads in one process, wall s | speed-up (best) | CPU s, allot / pandas fresh (best) |
| --- | --- | --- | --- | --- | --- | --- |
| SWF HPC2N, $swf_rows jobs, gz | $swf_best / $swf_median | $swf_pd_best / $swf_pd_median | $(ratio "$swf_pd_best" "$swf_best")x | $swf_warm_best / $swf_warm_median | $(ratio "$swf_warm_best" "$swf_best")x | $swf_cpu / $swf_pd_cpu |
| Google task_events part 0, $g_rows rows, gz | $g_best / $g_median | $g_pd_best / $g_pd_median | $(ratio "$g_pd_best" "$g_best")x | $g_warm_best / $g_warm_median | $(ratio "$g_warm_best" "$g_best")x | $g_cpu / $g_pd_cpu |

The allot reader builds the normalized workload (jobs, task records with
outcomes: one per SWF job with count = processors, one per Google attempt);
pandas only loads the columns. pandas inflates gzip with zlib, the allot
reader with ISA-L's igzip, on a second thread.

Peak RSS (\`/usr/bin/time -v\`, \`read_trace google2011 ...\`): streaming 1 part $((rss_one / 1024)) MB,
streaming 5 parts $((rss_five / 1024)) MB; collecting all 5 parts into one Workload (\`--whole\`)
$((rss_five_whole / 1024)) MB.
MD
)
echo "$report"
if [[ $record == yes ]]; then
  results=$src/bench/RESULTS.md
  [[ -f $results ]] || printf '# Benchmark results\n' >"$results"
  grep -q '^## Trace readers' "$results" || printf '\n## Trace readers\n' >>"$results"
  # Insert this run at the end of the "Trace readers" section.
  python3 - "$results" "$report" <<'PY'
import sys
path, text = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
start = lines.index("## Trace readers")
end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
while end > start + 1 and lines[end - 1] == "":
    end -= 1
lines[end:end] = ["", text, ""] if end < len(lines) else ["", text]
open(path, "w").write("\n".join(lines).rstrip("\n") + "\n")
PY
fi
