"""distill(): curves, checkpoints, determinism, critics, sharding, progress, tables."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from policy_distillation import environments as E
from policy_distillation import evaluation as ev
from policy_distillation.methods import REGISTRY, Teacher, get_method
from policy_distillation.policies import safe_log, softmax, uniform_policy
from policy_distillation.training import DistillResult, distill, pseudo_value, subset_teacher


@pytest.fixture(scope="module")
def grid():
    rng = np.random.default_rng(0)
    cfg = E.GridConfig(rows=5, cols=5, p_goal=0.08, stop_prob=0.05)
    mdps = E.random_grid_worlds(rng, 4, cfg)
    _, Q, pi_star = ev.optimal_values(mdps)
    pi = 0.9 * pi_star + 0.1 / mdps.A  # epsilon-greedy-like teacher
    teacher = Teacher(pi=pi, value=ev.state_values(mdps, pi), name="eps")
    greedy = Teacher(pi=pi_star, value=ev.state_values(mdps, pi_star), name="greedy")  # exact zeros
    return mdps, teacher, greedy


def test_exact_run_curves(grid):
    mdps, teacher, _ = grid
    res = distill(mdps, teacher, "on_policy_distill", "exact", steps=60, lr=1.0, eval_every=25)
    assert list(res.steps) == [0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60]
    for x in (res.returns, res.kl_teacher, res.kl_student, res.kl_uniform):
        assert x.shape == (15, mdps.B) and np.isfinite(x).all()
    np.testing.assert_allclose(res.returns[0], ev.expected_return(mdps, uniform_policy(mdps.B, mdps.S, mdps.A)))
    np.testing.assert_allclose(res.teacher_return, ev.expected_return(mdps, teacher.pi))
    assert np.all(res.kl_student[-1] < res.kl_student[0])
    assert np.all(res.kl_teacher[-1] < res.kl_teacher[0])
    assert res.returns[-1].mean() > res.returns[0].mean()
    assert res.info["method"] == "on_policy_distill" and res.info["estimator"] == "exact"


def test_greedy_teacher_with_zeros_gives_finite_kl(grid):
    mdps, _, greedy = grid
    res = distill(mdps, greedy, "teacher_distill", "sampled", steps=5, lr=0.5, eval_every=5)
    assert np.isfinite(res.kl_teacher).all() and np.all(res.kl_uniform >= 0)


def test_sampled_runs_are_bit_identical_per_seed(grid):
    mdps, teacher, _ = grid
    kw = dict(estimator="sampled", steps=30, lr=0.5, eval_every=10, n_trajectories=2)
    a = distill(mdps, teacher, "expected_entropy_regularised", seed=4, **kw)
    b = distill(mdps, teacher, "expected_entropy_regularised", seed=4, **kw)
    c = distill(mdps, teacher, "expected_entropy_regularised", seed=5, **kw)
    for name in ("returns", "kl_teacher", "kl_student", "kl_uniform"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.kl_student, c.kl_student)


def test_sampled_with_many_trajectories_tracks_exact(grid):
    mdps, teacher, _ = grid
    ex = distill(mdps, teacher, "on_policy_distill", "exact", steps=20, lr=0.5, eval_every=20)
    sa = distill(mdps, teacher, "on_policy_distill", "sampled", steps=20, lr=0.5, eval_every=20, n_trajectories=400)
    np.testing.assert_allclose(sa.kl_student[-1], ex.kl_student[-1], rtol=0.1)


@pytest.mark.parametrize("critic", [None, {"kind": "exact", "every": 5}, "td"])
def test_value_gated_with_critics(grid, critic):
    mdps, teacher, _ = grid
    res = distill(mdps, teacher, "value_gated", "sampled", steps=12, lr=0.5, eval_every=6, critic=critic)
    assert np.isfinite(res.returns).all()
    if critic != "td":
        distill(mdps, teacher, "value_gated", "exact", steps=3, lr=0.5, eval_every=3, critic=critic)


def test_errors(grid):
    mdps, teacher, _ = grid
    with pytest.raises(ValueError, match="estimator"):
        distill(mdps, teacher, "on_policy_distill", "mc", steps=1)
    with pytest.raises(ValueError, match="TD critic"):
        distill(mdps, teacher, "value_gated", "exact", steps=1, critic="td")
    with pytest.raises(ValueError, match="teacher critic"):
        distill(mdps, Teacher(pi=teacher.pi), "td_v_pi", "exact", steps=1)
    with pytest.raises(ValueError, match="lr"):
        distill(mdps, teacher, "on_policy_distill", steps=1, lr=0.0)
    with pytest.raises(ValueError, match="eval_every"):
        distill(mdps, teacher, "on_policy_distill", steps=1, eval_every=0)
    with pytest.raises(ValueError, match="unknown method"):
        distill(mdps, teacher, "nope", steps=1)


def test_sharding_over_mdps_matches_one_run(grid):
    mdps, teacher, _ = grid
    kw = dict(estimator="exact", steps=10, lr=1.0, eval_every=5)
    whole = distill(mdps, teacher, "n_distill", **kw)
    shards = [distill(mdps.subset(ix), subset_teacher(teacher, ix), "n_distill", **kw)
              for ix in (np.arange(0, 2), np.arange(2, 4))]
    joined = DistillResult.concat(shards)
    for name in ("returns", "kl_teacher", "kl_student", "kl_uniform", "teacher_return"):
        np.testing.assert_allclose(getattr(joined, name), getattr(whole, name), rtol=1e-10, atol=1e-10)


def test_to_frame_and_progress(grid, caplog):
    mdps, teacher, _ = grid
    seen = []
    res = distill(mdps, teacher, "uniform_distill", "exact", steps=4, lr=1.0, eval_every=2, progress=seen.append)
    assert seen and seen[-1]["steps_done"] == 4 and {"steps_per_s", "eta_s"} <= set(seen[-1])
    df = res.to_frame(method="uniform_distill")
    assert list(df.columns) == ["step", "mdp", "metric", "value", "method"]
    assert len(df) == len(res.steps) * mdps.B * 5 and list(res.steps) == [0, 1, 2, 3, 4]
    assert set(df.metric) == {"return", "kl_teacher", "kl_student", "kl_uniform", "teacher_return"}
    sub = df[(df.metric == "return") & (df.step == 4)].sort_values("mdp")
    np.testing.assert_array_equal(sub.value.to_numpy(), res.returns[-1])
    with caplog.at_level(logging.INFO, logger="policy_distillation.training"):
        distill(mdps, teacher, "uniform_distill", "exact", steps=2, lr=1.0, eval_every=2)
    assert any("steps/s" in r.getMessage() for r in caplog.records)


def test_softmax_teacher_from_optimal_q(grid):
    mdps, _, _ = grid
    _, Q, _ = ev.optimal_values(mdps)
    t = Teacher(pi=softmax(Q / 0.5))
    res = distill(mdps, t, "on_policy_distill", "sampled", steps=3, lr=0.5, eval_every=3)
    assert res.returns.shape == (4, mdps.B)  # steps 0, 1, 2, 3


@pytest.mark.parametrize("steps, every, expected", [
    (60, 25, [0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60]),
    (3, 1, [0, 1, 2, 3]),
    (30000, 1000, [0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 40, 50, 70, 100, 150, 200, 300, 400, 500, 700, 1000, 1500]
     + list(range(2000, 30001, 1000))),
    (0, 10, [0]),
])
def test_checkpoint_steps(steps, every, expected):
    from policy_distillation.training import checkpoint_steps

    got = checkpoint_steps(steps, every)
    assert got == expected
    big = np.array([k for k in got if k >= 10], dtype=float)
    assert big.size < 2 or (big[1:] / big[:-1]).max() <= 1.5  # steps to a target are read to within 1.5x


@pytest.mark.parametrize("name", sorted(n for n, m in REGISTRY.items() if m.has_score_term))
def test_pseudo_value_with_precomputed_teacher_log_is_identical(grid, name):
    """distill() passes the evaluator's safe_log(teacher) to every baseline call
    (|A| = 4096: saves recomputing a [B, S, A] log per call); same values, bit for bit."""
    mdps, _, teacher = grid  # the greedy teacher: floored zeros
    logits = np.random.default_rng(4).normal(size=(mdps.B, mdps.S, mdps.A))
    v_student = ev.state_values(mdps, np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    plain = pseudo_value(get_method(name), mdps, teacher, logits, v_student, block=3)
    reused = pseudo_value(get_method(name), mdps, teacher, logits, v_student, block=3,
                          teacher_log=safe_log(teacher.pi))
    np.testing.assert_array_equal(plain, reused)
