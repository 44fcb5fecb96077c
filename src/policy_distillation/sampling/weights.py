"""The score weights W_t of Eq. (1) at the sampled steps, for both samplers.

With the ``episode`` sampler a trajectory is one whole episode and
``W_t = sum_{i >= t} rhat_i`` (``update.return_to_go``). With the ``unroll``
sampler a trajectory is L steps of a continuing walk: it is cut into
*segments* (the pieces of episodes inside the unroll); a segment that ends with
its episode sums to its end, and one cut by the unroll's end is bootstrapped:

    W_t = sum_{i = t}^{L-1} rhat_i + Vhat(s_L),

or, with ``return_lambda`` below 1, the lambda-return on the critic (0: the
one-step target rhat_t + Vhat(s_{t+1})),

where the last step's pseudo-reward takes its next-state part at s_L in
expectation under the student (the next action is not sampled) and Vhat is the
critic's value (``return_critics``; 0 without one: the truncated return).
Methods with a bootstrap critic of their own (TD + V_pi) use
``W_t = rhat_t + V(s_{t+1})`` with either sampler.

Finally a state baseline is subtracted, ``W_t - b(s_t)``: the caller's (a critic
of the pseudo-return, e.g. ``training.pseudo_value``) when given, else the
method's own closed-form one (``Method.baseline``, read at the visited rows).
Both estimate E[W_t | s_t], so one replaces the other rather than adding to
it; any state-only b keeps the mean (E_a[e_a - pi_theta(s)] = 0).

Array letters: ``M`` recorded steps, ``R`` rows, ``A`` actions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..methods import Method
from ..rewards import expected_next_part, sampled_pseudo_reward
from ..return_critics import lambda_returns
from ..states import StateBatch
from .update import return_to_go


class Boundary(NamedTuple):
    """The unroll's last steps that did not end their episode.

    Attributes:
      index: int[n] record index of each; states: the bundle of their next states s_L;
      row: int[n] row of s_L in that bundle; flat: int[n] flat index of s_L.
    """

    index: np.ndarray
    states: StateBatch
    row: np.ndarray
    flat: np.ndarray


def segments(traj: np.ndarray, cont: np.ndarray) -> np.ndarray:
    """Segment id of trajectory-major records: a new segment starts with each trajectory and after
    each step that ended its episode -> int[M] (non-decreasing)."""
    new = np.r_[True, (traj[1:] != traj[:-1]) | ~cont[:-1]]
    return np.cumsum(new) - 1


def score_weights(method: Method, states: StateBatch, row: np.ndarray, action: np.ndarray, reward: np.ndarray,
                  cont: np.ndarray, next_row: np.ndarray, traj: np.ndarray, boundary: Boundary | None,
                  values: np.ndarray | None, state: np.ndarray, next_flat: np.ndarray,
                  td_lambda: float | None = None, return_lambda: float = 1.0,
                  baseline: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """W float[M] (the baseline subtracted) and, with ``td_lambda``, lambda-return targets float[M] for a TD critic
    (targets of the pseudo-return itself: no baseline).

    Args:
      states: the visited rows; row, action, reward, cont: per record; next_row: row of s_{t+1}
        where known (valid where ``cont`` and not a boundary), next action is the next record's.
      traj: int[M] trajectory id (records trajectory-major).
      boundary: the unroll's bootstrapped last steps, or None (episodes).
      values: flat float[B * S] critic Vhat, or None (truncation; no targets).
      state, next_flat: flat s_t and s_{t+1} of every record (for the critic's values).
      return_lambda: with a critic, W_t is the lambda-return on it: 1 sums the pseudo-rewards to the
        segment's end (then Vhat(s_L) at an unroll's cut), 0 is the one-step target rhat_t + Vhat(s_{t+1})
        (Section 4's "usual actor-critic update").
      baseline: flat float[B * S] state baseline read at ``state``, or None for the method's own
        (``Method.baseline`` at ``row``; none if the method declares none).
    """
    sampled_cont = cont
    if boundary is not None:
        sampled_cont = cont.copy()
        sampled_cont[boundary.index] = False  # s_L's parts are taken in expectation below
        next_row = np.where(sampled_cont, next_row, 0)  # s_L need not be a visited row
    next_action = np.r_[action[1:], 0]
    rhat = sampled_pseudo_reward(method.reward, states, row, action, reward, sampled_cont, next_row, next_action)
    if boundary is not None and boundary.index.size:
        rhat[boundary.index] += expected_next_part(method.reward, boundary.states)[0][boundary.row]
    targets = None
    if method.bootstrap is not None:
        v_next = np.where(sampled_cont, method.bootstrap.at(states, next_row), 0.0)
        if boundary is not None and boundary.index.size:
            v_next[boundary.index] = method.bootstrap.at(boundary.states, boundary.row)
        W = rhat + v_next
    else:
        seg = segments(traj, cont)
        if values is None:  # Monte Carlo returns (truncated at an unroll's end)
            W = return_to_go(rhat, seg)
        else:  # lambda-returns on the critic: n-step to the unroll's end (lam = 1) ... one-step TD targets (lam = 0)
            W = lambda_returns(rhat, seg, cont, values[next_flat], return_lambda)
        if td_lambda is not None and values is not None:
            targets = W.copy() if td_lambda == return_lambda else lambda_returns(rhat, seg, cont, values[next_flat],
                                                                                 td_lambda)
    if baseline is not None:
        W = W - baseline[state]
    elif method.baseline is not None:
        W = W - method.baseline.at(states, row)
    return W, targets
