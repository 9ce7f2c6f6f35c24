#!/usr/bin/env bash
# Builds the libFuzzer targets of the trace readers in their own clang build
# and runs each for a bounded time, starting from a seed corpus made of the
# small files in tests/data/traces. Exits non-zero when a target finds a
# crash (a sanitizer report, an unexpected exception, a timeout or an
# out-of-memory); the input that caused it is kept in BUILD_DIR/artifacts/.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET]   (default 30)
#
# Environment: ALLOT_JOBS (build parallelism, default 2), CXX_FUZZ (clang++).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]" >&2
  exit 2
fi
build=$1
seconds=${2:-30}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data=$src/tests/data/traces
targets=(swf google2011 alibaba2017 alibaba2018)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$src" -B "$build" "${generator[@]}" \
  -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DCMAKE_C_COMPILER="${CC_FUZZ:-clang}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DALLOT_FUZZ=ON -DALLOT_BUILD_TESTS=OFF -DALLOT_BUILD_BENCH=OFF >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j"${ALLOT_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

# Seed corpora, rebuilt each run from tests/data (fuzz inputs found earlier
# stay in BUILD_DIR/corpus/, the working corpus).
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{swf,google2011,alibaba2017,alibaba2018} "$build/artifacts"
cp "$data"/swf/*.swf "$seeds/swf/"
gzip -c "$data/swf/tiny.swf" >"$seeds/swf/tiny.swf.gz"
sep=$'@@\n'
{ cat "$data"/google2011/task_events/part-00000-*; printf '%s' "$sep"
  cat "$data"/google2011/job_events/*; printf '%s' "$sep"
  cat "$data"/google2011/machine_events/*; } >"$seeds/google2011/with-machine-events"
{ cat "$data"/google2011/task_events/part-00001-*; printf '%s' "$sep"; printf '%s' "$sep"
  printf 'count,platform,cpu,memory\n3,B,0.5,0.5\n1,C,1,1\n'; } >"$seeds/google2011/with-machine-table"
cp "$data/alibaba2017/batch_task.csv" "$seeds/alibaba2017/"
{ cat "$data/alibaba2018/batch_task.csv"; printf '%s' "$sep"
  cat "$data/alibaba2018/batch_instance.csv"; printf '%s' "$sep"
  cat "$data/alibaba2018/machine_meta.csv"; } >"$seeds/alibaba2018/all-tables"

status=0
for target in "${targets[@]}"; do
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  echo "== fuzz_$target for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$target-" "$corpus" "$seeds/$target" \
      >"$build/fuzz_$target.log" 2>&1; then
    echo "fuzz_$target FAILED; log: $build/fuzz_$target.log" >&2
    tail -n 60 "$build/fuzz_$target.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$build/fuzz_$target.log" || true
  fi
done
exit $status
