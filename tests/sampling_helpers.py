"""Shared fixtures of the sampled-estimator tests, and the plain per-MDP loop they are checked against."""

from __future__ import annotations

import numpy as np

from policy_distillation import environments as E
from policy_distillation import evaluation as ev
from policy_distillation import methods as M
from policy_distillation.mdp import TabularMDPs, from_dense
from policy_distillation.policies import softmax
from policy_distillation.rewards import sampled_pseudo_reward
from policy_distillation.sampling import ArrayDraws, SampledEstimator, geometric_length

METHODS = sorted(M.REGISTRY)


def random_dense(rng: np.random.Generator, B: int, S: int = 4, A: int = 3, end: float = 0.3) -> TabularMDPs:
    P = rng.random((B, S, A, S)) ** 3
    P = P / P.sum(-1, keepdims=True) * (1 - end)
    R = rng.normal(size=(B, S, A))
    init = rng.random((B, S))
    return from_dense(P, R, init / init.sum(1, keepdims=True))


def small_grid(rng: np.random.Generator, B: int, A: int, stop: float = 0.1) -> TabularMDPs:
    cfg = E.GridConfig(rows=3, cols=3, p_wall=0.1, p_goal=0.15, p_pit=0.1, stop_prob=stop)
    return E.with_actions(E.random_grid_worlds(rng, B, cfg), A, cfg.eta)


def teacher_policy(rng: np.random.Generator, B: int, S: int, A: int) -> np.ndarray:
    pi = rng.random((B, S, A)) ** 2
    pi[rng.random((B, S, A)) < 0.25] = 0.0  # exact zeros (floored logs)
    pi[..., 0] += 0.05
    return pi / pi.sum(-1, keepdims=True)


def setup(mdps: TabularMDPs, rng: np.random.Generator):
    B, S, A = mdps.B, mdps.S, mdps.A
    pi = teacher_policy(rng, B, S, A)
    logits = rng.normal(size=(B, S, A))
    teacher = M.Teacher(pi=pi, value=ev.state_values(mdps, pi))
    return teacher, logits, ev.state_values(mdps, softmax(logits))


def replicate(mdps: TabularMDPs, copies: int) -> TabularMDPs:
    return mdps.subset(np.repeat(np.arange(mdps.B), copies))


def make_draws(rng, BN, T=4000):
    return ArrayDraws(initial_u=rng.random(BN), length_u=rng.random(BN), step_u=rng.random((2, BN, T)),
                      action_u=rng.random((BN, T)))


def reference_cases():
    rng = np.random.default_rng(11)
    cases = {}
    for kind, mdps in (("dense", random_dense(rng, 3)), ("grid_a4", small_grid(rng, 3, A=4, stop=0.05)),
                       ("grid_a7", small_grid(rng, 3, A=7, stop=0.05))):
        cases[kind] = (mdps, *setup(mdps, rng))
    return cases


def reference_update(mdps, teacher, method, logits, draws, N, student_value):
    """Plain per-MDP, per-trajectory loop over the same draws (the obvious algorithm).

    The pseudo-reward is the package's one sum (``rewards.sampled_pseudo_reward``),
    evaluated step by step on a context of the trajectory's own MDP; the method's
    state baseline (``Method.baseline``) is subtracted from each score weight.
    """
    ctx = M.DistillContext(mdps, teacher.pi, logits, teacher.value, student_value)
    q = method.control_policy(ctx)
    pi = ctx.student_pi
    B, S, A, K = mdps.B, mdps.S, mdps.A, mdps.K
    op = np.broadcast_to(mdps.outcome_prob, (B, S, A, K))
    ar = mdps.action_reward if mdps.action_reward is not None else np.zeros((B, S, A))
    cvals = np.unique(mdps.outcome_continue[mdps.outcome_continue > 0])
    c0 = cvals[0] if cvals.size == 1 and cvals[0] < 1 else None
    one_hot = np.all((mdps.initial == 0) | (mdps.initial == 1))
    grad_l = method.state_loss(ctx)[1] if method.state_loss else np.zeros((B, S, A))
    G = np.zeros((B, S, A))
    for b in range(B):
        one = M.DistillContext(mdps.subset([b]), teacher.pi[[b]], logits[[b]],
                               None if teacher.value is None else teacher.value[[b]],
                               None if student_value is None else student_value[[b]])
        boot = method.bootstrap(one)[0] if method.bootstrap is not None else None
        base = method.baseline(one)[0] if method.baseline is not None else np.zeros(S)
        for n in range(N):
            i = b * N + n
            if one_hot:
                s = int(np.argmax(mdps.initial[b]))
            else:
                cum = np.cumsum(mdps.initial[b])
                s = min(int(np.sum(cum[:-1] <= draws.initial_u[i] * cum[-1])), S - 1)
            L = int(geometric_length(draws.length_u[i], c0)) if c0 is not None else None
            steps, t = [], 0
            while True:
                marg = q[b, s] @ op[b, s]
                cum = np.cumsum(marg)
                cum = cum / cum[-1]
                k = int(np.sum(cum[:-1] <= draws.step_u[0, i, t]))
                a = 0
                if method.has_score_term:
                    w = np.cumsum(pi[b, s] * op[b, s, :, k])
                    a = min(int(np.sum(w[:-1] <= draws.action_u[i, t] * w[-1])), A - 1)
                s2 = int(mdps.next_state[b, s, k])
                pc = mdps.outcome_continue[b, s, k]
                cont = (pc > 0 and t + 1 < L) if c0 is not None else bool(draws.step_u[1, i, t] < pc)
                steps.append((s, a, k, s2, cont))
                if not cont:
                    break
                s, t = s2, t + 1
            for s_, *_ in steps:
                G[b, s_] += grad_l[b, s_]
            if not method.has_score_term:
                continue
            rhat = []
            for j, (s_, a_, k_, s2_, c_) in enumerate(steps):
                a_next = steps[j + 1][1] if c_ else 0
                r_env = mdps.outcome_reward[b, s_, k_] + ar[b, s_, a_]
                rhat.append(float(sampled_pseudo_reward(method.reward, one, np.array([s_]), np.array([a_]),
                                                        np.array([r_env]), np.array([c_]), np.array([s2_]),
                                                        np.array([a_next]))[0]))
            for j, (s_, a_, k_, s2_, c_) in enumerate(steps):
                if boot is not None:
                    W = rhat[j] + (boot[s2_] if c_ else 0.0)
                else:
                    W = sum(rhat[j:])
                W -= base[s_]  # the method's state baseline (a control variate)
                score = -pi[b, s_].copy()
                score[a_] += 1.0
                G[b, s_] -= score * W
    return G / N


def log_softmax_ref(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def run_sgd(mdps, teacher, logits, name, steps=4, student_value=None):
    """A few SGD steps, then an update: (theta, caches..., G) for bit-for-bit comparisons."""
    est = SampledEstimator(mdps, teacher, name, n_trajectories=2)
    theta = logits.copy()
    rng = np.random.default_rng(11)
    for _ in range(steps):
        est.sgd_step(theta, 0.3, rng, student_value=student_value)
    G, _ = est.update(theta, np.random.default_rng(12), student_value=student_value)
    return (theta, *(c.copy() for c in est.row_caches if c is not None), G)
