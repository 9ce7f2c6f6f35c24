"""Allocation policies written in Python."""


class Policy:
    """Base class of a policy written in Python; pass an instance as ``policy=``.

    Subclasses set ``name`` and implement ``decide(self, now)``, called once
    per allocation round with ``now`` in simulated microseconds (an int, exact
    like the C++ side). Inside ``decide``:

    - ``self.state`` is a read-only ``allot.ClusterStateView`` of the books:
      ``agent_slots``, ``agent(i)`` / ``agents()``, ``framework_slots``,
      ``framework(i)`` / ``frameworks()``, ``role(i)``, ``offerable(fw, agent)``,
      ``available_total(agent)``, ``allocatable(resources)``, ``dims``.
      Slots of removed agents and frameworks are reused: skip dead ones.
    - ``self.grant(fw, agent, resources, task=None)`` lends resources (Mesos
      text such as ``"cpus:2;mem:1024"``, a ``{name: amount}`` dict or a
      vector over ``state.dims``) and returns False when the framework may
      not get them (inactive, suppressed, filtered, reserved for another
      role). Granting what is not available is a policy bug and raises, as
      do a resource name the cluster lacks and an amount that is not a
      finite number >= 0. ``task`` names the pending task
      (``framework(i).demand[k].key``) the grant is sized for: the framework
      then launches that task there; a key it did not publish raises.
    - ``self.grant_all(fw, agent)`` lends everything the framework may be
      offered on the agent, as Mesos offers whole agents.

    Grants of one framework on one agent in one round, for the same task (or
    for none), merge into one offer.

    A policy that draws random numbers takes them from ``self.rng``, a numpy
    ``Generator`` seeded with the run's seed (``self.seed``) at the run's
    first draw, so the same seed gives the same run; it sets ``uses_seed =
    True``, and ``allot.compare(..., seeds=N)`` then runs it once per seed
    (without it, once in all, as nothing in its run would change).
    The simulation runs one round at a time; ``decide`` holds the GIL while
    it runs, so a Python policy is as fast as its Python.

    The same object allocates a real cluster in ``allot.Master(policy)``
    (then ``now`` is the master's clock, in microseconds since the epoch).
    """

    name = "python"
    uses_seed = False
    # Set by simulate() for the duration of a run; None otherwise.
    _allot_host = None
    _allot_seed = None
    _allot_rng = None

    def decide(self, now):
        raise NotImplementedError(f"{type(self).__name__}.decide(now) is not implemented")

    def _host(self):
        host = self._allot_host
        if host is None:
            raise RuntimeError("Policy.state and grants are available only inside decide(), "
                               "during allot.simulate() or while an allot.Master runs")
        return host

    @property
    def state(self):
        return self._host().state

    @property
    def seed(self):
        """The run's seed (``simulate``'s ``seed``), during a run."""
        if self._allot_seed is None:
            raise RuntimeError("Policy.seed is set only during allot.simulate() and in an "
                               "allot.Master")
        return self._allot_seed

    @property
    def rng(self):
        """A numpy ``Generator`` seeded with the run's seed, one per run."""
        if self._allot_rng is None:
            import numpy as np

            self._allot_rng = np.random.default_rng(self.seed)
        return self._allot_rng

    def grant(self, fw, agent, resources, task=None):
        return self._host().grant(fw, agent, resources, task)

    def grant_all(self, fw, agent):
        return self._host().grant_all(fw, agent)

    def allocatable(self, resources):
        """True iff ``resources`` are worth offering (the ``min_allocatable`` param)."""
        return self._host().allocatable(resources)
