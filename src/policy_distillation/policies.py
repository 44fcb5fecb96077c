"""Tabular softmax policies and safe log-probabilities.

Teacher probabilities can be exactly 0 (greedy or hand-made teachers). Every
log-probability of a teacher used by a loss or pseudo-reward goes through
:func:`safe_log`, which floors probabilities at ``PROB_FLOOR`` (1e-8) before the
log: a zero-probability action then costs ``-log(1e-8) ~ 18.4`` nats instead of
inf, every loss stays finite, and policies with all entries above the floor are
untouched.
"""

from __future__ import annotations

import numpy as np

PROB_FLOOR = 1e-8


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log pi_theta(a | s) for tabular logits. logits: float[..., A] -> float[..., A]."""
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(axis=-1, keepdims=True)
    z = logits - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """pi_theta(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b]). float[..., A] -> float[..., A]."""
    return np.exp(log_softmax(logits))


def safe_log(p: np.ndarray, floor: float = PROB_FLOOR) -> np.ndarray:
    """log(max(p, floor)): finite log-probabilities for teachers with zeros."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(p < -1e-12) or np.any(~np.isfinite(p)):
        raise ValueError("probabilities must be finite and non-negative")
    return np.log(np.maximum(p, floor))


def uniform_policy(B: int, S: int, A: int) -> np.ndarray:
    """pi(a | s) = 1 / A -> float[B, S, A]."""
    return np.full((B, S, A), 1.0 / A)


def kl_divergence(p: np.ndarray, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p || q) = sum_a p(a) (log p(a) - log q(a)); terms with p = 0 count 0. -> float[...]."""
    with np.errstate(invalid="ignore"):  # -inf - -inf where p = 0 is masked out below
        diff = log_p - log_q
    return np.einsum("...a,...a->...", p, np.where(p > 0, diff, 0.0))
