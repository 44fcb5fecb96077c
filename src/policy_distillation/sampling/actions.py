"""Action draws after the rollout: a_t ~ P(a | s_t, k_t), proportional to q(a | s_t) P(k_t | s_t, a).

Drawing the outcome from the control's outcome marginal first and the action
from its posterior afterwards gives the same joint law of (a_t, k_t) as
drawing the action first. Actions are needed only by methods with a score
term (and by TD critics when the MDP pays action rewards).

Large action spaces (Figure 4): when every MDP shares one outcome table and
actions with identical outcome rows form contiguous groups (the no-op
actions), each group is cut into blocks of about sqrt(group size) actions (at
most ``ACTION_BLOCK``). A student-driven action is then drawn in two stages
from cached block probabilities (``sampling.rows.GroupedRows``): the block,
then the action within the block, never reading a full ``A``-wide row.

Array letters: ``M`` recorded steps, ``A`` actions, ``K`` outcomes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .draws import inverse_cdf

# actions of one group are cut into blocks of about the square root of the largest
# group's size, a power of 2, and at most this many
ACTION_BLOCK = 64


class ActionBlocks(NamedTuple):
    """Blocks of actions within the groups of identical outcome rows.

    Attributes:
      start, end: int[n_blocks] first action of each block and one past its last.
      op_kb: float[K, n_blocks] P(k | block) (constant within a group).
      group_first: int[G] index of each group's first block.
      group_op: float[G, K] P(k | a) of each group.
      width: the widest block.
    """

    start: np.ndarray
    end: np.ndarray
    op_kb: np.ndarray
    group_first: np.ndarray
    group_op: np.ndarray
    width: int


def action_blocks(op: np.ndarray) -> ActionBlocks | None:
    """Blocks of a shared outcome table ``op`` float[A, K], or None when no two
    actions share an outcome row in contiguous groups (then rows are dense)."""
    A = op.shape[0]
    _, first, gid = np.unique(op, axis=0, return_index=True, return_inverse=True)
    gid = np.asarray(gid).reshape(-1)
    # group ids numbered by first appearance; grouping is used only when
    # groups are contiguous ranges of actions (the grid worlds' no-ops)
    rank = np.argsort(np.argsort(first))
    gid = rank[gid]
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    if starts.size >= A or not np.all(np.diff(gid) >= 0):
        return None
    lo, hi = starts, np.r_[starts[1:], A]
    # a draw costs ~ (number of blocks + block width) per record, least near a width of sqrt(group size)
    width = min(ACTION_BLOCK, 1 << math.ceil(math.log2(math.sqrt((hi - lo).max()))))
    bstart = np.concatenate([np.arange(a, b, width) for a, b in zip(lo, hi)])
    bend = np.r_[bstart[1:], A]
    return ActionBlocks(start=bstart, end=bend, op_kb=np.ascontiguousarray(op[bstart].T),
                        group_first=np.searchsorted(bstart, lo), group_op=op[starts],
                        width=int((bend - bstart).max()))


def draw_actions(q_rows: np.ndarray, row: np.ndarray, op_k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """a ~ P(a | s, k) proportional to q(a | s) P(k | s, a), by inversion of u -> int[M].

    Args:
      q_rows: float[R, A] control policy at the visited rows; row: int[M] row of each step.
      op_k: float[M, A] P(k_m | s_m, a) at each step's outcome; u: float[M] uniforms.
    """
    w = np.cumsum(q_rows[row] * op_k, axis=1)
    return inverse_cdf(w, u)


def draw_actions_blocked(blocks: ActionBlocks, state: np.ndarray, outcome: np.ndarray, u: np.ndarray,
                         logits_flat: np.ndarray, lse: np.ndarray, block_probs: np.ndarray) -> np.ndarray:
    """Student-driven a ~ P(a | s, k) ~ pi_theta(a | s) P(k | s, a) by inversion of u in two stages -> int[M].

    Blocks lie within a group, so P(k | s, a) is constant on a block: the
    block is drawn with weights ``block_probs[s, b] P(k | b)``, and the fraction v
    of the block's weight that u points at then selects the action within the
    block from its (at most ``blocks.width``) probabilities ``exp(theta[s, a] -
    lse[s])``. This is the inversion of the whole posterior, up to rounding.

    Args:
      state: int[M] flat states; outcome: int[M] outcomes; u: float[M] uniforms.
      logits_flat: float[B * S, A] logits; lse: float[B * S] their log-sum-exp;
      block_probs: float[B * S, n_blocks] student block probabilities.
    """
    bstart, bend, op_kb, width_max = blocks.start, blocks.end, blocks.op_kb, blocks.width
    A = logits_flat.shape[1]
    M = state.size
    w = block_probs[state]
    w *= op_kb[outcome]  # [M, n_blocks]
    cw = np.cumsum(w, axis=1)
    target = u * cw[:, -1]
    b = np.count_nonzero(cw[:, :-1] <= target[:, None], axis=1)
    idx = np.arange(M)
    wb = w[idx, b]
    zero = np.flatnonzero(wb <= 0)
    if zero.size:  # rounding (u near 1) pointed past the last block of positive weight
        b[zero] = w.shape[1] - 1 - np.argmax(w[zero, ::-1] > 0, axis=1)
        wb[zero] = w[zero, b[zero]]
    before = np.where(b > 0, cw[idx, np.maximum(b - 1, 0)], 0.0)
    v = (target - before) / wb
    lo, width = bstart[b], bend[b] - bstart[b]
    off = np.zeros(M, dtype=np.int64)
    multi = np.flatnonzero(width > 1)  # a one-action block needs no second stage
    if multi.size:
        state_m, width_m = state[multi], width[multi]
        j = np.arange(width_max)
        # whole rows of width_max logits from the block start, copied from a view of
        # all windows of the flat table (cheaper than an element-wise gather); entries
        # past a shorter block are set to -inf
        flat1 = logits_flat.reshape(-1)
        windows = sliding_window_view(flat1, width_max)
        start = state_m * A + lo[multi]
        p = windows[np.minimum(start, windows.shape[0] - 1)]
        over = np.flatnonzero(start >= windows.shape[0])
        if over.size:  # a window would run past the table's end ("clip": masked below)
            p[over] = np.take(flat1, start[over, None] + j, mode="clip")
        part = np.flatnonzero(width_m < width_max)
        if part.size:
            p[part] = np.where(j < width_m[part, None], p[part], -np.inf)
        p -= lse[state_m][:, None]
        np.exp(p, out=p)
        cp = np.cumsum(p, axis=1)
        off[multi] = np.count_nonzero(cp[:, :-1] <= (v[multi] * cp[:, -1])[:, None], axis=1)
    return lo + np.minimum(off, width - 1)
