"""Exact expected update of Eq. (1), computed from the model.

For a method with control q, per-state loss l and pseudo-reward rhat, and a
tabular softmax student, the expected update (descent direction) is

    G[s, b] = d_q(s) * grad_{theta[s, b]} l(s)
              - d_theta(s) * pi_theta(b | s) * (Qhat(s, b) - Vhat(s)),

where d_q is the expected number of visits of s under q (undiscounted,
episodic), Qhat is the action value of the pseudo-reward under the student
(the expectation of Rhat_t given s_t = s, a_t = b), and Vhat = sum_b pi_theta Qhat.
The second line is E[-grad log pi_theta(a_t|s_t) Rhat_t] with
grad_{theta[s, :]} log pi_theta(a|s) = e_a - pi_theta(s). Deterministic; meant
for small MDPs (Figures 2 and 6) and as the oracle in the tests.
"""

from __future__ import annotations

import numpy as np

from .evaluation import Factorisation, factorise
from .methods import DistillContext, Method
from .rewards import expected_pseudo_reward


def _check_episodic(ctx: DistillContext) -> None:
    if ctx.mdps.gamma != 1.0:
        raise ValueError(
            "distillation updates follow the undiscounted episodic convention (gamma = 1); "
            f"got gamma = {ctx.mdps.gamma}"
        )


def pseudo_action_values(method: Method, ctx: DistillContext, fact: Factorisation | None = None) -> np.ndarray:
    """Qhat(s, a) = E[Rhat_t | s_t = s, a_t = a] under the student -> float[B, S, A].

    Return-to-go: Qhat = rho + E[u(s') + Vhat(s')], Vhat = (I - P_theta)^-1 rhat_theta.
    Bootstrapped (Section 4.1): Qhat = rho + E[u(s') + V(s')] for the method's critic V.
    """
    _check_episodic(ctx)
    m = ctx.mdps
    rho, u = expected_pseudo_reward(method.reward, ctx, m.reward_sa() if method.reward.env else None)
    pi = ctx.student_pi
    if method.bootstrap is not None:
        return rho + m.expect_next(u + method.bootstrap(ctx))
    r_pi = np.einsum("bsa,bsa->bs", pi, rho + m.expect_next(u))
    V_hat = (fact or factorise(m, pi)).solve_values(r_pi)
    return rho + m.expect_next(u + V_hat)


def expected_update(method: Method, ctx: DistillContext) -> np.ndarray:
    """Exact expected update of Eq. (1) for ``method`` -> float[B, S, A] (descent direction).

    Where Table 1 states a loss L, this equals grad_theta L (tests check it
    against finite differences of ``methods.stated_loss``).
    """
    _check_episodic(ctx)
    m = ctx.mdps
    G = np.zeros((m.B, m.S, m.A))
    pi = ctx.student_pi
    # one factorisation of I - P_theta serves d_theta and Vhat (and d_q when q = student)
    fact_theta = factorise(m, pi) if (method.has_score_term or method.control.is_student) else None
    if method.state_loss is not None:
        fact_q = fact_theta if method.control.is_student else factorise(m, method.control_policy(ctx))
        d_q = fact_q.solve_visitation(m.initial)
        _, grad_l = method.state_loss(ctx)
        G += d_q[..., None] * grad_l
    if method.has_score_term:
        d_theta = fact_theta.solve_visitation(m.initial)
        Q_hat = pseudo_action_values(method, ctx, fact_theta)
        adv = Q_hat - np.einsum("bsa,bsa->bs", pi, Q_hat)[..., None]
        G -= d_theta[..., None] * pi * adv
    return G
