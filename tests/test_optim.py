"""Optimisers (optim.py) against plain textbook loops; lazy rows; reduces-to checks."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import reference_cases

from policy_distillation import optim
from policy_distillation.sampling import SampledEstimator


def textbook_adam(G_seq, rows_seq, shape, lr, b1, b2, eps):
    """Adam per visited row (moments of other rows untouched), the step count shared by all rows."""
    theta, m, v = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for t, (G, rows) in enumerate(zip(G_seq, rows_seq), start=1):
        for i, r in enumerate(rows):
            m[r] = b1 * m[r] + (1 - b1) * G[i]
            v[r] = b2 * v[r] + (1 - b2) * G[i] ** 2
            mhat, vhat = m[r] / (1 - b1 ** t), v[r] / (1 - b2 ** t)
            theta[r] -= lr * mhat / (np.sqrt(vhat) + eps)
    return theta


def test_adam_rows_equal_the_textbook_loop():
    rng = np.random.default_rng(0)
    shape = (6, 4)
    rows_seq = [np.array([0, 2, 5]), np.array([2, 3]), np.array([0, 1, 2, 3, 4, 5]), np.array([5])]
    G_seq = [rng.normal(size=(r.size, 4)) for r in rows_seq]
    opt = optim.Adam(lr=0.1, beta1=0.8, beta2=0.95, eps=1e-6)
    theta = np.zeros(shape)
    for G, rows in zip(G_seq, rows_seq):
        opt.begin_step()
        x = theta[rows]
        opt.apply_rows(x, G, rows, shape[0])
        theta[rows] = x
    np.testing.assert_allclose(theta, textbook_adam(G_seq, rows_seq, shape, 0.1, 0.8, 0.95, 1e-6), rtol=1e-12,
                               atol=1e-14)


def test_rmsprop_and_dense_paths():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(2, 3, 4))
    a, b = np.zeros_like(G), np.zeros_like(G)
    dense, rows = optim.RMSProp(lr=0.1, rho=0.9), optim.RMSProp(lr=0.1, rho=0.9)
    for _ in range(3):
        dense.apply_dense(a, G)
        x = b.reshape(-1, 4)
        rows.apply_rows(x, G.reshape(-1, 4), np.arange(6), 6)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    ref = np.zeros_like(G)
    v = np.zeros_like(G)
    for _ in range(3):
        v = 0.9 * v + 0.1 * G ** 2
        ref -= 0.1 * G / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(a, ref, rtol=1e-12)


def test_adam_without_memory_and_a_large_eps_is_scaled_sgd():
    """beta1 = beta2 = 0: m = G, v = G^2, so the step is lr G / (|G| + eps) = (lr / eps) G (1 + O(|G| / eps))."""
    G = np.random.default_rng(2).normal(size=(5, 3))
    x = np.zeros_like(G)
    opt = optim.Adam(lr=1e3, beta1=0.0, beta2=0.0, eps=1e6)
    opt.begin_step()
    opt.apply_rows(x, G, np.arange(5), 5)
    np.testing.assert_allclose(x, -(1e3 / 1e6) * G, rtol=1e-5)


def test_sampled_step_with_adam_equals_update_then_textbook_adam():
    mdps, teacher, logits, _ = reference_cases()["grid_a4"]
    est = SampledEstimator(mdps, teacher, "entropy_regularised", 2)
    opt = optim.Adam(lr=0.05)
    theta = logits.copy()
    G_seq, rows_seq = [], []
    for k in range(3):
        G, trans = SampledEstimator(mdps, teacher, "entropy_regularised", 2).update(theta.copy(),
                                                                                  np.random.default_rng(k))
        rows = np.unique(trans.flat_state)
        G_seq.append(G.reshape(-1, mdps.A)[rows])
        rows_seq.append(rows)
        est.step(theta, opt, np.random.default_rng(k))
    ref = textbook_adam(G_seq, rows_seq, (mdps.B * mdps.S, mdps.A), 0.05, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(theta.reshape(-1, mdps.A), logits.reshape(-1, mdps.A) + ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec, match", [
    ({"kind": "adagrad"}, "kind must be one of"),
    ({"kind": "adam", "beta1": 1.0}, "beta1"),
    ({"kind": "sgd", "momentum": 0.9}, "bad settings"),
])
def test_bad_optimisers_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        optim.make_optimiser(spec, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.make_optimiser("sgd")
