"""Independent reference schedules: YARN-style capacity and fair queues over an SWF log.

An oracle for `allot sim --policy capacity|fair --frameworks role` (no
preemption). It reads the log with fcfs_reference.read_swf (never through
allot), takes each job's queue from field 15 (the role; "*" when -1) and
counts processors: SWF jobs are gangs of one-cpu instances and allot's
machines hold any one instance, so placement is counting and every share is
a share of processors.

Queues (the policy's `queues` syntax, ';'-separated PATH:G[:M[:W]] with
percentages of the parent): the tree is numbered breadth first, siblings in
declaration order; `root.default` (0%, 100%, weight 1) is added unless a
leaf is named default. A role goes to the leaf with that name or path, else
to default. absolute guarantee / maximum = product along the path.

At each event time (ends first, then arrivals) the scheduler runs, and again
while jobs of run time 0 end at that time:

- target of a queue: capacity: its absolute guarantee; fair: its fair share,
  computed at the start of the run of the scheduler: the root has 1; a parent
  splits its share among children with demand (used + pending processors / P)
  as clamp(w * level, min(g, cap), cap) with cap = min(m, demand), the level
  making the sum equal the parent's share (everyone's cap if the caps fit).
- repeatedly: a leaf can start a job if some pending job of it needs no more
  than the free processors and fits under every maximum on its path; among
  the children (of the root, then downwards) that lead to such a leaf take
  the least used / target (no target: infinity), then the least used, then
  the first in the numbering (values within 1e-9 are equal); in the chosen
  leaf start the first job that fits, frameworks (one per role, in the order
  their first job arrived) first come first served, each in submit order.

Jobs wider than the cluster never start and are left out, as in allot.

Usage: queues_reference.py capacity|fair QUEUES TRACE.swf[.gz] -> CSV job_id,submit,start
"""

import heapq
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fcfs_reference import _open, read_swf  # noqa: E402

TIE = 1e-9


def queues_of(path):
    """{job_id: queue field (15) as a role name}."""
    out = {}
    with _open(path) as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith(";"):
                continue
            fields = text.split()
            queue = int(float(fields[14]))
            out[int(float(fields[0]))] = str(queue) if queue >= 0 else "*"
    return out


def parse_tree(spec):
    """[{path, name, parent, children, g, m, w, absg, absm}] breadth first from the root."""
    items = []
    for item in spec.split(";"):
        item = item.strip()
        if not item:
            continue
        fields = item.split(":")
        path = fields[0].strip()
        if not path.startswith("root."):
            path = "root." + path
        g = float(fields[1].strip().rstrip("%"))
        m = float(fields[2].strip().rstrip("%")) if len(fields) > 2 else 100.0
        w = float(fields[3]) if len(fields) > 3 else 1.0
        items.append((path, g / 100, m / 100, w))
    leaves = [p for p, *_ in items if not any(q.startswith(p + ".") for q, *_ in items)]
    if not any(p.rsplit(".", 1)[1] == "default" for p in leaves):
        items.append(("root.default", 0.0, 1.0, 1.0))
    tree = [dict(path="root", name="root", parent=-1, children=[], g=1.0, m=1.0, w=1.0, absg=1.0, absm=1.0)]
    i = 0
    while i < len(tree):
        for path, g, m, w in items:
            if path.rsplit(".", 1)[0] == tree[i]["path"]:
                tree[i]["children"].append(len(tree))
                tree.append(dict(path=path, name=path.rsplit(".", 1)[1], parent=i, children=[], g=g, m=m, w=w,
                                 absg=tree[i]["absg"] * g, absm=tree[i]["absm"] * m))
        i += 1
    return tree


def leaf_for(tree, role):
    path = role if role.startswith("root.") else "root." + role
    default = None
    for i, q in enumerate(tree):
        if q["children"] or i == 0:
            continue
        if q["path"] == path or q["name"] == role:
            return i
        if q["name"] == "default":
            default = i
    return default


def split(budget, floors, caps, weights):
    """clamp(w * level, floor, cap) summing to `budget` (caps if they fit; floors scaled if they do not)."""
    if sum(caps) <= budget:
        return list(caps)
    if sum(floors) >= budget:
        scale = budget / sum(floors) if sum(floors) > 0 else 0.0
        return [f * scale for f in floors]

    def total(level):
        return sum(min(c, max(f, w * level)) for f, c, w in zip(floors, caps, weights))

    # Bisection on the level: the sum is nondecreasing in it.
    lo, hi = 0.0, max(c / w for c, w in zip(caps, weights))
    for _ in range(100):
        mid = (lo + hi) / 2
        if total(mid) < budget:
            lo = mid
        else:
            hi = mid
    level = (lo + hi) / 2
    return [min(c, max(f, w * level)) for f, c, w in zip(floors, caps, weights)]


