"""Sampled estimator of Eq. (1): unbiasedness against the exact update, equality
with a plain per-MDP loop fed the same draws, determinism, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as E
from policy_distillation import evaluation as ev
from policy_distillation import methods as M
from policy_distillation.exact import expected_update
from policy_distillation.mdp import TabularMDPs, from_dense
from policy_distillation import sampled as S_
from policy_distillation.policies import softmax
from policy_distillation.sampled import (
    ArrayDraws,
    SampledEstimator,
    _RowContext,
    geometric_length,
    sampled_update,
)

METHODS = sorted(M.REGISTRY)


# ------------------------------------------------------------------ fixtures
def random_dense(rng: np.random.Generator, B: int, S: int = 4, A: int = 3, end: float = 0.3) -> TabularMDPs:
    P = rng.random((B, S, A, S)) ** 3
    P = P / P.sum(-1, keepdims=True) * (1 - end)
    R = rng.normal(size=(B, S, A))
    init = rng.random((B, S))
    return from_dense(P, R, init / init.sum(1, keepdims=True))


def small_grid(rng: np.random.Generator, B: int, A: int, stop: float = 0.1) -> TabularMDPs:
    cfg = E.GridConfig(rows=3, cols=3, p_wall=0.1, p_goal=0.15, p_pit=0.1, stop_prob=stop)
    return E.with_actions(E.random_grid_worlds(rng, B, cfg), A, cfg.eta)


def teacher_policy(rng: np.random.Generator, B: int, S: int, A: int) -> np.ndarray:
    pi = rng.random((B, S, A)) ** 2
    pi[rng.random((B, S, A)) < 0.25] = 0.0  # exact zeros (floored logs)
    pi[..., 0] += 0.05
    return pi / pi.sum(-1, keepdims=True)


def setup(mdps: TabularMDPs, rng: np.random.Generator):
    B, S, A = mdps.B, mdps.S, mdps.A
    pi = teacher_policy(rng, B, S, A)
    logits = rng.normal(size=(B, S, A))
    teacher = M.Teacher(pi=pi, value=ev.state_values(mdps, pi))
    return teacher, logits, ev.state_values(mdps, softmax(logits))


def replicate(mdps: TabularMDPs, copies: int) -> TabularMDPs:
    return mdps.subset(np.repeat(np.arange(mdps.B), copies))


# ------------------------------------------------- unbiasedness (all methods)
@pytest.fixture(scope="module")
def conformance_cases():
    rng = np.random.default_rng(7)
    cases = {}
    for kind, mdps in (("dense", random_dense(rng, 2)), ("grid_a6", small_grid(rng, 2, A=6))):
        teacher, logits, v_student = setup(mdps, rng)
        cases[kind] = (mdps, teacher, logits, v_student)
    return cases


@pytest.mark.parametrize("kind", ["dense", "grid_a6"])
@pytest.mark.parametrize("name", METHODS)
def test_mean_matches_exact_update(conformance_cases, kind, name):
    """|mean - exact| <= 5 standard errors + 1e-3, elementwise, over 240 independent draws
    (independent copies of each MDP in one batch; each draw averages N = 10 trajectories)."""
    mdps, teacher, logits, v_student = conformance_cases[kind]
    method = M.get_method(name)
    ctx = M.DistillContext(mdps, teacher.pi, logits, teacher.value, v_student)
    exact = expected_update(method, ctx)
    copies = 240
    big = replicate(mdps, copies)
    rep = lambda x: np.repeat(x, copies, axis=0)  # noqa: E731
    big_teacher = M.Teacher(pi=rep(teacher.pi), value=rep(teacher.value))
    est = SampledEstimator(big, big_teacher, method, n_trajectories=10)
    G, _ = est.update(rep(logits), np.random.default_rng(123), student_value=rep(v_student))
    G = G.reshape(mdps.B, copies, mdps.S, mdps.A)
    mean = G.mean(axis=1)
    se = G.std(axis=1, ddof=1) / np.sqrt(copies)
    err = np.abs(mean - exact)
    bound = 5 * se + 1e-3
    assert np.all(err <= bound), f"{name}/{kind}: max excess {np.max(err - bound):.3g}"
    assert np.abs(exact).max() > 0


# ------------------------------------------- equality with a plain loop (all)
def reference_update(mdps, teacher, method, logits, draws, N, student_value):
    """Plain per-MDP, per-trajectory loop over the same draws (the obvious algorithm)."""
    ctx = M.DistillContext(mdps, teacher.pi, logits, teacher.value, student_value)
    q = method.control_policy(ctx)
    pi = ctx.student_pi
    B, S, A, K = mdps.B, mdps.S, mdps.A, mdps.K
    op = np.broadcast_to(mdps.outcome_prob, (B, S, A, K))
    ar = mdps.action_reward if mdps.action_reward is not None else np.zeros((B, S, A))
    cvals = np.unique(mdps.outcome_continue[mdps.outcome_continue > 0])
    c0 = cvals[0] if cvals.size == 1 and cvals[0] < 1 else None
    one_hot = np.all((mdps.initial == 0) | (mdps.initial == 1))
    grad_l = method.state_loss(ctx)[1] if method.state_loss else np.zeros((B, S, A))
    part = lambda f: f(ctx) if f is not None else None  # noqa: E731
    r_sa, r_s, r_ns, r_nsa, boot = (part(method.reward_sa), part(method.reward_state),
                                    part(method.reward_next_state), part(method.reward_next_sa),
                                    part(method.bootstrap))
    G = np.zeros((B, S, A))
    for b in range(B):
        for n in range(N):
            i = b * N + n
            if one_hot:
                s = int(np.argmax(mdps.initial[b]))
            else:
                cum = np.cumsum(mdps.initial[b])
                s = min(int(np.sum(cum[:-1] <= draws.initial_u[i] * cum[-1])), S - 1)
            L = int(geometric_length(draws.length_u[i], c0)) if c0 is not None else None
            steps, t = [], 0
            while True:
                marg = q[b, s] @ op[b, s]
                cum = np.cumsum(marg)
                cum = cum / cum[-1]
                k = int(np.sum(cum[:-1] <= draws.step_u[0, i, t]))
                a = None
                if method.has_score_term:
                    w = np.cumsum(pi[b, s] * op[b, s, :, k])
                    a = min(int(np.sum(w[:-1] <= draws.action_u[i, t] * w[-1])), A - 1)
                s2 = int(mdps.next_state[b, s, k])
                pc = mdps.outcome_continue[b, s, k]
                cont = (pc > 0 and t + 1 < L) if c0 is not None else bool(draws.step_u[1, i, t] < pc)
                steps.append((s, a, k, s2, cont))
                if not cont:
                    break
                s, t = s2, t + 1
            for s_, *_ in steps:
                G[b, s_] += grad_l[b, s_]
            if not method.has_score_term:
                continue
            rhat = []
            for j, (s_, a_, k_, s2_, c_) in enumerate(steps):
                x = 0.0
                if r_sa is not None:
                    x += r_sa[b, s_, a_]
                if r_s is not None:
                    x += r_s[b, s_]
                if method.env_reward:
                    x += mdps.outcome_reward[b, s_, k_] + ar[b, s_, a_]
                if c_ and r_ns is not None:
                    x += r_ns[b, s2_]
                if c_ and r_nsa is not None:
                    x += r_nsa[b, s2_, steps[j + 1][1]]
                rhat.append(x)
            for j, (s_, a_, k_, s2_, c_) in enumerate(steps):
                if boot is not None:
                    W = rhat[j] + (boot[b, s2_] if c_ else 0.0)
                else:
                    W = sum(rhat[j:])
                score = -pi[b, s_].copy()
                score[a_] += 1.0
                G[b, s_] -= score * W
    return G / N


def make_draws(rng, BN, T=4000):
    return ArrayDraws(initial_u=rng.random(BN), length_u=rng.random(BN), step_u=rng.random((2, BN, T)),
                      action_u=rng.random((BN, T)))


@pytest.fixture(scope="module")
def reference_cases():
    rng = np.random.default_rng(11)
    cases = {}
    for kind, mdps in (("dense", random_dense(rng, 3)), ("grid_a4", small_grid(rng, 3, A=4, stop=0.05)),
                       ("grid_a7", small_grid(rng, 3, A=7, stop=0.05))):
        cases[kind] = (mdps, *setup(mdps, rng))
    return cases


@pytest.mark.parametrize("kind", ["dense", "grid_a4", "grid_a7"])
@pytest.mark.parametrize("name", METHODS)
def test_vectorised_equals_plain_loop(reference_cases, kind, name):
    mdps, teacher, logits, v_student = reference_cases[kind]
    method = M.get_method(name)
    N = 4
    draws = make_draws(np.random.default_rng(5), mdps.B * N)
    G, trans = SampledEstimator(mdps, teacher, method, N).update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, method, logits, draws, N, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)
    assert trans.flat_state.size > mdps.B * N


@pytest.mark.parametrize("name", METHODS)
def test_blocked_action_draws_equal_plain_loop(reference_cases, monkeypatch, name):
    """Grouped MDPs draw student actions in two stages (block, then action in the
    block). Blocks of 2 actions cut the 3 no-op actions of |A| = 7 into a full
    and a partial block; the update still equals the plain loop's global inversion."""
    monkeypatch.setattr(S_, "ACTION_BLOCK", 2)
    mdps, teacher, logits, v_student = reference_cases["grid_a7"]
    est = SampledEstimator(mdps, teacher, name, 4)
    assert est._blocks.start.tolist() == [0, 1, 2, 3, 4, 6]
    draws = make_draws(np.random.default_rng(6), mdps.B * 4)
    G, trans = est.update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, M.get_method(name), logits, draws, 4, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["entropy_regularised", "expected_entropy_regularised_r", "on_policy_distill",
                                  "n_distill_r", "value_gated_r"])
