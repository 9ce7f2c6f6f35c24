#!/usr/bin/env bash
# Trace readers against pandas.read_csv on the same files, in the same run,
# and peak memory of the streaming reader for 1 versus 5 Google parts.
#
#   bench/traces/bench_readers.sh [BUILD_DIR] [REPEATS] [--record]
#
# BUILD_DIR (default build-bench-readers beside the repo) gets a Release
# build of read_trace. Each timing is the best of REPEATS runs (default 5),
# with the median beside it; pandas runs in /usr/bin/python3 (Debian
# python3-pandas) and times read_csv alone, after import. With --record, the
# results are appended to bench/RESULTS.md under "Trace readers".
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

# best and median wall seconds of REPEATS runs of our reader, then the best
# CPU seconds (user + sys, both threads)
ours() {
  local runs=()
  for _ in $(seq "$repeats"); do
    runs+=("$( { /usr/bin/time -f 'cpu %U %S' "$tool" "$1" "$2" >"$build/read_trace.out"; } 2>&1 |
      awk '$1 == "cpu" {print $2 + $3}') $(awk '$1 == "seconds" {print $2}' "$build/read_trace.out")")
  done
  printf '%s\n' "${runs[@]}" | sort -g -k2 | awk '{c[NR] = $1; w[NR] = $2; if (NR == 1 || $1 < best) best = $1}
    END {printf "%.3f %.3f %.3f\n", w[1], w[int((NR + 1) / 2)], best}'
}

# the same for pandas.read_csv on the same file (CPU: process time)
pandas() {
  /usr/bin/python3 - "$1" "$2" "$repeats" <<'PY'
import sys, time
import pandas as pd
kind, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
walls, cpus = [], []
for _ in range(repeats):
    start, cpu = time.perf_counter(), time.process_time()
    if kind == "swf":
        frame = pd.read_csv(path, sep=r"\s+", comment=";", header=None)
    else:
        frame = pd.read_csv(path, header=None)
    walls.append(time.perf_counter() - start)
    cpus.append(time.process_time() - cpu)
walls.sort()
print(f"{walls[0]:.3f} {walls[(len(walls) - 1) // 2]:.3f} {min(cpus):.3f} {len(frame)}")
PY
}

peak_kb() {
  /usr/bin/time -v "$tool" "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'
}

read -r swf_best swf_median swf_cpu < <(ours swf "$swf")
read -r swf_pd_best swf_pd_median swf_pd_cpu swf_rows < <(pandas swf "$swf")
read -r g_best g_median g_cpu < <(ours google2011 "$part")
read -r g_pd_best g_pd_median g_pd_cpu g_rows < <(pandas csv "$part")
rss_one=$(peak_kb google2011 "$part")
rss_five=$(peak_kb google2011 "$traces/google2011")
rss_five_whole=$(peak_kb google2011 "$traces/google2011" --whole)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }

report=$(cat <<MD
### Run of $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(uname -m))

Command: \`bench/traces/bench_readers.sh $build $repeats\` (Release; best / median of $repeats runs;
load average at start: $(cut -d' ' -f1-3 /proc/loadavg)).

| input | allot reader, wall s (best / median) | pandas.read_csv, wall s | speed-up, wall (best) | CPU s, allot / pandas (best) |
| --- | --- | --- | --- | --- |
| SWF HPC2N, $swf_rows jobs, gz | $swf_best / $swf_median | $swf_pd_best / $swf_pd_median | $(ratio "$swf_pd_best" "$swf_best")x | $swf_cpu / $swf_pd_cpu |
| Google task_events part 0, $g_rows rows, gz | $g_best / $g_median | $g_pd_best / $g_pd_median | $(ratio "$g_pd_best" "$g_best")x | $g_cpu / $g_pd_cpu |

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
