"""Sampled estimator of Eq. (1) (sampling/estimator.py): unbiasedness against the exact
update and equality with a plain per-MDP loop fed the same draws, for every registered
method; row locality of every part; the state baseline; determinism, shapes and errors."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import (METHODS, make_draws, random_dense, reference_cases, reference_update, replicate,
                              setup, small_grid)

from policy_distillation import methods as M
from policy_distillation import terms
from policy_distillation.exact import expected_update
from policy_distillation.mdp import from_dense
from policy_distillation.sampling import SampledEstimator, sampled_update
from policy_distillation.sampling.row_states import RowStates, Workspace


@pytest.fixture(scope="module")
def conformance_cases():
    rng = np.random.default_rng(7)
    cases = {}
    for kind, mdps in (("dense", random_dense(rng, 2)), ("grid_a6", small_grid(rng, 2, A=6))):
        teacher, logits, v_student = setup(mdps, rng)
        cases[kind] = (mdps, teacher, logits, v_student)
    return cases


@pytest.fixture(scope="module")
def cases():
    return reference_cases()


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


@pytest.mark.parametrize("kind", ["dense", "grid_a4", "grid_a7"])
@pytest.mark.parametrize("name", METHODS)
def test_vectorised_equals_plain_loop(cases, kind, name):
    mdps, teacher, logits, v_student = cases[kind]
    method = M.get_method(name)
    N = 4
    draws = make_draws(np.random.default_rng(5), mdps.B * N)
    G, trans = SampledEstimator(mdps, teacher, method, N).update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, method, logits, draws, N, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)
    assert trans.flat_state.size > mdps.B * N


@pytest.mark.parametrize("name", METHODS)
def test_method_parts_are_row_local(cases, name):
    """Every part evaluated on a subset of rows equals the full-context part at those rows."""
    mdps, teacher, logits, v_student = cases["grid_a7"]
    method = M.get_method(name)
    est = SampledEstimator(mdps, teacher, method)
    rows = np.array([0, 3, 5, 9, 13, 20, 26])
    flat = logits.reshape(-1, mdps.A)
    lse = np.log(np.exp(flat).sum(1))
    row_states = RowStates(est.teacher, rows, flat, lse[rows], v_student.reshape(-1), Workspace())
    full = M.DistillContext(mdps, teacher.pi, logits, teacher.value, v_student)

    def at_rows(y):
        return y.reshape(mdps.B * mdps.S, *y.shape[2:])[rows]

    if method.state_loss is not None:
        for x, y in zip(method.state_loss(row_states), method.state_loss(full)):
            np.testing.assert_allclose(x[0], at_rows(y), atol=1e-12)
    for part in [method.bootstrap, method.baseline, *method.reward.terms()]:
        if part is not None:
            np.testing.assert_allclose(part(row_states)[0], at_rows(part(full)), atol=1e-12)


@pytest.mark.parametrize("name", METHODS)
def test_entry_reads_equal_full_rows(cases, monkeypatch, name):
    """Terms that read single entries (e.g. log pi(a | s) from the teacher's table)
    give the same SGD steps, caches and update as gathering full rows."""
    from sampling_helpers import run_sgd

    mdps, teacher, logits, v_student = cases["grid_a7"]
    fast = run_sgd(mdps, teacher, logits, name, student_value=v_student)
    monkeypatch.setattr(terms.Term, "at", lambda self, states, rows, actions=None:
                        self.fn(states)[0][rows] if not self.per_action else self.fn(states)[0][rows, actions])
    slow = run_sgd(mdps, teacher, logits, name, student_value=v_student)
    for x, y in zip(fast, slow):
        assert np.array_equal(x, y)


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


# ------------------------------------------------------- seeds and errors
def test_seeded_determinism_and_shapes(cases):
    mdps, teacher, logits, v = cases["dense"]
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


def test_errors(cases):
    mdps, teacher, logits, v = cases["dense"]
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
