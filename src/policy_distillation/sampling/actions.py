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

from . import kernels

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
    return kernels.draw_actions(np.ascontiguousarray(q_rows), row, np.ascontiguousarray(op_k), u)


def draw_actions_blocked(blocks: ActionBlocks, state: np.ndarray, outcome: np.ndarray, u: np.ndarray,
                         logits_flat: np.ndarray, lse: np.ndarray, block_probs: np.ndarray) -> np.ndarray:
    """Student-driven a ~ P(a | s, k) ~ pi_theta(a | s) P(k | s, a) by inversion of u in two stages -> int[M].

    Blocks lie within a group, so P(k | s, a) is constant on a block: the
    block is drawn with weights ``block_probs[s, b] P(k | b)``, and the fraction v
    of the block's weight that u points at then selects the action within the
    block from its (at most ``blocks.width``) probabilities ``exp(theta[s, a] -
    lse[s])``. This is the inversion of the whole posterior, up to rounding
    (compiled loop: ``kernels.draw_actions_blocked``).

    Args:
      state: int[M] flat states; outcome: int[M] outcomes; u: float[M] uniforms.
      logits_flat: float[B * S, A] logits; lse: float[B * S] their log-sum-exp;
      block_probs: float[B * S, n_blocks] student block probabilities.
    """
    return kernels.draw_actions_blocked(blocks.start, blocks.end, blocks.op_kb, state, outcome, u, logits_flat, lse,
                                        block_probs, blocks.width)
