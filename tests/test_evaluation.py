"""Tests for ``policy_distillation.evaluation``: exact V, Q, visitation, optima.

Three independent references:
  - a dense per-MDP ``numpy.linalg.solve`` on the matrices of ``to_dense()``;
  - a plain Monte Carlo rollout sampler (explicit Generator, one step at a time);
  - closed forms on the chain (gambler's ruin).
"""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import evaluation as ev
from policy_distillation.environments import GridConfig, chain, random_grid_worlds
from policy_distillation.mdp import TabularMDPs, from_dense

EXACT_ATOL = 1e-9  # exact solvers vs the dense reference
MC_SIGMAS = 4.0  # Monte Carlo: |mean - exact| < 4 standard errors + MC_EPS
MC_EPS = 1e-9


# ------------------------------------------------------------- references
def dense_reference(mdps: TabularMDPs, pi: np.ndarray, gamma: float | None = None, initial=None):
    """V, Q, d by one dense solve per MDP (plain loop over MDPs)."""
    g = mdps.gamma if gamma is None else gamma
    P, R = mdps.to_dense()
    mu = mdps.initial if initial is None else initial
    V = np.zeros((mdps.B, mdps.S))
    Q = np.zeros((mdps.B, mdps.S, mdps.A))
    d = np.zeros((mdps.B, mdps.S))
    for b in range(mdps.B):
        P_pi = np.einsum("sa,sat->st", pi[b], P[b])
        r_pi = np.einsum("sa,sa->s", pi[b], R[b])
        M = np.eye(mdps.S) - g * P_pi
        V[b] = np.linalg.solve(M, r_pi)
        Q[b] = R[b] + g * P[b] @ V[b]
        d[b] = np.linalg.solve(M.T, mu[b])
    return V, Q, d


def random_dense_mdps(rng: np.random.Generator, B: int, S: int, A: int, gamma: float, end_mass: float = 1.0):
    """Random dense MDPs whose rows leave mass to termination (every policy proper)."""
    w = rng.dirichlet(np.ones(S + 1), size=(B, S, A))
    w[..., S] += end_mass * rng.uniform(0.1, 0.5, size=(B, S, A))
    w /= w.sum(-1, keepdims=True)
    P = w[..., :S]
    R = rng.normal(size=(B, S, A))
    init = rng.dirichlet(np.ones(S), size=B)
    return from_dense(P, R, init, gamma=gamma)


def random_policy(rng, mdps):
    return rng.dirichlet(np.ones(mdps.A), size=(mdps.B, mdps.S))


def make_case(name: str, rng: np.random.Generator) -> TabularMDPs:
    if name == "dense_g1":
        return random_dense_mdps(rng, 3, 7, 5, gamma=1.0)
    if name == "dense_g09":
        return random_dense_mdps(rng, 3, 7, 5, gamma=0.9)
    if name == "outcome_form":  # per-state outcome rows, K != S + 1
        B, S, A, K = 3, 8, 5, 6
        return TabularMDPs(
            initial=rng.dirichlet(np.ones(S), size=B),
            next_state=rng.integers(0, S, size=(B, S, K)),
            outcome_prob=rng.dirichlet(np.ones(K), size=(B, S, A)),
            outcome_reward=rng.normal(size=(B, S, K)),
            outcome_continue=rng.uniform(0.0, 0.8, size=(B, S, K)),
            gamma=1.0,
            action_reward=rng.normal(size=(B, S, A)),
        )
    mode, n_actions, gamma = {
        "grid_end_A4": ("end", 4, 1.0),
        "grid_reset_A4": ("reset", 4, 1.0),
        "grid_end_A7_g095": ("end", 7, 0.95),
        "grid_reset_A9": ("reset", 9, 1.0),
    }[name]
    cfg = GridConfig(rows=6, cols=6, terminal_mode=mode, n_actions=n_actions, gamma=gamma, p_goal=0.1, p_pit=0.05)
    return random_grid_worlds(rng, 5, cfg)


