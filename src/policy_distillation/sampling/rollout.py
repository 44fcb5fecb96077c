"""The rollout: B * N trajectories of the control policy, all MDPs in lockstep.

The state chain is driven by the *outcome marginal* of the control policy,
``P(k | s) = sum_a q(a | s) P(k | s, a)`` (a comparison table per state,
:func:`outcome_table`), so the rollout never touches an ``A``-wide row; actions
are drawn afterwards from their posterior (``sampling.actions``).

If every positive continuation probability equals one constant ``c0 < 1``
(the grid worlds' 0.01 stop), episode lengths are pre-drawn from the
geometric law and trajectories are processed longest first: the live set is a
prefix, trajectories that reach a terminal cell park in a sentinel state and
are dropped every 32 steps. Other MDPs draw the continuation at each step and
drop finished trajectories at once. Outcomes are drawn by comparing one
uniform with a row's cumulative probabilities; with K <= 9 the comparisons of
a row are read as one unsigned integer and counted with ``np.bitwise_count``.

Array letters: ``B`` MDPs, ``S`` states, ``K`` outcomes, ``N`` trajectories per
MDP, ``M`` recorded steps. States are flat: ``b * S + s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..mdp import TabularMDPs
from .draws import MAX_EPISODE_STEPS, UniformSource, geometric_length, inverse_cdf

_UINT_OF_WIDTH = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class Records(NamedTuple):
    """The steps of one rollout (M of them).

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

    def trajectory_major(self) -> "Records":
        """The records sorted by trajectory, then time (the next step of record j is j + 1 when cont[j])."""
        order = np.lexsort((self.time, self.traj))
        return Records(*(x[order] for x in self))


@dataclass(frozen=True, eq=False)
class RolloutPlan:
    """Flat tables of a batch for lockstep rollouts (built once per estimator).

    Attributes:
      B, S, K, N: sizes; sentinel: the flat index ``B * S`` of a parked trajectory.
      next_flat: int[B * S * K + K] next flat state of (flat state, outcome), the sentinel's row last.
      cont: float[B * S * K + K] continuation probability of (flat state, outcome).
      c0: the common positive continuation probability, or None (draw continuations).
      next_parked: ``next_flat`` with ended episodes sent to the sentinel (c0 mode only).
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
    next_parked: np.ndarray | None
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
                   c0=c0, next_parked=np.where(cont_all > 0, next_flat, sentinel) if c0 is not None else None,
                   one_hot_start=bool(np.all((init == 0) | (init == 1))), start_state=init.argmax(axis=1),
                   start_cum=np.cumsum(init, axis=1))

    def start_states(self, source: UniformSource) -> np.ndarray:
        """Flat start state of every trajectory -> int[B * N]."""
        BN = self.B * self.N
        b = np.arange(BN) // self.N
        if self.one_hot_start:
            s = self.start_state[b]
        else:
            s = inverse_cdf(self.start_cum[b], source.initial(BN))
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


def draw_outcomes(table: np.ndarray, state: np.ndarray, u: np.ndarray) -> np.ndarray:
    """k = #{j < K-1: cum[state, j] <= u}, i.e. outcome k by inversion -> int[n]."""
    below = table.take(state, axis=0) <= u[:, None]
    w = below.shape[1]
    if w in _UINT_OF_WIDTH:
        return np.bitwise_count(below.view(_UINT_OF_WIDTH[w]).ravel())  # uint8
    return below.sum(axis=1)


def rollout(plan: RolloutPlan, table: np.ndarray, source: UniformSource) -> Records:
    """Run all B * N trajectories in lockstep with outcome table ``table`` float[B * S + 1, w]
    (the sentinel's row last) -> time-major :class:`Records`."""
    if plan.c0 is not None:
        return _rollout_geometric(plan, table, source)
    K = plan.K
    state = plan.start_states(source)
    pos = np.arange(state.size)
    states, outcomes, trajs, conts = [], [], [], []
    t = 0
    while state.size:
        if t >= MAX_EPISODE_STEPS:
            raise RuntimeError(f"an episode exceeded {MAX_EPISODE_STEPS} steps (improper control policy?)")
        u = source.step(t, pos, 2)
        k = draw_outcomes(table, state, u[0])
        flat_outcome = state * K + k
        c = u[1] < plan.cont.take(flat_outcome)
        states.append(state)
        outcomes.append(k)
        trajs.append(pos)
        conts.append(c)
        state = plan.next_flat.take(flat_outcome)[c]
        pos = pos[c]
        t += 1
    n_t = np.array([x.size for x in states])
    return Records(state=np.concatenate(states), outcome=np.concatenate(outcomes).astype(np.int64),
                   time=np.repeat(np.arange(n_t.size), n_t), traj=np.concatenate(trajs), cont=np.concatenate(conts))


