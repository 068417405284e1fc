"""SHC stage 2: semantic hash centres.

Centres are the rows of H (C x q, entries +-1; row i = class i). They should reproduce the class
similarity S through their normalised inner products, HH^T/q ~ S, while every pair stays at least
d bits apart, d chosen by the released SHC code's Gilbert-Varshamov formula (one above what the bound
guarantees; see ``gilbert_varshamov_distance``). The search runs in three steps:

1. ``feasible_centers``: Hadamard rows (+ balanced random rows when classes outnumber them),
   greedily repaired until every pair is >= d apart; it is feasible before any fitting starts.
   When the repair stalls below d, the largest d it reaches is used instead (and reported).
2. ``alm_fit``: the paper's augmented-Lagrangian alternation (continuous proxy M, slacks K,
   multipliers Lambda and alpha), with column updates accepted only if they keep every distance
   >= d, keeping the best fit seen. Unlike the released code, alpha is a float matrix updated for
   every pair, and the alpha gradient term carries no stray mu factor.
3. ``polish``: exact single-bit flips (and pairs of flips in one centre, which can cross a bound
   that blocks each flip alone) that lower S_loss and keep every distance >= d, until none helps,
   then an annealed iterated local search (kick a few random feasible bits, descend again, move
   there if better or by the annealing rule). Each flip's change of S_loss is computed in closed
   form, so a sweep costs O(C^2 q); the sweeps are compiled with numba.

``S_loss`` is the mean over all C x C entries of (S - HH^T/q)^2, as in the paper's Table 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from pathlib import Path

import numba
import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from deephash.errors import DeephashError


def gilbert_varshamov_distance(bits: int, num_classes: int) -> int:
    """The released SHC code's d: the smallest d with sum_{i<d} binom(bits, i) >= 2^bits / C.

    This is the released code's choice, not a guarantee. The Gilbert-Varshamov bound guarantees C
    codes d apart only while C * sum_{i<d} binom(bits, i) <= 2^bits (``gv_guaranteed_distance``), so
    this d is one above the guaranteed one (equal only when the sum hits 2^bits / C exactly): at 16
    bits, d = 4 is guaranteed for 94 codes, not 100. Whether C codes this far apart exist is left to
    the construction, which falls back to the largest d it reaches (``feasible_centers``).
    """
    if bits < 1 or num_classes < 1:
        raise ValueError("bits and num_classes must be positive")
    total, d = 0, 0
    while total * num_classes < 2**bits:
        total += comb(bits, d)
        d += 1
    return d


def gv_guaranteed_distance(bits: int, num_classes: int) -> int:
    """The largest d that the Gilbert-Varshamov bound guarantees for C codes of ``bits`` bits: the
    largest d with C * sum_{i<d} binom(bits, i) <= 2^bits (0 when C > 2^bits: no C distinct codes)."""
    if num_classes > 2**bits:
        return 0
    total, d = 1, 1  # total = sum_{i<d} binom(bits, i)
    while d < bits and (total + comb(bits, d)) * num_classes <= 2**bits:
        total += comb(bits, d)
        d += 1
    return d


def smallest_bits(num_classes: int) -> int:
    """The smallest code length (a multiple of 8) with at least ``num_classes`` distinct codes."""
    return max(8, -(-(num_classes - 1).bit_length() // 8) * 8)


def check_capacity(num_classes: int, bits: int) -> None:
    """Refuse at once a request for more centres than there are codes (the repair would search for
    minutes before giving up), naming the smallest code length that holds them."""
    if num_classes > 2**bits:
        raise DeephashError(
            f"{num_classes} classes cannot have distinct centres in {bits} bits (2^{bits} = {2**bits} codes;"
            f" the smallest code length that works is {smallest_bits(num_classes)} bits)"
        )


def read_similarity(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """A class similarity matrix from a ``.npy`` file: numeric, square (``num_classes`` a side when
    given) and finite, or a one-line error naming the file. Pickled (object) arrays are refused."""
    path = Path(path)
    if not path.exists():
        raise DeephashError("similarity matrix not found", path=path)
    try:
        s = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "pickle" in message:
            message = "no .npy header, or pickled objects, which are never loaded"
        raise DeephashError(f"not a numeric .npy array ({message})", path=path) from None
    if not isinstance(s, np.ndarray) or s.dtype.kind not in "biuf":
        raise DeephashError(f"expected a float C x C matrix, got dtype {getattr(s, 'dtype', type(s))}", path=path)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
        raise DeephashError(f"the similarity matrix must be square and non-empty, got shape {s.shape}", path=path)
    if num_classes is not None and s.shape[0] != num_classes:
        raise DeephashError(f"S is {s.shape}, the split has {num_classes} classes", path=path)
    if not np.isfinite(s).all():
        raise DeephashError("the similarity matrix has non-finite entries (NaN or infinity)", path=path)
    return s.astype(np.float64)


def s_loss(similarity: np.ndarray, centers: np.ndarray) -> float:
    bits = centers.shape[1]
    h = centers.astype(np.float64)
    return float(np.mean((similarity - h @ h.T / bits) ** 2))


def hamming_distances(centers: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances of +-1 rows, as an int matrix."""
    h = centers.astype(np.int64)
    return (centers.shape[1] - h @ h.T) // 2


