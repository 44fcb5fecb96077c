"""Tests for the band LU (``policy_distillation.banded``) behind ``evaluation.factorise``.

Reference: one plain ``numpy.linalg.solve`` per MDP on the dense ``I - gamma P_pi``
built from ``to_dense()``. Agreement is relative: |x - x_ref| <= RTOL * (|x_ref| + max|x_ref|)
elementwise, RTOL = 1e-10.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from policy_distillation import banded
from policy_distillation import evaluation as ev
from policy_distillation.environments import GridConfig, chain, random_grid_worlds
from policy_distillation.mdp import TabularMDPs, from_dense

RTOL = 1e-10


def dense_solves(mdps: TabularMDPs, pi: np.ndarray, r: np.ndarray, mu: np.ndarray, gamma: float | None = None):
    """x = M^-1 r and d = M^-T mu with M = I - gamma P_pi, one dense solve per MDP."""
    g = mdps.gamma if gamma is None else gamma
    P, _ = mdps.to_dense()
    x = np.empty((mdps.B, mdps.S))
    d = np.empty((mdps.B, mdps.S))
    for b in range(mdps.B):
        M = np.eye(mdps.S) - g * np.einsum("sa,sat->st", pi[b], P[b])
        x[b] = np.linalg.solve(M, r[b])
        d[b] = np.linalg.solve(M.T, mu[b])
    return x, d


def assert_close(x: np.ndarray, ref: np.ndarray) -> None:
    np.testing.assert_allclose(x, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


def check_against_dense(mdps: TabularMDPs, pi: np.ndarray, gamma: float | None = None, seed: int = 0):
    """Banded factorise + both solves (r_pi / mu and random right-hand sides) vs the dense reference."""
    rng = np.random.default_rng(seed)
    fact = ev.factorise_banded(mdps, pi, gamma)
    assert isinstance(fact, ev.BandedFactorisation)
    for r, mu in [(mdps.reward_pi(pi), mdps.initial), (rng.normal(size=(mdps.B, mdps.S)),) * 2]:
        x_ref, d_ref = dense_solves(mdps, pi, r, mu, gamma)
        assert_close(fact.solve_values(r), x_ref)
        assert_close(fact.solve_visitation(mu), d_ref)
    return fact


def random_policy(rng, mdps):
    return rng.dirichlet(np.ones(mdps.A), size=(mdps.B, mdps.S))


# ------------------------------------------------------------- grid worlds
@pytest.mark.parametrize("mode", ["end", "reset"])
@pytest.mark.parametrize("eta", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("p_wall", [0.0, 0.3])
def test_grid_worlds_match_dense(mode, eta, p_wall):
    rng = np.random.default_rng(int(eta * 10) + (mode == "reset") * 100 + int(p_wall * 1000))
    cfg = GridConfig(rows=7, cols=5, eta=eta, p_wall=p_wall, p_goal=0.15, p_pit=0.05, terminal_mode=mode, n_actions=6)
    mdps = random_grid_worlds(rng, 4, cfg)
    fact = check_against_dense(mdps, random_policy(rng, mdps))
    f = fact.factors
    assert f.kl <= cfg.cols and f.ku <= cfg.cols  # the band is the grid's, never widened by the reset column


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_grid_worlds_default_size_and_discount(gamma):
    rng = np.random.default_rng(3)
    mdps = random_grid_worlds(rng, 3, GridConfig(gamma=gamma))
    f = check_against_dense(mdps, random_policy(rng, mdps)).factors
    assert (f.kl, f.ku, f.Z.shape[1]) == (20, 20, 0)


def test_reset_mode_uses_woodbury_on_the_centre_column():
    rng = np.random.default_rng(4)
    cfg = GridConfig(terminal_mode="reset", p_goal=0.1)
    mdps = random_grid_worlds(rng, 5, cfg)
    fact = check_against_dense(mdps, random_policy(rng, mdps))
    f = fact.factors
    assert (f.kl, f.ku) == (cfg.cols, cfg.cols)
    centre = (cfg.rows // 2) * cfg.cols + cfg.cols // 2
    assert f.Z.shape[1] == 1 and np.all(f.n_far == 1) and np.all(f.far[:, 0] == centre)
    # the Woodbury term matters: the band alone gives different values
    r = mdps.reward_pi(random_policy(rng, mdps))
    band_only = banded.solve_values(f._replace(n_far=np.zeros_like(f.n_far)), r)
    assert np.abs(band_only - fact.solve_values(r)).max() > 1e-3


def test_several_far_columns_per_mdp():
    """A band of width 1 plus hub states every state may jump to (a different number per MDP)."""
    rng = np.random.default_rng(5)
    B, S, A = 3, 60, 3
    hubs = [[0, 30, 59], [45], []]
    K = 3
    nxt = np.empty((B, S, K), dtype=np.int64)
    s = np.arange(S)
    nxt[:, :, 0] = np.maximum(s - 1, 0)
    nxt[:, :, 1] = np.minimum(s + 1, S - 1)
    for b in range(B):
        nxt[b, :, 2] = rng.choice(hubs[b], size=S) if hubs[b] else s
    mdps = TabularMDPs(
        initial=rng.dirichlet(np.ones(S), size=B), next_state=nxt,
        outcome_prob=rng.dirichlet(np.ones(K), size=(B, S, A)), outcome_reward=rng.normal(size=(B, S, K)),
        outcome_continue=np.full((B, S, K), 0.97),
    )
    f = check_against_dense(mdps, random_policy(rng, mdps)).factors
    assert (f.kl, f.ku) == (1, 1)
    assert list(f.n_far) == [3, 1, 0]
    assert sorted(f.far[0]) == [0, 30, 59] and f.far[1, 0] == 45


# ------------------------------------------------------------------ chains
@pytest.mark.parametrize("T", [1, 3, 8])
@pytest.mark.parametrize("stop_prob, gamma", [(0.0, 1.0), (0.1, 1.0), (0.0, 0.9)])
def test_chains_match_dense(T, stop_prob, gamma):
    rng = np.random.default_rng(T)
    m = chain(T, gamma=gamma, stop_prob=stop_prob)
    pi = np.zeros((1, m.S, 2))
    pi[..., 1] = rng.uniform(0.2, 0.8, size=m.S)
    pi[..., 0] = 1 - pi[..., 1]
    f = check_against_dense(m, pi).factors
    assert max(f.kl, f.ku) <= 1  # (T = 1: a diagonal band and one Woodbury column is cheaper)


# ------------------------------------------------------------ dense MDPs
def random_dense(rng, B, S, A, gamma):
    w = rng.dirichlet(np.ones(S + 1), size=(B, S, A))
    w[..., S] += rng.uniform(0.1, 0.5, size=(B, S, A))
    w /= w.sum(-1, keepdims=True)
    return from_dense(w[..., :S], rng.normal(size=(B, S, A)), rng.dirichlet(np.ones(S), size=B), gamma=gamma)


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_dense_mdps_match_dense(B, gamma):
    rng = np.random.default_rng(10 * B + int(gamma * 10))
    mdps = random_dense(rng, B, 9, 4, gamma)
    f = check_against_dense(mdps, random_policy(rng, mdps)).factors
    assert (f.kl, f.ku) == (8, 8)


def test_outcome_form_with_action_rewards_and_gamma_override():
    rng = np.random.default_rng(11)
    B, S, A, K = 3, 8, 5, 6
    mdps = TabularMDPs(
        initial=rng.dirichlet(np.ones(S), size=B), next_state=rng.integers(0, S, size=(B, S, K)),
        outcome_prob=rng.dirichlet(np.ones(K), size=(B, S, A)), outcome_reward=rng.normal(size=(B, S, K)),
        outcome_continue=rng.uniform(0.0, 0.8, size=(B, S, K)), action_reward=rng.normal(size=(B, S, A)),
    )
    pi = random_policy(rng, mdps)
    check_against_dense(mdps, pi)
    check_against_dense(mdps, pi, gamma=0.7)


def test_single_state_mdp():
    mdps = from_dense(np.full((1, 1, 2, 1), 0.5), np.ones((1, 1, 2)), np.ones((1, 1)))
    check_against_dense(mdps, np.full((1, 1, 2), 0.5))


def test_pivots_are_those_of_the_natural_order_sparse_lu():
    """No far columns: the band's U diagonal is splu's (so the improper test is the same)."""
    rng = np.random.default_rng(12)
    for mdps in (random_dense(rng, 2, 9, 3, 1.0), chain(4), random_grid_worlds(rng, 2, GridConfig(rows=6, cols=6))):
        pi = random_policy(rng, mdps)
        f = ev.factorise_banded(mdps, pi).factors
        lu = ev.factorise_sparse_lu(mdps, pi).lu
        np.testing.assert_allclose(f.band[:, :, f.kl].ravel(), lu.U.diagonal(), rtol=1e-12)
        np.testing.assert_allclose(f.min_pivot, np.abs(f.band[:, :, f.kl]).min(axis=1), rtol=0)


# -------------------------------------------------------- path selection
def test_factorise_picks_banded_for_grids_and_chains():
    rng = np.random.default_rng(13)
    grid = random_grid_worlds(rng, 2, GridConfig(terminal_mode="reset"))
    assert isinstance(ev.factorise(grid, random_policy(rng, grid)), ev.BandedFactorisation)
    ch = chain(5)
    assert isinstance(ev.factorise(ch, np.full((1, ch.S, 2), 0.5)), ev.BandedFactorisation)


def test_fallback_to_sparse_lu_for_wide_sparse_patterns():
    """Random sparse next states over 500 states: a band of ~500 would cost > BANDED_MAX_COST."""
    rng = np.random.default_rng(14)
    B, S, A, K = 2, 500, 3, 4
    mdps = TabularMDPs(
        initial=rng.dirichlet(np.ones(S), size=B), next_state=rng.integers(0, S, size=(B, S, K)),
        outcome_prob=rng.dirichlet(np.ones(K), size=(B, S, A)), outcome_reward=rng.normal(size=(B, S, K)),
        outcome_continue=np.full((B, S, K), 0.9),
    )
    pi = random_policy(rng, mdps)
    assert ev.factorise_banded(mdps, pi, max_cost=ev.BANDED_MAX_COST) is None
    fact = ev.factorise(mdps, pi)
    assert isinstance(fact, ev.SparseLUFactorisation)
    x_ref, d_ref = dense_solves(mdps, pi, mdps.reward_pi(pi), mdps.initial)
    assert_close(fact.solve_values(mdps.reward_pi(pi)), x_ref)
    assert_close(fact.solve_visitation(mdps.initial), d_ref)
    # forced, the band LU still agrees (its band is the whole matrix)
    check_against_dense(mdps, pi)


def test_too_many_far_columns_widen_the_band():
    """More far columns than MAX_FAR_COLUMNS: the band grows to hold them instead."""
    rng = np.random.default_rng(15)
    S, K = 80, 3
    hubs = np.arange(0, S, S // (banded.MAX_FAR_COLUMNS + 2))[: banded.MAX_FAR_COLUMNS + 1]
    s = np.arange(S)
    nxt = np.stack([np.maximum(s - 1, 0), np.minimum(s + 1, S - 1), hubs[s % len(hubs)]], axis=-1)[None]
    mdps = TabularMDPs(
        initial=np.full((1, S), 1 / S), next_state=nxt, outcome_prob=rng.dirichlet(np.ones(K), size=(1, S, 2)),
        outcome_reward=rng.normal(size=(1, S, K)), outcome_continue=np.full((1, S, K), 0.95),
    )
    f = check_against_dense(mdps, random_policy(rng, mdps)).factors
    assert f.Z.shape[1] <= banded.MAX_FAR_COLUMNS and f.kl > 1


def test_no_far_columns_when_a_policy_may_be_improper():
    """gamma = 1 and certain continuation: everything stays in the band (pivots = splu's)."""
    rng = np.random.default_rng(16)
    S = 30
    s = np.arange(S)
    nxt = np.stack([np.maximum(s - 1, 0), np.where(s == S - 1, 0, s + 1), np.full(S, S - 1)], axis=-1)[None]
    cont = np.ones((1, S, 3))
    cont[0, S - 1, 2] = 0.0  # the hub ends the episode
    mdps = TabularMDPs(
        initial=np.full((1, S), 1 / S), next_state=nxt, outcome_prob=np.full((1, 1, 2, 3), 1 / 3),
        outcome_reward=rng.normal(size=(1, S, 3)), outcome_continue=cont,
    )
    f = check_against_dense(mdps, np.full((1, S, 2), 0.5)).factors
    assert f.Z.shape[1] == 0 and f.ku == S - 1
    # with gamma < 1 the same pattern uses the Woodbury columns
    f = check_against_dense(mdps, np.full((1, S, 2), 0.5), gamma=0.95).factors
    assert f.Z.shape[1] >= 1 and f.ku < S - 1


# ---------------------------------------------------------------- improper
def two_state_loop(leave: float) -> TabularMDPs:
    """0 <-> 1 with certain continuation; action 1 ends the episode with probability ``leave``."""
    P = np.zeros((1, 2, 2, 2))
    P[0, 0, :, 1] = 1.0
    P[0, 1, :, 0] = 1.0
    P[0, :, 1] *= 1.0 - leave
    return from_dense(P, np.ones((1, 2, 2)), np.array([[1.0, 0.0]]))


def test_improper_policy_raises_like_sparse_lu():
    m = two_state_loop(0.5)
    loop = np.zeros((1, 2, 2))
    loop[..., 0] = 1.0  # never ends
    for fn in (ev.factorise, ev.factorise_banded, ev.factorise_sparse_lu):
        with pytest.raises(ValueError, match="improper policy with gamma = 1"):
            fn(m, loop)
    # near-improper: pivot 1 - (1 - 1e-12) < 1e-10 raises on both paths, 1e-6 does not
    tiny = np.zeros((1, 2, 2))
    tiny[..., 1] = 1e-12 / 0.5
    tiny[..., 0] = 1 - tiny[..., 1]
    for fn in (ev.factorise_banded, ev.factorise_sparse_lu):
        with pytest.raises(ValueError, match="improper"):
            fn(m, tiny)
    ok = np.zeros((1, 2, 2))
    ok[..., 1] = 1e-6 / 0.5
    ok[..., 0] = 1 - ok[..., 1]
    x_ref, d_ref = dense_solves(m, ok, m.reward_pi(ok), m.initial)
    for fn in (ev.factorise_banded, ev.factorise_sparse_lu):
        fact = fn(m, ok)
        np.testing.assert_allclose(fact.solve_values(m.reward_pi(ok)), x_ref, rtol=1e-6)  # cond(M) ~ 1e6
        np.testing.assert_allclose(fact.solve_visitation(m.initial), d_ref, rtol=1e-6)
    # discounted, the looping policy is fine
    check_against_dense(m, loop, gamma=0.9)


def test_improper_chain_policy_raises():
    m = chain(4)  # stop_prob 0
    pi = np.zeros((1, m.S, 2))
    pi[0, :, 0] = np.arange(m.S) % 2 == 0  # left in even states, right in odd: 1 <-> 2, 3 <-> 4, ...
    pi[0, :, 1] = 1 - pi[0, :, 0]
    with pytest.raises(ValueError, match="improper"):
        ev.factorise_banded(m, pi)


# -------------------------------------------------------------- validation
def test_input_validation():
    rng = np.random.default_rng(17)
    mdps = random_grid_worlds(rng, 2, GridConfig(rows=4, cols=4))
    pi = random_policy(rng, mdps)
    fact = ev.factorise(mdps, pi)
    for bad in (np.zeros(mdps.B * mdps.S), np.zeros((mdps.S, mdps.B)), np.zeros((mdps.B, mdps.S + 1))):
        with pytest.raises(ValueError, match=r"r must be float\[B, S\]"):
            fact.solve_values(bad)
        with pytest.raises(ValueError, match=r"mu must be float\[B, S\]"):
            fact.solve_visitation(bad)
    with pytest.raises(ValueError, match="pi must be float"):
        ev.factorise_banded(mdps, pi[:, :, :2])
    w = mdps.outcome_marginal(pi) * mdps.outcome_continue
    with pytest.raises(ValueError, match="one non-empty shape"):
        banded.factorise_outcomes(mdps.next_state, w[:, :, :-1], 1.0)
    with pytest.raises(ValueError, match="max_far"):
        banded.factorise_outcomes(mdps.next_state, w, 1.0, max_far=-1)
    with pytest.raises(ValueError, match="outside"):
        banded.factorise_outcomes(mdps.next_state + mdps.S, w, 1.0)
    with pytest.raises(ValueError, match="right-hand side"):
        banded.solve_values(fact.factors, np.zeros((1, mdps.S)))


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    rng = np.random.default_rng(18)
    mdps = random_grid_worlds(rng, 9, GridConfig(terminal_mode="reset"))
    pi = random_policy(rng, mdps)
    monkeypatch.setattr(banded, "PARALLEL_MIN_WORK", 0)  # small as it is, run it on every thread
    before = numba.get_num_threads()
    out = []
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            f = ev.factorise(mdps, pi)
            out.append((f.solve_values(mdps.reward_pi(pi)), f.solve_visitation(mdps.initial)))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(out[0], out[-1]):
        np.testing.assert_array_equal(a, b)


def test_small_kernels_run_on_one_thread(monkeypatch):
    seen = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (seen.append(n), real(n)))
    before = numba.get_num_threads()
    try:
        real(2 if numba.config.NUMBA_NUM_THREADS >= 2 else 1)
        mdps = chain(5)
        ev.factorise(mdps, np.full((1, mdps.S, 2), 0.5)).solve_values(mdps.initial)
        assert seen[::2] == [1, 1]  # the factorisation and the solve ran on one thread
        assert numba.get_num_threads() == (2 if numba.config.NUMBA_NUM_THREADS >= 2 else 1)  # restored
    finally:
        real(before)


# ---------------------------------------------------------------- at scale
def test_thousand_grid_worlds_match_sparse_lu():
    """The benchmark's setting, 1000 worlds x 400 states, both terminal modes."""
    rng = np.random.default_rng(19)
    for mode in ("end", "reset"):
        mdps = random_grid_worlds(rng, 1000, GridConfig(terminal_mode=mode))
        pi = random_policy(rng, mdps)
        r = mdps.reward_pi(pi)
        fb = ev.factorise(mdps, pi)
        fs = ev.factorise_sparse_lu(mdps, pi)
        assert isinstance(fb, ev.BandedFactorisation)
        assert_close(fb.solve_values(r), fs.solve_values(r))
        assert_close(fb.solve_visitation(mdps.initial), fs.solve_visitation(mdps.initial))
