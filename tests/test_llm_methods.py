"""The language-model distillation entries (llm_methods) and their parts (divergences).

The registry-parametrised tests cover them as every other entry (conformance,
stated loss vs finite differences, measured "is grad?", sampled mean vs exact,
plain-loop equality, Table 1). Here: reduces-to checks, the divergences'
limits and gradients, the top-k truncations, and the control-variate baseline
(the one abstraction added for them: ``Method.baseline``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sampling_helpers import make_draws, random_dense, reference_update, replicate, setup, small_grid

from policy_distillation import divergences as D
from policy_distillation import fields
from policy_distillation import methods as M
from policy_distillation.exact import expected_update
from policy_distillation.llm_methods import ENTRIES, ENTROPY_THRESHOLD, TOP_K
from policy_distillation.policies import softmax
from policy_distillation.sampling import SampledEstimator
from policy_distillation.states import ArrayStates
from policy_distillation.table1 import table1_rows
from policy_distillation.terms import LOG_RATIO, Term

B, S, A = 2, 4, 3


@pytest.fixture(scope="module")
def problem():
    return fields.random_dense_problem(np.random.default_rng(31), B, S, A)


def update(name_or_method, mdps, teacher, logits):
    method = M.get_method(name_or_method) if isinstance(name_or_method, str) else name_or_method
    return expected_update(method, M.DistillContext(mdps, teacher, logits))


def fd_state_gradient(loss, teacher, logits, eps=1e-6):
    """Central differences of l(s) wrt theta[s, :], every state at once -> float[..., A]."""
    fd = np.empty_like(logits)
    for a in range(logits.shape[-1]):
        step = np.zeros(logits.shape[-1])
        step[a] = eps
        fd[..., a] = (loss(ArrayStates(teacher, logits + step))[0] - loss(ArrayStates(teacher, logits - step))[0]) / (
            2 * eps)
    return fd


# ------------------------------------------------------------------ the entries
def test_entries_are_registered_with_table1_texts():
    assert set(ENTRIES) <= set(M.REGISTRY) and len(ENTRIES) == 10
    for name in ENTRIES:
        m = M.get_method(name)
        assert m.verdict_source == M.NOT_IN_PAPER and m.is_gradient is not None
        assert m.control.is_student
        assert (m.not_gradient_reason is None) == m.is_gradient
        assert (m.loss is not None) == m.is_gradient
    assert M.get_method("token_reverse_kl").reward_text == (
        "log pi(a_t | s_t) - log pi_theta(a_t | s_t), bootstrapped with V_0(s_{t+1}) = 0")
    assert M.get_method("sequence_reverse_kl").reward_text == "log pi(a_i | s_i) - log pi_theta(a_i | s_i)"
    assert M.get_method("sequence_reverse_kl_expected").loss_text == "KL(pi_theta(s_t) || pi(s_t))"
    assert M.get_method("token_reverse_kl_cv").reward_text.endswith("; baseline b(s_t) = -KL(pi_theta(s_t) || pi(s_t))")
    assert f"KL_top{TOP_K}" in M.get_method("token_reverse_kl_cv_topk").reward_text


def test_log_ratio_reads_entries_like_full_rows(problem):
    mdps, teacher, logits = problem
    states = ArrayStates(teacher, logits)
    rows, actions = np.array([0, 3, 1, 3]), np.array([2, 0, 1, 1])
    np.testing.assert_array_equal(LOG_RATIO.at(states, rows, actions), LOG_RATIO(states)[0][rows, actions])


def test_teacher_equal_to_student_gives_a_zero_update(problem):
    mdps, _, logits = problem
    teacher = softmax(logits)
    for name in ENTRIES:
        G = update(name, mdps, teacher, logits)
        np.testing.assert_allclose(G, 0.0, atol=1e-10, err_msg=name)
    assert np.abs(update("sequence_reverse_kl", mdps, teacher, logits + 1.0 * (np.arange(A) == 0))).max() > 1e-3


@pytest.mark.parametrize(("name", "same_as"), [
    ("token_reverse_kl", "onpolicy_reverse_kl"),  # rhat_t alone: the visit-weighted per-state reverse-KL gradient
    ("token_reverse_kl_cv", "token_reverse_kl"),  # a state-only baseline leaves the expected update alone
    ("token_reverse_kl_cv_topk", "token_reverse_kl"),
    ("sequence_reverse_kl_expected", "sequence_reverse_kl"),  # both the gradient of one loss
    ("onpolicy_forward_kl", "on_policy_distill"),  # KL(pi || pi_theta) = H^x(pi || pi_theta) - H(pi)
    ("topk_forward_kl", "onpolicy_forward_kl"),  # A = 3 <= k: nothing truncated
])
def test_equal_expected_updates(problem, name, same_as):
    mdps, teacher, logits = problem
    G = update(name, mdps, teacher, logits)
    assert np.abs(G).max() > 1e-3
    np.testing.assert_allclose(G, update(same_as, mdps, teacher, logits), rtol=0, atol=1e-10)


def test_entropy_aware_kl_reduces_to_its_parts():
    mdps, teacher, logits = fields.random_dense_problem(np.random.default_rng(4), 3, 5, 4, zero_fraction=0.0)
    entropy = D.teacher_entropy(ArrayStates(teacher, logits))
    gate = entropy > ENTROPY_THRESHOLD
    assert gate.any() and not gate.all(), "the default threshold must open some gates and not others"
    method = M.get_method("entropy_aware_kl")
    reverse = update("onpolicy_reverse_kl", mdps, teacher, logits)
    closed = replace(method, state_loss=D.entropy_aware_kl(np.log(4)))  # H(pi) <= log |A|: never above
    np.testing.assert_allclose(update(closed, mdps, teacher, logits), reverse, rtol=0, atol=1e-12)
    opened = replace(method, state_loss=D.entropy_aware_kl(-1.0))  # always above: reverse + forward
    both = reverse + update("onpolicy_forward_kl", mdps, teacher, logits)
    np.testing.assert_allclose(update(opened, mdps, teacher, logits), both, rtol=0, atol=1e-12)
    assert np.abs(update(method, mdps, teacher, logits) - reverse).max() > 1e-3


# ------------------------------------------------------------------ generalised JSD
def test_jsd_limits_are_the_two_kls():
    """GKD: JSD_beta / beta -> KL(pi || pi_theta) as beta -> 0, JSD_beta / (1 - beta) -> KL(pi_theta || pi)
    as beta -> 1; the gradients too (the reverse limit needs a teacher without zeros)."""
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 4, 5))
    teacher = rng.dirichlet(np.ones(5), size=(2, 4))
    with_zeros = teacher * (rng.random((2, 4, 5)) > 0.3)
    with_zeros[..., 0] += 0.1
    with_zeros /= with_zeros.sum(-1, keepdims=True)
    small, near_one = 1e-7, 1 - 1e-7
    for q in (teacher, with_zeros):
        states = ArrayStates(q, logits)
        value, grad = D.jsd(small)(states)
        fwd, fwd_grad = D.forward_kl(states)
        np.testing.assert_allclose(value / small, fwd, rtol=1e-5)
        np.testing.assert_allclose(grad / small, fwd_grad, rtol=0, atol=1e-5)
    states = ArrayStates(teacher, logits)
    value, grad = D.jsd(near_one)(states)
    rev, rev_grad = D.reverse_kl(states)
    np.testing.assert_allclose(value / (1 - near_one), rev, rtol=1e-5)
    np.testing.assert_allclose(grad / (1 - near_one), rev_grad, rtol=0, atol=1e-5)


def test_jsd_at_one_half_is_symmetric():
    rng = np.random.default_rng(6)
    p, q = rng.dirichlet(np.ones(7), size=(3, 2)), rng.dirichlet(np.ones(7), size=(3, 2))
    one = D.jsd(0.5)(ArrayStates(q, np.log(p)))[0]
    other = D.jsd(0.5)(ArrayStates(p, np.log(q)))[0]
    np.testing.assert_allclose(one, other, rtol=1e-12)
    assert np.all(one > 0) and np.all(one <= np.log(2))


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_jsd_gradient_matches_finite_differences(problem, beta):
    _, teacher, logits = problem
    assert (teacher == 0).any()
    loss = D.jsd(beta)
    np.testing.assert_allclose(loss(ArrayStates(teacher, logits))[1], fd_state_gradient(loss, teacher, logits),
                               rtol=0, atol=1e-8)


def test_jsd_beta_is_checked():
    for beta in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="beta"):
            D.jsd(beta)


# ------------------------------------------------------------------ top k
def test_top_k_with_k_at_least_A_is_the_full_version(problem):
    _, teacher, logits = problem
    states = ArrayStates(teacher, logits)
    for k in (A, A + 5):
        for x, y in zip(D.top_k_forward_kl(k)(states), D.forward_kl(states)):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)
        np.testing.assert_allclose(D.top_k_negative_reverse_kl(k)(states), D.NEGATIVE_REVERSE_KL(states),
                                   rtol=0, atol=1e-12)


def test_top_k_below_A_truncates_the_teacher():
    rng = np.random.default_rng(8)
    teacher = rng.dirichlet(np.ones(6), size=(2, 3))
    teacher[0, 0] = [0.3, 0.0, 0.3, 0.1, 0.0, 0.3]  # ties: the lower index wins
    logits = rng.normal(size=(2, 3, 6))
    mask = D.teacher_top_k(ArrayStates(teacher, logits), 2)
    assert np.all(mask.sum(-1) == 2) and list(np.flatnonzero(mask[0, 0])) == [0, 2]
    loss = D.top_k_forward_kl(2)
    np.testing.assert_allclose(loss(ArrayStates(teacher, logits))[1], fd_state_gradient(loss, teacher, logits),
                               rtol=0, atol=1e-8)
    # its minimiser is the teacher renormalised on its top k (the bias of the truncation), not the teacher
    head = np.where(mask, teacher, 1e-300)
    value, grad = loss(ArrayStates(teacher, np.log(head / head.sum(-1, keepdims=True))))
    np.testing.assert_allclose(value, 0.0, atol=1e-12)
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    assert np.all(loss(ArrayStates(teacher, np.log(teacher + 1e-300)))[1].max(-1) > 1e-3)


def test_top_k_baseline_is_the_reward_mean_on_the_teachers_head():
    rng = np.random.default_rng(9)
    teacher, logits = rng.dirichlet(np.ones(6), size=(2, 3)), rng.normal(size=(2, 3, 6))
    states = ArrayStates(teacher, logits)
    mask = D.teacher_top_k(states, 3)
    p = np.where(mask, states.student_pi, 0.0)
    expected = (p * (states.teacher_log_pi - states.student_log_pi)).sum(-1) / p.sum(-1)
    np.testing.assert_allclose(D.top_k_negative_reverse_kl(3)(states), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="positive integer"):
        D.top_k_forward_kl(0)


# ------------------------------------------------------------------ the control-variate baseline
def _draws(mdps, teacher, logits, method, copies=240, seed=7, **kw):
    """copies independent sampled updates per MDP (N = 10 each) -> float[B, copies, S, A]."""
    rep = lambda x: np.repeat(x, copies, axis=0)  # noqa: E731
    est = SampledEstimator(replicate(mdps, copies), M.Teacher(pi=rep(teacher.pi)), method, n_trajectories=10)
    G, _ = est.update(rep(logits), np.random.default_rng(seed), **{k: rep(v) for k, v in kw.items()})
    return G.reshape(mdps.B, copies, mdps.S, mdps.A)


def _assert_mean_is_exact(G, exact, what):
    se = G.std(axis=1, ddof=1) / np.sqrt(G.shape[1])
    assert np.all(np.abs(G.mean(axis=1) - exact) <= 5 * se + 1e-3), what


def test_control_variate_keeps_the_mean_and_cuts_the_variance():
    """vOPD: b(s_t) = -KL(pi_theta(s_t) || pi(s_t)) = E[rhat_t | s_t]. Same draws with and without it:
    both means match the one exact update; the total variance falls (measured 16.2 against 30.8)."""
    rng = np.random.default_rng(7)
    mdps = random_dense(rng, 2)
    teacher, logits, _ = setup(mdps, rng)
    exact = update("token_reverse_kl", mdps, teacher.pi, logits)
    draws = {name: _draws(mdps, teacher, logits, name) for name in ("token_reverse_kl", "token_reverse_kl_cv")}
    for name, G in draws.items():
        _assert_mean_is_exact(G, exact, name)
    assert draws["token_reverse_kl_cv"].var(axis=1).sum() < 0.7 * draws["token_reverse_kl"].var(axis=1).sum()


def _odd_baseline(s):
    """A deliberately poor state baseline: any function of the state's own rows."""
    return 2.0 * np.cos(7.0 * s.student_logits.sum(-1)) + 4.0 * s.teacher_pi[..., 0]