CASES = ["dense_g1", "dense_g09", "outcome_form", "grid_end_A4", "grid_reset_A4", "grid_end_A7_g095", "grid_reset_A9"]


# ------------------------------------------------------- exact vs dense solve
@pytest.mark.parametrize("case", CASES)
def test_exact_evaluation_matches_dense_solve(case):
    rng = np.random.default_rng(CASES.index(case))
    mdps = make_case(case, rng)
    assert len({mdps.B, mdps.S, mdps.A}) == 3  # no accidental broadcast
    pi = random_policy(rng, mdps)
    V_ref, Q_ref, d_ref = dense_reference(mdps, pi)

    fact = ev.factorise(mdps, pi)
    V = ev.state_values(mdps, pi, fact)
    np.testing.assert_allclose(V, V_ref, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.state_values(mdps, pi), V_ref, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.action_values(mdps, pi), Q_ref, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.action_values(mdps, pi, V), Q_ref, rtol=0, atol=EXACT_ATOL)
    d = ev.state_visitation(mdps, pi, fact=fact)
    np.testing.assert_allclose(d, d_ref, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.state_visitation(mdps, pi), d_ref, rtol=0, atol=EXACT_ATOL)
    # a non-trivial problem: values and visits are not all zero
    assert np.abs(V_ref).max() > 0.1 and d_ref.sum() > 1.0


