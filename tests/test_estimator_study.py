"""The estimator study (estimator_study.py): objective gradients, the mid point, the tidy rows."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import estimator_study as E
from policy_distillation import fields
from policy_distillation.environments import random_grid_worlds, with_actions
from policy_distillation.exact import expected_update
from policy_distillation.llm_methods import ENTRIES
from policy_distillation.mdp import from_dense
from policy_distillation.methods import DistillContext, get_method


@pytest.fixture(scope="module")
def problem():
    return fields.random_dense_problem(np.random.default_rng(41), 2, 4, 3)


def test_every_entry_has_an_objective():
    assert set(E.OBJECTIVES) == set(ENTRIES)
    assert set(E.OBJECTIVES.values()) <= set(E.OBJECTIVE_LOSSES)


@pytest.mark.parametrize("objective", sorted(E.OBJECTIVE_LOSSES))
def test_objective_gradient_matches_finite_differences(problem, objective):
    """The n-distill construction is the exact gradient of E_theta[sum_t l(s_t)] (checked where
    finite differences are cheap; the study relies on it at |A| = 4096)."""
    mdps, teacher, logits = problem
    method = E.objective_method(objective)
    G = fields.update_field(method, mdps, teacher)(logits)
    fd = fields.stated_loss_gradient(fields.loss_function(method, mdps, teacher), logits, eps=1e-5)
    assert np.abs(G).max() > 1e-3
    np.testing.assert_allclose(G, fd, rtol=0, atol=1e-6)


def test_reverse_kl_objective_gradient_is_the_sequence_reverse_kl_update(problem):
    mdps, teacher, logits = problem
    ctx = DistillContext(mdps, teacher, logits)
    grad = E.exact_comparison(get_method("sequence_reverse_kl"), "reverse_kl", mdps, teacher, logits)
    np.testing.assert_allclose(grad["cosine"], 1.0, atol=1e-12)
    np.testing.assert_allclose(grad["norm_ratio"], 1.0, atol=1e-10)
    np.testing.assert_allclose(expected_update(E.objective_method("reverse_kl"), ctx),
                               expected_update(get_method("sequence_reverse_kl_expected"), ctx), atol=1e-10)
    with pytest.raises(ValueError, match="unknown objective"):
        E.objective_method("nope")


def test_grid_teacher_and_midpoint():
    worlds = random_grid_worlds(np.random.default_rng(2), 3, E.STUDY_GRID)
    mdps = with_actions(worlds, 16, E.STUDY_GRID.eta)
    pi = E.grid_teacher(worlds, 16)
    mdps.check_policy(pi)
    assert np.all(pi.argmax(-1) < 4) and np.all(pi > 0)
    start = E.student_kl(mdps, pi, np.zeros(pi.shape))
    mid = E.midpoint_logits(mdps, pi)
    assert np.all(E.student_kl(mdps, pi, mid) <= 0.5 * start) and np.all(np.abs(mid).max(axis=(1, 2)) > 0)


def test_sampled_variance_is_zero_without_randomness(problem):
    """One state that always ends the episode and a method without a score term: every draw is equal."""
    mdps, teacher, logits = problem
    P = np.zeros((2, 1, 3, 1))
    one = from_dense(P, np.zeros((2, 1, 3)), np.ones((2, 1)))
    var = E.sampled_variance(get_method("onpolicy_forward_kl"), one, teacher[:, :1], logits[:, :1], 5,
                             np.random.default_rng(0), chunk=2)
    np.testing.assert_allclose(var, 0.0, atol=1e-14)
    var = E.sampled_variance(get_method("token_reverse_kl"), one, teacher[:, :1], logits[:, :1], 50,
                             np.random.default_rng(0), chunk=16)
    assert np.all(var > 0)
    with pytest.raises(ValueError, match="copies"):
        E.sampled_variance(get_method("token_reverse_kl"), one, teacher[:, :1], logits[:, :1], 1,
                           np.random.default_rng(0))


@pytest.fixture(scope="module")
def rows():
    return E.estimator_study(np.random.default_rng(0), actions=(4, 64), n_worlds=2, dense_mdps=2, dense_states=4,
                             dense_actions=(3,), copies=48)


def test_study_rows_are_tidy(rows):
    assert len(rows) == 3 * len(E.OBJECTIVES) * len(E.POINTS)
    keys = {"env", "method", "objective", "actions", "point", "cosine", "cosine_min", "norm_ratio", "update_norm",
            "grad_norm", "variance", "relative_variance", "student_kl", "n_mdps", "n_flat", "n_states", "copies"}
    assert all(set(r) == keys for r in rows)
    assert {(r["env"], r["actions"]) for r in rows} == {("dense", 3), ("grid", 4), ("grid", 64)}
    assert all(np.isfinite(r[k]) for r in rows for k in ("cosine", "norm_ratio", "variance"))


def test_study_measures_what_the_entries_claim(rows):
    by = {(r["env"], r["actions"], r["point"], r["method"]): r for r in rows}
    for (env, A, point, name), r in by.items():
        if name.startswith("sequence_reverse_kl"):  # gradient fields of their objective
            assert r["cosine"] == pytest.approx(1.0, abs=1e-9) and r["norm_ratio"] == pytest.approx(1.0, abs=1e-8)
        if name in ("token_reverse_kl_cv", "token_reverse_kl_cv_topk"):  # one expected update
            assert r["cosine"] == by[env, A, point, "token_reverse_kl"]["cosine"]
        if name == "token_reverse_kl":
            assert r["cosine"] == pytest.approx(by[env, A, point, "onpolicy_reverse_kl"]["cosine"], abs=1e-12)
        assert r["cosine"] <= 1 + 1e-12
    for point in E.POINTS:  # the KL baseline cuts the variance where the teacher's zeros make rhat heavy
        assert by["dense", 3, point, "token_reverse_kl_cv"]["variance"] < by["dense", 3, point, "token_reverse_kl"][
            "variance"]
    for env, A in (("dense", 3), ("grid", 4), ("grid", 64)):
        assert by[env, A, "mid", "onpolicy_forward_kl"]["student_kl"] <= 0.5 * by[env, A, "uniform",
                                                                                  "onpolicy_forward_kl"]["student_kl"]


def test_unknown_methods_are_named():
    with pytest.raises(ValueError, match="on_policy_distill"):
        E.estimator_study(np.random.default_rng(0), methods=["on_policy_distill"], actions=(), dense_mdps=0)


def test_an_mdp_whose_teacher_equals_the_student_is_left_out_of_the_comparison():
    """A flat objective (teacher = uniform student) gives 0 / 0: counted in n_flat, not averaged as NaN."""
    from policy_distillation.estimator_study import _rows

    rng = np.random.default_rng(3)
    mdps, teacher_pi, _ = fields.random_dense_problem(rng, 2, 3, 4)
    teacher_pi = teacher_pi.copy()
    teacher_pi[1] = 0.25
    teacher_pi[1, 0] += np.array([1e-18, -1e-18, 0.0, 0.0])  # rounding noise leaves it flat
    rows = _rows("dense", mdps, teacher_pi, ["onpolicy_forward_kl", "onpolicy_jsd"], 2, rng, 0.5, 5)
    for r in rows:
        assert r["n_flat"] == 1 and r["n_mdps"] == 2
        assert np.isfinite([r["cosine"], r["cosine_min"], r["norm_ratio"], r["relative_variance"]]).all()
