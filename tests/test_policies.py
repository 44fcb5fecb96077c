"""Tests for ``policy_distillation.policies``: softmax, safe logs, divergences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policy_distillation import policies as pol

B, S, A = 2, 5, 3


def loop_softmax(logits):
    out = np.zeros_like(logits)
    for b in range(logits.shape[0]):
        for s in range(logits.shape[1]):
            e = [math.exp(x) for x in logits[b, s]]
            out[b, s] = [x / sum(e) for x in e]
    return out


def test_softmax_matches_loop_and_rows_sum_to_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(B, S, A))
    pi = pol.softmax(logits)
    assert pi.shape == (B, S, A)
    np.testing.assert_allclose(pi, loop_softmax(logits), rtol=1e-12, atol=0)
    np.testing.assert_allclose(pi.sum(-1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(pol.log_softmax(logits), np.log(loop_softmax(logits)), rtol=0, atol=1e-12)
    # normalised over the last axis only
    assert not np.allclose(pi.sum(0), 1.0) and not np.allclose(pi.sum(1), 1.0)


def test_softmax_shift_invariant_per_state():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(B, S, A))
    shift = rng.normal(scale=100.0, size=(B, S, 1))
    np.testing.assert_allclose(pol.softmax(logits + shift), pol.softmax(logits), rtol=0, atol=1e-12)


def test_log_softmax_stable_for_huge_logits():
    logits = np.array([[1e300, 0.0, -1e300], [1000.0, 1000.0, 1000.0 - math.log(2.0)], [-1e4, -1e4 - 1.0, -1e4]])
    lp = pol.log_softmax(logits)
    assert np.all(np.isfinite(lp))
    np.testing.assert_array_equal(lp[0], [0.0, -1e300, -2e300])
    z = math.log(2.5)  # exp(0) + exp(0) + exp(-log 2) = 2.5
    np.testing.assert_allclose(lp[1], [-z, -z, -math.log(2.0) - z], rtol=0, atol=1e-12)
    ref = np.log(loop_softmax((logits[2] + 1e4)[None, None]))[0, 0]
    np.testing.assert_allclose(lp[2], ref, rtol=0, atol=1e-12)
    pi = pol.softmax(logits)
    np.testing.assert_array_equal(pi[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(pi.sum(-1), 1.0, rtol=0, atol=1e-14)


def test_safe_log_floors_zeros_and_leaves_the_rest():
    p = np.array([0.0, 1e-12, 1e-8, 0.3, 1.0])
    lp = pol.safe_log(p)
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(lp, np.log([1e-8, 1e-8, 1e-8, 0.3, 1.0]), rtol=0, atol=1e-15)
    assert pol.safe_log(np.array([0.0]), floor=1e-3)[0] == math.log(1e-3)
    assert pol.PROB_FLOOR == 1e-8


@pytest.mark.parametrize("bad", [[0.5, -0.1], [np.nan, 1.0], [np.inf, 0.0]])
def test_safe_log_rejects_invalid_probabilities(bad):
    with pytest.raises(ValueError, match="probabilities must be finite and non-negative"):
        pol.safe_log(np.array(bad))


def test_uniform_policy():
    u = pol.uniform_policy(B, S, A)
    assert u.shape == (B, S, A)
    np.testing.assert_array_equal(u, 1.0 / A)


def cross_entropy(p, log_q):
    """H^x(p || q) = -sum_a p(a) log q(a) (Table 1), the plain reference."""
    return -np.sum(p * log_q, axis=-1)


def test_cross_entropy_and_kl_by_hand():
    p = np.array([0.2, 0.8])
    q = np.array([0.5, 0.5])
    assert abs(cross_entropy(p, np.log(q)) - math.log(2.0)) < 1e-15
    kl = 0.2 * math.log(0.2 / 0.5) + 0.8 * math.log(0.8 / 0.5)
    assert abs(pol.kl_divergence(p, np.log(p), np.log(q)) - kl) < 1e-15
    # H^x(p || q) = H(p) + KL(p || q)
    entropy = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert abs(cross_entropy(p, np.log(q)) - (entropy + kl)) < 1e-15
    # zero-probability terms of p count 0; q's zero is floored by safe_log
    p0 = np.array([0.0, 1.0])
    q0 = np.array([0.0, 1.0])
    assert pol.kl_divergence(p0, pol.safe_log(p0), pol.safe_log(q0)) == 0.0
    expected = 0.5 * math.log(0.5 / 1e-8) + 0.5 * math.log(0.5)
    assert abs(pol.kl_divergence(q, pol.safe_log(q), pol.safe_log(p0)) - expected) < 1e-12


def test_divergences_batched_match_loop():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(A), size=(B, S))
    q = rng.dirichlet(np.ones(A), size=(B, S))
    ce = cross_entropy(p, np.log(q))
    kl = pol.kl_divergence(p, np.log(p), np.log(q))
    assert ce.shape == (B, S) and kl.shape == (B, S)
    for b in range(B):
        for s in range(S):
            ce_ref = -sum(p[b, s, a] * math.log(q[b, s, a]) for a in range(A))
            kl_ref = sum(p[b, s, a] * math.log(p[b, s, a] / q[b, s, a]) for a in range(A))
            assert abs(ce[b, s] - ce_ref) < 1e-12
            assert abs(kl[b, s] - kl_ref) < 1e-12


def test_kl_zero_iff_equal():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(A), size=(B, S))
    q = rng.dirichlet(np.ones(A), size=(B, S))
    lp, lq = pol.safe_log(p), pol.safe_log(q)
    np.testing.assert_array_equal(pol.kl_divergence(p, lp, lp), 0.0)
    assert np.all(pol.kl_divergence(p, lp, lq) > 1e-6)
    # equal in one state only: zero exactly there
    q2 = q.copy()
    q2[1, 3] = p[1, 3]
    kl = pol.kl_divergence(p, lp, pol.safe_log(q2))
    assert kl[1, 3] == 0.0 and np.all(np.delete(kl.ravel(), 1 * S + 3) > 1e-6)


def test_kl_with_plain_log_of_zero():
    p = np.array([0.5, 0.5, 0.0])
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    assert pol.kl_divergence(p, lp, lp) == 0.0