def test_many_actions_equal_plain_loop(name):
    """|A| = 150 (a no-op group of 146 actions: 9 blocks of 16 and one of 2), peaked
    student logits so that draws land in many blocks; equal to the plain loop."""
    rng = np.random.default_rng(21)
    mdps = small_grid(rng, 2, A=150, stop=0.05)
    teacher, logits, v_student = setup(mdps, rng)
    logits *= 3.0
    est = SampledEstimator(mdps, teacher, name, 6)
    assert [b - a for a, b in zip(est._blocks.start, est._blocks.end)] == [1, 1, 1, 1] + [16] * 9 + [2]
    draws = make_draws(np.random.default_rng(8), mdps.B * 6)
    G, trans = est.update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, M.get_method(name), logits, draws, 6, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)
    if trans.action is not None:
        assert np.unique(np.searchsorted(est._blocks.start, trans.action, side="right")).size >= 5


def test_blocked_draw_at_the_end_of_the_table():
    """The last row's last block (2 actions) is narrower than the 16-wide windows read
    for the second stage, so its window would run past the end of the flat logits
    table; those draws still equal the global inversion of pi(a | s) P(k | s, a)."""
    rng = np.random.default_rng(31)
    mdps = small_grid(rng, 2, A=150, stop=0.05)
    teacher, logits, _ = setup(mdps, rng)
    logits[-1, -1, 148:] += 5.0  # the last block carries most of the no-op mass
    est = SampledEstimator(mdps, teacher, "entropy_regularised")
    flat = logits.reshape(-1, mdps.A)
    lse, _, bp = est._full_cache(flat)
    op = mdps.outcome_prob[0, 0]  # [A, K]
    k_noop = int(np.argmax(op[148]))
    n = 500
    F = np.full(n, flat.shape[0] - 1)
    Kk = np.where(np.arange(n) % 2 == 0, k_noop, rng.integers(0, mdps.K, n))
    u = rng.random(n)
    a = est._draw_actions_blocked(F, Kk, u, flat, lse, bp)
    pi = softmax(flat[-1])
    ref = []
    for k, uk in zip(Kk, u):
        cum = np.cumsum(pi * op[:, k])
        ref.append(min(int(np.searchsorted(cum, uk * cum[-1], side="right")), mdps.A - 1))
    np.testing.assert_array_equal(a, ref)
    assert np.count_nonzero(a >= 148) > 50  # the table-end path is exercised