@pytest.mark.parametrize("case", ["dense_g1", "grid_reset_A9"])
def test_factorise_gamma_override_and_custom_initial(case):
    rng = np.random.default_rng(40)
    mdps = make_case(case, rng)
    pi = random_policy(rng, mdps)
    mu = rng.dirichlet(np.ones(mdps.S), size=mdps.B)
    V_ref, _, d_ref = dense_reference(mdps, pi, gamma=0.8, initial=mu)
    fact = ev.factorise(mdps, pi, gamma=0.8)
    np.testing.assert_allclose(fact.solve_values(mdps.reward_pi(pi)), V_ref, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.state_visitation(mdps, pi, initial=mu, fact=fact), d_ref, rtol=0, atol=EXACT_ATOL)
    # the override must matter: gamma = 0.8 differs from the batch's own gamma
    V_own, _, _ = dense_reference(mdps, pi)
    assert np.abs(V_own - V_ref).max() > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_return_is_visitation_weighted_reward(case):
    """J = mu . V = d . r_pi, and expected_sum(z, f) = d_z . f."""
    rng = np.random.default_rng(50 + CASES.index(case))
    mdps = make_case(case, rng)
    pi = random_policy(rng, mdps)
    z = random_policy(rng, mdps)
    V_ref, _, d_pi = dense_reference(mdps, pi)
    _, _, d_z = dense_reference(mdps, z)
    J = ev.expected_return(mdps, pi)
    assert J.shape == (mdps.B,)
    np.testing.assert_allclose(J, np.einsum("bs,bs->b", d_pi, mdps.reward_pi(pi)), rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(J, np.einsum("bs,bs->b", mdps.initial, V_ref), rtol=0, atol=EXACT_ATOL)
    f = rng.normal(size=(mdps.B, mdps.S))
    Ez = ev.expected_sum(mdps, z, f)
    np.testing.assert_allclose(Ez, np.einsum("bs,bs->b", d_z, f), rtol=0, atol=EXACT_ATOL)
    # the trajectories are those of z, not of pi
    assert np.abs(Ez - np.einsum("bs,bs->b", d_pi, f)).max() > 1e-6


def test_input_shapes_checked():
    rng = np.random.default_rng(60)
    mdps = make_case("dense_g1", rng)
    pi = random_policy(rng, mdps)
    with pytest.raises(ValueError, match="f must be float"):
        ev.expected_sum(mdps, pi, np.zeros((mdps.S, mdps.B)))
    with pytest.raises(ValueError, match="initial must be float"):
        ev.state_visitation(mdps, pi, initial=np.ones(mdps.S) / mdps.S)
    with pytest.raises(ValueError, match="pi rows must sum to 1"):
        ev.factorise(mdps, pi * 0.5)
    with pytest.raises(ValueError, match="pi must be float"):
        ev.expected_return(mdps, pi[:, :, :-1])


# ------------------------------------------------------------ Monte Carlo
def rollout(mdps: TabularMDPs, b: int, pi: np.ndarray, rng: np.random.Generator, max_steps: int = 100_000):
    """One episode of MDP b under pi: (discounted return, discounted visit counts)."""
    op = mdps.outcome_prob
    visits = np.zeros(mdps.S)
    ret = 0.0
    disc = 1.0
    s = int(np.searchsorted(np.cumsum(mdps.initial[b]), rng.random(), side="right"))
    for _ in range(max_steps):
        visits[s] += disc
        a = int(np.searchsorted(np.cumsum(pi[b, s]), rng.random(), side="right"))
        probs = op[b if op.shape[0] > 1 else 0, s if op.shape[1] > 1 else 0, a]
        k = int(np.searchsorted(np.cumsum(probs), rng.random(), side="right"))
        k = min(k, mdps.K - 1)  # guards a cumsum that ends at 1 - 1e-16
        reward = mdps.outcome_reward[b, s, k]
        if mdps.action_reward is not None:
            reward += mdps.action_reward[b, s, a]
        ret += disc * reward
        if rng.random() >= mdps.outcome_continue[b, s, k]:
            return ret, visits
        s = int(mdps.next_state[b, s, k])
        disc *= mdps.gamma
    raise AssertionError("episode did not end")


MC_MIN_HITS = 50  # below this many non-zero samples the sample standard error is not trusted


def assert_within_mc_bound(samples: np.ndarray, exact: np.ndarray) -> None:
    """samples: float[N, ...]; |mean - exact| < MC_SIGMAS standard errors + MC_EPS, elementwise."""
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    err = np.abs(mean - exact)
    bound = MC_SIGMAS * se + MC_EPS
    assert np.all(err < bound), f"MC error {err} exceeds bound {bound}"


def assert_visits_within_mc_bound(visits: np.ndarray, d: np.ndarray) -> None:
    """Visit counts float[N, S] against d float[S].

    A state reached in only a handful of episodes has a meaningless sample
    standard error (CLT does not apply yet), so states with fewer than
    MC_MIN_HITS episodes visiting them are pooled into one column; never-visited
    states must then have tiny exact visitation. Episode length (the sum) is
    checked too.
    """
    hits = (visits > 0).sum(axis=0)
    frequent = hits >= MC_MIN_HITS
    assert frequent.sum() >= 3, "too few well-sampled states for a meaningful check"
    assert_within_mc_bound(visits[:, frequent], d[frequent])
    rare = ~frequent
    if rare.any():
        pooled = visits[:, rare].sum(axis=1)
        if (pooled > 0).sum() >= MC_MIN_HITS:
            assert_within_mc_bound(pooled, d[rare].sum())
        else:  # seldom seen: the exact mass must be small too (< MC_MIN_HITS / N visits on average)
            assert d[rare].sum() < 2 * MC_MIN_HITS / len(visits)
    assert_within_mc_bound(visits.sum(axis=1), d.sum())


@pytest.mark.parametrize(
    "case, n_episodes",
    [
        ("dense_g1", 4000),
        ("dense_g09", 4000),
        ("outcome_form", 4000),
        ("grid_reset_A4", 1500),
        ("grid_end_A7_g095", 1500),
    ],
)
def test_monte_carlo_agrees_with_exact(case, n_episodes):
    rng = np.random.default_rng(70 + CASES.index(case))
    mdps = make_case(case, rng)
    if mdps.grid_shape is not None:
        # shorter episodes keep the sampler fast; both terminal modes stay covered
        mdps = random_grid_worlds(
            rng,
            2,
            GridConfig(rows=6, cols=6, stop_prob=0.05, terminal_mode="reset" if "reset" in case else "end",
                       n_actions=mdps.A, gamma=mdps.gamma, p_goal=0.15, p_pit=0.05),
        )
    pi = random_policy(rng, mdps)
    V = ev.state_values(mdps, pi)
    d = ev.state_visitation(mdps, pi)
    J = ev.expected_return(mdps, pi)
    sampler = np.random.default_rng(1000 + CASES.index(case))
    b = 0
    draws = [rollout(mdps, b, pi, sampler) for _ in range(n_episodes)]
    returns = np.array([g for g, _ in draws])
    visits = np.array([v for _, v in draws])
    assert_within_mc_bound(returns, J[b])
    assert_visits_within_mc_bound(visits, d[b])
    if mdps.initial[b].max() == 1.0:  # single start state: J is V at that state
        np.testing.assert_allclose(J[b], V[b, mdps.initial[b].argmax()], rtol=0, atol=EXACT_ATOL)
    # the bound is informative: returns vary and the exact value is not ~0 by accident
    assert returns.std() > 0 and np.abs(J[b]) > 4 * returns.std() / np.sqrt(n_episodes) * 0.25


def test_monte_carlo_values_from_every_start_state():
    """V(s) for each start s of a small dense MDP, by rollouts started in s."""
    rng = np.random.default_rng(80)
    mdps = random_dense_mdps(rng, 2, 4, 3, gamma=1.0)
    pi = random_policy(rng, mdps)
    V = ev.state_values(mdps, pi)
    sampler = np.random.default_rng(81)
    for s in range(mdps.S):
        init = np.zeros((mdps.B, mdps.S))
        init[:, s] = 1.0
        m = TabularMDPs(
            initial=init, next_state=mdps.next_state, outcome_prob=mdps.outcome_prob,
            outcome_reward=mdps.outcome_reward, outcome_continue=mdps.outcome_continue,
            gamma=mdps.gamma, action_reward=mdps.action_reward,
        )
        returns = np.array([rollout(m, 1, pi, sampler)[0] for _ in range(2000)])
        assert_within_mc_bound(returns, V[1, s])


# ------------------------------------------------------------------ chain
def gamblers_ruin_value(i: int, T: int, p: float) -> float:
    """V at position i of the 2T-corridor for 'right with probability p' (gamma = 1)."""
    if p == 0.5:
        hit_right = i / (2 * T)
    else:
        r = (1 - p) / p
        hit_right = (1 - r**i) / (1 - r ** (2 * T))
    return 2 * hit_right - 1


@pytest.mark.parametrize("T", [1, 2, 5, 8])
def test_chain_optimal_policy_value(T):
    m = chain(T)
    right = np.zeros((1, m.S, 2))
    right[..., 1] = 1.0
    V = ev.state_values(m, right)
    np.testing.assert_allclose(V[0, T], 1.0, rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(V[0, 1 : 2 * T], 1.0, rtol=0, atol=EXACT_ATOL)
    left = 1.0 - right
    np.testing.assert_allclose(ev.state_values(m, left)[0, T], -1.0, rtol=0, atol=EXACT_ATOL)
    # expected visits: one visit to each state between the middle and the right end
    d = ev.state_visitation(m, right)
    expected = np.zeros(m.S)
    expected[T : 2 * T] = 1.0
    np.testing.assert_allclose(d[0], expected, rtol=0, atol=EXACT_ATOL)


@pytest.mark.parametrize("T", [1, 3, 5, 8])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.55, 0.8])
def test_chain_gamblers_ruin(T, p):
    m = chain(T)
    pi = np.zeros((1, m.S, 2))
    pi[..., 1] = p
    pi[..., 0] = 1 - p
    V = ev.state_values(m, pi)
    np.testing.assert_allclose(V[0, T], gamblers_ruin_value(T, T, p), rtol=0, atol=EXACT_ATOL)
    for i in range(1, 2 * T):
        np.testing.assert_allclose(V[0, i], gamblers_ruin_value(i, T, p), rtol=0, atol=EXACT_ATOL)
    np.testing.assert_allclose(ev.expected_return(m, pi)[0], gamblers_ruin_value(T, T, p), rtol=0, atol=EXACT_ATOL)


