#!/usr/bin/env bash
# Master scale (runtime issue): a master on one core with AGENTS emulated
# agents and FRAMEWORKS busy frameworks; a probe times new frameworks' short
# tasks (subscribe -> offer -> launch -> RUNNING -> FINISHED). The baseline,
# in the same run, is the same probe against the same master and agents
# before the busy frameworks start. Prints both probe summaries as JSON lines.
#
# Usage: bench/runtime/master_scale.sh BUILD_DIR [AGENTS] [FRAMEWORKS] [PROBES]
#   e.g. bench/runtime/master_scale.sh build/release 10000 200 30
set -euo pipefail
BUILD="${1:?usage: master_scale.sh BUILD_DIR [AGENTS] [FRAMEWORKS] [PROBES]}"
AGENTS="${2:-10000}"
FRAMEWORKS="${3:-200}"
PROBES="${4:-30}"
TASKS_PER_FRAMEWORK="${TASKS_PER_FRAMEWORK:-20}"
TASK_SECONDS="${TASK_SECONDS:-5}"
ALLOT="$BUILD/cli/allot"
EMU="$BUILD/bench/runtime/allot-emulator"
PORT="${PORT:-7050}"
HTTP=$((PORT + 1))
WORK="$(mktemp -d /tmp/allot-master-scale.XXXXXX)"
CORES="$(nproc)"
MASTER_CPU=0
LOAD_CPUS=$((CORES > 1 ? 1 : 0))-$((CORES - 1))

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

agents_registered() {  # the number of agents in the master's state
  /usr/bin/python3 - "$HTTP" <<'PY' 2>/dev/null || echo 0
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v1/state", timeout=10) as r:
    print(len(json.load(r)["agents"]))
PY
}

echo "# $(date -u +%FT%TZ) master_scale: $AGENTS agents, $FRAMEWORKS frameworks x $TASKS_PER_FRAMEWORK tasks of ${TASK_SECONDS}s; master on cpu $MASTER_CPU; load $(cut -d' ' -f1-3 /proc/loadavg)"
taskset -c "$MASTER_CPU" "$ALLOT" master --port "$PORT" --http-port "$HTTP" --work-dir "$WORK/m" \
  --heartbeat-interval 5s --agent-timeout 60s --log-level warn >"$WORK/master.log" 2>&1 &
pids+=($!)
sleep 1
start=$EPOCHREALTIME
taskset -c "$LOAD_CPUS" "$EMU" agents --master "127.0.0.1:$PORT" --count "$AGENTS" --sockets 16 \
  >"$WORK/agents.log" 2>&1 &
pids+=($!)
# Wait until every agent is registered (the state's agent count).
for _ in $(seq 1 600); do
  n=$(agents_registered)
  [[ "$n" -ge "$AGENTS" ]] && break
  sleep 0.5
done
echo "# $n agents registered in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"

echo "# baseline: probe with no busy frameworks"
taskset -c "$LOAD_CPUS" "$EMU" probe --master "127.0.0.1:$PORT" --repeat "$PROBES" | tail -1 | sed 's/^/baseline /'

taskset -c "$LOAD_CPUS" "$EMU" frameworks --master "127.0.0.1:$PORT" --count "$FRAMEWORKS" \
  --tasks "$TASKS_PER_FRAMEWORK" --task-seconds "$TASK_SECONDS" >"$WORK/frameworks.log" 2>&1 &
pids+=($!)
sleep $((2 * TASK_SECONDS))  # let the busy frameworks reach their steady state
echo "# busy: $(tail -1 "$WORK/frameworks.log")"
taskset -c "$LOAD_CPUS" "$EMU" probe --master "127.0.0.1:$PORT" --repeat "$PROBES" | tail -1 | sed 's/^/loaded /'
echo "# busy: $(tail -1 "$WORK/frameworks.log")"
ps -o rss=,time= -p "${pids[0]}" | awk '{ printf "# master RSS %.0f MB, CPU time %s\n", $1 / 1024, $2 }'
echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