def test_geometric_mode_is_used_on_grids_and_per_step_mode_on_dense(reference_cases):
    grid, teacher, *_ = reference_cases["grid_a4"]
    dense, dteacher, *_ = reference_cases["dense"]
    assert SampledEstimator(grid, teacher, "on_policy_distill").c0 == pytest.approx(0.95)
    assert SampledEstimator(dense, dteacher, "on_policy_distill").c0 is None
    assert SampledEstimator(reference_cases["grid_a7"][0], reference_cases["grid_a7"][1],
                            "entropy_regularised")._groups is not None


# ------------------------------------------------------------- row locality
@pytest.mark.parametrize("name", METHODS)
def test_method_parts_are_row_local(reference_cases, name):
    """Parts evaluated on a subset of rows equal the full-context parts at those rows."""
    mdps, teacher, logits, v_student = reference_cases["grid_a7"]
    method = M.get_method(name)
    est = SampledEstimator(mdps, teacher, method)
    rows = np.array([0, 3, 5, 9, 13, 20, 26])
    flat = logits.reshape(-1, mdps.A)
    lse = np.log(np.exp(flat).sum(1))
    row_ctx = _RowContext(est, rows, flat, lse[rows], v_student)
    full = M.DistillContext(mdps, teacher.pi, logits, teacher.value, v_student)
    for attr in ("state_loss",):
        f = getattr(method, attr)
        if f is not None:
            for x, y in zip(f(row_ctx), f(full)):
                np.testing.assert_allclose(x[0], y.reshape(mdps.B * mdps.S, *y.shape[2:])[rows], atol=1e-12)
    for attr in ("reward_sa", "reward_state", "reward_next_state", "reward_next_sa", "bootstrap"):
        f = getattr(method, attr)
        if f is not None:
            y = f(full)
            np.testing.assert_allclose(f(row_ctx)[0], y.reshape(mdps.B * mdps.S, *y.shape[2:])[rows], atol=1e-12)


