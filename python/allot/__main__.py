"""python3 -m allot master: the real master serving a policy written in Python.

    python3 -m allot master --policy examples/fifo_policy.py:Fifo --port 5050

Agents (`allot agent --master HOST:5050`) and frameworks (`allot run`) connect to
it as to `allot master`; Ctrl-C or SIGTERM stops it. With --zk it is one of several
masters behind ZooKeeper (C++ or Python, the same registry), standing by until it
leads; a leader that loses the lead exits with status 1, for its supervisor to
start it again.
"""

import argparse
import importlib.util
import sys
from pathlib import Path

from _allot import Error

from .master import Master
from .policy import Policy


def load_policy(text):
    """A registered name ("drf") as it is, or FILE.py:CLASS as an instance of CLASS."""
    if ":" not in text:
        return text
    path, _, name = text.rpartition(":")
    if not Path(path).is_file():
        raise SystemExit(f"allot: --policy {text}: no file {path}")
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise SystemExit(f"allot: --policy {text}: {path} has no allot.Policy subclass {name!r}")
    return cls()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m allot")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("master", help="run a master whose policy may be written in Python",
                       description="The real allot master (as `allot master`), with a policy "
                                   "registered by name or written in Python.")
    m.add_argument("--policy", default="drf",
                   help="a registered policy (allot policies) or FILE.py:CLASS, a subclass of "
                        "allot.Policy (default: drf)")
    m.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a policy parameter (repeatable)")
    m.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    m.add_argument("--port", type=int, default=5050, help="agents' and frameworks' port "
                                                          "(0: any free one)")
    m.add_argument("--http-port", type=int, default=5051,
                   help="HTTP API and web UI (0: any free one; -1: none)")
    m.add_argument("--work-dir", help="keeps the registry, so that a restart keeps the cluster")
    m.add_argument("--allocation-interval", type=float, default=1.0, help="seconds")
    m.add_argument("--offer-timeout", type=float, default=30.0,
                   help="seconds before an unanswered offer is rescinded (0: never)")
    m.add_argument("--agent-timeout", type=float, default=15.0,
                   help="seconds of an agent's silence before it is unreachable")
    m.add_argument("--framework-timeout", type=float, default=15.0,
                   help="seconds of a framework's silence before it is disconnected")
    m.add_argument("--master-id", help="prefix of the ids this master assigns "
                                       "(default: made from the start time)")
    m.add_argument("--zk", metavar="URL",
                   help="high availability: zk://[USER:PASSWORD@]HOST:PORT[,...]/PATH or "
                        "file://FILE, as `allot master --zk`; needs fixed ports, no --work-dir")
    m.add_argument("--zk-session-timeout", type=float, default=10.0, help="seconds")
    m.add_argument("--advertise-host",
                   help="the host announced in ZooKeeper (default: --host, or this "
                        "machine's name for 0.0.0.0)")
    m.add_argument("--curve-key", metavar="FILE",
                   help="secure links with CURVE: this master's key pair (allot keygen FILE)")
    m.add_argument("--curve-clients", metavar="FILE",
                   help="with --curve-key: the client public keys admitted")
    m.add_argument("--curve-allow-any", action="store_true",
                   help="with --curve-key and no --curve-clients: admit any client that "
                        "knows the master's public key")
    m.add_argument("--http-tls-cert", metavar="PEM", help="serve HTTPS: certificate chain")
    m.add_argument("--http-tls-key", metavar="PEM", help="serve HTTPS: private key")
    m.add_argument("--operator-token-file", metavar="FILE",
                   help="operator calls (POST) must carry 'Authorization: Bearer TOKEN', "
                        "TOKEN being this file's first line")
    m.add_argument("--acls", metavar="FILE", help="access control lists (JSON), as `allot "
                                                  "master --acls`")
    args = parser.parse_args(argv)

    params = {}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key:
            parser.error(f"--param {item}: expected NAME=VALUE")
        params[key] = value
    token = None
    if args.operator_token_file:
        try:
            with open(args.operator_token_file) as f:
                token = f.readline().strip()
        except OSError as e:
            parser.error(f"--operator-token-file {args.operator_token_file}: {e.strerror}")
        if not token:
            parser.error(f"--operator-token-file {args.operator_token_file}: its first line "
                         "is empty")
    try:
        master = Master(load_policy(args.policy), params=params, host=args.host,
                        port=args.port, http_port=args.http_port, work_dir=args.work_dir,
                        allocation_interval=args.allocation_interval,
                        offer_timeout=args.offer_timeout, agent_timeout=args.agent_timeout,
                        framework_timeout=args.framework_timeout, master_id=args.master_id,
                        zk=args.zk, zk_session_timeout=args.zk_session_timeout,
                        advertise_host=args.advertise_host, curve_key=args.curve_key,
                        curve_clients=args.curve_clients,
                        curve_allow_any=args.curve_allow_any,
                        http_tls_cert=args.http_tls_cert, http_tls_key=args.http_tls_key,
                        operator_token=token, acls=args.acls)
    except Error as e:
        raise SystemExit(f"allot: {e}") from None
    where = f"{master.endpoint} (HTTP port {master.http_port}), policy {args.policy}"
    if master.leading:
        print(f"allot master {master.id} serving on {where}", flush=True)
    else:
        print(f"allot master {master.id} standing by in ZooKeeper; once it leads, it serves "
              f"on {where}", flush=True)
    try:
        master.run()  # until Ctrl-C or SIGTERM
    except Error as e:
        raise SystemExit(f"allot: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
