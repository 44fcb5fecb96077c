"""Exact checkpoint metrics of a run: the student's return and its KL to the teacher under three
trajectory distributions (Figure 3's columns).

At every checkpoint the student pi_theta = softmax(theta) is evaluated exactly:
J(pi_theta) and ``E_z[sum_t KL(pi(s_t) || pi_theta(s_t))]`` for z in {teacher,
student, uniform}. The per-state quantities the linear solves need (the KL and
the outcome marginal ``P(k | s) = sum_a pi_theta(a | s) P(k | s, a)``) come from
one compiled pass over each row of logits (:func:`row_kl_and_marginal`), so
``|A| = 4096`` never builds a ``[B, S, A]`` policy. KL terms with teacher
probability 0 count 0, so greedy teachers are fine.

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``K`` outcomes.
"""

from __future__ import annotations

import numba
import numpy as np

from . import evaluation as ev
from .mdp import TabularMDPs
from .policies import safe_log


@numba.njit(cache=True)
def row_kl_and_marginal(logits, teacher_pi, teacher_log, op, op_div, action_reward):
    """Per row of logits float[R, A]: KL(pi || softmax(logits)) float[R], the outcome
    marginal of softmax(logits) float[R, K] under the outcome tables ``op`` float[M, A, K]
    (row r reads table ``r // op_div``: 1 per state, S per MDP, R shared) and the expected
    action reward float[R] (``action_reward`` float[R, A], or float[0, 0] for none)."""
    R, A = logits.shape
    K = op.shape[2]
    kl = np.empty(R)
    marg = np.zeros((R, K))
    r_act = np.zeros(R)
    has_ar = action_reward.shape[0] > 0
    for r in range(R):
        m = -np.inf
        for a in range(A):
            if logits[r, a] > m:
                m = logits[r, a]
        z = 0.0
        for a in range(A):
            z += np.exp(logits[r, a] - m)
        lse = m + np.log(z)
        acc = 0.0
        o = r // op_div
        for a in range(A):
            lq = logits[r, a] - lse
            p = teacher_pi[r, a]
            if p > 0:
                acc += p * (teacher_log[r, a] - lq)
            q = np.exp(lq)
            for k in range(K):
                marg[r, k] += q * op[o, a, k]
            if has_ar:
                r_act[r] += q * action_reward[r, a]
        kl[r] = acc
    return kl, marg, r_act


class Evaluator:
    """Exact checkpoint metrics of one run; the teacher's and the uniform policy's
    visitations are computed once.

    Args:
      mdps: the batch; teacher_pi: float[B, S, A];
      teacher_log: its ``policies.safe_log`` (computed when None; a caller that
        already holds it passes it, so a job keeps one copy).
    """

    def __init__(self, mdps: TabularMDPs, teacher_pi: np.ndarray, teacher_log: np.ndarray | None = None):
        self.mdps = mdps
        self.teacher_pi = teacher_pi
        self.teacher_log = safe_log(teacher_pi) if teacher_log is None else teacher_log
        teacher_fact = ev.factorise(mdps, teacher_pi)
        uniform = ev.factorise_marginal(mdps, _uniform_marginal(mdps))
        self.uniform_visits = uniform.solve_visitation(mdps.initial)
        self.teacher_visits = teacher_fact.solve_visitation(mdps.initial)
        self.teacher_return = ev.expected_return(mdps, teacher_pi, teacher_fact)
        ar = mdps.action_reward
        self._action_reward = np.zeros((0, 0)) if ar is None else np.ascontiguousarray(ar.reshape(-1, mdps.A))

    def _op_tables(self) -> tuple[np.ndarray, int]:
        """The outcome tables float[M, A, K] and the rows per table (``row_kl_and_marginal``)."""
        op, (B, S) = self.mdps.outcome_prob, (self.mdps.B, self.mdps.S)
        if op.shape[1] == 1:  # one table per MDP (or one for all): no [B, S, A, K] copy
            return np.ascontiguousarray(op[:, 0]), S if op.shape[0] > 1 else B * S
        return np.ascontiguousarray(np.broadcast_to(op, (B, S, *op.shape[2:])).reshape(B * S, *op.shape[2:])), 1

    def __call__(self, logits: np.ndarray) -> tuple[np.ndarray, ...]:
        """(J, KL under teacher, student and uniform trajectories): four float[B]."""
        m = self.mdps
        flat = logits.reshape(-1, m.A)
        kl, marg, r_act = row_kl_and_marginal(
            flat, self.teacher_pi.reshape(-1, m.A), self.teacher_log.reshape(-1, m.A),
            *self._op_tables(), self._action_reward)
        kl = kl.reshape(m.B, m.S)
        marg = marg.reshape(m.B, m.S, m.K)
        fact = ev.factorise_marginal(m, marg)
        V = fact.solve_values(np.einsum("bsk,bsk->bs", marg, m.outcome_reward) + r_act.reshape(m.B, m.S))
        ret = np.einsum("bs,bs->b", m.initial, V)
        kl_student = np.einsum("bs,bs->b", fact.solve_visitation(m.initial), kl)
        kl_teacher = np.einsum("bs,bs->b", self.teacher_visits, kl)
        kl_uniform = np.einsum("bs,bs->b", self.uniform_visits, kl)
        return ret, kl_teacher, kl_student, kl_uniform


def _uniform_marginal(mdps: TabularMDPs) -> np.ndarray:
    """The uniform policy's outcome marginal: the action-average of the outcome table -> float[B, S, K]."""
    return np.ascontiguousarray(np.broadcast_to(mdps.outcome_prob.mean(axis=2), (mdps.B, mdps.S, mdps.K)))
