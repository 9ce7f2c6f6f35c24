#!/usr/bin/env bash
# What CURVE costs a master when a whole cluster connects at once (a master
# start, or a failover: every agent opens a new connection and registers).
# AGENTS emulated agents, each on its own connection, register with a master
# pinned to cpu 0 (`allot-emulator agents --sockets AGENTS`, on the other
# cpus); plain TCP and CURVE (--curve-key, a --curve-clients file listing the
# emulator's key, so that every handshake asks the master's ZAP handler)
# and CURVE without a clients file (--curve-allow-any: no ZAP) alternate
# ROUNDS times each. Baseline: the plain runs between them.
# Prints one line per run: the time from the emulator's start to its last
# AGENT_REGISTERED, and the master's CPU time over it. The emulator does not
# resend registrations within a run (--retry-seconds 60; ZeroMQ queues them
# until the connection is up), so that each run costs the master one
# registration per agent.
#
# Usage: bench/runtime/curve_connect.sh BUILD_DIR [AGENTS] [ROUNDS]
#   e.g. bench/runtime/curve_connect.sh build/release 4000 2
# Each connection costs the emulator 4 file descriptors with CURVE (the
# socket, its mailbox, its handshake monitor's two): AGENTS is bound by
# `ulimit -n` / 4.
set -euo pipefail
BUILD="${1:?usage: curve_connect.sh BUILD_DIR [AGENTS] [ROUNDS]}"
AGENTS="${2:-4000}"
ROUNDS="${3:-2}"
ALLOT="$BUILD/cli/allot"
EMU="$BUILD/bench/runtime/allot-emulator"
PORT="${PORT:-7150}"
HTTP=$((PORT + 1))
WORK="$(mktemp -d /tmp/allot-curve-connect.XXXXXX)"
CORES="$(nproc)"
LOAD_CPUS=$((CORES > 1 ? 1 : 0))-$((CORES - 1))
TICKS="$(getconf CLK_TCK)"

if (( 4 * AGENTS + 100 > $(ulimit -n) )); then
  echo "curve_connect.sh: $AGENTS connections need about $((4 * AGENTS)) file descriptors;" \
    "ulimit -n is $(ulimit -n)" >&2
  exit 2
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$ALLOT" keygen "$WORK/master.key" >"$WORK/master.pub"
echo "$("$ALLOT" keygen "$WORK/emu.key") emulator" >"$WORK/clients"

cpu_seconds() {  # user + system CPU time of process $1, in seconds
  awk -v t="$TICKS" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}

healthy() {
  /usr/bin/python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$HTTP/health', timeout=1)" 2>/dev/null
}

run() {  # run MODE (plain|curve)
  local mode=$1 master_flags=() emu_flags=()
  case $mode in
    curve) master_flags=(--curve-key "$WORK/master.key" --curve-clients "$WORK/clients") ;;
    curve-any) master_flags=(--curve-key "$WORK/master.key" --curve-allow-any) ;;
  esac
  [[ $mode != plain ]] && emu_flags=(--master-key "$WORK/master.pub" --curve-key "$WORK/emu.key")
  taskset -c 0 "$ALLOT" master --port "$PORT" --http-port "$HTTP" --no-registry \
    --heartbeat-interval 5s --agent-timeout 60s --log-level warn "${master_flags[@]}" \
    >"$WORK/master-$mode.log" 2>&1 &
  local master=$!
  pids+=("$master")
  for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
  local before load
  before=$(cpu_seconds "$master")
  load=$(cut -d' ' -f1 /proc/loadavg)
  taskset -c "$LOAD_CPUS" "$EMU" agents --master "127.0.0.1:$PORT" --count "$AGENTS" \
    --sockets "$AGENTS" --retry-seconds 60 "${emu_flags[@]}" >"$WORK/emu-$mode.log" 2>&1 &
  local emu=$!
  pids+=("$emu")
  local line=""
  for _ in $(seq 1 3000); do
    line=$(grep -m1 "agents: all" "$WORK/emu-$mode.log" || true)
    [[ -n $line ]] && break
    sleep 0.1
  done
  local after
  after=$(cpu_seconds "$master")
  kill "$emu" "$master" 2>/dev/null || true
  wait "$emu" "$master" 2>/dev/null || true
  if [[ -z $line ]]; then
    echo "$mode: not all $AGENTS agents registered within 300 s; emulator log:" >&2
    tail -5 "$WORK/emu-$mode.log" >&2
    exit 1
  fi
  echo "$mode: ${line#agents: }; master CPU $(awk -v a="$before" -v b="$after" \
    'BEGIN { printf "%.2f", b - a }') s; load before $load"
  sleep 5  # sockets in TIME_WAIT, the load of the run decaying
}

echo "# $(date -u +%FT%TZ) curve_connect: $AGENTS agents, one connection each; master on cpu 0, emulator on cpus $LOAD_CPUS; commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
for _ in $(seq 1 "$ROUNDS"); do
  run plain
  run curve
  run curve-any
done
