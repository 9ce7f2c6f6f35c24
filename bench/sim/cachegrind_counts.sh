#!/usr/bin/env bash
# Instructions and simulated cache misses of `allot sim` runs, counted by
# valgrind's cachegrind: the same for every run of one binary on one input,
# where wall times on our shared VMs swing by up to 2x within an hour. For
# comparing builds of a change that moves 5-20%: a count that drops is work
# gone, whatever the VM did meanwhile (wall times still need measuring).
#
#   bench/sim/cachegrind_counts.sh ALLOT [ALLOT...] -- SIM_ARGS...
#
# e.g. bench/sim/cachegrind_counts.sh /tmp/allot.before build/release/cli/allot \
#        -- /tmp/g5.h5 -p drf --stop-at 1500
#
# Each binary runs `sim SIM_ARGS --json` once under cachegrind (about 60x
# slower than natively: keep runs to a few seconds). The simulated cache is
# a 48 KiB 12-way L1 and an 8 MiB 16-way last level, about what one core of
# our EPYC VMs gets; LL_BYTES overrides the last level's size. Prints, per
# binary: instructions, L1 and last-level data misses, and the md5 of the
# runs' summaries (equal summaries: the builds did the same work). Set KEEP
# to a directory to keep the cachegrind.out files (for cg_annotate).
set -euo pipefail

binaries=()
while [[ $# -gt 0 && $1 != -- ]]; do
  binaries+=("$1")
  shift
done
[[ $# -gt 1 && ${#binaries[@]} -gt 0 ]] ||
  { echo "usage: cachegrind_counts.sh ALLOT [ALLOT...] -- SIM_ARGS..." >&2; exit 2; }
shift
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
ll=${LL_BYTES:-8388608}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

printf '| binary | instructions | L1 data misses | LL data misses | summaries |\n'
printf '| --- | ---: | ---: | ---: | --- |\n'
for i in "${!binaries[@]}"; do
  bin=${binaries[$i]}
  # The tunable set here keeps allot from restarting itself for a huge-page
  # heap (cli/huge_heap.h), which valgrind cannot follow.
  GLIBC_TUNABLES=glibc.malloc.hugetlb=0 valgrind --tool=cachegrind --cache-sim=yes \
    --D1=49152,12,64 --LL="$ll",16,64 --cachegrind-out-file="$out/cg.$i" \
    "$bin" sim "$@" --json >"$out/run.$i.json" 2>"$out/run.$i.err" ||
    { cat "$out/run.$i.err" >&2; exit 1; }
  count() { sed -n "s/^==[0-9]*== $1 *\([0-9,]*\).*/\1/p" "$out/run.$i.err"; }
  summaries=$(/usr/bin/python3 -c '
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
print(hashlib.md5(json.dumps({r["label"]: r["summary"] for r in d["runs"]},
                             sort_keys=True).encode()).hexdigest()[:8] + "...")' "$out/run.$i.json")
  printf '| %s | %s | %s | %s | %s |\n' "$bin" "$(count 'I   refs:')" "$(count 'D1  misses:')" \
    "$(count 'LLd misses:')" "$summaries"
  if [[ -n ${KEEP:-} ]]; then cp "$out/cg.$i" "$KEEP/cachegrind.out.$i"; fi
done
