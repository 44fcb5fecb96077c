"""Trajectory sampling (rollouts.py): outcome draws and Monte Carlo returns."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as env
from policy_distillation import evaluation as ev
from policy_distillation import rollouts as R
from policy_distillation.mdp import from_dense


def dense_mdps(seed=0, B=3, S=4, A=2, stop=0.25):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(B, S, A)) * (1 - stop)
    Rw = rng.uniform(-1, 1, size=(B, S, A))
    return from_dense(P, Rw, rng.dirichlet(np.ones(S), size=B))


def test_sample_step_outcome_frequencies():
    m = env.random_grid_worlds(np.random.default_rng(0), 2, env.GridConfig(rows=4, cols=4))
    cdf = R.outcome_cdf(m)
    n = 200_000
    rng = np.random.default_rng(1)
    b = np.zeros(n, dtype=np.int64)
    s = np.full(n, 5)
    a = np.full(n, 1)  # "right"
    k = R._categorical(cdf[0, 0, a], rng.random(n))  # grid worlds share one outcome table
    s2, cont = m.next_state[b, s, k], rng.random(n) < m.outcome_continue[b, s, k]
    # empirical next-state law matches the dense model within 5 binomial standard errors
    P, _ = m.to_dense()
    p_cont_next = np.bincount(s2[cont], minlength=m.S) / n
    np.testing.assert_allclose(p_cont_next, P[0, 5, 1], atol=5 * np.sqrt(0.25 / n))


def test_sample_initial():
    m = dense_mdps()
    b = np.repeat(np.arange(m.B), 50_000)
    s = R.sample_initial(m, np.random.default_rng(0).spawn(m.B), b)
    for i in range(m.B):
        freq = np.bincount(s[b == i], minlength=m.S) / 50_000
        np.testing.assert_allclose(freq, m.initial[i], atol=5 * np.sqrt(0.25 / 50_000))


@pytest.mark.parametrize("use_action_reward", [True, False])
def test_sample_returns_mean_matches_exact_values(use_action_reward):
    if use_action_reward:
        m = dense_mdps()  # action rewards: actions sampled explicitly
    else:
        m = env.random_grid_worlds(np.random.default_rng(2), 2, env.GridConfig(rows=5, cols=5, p_goal=0.1))
    pi = np.random.default_rng(3).dirichlet(np.ones(m.A), size=(m.B, m.S))
    V = ev.state_values(m, pi)
    N = 4000
    starts = np.broadcast_to(np.repeat(np.arange(m.S), N), (m.B, m.S * N))
    G = R.sample_returns(m, pi, starts, np.random.default_rng(4), chunk_size=10_000).reshape(m.B, m.S, N)
    se = G.std(-1, ddof=1) / np.sqrt(N)
    assert np.all(np.abs(G.mean(-1) - V) <= 4.5 * se + 1e-9)


def test_monte_carlo_values_chain_is_exact_for_deterministic_teacher():
    m = env.chain(3)
    right = np.zeros((1, m.S, 2))
    right[..., env.RIGHT] = 1.0
    V_hat, se = R.monte_carlo_values(m, right, np.random.default_rng(0), n_trajectories=5)
    np.testing.assert_array_equal(V_hat[0, 1:-1], 1.0)
    np.testing.assert_array_equal(se, 0.0)


def test_sample_returns_rejects_bad_input_and_improper_policies():
    m = dense_mdps()
    pi = np.full((m.B, m.S, m.A), 0.5)
    with pytest.raises(ValueError, match="starts"):
        R.sample_returns(m, pi, np.zeros((m.B + 1, 2), dtype=int), np.random.default_rng(0))
    with pytest.raises(ValueError, match="starts"):
        R.sample_returns(m, pi, np.full((m.B, 2), m.S), np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_trajectories"):
        R.monte_carlo_values(m, pi, np.random.default_rng(0), n_trajectories=0)
    # a self-loop that never ends: the sampler refuses to run forever
    P = np.zeros((1, 2, 1, 2))
    P[0, :, 0, 0] = 1.0
    loop = from_dense(P, np.zeros((1, 2, 1)), np.array([[1.0, 0.0]]))
    with pytest.raises(RuntimeError, match="max_steps"):
        R.sample_returns(loop, np.ones((1, 2, 1)), np.zeros((1, 3), dtype=int), np.random.default_rng(0), max_steps=50)


def test_sample_returns_of_an_mdp_do_not_depend_on_the_rest_of_the_batch():
    """Per-MDP streams: MDP 1 alone gives the returns it gives inside the batch."""
    m = dense_mdps(B=3)
    pi = np.random.default_rng(3).dirichlet(np.ones(m.A), size=(m.B, m.S))
    gens = [np.random.default_rng(10 + b) for b in range(m.B)]
    starts = np.zeros((m.B, 7), dtype=int)
    G = R.sample_returns(m, pi, starts, gens)
    alone = R.sample_returns(m.subset([1]), pi[[1]], starts[[1]], [np.random.default_rng(11)])
    np.testing.assert_array_equal(G[1], alone[0])
