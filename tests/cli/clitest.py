"""Helpers shared by the end-to-end tests that run the real `allot` binary.

    from clitest import check, runner
    run = runner(sys.argv[1])
    out = run("trace", "inspect", path, "--json").stdout
    check(condition, "what went wrong")

A failed run or check ends the test at once with a "FAIL: ..." message (exit
status 1), which is what CTest reports.
"""

import subprocess
import sys


def runner(binary):
    """Returns run(*args, expect=0), which runs BINARY with ARGS and fails the
    test unless it exits with EXPECT; it returns the CompletedProcess (text
    stdout and stderr)."""

    def run(*args, expect=0):
        proc = subprocess.run([binary, *args], capture_output=True, text=True)
        if proc.returncode != expect:
            sys.exit(f"FAIL: allot {' '.join(args)} exited {proc.returncode} (wanted {expect})\n"
                     f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    return run


def check(condition, message):
    """Fails the test with MESSAGE unless CONDITION holds."""
    if not condition:
        sys.exit("FAIL: " + message)