def close(a, b):
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= TIE * max(1.0, abs(a), abs(b))


def queue_schedule(path, spec, mode):
    """({job_id: start_seconds}, [never started ids]) of the SWF log under `mode` ('capacity' or 'fair')."""
    jobs, total = read_swf(path)
    queue_field = queues_of(path)
    tree = parse_tree(spec)
    n = len(tree)
    # Frameworks: one per role, registered at their first job's arrival.
    arrivals = sorted((j for j in jobs if j[3] <= total), key=lambda j: j[1])
    framework_of_role, frameworks = {}, []  # frameworks: [leaf, pending list]
    events = []  # (time, kind 0 end / 1 arrival, seq, payload)
    for seq, (job_id, submit, runtime, procs) in enumerate(arrivals):
        heapq.heappush(events, (submit, 1, seq, (job_id, runtime, procs, queue_field[job_id])))
    used = [0] * n
    starts = {}
    seq_counter = [len(arrivals)]

    def path_of(leaf):
        out = []
        while leaf > 0:
            out.append(leaf)
            leaf = tree[leaf]["parent"]
        return out

    def add_used(leaf, procs):
        for q in path_of(leaf) + [0]:
            used[q] += procs

    def fits(leaf, procs, free):
        if procs > free:
            return False
        for q in path_of(leaf):
            room = tree[q]["absm"] * total - used[q]
            if procs > room + TIE * (1 + abs(room)):
                return False
        return True

    def first_fit(leaf, free):
        for fw in frameworks:
            if fw[0] != leaf:
                continue
            for k, job in enumerate(fw[1]):
                if fits(leaf, job[2], free):
                    return fw, k
        return None

    def targets():
        if mode == "capacity":
            return [q["absg"] for q in tree]
        pending = [0] * n
        for leaf, queue in frameworks:
            for q in path_of(leaf) + [0]:
                pending[q] += sum(job[2] for job in queue)
        share = [0.0] * n
        share[0] = 1.0
        for i, q in enumerate(tree):
            if not q["children"] or share[i] <= 0:
                continue
            members = [c for c in q["children"] if used[c] + pending[c] > 0]
            if not members:
                continue
            caps = [min(tree[c]["absm"], (used[c] + pending[c]) / total) for c in members]
            floors = [min(tree[c]["absg"], cap) for c, cap in zip(members, caps)]
            weights = [tree[c]["w"] for c in members]
            for c, s in zip(members, split(share[i], floors, caps, weights)):
                share[c] = s
        return share

    def run_scheduler(now, free):
        target = targets()

        def key(q):
            u = used[q] / total
            return (u / target[q]) if target[q] > 0 else math.inf, u

        def better(a, b):
            ka, kb = key(a), key(b)
            if not close(ka[0], kb[0]):
                return ka[0] < kb[0]
            if not close(ka[1], kb[1]):
                return ka[1] < kb[1]
            return a < b

        while True:
            can = [False] * n
            for leaf in range(1, n):
                if not tree[leaf]["children"] and first_fit(leaf, free) is not None:
                    for q in path_of(leaf) + [0]:
                        can[q] = True
            if not can[0]:
                return free
            node = 0
            while tree[node]["children"]:
                best = None
                for c in tree[node]["children"]:
                    if can[c] and (best is None or better(c, best)):
                        best = c
                node = best
            fw, k = first_fit(node, free)
            job_id, runtime, procs = fw[1].pop(k)
            starts[job_id] = now
            free -= procs
            add_used(node, procs)
            heapq.heappush(events, (now + runtime, 0, seq_counter[0], (procs, node)))
            seq_counter[0] += 1

    free = total
    while events:
        now = events[0][0]
        while events and events[0][0] == now:
            _, kind, _, payload = heapq.heappop(events)
            if kind == 0:
                procs, leaf = payload
                free += procs
                add_used(leaf, -procs)
            else:
                job_id, runtime, procs, role = payload
                if role not in framework_of_role:
                    framework_of_role[role] = len(frameworks)
                    frameworks.append([leaf_for(tree, role), []])
                frameworks[framework_of_role[role]][1].append((job_id, runtime, procs))
        free = run_scheduler(now, free)
    never = [job_id for job_id, *_ in jobs if job_id not in starts]
    return starts, never


def main(argv):
    if len(argv) != 4 or argv[1] not in ("capacity", "fair"):
        sys.exit(__doc__.strip().splitlines()[-1])
    starts, _ = queue_schedule(argv[3], argv[2], argv[1])
    submits = {job_id: submit for job_id, submit, _, _ in read_swf(argv[3])[0]}
    print("job_id,submit,start")
    for job_id, start in sorted(starts.items()):
        print(f"{job_id},{submits[job_id]},{start}")


if __name__ == "__main__":
    main(sys.argv)
