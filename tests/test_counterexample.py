"""Figure 2 (SPEC 2.4, claim 1): on-policy distill + R cycles, n-distill + R converges."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import counterexample as ce

REWARDS = (1.0, 0.0, 2.0, -1.0)  # (s_L L, s_L R, s_R L, s_R R)
X0, Y0 = 1.0, 0.0
LR, STEPS = 0.5, 1000  # 500 time units, ~8 periods of the continuous-time orbit
WINDOW = STEPS // 5  # early window = first 20% of the run, late = last 20%


@pytest.fixture(scope="module")
def runs():
    return {name: ce.simulate(name, REWARDS, X0, Y0, LR, STEPS) for name in ce.METHODS}


def _crossings(p: np.ndarray) -> int:
    s = np.sign(p - 0.5)
    return int(np.sum(s[1:] != s[:-1]))


@pytest.mark.parametrize("name", ce.METHODS)
def test_tied_update_matches_closed_form(name):
    rng = np.random.default_rng(0)
    for x, y in 2.0 * rng.normal(size=(10, 2)):
        np.testing.assert_allclose(
            ce.update(name, REWARDS, x, y), ce.closed_form_update(name, REWARDS, x, y), rtol=0, atol=1e-12
        )


def test_n_distill_update_is_gradient_of_its_loss_in_xy():
    """Chain rule for the tied parameter, checked against finite differences of L(x, y)."""
    eps = 1e-5
    rng = np.random.default_rng(1)
    for x, y in 1.5 * rng.normal(size=(5, 2)):
        fd = np.array(
            [
                ce.n_distill_loss(REWARDS, x + eps, y) - ce.n_distill_loss(REWARDS, x - eps, y),
                ce.n_distill_loss(REWARDS, x, y + eps) - ce.n_distill_loss(REWARDS, x, y - eps),
            ]
        ) / (2 * eps)
        np.testing.assert_allclose(ce.update("n_distill_r", REWARDS, x, y), fd, rtol=0, atol=1e-8)
        # On-policy misses Theorem 2's correction, which lives in the x direction only.
        gap = ce.update("on_policy_distill_r", REWARDS, x, y) - fd
        assert abs(gap[0]) > 1e-3 and abs(gap[1]) < 1e-8
        # Hand-derived: L = p + q (2p - 1) - 2 for these rewards.
        p, q = ce.sigmoid(x), ce.sigmoid(y)
        assert ce.n_distill_loss(REWARDS, x, y) == pytest.approx(p + q * (2 * p - 1) - 2, abs=1e-12)


def test_on_policy_distill_r_oscillates_forever(runs):
    """Criterion: over the last 20% of the run p still sweeps at least the range it
    swept in the first 20% (and at least 0.5), crossing 1/2 at least twice."""
    p, q = runs["on_policy_distill_r"]
    early, late = np.ptp(p[:WINDOW]), np.ptp(p[-WINDOW:])
    assert late >= early
    assert late > 0.5 and np.ptp(q[-WINDOW:]) > 0.5
    assert _crossings(p[-WINDOW:]) >= 2
    # Explicit Euler on a centre: H grows, the oscillation never damps.
    H = ce.conserved_quantity(p, q)
    assert H[-1] > H[0]


def test_n_distill_r_converges(runs):
    p, q = runs["n_distill_r"]
    assert np.ptp(p[-WINDOW:]) < 1e-3 and np.ptp(q[-WINDOW:]) < 1e-3
    assert p[-1] < 1e-3 and q[-1] > 0.99  # the minimiser of L: go to s_R, play R
    x, y = np.log(p[-1] / (1 - p[-1])), np.log(q[-1] / (1 - q[-1]))
    assert np.linalg.norm(ce.update("n_distill_r", REWARDS, x, y)) < 1e-2


def test_same_start_different_fate(runs):
    assert runs["on_policy_distill_r"][0][0] == runs["n_distill_r"][0][0]
    assert np.ptp(runs["on_policy_distill_r"][0][-WINDOW:]) > 100 * np.ptp(runs["n_distill_r"][0][-WINDOW:])


def test_simulate_is_deterministic_and_field_independent():
    a = ce.simulate("on_policy_distill_r", REWARDS, X0, Y0, LR, 50)
    b = ce.simulate("on_policy_distill_r", REWARDS, X0, Y0, LR, 50)
    c = ce.simulate("on_policy_distill_r", REWARDS, X0, Y0, LR, 50, field="closed_form")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[0], c[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a[1], c[1], rtol=0, atol=1e-12)
    assert a[0].shape == (51,)


def test_conserved_quantity_along_continuous_orbits():
    """1/(p(1-p)) + 1/(q(1-q)) is a first integral of the on-policy distill + R flow."""
    # Exact field (expected_update), about one period.
    _, p, q = ce.integrate_flow("on_policy_distill_r", REWARDS, X0, Y0, t_max=60.0, n_eval=200)
    H = ce.conserved_quantity(p, q)
    assert np.abs(H - H[0]).max() / H[0] < 1e-8  # measured 1.3e-10
    assert _crossings(p) >= 2
    # Closed form, ~55 periods: still conserved, still oscillating.
    _, p, q = ce.integrate_flow("on_policy_distill_r", REWARDS, X0, Y0, t_max=3000.0, n_eval=5000, field="closed_form")
    H = ce.conserved_quantity(p, q)
    assert np.abs(H - H[0]).max() / H[0] < 1e-8
    assert _crossings(p[-1000:]) >= 2
    np.testing.assert_allclose(ce.first_integral(REWARDS, p, q), -H, rtol=1e-12)


def test_general_first_integral_is_conserved_for_other_rewards():
    rewards = (2.5, 1.0, 3.0, -0.5)  # centre at p* = q* = 1/4
    assert ce.cycles(rewards)
    _, p, q = ce.integrate_flow("on_policy_distill_r", rewards, 0.5, -0.5, t_max=200.0, field="closed_form")
    F = ce.first_integral(rewards, p, q)
    assert np.abs(F - F[0]).max() < 1e-7 * np.abs(F[0])


def test_gradient_descent_drift_is_first_order_in_lr():
    """Plain gradient descent gains H at a rate proportional to lr (Euler on a centre)."""
    drift = {}
    for lr in (0.1, 0.01):
        p, q = ce.simulate("on_policy_distill_r", REWARDS, X0, Y0, lr, int(100 / lr), field="closed_form")
        H = ce.conserved_quantity(p, q)
        drift[lr] = (H[-1] - H[0]) / H[0]
    assert drift[0.1] > drift[0.01] > 0
    assert drift[0.1] / drift[0.01] == pytest.approx(10.0, rel=0.3)


def test_cycling_condition():
    assert ce.cycles(REWARDS)
    assert ce.flow_coefficients(REWARDS) == (-1.0, 2.0, 1.0, -2.0)
    assert not ce.cycles((0.0, 1.0, 0.0, 1.0))  # reward agrees with the teacher: no conflict
    p, q = ce.simulate("on_policy_distill_r", (0.0, 1.0, 0.0, 1.0), X0, Y0, 1.0, 2000, field="closed_form")
    assert np.ptp(p[-400:]) < 1e-2 and np.ptp(q[-400:]) < 1e-2


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="teacher_distill"):
        ce.simulate("teacher_distill", REWARDS, X0, Y0, LR, 10)
    with pytest.raises(ValueError, match="lr"):
        ce.simulate("n_distill_r", REWARDS, X0, Y0, 0.0, 10)
    with pytest.raises(ValueError, match="field"):
        ce.simulate("n_distill_r", REWARDS, X0, Y0, LR, 10, field="sampled")
    with pytest.raises(ValueError, match="4 numbers"):
        ce.update("n_distill_r", (1.0, 2.0), X0, Y0)
