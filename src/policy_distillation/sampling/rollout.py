"""The rollout: B * N trajectories of the control policy, all MDPs in lockstep.

The state chain is driven by the *outcome marginal* of the control policy,
``P(k | s) = sum_a q(a | s) P(k | s, a)`` (a comparison table per state,
:func:`outcome_table`), so the rollout never touches an ``A``-wide row; actions
are drawn afterwards from their posterior (``sampling.actions``).

If every positive continuation probability equals one constant ``c0 < 1``
(the grid worlds' 0.01 stop), episode lengths are pre-drawn from the
geometric law (so every draw an episode needs is known in advance); other MDPs
draw the continuation at each step. Outcomes are drawn by comparing one
uniform with a row's cumulative probabilities. The walks themselves are
compiled loops over trajectories (``kernels``).

Array letters: ``B`` MDPs, ``S`` states, ``K`` outcomes, ``N`` trajectories per
MDP, ``M`` recorded steps. States are flat: ``b * S + s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..mdp import TabularMDPs
from . import kernels
from .draws import MAX_EPISODE_STEPS, UniformSource, geometric_length, inverse_cdf


class Records(NamedTuple):
    """The steps of one rollout (M of them), trajectory-major (time ascending within a trajectory).

    Attributes:
      state: int[M] flat state ``b * S + s_t``.
      outcome: int[M] outcome k_t.
      time: int[M] time step t (0 = start).
      traj: int[M] trajectory id ``b * N + n``.
      cont: bool[M] the episode continues to s_{t+1}.
    """

    state: np.ndarray
    outcome: np.ndarray
    time: np.ndarray
    traj: np.ndarray
    cont: np.ndarray


@dataclass(frozen=True, eq=False)
class RolloutPlan:
    """Flat tables of a batch for lockstep rollouts (built once per estimator).

    Attributes:
      B, S, K, N: sizes; sentinel: the flat index ``B * S`` of a parked trajectory.
      next_flat: int[B * S * K + K] next flat state of (flat state, outcome), the sentinel's row last.
      cont: float[B * S * K + K] continuation probability of (flat state, outcome).
      c0: the common positive continuation probability, or None (draw continuations).
      one_hot_start, start_state, start_cum: the initial distributions.
    """

    B: int
    S: int
    K: int
    N: int
    sentinel: int
    next_flat: np.ndarray
    cont: np.ndarray
    c0: float | None
    one_hot_start: bool
    start_state: np.ndarray
    start_cum: np.ndarray

    @classmethod
    def from_mdps(cls, mdps: TabularMDPs, n_trajectories: int) -> "RolloutPlan":
        B, S, K = mdps.B, mdps.S, mdps.K
        sentinel = B * S
        offs = (np.arange(B) * S)[:, None, None]
        nxt = (mdps.next_state + offs).reshape(-1)
        cont = mdps.outcome_continue.reshape(-1)
        next_flat = np.concatenate([nxt, np.full(K, sentinel)])
        cont_all = np.concatenate([cont, np.zeros(K)])
        positive = np.unique(cont[cont > 0])
        c0 = float(positive[0]) if positive.size == 1 and positive[0] < 1.0 else None
        init = mdps.initial
        return cls(B=B, S=S, K=K, N=int(n_trajectories), sentinel=sentinel, next_flat=next_flat, cont=cont_all,
                   c0=c0,
                   one_hot_start=bool(np.all((init == 0) | (init == 1))), start_state=init.argmax(axis=1),
                   start_cum=np.cumsum(init, axis=1))

    def start_states(self, u: np.ndarray) -> np.ndarray:
        """Flat start state of every trajectory, drawn by inversion of ``u`` float[B * N] -> int[B * N]."""
        BN = self.B * self.N
        b = np.arange(BN) // self.N
        s = self.start_state[b] if self.one_hot_start else inverse_cdf(self.start_cum[b], u)
        return b * self.S + s


def outcome_table(cum: np.ndarray) -> np.ndarray:
    """Comparison table for outcome draws from normalised cumulative rows float[R, K].

    The first K-1 cumulative probabilities of each row, padded with 2.0 to a
    width of 1, 2, 4 or 8 (so that the comparisons of one row can be read as
    one unsigned integer and counted with ``np.bitwise_count``) -> float[R, w].
    """
    c = cum[:, :-1]
    w = c.shape[1]
    width = next((x for x in (1, 2, 4, 8) if x >= w), w)
    if width == w:
        return np.ascontiguousarray(c)
    return np.concatenate([c, np.full((c.shape[0], width - w), 2.0)], axis=1)


def normalised_cumsum(m: np.ndarray) -> np.ndarray:
    """Row-wise cumulative sums divided by the total (last column exactly 1) -> float[R, K]."""
    cum = np.cumsum(m, axis=1)
    return cum / cum[:, -1:]


def _run(kernel, n_records: int, *args) -> tuple[np.ndarray, ...]:
    """Output arrays of n_records and the kernel's (next, written, code) after filling them."""
    out = (np.empty(n_records, np.int64), np.empty(n_records, np.int64), np.empty(n_records, np.int64),
           np.empty(n_records, np.int64), np.empty(n_records, np.bool_))
    return out, kernel(*args, *out)


