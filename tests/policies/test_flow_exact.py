"""The flow policy's min-cost max-flow against an independent exact solver.

flow_export (C++) runs the policy on 200 seeded random instances (2-5
agents, 2-6 pending task records) and writes each network it built with the
cost and flow its Boost solver found. Here every network is solved again
as two linear programs with scipy's HiGHS, which shares no code with the
policy: the largest flow from source to sink, then the least cost among
flows of that value. Network LPs with integer data have integral optima, so
the costs must agree exactly."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

EXPORT = os.environ.get("ALLOT_FLOW_EXPORT")
HERE = Path(__file__).resolve().parent


def exported(count=200):
    if not EXPORT or not Path(EXPORT).exists():
        pytest.skip("ALLOT_FLOW_EXPORT (the flow_export binary) not set")
    text = subprocess.run([EXPORT, str(count)], check=True, capture_output=True,
                          text=True).stdout
    instances = []
    for line in text.splitlines():
        f = line.split()
        if f[0] == "instance":
            head = dict(zip(f[0::2], f[1::2]))
            instances.append({k: int(v) for k, v in head.items()} | {"arcs": []})
        elif f[0] == "arc":
            instances[-1]["arcs"].append(tuple(int(x) for x in f[1:]))
    return instances


def min_cost_max_flow(nodes, source, sink, arcs):
    """(max flow value, least cost of a flow of that value), by LP."""
    arcs = np.array(arcs, dtype=np.int64)
    frm, to, cap, cost = arcs.T
    m = len(arcs)
    inner = [v for v in range(nodes) if v not in (source, sink)]
    row = {v: i for i, v in enumerate(inner)}
    # Conservation at inner nodes: inflow - outflow = 0.
    r, c, d = [], [], []
    for j in range(m):
        if to[j] in row:
            r.append(row[to[j]]); c.append(j); d.append(1.0)
        if frm[j] in row:
            r.append(row[frm[j]]); c.append(j); d.append(-1.0)
    a_eq = coo_matrix((d, (r, c)), shape=(len(inner), m)).tocsr()
    b_eq = np.zeros(len(inner))
    out_of_source = (frm == source).astype(float) - (to == source).astype(float)
    bounds = list(zip([0] * m, cap.tolist()))
    most = linprog(-out_of_source, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert most.status == 0, most.message
    value = round(-most.fun)
    a_eq2 = np.vstack([a_eq.toarray(), out_of_source])
    b_eq2 = np.append(b_eq, value)
    least = linprog(cost.astype(float), A_eq=a_eq2, b_eq=b_eq2, bounds=bounds, method="highs")
    assert least.status == 0, least.message
    return value, least.fun


# On 200 seeded random instances the policy's total cost (and flow) equals
# the exact LP optimum of the same network.
def test_policy_cost_equals_exact_lp_optimum():
    instances = exported(200)
    assert len(instances) >= 150, "too few instances built a network"
    differ = []
    for inst in instances:
        value, cost = min_cost_max_flow(inst["nodes"], inst["source"], inst["sink"], inst["arcs"])
        if value != inst["flow"] or abs(cost - inst["cost"]) > 1e-6 * max(1.0, abs(cost)):
            differ.append((inst["instance"], inst["cost"], cost, inst["flow"], value))
    assert differ == [], f"{len(differ)} instances differ (seed, ours, LP, flow, LP flow): {differ[:5]}"


# The comparison can fail: a network whose cost the LP is told wrongly is caught
# (raising one arc's cost changes the LP optimum of an instance that uses it).
def test_lp_sees_a_changed_cost():
    inst = exported(5)[0]
    arcs = list(inst["arcs"])
    _, cost = min_cost_max_flow(inst["nodes"], inst["source"], inst["sink"], arcs)
    # Every unit of flow leaves the source: charging 1 more on source arcs
    # adds exactly the flow value.
    bumped = [(f, t, c, w + 1 if f == inst["source"] else w) for f, t, c, w in arcs]
    value, more = min_cost_max_flow(inst["nodes"], inst["source"], inst["sink"], bumped)
    assert more == pytest.approx(cost + value)
