"""The one bundle of per-state arrays that every method part reads.

A method's parts (per-step loss, pseudo-reward terms, critics; ``terms``)
are functions of a :class:`StateBatch`: teacher and student policies at some
states, and the critics there. The exact estimator hands them every state of
every MDP (``methods.DistillContext``, a StateBatch with the dynamics beside
it); the sampled estimator hands them only the visited rows
(``sampling.rows.RowStates``, a StateBatch of shape ``[1, R, A]`` whose
arrays are gathered on first use). Parts never read the dynamics, so both
views give the same per-state values.

Array letters: ``B`` MDPs, ``S`` states (or visited rows), ``A`` actions,
``M`` entries.
"""

from __future__ import annotations

import numpy as np


class StateBatch:
    """Teacher and student quantities at a batch of states.

    Attributes (float[B, S, A] unless noted):
      shape: (B, S, A).
      teacher_pi: pi(a | s); teacher_log_pi: ``policies.safe_log(pi)`` (floored).
      student_logits: theta[s, a]; student_log_pi: log pi_theta(a | s); student_pi: pi_theta(a | s).
      teacher_value, student_value: float[B, S] critics V_pi and V_theta, or None.
    Subclasses provide the arrays (eagerly or on first use).
    """

    shape: tuple[int, int, int]
    teacher_pi: np.ndarray
    teacher_log_pi: np.ndarray
    student_logits: np.ndarray
    student_log_pi: np.ndarray
    student_pi: np.ndarray
    teacher_value: np.ndarray | None
    student_value: np.ndarray | None

    def require_teacher_value(self) -> np.ndarray:
        if self.teacher_value is None:
            raise ValueError("this method needs a teacher critic V_pi (teacher_value)")
        return self.teacher_value

    def require_student_value(self) -> np.ndarray:
        if self.student_value is None:
            raise ValueError("this method needs a student critic V_theta (student_value)")
        return self.student_value

    def teacher_log_at(self, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log pi(a | s) at entries (state ``rows[m]`` of MDP 0, action ``actions[m]``) -> float[M].

        A row bundle reads the fixed teacher table entry by entry instead of
        gathering whole ``A``-wide rows (same values).
        """
        return self.teacher_log_pi[0][rows, actions]

    def student_log_at(self, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """log pi_theta(a | s) at entries of MDP 0 -> float[M]."""
        return self.student_log_pi[0][rows, actions]


class ArrayStates(StateBatch):
    """A StateBatch of given arrays (no dynamics): teacher policy and student logits float[B, S, A].

    The student's log-policy and policy are derived from the logits; the
    teacher's log-policy is ``policies.safe_log`` of the teacher unless given.
    """

    def __init__(self, teacher_pi: np.ndarray, student_logits: np.ndarray, teacher_value: np.ndarray | None = None,
                 student_value: np.ndarray | None = None, teacher_log_pi: np.ndarray | None = None):
        from .policies import log_softmax, safe_log

        self.teacher_pi = np.asarray(teacher_pi, dtype=np.float64)
        self.student_logits = np.asarray(student_logits, dtype=np.float64)
        self.shape = self.student_logits.shape
        self.teacher_value, self.student_value = teacher_value, student_value
        self.teacher_log_pi = safe_log(self.teacher_pi) if teacher_log_pi is None else teacher_log_pi
        self.student_log_pi = log_softmax(self.student_logits)
        self.student_pi = np.exp(self.student_log_pi)
