"""python3 -m allot master: the real master serving a policy written in Python.

    python3 -m allot master --policy examples/fifo_policy.py:Fifo --port 5050

Agents (`allot agent --master HOST:5050`) and frameworks (`allot run`) connect to
it as to `allot master`; Ctrl-C or SIGTERM stops it.
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
    args = parser.parse_args(argv)

    params = {}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key:
            parser.error(f"--param {item}: expected NAME=VALUE")
        params[key] = value
    try:
        master = Master(load_policy(args.policy), params=params, host=args.host,
                        port=args.port, http_port=args.http_port, work_dir=args.work_dir,
                        allocation_interval=args.allocation_interval)
    except Error as e:
        raise SystemExit(f"allot: {e}") from None
    print(f"allot master {master.id} serving on {master.endpoint} (HTTP port {master.http_port}), "
          f"policy {args.policy}", flush=True)
    master.run()  # until Ctrl-C or SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
