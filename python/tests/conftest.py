"""Fixtures of the allot Python tests: real traces from the shared folder, tiny ones written here."""

import os
from pathlib import Path

import pytest

import allot
from allot_test_data import KTH_NAME, write_swf


@pytest.fixture(scope="session")
def kth_path():
    path = allot.shared_traces_dir() / KTH_NAME
    if not path.exists():
        pytest.skip(f"{path} not found (set ALLOT_SHARED_TRACES_DIR)")
    return path


@pytest.fixture(scope="session")
def kth(kth_path):
    return allot.load_trace(kth_path)


@pytest.fixture
def tiny(tmp_path):
    """Two machines of 2 cpus; a 3-wide job at 0 (100 s), 2-wide at 10 (50 s), 1-wide at 20 (5 s)."""
    return write_swf(tmp_path / "tiny.swf",
                     [(1, 0, 100, 3, 1), (2, 10, 50, 2, 2), (3, 20, 5, 1, 1)])


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt, as in an interactive session, even in a
    process started with SIGINT ignored (a background job of a script), where
    Python leaves it ignored."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def allot_cli():
    """The `allot` binary of the build under test (ALLOT_BUILD_DIR)."""
    build = os.environ.get("ALLOT_BUILD_DIR")
    path = Path(build or "", "cli", "allot")
    if not build or not path.exists():
        pytest.skip("set ALLOT_BUILD_DIR to a build with cli/allot")
    return path
