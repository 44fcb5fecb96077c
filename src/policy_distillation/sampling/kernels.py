"""Compiled inner loops of the sampled estimator (numba): rollouts and action draws.

A sampled step walks B * N trajectories of a few hundred steps each; in numpy
every time step is a dozen array calls on a shrinking set of live
trajectories, and the calls' overhead dominates (measured: 69-80% of a step
at |A| = 4). These loops walk one trajectory at a time instead, reading each
trajectory's uniforms from its own row of a draw buffer (``draws``), and write
the records trajectory-major (time ascending), the order the update needs.
They do exactly the arithmetic of the plain per-MDP loop in the tests (same
comparisons, same sequential sums), so fed the same draws they give the same
records and actions, bit for bit (tested).

Draw buffer layout: trajectory i reads ``buf[i, lo[i] + head + stride * t + j]``
for its step t (``j``: 0 outcome, 1 continuation, 2 restart (unroll), the
last one its action) and, for episodes, ``buf[i, lo[i]]`` (initial state) and
``buf[i, lo[i] + 1]`` (length). A kernel that needs a value at or beyond
``hi[i]`` stops and returns the trajectory and a code; the caller draws more
and resumes there (records already written for earlier trajectories are kept).

Array letters: ``B`` MDPs, ``S`` states, ``K`` outcomes, ``A`` actions, ``M`` records.
"""

from __future__ import annotations

import numba
import numpy as np

OK, NEED_DRAWS, NEED_SPACE, TOO_LONG = 0, 1, 2, 3
MAX_EPISODE_STEPS = 1_000_000


@numba.njit(cache=True)
def _outcome(table: np.ndarray, f: int, u: float) -> int:
    k = 0
    for j in range(table.shape[1]):
        if table[f, j] <= u:
            k += 1
    return k


@numba.njit(cache=True)
def episode_rollout(start, length, c0_mode, table, next_flat, cont_prob, K, buf, lo, hi, head, stride, i0, m0,
                    out_state, out_outcome, out_time, out_traj, out_cont):
    """Whole episodes from ``start`` (int[n] flat states), trajectory ``i0`` on, records from ``m0``.

    ``c0_mode``: lengths (int[n]) are pre-drawn (the continuation is ``cont > 0``
    and ``t + 1 < length``); else the continuation uniform decides.
    Returns (next trajectory, records written, code): code OK when done, else
    the trajectory to resume from needs draws, space, or ran too long.
    """
    n = start.shape[0]
    m = m0
    need = 1 if c0_mode else 2
    for i in range(i0, n):
        f = start[i]
        base = lo[i] + head
        m_start = m
        t = 0
        while True:
            p = base + stride * t
            if p + need > hi[i]:
                return i, m_start, NEED_DRAWS
            if m >= out_state.shape[0]:
                return i, m_start, NEED_SPACE
            if t >= MAX_EPISODE_STEPS:
                return i, m_start, TOO_LONG
            k = _outcome(table, f, buf[i, p])
            fo = f * K + k
            if c0_mode:
                c = cont_prob[fo] > 0 and t + 1 < length[i]
            else:
                c = buf[i, p + 1] < cont_prob[fo]
            out_state[m], out_outcome[m], out_time[m], out_traj[m], out_cont[m] = f, k, t, i, c
            m += 1
            if not c:
                break
            f = next_flat[fo]
            t += 1
    return n, m, OK


@numba.njit(cache=True)
def unroll_rollout(walkers, steps, N, S, one_hot, start_state, start_cum, table, next_flat, cont_prob, K, buf, lo,
                   hi, head, stride, out_state, out_outcome, out_time, out_traj, out_cont):
    """``steps`` steps of every trajectory from ``walkers`` (int[n] flat states, updated in place);
    an ended episode restarts from the initial distribution (the restart uniform) -> code."""
    n = walkers.shape[0]
    m = 0
    for i in range(n):
        b = i // N
        f = walkers[i]
        base = lo[i] + head
        if base + stride * steps > hi[i]:
            return NEED_DRAWS
        for t in range(steps):
            p = base + stride * t
            k = _outcome(table, f, buf[i, p])
            fo = f * K + k
            c = buf[i, p + 1] < cont_prob[fo]
            out_state[m], out_outcome[m], out_time[m], out_traj[m], out_cont[m] = f, k, t, i, c
            m += 1
            if c:
                f = next_flat[fo]
            elif one_hot:
                f = b * S + start_state[b]
            else:
                cum = start_cum[b]
                target = buf[i, p + 2] * cum[S - 1]
                s = 0
                for j in range(S - 1):
                    if cum[j] <= target:
                        s += 1
                f = b * S + min(s, S - 1)
        walkers[i] = f
    return OK


@numba.njit(cache=True)
def action_uniforms(traj, time, buf, lo, head, stride):
    """The action uniform of every record -> float[M]."""
    out = np.empty(traj.shape[0])
    for m in range(traj.shape[0]):
        i = traj[m]
        out[m] = buf[i, lo[i] + head + stride * time[m] + stride - 1]
    return out


@numba.njit(cache=True)
def draw_actions(q_rows, row, op_k, u):
    """a ~ P(a | s, k) proportional to q(a | s) P(k | s, a) by inversion: the cumulative sum of
    ``q_rows[row[m]] * op_k[m]`` (sequential, as np.cumsum) -> int[M]."""
    M, A = op_k.shape
    out = np.empty(M, dtype=np.int64)
    w = np.empty(A)
    for m in range(M):
        r = row[m]
        acc = 0.0
        for a in range(A):
            acc += q_rows[r, a] * op_k[m, a]
            w[a] = acc
        target = u[m] * w[A - 1]
        c = 0
        for a in range(A - 1):
            if w[a] <= target:
                c += 1
        out[m] = min(c, A - 1)
    return out