@pytest.mark.parametrize("T", [2, 5])
def test_chain_discounted_optimal_value(T):
    gamma = 0.9
    m = chain(T, gamma=gamma)
    V, Q, pi = ev.optimal_values(m)
    s = np.arange(1, 2 * T)
    # always right reaches the +1 end after 2T - s steps; the reward comes on the last one
    np.testing.assert_allclose(V[0, s], gamma ** (2 * T - s - 1), rtol=0, atol=EXACT_ATOL)
    np.testing.assert_array_equal(pi[0, s, 1], 1.0)


def test_improper_policy_with_gamma_one_raises():
    T = 3
    m = chain(T)
    # left in even states, right in odd ones: 1 <-> 2 and 3 <-> 4 ... never end
    pi = np.zeros((1, m.S, 2))
    pi[0, :, 0] = np.arange(m.S) % 2 == 0
    pi[0, :, 1] = 1 - pi[0, :, 0]
    with pytest.raises(ValueError, match="improper"):
        ev.factorise(m, pi)
    with pytest.raises(ValueError, match="improper"):
        ev.state_values(m, pi)
    # with discounting the same policy is fine: it earns nothing
    m_disc = chain(T, gamma=0.9)
    V = ev.state_values(m_disc, pi)
    np.testing.assert_allclose(V[0, 2 : 2 * T - 1], 0.0, atol=EXACT_ATOL)


