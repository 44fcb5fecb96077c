"""Section 3.3: which way round the cross-entropy goes decides what is copied.

For a fixed teacher distribution pi over A actions and a softmax student
pi_theta(logits):
  - minimising H^x(pi || pi_theta) = -sum_a pi(a) log pi_theta(a) replicates
    pi (its minimum over the simplex is at pi_theta = pi, Gibbs' inequality);
  - minimising H^x(pi_theta || pi) = -sum_a pi_theta(a) log pi(a), a linear
    function of pi_theta, puts all mass on argmax_a pi (a linear function on
    the simplex is minimised at a vertex: the one with the largest log pi).
This module runs the gradient descent on the logits and returns the final
student, with criterion functions that say whether each outcome happened.

Measured caveat (tests/test_mode_seeking.py): under the softmax
parametrisation every vertex of the simplex is a stationary point of the
reverse direction, and the flow leaves a wrong vertex only at a rate
proportional to the mode's (tiny) probability there. From the uniform start
the student goes straight to the mode; from a start where the mode has
probability 0.007 it first settles on the runner-up (> 0.999 from 5k to 40k
steps at lr = 1) and jumps to the mode only between 40k and 50k steps. The claim is about
the minimiser; finite runs need the criterion functions to tell.
Array letter: ``A`` actions.
"""

from __future__ import annotations

import numpy as np

from . import terms
from .policies import PROB_FLOOR, safe_log, softmax
from .states import ArrayStates

__all__ = [
    "DIRECTIONS",
    "cross_entropy_gradient",
    "is_mode_seeking",
    "minimise_cross_entropy",
    "mode_seeking_check",
    "replicates",
]

DIRECTIONS = ("student_teacher", "teacher_student")


def _check_distribution(pi: np.ndarray, name: str) -> np.ndarray:
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim != 1 or pi.size < 2:
        raise ValueError(f"{name} must be float[A] with A >= 2, got shape {pi.shape}")
    if np.any(pi < 0) or not np.isfinite(pi).all() or abs(pi.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name} must be a probability distribution (non-negative, sums to 1)")
    return pi


def cross_entropy_gradient(direction: str, teacher: np.ndarray, logits: np.ndarray) -> tuple[float, np.ndarray]:
    """Loss and logit gradient of one cross-entropy direction.

    Args:
      direction: 'student_teacher' for H^x(pi_theta || pi) (expected entropy
        regularised's per-step loss) or 'teacher_student' for H^x(pi || pi_theta)
        (distillation's per-step loss), Table 1.
      teacher: float[A] teacher distribution pi (zeros floored by ``safe_log``).
      logits: float[A] student logits.
    Returns:
      (loss, float[A] gradient).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    teacher = np.asarray(teacher, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    return _loss_and_gradient(direction, teacher, safe_log(teacher), logits)


# the registry's own per-step losses (Table 1): one implementation of each direction
_LOSSES = {"student_teacher": terms.STUDENT_CROSS_ENTROPY, "teacher_student": terms.TEACHER_CROSS_ENTROPY}


def _loss_and_gradient(
    direction: str, teacher: np.ndarray, log_pi: np.ndarray, logits: np.ndarray
) -> tuple[float, np.ndarray]:
    one = ArrayStates(teacher[None, None], logits[None, None], teacher_log_pi=log_pi[None, None])
    loss, grad = _LOSSES[direction](one)
    return float(loss[0, 0]), grad[0, 0]


def minimise_cross_entropy(
    direction: str, teacher: np.ndarray, logits0: np.ndarray | None = None, lr: float = 1.0, steps: int = 5000
) -> np.ndarray:
    """Gradient descent on softmax logits for one cross-entropy direction.

    Args:
      direction: see ``cross_entropy_gradient``.
      teacher: float[A] teacher distribution.
      logits0: float[A] initial logits (default 0: the uniform student).
      lr: learning rate (> 0).
      steps: number of updates (>= 1).
    Returns:
      float[A] final student distribution softmax(theta).
    """
    teacher = _check_distribution(teacher, "teacher")
    if lr <= 0 or steps < 1:
        raise ValueError(f"need lr > 0 and steps >= 1, got lr={lr}, steps={steps}")
    theta = np.zeros_like(teacher) if logits0 is None else np.array(logits0, dtype=np.float64)
    if theta.shape != teacher.shape:
        raise ValueError(f"logits0 must be float[A]={teacher.shape}, got {theta.shape}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    log_pi = safe_log(teacher)  # once, not per step: long runs are the point (see the caveat above)
    for _ in range(steps):
        theta = theta - lr * _loss_and_gradient(direction, teacher, log_pi, theta)[1]
    return softmax(theta)


def is_mode_seeking(student: np.ndarray, teacher: np.ndarray, tol: float = 1e-2) -> bool:
    """True when the student puts at least 1 - tol on the teacher's unique most probable action."""
    student = _check_distribution(student, "student")
    teacher = _check_distribution(teacher, "teacher")
    if student.shape != teacher.shape:
        raise ValueError(f"student and teacher must both be float[A], got {student.shape}, {teacher.shape}")
    return bool(student[int(np.argmax(teacher))] >= 1.0 - tol)


def replicates(student: np.ndarray, teacher: np.ndarray, tol: float = 1e-3) -> bool:
    """True when max_a |pi_theta(a) - pi(a)| <= tol (up to the ``safe_log`` floor for teacher zeros)."""
    student = _check_distribution(student, "student")
    teacher = _check_distribution(teacher, "teacher")
    if student.shape != teacher.shape:
        raise ValueError(f"student and teacher must both be float[A], got {student.shape}, {teacher.shape}")
    return bool(np.abs(student - teacher).max() <= tol + PROB_FLOOR)


def mode_seeking_check(
    teacher: np.ndarray, logits0: np.ndarray | None = None, lr: float = 1.0, steps: int = 5000
) -> dict:
    """Section 3.3's claim on one teacher: H^x(pi_theta || pi) seeks the mode, H^x(pi || pi_theta) copies pi.

    Args:
      teacher: float[A], non-uniform with a unique most probable action.
    Returns:
      dict with the two final students ('student_teacher', 'teacher_student': float[A])
      and the verdicts 'mode_seeking' and 'replicates'.
    Raises:
      ValueError: if the teacher's mode is not unique (then the claim is about a tie).
    """
    teacher = _check_distribution(teacher, "teacher")
    top = np.sort(teacher)[-2:]
    if top[1] - top[0] <= 1e-12:
        raise ValueError("the teacher's most probable action must be unique")
    mode_student = minimise_cross_entropy("student_teacher", teacher, logits0, lr, steps)
    copy_student = minimise_cross_entropy("teacher_student", teacher, logits0, lr, steps)
    return {
        "student_teacher": mode_student,
        "teacher_student": copy_student,
        "mode_seeking": is_mode_seeking(mode_student, teacher),
        "replicates": replicates(copy_student, teacher),
    }
