#!/bin/bash
# A job array against its baseline: N copies of `true` run as one
# `allot run --instances N` framework, and as N `allot run` processes one
# after the other (what a shell loop over mesos-execute does: each subscribes,
# waits for an offer, launches one task and tears down). One master and one
# agent of 2 cpus on loopback; each copy asks for 0.1 cpu, so 20 fit at once.
#
#   bench/runtime/job_array.sh ALLOT N [ROUNDS]
set -euo pipefail
allot=${1:?usage: job_array.sh ALLOT N [ROUNDS]}
n=${2:?usage: job_array.sh ALLOT N [ROUNDS]}
rounds=${3:-2}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cleanup() {
  kill "$agent" "$master" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$allot" master --work-dir "$dir/m" --port "$port" --http-port -1 --allocation-interval 100ms \
  >"$dir/master.log" 2>&1 &
master=$!
sleep 1
"$allot" agent --master "127.0.0.1:$port" --work-dir "$dir/a" --resources 'cpus:2;mem:1024' \
  --cgroup-root none >"$dir/agent.log" 2>&1 &
agent=$!
sleep 1.5
run=("$allot" run --master "127.0.0.1:$port" --cpus 0.1 --mem 8 --timeout 600)
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
for ((r = 1; r <= rounds; r++)); do
  start=$(date +%s%N)
  "${run[@]}" --instances "$n" --json -- true >"$dir/array.out" 2>/dev/null
  end=$(date +%s%N)
  echo "round $r: --instances $n: $(seconds "$start" "$end") s, $(grep -c TASK_FINISHED "$dir/array.out") finished"
  start=$(date +%s%N)
  for ((i = 0; i < n; i++)); do "${run[@]}" -- true >/dev/null 2>&1; done
  end=$(date +%s%N)
  echo "round $r: $n x allot run: $(seconds "$start" "$end") s"
done
