"""Banded LU, without pivoting, of ``M = I - gamma P_pi`` for a batch of B MDPs.

One idea: each MDP's S x S block is split as ``M = A + E V^T`` (Woodbury's
``U V^T``; E here, as U names the upper LU factor) where

- ``A`` holds the entries with ``-kl <= j - i <= ku`` (the band) and is
  factorised ``A = L U`` in compact band storage ``band[B, S, kl + 1 + ku]``
  (``band[b, i, kl + j - i] = A[i, j]``; unit-lower L below the diagonal, U on and above it);
- ``E V^T`` holds the few entries farther out, confined to ``p`` columns ``c_q`` per MDP
  (``V = [e_c1 .. e_cp]``, ``E[:, q]`` = column c_q outside the band): grid worlds with
  ``terminal_mode="reset"`` send every terminal transition to the centre cell, one column.

``M x = r`` and ``M^T d = mu`` are then solved with the Sherman-Morrison-Woodbury
identity on top of the band factors, with ``Z = A^-1 E`` and ``W = A^-T V``
precomputed and ``C = I_p + V^T Z``::

    M^-1 r  = A^-1 r  - Z C^-1 (A^-1 r)[c]
    M^-T mu = A^-T mu - W C^-T (Z^T mu)

No pivoting is needed: for a proper policy M is a non-singular M-matrix, and so
is A (dropping non-positive off-diagonal entries of one keeps it one), so the
LU exists with positive pivots and without element growth; with no pivoting
the band does not widen. The pivots are those of the natural-order sparse LU
(``evaluation.factorise``'s fallback), so its improper-policy test carries over
unchanged when there are no far columns.

Input is P_pi in outcome form (``next_state[B, S, K]`` and weights ``[B, S, K]``, the
triplets of ``TabularMDPs.next_state_distribution``); the bandwidth and far columns come
from its non-zero entries (:func:`choose_band`). Factorisation and solves loop over MDPs
with ``numba.prange`` (threads: ``NUMBA_NUM_THREADS``; results do not depend on them).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np

# Beyond this many far columns per MDP the Woodbury correction is not used (its
# p x p system and 2p extra band solves per MDP stop being small).
MAX_FAR_COLUMNS = 8

# Kernels run on all numba threads only above this much work (band entries
# touched, see _threads). Measured on the shared 2-core machine: a parallel
# region waits ~8 ms for its second thread whenever the other core is busy
# (factorising 3 grid worlds: 0.7 ms on 1 thread, 8 ms on 2; the training,
# critics, exact and fields tests 2.5x slower under load), while 2 threads
# factorise 1000 worlds (work 1.6e8) 1.9x faster on a quiet machine and about
# as fast under load.
PARALLEL_MIN_WORK = 2e7


class BandedLU(NamedTuple):
    """Band LU factors of a batch, with the Woodbury terms (p = max far columns, maybe 0).

    band: float[B, S, kl + 1 + ku] L (unit, below the diagonal) and U of A = M's band.
    kl, ku: lower and upper bandwidth.
    far: int64[B, p] far columns c_q of each MDP; only the first ``n_far[b]`` are used.
    n_far: int64[B] number of far columns of each MDP.
    Z: float[B, p, S] A^-1 E (E[b, q] holds M's entries of column far[b, q] outside the band).
    W: float[B, p, S] A^-T e_{far[b, q]}.
    C_inv: float[B, p, p] (I_p + V^T Z)^-1.
    min_pivot: float[B] smallest |u_ii| of each MDP's band factor (0: singular, factorisation stopped).
    """

    band: np.ndarray
    kl: int
    ku: int
    far: np.ndarray
    n_far: np.ndarray
    Z: np.ndarray
    W: np.ndarray
    C_inv: np.ndarray
    min_pivot: np.ndarray


# ----------------------------------------------------------------- pattern
@numba.njit(cache=True)
def column_reach(next_state, weight):
    """How far each column's entries lie from the diagonal.

    Entry (s, next_state[b, s, k]) of MDP b gets weight[b, s, k] (duplicates summed);
    exact zeros add nothing and are ignored (terminal outcomes, impossible moves).

    Args:
      next_state: int64[B, S, K]; weight: float[B, S, K].
    Returns:
      reach: int64[B, S] max |i - j| over the non-zero entries (i, j) of column j of MDP b (0 if none);
      lower_seen, upper_seen: bool[S], whether some entry has i - j = d (resp. j - i = d).
    """
    B, S, K = next_state.shape
    reach = np.zeros((B, S), dtype=np.int64)
    lower_seen = np.zeros(S, dtype=np.bool_)
    upper_seen = np.zeros(S, dtype=np.bool_)
    for b in range(B):
        for i in range(S):
            for kk in range(K):
                if weight[b, i, kk] == 0.0:
                    continue
                j = next_state[b, i, kk]
                if j < 0 or j >= S:
                    raise ValueError("next_state outside [0, S)")
                d = j - i
                if d > 0:
                    upper_seen[d] = True
                elif d < 0:
                    d = -d
                    lower_seen[d] = True
                if d > reach[b, j]:
                    reach[b, j] = d
    return reach, lower_seen, upper_seen


def choose_band(reach: np.ndarray, lower_seen: np.ndarray, upper_seen: np.ndarray, max_far: int):
    """Pick the band cap k minimising the estimated work per state.

    An entry is in the band when |i - j| <= k; columns with an entry beyond k are far. For every
    k = 0..S-1 the cost per state is ``kl * ku`` (factorisation) + ``(2p + 2)(kl + ku + 1)`` (2p band
    solves for Z and W, two solves) + ``2p`` (corrections), p = the most far columns of any MDP;
    caps needing more than ``max_far`` far columns are skipped.

    Args:
      reach: int64[B, S] from :func:`column_reach`; lower_seen, upper_seen: bool[S].
      max_far: most far columns allowed per MDP (0: everything in the band).
    Returns:
      (k, kl, ku, p, cost): the cap, the band's lower / upper bandwidth, the far columns per MDP
      and the estimated multiply-adds per state.
    """
    B, S = reach.shape
    # n_far[k] = max_b #{j : reach[b, j] > k}, from per-MDP histograms of reach
    hist = np.bincount((reach + (S + 1) * np.arange(B)[:, None]).ravel(), minlength=B * (S + 1)).reshape(B, S + 1)
    above = hist[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]  # above[b, k] = #{j: reach[b, j] > k}
    n_far = above.max(axis=0)  # [S]
    d = np.arange(S)
    kl = np.maximum.accumulate(np.where(lower_seen, d, 0))
    ku = np.maximum.accumulate(np.where(upper_seen, d, 0))
    cost = (kl * ku + (2 * n_far + 2) * (kl + ku + 1) + 2 * n_far).astype(np.float64)
    cost[n_far > max_far] = np.inf
    k = int(np.argmin(cost))  # k = S - 1 has n_far = 0, so some cap is always allowed
    return k, int(kl[k]), int(ku[k]), int(n_far[k]), float(cost[k])


# ------------------------------------------------------------ factorise
@numba.njit(cache=True)
def _band_lu(a, kl, ku):
    """LU without pivoting of one band a: float[S, kl + 1 + ku], in place. Returns min |u_ii|, or 0
    (elimination stopped) at the first zero or non-finite pivot."""
    S = a.shape[0]
    smallest = np.inf
    for k in range(S):
        piv = a[k, kl]
        ap = abs(piv)
        if not (0.0 < ap < np.inf):
            return 0.0
        smallest = min(smallest, ap)
        n = min(k + ku, S - 1) - k
        row_k = a[k, kl + 1 : kl + 1 + n]  # U[k, k+1 .. k+n]
        for i in range(k + 1, min(k + kl, S - 1) + 1):
            c = kl + k - i  # A[i, k]
            l_ik = a[i, c] / piv
            a[i, c] = l_ik
            # row i -= l_ik * row k over columns k+1 .. k+n: 1-d contiguous views, so LLVM vectorises.
            # No test for l_ik == 0: the branch made the factorisation 1.4x slower (grid worlds, measured).
            row_i = a[i, c + 1 : c + 1 + n]
            for j in range(n):
                row_i[j] -= l_ik * row_k[j]
    return smallest


@numba.njit(cache=True, parallel=True)
def assemble_factor(next_state, weight, gamma, reach, k, kl, band, E, far, n_far, min_pivot):
    """Scatter ``M = I - gamma P`` into band storage and far columns, then factorise each band.

    One MDP per iteration, so its band is written and factorised while it is in cache.

    Args:
      next_state, weight: P in outcome form (see :func:`column_reach`), int64 / float[B, S, K].
      reach: int64[B, S] from :func:`column_reach`; columns with reach > k are far; kl: lower bandwidth.
    Outputs (filled in place):
      band: float[B, S, w] (zeros on entry) the factorised band of M; E: float[B, p, S] (zeros on entry)
      M's far entries, column by column; far: int64[B, p] the far columns; n_far: int64[B];
      min_pivot: float[B] min |u_ii|.
    """
    B, S, w = band.shape
    K = next_state.shape[2]
    p = E.shape[1]
    for b in numba.prange(B):
        a = band[b]
        q = 0
        if p > 0:
            for j in range(S):
                if reach[b, j] > k:
                    far[b, q] = j
                    q += 1
        n_far[b] = q
        for i in range(S):
            a[i, kl] += 1.0
            for kk in range(K):
                v = weight[b, i, kk]
                if v == 0.0:
                    continue
                j = next_state[b, i, kk]
                d = j - i
                if -k <= d <= k:  # in the band (then -kl <= d <= ku by the choice of kl, ku)
                    a[i, kl + d] -= gamma * v
                else:
                    for s in range(q):
                        if far[b, s] == j:
                            E[b, s, i] -= gamma * v
        min_pivot[b] = _band_lu(a, kl, w - 1 - kl)


# ---------------------------------------------------------------- solves
# reassoc lets LLVM vectorise the dot products (several partial sums): same
# results up to rounding, deterministic for a given machine and thread count.
@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _band_solve(a, kl, ku, x):
    """x <- A^-1 x for one factorised band a: float[S, kl + 1 + ku]; x: float[S]."""
    S = x.shape[0]
    for i in range(S):  # L y = x (unit lower), row dot products
        j0 = max(0, i - kl)
        row = a[i, kl - i + j0 : kl]
        xs = x[j0:i]
        s = x[i]
        for j in range(i - j0):
            s -= row[j] * xs[j]
        x[i] = s
    for i in range(S - 1, -1, -1):  # U x = y
        n = min(i + ku, S - 1) - i
        row = a[i, kl + 1 : kl + 1 + n]
        xs = x[i + 1 : i + 1 + n]
        s = x[i]
        for j in range(n):
            s -= row[j] * xs[j]
        x[i] = s / a[i, kl]


@numba.njit(cache=True, fastmath={"contract"})
def _band_solve_t(a, kl, ku, x):
    """x <- A^-T x for one factorised band (A^T = U^T L^T), by column sweeps (axpy on contiguous rows)."""
    S = x.shape[0]
    for j in range(S):  # U^T z = x
        xj = x[j] / a[j, kl]
        x[j] = xj
        n = min(j + ku, S - 1) - j
        row = a[j, kl + 1 : kl + 1 + n]
        xs = x[j + 1 : j + 1 + n]
        for i in range(n):
            xs[i] -= row[i] * xj
    for j in range(S - 1, -1, -1):  # L^T y = z
        xj = x[j]
        i0 = max(0, j - kl)
        row = a[j, kl - j + i0 : kl]
        xs = x[i0:j]
        for i in range(j - i0):
            xs[i] -= row[i] * xj


@numba.njit(cache=True, parallel=True)
def solve(band, kl, Z, W, C_inv, far, n_far, rhs, x, scratch, transposed):
    """Solve ``M x = rhs`` (values: ``(I - gamma P_pi) x = r``) or, if ``transposed``, ``M^T x = rhs``
    (visitation: ``(I - gamma P_pi)^T d = mu``) for every MDP, Woodbury correction included.

    One kernel for both directions and for the Woodbury set-up (``n_far`` all 0: the band alone),
    as each numba entry point adds about a second of compile time.

    Args:
      band, kl, Z, W, C_inv, far, n_far: from :class:`BandedLU`; rhs: float[B, S]; scratch: float[B, p].
    Output:
      x: float[B, S], filled in place.
    """
    B, S = rhs.shape
    ku = band.shape[2] - 1 - kl
    for b in numba.prange(B):
        xb = x[b]
        q_n = n_far[b]
        if transposed:
            for q in range(q_n):  # s = Z^T rhs, before rhs is copied over
                acc = 0.0
                for i in range(S):
                    acc += Z[b, q, i] * rhs[b, i]
                scratch[b, q] = acc
            xb[:] = rhs[b]
            _band_solve_t(band[b], kl, ku, xb)
            for q in range(q_n):  # x = y - W C^-T s
                t = 0.0
                for r in range(q_n):
                    t += C_inv[b, r, q] * scratch[b, r]
                for i in range(S):
                    xb[i] -= t * W[b, q, i]
        else:
            xb[:] = rhs[b]
            _band_solve(band[b], kl, ku, xb)
            for q in range(q_n):  # t = C^-1 y[far], before y changes
                acc = 0.0
                for r in range(q_n):
                    acc += C_inv[b, q, r] * xb[far[b, r]]
                scratch[b, q] = acc
            for q in range(q_n):  # x = y - Z t
                t = scratch[b, q]
                for i in range(S):
                    xb[i] -= t * Z[b, q, i]


def factorise_outcomes(
    next_state: np.ndarray, weight: np.ndarray, gamma: float, max_far: int = MAX_FAR_COLUMNS,
    max_cost: float = np.inf,
) -> BandedLU | None:
    """Band LU of ``M = I - gamma P`` per MDP, or None if it does not pay.

    Args:
      next_state: int[B, S, K], weight: float[B, S, K]: P's triplets in outcome form,
        ``P[b, s, next_state[b, s, k]] += weight[b, s, k]`` (``TabularMDPs.next_state`` and
        ``outcome_marginal(pi) * outcome_continue``, as in ``next_state_distribution``).
      gamma: discount multiplying P.
      max_far: most far (Woodbury) columns per MDP; 0 keeps every entry in the band.
      max_cost: return None when the estimated multiply-adds per state (see :func:`choose_band`)
        exceed it (the caller's sparse LU is then cheaper).
    Returns:
      the factors; check ``min_pivot`` (0: singular) and that ``C_inv`` is finite before use.
    """
    next_state = np.ascontiguousarray(next_state, dtype=np.int64)
    weight = np.ascontiguousarray(weight, dtype=np.float64)
    if next_state.ndim != 3 or weight.shape != next_state.shape or min(next_state.shape) < 1:
        raise ValueError(f"next_state, weight must be [B, S, K] of one non-empty shape, got "
                         f"{next_state.shape}, {weight.shape}")
    if max_far < 0:
        raise ValueError(f"max_far must be >= 0, got {max_far}")
    B, S, _ = next_state.shape
    reach, lower_seen, upper_seen = column_reach(next_state, weight)
    k, kl, ku, p, cost = choose_band(reach, lower_seen, upper_seen, max_far)
    if cost > max_cost:
        return None
    # Large arrays come from numpy, not numba's allocator: numpy asks for transparent huge pages
    # (4 KiB page faults on a 130 MB band, 1000 worlds x 400 x 41, cost ~0.1 s), and np.zeros gets
    # pages the kernel has already zeroed, so no second zeroing pass.
    band = np.zeros((B, S, kl + 1 + ku))
    E = np.zeros((B, p, S))
    far, n_far, min_pivot = np.zeros((B, p), dtype=np.int64), np.zeros(B, dtype=np.int64), np.empty(B)
    with _threads(B * S * (kl * ku + kl + ku + 1)):
        assemble_factor(next_state, weight, float(gamma), reach, k, kl, band, E, far, n_far, min_pivot)
    Z, W, C_inv = E, np.zeros((B, p, S)), np.zeros((B, p, p))
    if p > 0 and min_pivot.min() > 0.0:
        # Z[:, q] = A^-1 E[:, q] (in place of E) and W[:, q] = A^-T e_far[:, q] (0 in unused slots), band only
        band_only = BandedLU(band, kl, ku, far, np.zeros_like(n_far), Z, W, C_inv, min_pivot)
        used = np.arange(p)[None, :] < n_far[:, None]  # [B, p]
        e_far = np.zeros((B, S))
        for q in range(p):
            Z[:, q] = _solve(band_only, np.ascontiguousarray(E[:, q]), False)
            e_far[:] = 0.0
            e_far[np.arange(B), far[:, q]] = used[:, q]
            W[:, q] = _solve(band_only, e_far, True)
        # C[b, q, r] = delta_qr + Z[b, r, far[b, q]] over the used slots, identity on the padding;
        # p <= MAX_FAR_COLUMNS, so numpy's batched inverse is cheap (and keeps numba compile time down).
        C = np.swapaxes(np.take_along_axis(Z, far[:, None, :], axis=2), 1, 2)
        C = np.where(used[:, :, None] & used[:, None, :], C, 0.0) + np.eye(p)
        try:
            C_inv = np.linalg.inv(C)
        except np.linalg.LinAlgError:  # singular M with a non-singular band: reported like a zero pivot
            C_inv = np.full((B, p, p), np.nan)
    return BandedLU(band, kl, ku, far, n_far, Z, W, C_inv, min_pivot)


@contextmanager
def _threads(work: float):
    """Run the enclosed kernel on one thread if ``work`` < PARALLEL_MIN_WORK, else on numba's current count."""
    n = numba.get_num_threads()
    numba.set_num_threads(n if work >= PARALLEL_MIN_WORK else 1)
    try:
        yield
    finally:
        numba.set_num_threads(n)


def _rhs(f: BandedLU, rhs: np.ndarray) -> np.ndarray:
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)
    if rhs.shape != f.band.shape[:2]:
        raise ValueError(f"right-hand side must be float[B, S]={f.band.shape[:2]}, got {rhs.shape}")
    return rhs


def _solve(f: BandedLU, rhs: np.ndarray, transposed: bool) -> np.ndarray:
    x = np.empty_like(rhs)
    with _threads(2 * f.band.size):  # a solve costs about twice per band entry what the factorisation does
        solve(f.band, f.kl, f.Z, f.W, f.C_inv, f.far, f.n_far, rhs, x, np.empty(f.far.shape), transposed)
    return x


def solve_values(f: BandedLU, rhs: np.ndarray) -> np.ndarray:
    """x = (I - gamma P)^-1 rhs. rhs: float[B, S] -> float[B, S]."""
    return _solve(f, _rhs(f, rhs), False)


def solve_visitation(f: BandedLU, rhs: np.ndarray) -> np.ndarray:
    """x = (I - gamma P)^-T rhs. rhs: float[B, S] -> float[B, S]."""
    return _solve(f, _rhs(f, rhs), True)
