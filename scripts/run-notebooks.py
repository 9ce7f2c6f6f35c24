#!/usr/bin/python3
"""Execute Jupyter notebooks top to bottom with nbclient; fail on the first error.

Usage: /usr/bin/python3 scripts/run-notebooks.py NOTEBOOK.ipynb...
Each notebook runs in its own folder with the python3 kernel (Debian's ipykernel).
Outputs are not written back, so the tree stays clean.
"""
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = int(os.environ.get("ALLOT_NOTEBOOK_CELL_TIMEOUT", "600"))


def main(paths):
    if not paths:
        print("run-notebooks: no notebooks given", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        start = time.monotonic()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        )
        try:
            client.execute()
        except CellExecutionError as err:
            failed += 1
            print(f"FAIL {path}\n{err}", file=sys.stderr)
            continue
        except Exception as err:  # kernel died, timeout, bad notebook file
            failed += 1
            print(f"FAIL {path}: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        print(f"ok   {path} ({time.monotonic() - start:.1f} s)")
    print(f"notebooks: {len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
