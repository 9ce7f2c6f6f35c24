"""Where the shared real traces live."""

import os
from pathlib import Path


def shared_traces_dir():
    """The shared traces folder: $ALLOT_SHARED_TRACES_DIR, else ``<repo>/../shared/traces``.

    The fallback is the layout of the development machines (the traces sit
    beside the project). The folder may not exist; callers check.
    """
    env = os.environ.get("ALLOT_SHARED_TRACES_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]  # python/allot/data.py -> repo
    return repo.parent / "shared" / "traces"