# ------------------------------------------------------- sgd step and seeds
def _log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("case", ["grid_a7", "grid_a4"])
def test_sgd_step_equals_update_and_keeps_caches(reference_cases, case):
    """theta <- theta - lr G on the visited rows; grouped MDPs (grid_a7) store all
    rows as log-probabilities (the same policy), the others store theta - lr G."""
    mdps, teacher, logits, _ = reference_cases[case]
    for name in ("on_policy_distill", "entropy_regularised", "mixture_distill", "teacher_distill"):
        est = SampledEstimator(mdps, teacher, name, n_trajectories=3)
        assert (est._groups is not None) == (case == "grid_a7")
        theta = logits.copy()
        for step in range(4):
            before = theta.copy()
            G, _ = SampledEstimator(mdps, teacher, name, 3).update(before, np.random.default_rng(step))
            trans = est.sgd_step(theta, 0.3, np.random.default_rng(step))
            expected = before - 0.3 * G
            if est._groups is not None:
                expected = _log_softmax(expected)
                np.testing.assert_allclose(np.log(np.exp(theta).sum(-1)), 0.0, atol=1e-12)
            np.testing.assert_allclose(theta, expected, atol=1e-12)
            visited = np.zeros(mdps.B * mdps.S, bool)
            visited[trans.flat_state] = True
            np.testing.assert_array_equal(est._lse[~visited] == 0.0, est._groups is not None)
        # the incrementally maintained caches equal a recomputation
        lse, table, bp = est._full_cache(theta.reshape(-1, mdps.A))
        np.testing.assert_allclose(est._lse, lse, atol=1e-12)
        np.testing.assert_allclose(est._table, table, atol=1e-12)
        if bp is not None:
            np.testing.assert_allclose(est._bp, bp, atol=1e-12)
            np.testing.assert_allclose(bp.sum(axis=1), 1.0, atol=1e-12)


