"""A real allot master in this process, whose policy may be written in Python."""

import _allot

from ._serving import Background, signals_stop


class Master:
    """A real allot master (the one ``allot master`` runs) whose allocation policy is
    ``policy``: a registered name such as ``"drf"``, or an ``allot.Policy`` object, the
    same one ``allot.simulate`` runs.

    Agents (``allot agent --master HOST:PORT``) and frameworks (``allot run``, the
    scheduler driver) connect to it as to ``allot master``; its HTTP API and web UI are on
    ``http_port``. ``port=0`` and ``http_port=0`` pick free ports (see ``address`` and
    ``http_port``); ``http_port=-1`` serves no HTTP. ``work_dir`` keeps the registry
    (agents and frameworks survive a restart); None keeps nothing. ``params`` are the
    policy's (``min_allocatable`` for a Python policy); ``seed`` is what a Python policy's
    ``self.seed`` and ``self.rng`` draw from.

    Secured and shared as ``allot master`` (the same options, the same files):

    - ``curve_key``: this master's CURVE key pair file (``allot keygen FILE``); agents
      and frameworks then need its public key (``--master-key``). With it, either
      ``curve_clients`` (a file of the client keys admitted) or ``curve_allow_any=True``.
    - ``http_tls_cert`` and ``http_tls_key``: PEM files; the HTTP API and UI over HTTPS.
    - ``operator_token``: operator calls (POST) must carry ``Authorization: Bearer
      TOKEN``. ``acls``: a JSON file of access control lists, as ``--acls``.
    - ``zk="zk://HOST:PORT/PATH"`` (or ``file://FILE``): high availability. The master
      stands by until ZooKeeper elects it (``leading`` says; its HTTP port meanwhile
      answers as a standby's, redirecting to the leader), keeps its registry in
      ZooKeeper (``work_dir`` must then be None; ports must be fixed), and announces
      ``advertise_host`` (default: ``host``, or this machine's name for 0.0.0.0). A
      leader that loses the lead stops at once: ``run()`` raises ``allot.Error``, so
      that a supervisor starts it again to stand by.

    ``run()`` serves until ``stop()`` (from another thread) or Ctrl-C; ``start()`` serves
    on a thread of its own; ``with allot.Master(...) as m:`` starts it and stops it at
    the end of the block. The policy's ``decide(now)`` runs on the serving thread, taking
    the GIL for each call; an exception it raises stops the master, and is raised by
    ``run()``, or by ``stop()`` after ``start()``.
    """

    def __init__(self, policy="drf", *, params=None, host="0.0.0.0", port=5050,
                 http_port=5051, work_dir=None, allocation_interval=1.0, offer_timeout=30.0,
                 agent_timeout=15.0, framework_timeout=15.0, master_id=None, seed=0,
                 curve_key=None, curve_clients=None, curve_allow_any=False,
                 http_tls_cert=None, http_tls_key=None, operator_token=None, acls=None,
                 zk=None, zk_session_timeout=10.0, advertise_host=None):
        if curve_key is None and (curve_clients is not None or curve_allow_any):
            raise _allot.InvalidArgument(
                "curve_clients and curve_allow_any need curve_key (the master's key pair)")
        if curve_key is not None and (curve_clients is None) == (not curve_allow_any):
            raise _allot.InvalidArgument(
                "curve_key needs either curve_clients=FILE (the client keys admitted) or "
                "curve_allow_any=True (any client that knows the master's public key)")
        if (http_tls_cert is None) != (http_tls_key is None):
            raise _allot.InvalidArgument("http_tls_cert and http_tls_key go together")
        if not isinstance(policy, str):
            policy._allot_seed = seed
            policy._allot_rng = None
        config = dict(
            host=host, port=int(port), http_port=int(http_port), work_dir=str(work_dir or ""),
            allocation_interval=float(allocation_interval), offer_timeout=float(offer_timeout),
            agent_timeout=float(agent_timeout), framework_timeout=float(framework_timeout),
            master_id=master_id or "", http_tls_cert=str(http_tls_cert or ""),
            http_tls_key=str(http_tls_key or ""), operator_token=operator_token or "",
            curve_key=str(curve_key or ""), curve_clients=str(curve_clients or ""),
            acls=str(acls or ""), zk=zk or "", zk_session_timeout=float(zk_session_timeout),
            advertise_host=advertise_host or "")
        self._master = _allot.Master(
            policy, {k: str(v) for k, v in (params or {}).items()}, config)
        self._thread = None

    @property
    def endpoint(self):
        """The ZeroMQ endpoint bound, e.g. ``tcp://0.0.0.0:5050``."""
        return self._master.endpoint

    @property
    def port(self):
        return int(self.endpoint.rsplit(":", 1)[1])

    @property
    def address(self):
        """``127.0.0.1:PORT``: what an agent or framework on this machine gives as --master."""
        return f"127.0.0.1:{self.port}"

    @property
    def http_port(self):
        return self._master.http_port

    @property
    def id(self):
        return self._master.id

    @property
    def running(self):
        return self._master.running

    @property
    def leading(self):
        """Whether this master leads (always, without ``zk``); standing by, False."""
        return self._master.leading

    def run(self):
        """Serves until ``stop()``, or Ctrl-C or SIGTERM in the main thread (which stop
        the master and return)."""
        # Handlers that stop the master rather than raise KeyboardInterrupt: one raised
        # while decide() runs would leave as a failed round, which the master logs and
        # goes on from.
        with signals_stop(lambda _: self._master.stop()):
            self._serve()

    def _serve(self):
        while self._master.run_once(0.2):
            pass

    def start(self):
        """Serves on a new thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("this master has been started already")
        self._thread = Background(f"allot-master-{self.id}", self._serve, self._master.stop)
        return self

    def stop(self):
        """Stops the master; after ``start()``, waits for its thread and raises what the
        policy raised, if it did."""
        self._master.stop()
        if self._thread is not None:
            self._thread.join()
        elif self._master.running:
            self._master.run_once(0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __repr__(self):
        state = ("running" if self.leading else "standing by") if self.running else "stopped"
        return f"<allot.Master {self.id} {self.endpoint} ({state})>"
