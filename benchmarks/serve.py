"""Latency of the search service: ``GET /search`` over loopback against the in-process search.

A codes file of 1M random 64-bit database codes (and 1,000 query codes) is written to a temporary
folder; ``python -m deephash serve`` runs on it in a subprocess on a free 127.0.0.1 port (first
building and saving its index, then restarted to load it memory-mapped: both start-up times are
printed). Clients in threads of this process, each on one keep-alive connection, send a bounded
number of requests for query ids at k = 10 and 100; each request's latency is measured on the client.
The reference, measured in the same run on the same queries: ``HammingIndex.search`` of one query at
a time in this process (the time the server spends searching, without HTTP, JSON or the id lookup);
the server's own ``ms`` (id lookup, search, the result list) is shown too.

    python benchmarks/serve.py [--database 1000000] [--requests 1000] [--clients 1 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from deephash.codes import CodeSet, CodesFile, write_codes
from deephash.search import HammingIndex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(codes: Path, index: Path, port: int) -> tuple[subprocess.Popen[str], float]:
    """The service in a subprocess, and the seconds until it answered its first request."""
    started = time.perf_counter()
    argv = [sys.executable, "-m", "deephash", "serve", "--codes", str(codes), "--index", str(index), "--cache", ""]
    server = subprocess.Popen([*argv, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    print(server.stdout.readline().strip())  # the service's own start-up line: index and ready times
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/search?id=q0&k=1")
            if connection.getresponse().status == 200:
                return server, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("the service did not start")


def load(port: int, k: int, clients: int, requests: int, queries: int) -> tuple[float, np.ndarray, np.ndarray]:
    """(requests per second, latencies in ms, the server's own "ms") of ``requests`` GETs shared by
    ``clients`` threads."""
    latencies, server_ms = np.zeros(requests), np.zeros(requests)

    def client(worker: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(worker, requests, clients):
            t = time.perf_counter()
            connection.request("GET", f"/search?id=q{i % queries}&k={k}")
            response = connection.getresponse()
            body = response.read()
            latencies[i] = (time.perf_counter() - t) * 1000
            answer = json.loads(body)
            if response.status != 200 or len(answer["results"]) != k:
                raise SystemExit(f"bad answer: {response.status} {body[:200]!r}")
            server_ms[i] = answer["ms"]

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests / (time.perf_counter() - t), latencies, server_ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--requests", type=int, default=1000, help="per (k, clients) setting")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    args = p.parse_args()
    rng = np.random.default_rng(0)
    database = rng.integers(0, 256, (args.database, 8), dtype=np.uint8)
    queries = rng.integers(0, 256, (args.queries, 8), dtype=np.uint8)

    def part(codes: np.ndarray, prefix: str) -> CodeSet:
        labels = np.eye(10, dtype=np.uint8)[rng.integers(0, 10, len(codes))]
        return CodeSet(codes, labels, [f"{prefix}{i}" for i in range(len(codes))])

    with tempfile.TemporaryDirectory() as tmp:
        codes = Path(tmp) / "codes.h5"
        write_codes(codes, CodesFile(part(queries, "q"), part(database, "d"), 64, "random", "random"))
        port = free_port()
        server, build_s = start(codes, Path(tmp) / "index", port)
        server.terminate()
        server.wait()
        server, load_s = start(codes, Path(tmp) / "index", port)
        print(
            f"{args.database:,} x 64-bit codes; first answer {build_s:.2f} s after starting (index built),"
            f" {load_s:.2f} s (saved index loaded), a Python process importing torch and numba included\n"
        )
        try:
            index = HammingIndex(database, 64)
            print(
                "| k | clients | requests/s | p50 ms | p99 ms | server's ms p50 | in-process search p50 ms | p99 ms |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for k in (10, 100):
                load(port, k, 1, 50, args.queries)  # warm-up
                own = np.zeros(args.requests)
                for i in range(args.requests):
                    q = queries[i % args.queries : i % args.queries + 1]
                    t = time.perf_counter()
                    index.search(q, k)
                    own[i] = (time.perf_counter() - t) * 1000
                for clients in args.clients:
                    rate, latencies, server_ms = load(port, k, clients, args.requests, args.queries)
                    p50, p99 = np.percentile(latencies, [50, 99])
                    o50, o99 = np.percentile(own, [50, 99])
                    cells = [
                        k,
                        clients,
                        f"{rate:.0f}",
                        *(f"{v:.2f}" for v in (p50, p99, np.median(server_ms), o50, o99)),
                    ]
                    print("| " + " | ".join(map(str, cells)) + " |")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
