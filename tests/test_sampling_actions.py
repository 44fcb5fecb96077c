"""Action draws (sampling/actions.py): the two-stage blocked draw of many-action MDPs
equals the plain loop's global inversion of pi(a | s) P(k | s, a), for every method."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import METHODS, make_draws, reference_cases, reference_update, setup, small_grid

from policy_distillation import methods as M
from policy_distillation.policies import softmax
from policy_distillation.sampling import SampledEstimator
from policy_distillation.sampling import actions as actions_module
from policy_distillation.sampling.actions import action_blocks, draw_actions_blocked
from policy_distillation.sampling.rows import GroupedRows


@pytest.fixture(scope="module")
def cases():
    return reference_cases()


@pytest.mark.parametrize("name", METHODS)
def test_blocked_action_draws_equal_plain_loop(cases, monkeypatch, name):
    """Blocks of 2 actions cut the 3 no-op actions of |A| = 7 into a full and a
    partial block; the update still equals the plain loop's global inversion."""
    monkeypatch.setattr(actions_module, "ACTION_BLOCK", 2)
    mdps, teacher, logits, v_student = cases["grid_a7"]
    est = SampledEstimator(mdps, teacher, name, 4)
    assert est.rows.blocks.start.tolist() == [0, 1, 2, 3, 4, 6]
    draws = make_draws(np.random.default_rng(6), mdps.B * 4)
    G, trans = est.update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, M.get_method(name), logits, draws, 4, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def many_actions():
    rng = np.random.default_rng(21)
    mdps = small_grid(rng, 2, A=150, stop=0.05)
    teacher, logits, v_student = setup(mdps, rng)
    return mdps, teacher, logits * 3.0, v_student  # peaked student: draws land in many blocks


@pytest.mark.parametrize("name", METHODS)
def test_many_actions_equal_plain_loop(many_actions, name):
    """|A| = 150: a no-op group of 146 actions in 9 blocks of 16 and one of 2."""
    mdps, teacher, logits, v_student = many_actions
    est = SampledEstimator(mdps, teacher, name, 6)
    assert [b - a for a, b in zip(est.rows.blocks.start, est.rows.blocks.end)] == [1, 1, 1, 1] + [16] * 9 + [2]
    draws = make_draws(np.random.default_rng(8), mdps.B * 6)
    G, trans = est.update(logits, draws, student_value=v_student)
    G_ref = reference_update(mdps, teacher, M.get_method(name), logits, draws, 6, v_student)
    np.testing.assert_allclose(G, G_ref, rtol=1e-9, atol=1e-9)
    if trans.action is not None:
        assert np.unique(np.searchsorted(est.rows.blocks.start, trans.action, side="right")).size >= 5


def test_blocked_draw_at_the_end_of_the_table():
    """The last row's last block (2 actions) is narrower than the 16-wide windows read
    for the second stage, so its window would run past the end of the flat logits
    table; those draws still equal the global inversion of pi(a | s) P(k | s, a)."""
    rng = np.random.default_rng(31)
    mdps = small_grid(rng, 2, A=150, stop=0.05)
    teacher, logits, _ = setup(mdps, rng)
    logits[-1, -1, 148:] += 5.0  # the last block carries most of the no-op mass
    est = SampledEstimator(mdps, teacher, "entropy_regularised")
    assert isinstance(est.rows, GroupedRows)
    flat = logits.reshape(-1, mdps.A)
    lse, _, bp = est.rows.full_cache(flat, normalise=False)
    op = mdps.outcome_prob[0, 0]  # [A, K]
    k_noop = int(np.argmax(op[148]))
    n = 500
    state = np.full(n, flat.shape[0] - 1)
    outcome = np.where(np.arange(n) % 2 == 0, k_noop, rng.integers(0, mdps.K, n))
    u = rng.random(n)
    a = draw_actions_blocked(est.rows.blocks, state, outcome, u, flat, lse, bp)
    pi = softmax(flat[-1])
    ref = []
    for k, uk in zip(outcome, u):
        cum = np.cumsum(pi * op[:, k])
        ref.append(min(int(np.searchsorted(cum, uk * cum[-1], side="right")), mdps.A - 1))
    np.testing.assert_array_equal(a, ref)
    assert np.count_nonzero(a >= 148) > 50  # the table-end path is exercised


def test_action_blocks_only_for_contiguous_groups():
    op = np.eye(3)[[0, 1, 2, 2, 2, 2]]  # two distinct actions, then a group of four
    blocks = action_blocks(op)
    assert blocks.start.tolist() == [0, 1, 2, 4] and blocks.width == 2
    assert action_blocks(np.eye(3)) is None  # all distinct: dense rows
    assert action_blocks(np.eye(3)[[0, 1, 0]]) is None  # a group that is not contiguous
