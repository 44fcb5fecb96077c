"""The checkpoint evaluator (one compiled pass per row of logits) against the plain policy-based computation."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as envs
from policy_distillation import evaluation as ev
from policy_distillation import teachers
from policy_distillation.checkpoints import Evaluator, row_kl_and_marginal
from policy_distillation.mdp import TabularMDPs, from_dense
from policy_distillation.policies import kl_divergence, log_softmax, safe_log, uniform_policy

TOL = 1e-10  # relative: the same sums in a different order


def reference(mdps, teacher_pi, logits):
    """J, and the KL sums under teacher, student and uniform trajectories, from the [B, S, A] policy."""
    log_q = log_softmax(logits)
    pi = np.exp(log_q)
    kl = kl_divergence(teacher_pi, safe_log(teacher_pi), log_q)
    visits = {name: ev.state_visitation(mdps, p) for name, p in
              (("teacher", teacher_pi), ("student", pi), ("uniform", uniform_policy(mdps.B, mdps.S, mdps.A)))}
    return (ev.expected_return(mdps, pi), *(np.einsum("bs,bs->b", visits[z], kl) for z in
                                             ("teacher", "student", "uniform")))


def _grid(n_actions=4, mode="end", seed=0):
    rng = np.random.default_rng(seed)
    mdps = envs.random_grid_worlds(rng, 3, envs.GridConfig(rows=6, cols=5, terminal_mode=mode))
    Q = rng.normal(size=(mdps.B, mdps.S, 4))
    if n_actions > 4:
        mdps = envs.with_actions(mdps, n_actions, envs.grid_eta(mdps))
    pi = teachers.epsilon_greedy_moves(Q, n_actions, 0.1) if n_actions > 4 else teachers.softmax_policy(Q, 0.5)
    return mdps, pi, rng


@pytest.mark.parametrize("n_actions, mode", [(4, "end"), (4, "reset"), (37, "end")])
def test_evaluator_equals_the_policy_based_computation(n_actions, mode):
    mdps, pi, rng = _grid(n_actions, mode)
    logits = 2.0 * rng.normal(size=(mdps.B, mdps.S, mdps.A))
    got = Evaluator(mdps, pi)(logits)
    for g, r in zip(got, reference(mdps, pi, logits)):
        np.testing.assert_allclose(g, r, rtol=TOL, atol=1e-12)


def test_greedy_teacher_zeros_count_zero():
    mdps, _, rng = _grid()
    greedy = teachers.greedy(rng.normal(size=(mdps.B, mdps.S, 4)))
    logits = rng.normal(size=(mdps.B, mdps.S, 4))
    got = Evaluator(mdps, greedy)(logits)
    assert all(np.isfinite(g).all() for g in got)
    for g, r in zip(got, reference(mdps, greedy, logits)):
        np.testing.assert_allclose(g, r, rtol=TOL)


def test_per_state_outcome_tables():
    """Outcome tables per state take the per-state branch of the compiled pass; action rewards are added."""
    rng = np.random.default_rng(3)
    B, S, A = 2, 5, 3
    K = S + 1  # outcome k < S: move to state k; k = S: the episode ends
    op = rng.dirichlet(np.ones(K), size=(B, S, A))
    next_state = np.broadcast_to(np.concatenate([np.arange(S), [0]]), (B, S, K)).copy()
    cont = np.broadcast_to((np.arange(K) < S).astype(float), (B, S, K)).copy()
    init = np.zeros((B, S))
    init[:, 0] = 1.0
    mdps = TabularMDPs(initial=init, next_state=next_state, outcome_prob=op,
                       outcome_reward=rng.normal(size=(B, S, K)), outcome_continue=cont, gamma=1.0)
    pi = rng.dirichlet(np.ones(A), size=(B, S))
    logits = rng.normal(size=(B, S, A))
    for g, r in zip(Evaluator(mdps, pi)(logits), reference(mdps, pi, logits)):
        np.testing.assert_allclose(g, r, rtol=TOL)
    dense = from_dense(rng.dirichlet(np.ones(S), size=(B, S, A)) * 0.9, rng.normal(size=(B, S, A)), init)
    assert dense.action_reward is not None  # rewards of (s, a): the pass adds their expectation
    for g, r in zip(Evaluator(dense, pi)(logits), reference(dense, pi, logits)):
        np.testing.assert_allclose(g, r, rtol=TOL)


def test_one_outcome_table_per_mdp():
    mdps, pi, rng = _grid()
    per_mdp = TabularMDPs(initial=mdps.initial, next_state=mdps.next_state,
                          outcome_prob=np.repeat(mdps.outcome_prob, mdps.B, axis=0),
                          outcome_reward=mdps.outcome_reward, outcome_continue=mdps.outcome_continue, gamma=1.0)
    logits = rng.normal(size=(mdps.B, mdps.S, mdps.A))
    for g, r in zip(Evaluator(per_mdp, pi)(logits), reference(mdps, pi, logits)):
        np.testing.assert_allclose(g, r, rtol=TOL)


def test_row_pass_against_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(7, 6)) * 3
    teacher = rng.dirichlet(np.ones(6), size=7)
    teacher[0, 2] = 0.0
    op = rng.dirichlet(np.ones(4), size=(1, 6))
    kl, marg, r_act = row_kl_and_marginal(logits, teacher, safe_log(teacher), op, 7, np.zeros((0, 0)))
    log_q = log_softmax(logits)
    np.testing.assert_allclose(kl, kl_divergence(teacher, safe_log(teacher), log_q), rtol=1e-12)
    np.testing.assert_allclose(marg, np.exp(log_q) @ op[0], rtol=1e-12)
    assert not r_act.any()


def test_the_teacher_log_copy_is_shared():
    mdps, pi, _ = _grid()
    log = safe_log(pi)
    assert Evaluator(mdps, pi, log).teacher_log is log
