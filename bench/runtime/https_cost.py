#!/usr/bin/python3
"""What HTTPS (--http-tls-cert) costs the master's HTTP API, against plain
HTTP in the same run.

    /usr/bin/python3 bench/runtime/https_cost.py [--agents 1000] [--requests 50]

Starts two `allot master` (build/release; one with a self-signed certificate
from openssl) with the same number of emulated agents (`allot-emulator
agents`), then times, in turn on the two, REQUESTS requests of
/api/v1/state?only= (the web UI's overview poll) and of the whole
/api/v1/state, each on a new connection (the UI polls every 2 s; the master
drops idle connections after 1 s, so each poll pays a TLS handshake).
Prints the median and the 90th percentile of each.
"""
import argparse
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from failover import Bench, free_port, wait

BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="allot-https-cost-")
    bench = Bench(BUILD, directory, 0, "2s")
    emulator = os.path.join(BUILD, "bench", "runtime", "allot-emulator")
    cert, key = os.path.join(directory, "tls.pem"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    context = ssl.create_default_context(cafile=cert)
    try:
        urls = {}
        for name, tls in (("http", False), ("https", True)):
            port, http = free_port(), free_port()
            bench.spawn(name, [bench.allot, "master", "--host", "127.0.0.1", "--port", str(port),
                               "--http-port", str(http), "--no-registry", "--log-level", "warn"]
                        + (["--http-tls-cert", cert, "--http-tls-key", key] if tls else []))
            urls[name] = f"{name}://127.0.0.1:{http}"
            bench.spawn(f"agents-{name}", [emulator, "agents", "--master", f"127.0.0.1:{port}",
                                           "--count", str(args.agents), "--prefix", name])

            def held(url=urls[name]):
                try:
                    with urllib.request.urlopen(url + "/api/v1/state?only=", timeout=5,
                                                context=context) as r:
                        return r.read().count(b'"agents_active":%d' % args.agents) > 0
                except OSError:
                    return False
            wait(held, 120, f"{args.agents} agents at the {name} master")
        print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} https_cost: "
              f"{args.agents} emulated agents, {args.requests} requests of each, alternately; "
              f"load {open('/proc/loadavg').read().split()[:3]}")
        for query in ("?only=", ""):
            times = {name: [] for name in urls}
            size = {}
            for _ in range(args.requests):
                for name, url in urls.items():
                    t0 = time.perf_counter()
                    with urllib.request.urlopen(f"{url}/api/v1/state{query}", timeout=60,
                                                context=context) as r:
                        size[name] = len(r.read())
                    times[name].append(time.perf_counter() - t0)
            for name, t in times.items():
                t.sort()
                print(f"{name:5} state{query or ' (whole)'}: {size[name]:,} bytes, median "
                      f"{statistics.median(t) * 1000:.2f} ms, p90 "
                      f"{t[int(0.9 * (len(t) - 1))] * 1000:.2f} ms", flush=True)
    finally:
        bench.close()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