def distance_stats(centers: np.ndarray) -> tuple[int, float]:
    """Minimum and mean Hamming distance over distinct pairs."""
    dist = hamming_distances(centers)
    upper = dist[np.triu_indices(len(centers), k=1)]
    if upper.size == 0:
        return centers.shape[1], float(centers.shape[1])
    return int(upper.min()), float(upper.mean())


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def hadamard_rows(bits: int, count: int) -> np.ndarray:
    """The first ``count`` (<= 2*bits) rows of [H; -H], H the Sylvester Hadamard matrix."""
    h = scipy.linalg.hadamard(bits).astype(np.int8)
    return np.concatenate([h, -h])[:count]


def balanced_random(count: int, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Random +-1 rows with exactly bits/2 entries of -1 each."""
    rows = np.ones((count, bits), dtype=np.int8)
    for row in rows:
        row[rng.permutation(bits)[: bits // 2]] = -1
    return rows


class BoundNotReached(DeephashError):
    """The repair stalled before every pair was ``min_distance`` apart."""


def repair(
    centers: np.ndarray,
    min_distance: int,
    rng: np.random.Generator,
    max_steps: int = 1_000_000,
    patience: int = 2000,
) -> np.ndarray:
    """Greedy bit flips until every pair is >= ``min_distance`` apart; ``BoundNotReached`` once the
    total shortfall has not reached a new low for ``patience`` steps (successful repairs of up to 1000
    classes improve at least every ~80 steps) or after ``max_steps``.

    Each step flips the bit that most reduces the total shortfall sum_{i<j} max(0, d - D_ij); if no
    flip reduces it, a random bit on which a random too-close pair agrees is flipped instead.
    Flipping bit b of centre i moves D_ij by +1 where centre j agrees on b and by -1 where it does
    not, so with W_ij = -[D_ij < d] - [D_ij <= d] (the shortfall change of growing minus shrinking)
    the change is sum_j [D_ij <= d] + (W_i. 1 + h_ib (W h)_ib) / 2. W h is kept up to date
    incrementally, so a step costs O(C q).
    """
    h = centers.astype(np.int64).copy()
    n, bits = h.shape
    d = min_distance
    if d > bits:
        raise BoundNotReached(f"cannot place centres {d} bits apart in {bits} bits")
    dist = (bits - h @ h.T) // 2
    np.fill_diagonal(dist, bits + d + 1)

    def weights(row: np.ndarray) -> np.ndarray:
        return -(row < d).astype(np.int64) - (row <= d)

    w = weights(dist)
    shrink = (dist <= d).sum(axis=1)
    wh = w @ h
    shortfall = int(np.triu(np.maximum(d - dist, 0), k=1).sum())
    lowest, since = shortfall, 0
    for _ in range(max_steps):
        if not (dist < d).any():
            return h.astype(np.int8)
        delta = 2 * shrink[:, None] + w.sum(axis=1)[:, None] + h * wh  # twice the change
        i, b = np.unravel_index(np.argmin(delta), delta.shape)
        if delta[i, b] >= 0:
            pairs = np.argwhere(np.triu(dist < d, k=1))
            i, j = pairs[rng.integers(len(pairs))]
            b = rng.choice(np.flatnonzero(h[i] == h[j]))
        shortfall += int(delta[i, b]) // 2
        lowest, since = (shortfall, 0) if shortfall < lowest else (lowest, since + 1)
        if since > patience:
            break
        old = h[i, b]
        step = np.where(h[:, b] == old, 1, -1)
        step[i] = 0
        h[i, b] = -old
        wh[:, b] += w[:, i] * (-2 * old)
        dist[i] += step
        dist[:, i] += step
        new_row = weights(dist[i])
        new_row[i] = 0
        change = new_row - w[i]
        w[i] = new_row
        w[:, i] = new_row
        wh += np.outer(change, h[i])
        wh[i] = new_row @ h
        shrink = (dist <= d).sum(axis=1)
    raise BoundNotReached(f"could not place {n} centres {d} bits apart in {bits} bits")


def initial_centers(num_classes: int, bits: int, min_distance: int, seed: int) -> np.ndarray:
    """Hadamard rows first, balanced random rows for the rest, repaired to the distance bound."""
    check_capacity(num_classes, bits)
    rng = np.random.default_rng(seed)
    if is_power_of_two(bits):
        head = hadamard_rows(bits, min(num_classes, 2 * bits))
    else:
        head = np.zeros((0, bits), dtype=np.int8)
    tail = balanced_random(num_classes - len(head), bits, rng)
    return repair(np.concatenate([head, tail]), min_distance, rng)


def feasible_centers(num_classes: int, bits: int, min_distance: int, seed: int) -> tuple[np.ndarray, int]:
    """``initial_centers`` at ``min_distance`` or, where the repair stalls, at the largest smaller d
    it reaches (each try from the same seeded start); returns the centres and that d."""
    for d in range(min_distance, 0, -1):
        try:
            return initial_centers(num_classes, bits, d, seed), d
        except BoundNotReached:
            continue
    raise DeephashError(
        f"could not place {num_classes} distinct centres in {bits} bits (they exist, but the repair"
        f" did not find them; try {bits + 8} bits)"
    )


@dataclass
class AlmConfig:
    """The paper's hyperparameters (Sec. 4.4); ``pair_scale`` multiplies the pairwise gradient terms.

    The released code divides those terms by 10,000 without saying so; with scale 1 the mu term
    (pushing every centre away from all others) dominates the fit to S for C >= ~50.
    """

    cycles: int = 30
    inner_passes: int = 3
    rho: float = 0.2
    mu: float = 0.625
    beta: float = 1e-6
    eta: float = 0.5
    lambda_init: float = 0.1
    pair_scale: float = 1e-4


@dataclass
class SearchConfig:
    """Iterated local search after the polishing descent: rounds of ``kick`` random feasible flips,
    annealed from ``temperature`` x the starting S_loss.

    A round costs one descent, O(C^2 q), so the rounds are capped at ``budget`` / (C^2 q): small
    problems get every round, 196 classes at 64 bits about a hundred, and the time stays bounded.
    """

    rounds: int = 2000
    kick: int = 4
    temperature: float = 0.006
    budget: float = 4e8

    def rounds_for(self, num_classes: int, bits: int) -> int:
        return min(self.rounds, int(self.budget // (num_classes * num_classes * bits)))


def alm_fit(similarity: np.ndarray, init: np.ndarray, min_distance: int, config: AlmConfig) -> np.ndarray:
    """Augmented-Lagrangian search; returns the lowest-S_loss feasible centres seen (init included)."""
    q = init.shape[1]
    num = init.shape[0]
    s = np.asarray(similarity, dtype=np.float64)
    h = init.T.astype(np.float64).copy()  # q x C, columns are centres
    lam = np.full((q, num), config.lambda_init)
    alpha = np.zeros((num, num))
    beta = np.full((num, num), config.beta)
    bound = q - 2 * min_distance  # max inner product allowed
    best, best_loss = init.copy(), s_loss(s, init)
    off_diag = ~np.eye(num, dtype=bool)
    for _ in range(config.cycles):
        m = np.linalg.solve(2 / q**2 * h @ h.T + config.rho * np.eye(q), 2 / q * h @ s + lam + config.rho * h)
        gram = h.T @ h
        k = np.maximum(bound - gram + alpha / beta, 0.0)
        _alm_column_passes(
            h,
            m,
            m @ m.T,
            m @ s,
            lam,
            alpha,
            beta,
            k,
            config.mu,
            config.rho,
            config.eta,
            config.pair_scale,
            float(bound),
            config.inner_passes,
        )
        lam += config.rho * (h - m)
        gram = h.T @ h
        alpha += np.where(off_diag, beta * (bound - gram - k), 0.0)
        current = h.T.astype(np.int8)
        loss = s_loss(s, current)
        if loss < best_loss:
            best, best_loss = current.copy(), loss
    return best


@numba.njit(cache=True)
def _alm_column_passes(
    h: np.ndarray,
    m: np.ndarray,
    mm: np.ndarray,
    ms: np.ndarray,
    lam: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    k: np.ndarray,
    mu: float,
    rho: float,
    eta: float,
    pair_scale: float,
    bound: float,
    passes: int,
) -> None:
    """The H step: each column moves to sign(h_i - grad_i / eta) if every distance stays >= d.

    grad_i = (2/q^2) M M^T h_i - (2/q) M s_i + lambda_i + rho (h_i - m_i)
             + pair_scale * sum_{j!=i} h_j (2 mu - 2 alpha_ij - 2 beta_ij (q - 2d - k_ij - h_j.h_i))
    (paper Eq. 35, with the alpha term's derivative and the released code's pairwise scale).
    """
    q, n = h.shape
    inner = np.empty(n)
    grad = np.empty(q)
    candidate = np.empty(q)
    for _ in range(passes):
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for b in range(q):
                    acc += h[b, j] * h[b, i]
                inner[j] = acc
            for b in range(q):
                acc = 0.0
                for c in range(q):
                    acc += mm[b, c] * h[c, i]
                grad[b] = 2.0 / (q * q) * acc - 2.0 / q * ms[b, i] + lam[b, i] + rho * (h[b, i] - m[b, i])
            for j in range(n):
                if j != i:
                    coef = pair_scale * (2 * mu - 2 * alpha[i, j] - 2 * beta[i, j] * (bound - k[i, j] - inner[j]))
                    for b in range(q):
                        grad[b] += coef * h[b, j]
            same = True
            for b in range(q):
                candidate[b] = 1.0 if h[b, i] - grad[b] / eta >= 0 else -1.0
                same = same and candidate[b] == h[b, i]
            if same:
                continue
            feasible = True
            for j in range(n):
                if j != i:
                    acc = 0.0
                    for b in range(q):
                        acc += candidate[b] * h[b, j]
                    if acc > bound:
                        feasible = False
                        break
            if feasible:
                for b in range(q):
                    h[b, i] = candidate[b]


@numba.njit(cache=True)
def _flip(h: np.ndarray, gram: np.ndarray, resid: np.ndarray, i: int, b: int) -> float:
    """Flip bit b of centre i, update G = HH^T and R = S - G/q in O(C); returns the change of the
    summed squared error sum (S - G/q)^2."""
    n, q = h.shape
    change_sse = 0.0
    for j in range(n):
        if j != i:
            step = 2.0 * h[i, b] * h[j, b] / q  # R_ij and R_ji grow by this much
            change_sse += (resid[i, j] + step) ** 2 - resid[i, j] ** 2 + (resid[j, i] + step) ** 2 - resid[j, i] ** 2
            gram[i, j] -= step * q
            gram[j, i] -= step * q
            resid[i, j] += step
            resid[j, i] += step
    h[i, b] = -h[i, b]
    return change_sse


@numba.njit(cache=True)
def _flip_tracked(h: np.ndarray, gram: np.ndarray, resid: np.ndarray, cross: np.ndarray, i: int, b: int) -> float:
    """``_flip`` that also keeps the bit cross-products H^T H up to date."""
    change = _flip(h, gram, resid, i, b)
    for c in range(h.shape[1]):
        if c != b:
            cross[b, c] += 2.0 * h[i, b] * h[i, c]
            cross[c, b] = cross[b, c]
    return change


@numba.njit(cache=True)
def _descend(h: np.ndarray, gram: np.ndarray, resid: np.ndarray, bound: float, max_sweeps: int) -> float:
    """Sweeps over the centres until none improves. Each centre takes its best improving feasible
    single flip or, when there is none, its best improving feasible pair of flips: a pair can
    cross a distance bound that blocks each of its flips alone.

    Flipping bits b and c of centre i together changes the summed squared error by
    delta_b + delta_c + (16/q^2) h_ib h_ic sum_{j!=i} h_jb h_jc; it is infeasible when some j with
    D_ij <= d + 1 disagrees with i on both bits. Returns the change of the summed squared error.
    """
    n, q = h.shape
    constant = 8.0 * (n - 1) / (q * q)
    acc = np.empty(q)
    single = np.empty(q)
    blocked = np.empty(q, dtype=np.bool_)
    forbidden = np.empty((q, q), dtype=np.bool_)
    cross = h.T @ h
    total = 0.0
    for _ in range(max_sweeps):
        improved = False
        for i in range(n):
            acc[:] = 0.0
            for j in range(n):
                if j != i:
                    w = resid[i, j] + resid[j, i]
                    for b in range(q):
                        acc[b] += w * h[j, b]
            blocked[:] = False
            for j in range(n):
                if j != i and gram[i, j] == bound:
                    for b in range(q):
                        if h[j, b] != h[i, b]:
                            blocked[b] = True
            best_b, best_delta = -1, -1e-12
            for b in range(q):
                single[b] = 4.0 / q * h[i, b] * acc[b] + constant
                if not blocked[b] and single[b] < best_delta:
                    best_b, best_delta = b, single[b]
            if best_b >= 0:
                total += _flip_tracked(h, gram, resid, cross, i, best_b)
                improved = True
                continue
            forbidden[:, :] = False
            for j in range(n):
                if j != i and gram[i, j] >= bound - 2.0:
                    for b in range(q):
                        if h[j, b] != h[i, b]:
                            for c in range(q):
                                if h[j, c] != h[i, c]:
                                    forbidden[b, c] = True
            pair_b, pair_c, pair_delta = -1, -1, -1e-12
            for b in range(q):
                for c in range(b + 1, q):
                    if not forbidden[b, c]:
                        shared = cross[b, c] - h[i, b] * h[i, c]
                        delta = single[b] + single[c] + 16.0 / (q * q) * h[i, b] * h[i, c] * shared
                        if delta < pair_delta:
                            pair_b, pair_c, pair_delta = b, c, delta
            if pair_b >= 0:
                total += _flip_tracked(h, gram, resid, cross, i, pair_b)
                total += _flip_tracked(h, gram, resid, cross, i, pair_c)
                improved = True
        if not improved:
            break
    return total


@numba.njit(cache=True)
def _kick(
    h: np.ndarray, gram: np.ndarray, resid: np.ndarray, bound: float, rows: np.ndarray, cols: np.ndarray, count: int
) -> float:
    """Apply up to ``count`` of the proposed flips that keep every pair within the bound.

    Returns the change of the summed squared error."""
    n = h.shape[0]
    applied = 0
    total = 0.0
    for k in range(len(rows)):
        if applied == count:
            break
        i, b = rows[k], cols[k]
        feasible = True
        for j in range(n):
            if j != i and gram[i, j] - 2.0 * h[i, b] * h[j, b] > bound:
                feasible = False
                break
        if feasible:
            total += _flip(h, gram, resid, i, b)
            applied += 1
    return total


def polish(
    similarity: np.ndarray,
    centers: np.ndarray,
    min_distance: int,
    rounds: int = 0,
    kick: int = 4,
    temperature: float = 0.0,
    seed: int = 0,
    max_sweeps: int = 10_000,
) -> np.ndarray:
    """Exact descent on S_loss by single and paired bit flips that never lets a pair of centres come
    closer than the bound, then ``rounds`` of iterated local search with annealing: flip ``kick`` random feasible bits,
    descend again, and move there if S_loss fell, or otherwise with probability exp(-increase / T),
    T cooling linearly from ``temperature`` x the starting S_loss to 0. The best centres seen win.

    Flipping bit b of centre i changes G_ij = h_i.h_j by -2 h_ib h_jb for every j != i, so with
    R = S - G/q the change of the summed squared error is
    (4/q) h_ib sum_{j!=i} h_jb (R_ij + R_ji) + 8 (C-1)/q^2.
    A flip is infeasible when some j disagrees with i on bit b and sits exactly at the bound.
    """
    s = np.asarray(similarity, dtype=np.float64)
    num, q = centers.shape
    bound = float(q - 2 * min_distance)
    h = centers.astype(np.float64)
    gram = h @ h.T
    resid = s - gram / q
    sse = float((resid**2).sum()) + _descend(h, gram, resid, bound, max_sweeps)
    best, best_sse = h.copy(), sse
    scale = temperature * sse
    rng = np.random.default_rng(seed)
    for k in range(rounds):
        trial, trial_gram, trial_resid = h.copy(), gram.copy(), resid.copy()
        change = _kick(
            trial, trial_gram, trial_resid, bound, rng.integers(0, num, 8 * kick), rng.integers(0, q, 8 * kick), kick
        )
        change += _descend(trial, trial_gram, trial_resid, bound, max_sweeps)
        t = scale * (1 - k / rounds)
        draw = rng.random()
        if change < 0 or (t > 0 and draw < np.exp(-change / t)):
            h, gram, resid, sse = trial, trial_gram, trial_resid, sse + change
            if sse < best_sse - 1e-12:
                best, best_sse = h.copy(), sse
    return best.astype(np.int8)


VARIANTS = ("semantic", "distance_only", "semantic_only")


@dataclass
class CentersReport:
    num_classes: int
    bits: int
    variant: str
    d: int
    min_distance: int
    mean_distance: float
    s_loss: dict[str, float] = field(default_factory=dict)
    #: the released code's d when the construction fell back to a smaller ``d`` (None: d reached)
    d_requested: int | None = None

    def fallback_note(self) -> str | None:
        """A one-line warning when d was not reached, for stderr (None when it was)."""
        if self.d_requested is None:
            return None
        guaranteed = gv_guaranteed_distance(self.bits, self.num_classes)
        return (
            f"no construction placed {self.num_classes} centres {self.d_requested} bits apart in {self.bits} bits"
            f" (the released code's d; Gilbert-Varshamov guarantees {guaranteed}): fell back to d = {self.d},"
            " the largest reached"
        )


def semantic_centers(
    similarity: np.ndarray,
    bits: int,
    seed: int = 0,
    config: AlmConfig | None = None,
    variant: str = "semantic",
    polish_flips: bool = True,
    search: SearchConfig | None = None,
) -> tuple[np.ndarray, CentersReport]:
    """SHC centres for ``similarity`` (C x C) at ``bits``: int8 [C, bits] of +-1, row i = class i.

    ``variant`` selects the paper's ablations (Table 7): ``distance_only`` keeps the feasible
    initialisation without fitting S; ``semantic_only`` fits S with no distance bound (d = 0).
    """
    if variant not in VARIANTS:
        raise DeephashError(f"centers variant must be one of {VARIANTS}, got {variant!r}")
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise DeephashError(f"the similarity matrix must be square, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise DeephashError("the similarity matrix has non-finite entries")
    with threadpool_limits(1, user_api="blas"):  # small products: threaded BLAS only adds overhead
        return _semantic_centers(s, bits, seed, config, variant, polish_flips, search)


def _semantic_centers(
    s: np.ndarray,
    bits: int,
    seed: int,
    config: AlmConfig | None,
    variant: str,
    polish_flips: bool,
    search: SearchConfig | None,
) -> tuple[np.ndarray, CentersReport]:
    num = s.shape[0]
    check_capacity(num, bits)
    requested = gilbert_varshamov_distance(bits, num)
    init, d = feasible_centers(num, bits, requested, seed)
    bound = 0 if variant == "semantic_only" else d
    losses = {"init": s_loss(s, init)}
    h = init
    if variant != "distance_only":
        h = alm_fit(s, init, bound, config or AlmConfig())
        losses["optimised"] = s_loss(s, h)
        if polish_flips:
            search = search or SearchConfig()
            h = polish(s, h, bound, search.rounds_for(num, bits), search.kick, search.temperature, seed)
            losses["polished"] = s_loss(s, h)
    min_dist, mean_dist = distance_stats(h)
    report = CentersReport(
        num_classes=num,
        bits=bits,
        variant=variant,
        d=d,
        min_distance=min_dist,
        mean_distance=mean_dist,
        s_loss=losses,
        d_requested=None if d == requested else requested,
    )
    return h, report
