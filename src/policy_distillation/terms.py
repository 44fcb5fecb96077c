"""The parts methods are built from, the way Table 1 writes them: per-step losses
``l(s)`` (with their gradient) and the terms of pseudo-rewards and critics.

Every part is a function of a ``states.StateBatch`` (never of the dynamics),
declares what it needs (``teacher_value``, ``student_value``) and the text
Table 1 prints for it. A per-(state, action) term may also declare a cheap
entry reader (``entries``) for the sampled estimator, which then never builds
``A``-wide rows for it.

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``M`` entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .states import StateBatch


@dataclass(frozen=True)
class StateLoss:
    """A per-step loss l(s) and its gradient wrt theta[s, :] (Table 1, column l(s_t)).

    fn: states -> (l: float[B, S], grad: float[B, S, A]).
    """

    fn: Callable[[StateBatch], tuple[np.ndarray, np.ndarray]]
    text: str
    needs: frozenset[str] = frozenset()

    def __call__(self, states: StateBatch) -> tuple[np.ndarray, np.ndarray]:
        return self.fn(states)


@dataclass(frozen=True)
class Term:
    """A per-state (float[B, S]) or per-(state, action) (float[B, S, A]) quantity.

    Attributes:
      fn: states -> the values.
      text: how Table 1 writes it.
      per_action: True for a float[B, S, A] term.
      needs: critics it reads.
      entries: optional ``(states, rows, actions) -> float[M]`` reading single
        entries of MDP 0 without the whole rows (must equal ``fn(states)[0][rows, actions]``).
    """

    fn: Callable[[StateBatch], np.ndarray]
    text: str
    per_action: bool = False
    needs: frozenset[str] = frozenset()
    entries: Callable[[StateBatch, np.ndarray, np.ndarray], np.ndarray] | None = None

    def __call__(self, states: StateBatch) -> np.ndarray:
        return self.fn(states)

    def at(self, states: StateBatch, rows: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
        """The term at states ``rows`` of MDP 0 (and ``actions`` for a per-action term) -> float[M]."""
        if not self.per_action:
            return self.fn(states)[0][rows]
        if self.entries is not None:
            return self.entries(states, rows, actions)
        return self.fn(states)[0][rows, actions]


# ------------------------------------------------------------------- per-step losses
def _teacher_cross_entropy(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi(s) || pi_theta(s)); gradient wrt theta[s, :] = pi_theta - pi."""
    loss = -np.einsum("bsa,bsa->bs", s.teacher_pi, s.student_log_pi)
    return loss, s.student_pi - s.teacher_pi


def _student_cross_entropy(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi_theta(s) || pi(s)) = -sum_a pi_theta log pi; gradient
    ``-pi_theta(b) (log pi(b) - sum_a pi_theta(a) log pi(a))`` (expected entropy regularised)."""
    loss = -np.einsum("bsa,bsa->bs", s.student_pi, s.teacher_log_pi)
    grad = -s.student_pi * (s.teacher_log_pi + loss[..., None])
    return loss, grad


def _value_gated_cross_entropy(s: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi || pi_theta) [V_pi(s) - V_theta(s) > 0] (Proposition 2); the gate is held fixed."""
    gate = (s.require_teacher_value() - s.require_student_value() > 0).astype(np.float64)
    loss, grad = _teacher_cross_entropy(s)
    return loss * gate, grad * gate[..., None]


TEACHER_CROSS_ENTROPY = StateLoss(_teacher_cross_entropy, "H^x(pi(s_t) || pi_theta(s_t))")
STUDENT_CROSS_ENTROPY = StateLoss(_student_cross_entropy, "H^x(pi_theta(s_t) || pi(s_t))")
VALUE_GATED_CROSS_ENTROPY = StateLoss(_value_gated_cross_entropy,
                                      "H^x(pi(s_t) || pi_theta(s_t)) [V_pi(s_t) - V_theta(s_t) > 0]",
                                      frozenset({"teacher_value", "student_value"}))


# ------------------------------------------------------------------ pseudo-reward terms
def _teacher_log_entries(s: StateBatch, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
    return s.teacher_log_at(rows, actions)


def _student_log_entries(s: StateBatch, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
    return s.student_log_at(rows, actions)


def difference(first: Term, second: Term, text: str | None = None) -> Term:
    """The term ``first - second`` (both per-state or both per-action); it reads single entries
    when both parts do (a pseudo-reward slot holds one term, so a sum of parts is one term)."""
    if first.per_action != second.per_action:
        raise ValueError(f"cannot subtract {second.text!r} from {first.text!r}: one is per-action, the other not")
    entries = None
    if first.entries is not None and second.entries is not None:
        def entries(s: StateBatch, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
            return first.entries(s, rows, actions) - second.entries(s, rows, actions)
    return Term(lambda s: first.fn(s) - second.fn(s), text or f"{first.text} - {second.text}",
                per_action=first.per_action, needs=first.needs | second.needs, entries=entries)


# texts index time with {t}: rewards.PseudoReward formats it as i (now) or {i+1} (next state)
TEACHER_LOG_PROB = Term(lambda s: s.teacher_log_pi, "log pi(a_{t} | s_{t})", per_action=True,
                        entries=_teacher_log_entries)
NEGATIVE_TEACHER_CROSS_ENTROPY = Term(lambda s: -_teacher_cross_entropy(s)[0], "-H^x(pi(s_{t}) || pi_theta(s_{t}))")
TEACHER_VALUE = Term(lambda s: s.require_teacher_value(), "V_pi(s_{t})", needs=frozenset({"teacher_value"}))
NEGATIVE_TEACHER_VALUE = Term(lambda s: -s.require_teacher_value(), "-V_pi(s_{t})",
                              needs=frozenset({"teacher_value"}))
# the student's own log-probability (the sampled reverse KL of on-policy distillation reads it)
STUDENT_LOG_PROB = Term(lambda s: s.student_log_pi, "log pi_theta(a_{t} | s_{t})", per_action=True,
                        entries=_student_log_entries)
# log pi - log pi_theta: minus the single-sample reverse KL, held constant (stop-gradient) as a pseudo-reward
LOG_RATIO = difference(TEACHER_LOG_PROB, STUDENT_LOG_PROB)
ZERO_VALUE = Term(lambda s: np.zeros(s.shape[:2]), "V_0(s_{t}) = 0")


# ---------------------------------------------------------------- per-state loss values
# f(s) of a stated loss E_q[sum_t f(s_t)] (Table 1's last column)
TEACHER_CROSS_ENTROPY_VALUE = Term(lambda s: _teacher_cross_entropy(s)[0], "H^x(pi(s_{t}) || pi_theta(s_{t}))")
STUDENT_CROSS_ENTROPY_VALUE = Term(lambda s: _student_cross_entropy(s)[0], "H^x(pi_theta(s_{t}) || pi(s_{t}))")
