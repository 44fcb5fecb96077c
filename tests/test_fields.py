"""The gradient-field instruments of ``fields`` on fields whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import fields
from policy_distillation.methods import REGISTRY

P = 5


@pytest.fixture(scope="module")
def matrices():
    rng = np.random.default_rng(11)
    M = rng.normal(size=(P, P))
    return M + M.T, M  # symmetric (a Hessian), generic (not a gradient field)


def test_update_jacobian_of_linear_field_is_its_matrix(matrices):
    _, M = matrices
    theta = np.random.default_rng(0).normal(size=P)
    J = fields.update_jacobian(lambda th: M @ th, theta, eps=1e-3)
    np.testing.assert_allclose(J, M, rtol=0, atol=1e-10)


def test_update_jacobian_of_a_gradient_is_the_hessian():
    # L = sum cos(theta) + (sum theta)^3 / 6: grad = -sin + s^2/2, Hessian = diag(-cos) + s 11^T.
    theta = np.array([[0.3, -1.2], [0.7, 2.0]])
    s = theta.sum()
    grad = lambda th: -np.sin(th) + th.sum() ** 2 / 2  # noqa: E731
    J = fields.update_jacobian(grad, theta, eps=1e-4)
    np.testing.assert_allclose(J, np.diag(-np.cos(theta).ravel()) + s, rtol=0, atol=1e-7)
    assert fields.jacobian_asymmetry(J) < 1e-8


def test_asymmetry(matrices):
    S, M = matrices
    assert fields.jacobian_asymmetry(S) == 0.0
    K = M - M.T
    assert fields.jacobian_asymmetry(K) == pytest.approx(2.0)  # ||K - K^T|| = 2 ||K||
    assert np.isnan(fields.jacobian_asymmetry(np.zeros((3, 3))))
    np.testing.assert_allclose(fields.jacobian_asymmetry(np.stack([S, K])), [0.0, 2.0])
    with pytest.raises(ValueError, match="square"):
        fields.jacobian_asymmetry(np.zeros((2, 3)))


def test_loop_integral_follows_stokes(matrices):
    S, M = matrices
    rng = np.random.default_rng(1)
    theta, d1, d2 = rng.normal(size=(3, P))
    # A gradient field (non-linear) circulates 0.
    loop = fields.loop_integral(lambda th: S @ th + np.sin(th), theta, d1, d2, radius=0.1, n_points=32)
    assert abs(loop) < 1e-12
    # A linear field: pi r^2 e2^T (J - J^T) e1 exactly, e1, e2 the orthonormalised directions.
    e1 = d1 / np.linalg.norm(d1)
    e2 = d2 - (d2 @ e1) * e1
    e2 /= np.linalg.norm(e2)
    r = 0.3
    loop = fields.loop_integral(lambda th: M @ th, theta, d1, d2, radius=r, n_points=16)
    assert loop == pytest.approx(np.pi * r**2 * e2 @ (M - M.T) @ e1, rel=1e-10)
    with pytest.raises(ValueError, match="parallel"):
        fields.loop_integral(lambda th: th, theta, d1, 2 * d1)


def test_circulation_plane_is_where_the_field_turns_most(matrices):
    _, M = matrices
    d1, d2, sigma = fields.circulation_plane(M)
    assert abs(d1 @ d2) < 1e-12 and np.linalg.norm(d1) == pytest.approx(1) and np.linalg.norm(d2) == pytest.approx(1)
    assert d2 @ (M - M.T) @ d1 == pytest.approx(sigma)
    assert sigma == pytest.approx(np.linalg.norm(M - M.T, 2))


def test_batched_jacobian_equals_per_mdp_reference():
    """The batched shortcut (one perturbation for all MDPs) against the obvious loop."""
    mdps, teacher, logits = fields.random_dense_problem(np.random.default_rng(2), 3, 2, 4)
    field_fn = fields.update_field(REGISTRY["on_policy_distill"], mdps, teacher)
    Jb = fields.batched_update_jacobian(field_fn, logits, eps=1e-4)
    assert Jb.shape == (3, 8, 8)
    for b in range(3):
        sub = mdps.subset(slice(b, b + 1))
        sub_fn = fields.update_field(REGISTRY["on_policy_distill"], sub, teacher[b : b + 1])
        J = fields.update_jacobian(lambda th: sub_fn(th[None])[0], logits[b], eps=1e-4)
        np.testing.assert_allclose(Jb[b], J, rtol=0, atol=1e-9)


def test_random_problem_is_seeded_and_valid():
    a = fields.random_dense_problem(np.random.default_rng(5), 2, 3, 4)
    b = fields.random_dense_problem(np.random.default_rng(5), 2, 3, 4)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    mdps, teacher, _ = a
    assert (mdps.B, mdps.S, mdps.A) == (2, 3, 4)
    np.testing.assert_allclose(teacher.sum(-1), 1.0)
    assert np.all(teacher.max(-1) > 0)
    with pytest.raises(ValueError, match="end_prob"):
        fields.random_dense_problem(np.random.default_rng(0), 1, 2, 2, end_prob=(0.0, 0.5))


def test_gradient_field_report_table():
    mdps, teacher, logits = fields.random_dense_problem(np.random.default_rng(8), 2, 3, 2)
    names = ["on_policy_distill", "n_distill", "value_gated_r", "td_v_pi"]
    rows = fields.gradient_field_report(names, mdps, teacher, logits)
    assert len(rows) == len(names) * mdps.B
    by = {(r["method"], r["mdp"]): r for r in rows}
    for b in range(mdps.B):
        assert by["n_distill", b]["asymmetry"] < 1e-6 and by["n_distill", b]["grad_error"] < 1e-6
        assert abs(by["n_distill", b]["circulation"]) < 1e-6
        assert by["on_policy_distill", b]["asymmetry"] > 1e-2 and np.isnan(by["on_policy_distill", b]["grad_error"])
        assert by["on_policy_distill", b]["circulation"] == pytest.approx(
            by["on_policy_distill", b]["circulation_predicted"], rel=1e-3
        )
        assert by["value_gated_r", b]["gate_margin"] >= 0 and np.isnan(by["td_v_pi", b]["gate_margin"])
    with pytest.raises(ValueError, match="student_logits"):
        fields.gradient_field_report(names, mdps, teacher, logits[:, :, :1])