def test_improper_stochastic_policy_with_gamma_one_raises():
    rng = np.random.default_rng(1)
    S = 4
    P = np.zeros((1, S, 2, S))
    P[0, :, 0, :] = rng.dirichlet(np.ones(S), size=S)  # action 0: a closed stochastic class, no exit
    P[0, :, 1, :] = 0.5 * rng.dirichlet(np.ones(S), size=S)
    m = from_dense(P, np.ones((1, S, 2)), np.eye(S)[None, 0])
    pi = np.zeros((1, S, 2))
    pi[..., 0] = 1.0
    try:
        ev.factorise(m, pi)
    except ValueError:
        return
    raise AssertionError("factorise accepted an improper policy with gamma = 1")


# ---------------------------------------------------------------- optimal
def test_greedy_policy_breaks_ties_to_first_action():
    Q = np.array([[[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 5.0, 5.0]]])
    pi = ev.greedy_policy(Q)
    expected = np.zeros_like(Q)
    expected[0, [0, 1, 2], [1, 0, 2]] = 1.0
    np.testing.assert_array_equal(pi, expected)


@pytest.mark.parametrize(
    "case", ["dense_g1", "dense_g09", "outcome_form", "grid_end_A4", "grid_reset_A4", "grid_end_A7_g095", "chain"]
)
def test_optimal_values_match_value_iteration(case):
    rng = np.random.default_rng(90)
    mdps = chain(5) if case == "chain" else make_case(case, rng)
    V_star, Q_star, pi_star = ev.optimal_values(mdps)
    V_vi, Q_vi = ev.value_iteration(mdps, tol=1e-12)
    np.testing.assert_allclose(V_star, V_vi, rtol=0, atol=1e-8)
    np.testing.assert_allclose(Q_star, Q_vi, rtol=0, atol=1e-8)
    # pi* is deterministic, greedy in Q*, and its own exact value is V*
    assert np.all(pi_star.max(-1) == 1.0) and np.all(pi_star.sum(-1) == 1.0)
    np.testing.assert_allclose(np.einsum("bsa,bsa->bs", pi_star, Q_star), Q_star.max(-1), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ev.state_values(mdps, pi_star), V_star, rtol=0, atol=EXACT_ATOL)
    # no random policy beats it in any state
    for _ in range(3):
        V_rand = ev.state_values(mdps, random_policy(rng, mdps))
        assert np.all(V_rand <= V_star + 1e-9)


def test_value_iteration_reports_non_convergence():
    with pytest.raises(RuntimeError, match="did not converge"):
        ev.value_iteration(chain(5), max_iter=2)