def rollout(plan: RolloutPlan, table: np.ndarray, source: UniformSource) -> Records:
    """Whole episodes of all B * N trajectories with outcome table ``table`` float[B * S + 1, w]
    -> trajectory-major :class:`Records` (compiled loop: ``kernels.episode_rollout``)."""
    BN, head, stride = plan.B * plan.N, source.head, source.stride
    ids = np.arange(BN)
    buf, lo, hi = source.view(BN, head)
    start = plan.start_states(buf[ids, lo])
    if plan.c0 is not None:
        length = geometric_length(buf[ids, lo + 1], plan.c0)
        need = head + stride * length
        n_records = int(length.sum())
    else:
        length = np.zeros(BN, dtype=np.int64)
        need = np.full(BN, head + stride * 64)
        n_records = 64 * BN
    buf, lo, hi = source.view(BN, need)
    outputs, (i, m, code) = _run(kernels.episode_rollout, n_records, start, length, plan.c0 is not None, table,
                                 plan.next_flat, plan.cont, plan.K, buf, lo, hi, head, stride, 0, 0)
    while code != kernels.OK:
        if code == kernels.TOO_LONG:
            raise RuntimeError(f"an episode exceeded {MAX_EPISODE_STEPS} steps (improper control policy?)")
        if code == kernels.NEED_DRAWS:
            held = hi[i] - lo[i]
            need = need.copy()
            need[i] = 2 * max(need[i], held)
            buf, lo, hi = source.view(BN, need)
            if hi[i] - lo[i] <= held:
                raise ValueError(f"the draw source holds no more values for trajectory {i} ({held} read)")
        else:
            grown = tuple(np.empty(2 * x.size, x.dtype) for x in outputs)
            for g, x in zip(grown, outputs):
                g[:m] = x[:m]
            outputs = grown
        i, m, code = kernels.episode_rollout(start, length, plan.c0 is not None, table, plan.next_flat, plan.cont,
                                             plan.K, buf, lo, hi, head, stride, i, m, *outputs)
    return Records(*(x[:m] for x in outputs))


def rollout_unroll(plan: RolloutPlan, table: np.ndarray, source: UniformSource, walkers: np.ndarray | None,
                   length: int) -> tuple[Records, np.ndarray]:
    """``length`` steps of every trajectory, continuing from ``walkers`` -> (trajectory-major Records, walkers).

    The ``unroll`` sampler: trajectories persist across optimisation steps
    (``walkers``: int[B * N] flat state of each slot; None: start them). Each step
    draws the outcome, then the continuation; an episode that ends (a terminal
    or the stop) restarts from the initial distribution within the same
    unroll. Every slot takes exactly ``length`` steps, so every control policy
    gets the same number of transitions per update.
    """
    BN, head, stride = plan.B * plan.N, source.head, source.stride
    buf, lo, hi = source.view(BN, head + stride * length)
    if walkers is None:
        walkers = plan.start_states(buf[np.arange(BN), lo])
    walkers = walkers.copy()
    outputs, code = _run(kernels.unroll_rollout, BN * length, walkers, length, plan.N, plan.S, plan.one_hot_start,
                         plan.start_state, plan.start_cum, table, plan.next_flat, plan.cont, plan.K, buf, lo, hi,
                         head, stride)
    assert code == kernels.OK  # the view holds every step's draws
    return Records(*outputs), walkers
