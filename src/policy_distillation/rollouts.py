"""Sampling trajectories from a batch of tabular MDPs in outcome form.

The primitives here are shared by tabular Q-learning (``teachers.q_learning``)
and by the Monte Carlo teacher critic of Section 4 (the paper estimates V_pi
"by sampling 100 trajectories"). All randomness goes through explicit
``numpy.random.Generator`` objects, one per MDP (``streams``).

One environment step from state s with action a (``mdp`` module docstring):
outcome ``k ~ outcome_prob[b, s, a, :]``, reward ``outcome_reward[b, s, k]``
(+ ``action_reward[b, s, a]`` if present), next state ``next_state[b, s, k]``,
and the episode goes on with probability ``outcome_continue[b, s, k]``.
"""

from __future__ import annotations

import numpy as np

from typing import Sequence

from .mdp import TabularMDPs
from .streams import split_generator, uniforms_by_world

DEFAULT_MAX_STEPS = 100_000
DEFAULT_CHUNK = 1 << 20


def _categorical(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index k with cdf[k-1] <= u < cdf[k], per row. cdf: float[n, K] (last column 1), u: float[n]."""
    k = (cdf <= u[:, None]).sum(axis=1)
    # cdf[:, -1] == 1 > u exactly (normalised below), so k <= K - 1 always.
    return k


def _normalised_cdf(p: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis, divided by the total so the last entry is exactly 1."""
    c = np.cumsum(p, axis=-1)
    return c / c[..., -1:]


def outcome_cdf(mdps: TabularMDPs) -> np.ndarray:
    """CDF of P(k | s, a) for sampling. -> float[B|1, S|1, A, K] (last entry exactly 1)."""
    return _normalised_cdf(np.clip(mdps.outcome_prob, 0.0, None))


def sample_initial(mdps: TabularMDPs, gens: Sequence[np.random.Generator], b: np.ndarray) -> np.ndarray:
    """Initial states s_1 ~ initial[b] for the MDPs listed in ``b`` (int[n], ascending).

    ``gens``: one Generator per MDP of the batch; an MDP listed in ``b`` draws
    from its own (none is drawn when every listed start is certain). -> int[n].
    """
    b = np.asarray(b)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    init = mdps.initial[b]
    point = init.argmax(axis=1)
    if np.all(init[np.arange(b.size), point] == 1.0):  # one initial state (grid worlds, chain): no draw needed
        return point.astype(np.int64)
    return _categorical(_normalised_cdf(np.clip(init, 0.0, None)), uniforms_by_world(gens, b)).astype(np.int64)


def sample_returns(
    mdps: TabularMDPs,
    pi: np.ndarray,
    starts: np.ndarray,
    rng: np.random.Generator | Sequence[np.random.Generator],
    max_steps: int = DEFAULT_MAX_STEPS,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Sampled returns G = sum_t gamma^t r_t of pi, one trajectory per start state.

    All B * M trajectories run in lockstep (in chunks of ``chunk_size``, the
    finished ones dropped every step). Without ``action_reward`` the return
    depends on the action only through the outcome, so outcomes are drawn
    directly from P_pi(k | s) = sum_a pi(a | s) P(k | s, a): the same law of
    trajectories with one draw per step instead of two.

    Every draw of MDP b comes from its own Generator (``rng``: one per MDP, or
    one Generator split into one per MDP), in the order of its trajectories at
    each step, so an MDP's returns do not depend on the rest of the batch.

    Args:
      pi: float[B, S, A] policy.
      starts: int[B, M] start state of each trajectory.
      max_steps: a trajectory still running after this many steps raises
        (the policy is improper or the episodes are absurdly long).
    Returns:
      float[B, M] sampled returns (discount ``mdps.gamma``).
    """
    pi = mdps.check_policy(pi)
    starts = np.asarray(starts)
    if starts.ndim != 2 or starts.shape[0] != mdps.B or not np.issubdtype(starts.dtype, np.integer):
        raise ValueError(f"starts must be int[B, M] with B={mdps.B}, got {starts.dtype} {starts.shape}")
    if starts.size and (starts.min() < 0 or starts.max() >= mdps.S):
        raise ValueError(f"starts must lie in [0, {mdps.S})")
    if max_steps < 1 or chunk_size < 1:
        raise ValueError("max_steps and chunk_size must be >= 1")
    B, M = starts.shape
    S = mdps.S
    gens = split_generator(rng, B)
    marginal = mdps.action_reward is None
    if marginal:
        k_cdf = _normalised_cdf(np.clip(mdps.outcome_marginal(pi), 0.0, None)).reshape(B * S, -1)
    else:
        a_cdf = _normalised_cdf(pi).reshape(B * S, -1)
        o_cdf = outcome_cdf(mdps)
    nxt = mdps.next_state.reshape(B * S, -1)
    rew = mdps.outcome_reward.reshape(B * S, -1)
    cnt = mdps.outcome_continue.reshape(B * S, -1)
    out = np.zeros(B * M)
    flat_starts = starts.reshape(-1).astype(np.int64)
    for lo in range(0, B * M, chunk_size):
        ids = np.arange(lo, min(lo + chunk_size, B * M))
        b = ids // M
        s = flat_starts[ids]
        disc = np.ones(ids.size)
        g = np.zeros(ids.size)
        for _ in range(max_steps):
            if ids.size == 0:
                break
            row = b * S + s
            if marginal:
                k = _categorical(k_cdf[row], uniforms_by_world(gens, b))
                r = rew[row, k]
            else:
                a = _categorical(a_cdf[row], uniforms_by_world(gens, b))
                bi = b if o_cdf.shape[0] > 1 else 0
                si = s if o_cdf.shape[1] > 1 else 0
                k = _categorical(o_cdf[bi, si, a], uniforms_by_world(gens, b))
                r = rew[row, k] + mdps.action_reward[b, s, a]
            g += disc * r
            alive = uniforms_by_world(gens, b) < cnt[row, k]
            s = nxt[row, k]
            out[ids[~alive]] = g[~alive]
            ids, b, s, g = ids[alive], b[alive], s[alive], g[alive]
            disc = disc[alive] * mdps.gamma
        else:
            if ids.size:
                raise RuntimeError(
                    f"{ids.size} trajectories still running after max_steps={max_steps}: improper policy?"
                )
    return out.reshape(B, M)


def monte_carlo_values(
    mdps: TabularMDPs,
    pi: np.ndarray,
    rng: np.random.Generator | Sequence[np.random.Generator],
    n_trajectories: int = 100,
    max_steps: int = DEFAULT_MAX_STEPS,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo critic: V_hat(s) = mean of N sampled returns started in s (Sec. 4, Fig. 5).

    The paper estimates V_pi "by sampling 100 trajectories"; here N
    trajectories start in every state of every MDP (all B * S * N in lockstep).

    Args:
      pi: float[B, S, A] the policy whose values are estimated.
      n_trajectories: N, trajectories per start state.
    Returns:
      (V_hat float[B, S], standard error float[B, S] = sample std / sqrt(N)).
    """
    if n_trajectories < 1:
        raise ValueError(f"n_trajectories (N) must be >= 1, got {n_trajectories}")
    starts = np.broadcast_to(np.repeat(np.arange(mdps.S), n_trajectories), (mdps.B, mdps.S * n_trajectories))
    G = sample_returns(mdps, pi, starts, rng, max_steps=max_steps, chunk_size=chunk_size)
    G = G.reshape(mdps.B, mdps.S, n_trajectories)
    se = G.std(axis=-1, ddof=1) / np.sqrt(n_trajectories) if n_trajectories > 1 else np.full(G.shape[:2], np.inf)
    return G.mean(axis=-1), se