def test_log_normalise_redoes_rows_outside_the_safe_range(reference_cases):
    """Grouped sgd_step shifts updated rows to log-probabilities without the row
    maximum; rows whose normaliser would overflow or leave the normal range are
    redone with it. Every row must equal the max-shifted reference (rtol 1e-14)."""
    mdps, teacher, _, _ = reference_cases["grid_a7"]
    est = SampledEstimator(mdps, teacher, "entropy_regularised")
    rng = np.random.default_rng(3)
    base = rng.normal(size=(7, mdps.A))
    # row 1 overflows, row 2 underflows to z = 0, row 3 has z in the normal range but below 1e-200
    # and one subnormal entry (set below); rows 4 and 5 lie within the safe range
    x = base + np.array([0.0, 800.0, -800.0, -705.0, 440.0, -440.0, 3.0])[:, None]
    x[3, 1] = -740.0  # exp = 4e-322, subnormal (2 significant digits); its block probability is ~6e-16
    x[6, 2] = -1000.0  # one entry far below the rest: underflows in both versions
    lse_ref, bsum_ref, z_ref = est._row_stats(x.copy())
    y = x.copy()
    lse, bsum, z = est._log_normalise(y, out=np.empty_like(y))
    np.testing.assert_array_equal(lse, 0.0)
    np.testing.assert_allclose(y, x - lse_ref[:, None], rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(bsum / z[:, None], bsum_ref / z_ref[:, None], rtol=1e-13, atol=1e-300)
    bad = x.copy()
    bad[0, 1] = np.inf
    bad[1, 0] = np.nan
    lse, _, _ = est._log_normalise(bad, out=np.empty_like(bad))
    assert not np.isfinite(lse[:2]).any() and np.all(lse[2:] == 0.0)


def test_grouped_sgd_step_with_a_huge_step(reference_cases):
    """A step that pushes rows far out of the normal range (overflowing exp without
    the row maximum) still gives log_softmax(theta - lr G) and valid caches."""
    mdps, teacher, logits, _ = reference_cases["grid_a7"]
    est = SampledEstimator(mdps, teacher, "on_policy_distill", n_trajectories=3)
    theta = logits.copy()
    G, _ = SampledEstimator(mdps, teacher, "on_policy_distill", 3).update(theta, np.random.default_rng(0))
    lr = 2000.0
    assert np.abs(lr * G).max() > 710.0  # exp(log pi - lr G) overflows without the maximum
    est.sgd_step(theta, lr, np.random.default_rng(0))
    np.testing.assert_allclose(theta, _log_softmax(logits - lr * G), rtol=1e-12, atol=1e-9)
    lse, table, bp = est._full_cache(theta.reshape(-1, mdps.A))
    np.testing.assert_allclose(est._lse, lse, atol=1e-12)
    np.testing.assert_allclose(est._table, table, atol=1e-12)
    np.testing.assert_allclose(est._bp, bp, atol=1e-12)


def _run_sgd(mdps, teacher, logits, name, steps=4, student_value=None):
    est = SampledEstimator(mdps, teacher, name, n_trajectories=2)
    theta = logits.copy()
    rng = np.random.default_rng(11)
    for _ in range(steps):
        est.sgd_step(theta, 0.3, rng, student_value=student_value)
    G, _ = est.update(theta, np.random.default_rng(12), student_value=student_value)
    out = (theta, est._lse.copy(), est._table.copy(), G)
    return out if est._groups is None else out + (est._bp.copy(),)


@pytest.mark.parametrize("name", ["entropy_regularised", "expected_entropy_regularised_r", "mixture_distill",
                                  "on_policy_distill", "value_gated_r", "n_distill"])
def test_chunked_update_equals_one_pass_bit_for_bit(reference_cases, monkeypatch, name):
    """Large-A path: the update pass (pi, the loss gradient on chunk contexts with
    sliced critic values, G, the new row statistics) runs in row chunks; every
    operation is per row, so SGD steps, caches and ``update`` equal one pass."""
    mdps, teacher, logits, v_student = reference_cases["grid_a7"]
    assert SampledEstimator(mdps, teacher, name)._groups is not None
    monkeypatch.setattr(S_, "CHUNK_ELEMENTS", 1 << 30)  # one chunk
    whole = _run_sgd(mdps, teacher, logits, name, student_value=v_student)
    monkeypatch.setattr(S_, "CHUNK_ELEMENTS", 3 * mdps.A)  # three rows a chunk
    chunked = _run_sgd(mdps, teacher, logits, name, student_value=v_student)
    for x, y in zip(whole, chunked):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("name", ["entropy_regularised", "expected_entropy_regularised"])
def test_teacher_log_prob_entries_equal_full_rows(reference_cases, monkeypatch, name):
    """The entrywise read of log pi(a | s) gives the same update as gathering full rows."""
    mdps, teacher, logits, _ = reference_cases["grid_a7"]
    fast = _run_sgd(mdps, teacher, logits, name)
    monkeypatch.setattr(SampledEstimator, "_sa_part_at", lambda self, part, ctx, r, a: part(ctx)[0][r, a])
    slow = _run_sgd(mdps, teacher, logits, name)
    for x, y in zip(fast, slow):
        assert np.array_equal(x, y)


def test_seeded_determinism_and_shapes(reference_cases):
    mdps, teacher, logits, v = reference_cases["dense"]
    a = sampled_update(mdps, teacher, "n_distill_r", logits, np.random.default_rng(3), n_trajectories=2)
    b = sampled_update(mdps, teacher, "n_distill_r", logits, np.random.default_rng(3), n_trajectories=2)
    c = sampled_update(mdps, teacher, "n_distill_r", logits, np.random.default_rng(4), n_trajectories=2)
    assert a.shape == (mdps.B, mdps.S, mdps.A) and a.dtype == np.float64
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    t1 = logits.copy()
    t2 = logits.copy()
    for theta in (t1, t2):
        est = SampledEstimator(mdps, teacher, "entropy_regularised_r", 2)
        rng = np.random.default_rng(9)
        for _ in range(5):
            trans = est.sgd_step(theta, 0.1, rng)
    assert np.array_equal(t1, t2)
    M_ = trans.flat_state.size
    for x in (trans.traj, trans.time, trans.mdp, trans.state, trans.outcome, trans.action, trans.reward, trans.cont):
        assert x.shape == (M_,)


def test_sgd_step_touches_only_visited_rows(reference_cases):
    mdps, teacher, logits, _ = reference_cases["grid_a4"]
    theta = logits.copy()
    trans = SampledEstimator(mdps, teacher, "on_policy_distill").sgd_step(theta, 0.5, np.random.default_rng(0))
    changed = np.any(theta != logits, axis=-1).reshape(-1)
    visited = np.zeros(mdps.B * mdps.S, bool)
    visited[trans.flat_state] = True
    assert not np.any(changed & ~visited) and changed.any()


def test_geometric_length_law():
    u = np.random.default_rng(0).random(200_000)
    L = geometric_length(u, 0.9)
    assert L.min() == 1
    assert L.mean() == pytest.approx(10.0, rel=0.02)


# ------------------------------------------------------------------- errors
def test_errors(reference_cases):
    mdps, teacher, logits, v = reference_cases["dense"]
    rng = np.random.default_rng(0)
    est = SampledEstimator(mdps, teacher, "on_policy_distill")
    with pytest.raises(ValueError, match="float\\[B, S, A\\]"):
        est.update(logits[:, :, :2].copy(), rng)
    with pytest.raises(TypeError):
        est.update(logits.astype(np.float32), rng)
    with pytest.raises(TypeError, match="Generator"):
        est.update(logits, 0)
    bad = logits.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        est.update(bad, rng)
    with pytest.raises(ValueError, match="student_value"):
        SampledEstimator(mdps, teacher, "value_gated").update(logits, rng)
    with pytest.raises(ValueError, match="student_value must be"):
        SampledEstimator(mdps, teacher, "value_gated").update(logits, rng, student_value=v[:, :2])
    with pytest.raises(ValueError, match="teacher critic"):
        SampledEstimator(mdps, M.Teacher(pi=teacher.pi), "td_v_pi")
    with pytest.raises(ValueError, match="n_trajectories"):
        SampledEstimator(mdps, teacher, "on_policy_distill", n_trajectories=0)
    with pytest.raises(ValueError, match="unknown method"):
        SampledEstimator(mdps, teacher, "no_such_method")
    disc = from_dense(*mdps.to_dense(), mdps.initial, gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        SampledEstimator(disc, teacher, "on_policy_distill")
    with pytest.raises(ValueError, match="teacher pi"):
        SampledEstimator(mdps, M.Teacher(pi=teacher.pi * 2), "on_policy_distill")
    with pytest.raises(FloatingPointError):
        SampledEstimator(mdps, teacher, "entropy_regularised").sgd_step(logits.copy(), 1e308, rng)


# ------------------------------------------------ state baseline (unbiased)
SCORE_METHODS = sorted(n for n, m in M.REGISTRY.items() if m.has_score_term)


@pytest.mark.parametrize("name", SCORE_METHODS)
def test_baseline_keeps_the_mean_and_cuts_the_variance(conformance_cases, name):
    """With the exact pseudo-value baseline Vhat(s_t), the mean still matches the exact
    update (5 standard errors + 1e-3) and the total variance over draws does not grow."""
    from policy_distillation.training import pseudo_value

    mdps, teacher, logits, v_student = conformance_cases["dense"]
    method = M.get_method(name)
    exact = expected_update(method, M.DistillContext(mdps, teacher.pi, logits, teacher.value, v_student))
    copies = 240
    big = replicate(mdps, copies)
    rep = lambda x: np.repeat(x, copies, axis=0)  # noqa: E731
    big_teacher = M.Teacher(pi=rep(teacher.pi), value=rep(teacher.value))
    base = pseudo_value(method, big, big_teacher, rep(logits), rep(v_student))
    draws = {}
    for label, b in (("none", None), ("baseline", base)):
        est = SampledEstimator(big, big_teacher, method, n_trajectories=10)
        G, _ = est.update(rep(logits), np.random.default_rng(7), student_value=rep(v_student), baseline=b)
        draws[label] = G.reshape(mdps.B, copies, mdps.S, mdps.A)
    G = draws["baseline"]
    se = G.std(axis=1, ddof=1) / np.sqrt(copies)
    assert np.all(np.abs(G.mean(axis=1) - exact) <= 5 * se + 1e-3), name
    assert draws["baseline"].var(axis=1).sum() <= 1.05 * draws["none"].var(axis=1).sum(), name


def test_baseline_shape_is_checked(conformance_cases):
    mdps, teacher, logits, v_student = conformance_cases["dense"]
    est = SampledEstimator(mdps, teacher, "entropy_regularised")
    with pytest.raises(ValueError, match="baseline"):
        est.update(logits, np.random.default_rng(0), baseline=np.zeros((mdps.B, mdps.S + 1)))


def test_return_to_go_sums_each_trajectory_right_to_left():
    rng = np.random.default_rng(0)
    traj = np.repeat([0, 3, 4, 9], [5, 1, 7, 3])
    rhat = rng.normal(size=traj.size) * 1e3
    W = S_.return_to_go(rhat, traj)
    ref = np.empty_like(rhat)
    for j in range(rhat.size - 1, -1, -1):  # the recursion W_t = rhat_t + W_{t+1}, bit for bit
        ref[j] = rhat[j] + (ref[j + 1] if j + 1 < rhat.size and traj[j + 1] == traj[j] else 0.0)
    assert W.tolist() == ref.tolist()
    assert S_.return_to_go(np.zeros(0), np.zeros(0, dtype=int)).size == 0
