"""Exact Hamming search at scale: deephash beside faiss and the usual alternatives, in one run.

For each database size and code length: top-k for every k by the peers' float +-1 matmul + argsort,
numpy XOR + bitwise_count (with an exact counting select), faiss IndexBinaryFlat (the reference;
use_heap=False, and its default heap at the first size), usearch's exact Hamming search (when it is
installed) and deephash, in memory and streamed from an HDF5 file; then radius <= 2 against faiss
IndexBinaryMultiHash. Every row gives queries/s, the ratio to faiss measured in the same run, the
peak memory the method added (RSS high-water mark, reset before each), and whether its answers agree
(top-k: the same distances as faiss, whose tie order differs; radius: the same sets). The slow
baselines run on the first --slow-queries queries only; their queries/s are comparable all the same.

Usage: python benchmarks/search.py [--sizes 1000000 10000000] [--bits 64] [--extra-bits 32 128]
       [--queries 1000] [--k 100 1000] [--slow-queries 10] [--threads N]
On a machine shared with other work, --threads 1 gives steadier ratios: spinning OpenMP threads
(faiss) lose the most when the cores are oversubscribed.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numba
import numpy as np
from threadpoolctl import threadpool_limits

from deephash.codes import CodeSet, CodesFile, unpack_codes, write_codes
from deephash.hamming import popcount
from deephash.search import CodeStream, HammingIndex, top_k

LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallopt(-3, 1 << 17)  # M_MMAP_THRESHOLD, fixed: large blocks are mmapped, so freeing returns them


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measured(fn: Callable[[], object]) -> tuple[object, float, float]:
    """(result, seconds, peak MiB added): freed memory goes back to the OS and the RSS high-water mark
    is reset first (Linux clear_refs 5), so the peak is what this call allocated."""
    gc.collect()
    LIBC.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    base = status_kb("VmRSS")
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    return result, seconds, (status_kb("VmHWM") - base) / 1024


@numba.njit(nogil=True, parallel=True)
def _xor_popcount_sweeps(tile: np.ndarray, sweeps: int) -> np.ndarray:
    out = np.zeros(sweeps, np.uint64)
    for s in numba.prange(sweeps):
        query = np.uint64(s) * np.uint64(0x9E3779B97F4A7C15)
        acc = np.uint64(0)
        for j in range(tile.shape[0]):
            acc += popcount(query ^ tile[j])
        out[s] = acc
    return out


def popcount_roofline(threads: int) -> float:
    """uint64 words XORed, popcounted and summed per second on ``threads`` threads, one query against an
    L1-resident tile of 2,048 words: the best any exact scan can do here, measured in this run
    (VPOPCNTQ where the CPU has it, the scalar POPCNT otherwise, as the kernels compile)."""
    tile = np.random.default_rng(1).integers(0, 2**63, 2048, dtype=np.uint64)
    sweeps = 4096 * threads
    _xor_popcount_sweeps(tile, threads)  # compile
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        _xor_popcount_sweeps(tile, sweeps)
        best = max(best, sweeps * tile.shape[0] / (time.perf_counter() - t0))
    return best


def peers_topk(database: np.ndarray, queries: np.ndarray, bits: int, k: int) -> np.ndarray:
    """The DeepHash-pytorch way: +-1 floats, distance = (bits - q.b) / 2, a full argsort per query
    (one BLAS thread, its best on a shared machine: spinning BLAS threads slowed it fourfold)."""
    signs = unpack_codes(database, bits).astype(np.float32)
    out = []
    with threadpool_limits(1, user_api="blas"):
        for q in unpack_codes(queries, bits).astype(np.float32):
            distance = 0.5 * (bits - signs @ q)
            out.append(np.sort(distance[np.argsort(distance)[:k]]))
    return np.array(out)


def numpy_topk(database: np.ndarray, queries: np.ndarray, bits: int, k: int) -> np.ndarray:
    """XOR + bitwise_count over uint64 words, then an exact counting select (stable order)."""
    words = database.view(np.uint64) if database.shape[1] % 8 == 0 else database
    out = []
    for q in queries.view(words.dtype):
        distance = np.bitwise_count(words ^ q).sum(axis=1, dtype=np.int32)
        below = np.searchsorted(np.cumsum(np.bincount(distance, minlength=bits + 1)), k)
        inside = np.flatnonzero(distance < below)
        tied = np.flatnonzero(distance == below)[: k - len(inside)]
        chosen = np.concatenate([inside[np.argsort(distance[inside], kind="stable")], tied])
        out.append(distance[chosen])
    return np.array(out)


def usearch_topk(database: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray | None:
    try:
        from usearch.index import MetricKind, search
    except ImportError:
        return None
    found = search(database, queries, k, MetricKind.Hamming, exact=True, threads=numba.get_num_threads())
    return np.sort(np.asarray(found.distances), axis=1).astype(np.int32)


def faiss_flat(database: np.ndarray, queries: np.ndarray, bits: int, k: int, heap: bool) -> np.ndarray:
    index = faiss.IndexBinaryFlat(bits)
    index.use_heap = heap
    index.add(database)
    return index.search(queries, k)[0]


def row(name: str, qps: float, reference: float, mib: float, same: object) -> None:
    agree = "-" if same is None else ("yes" if same else "NO")
    print(f"  {name:<40}{qps:>12,.0f}{qps / reference:>10.2f}x{mib:>12,.0f}{agree:>8}")


def header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'method':<40}{'queries/s':>12}{'vs faiss':>11}{'peak MiB':>12}{'agree':>8}")


def topk_table(
    database: np.ndarray, queries: np.ndarray, bits: int, ks: list[int], slow: int, first: bool, roofline: float
) -> None:
    n, q = len(database), len(queries)
    packed_mib = database.nbytes / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.h5"
        part = CodeSet(database, np.zeros((n, 1), np.uint8), [""] * n)
        write_codes(path, CodesFile(part, part, bits, "bench", "synthetic"))
        for k in ks:
            header(f"top-{k}: {n:,} x {bits}-bit codes (packed {packed_mib:,.0f} MiB), {q:,} queries")
            want, seconds, mib = measured(lambda k=k: faiss_flat(database, queries, bits, k, heap=False))
            reference = q / seconds
            row("faiss IndexBinaryFlat (use_heap=False)", reference, reference, mib, None)
            if first:
                got, seconds, mib = measured(lambda k=k: faiss_flat(database, queries, bits, k, heap=True))
                row("faiss IndexBinaryFlat (heap)", q / seconds, reference, mib, np.array_equal(got, want))
            got, seconds, mib = measured(lambda k=k: peers_topk(database, queries[:slow], bits, k))
            row(
                f"peers: float +-1 matmul + argsort [{slow} q]",
                slow / seconds,
                reference,
                mib,
                np.array_equal(got, want[:slow]),
            )
            got, seconds, mib = measured(lambda k=k: numpy_topk(database, queries[:slow], bits, k))
            row(
                f"numpy XOR + bitwise_count [{slow} q]",
                slow / seconds,
                reference,
                mib,
                np.array_equal(got, want[:slow]),
            )
            got, seconds, mib = measured(lambda k=k: usearch_topk(database, queries[:slow], k))
            if got is not None:
                row(
                    f"usearch exact Hamming [{slow} q]",
                    slow / seconds,
                    reference,
                    mib,
                    np.array_equal(got, want[:slow]),
                )
            found, seconds, mib = measured(lambda k=k: HammingIndex(database, bits).search(queries, k))
            row("deephash HammingIndex (in memory)", q / seconds, reference, mib, np.array_equal(found.distances, want))
            words_per_s = q / seconds * n * -(-bits // 64)
            print(f"  {'':<40}{'':>23}{words_per_s / roofline:>10.1%} of the XOR+popcount roofline")
            print(f"  {'':<40}{'':>23}{(packed_mib + mib) / packed_mib:>11.2f}x packed, codes included")
            found, seconds, mib = measured(lambda k=k: top_k(CodeStream(path), queries, k))
            row("deephash streamed from HDF5", q / seconds, reference, mib, np.array_equal(found.distances, want))
            print(f"  {'':<40}{'':>23}{mib / packed_mib:>11.2f}x packed (codes stay on disk)")


def radius_table(database: np.ndarray, rng: np.random.Generator, num_queries: int, bits: int, radius: int) -> None:
    """Queries are database codes with 0 to radius + 1 random bits flipped, so most have neighbours."""
    n, q = len(database), num_queries
    signs = unpack_codes(database[rng.integers(0, n, q)], bits)
    for i, flips in enumerate(rng.integers(0, radius + 2, q)):
        signs[i, rng.choice(bits, flips, replace=False)] *= -1
    queries = np.packbits(signs > 0, axis=1)
    header(f"radius <= {radius}: {n:,} x {bits}-bit codes, {q:,} queries (faiss range_search gets radius + 1)")
    flat = faiss.IndexBinaryFlat(bits)
    flat.add(database)
    lims, _, labels = flat.range_search(queries, radius + 1)  # an exact scan: the ground truth
    want = [set(labels[lims[i] : lims[i + 1]].tolist()) for i in range(q)]
    results = []
    for nhash, b in ((2, 16), (3, 20), (3, 21), (4, 16)):
        index = faiss.IndexBinaryMultiHash(bits, nhash, b)
        _, build, build_mib = measured(lambda index=index: index.add(database))
        (lims, _, labels), seconds, mib = measured(lambda index=index: index.range_search(queries, radius + 1))
        exact = all(set(labels[lims[i] : lims[i + 1]].tolist()) == want[i] for i in range(q))
        results.append((q / seconds, f"faiss IndexBinaryMultiHash({nhash}, {b})", build, build_mib + mib, exact))
    reference = max(r[0] for r in results if r[4])
    for qps, name, build, mib, exact in results:
        row(f"{name} (build {build:.1f} s)", qps, reference, mib, exact)
    index = HammingIndex(database, bits)
    _, build, build_mib = measured(lambda: index.tables(radius))
    found, seconds, mib = measured(lambda: index.range_search(queries, radius))
    exact = all(set(found.row(i)[1].tolist()) == want[i] for i in range(q))
    row(f"deephash multi-index (build {build:.1f} s)", q / seconds, reference, build_mib + mib, exact)
    print(f"  ({sum(map(len, want)):,} neighbours in all; agree = the exact sets; ratios to the fastest exact faiss)")


def warm_up(rng: np.random.Generator) -> None:
    """Load (or compile) every kernel once, so no timing includes it."""
    database = rng.integers(0, 256, (140_000, 8), dtype=np.uint8)
    index = HammingIndex(database, 64)
    index.search(database[:4], 1000)  # with the sampled first threshold
    index.search(database[:4], 1)
    index.range_search(database[:4], 2)
    with tempfile.TemporaryDirectory() as tmp:
        part = CodeSet(database[:100], np.zeros((100, 1), np.uint8), [""] * 100)
        write_codes(Path(tmp) / "c.h5", CodesFile(part, part, 64, "bench", "warm-up"))
        top_k(CodeStream(Path(tmp) / "c.h5"), database[:4], 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--bits", type=int, default=64, help="code length at every size")
    parser.add_argument("--extra-bits", type=int, nargs="*", default=[32, 128], help="more lengths, first size only")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--slow-queries", type=int, default=10, help="queries for the slow baselines")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="for faiss, usearch and deephash")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    faiss.omp_set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPU cores; faiss {faiss.__version__}, usearch and deephash on {args.threads} threads")
    warm_up(rng)
    roofline = popcount_roofline(args.threads)
    print(f"XOR+popcount roofline (L1-resident, measured now): {roofline / 1e9:.2f} G words/s, {args.threads} threads")
    for i, n in enumerate(args.sizes):
        for bits in [args.bits, *(args.extra_bits if i == 0 else [])]:
            database = rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)
            queries = rng.integers(0, 256, (args.queries, bits // 8), dtype=np.uint8)
            first = i == 0 and bits == args.bits
            topk_table(database, queries, bits, args.k, args.slow_queries, first, roofline)
            if first:
                radius_table(database, rng, args.queries, bits, 2)


if __name__ == "__main__":
    main()
