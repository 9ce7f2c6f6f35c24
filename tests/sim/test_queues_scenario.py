"""The YARN two-queue scenario end to end through `allot sim` (see
queues_scenario.py and docs/validation.md): elasticity, waiting without
preemption, preemption within the timeout."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queues_scenario import first_time, run, running  # noqa: E402


# Alone, A takes all 10 machines; without preemption B gets one machine as
# each of A's first five tasks ends (600, 650, ..., 800 s), then holds 50%.
@pytest.mark.parametrize("label", ["capacity", "fair"])
def test_without_preemption_b_waits_for_a_tasks_to_end(label):
    r = run(label)
    assert running(r, "A", 99) == 10 and running(r, "B", 599) == 0
    assert [running(r, "B", t) for t in (600, 650, 700, 750, 800, 850)] == [1, 2, 3, 4, 5, 5]
    assert first_time(r, "B", 5) == 800
    assert not np.any(r["attempt"] > 0)


# With preemption B reaches 50% when it has been starved for the 15 s
# timeout (arrived at 100 s); five of A's tasks are killed then and run
# again later, and every job finishes.
@pytest.mark.parametrize("label", ["capacity+preemption", "fair+preemption"])
def test_with_preemption_b_gets_its_half_after_the_timeout(label):
    r = run(label)
    assert running(r, "B", 114) == 0
    assert first_time(r, "B", 5) == 115
    assert running(r, "A", 115) == 5 and running(r, "B", 1000) == 5
    reruns = r["attempt"] > 0
    assert int(np.sum(reruns)) == 5
    assert np.all(r["queue"][reruns] == "A") and np.all(np.isfinite(r["end"]))
