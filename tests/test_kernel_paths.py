"""Every compiled path of the Hamming kernels gives the brute-force answers.

numba compiles the kernels for the CPU it runs on, so the path is chosen at run time: on a CPU with
AVX-512 VPOPCNTDQ the popcount loops become VPOPCNTQ; ``NUMBA_CPU_NAME=generic`` forces the fallback
(plain x86-64, no POPCNT instruction at all). Each path runs in its own process with its own
on-disk cache, so neither reuses the other's machine code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import json, sys
import numpy as np
from test_metrics_property import reference, tied_codes
from deephash import search_kernels
from deephash.codes import CodeSet
from deephash.metrics import evaluate_codes
from deephash.search import HammingIndex

rng = np.random.default_rng(7)
for bits in (8, 16, 24, 32, 64, 128, 256):
    codes = tied_codes(rng, 400, bits, informative=min(bits, 10))  # heavy ties
    queries, database = codes[:6], codes[6:]
    dist = np.bitwise_count(queries[:, None, :] ^ database[None]).sum(-1)
    index = HammingIndex(database, bits)
    for k in (1, 17, 394):
        got = index.search(queries, k)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        assert np.array_equal(got.indices, order), (bits, k)
        assert np.array_equal(got.distances, np.take_along_axis(dist, order, axis=1)), (bits, k)
    for radius in (0, 2, 5):
        got = index.range_search(queries, radius)
        for q in range(len(queries)):
            want = np.flatnonzero(dist[q] <= radius)
            want = want[np.argsort(dist[q, want], kind="stable")]
            assert np.array_equal(got.row(q)[1], want), (bits, radius, q)
    labels = rng.integers(0, 2, (len(codes), 5)).astype(np.uint8)
    query = CodeSet(queries, labels[:6], [str(i) for i in range(6)])
    db = CodeSet(database, labels[6:], [str(i) for i in range(len(database))])
    got = evaluate_codes(query, db, bits, topk=[10, "all"], pn=[1, 10], radius=2).metrics
    want = reference(query, db, bits, [10, "all"], [1, 10], 2)
    for name, value in want.items():
        if name in got:
            assert abs(got[name] - value) < 1e-9, (bits, name, got[name], value)
asm = "".join(a for _, a in search_kernels.topk_scan.inspect_asm().items())
print(json.dumps({"vpopcnt": "vpopcntq" in asm, "popcnt": "popcnt" in asm}))
"""


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def run_path(cpu: str | None, cache: Path) -> dict[str, bool]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT / 'src'}"}
    env.pop("NUMBA_CPU_NAME", None)
    if cpu:
        env["NUMBA_CPU_NAME"] = cpu
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_the_fallback_path_equals_brute_force(tmp_path):
    found = run_path("generic", tmp_path)
    assert not found["vpopcnt"] and not found["popcnt"]  # really the fallback: no popcount instruction


def test_the_host_path_equals_brute_force_and_uses_the_wide_popcount(tmp_path):
    found = run_path(None, tmp_path)
    flags = cpu_flags()
    if "avx512_vpopcntdq" in flags:
        assert found["vpopcnt"]
    elif "popcnt" in flags:
        assert found["popcnt"]
    else:
        pytest.skip("this CPU has no popcount instruction: the host path is the fallback")
