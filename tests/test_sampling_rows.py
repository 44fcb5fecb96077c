"""Per-row caches (sampling/rows.py): sgd_step equals update() and keeps the caches equal to a
recomputation; grouped (large-A) rows are kept log-normalised and chunked bit for bit, for
every registered method."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import METHODS, log_softmax_ref, reference_cases, run_sgd

from policy_distillation.sampling import SampledEstimator
from policy_distillation.sampling import rows as rows_module
from policy_distillation.sampling.rows import DenseRows, GroupedRows


@pytest.fixture(scope="module")
def cases():
    return reference_cases()


@pytest.mark.parametrize("case", ["grid_a7", "grid_a4"])
@pytest.mark.parametrize("name", METHODS)
def test_sgd_step_equals_update_and_keeps_caches(cases, case, name):
    """theta <- theta - lr G on the visited rows; grouped MDPs (grid_a7) store all
    rows as log-probabilities (the same policy), the others store theta - lr G."""
    mdps, teacher, logits, v_student = cases[case]
    est = SampledEstimator(mdps, teacher, name, n_trajectories=3)
    grouped = isinstance(est.rows, GroupedRows)
    assert grouped == (case == "grid_a7")
    theta = logits.copy()
    for step in range(4):
        before = theta.copy()
        G, _ = SampledEstimator(mdps, teacher, name, 3).update(before, np.random.default_rng(step),
                                                               student_value=v_student)
        trans = est.sgd_step(theta, 0.3, np.random.default_rng(step), student_value=v_student)
        expected = before - 0.3 * G
        if grouped:
            expected = log_softmax_ref(expected)
            np.testing.assert_allclose(np.log(np.exp(theta).sum(-1)), 0.0, atol=1e-12)
        np.testing.assert_allclose(theta, expected, atol=1e-12)
        visited = np.zeros(mdps.B * mdps.S, bool)
        visited[trans.flat_state] = True
        np.testing.assert_array_equal(est.row_caches[0][~visited] == 0.0, grouped)
    # the incrementally maintained caches equal a recomputation
    lse, table, bp = est.rows.full_cache(theta.reshape(-1, mdps.A).copy(), normalise=False)
    np.testing.assert_allclose(est.row_caches[0], lse, atol=1e-12)
    np.testing.assert_allclose(est.row_caches[1], table, atol=1e-12)
    if bp is not None:
        np.testing.assert_allclose(est.row_caches[2], bp, atol=1e-12)
        np.testing.assert_allclose(bp.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("name", METHODS)
def test_chunked_update_equals_one_pass_bit_for_bit(cases, monkeypatch, name):
    """Large-A path: the update pass (pi, the loss gradient on chunk bundles with
    sliced critic values, G, the new row statistics) runs in row chunks; every
    operation is per row, so SGD steps, caches and ``update`` equal one pass."""
    mdps, teacher, logits, v_student = cases["grid_a7"]
    monkeypatch.setattr(rows_module, "CHUNK_ELEMENTS", 1 << 30)  # one chunk
    assert isinstance(SampledEstimator(mdps, teacher, name).rows, GroupedRows)
    whole = run_sgd(mdps, teacher, logits, name, student_value=v_student)
    monkeypatch.setattr(rows_module, "CHUNK_ELEMENTS", 3 * mdps.A)  # three rows a chunk
    assert SampledEstimator(mdps, teacher, name).rows.chunk == 3
    chunked = run_sgd(mdps, teacher, logits, name, student_value=v_student)
    for x, y in zip(whole, chunked):
        assert np.array_equal(x, y)


def test_dense_rows_for_few_actions_and_dense_mdps(cases):
    for kind in ("dense", "grid_a4"):
        mdps, teacher, *_ = cases[kind]
        assert isinstance(SampledEstimator(mdps, teacher, "on_policy_distill").rows, DenseRows)


def test_log_normalise_redoes_rows_outside_the_safe_range(cases):
    """Grouped sgd_step shifts updated rows to log-probabilities without the row
    maximum; rows whose normaliser would overflow or leave the normal range are
    redone with it. Every row must equal the max-shifted reference (rtol 1e-14)."""
    mdps, teacher, _, _ = cases["grid_a7"]
    rows = SampledEstimator(mdps, teacher, "entropy_regularised").rows
    rng = np.random.default_rng(3)
    base = rng.normal(size=(7, mdps.A))
    # row 1 overflows, row 2 underflows to z = 0, row 3 has z in the normal range but below 1e-200
    # and one subnormal entry (set below); rows 4 and 5 lie within the safe range
    x = base + np.array([0.0, 800.0, -800.0, -705.0, 440.0, -440.0, 3.0])[:, None]
    x[3, 1] = -740.0  # exp = 4e-322, subnormal (2 significant digits); its block probability is ~6e-16
    x[6, 2] = -1000.0  # one entry far below the rest: underflows in both versions
    lse_ref, bsum_ref, z_ref = rows.row_stats(x.copy())
    y = x.copy()
    lse, bsum, z = rows.log_normalise(y, out=np.empty_like(y))
    np.testing.assert_array_equal(lse, 0.0)
    np.testing.assert_allclose(y, x - lse_ref[:, None], rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(bsum / z[:, None], bsum_ref / z_ref[:, None], rtol=1e-13, atol=1e-300)
    bad = x.copy()
    bad[0, 1] = np.inf
    bad[1, 0] = np.nan
    lse, _, _ = rows.log_normalise(bad, out=np.empty_like(bad))
    assert not np.isfinite(lse[:2]).any() and np.all(lse[2:] == 0.0)


def test_grouped_sgd_step_with_a_huge_step(cases):
    """A step that pushes rows far out of the normal range (overflowing exp without
    the row maximum) still gives log_softmax(theta - lr G) and valid caches."""
    mdps, teacher, logits, _ = cases["grid_a7"]
    est = SampledEstimator(mdps, teacher, "on_policy_distill", n_trajectories=3)
    theta = logits.copy()
    G, _ = SampledEstimator(mdps, teacher, "on_policy_distill", 3).update(theta, np.random.default_rng(0))
    lr = 2000.0
    assert np.abs(lr * G).max() > 710.0  # exp(log pi - lr G) overflows without the maximum
    est.sgd_step(theta, lr, np.random.default_rng(0))
    np.testing.assert_allclose(theta, log_softmax_ref(logits - lr * G), rtol=1e-12, atol=1e-9)
    lse, table, bp = est.rows.full_cache(theta.reshape(-1, mdps.A).copy(), normalise=False)
    for cached, fresh in zip(est.row_caches, (lse, table, bp)):
        np.testing.assert_allclose(cached, fresh, atol=1e-12)


def test_sgd_step_touches_only_visited_rows(cases):
    mdps, teacher, logits, _ = cases["grid_a4"]
    theta = logits.copy()
    trans = SampledEstimator(mdps, teacher, "on_policy_distill").sgd_step(theta, 0.5, np.random.default_rng(0))
    changed = np.any(theta != logits, axis=-1).reshape(-1)
    visited = np.zeros(mdps.B * mdps.S, bool)
    visited[trans.flat_state] = True
    assert not np.any(changed & ~visited) and changed.any()