@numba.njit(cache=True)
def draw_actions_blocked(bstart, bend, op_kb, state, outcome, u, logits_flat, lse, block_probs, width_max):
    """Two-stage student draws of ``actions.draw_actions_blocked`` (block, then action in the block) -> int[M]."""
    M = state.shape[0]
    nb = bstart.shape[0]
    out = np.empty(M, dtype=np.int64)
    w = np.empty(nb)
    cw = np.empty(nb)
    p = np.empty(width_max)
    for m in range(M):
        f, k = state[m], outcome[m]
        acc = 0.0
        for j in range(nb):
            w[j] = block_probs[f, j] * op_kb[k, j]
            acc += w[j]
            cw[j] = acc
        target = u[m] * cw[nb - 1]
        b = 0
        for j in range(nb - 1):
            if cw[j] <= target:
                b += 1
        wb = w[b]
        if wb <= 0:  # rounding (u near 1) pointed past the last block of positive weight
            b = nb - 1
            while b > 0 and not w[b] > 0:
                b -= 1
            wb = w[b]
        before = cw[b - 1] if b > 0 else 0.0
        v = (target - before) / wb
        lo, width = bstart[b], bend[b] - bstart[b]
        off = 0
        if width > 1:
            acc = 0.0
            for j in range(width_max):
                x = np.exp(logits_flat[f, lo + j] - lse[f]) if j < width else 0.0
                acc += x
                p[j] = acc
            target2 = v * p[width_max - 1]
            for j in range(width_max - 1):
                if p[j] <= target2:
                    off += 1
        out[m] = lo + min(off, width - 1)
    return out


@numba.njit(cache=True)
def return_to_go(rhat, segment):
    """Rhat_t = sum_{i >= t} rhat_i within each segment, summed right to left -> float[M]."""
    M = rhat.shape[0]
    out = np.empty(M)
    acc = 0.0
    for j in range(M - 1, -1, -1):
        if j == M - 1 or segment[j + 1] != segment[j]:
            acc = 0.0
        acc = rhat[j] + acc
        out[j] = acc
    return out


@numba.njit(cache=True)
def visited_rows(state, n_rows, inverse):
    """The distinct rows of ``state`` (int[M]) in increasing order, their visit counts, and each
    record's index among them -> (rows int[R], counts int[R], row int[M]); ``inverse`` (int[n_rows])
    is scratch, left as it was."""
    counts_all = np.zeros(n_rows, dtype=np.int64)
    for m in range(state.shape[0]):
        counts_all[state[m]] += 1
    R = 0
    for f in range(n_rows):
        if counts_all[f]:
            R += 1
    rows = np.empty(R, dtype=np.int64)
    counts = np.empty(R, dtype=np.int64)
    r = 0
    for f in range(n_rows):
        if counts_all[f]:
            rows[r], counts[r] = f, counts_all[f]
            inverse[f] = r
            r += 1
    row = np.empty(state.shape[0], dtype=np.int64)
    for m in range(state.shape[0]):
        row[m] = inverse[state[m]]
    return rows, counts, row


@numba.njit(cache=True)
def dense_rows_step(flat, rows, G, lse_all, update_table, op, fixed, w_student, table):
    """theta[rows] <- theta[rows] - G (SGD, lr folded into G), then per row its log-sum-exp and, when
    ``update_table``, the control's outcome table row (``fixed[row] + w_student * (softmax @ op)``,
    normalised cumulative sums). op: float[A, K] shared outcome table; fixed: float[n, K] or a
    [1, K] dummy when the control has no fixed part (``w_student`` = 1). Returns False (and stops) on
    a non-finite result."""
    R, A = G.shape
    K = op.shape[1]
    e = np.empty(A)
    q = np.empty(K)
    has_fixed = fixed.shape[0] > 1
    for r in range(R):
        f = rows[r]
        m = -np.inf
        for a in range(A):
            x = flat[f, a] - G[r, a]
            flat[f, a] = x
            if x > m:
                m = x
        z = 0.0
        for a in range(A):
            e[a] = np.exp(flat[f, a] - m)
            z += e[a]
        lse = m + np.log(z)
        if not np.isfinite(lse):
            return False
        lse_all[f] = lse
        if update_table:
            for k in range(K):
                acc = 0.0
                for a in range(A):
                    acc += e[a] * op[a, k]
                acc /= z
                q[k] = fixed[f, k] + w_student * acc if has_fixed else acc
            acc = 0.0
            for k in range(K):
                acc += q[k]
                q[k] = acc
            for k in range(K - 1):
                table[f, k] = q[k] / q[K - 1]
    return True


@numba.njit(cache=True)
def lambda_returns(rhat, segment, cont, v_next, lam):
    """G_t = rhat_t + cont_t [(1 - lam) V(s_{t+1}) + lam G_{t+1}] within segments (at a segment's last
    step the bracket is V(s_{t+1})), right to left -> float[M]."""
    M = rhat.shape[0]
    out = np.empty(M)
    nxt = 0.0
    for j in range(M - 1, -1, -1):
        last = j == M - 1 or segment[j + 1] != segment[j]
        boot = v_next[j] if last else (1.0 - lam) * v_next[j] + lam * nxt
        out[j] = rhat[j] + (boot if cont[j] else 0.0)
        nxt = out[j]
    return out