@pytest.mark.parametrize("name", ["token_reverse_kl", "sequence_reverse_kl", "token_reverse_kl_cv_topk"])
def test_any_state_baseline_keeps_the_update_unbiased(name):
    """A state-only baseline of any form, however poor (an odd function, or the biased top-k one with
    k < |A|), leaves the sampled update's mean at the exact update; with the bootstrap (one-step) and
    with the return-to-go score weight."""
    rng = np.random.default_rng(12)
    mdps = small_grid(rng, 2, A=16)
    teacher, logits, _ = setup(mdps, rng)
    method = M.get_method(name)
    if method.baseline is None:
        method = replace(method, baseline=Term(_odd_baseline, "odd(s_{t})"))
    else:
        assert TOP_K < mdps.A
    _assert_mean_is_exact(_draws(mdps, teacher, logits, method), update(name, mdps, teacher.pi, logits), name)


def test_the_callers_baseline_replaces_the_methods():
    rng = np.random.default_rng(3)
    mdps = random_dense(rng, 2)
    teacher, logits, _ = setup(mdps, rng)
    draws = make_draws(np.random.default_rng(4), mdps.B * 3)

    def sampled(name, **kw):
        return SampledEstimator(mdps, teacher, name, 3).update(logits, draws, **kw)[0]

    none = np.zeros((mdps.B, mdps.S))
    own = -D.reverse_kl(M.DistillContext(mdps, teacher.pi, logits))[0]
    np.testing.assert_array_equal(sampled("token_reverse_kl_cv", baseline=none), sampled("token_reverse_kl"))
    np.testing.assert_allclose(sampled("token_reverse_kl_cv", baseline=own), sampled("token_reverse_kl_cv"),
                               rtol=0, atol=1e-12)
    # the plain-loop reference subtracts the method's baseline too (the equality tests then cover it)
    ref = reference_update(mdps, teacher, M.get_method("token_reverse_kl_cv"), logits, draws, 3, None)
    np.testing.assert_allclose(ref, sampled("token_reverse_kl_cv"), rtol=1e-9, atol=1e-9)
    assert np.abs(ref - sampled("token_reverse_kl")).max() > 1e-3


def test_a_baseline_must_be_per_state_and_needs_a_score_term():
    token = M.get_method("token_reverse_kl")
    with pytest.raises(ValueError, match="per-state"):
        replace(token, baseline=LOG_RATIO)
    with pytest.raises(ValueError, match="score term"):
        replace(M.get_method("onpolicy_reverse_kl"), baseline=D.NEGATIVE_REVERSE_KL)
    assert replace(token, baseline=D.NEGATIVE_REVERSE_KL).needs == frozenset()


def test_table1_measures_the_claimed_verdicts():
    rows = table1_rows(np.random.default_rng(2), n_mdps=2, n_states=3, n_actions=4, method_names=list(ENTRIES))
    by = {r["method"]: r for r in rows}
    assert all(r["agrees"] for r in rows), [(r["method"], r["asymmetry"]) for r in rows if not r["agrees"]]
    for name in ("sequence_reverse_kl", "sequence_reverse_kl_expected"):
        assert by[name]["computed"] == "yes" and by[name]["grad_error"] < 1e-6
    assert all(by[n]["asymmetry"] > 1e-2 for n in ENTRIES if not M.get_method(n).is_gradient)
