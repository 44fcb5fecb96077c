"""Per-state divergences between the student pi_theta(s) and the teacher pi(s), as method parts.

The per-token losses of language-model distillation, written as ``terms``
parts of one state: each ``StateLoss`` returns l(s) and its gradient wrt the
logits theta[s, :] (the tabular softmax: d log pi_theta(a) / d theta[b] =
[a = b] - pi_theta(b)); each value ``Term`` is l(s) alone, for stated losses
and baselines. Every part reads only its own state's rows of a
``states.StateBatch`` (row-local), so the sampled estimator may evaluate it at
the visited rows.

Teacher logs are the floored ``teacher_log_pi`` (``policies.safe_log``) wherever
a teacher log-probability is weighted by the *student* (reverse KL), exactly as
the pseudo-rewards read them, so a loss and the pseudo-reward that estimates it
agree. The generalised JSD takes the teacher's exact log (its mixture needs no
floor). Teacher zeros count 0 in every teacher-weighted sum.

Notation (texts as Table 1 prints them): p = pi_theta(s) the student, q = pi(s)
the teacher, KL(p || q) = sum_a p(a) log(p(a) / q(a)), H(q) the teacher's entropy.
Array letters: ``B`` MDPs, ``S`` states, ``A`` actions.
"""

from __future__ import annotations

import numpy as np

from .states import StateBatch
from .terms import StateLoss, Term


