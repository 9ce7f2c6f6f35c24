"""First-in-first-out offers, as a policy written in Python: the C++ `fifo`
again (frameworks in the order they registered, each offered every agent it
may have), to copy and change.

The same class runs in the simulator and in a real master:

    import allot, sys
    sys.path.insert(0, "examples")
    from fifo_policy import Fifo
    allot.simulate("tests/data/traces/swf/KTH-SP2-1996-2.1-cln.first5000.swf.gz", Fifo())

    python3 -m allot master --policy examples/fifo_policy.py:Fifo --port 5050
"""

import allot


class Fifo(allot.Policy):
    name = "pyfifo"

    def decide(self, now):
        s = self.state
        fws = s.frameworks()
        order = sorted((f for f in range(s.framework_slots)
                        if fws["alive"][f] and fws["active"][f] and not fws["suppressed"][f]),
                       key=lambda f: fws["registration"][f])
        agents = s.agents()
        for f in order:
            for a in range(s.agent_slots):
                if agents["alive"][a] and agents["active"][a] \
                        and s.allocatable(s.available_total(a)) \
                        and s.allocatable(s.offerable(f, a)):
                    self.grant_all(f, a)
