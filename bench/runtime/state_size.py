#!/usr/bin/python3
"""Size and time of /api/v1/state with N emulated agents, whole and as the web UI asks for it.

    /usr/bin/python3 bench/runtime/state_size.py

Starts `allot master` (build/release, SQLite registry in a temporary folder)
and `allot-emulator agents` with 10,000 and then 40,000 agents, and times 7
requests of each form: the whole state (what the UI fetched every 2 s
before it asked for one tab's lists), ?only= (the overview tab),
?only=frameworks, ?only=agents (what the Agents tab fetched before it asked
for a page) and the Agents tab's page as it asks for it now (200 agents,
sorted by id; by free resources; filtered). Prints one line per form.
"""
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request

from failover import Bench, free_port, wait
from registry_scale import agents_held

BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release")


def main():
    directory = tempfile.mkdtemp(prefix="allot-state-size-")
    bench = Bench(BUILD, directory, 0, "2s")
    emulator = os.path.join(BUILD, "bench", "runtime", "allot-emulator")
    try:
        for n in (10000, 40000):
            ports = (free_port(), free_port())
            master = bench.master(f"m{n}", *ports)
            wait(lambda: agents_held(ports[1]) is not None, 30, "the master answering")
            bench.spawn(f"agents{n}", [emulator, "agents", "--master", f"127.0.0.1:{ports[0]}",
                                       "--count", str(n), "--prefix", f"e{n}"])
            wait(lambda: agents_held(ports[1]) == n, 120, f"{n} agents registered")
            page = "?only=agents&agents_limit=200&agents_offset=0"
            for query in ("", "?only=", "?only=frameworks", "?only=agents",
                          page + "&agents_sort=id&agents_order=asc",
                          page + "&agents_sort=free&agents_order=desc",
                          page + "&agents_sort=id&agents_order=asc&agents_filter=e" + f"{n}-12"):
                times = []
                for _ in range(7):
                    t0 = time.monotonic()
                    url = f"http://127.0.0.1:{ports[1]}/api/v1/state{query}"
                    with urllib.request.urlopen(url, timeout=60) as r:
                        body = r.read()
                    times.append(time.monotonic() - t0)
                print(f"{n} agents  state{query or ' (whole)'}: {len(body):,} bytes, median "
                      f"{statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, "
                      f"max {max(times) * 1000:.1f}) over 7", flush=True)
            master.terminate()
            master.wait()
    finally:
        bench.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
