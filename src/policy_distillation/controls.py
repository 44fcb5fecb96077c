"""Control policies as data: a mixture of the teacher, the student and the uniform policy.

Every control policy of the paper (Eq. (1)'s q_theta; Section 3.2) is

    q_theta(a | s) = w_teacher pi(a | s) + w_student pi_theta(a | s) + w_uniform / A,

with weights >= 0 summing to 1: teacher-driven (1, 0, 0), student-driven
(0, 1, 0), uniform-driven (0, 0, 1) and any mixture in between. A control
that puts no weight on the student is *fixed* (it does not depend on theta),
which is what makes E_q[sum_t l(s_t)] a loss whose gradient the update is
(Theorem 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Control:
    """Mixture weights of a control policy (Eq. (1)'s q_theta).

    Attributes:
      teacher, student, uniform: non-negative weights summing to 1.
    """

    teacher: float = 0.0
    student: float = 0.0
    uniform: float = 0.0

    def __post_init__(self) -> None:
        w = (self.teacher, self.student, self.uniform)
        if any(not np.isfinite(x) or x < 0 for x in w) or abs(sum(w) - 1.0) > 1e-12:
            raise ValueError(f"control weights (teacher, student, uniform) must be >= 0 and sum to 1, got {w}")

    @property
    def is_fixed(self) -> bool:
        """q does not depend on theta (no weight on the student)."""
        return self.student == 0.0

    @property
    def is_student(self) -> bool:
        """q is the student itself (on-policy)."""
        return self.student == 1.0

    @property
    def name(self) -> str:
        """'teacher', 'student', 'uniform' for a pure control, else the weights."""
        for name in ("teacher", "student", "uniform"):
            if getattr(self, name) == 1.0:
                return name
        parts = [f"{getattr(self, n):g} {n}" for n in ("teacher", "student", "uniform") if getattr(self, n)]
        return "mixture (" + " + ".join(parts) + ")"

    def policy(self, teacher_pi: np.ndarray | None, student_pi: np.ndarray | None,
               shape: tuple[int, ...] | None = None) -> np.ndarray:
        """q_theta(a | s) from the teacher and student policies float[..., A] -> float[..., A].

        A policy whose weight is 0 is not read (it may be None); ``shape`` is
        needed only when both are None (the uniform control).
        """
        if shape is None:
            shape = (teacher_pi if teacher_pi is not None else student_pi).shape
        q = np.zeros(shape)
        if self.teacher:
            q = q + self.teacher * teacher_pi
        if self.student:
            q = q + self.student * student_pi
        if self.uniform:
            q = q + self.uniform / shape[-1]
        return q


TEACHER = Control(teacher=1.0)
STUDENT = Control(student=1.0)
UNIFORM = Control(uniform=1.0)


def mixture(beta: float) -> Control:
    """beta pi + (1 - beta) pi_theta: a mixture of the teacher and the student."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"mixture weight beta must lie in [0, 1], got {beta}")
    return Control(teacher=float(beta), student=1.0 - float(beta))
