#!/bin/bash
# Start cost of allot-executor binaries: each is started N times from bash
# and exits at once with its usage error (no fd 3), so what is timed is the
# fork, the exec, the loading of the binary and its static initialisation.
# The binaries run in turn, R rounds, beside /bin/true as the floor.
#
#   bench/runtime/executor_start.sh N R EXECUTOR...
set -euo pipefail
n=${1:?usage: executor_start.sh N ROUNDS EXECUTOR...}
rounds=${2:?usage: executor_start.sh N ROUNDS EXECUTOR...}
shift 2
per_start() {
  local binary=$1 start end
  start=$(date +%s%N)
  for ((i = 0; i < n; i++)); do "$binary" 2>/dev/null || true; done
  end=$(date +%s%N)
  echo "$(((end - start) / n / 1000)) us per start: $binary ($(stat -c %s "$binary") bytes)"
}
for ((r = 1; r <= rounds; r++)); do
  for binary in "$@" /bin/true; do per_start "$binary"; done
done
