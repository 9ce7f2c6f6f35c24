"""End-to-end test of `allot policies` and `allot allocate`: runs the real binary.

Usage: allocate_cli_test.py ALLOT_BINARY SOURCE_DIR
Checks the bundled DRF paper example through the config file and through flags
(A runs 3 tasks, B 2, both dominant shares 2/3), the JSON listing of policies,
and that bad input exits 1 with an "allot: " message naming what is wrong.
"""

import json
import os
import sys

from clitest import check, runner

ALLOT, SOURCE = sys.argv[1], sys.argv[2]
run = runner(ALLOT)
CHECKS = 0

# The DRF paper example, from the bundled config file.
out = json.loads(run("allocate", "--config", os.path.join(SOURCE, "examples/drf-paper.toml"),
                     "--json").stdout)
tasks = {f["name"]: f["tasks"] for f in out["frameworks"]}
check(tasks == {"A": 3, "B": 2}, f"DRF paper example: tasks {tasks}, wanted A=3 B=2")
for f in out["frameworks"]:
    check(abs(f["dominant_share"] - 2 / 3) < 1e-9, f"share of {f['name']} is {f['dominant_share']}")
CHECKS += 1

# The same through flags, with the offers listed; the first offer goes to A.
out = json.loads(run("allocate", "-a", "cpus:9;mem:18432", "-f", "name=A,role=a,task=cpus:1;mem:4096",
                     "-f", "name=B,role=b,task=cpus:3;mem:1024", "--json", "--verbose").stdout)
check(out["offers"][0]["framework"] == "A", "first offer should go to A (registered first)")
check(sum(o["launched"] for o in out["offers"]) == 5, "five tasks launched in all")
CHECKS += 1

# Flags override the config file: FIFO lets A take everything that fits.
out = json.loads(run("allocate", "--config", os.path.join(SOURCE, "examples/drf-paper.toml"),
                     "--policy", "fifo", "--json").stdout)
check(out["policy"] == "fifo", "--policy on the command line must win over the file")
check({f["name"]: f["tasks"] for f in out["frameworks"]} == {"A": 4, "B": 0},
      "FIFO serves A first: 4 tasks of <1 CPU, 4 GB> fit in <9, 18 GB>")
CHECKS += 1

# The policy list is machine-readable and complete.
policies = json.loads(run("policies", "--json").stdout)
names = [p["name"] for p in policies]
check({"drf", "fifo", "random"} <= set(names), f"policies listed: {names}")
drf = next(p for p in policies if p["name"] == "drf")
check(any(p["name"] == "seed" for p in drf["params"]), "drf lists its seed parameter")
CHECKS += 1

# The text listing: every parameter of every policy, its help starting in one
# column for all of them, lines wrapped at 100 characters (long words aside).
text = run("policies").stdout.splitlines()
param_lines = [line for line in text if line.startswith("    --param ")]
check(len(param_lines) == sum(len(p["params"]) for p in policies),
      f"{len(param_lines)} --param lines for {sum(len(p['params']) for p in policies)} parameters")
starts = set()
for line in param_lines:
    head = line.split("=", 1)[0] + "="
    rest = line[len(head):]
    value = rest.split(" ", 1)[0]
    starts.add(len(head) + len(value) + (len(rest) - len(value) - len(rest[len(value):].lstrip(" "))))
check(len(starts) == 1, f"parameter help starts in columns {sorted(starts)}, wanted one")
long = [line for line in text if len(line) > 100 and " " in line.strip()[:100]]
check(not long, f"lines over 100 characters: {long[:2]}")
CHECKS += 1

# Bad input: exit code 1 and a message naming the problem.
for args, needle in [
    (["allocate", "-a", "cpus:9;mem:lots", "-f", "task=cpus:1"], "'mem:lots'"),
    (["allocate", "-a", "cpus:9", "-f", "task=cpus:1", "--policy", "nope"], "unknown policy 'nope'"),
    (["allocate", "-a", "cpus:9", "-f", "task=cpus:1", "--param", "sede=1"], "no parameter 'sede'"),
    (["allocate", "-a", "cpus:9", "-f", "role=a"], "needs a task shape"),
    (["allocate", "-f", "task=cpus:1"], "at least one --agent"),
]:
    proc = run(*args, expect=1)
    check(proc.stderr.startswith("allot: ") and needle in proc.stderr,
          f"allot {' '.join(args)}: stderr {proc.stderr!r} should name {needle!r}")
    CHECKS += 1

run("allocate", "--help")
print(f"allocate_cli_test: {CHECKS} checks passed")