def _rollout_geometric(plan: RolloutPlan, table: np.ndarray, source: UniformSource) -> Records:
    """c0 mode: pre-drawn geometric lengths, longest first; ended episodes park in the sentinel."""
    K, sentinel = plan.K, plan.sentinel
    state = plan.start_states(source)
    length = geometric_length(source.lengths(state.size), plan.c0)
    source.reserve(length)
    order = np.argsort(-length, kind="stable")
    live_length = length[order]  # live lengths, longest first: the live set is a prefix
    state = state[order]
    pos = np.arange(state.size)
    states, outcomes, positions = [], [], []
    t, t_end = 0, int(live_length[0])
    nxt = plan.next_parked
    plain = type(source) is UniformSource  # ids are needed only by injected draws
    rng = getattr(source, "rng", None)
    while t < t_end:
        # every 32 steps drop the parked (ended) trajectories; stop when none is left
        if t % 32 == 0:
            if t:
                keep = state < sentinel
                if not keep.all():
                    state, pos, live_length = state[keep], pos[keep], live_length[keep]
                    if not state.size:
                        break
                    t_end = int(live_length[0])
            alive = np.searchsorted(-live_length, -np.arange(t, t + 32), side="left").tolist()
        n = alive[t % 32]
        if n < state.size:
            state, pos, live_length = state[:n], pos[:n], live_length[:n]
        u = rng.random(n) if plain else source.step(t, order[pos], 1)[0]
        k = draw_outcomes(table, state, u)
        states.append(state)
        outcomes.append(k)
        positions.append(pos)
        state = nxt.take(state * K + k)
        t += 1
    n_t = np.array([x.size for x in states])
    F = np.concatenate(states)
    k = np.concatenate(outcomes)
    P = np.concatenate(positions)
    T = np.repeat(np.arange(n_t.size), n_t)
    real = F < sentinel
    F, k, T, P = F[real], k[real].astype(np.int64), T[real], P[real]
    cont = (plan.cont[F * K + k] > 0) & (T + 1 < length[order][P])
    return Records(state=F, outcome=k, time=T, traj=order[P], cont=cont)


def rollout_unroll(plan: RolloutPlan, table: np.ndarray, source: UniformSource, state: np.ndarray,
                   length: int) -> tuple[Records, np.ndarray]:
    """``length`` steps of every trajectory, continuing from ``state`` -> (time-major Records, new state).

    The ``unroll`` sampler: trajectories persist across optimisation steps
    (``state``: int[B * N] flat state of each slot). Each step draws the
    outcome, then the continuation; an episode that ends (a terminal or the
    stop) restarts from the initial distribution within the same unroll. Every
    slot takes exactly ``length`` steps, so every control policy gets the same
    number of transitions per update. Uniforms per step: outcome, continuation,
    restart state.
    """
    K = plan.K
    pos = np.arange(state.size)
    b = pos // plan.N
    f = state
    states, outcomes, conts = [], [], []
    for t in range(length):
        u = source.step(t, pos, 3)
        k = draw_outcomes(table, f, u[0])
        flat_outcome = f * K + k
        c = u[1] < plan.cont.take(flat_outcome)
        states.append(f)
        outcomes.append(k)
        conts.append(c)
        if plan.one_hot_start:
            restart = b * plan.S + plan.start_state[b]
        else:
            restart = b * plan.S + inverse_cdf(plan.start_cum[b], u[2])
        f = np.where(c, plan.next_flat.take(flat_outcome), restart)
    n = state.size
    rec = Records(state=np.concatenate(states), outcome=np.concatenate(outcomes).astype(np.int64),
                  time=np.repeat(np.arange(length), n), traj=np.tile(pos, length), cont=np.concatenate(conts))
    return rec, f