# ------------------------------------------------------------------ KL, both directions
def reverse_kl(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l = KL(p || q); gradient ``p (log p - log q - l)`` (the score-function form with its mean removed)."""
    f = s.student_log_pi - s.teacher_log_pi
    loss = np.einsum("bsa,bsa->bs", s.student_pi, f)
    return loss, s.student_pi * (f - loss[..., None])


def forward_kl(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l = KL(q || p) = H^x(q || p) - H(q); gradient ``p - q`` (the teacher's entropy is constant in theta)."""
    loss = np.einsum("bsa,bsa->bs", s.teacher_pi, s.teacher_log_pi - s.student_log_pi)
    return loss, s.student_pi - s.teacher_pi


def teacher_entropy(s: StateBatch) -> np.ndarray:
    """H(q) -> float[B, S] (floored logs: a teacher zero contributes 0)."""
    return -np.einsum("bsa,bsa->bs", s.teacher_pi, s.teacher_log_pi)


REVERSE_KL = StateLoss(reverse_kl, "KL(pi_theta(s_t) || pi(s_t))")
FORWARD_KL = StateLoss(forward_kl, "KL(pi(s_t) || pi_theta(s_t))")
REVERSE_KL_VALUE = Term(lambda s: reverse_kl(s)[0], "KL(pi_theta(s_{t}) || pi(s_{t}))")
FORWARD_KL_VALUE = Term(lambda s: forward_kl(s)[0], "KL(pi(s_{t}) || pi_theta(s_{t}))")
# E_{a ~ pi_theta}[log pi(a|s) - log pi_theta(a|s)]: the closed-form value of the per-token reverse-KL reward
NEGATIVE_REVERSE_KL = Term(lambda s: -reverse_kl(s)[0], "-KL(pi_theta(s_{t}) || pi(s_{t}))")


# ------------------------------------------------------------------ generalised JSD (GKD)
def jsd(beta: float) -> StateLoss:
    """Generalised Jensen-Shannon divergence of Agarwal et al. (2024, GKD), teacher first:

        JSD_beta(q || p) = beta KL(q || m) + (1 - beta) KL(p || m),  m = beta q + (1 - beta) p,

    for 0 < beta < 1. JSD_beta / beta -> KL(q || p) (forward) as beta -> 0 and
    JSD_beta / (1 - beta) -> KL(p || q) (reverse) as beta -> 1.

    Gradient: treating p as free, d JSD / d p(a) = (1 - beta) log(p(a) / m(a)) (the terms
    from d m / d p cancel: -beta q / m - (1 - beta) p / m + 1 = 0), so through the softmax

        grad_theta[s, b] = (1 - beta) p(b) (log p(b) - log m(b) - KL(p || m)).
    """
    beta = float(beta)
    if not 0.0 < beta < 1.0:
        raise ValueError(f"JSD beta must lie in (0, 1), got {beta}")

    def fn(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
        q, log_p = s.teacher_pi, s.student_log_pi
        log_q = np.log(q, out=np.full(q.shape, -np.inf), where=q > 0)
        # log m by logaddexp: finite wherever p > 0 (always: a softmax student), even where q = 0
        log_m = np.logaddexp(np.log(beta) + log_q, np.log1p(-beta) + log_p)
        kl_q = np.einsum("bsa,bsa->bs", q, np.where(q > 0, log_q - log_m, 0.0))
        d = log_p - log_m
        kl_p = np.einsum("bsa,bsa->bs", s.student_pi, d)
        loss = beta * kl_q + (1.0 - beta) * kl_p
        return loss, (1.0 - beta) * s.student_pi * (d - kl_p[..., None])

    return StateLoss(fn, f"JSD_{beta:g}(pi(s_t) || pi_theta(s_t))")


# ------------------------------------------------------------------ entropy-aware KL (Jin et al. 2026)
def entropy_aware_kl(tau: float) -> StateLoss:
    """l = KL(p || q) + [H(q) > tau] KL(q || p): reverse KL everywhere, plus forward KL where the
    teacher is uncertain (entropy above ``tau`` nats). The gate reads only the fixed teacher, so l
    is smooth in theta; with tau >= log A it never opens (H(q) <= log A) and l is the reverse KL."""
    tau = float(tau)

    def fn(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
        gate = (teacher_entropy(s) > tau).astype(np.float64)
        rev, g_rev = reverse_kl(s)
        fwd, g_fwd = forward_kl(s)
        return rev + gate * fwd, g_rev + gate[..., None] * g_fwd

    return StateLoss(fn, f"KL(pi_theta(s_t) || pi(s_t)) + [H(pi(s_t)) > {tau:g}] KL(pi(s_t) || pi_theta(s_t))")


# ------------------------------------------------------------------ the teacher's top k
def teacher_top_k(s: StateBatch, k: int) -> np.ndarray:
    """bool[B, S, A]: the teacher's k most probable actions per state (ties to the lower index;
    every action when k >= A). A stable sort, so a row's set depends on that row alone."""
    q = s.teacher_pi
    if k >= q.shape[-1]:
        return np.ones(q.shape, dtype=bool)
    top = np.argsort(-q, axis=-1, kind="stable")[..., :k]
    mask = np.zeros(q.shape, dtype=bool)
    np.put_along_axis(mask, top, True, axis=-1)
    return mask


def top_k_forward_kl(k: int) -> StateLoss:
    """Forward KL to the teacher truncated to its top k, K = top_k(q), renormalised on K:

        q_K = q [a in K] / q(K),   l = KL(q_K || p) = sum_{a in K} q_K(a) (log q_K(a) - log p(a)),

    with the student's full softmax p (what a cache of the teacher's top-k log-probabilities
    allows). Gradient ``p - q_K``: its minimiser is p = q_K, not q - the truncation biases the
    objective toward the teacher's head. With k >= A, q_K = q and l is the forward KL.
    """
    k = _check_k(k)

    def fn(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
        q_k = np.where(teacher_top_k(s, k), s.teacher_pi, 0.0)
        mass = q_k.sum(axis=-1)
        q_k /= mass[..., None]
        log_ratio = s.teacher_log_pi - np.log(mass)[..., None] - s.student_log_pi
        loss = np.einsum("bsa,bsa->bs", q_k, log_ratio)
        return loss, s.student_pi - q_k

    return StateLoss(fn, f"KL(pi_top{k}(s_t) || pi_theta(s_t))")


def top_k_negative_reverse_kl(k: int) -> Term:
    """-KL(p || q) summed over the teacher's top k only, with the student's mass renormalised on K:

        b_K(s) = sum_{a in K} p(a) / p(K) (log q(a) - log p(a)) = E_{a ~ p}[log q(a) - log p(a) | a in K],

    the per-token reverse-KL reward's mean conditioned on landing in the teacher's head (a
    biased estimate of its value -KL(p || q); as a *baseline* any state-only b leaves the update
    unbiased). With k >= A it is -KL(p || q).
    """
    k = _check_k(k)

    def fn(s: StateBatch) -> np.ndarray:
        p_k = np.where(teacher_top_k(s, k), s.student_pi, 0.0)
        return np.einsum("bsa,bsa->bs", p_k, s.teacher_log_pi - s.student_log_pi) / p_k.sum(axis=-1)

    return Term(fn, f"-KL_top{k}(pi_theta(s_{{t}}) || pi(s_{{t}}))")


def _check_k(k: int) -> int:
    if int(k) != k or k < 1:
        raise ValueError(f"top-k needs a positive integer k, got {k}")
    return int(k)
