"""The unroll sampler (sampling/rollout.py, sampling/weights.py): L steps of persistent
trajectories per update, returns bootstrapped with a critic of the pseudo-return."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import METHODS, make_draws, random_dense, replicate, setup

from policy_distillation import evaluation as ev
from policy_distillation import methods as M
from policy_distillation.exact import expected_update
from policy_distillation.mdp import from_dense
from policy_distillation.sampling import ArrayDraws, SampledEstimator
from policy_distillation.training import pseudo_value

L = 4


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(17)
    mdps = random_dense(rng, 2, end=0.35)
    teacher, logits, v_student = setup(mdps, rng)
    return mdps, teacher, logits, v_student


def stationary_starts(mdps, control_pi, copies, rng):
    """Walkers drawn from the stationary law of the restart chain: d_q / sum d_q per world."""
    d = ev.state_visitation(mdps, control_pi)
    p = d / d.sum(axis=1, keepdims=True)
    s = np.array([[rng.choice(mdps.S, p=p[b]) for _ in range(copies)] for b in range(mdps.B)])
    flat = (np.arange(mdps.B * copies) * mdps.S) + s.reshape(-1)
    return flat, d.sum(axis=1)


@pytest.mark.parametrize("lam", [1.0, 0.0])
@pytest.mark.parametrize("name", METHODS)
def test_bootstrapped_unroll_mean_is_the_exact_update_per_transition(problem, name, lam):
    """From the stationary law of the walkers, with the exact critic as bootstrap and
    baseline, E[G_unroll] = L / E[episode length] * G_exact (renewal: a stationary walker
    visits s with frequency d(s) / E[len]), for n-step (lambda 1) and one-step (lambda 0)
    targets. 5 standard errors + 1e-3 over 400 copies."""
    mdps, teacher, logits, v_student = problem
    method = M.get_method(name)
    ctx = M.DistillContext(mdps, teacher.pi, logits, teacher.value, v_student)
    exact = expected_update(method, ctx)
    copies = 400
    big = replicate(mdps, copies)
    rep = lambda x: np.repeat(x, copies, axis=0)  # noqa: E731
    big_teacher = M.Teacher(pi=rep(teacher.pi), value=rep(teacher.value))
    est = SampledEstimator(big, big_teacher, method, sampler="unroll", unroll_length=L)
    q = method.control_policy(ctx)
    walkers, length = stationary_starts(mdps, q, copies, np.random.default_rng(3))
    est._walkers = walkers
    V = None
    if method.has_score_term and method.bootstrap is None:
        V = rep(pseudo_value(method, mdps, teacher, logits, v_student))
    G, _ = est.update(rep(logits), np.random.default_rng(9), student_value=rep(v_student), baseline=V,
                      critic_values=V, return_lambda=lam)
    G = G.reshape(mdps.B, copies, mdps.S, mdps.A) * (length / L)[:, None, None, None]
    se = G.std(axis=1, ddof=1) / np.sqrt(copies)
    err = np.abs(G.mean(axis=1) - exact)
    bound = 5 * se + 1e-3
    assert np.all(err <= bound), f"{name}: max excess {np.max(err - bound):.3g}"


def layered(L: int, width: int = 3, seed: int = 0):
    """Every episode lasts exactly L steps: states (t, x), any action moves to layer t + 1, the last layer ends."""
    rng = np.random.default_rng(seed)
    S, A = L * width, 3
    P = np.zeros((2, S, A, S))
    for t in range(L - 1):
        nxt = rng.dirichlet(np.ones(width), size=(2, width, A))
        P[:, t * width:(t + 1) * width, :, (t + 1) * width:(t + 2) * width] = nxt
    R = rng.normal(size=(2, S, A))
    init = np.zeros((2, S))
    init[:, :width] = 1.0 / width
    return from_dense(P, R, init)


@pytest.mark.parametrize("name", METHODS)
def test_unroll_covering_whole_episodes_without_critic_is_the_episode_sampler(name):
    """With episodes of exactly L steps, an unroll of L steps from the start is one whole
    episode: with no critic (nothing to bootstrap) and the same draws, both samplers agree."""
    mdps = layered(L)
    teacher, logits, v_student = setup(mdps, np.random.default_rng(1))
    rng = np.random.default_rng(5)
    N = 3
    draws = ArrayDraws(initial_u=rng.random(mdps.B * N), length_u=rng.random(mdps.B * N),
                       step_u=rng.random((3, mdps.B * N, L)), action_u=rng.random((mdps.B * N, L)))
    episode = SampledEstimator(mdps, teacher, name, N)
    unroll = SampledEstimator(mdps, teacher, name, N, sampler="unroll", unroll_length=L)
    G_episode, t_episode = episode.update(logits, draws, student_value=v_student)
    G_unroll, t_unroll = unroll.update(logits, draws, student_value=v_student)
    assert not t_unroll.cont[t_unroll.time == L - 1].any()  # every unroll ended its episode
    np.testing.assert_allclose(G_unroll, G_episode, rtol=1e-12, atol=1e-12)


def test_walkers_persist_and_restart(problem):
    """Each slot takes exactly L steps per update; the next update continues where it stopped,
    and a step that ends an episode is followed by the initial state."""
    mdps, teacher, logits, _ = problem
    est = SampledEstimator(mdps, teacher, "on_policy_distill", 2, sampler="unroll", unroll_length=L)
    rng = np.random.default_rng(0)
    theta = logits.copy()
    ends = []
    for _ in range(3):
        before = None if est._walkers is None else est._walkers.copy()
        trans = est.sgd_step(theta, 0.1, rng)
        assert np.all(np.bincount(trans.traj) == L)
        first = trans.time == 0
        if before is not None:
            np.testing.assert_array_equal(trans.flat_state[first][np.argsort(trans.traj[first])], before)
        ends.append(trans)
    t = ends[-1]
    order = np.lexsort((t.time, t.traj))
    state, cont, traj = t.flat_state[order], t.cont[order], t.traj[order]
    restart = ~cont[:-1] & (traj[1:] == traj[:-1])
    assert restart.any()
    starts = mdps.initial.reshape(-1) > 0
    assert np.all(starts[state[1:][restart]])


def test_unroll_settings_are_checked(problem):
    mdps, teacher, *_ = problem
    with pytest.raises(ValueError, match="unroll_length"):
        SampledEstimator(mdps, teacher, "on_policy_distill", sampler="unroll")
    with pytest.raises(ValueError, match="sampler"):
        SampledEstimator(mdps, teacher, "on_policy_distill", sampler="minibatch")


def test_truncated_unroll_is_biased():
    """Without a critic the return stops at the unroll's end. With episodes of about 20
    steps and unrolls of 1, the mean misses most of the return: it differs from the
    exact update (per transition) by far more than its noise."""
    rng = np.random.default_rng(21)
    mdps = random_dense(rng, 2, end=0.05)
    teacher, logits, _ = setup(mdps, rng)
    method = M.get_method("entropy_regularised")
    ctx = M.DistillContext(mdps, teacher.pi, logits)
    exact = expected_update(method, ctx)
    copies = 2000
    big = replicate(mdps, copies)
    rep = lambda x: np.repeat(x, copies, axis=0)  # noqa: E731
    est = SampledEstimator(big, M.Teacher(pi=rep(teacher.pi)), method, sampler="unroll", unroll_length=1)
    walkers, length = stationary_starts(mdps, ctx.student_pi, copies, np.random.default_rng(3))
    est._walkers = walkers
    G, _ = est.update(rep(logits), np.random.default_rng(9))
    G = G.reshape(mdps.B, copies, mdps.S, mdps.A) * length[:, None, None, None]
    se = G.std(axis=1, ddof=1) / np.sqrt(copies)
    assert np.max(np.abs(G.mean(axis=1) - exact) / (se + 1e-12)) > 10


def test_unroll_equals_plain_loop_for_a_fixed_teacher_control():
    """The unroll of a teacher-driven method (no actions) matches a plain loop over the same draws."""
    mdps = random_dense(np.random.default_rng(4), 2)
    teacher, logits, _ = setup(mdps, np.random.default_rng(5))
    draws = make_draws(np.random.default_rng(6), mdps.B, T=L)
    draws = ArrayDraws(initial_u=draws.initial_u, length_u=draws.length_u,
                       step_u=np.random.default_rng(7).random((3, mdps.B, L)), action_u=draws.action_u)
    est = SampledEstimator(mdps, teacher, "teacher_distill", sampler="unroll", unroll_length=L)
    G, _ = est.update(logits, draws)
    ctx = M.DistillContext(mdps, teacher.pi, logits)
    grad = M.get_method("teacher_distill").state_loss(ctx)[1]
    ref = np.zeros_like(G)
    for b in range(mdps.B):
        cum0 = np.cumsum(mdps.initial[b])
        s = min(int(np.sum(cum0[:-1] <= draws.initial_u[b] * cum0[-1])), mdps.S - 1)
        for t in range(L):
            ref[b, s] += grad[b, s]
            marg = teacher.pi[b, s] @ mdps.outcome_prob[b, s]
            cum = np.cumsum(marg) / marg.sum()
            k = int(np.sum(cum[:-1] <= draws.step_u[0, b, t]))
            if draws.step_u[1, b, t] < mdps.outcome_continue[b, s, k]:
                s = int(mdps.next_state[b, s, k])
            else:
                s = min(int(np.sum(cum0[:-1] <= draws.step_u[2, b, t] * cum0[-1])), mdps.S - 1)
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-12)
