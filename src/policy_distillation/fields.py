"""Is an update a gradient field? Measurements behind Table 1's "is grad?" column.

An update rule g(theta) is the gradient of some loss exactly when its
Jacobian ``J[i, j] = d g_i / d theta_j`` is symmetric (J is then the Hessian of
the loss) and, equivalently, when its line integral around every closed loop
vanishes. Theorem 1 says on-policy distillation fails this; Theorem 2 says the
n-distill correction restores it. This module measures both properties with
central finite differences, and compares the update with the finite-difference
gradient of the loss that Table 1 states (``methods.stated_loss``).

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``P`` flattened
parameters. Field functions map parameters to a descent direction of the same
shape (``exact.expected_update``'s convention, theta <- theta - lr * g).

Value-gated methods need a student critic: the report uses the exact
``V_theta`` recomputed at every theta (``evaluation.state_values``) and the
exact teacher ``V_pi``. The gate ``[V_pi(s) - V_theta(s) > 0]`` is a step
function of theta, so that field is only piecewise smooth: the report also
gives the smallest gate margin, and a finite-difference stencil that crosses a
gate edge measures a jump, not a derivative.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import evaluation
from .exact import expected_update
from .mdp import TabularMDPs, from_dense
from .methods import DistillContext, Method, get_method, stated_loss
from .policies import softmax

Field = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------ generic fields
def update_jacobian(field_fn: Field, theta: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Central-difference Jacobian of an update field.

    Args:
      field_fn: maps parameters of ``theta``'s shape to an update of the same shape.
      theta: float[...] parameters (flattened to P entries).
      eps: finite-difference step.
    Returns:
      float[P, P] with ``J[i, j] = (g_i(theta + eps e_j) - g_i(theta - eps e_j)) / (2 eps)``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    flat = theta.reshape(-1)
    P = flat.size
    J = np.empty((P, P))
    for j in range(P):
        step = np.zeros(P)
        step[j] = eps
        plus = np.asarray(field_fn((flat + step).reshape(theta.shape)), dtype=np.float64)
        minus = np.asarray(field_fn((flat - step).reshape(theta.shape)), dtype=np.float64)
        if plus.shape != theta.shape:
            raise ValueError(f"field_fn must return an array of shape {theta.shape}, got {plus.shape}")
        J[:, j] = (plus - minus).reshape(-1) / (2.0 * eps)
    return J


def batched_update_jacobian(field_fn: Field, theta: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Per-MDP Jacobians of a field whose MDPs do not interact.

    Every estimator in the package updates MDP b from MDP b's own data, so one
    perturbation of entry (s, a) in all B MDPs at once gives column (s, a) of
    all B Jacobians: 2 S A field calls instead of 2 B S A.

    Args:
      field_fn: maps float[B, S, A] logits to a float[B, S, A] update.
      theta: float[B, S, A].
    Returns:
      float[B, S*A, S*A], ``J[b, i, j] = d g[b]_i / d theta[b]_j``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 3:
        raise ValueError(f"theta must be float[B, S, A], got shape {theta.shape}")
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    B, S, A = theta.shape
    P = S * A
    J = np.empty((B, P, P))
    for j in range(P):
        step = np.zeros(P)
        step[j] = eps
        step = step.reshape(1, S, A)
        plus = np.asarray(field_fn(theta + step), dtype=np.float64)
        diff = plus - np.asarray(field_fn(theta - step), dtype=np.float64)
        if diff.shape != theta.shape:
            raise ValueError(f"field_fn must return float[B, S, A]={theta.shape}, got {diff.shape}")
        J[:, :, j] = diff.reshape(B, P) / (2.0 * eps)
    return J


def jacobian_asymmetry(J: np.ndarray) -> np.ndarray:
    """||J - J^T||_F / ||J||_F: 0 for a gradient field (J is then a Hessian).

    Args:
      J: float[P, P] or float[B, P, P].
    Returns:
      float (or float[B]); NaN where J = 0.
    """
    J = np.asarray(J, dtype=np.float64)
    if J.ndim < 2 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"J must be square float[..., P, P], got shape {J.shape}")
    num = np.linalg.norm(J - np.swapaxes(J, -1, -2), axis=(-2, -1))
    den = np.linalg.norm(J, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def loop_integral(
    field_fn: Field,
    theta: np.ndarray,
    direction1: np.ndarray,
    direction2: np.ndarray,
    radius: float = 1e-2,
    n_points: int = 64,
) -> float:
    """Line integral of the update around a circle in a 2-D parameter plane.

    The circle is theta(phi) = theta + radius (cos phi d1 + sin phi d2),
    phi in [0, 2 pi), with d1, d2 the directions orthonormalised (Gram-Schmidt).
    The trapezoid rule is spectrally accurate for this periodic integrand.
    For a gradient field the integral is 0 (Stokes); for a smooth field it is
    ``pi radius^2 d2^T (J - J^T) d1 + O(radius^4)``.

    Args:
      field_fn: maps parameters of ``theta``'s shape to an update of that shape.
      theta: float[...] centre of the circle.
      direction1, direction2: float[...] (theta's shape) spanning the plane.
      radius: circle radius.
      n_points: quadrature points.
    Returns:
      The circulation (a float).
    """
    theta = np.asarray(theta, dtype=np.float64)
    d1 = np.asarray(direction1, dtype=np.float64).reshape(-1)
    d2 = np.asarray(direction2, dtype=np.float64).reshape(-1)
    if d1.size != theta.size or d2.size != theta.size:
        raise ValueError(f"directions must have theta's {theta.size} entries, got {d1.size} and {d2.size}")
    if radius <= 0 or n_points < 3:
        raise ValueError(f"need radius > 0 and n_points >= 3, got {radius}, {n_points}")
    n1 = np.linalg.norm(d1)
    if n1 == 0:
        raise ValueError("direction1 is zero")
    d1 = d1 / n1
    d2 = d2 - (d2 @ d1) * d1
    n2 = np.linalg.norm(d2)
    if n2 < 1e-12:
        raise ValueError("direction1 and direction2 are parallel: they do not span a plane")
    d2 = d2 / n2
    total = 0.0
    for phi in 2.0 * np.pi * np.arange(n_points) / n_points:
        point = theta.reshape(-1) + radius * (np.cos(phi) * d1 + np.sin(phi) * d2)
        tangent = radius * (-np.sin(phi) * d1 + np.cos(phi) * d2)
        g = np.asarray(field_fn(point.reshape(theta.shape)), dtype=np.float64).reshape(-1)
        total += float(g @ tangent)
    return total * 2.0 * np.pi / n_points


def batched_loop_integral(
    field_fn: Field,
    theta: np.ndarray,
    direction1: np.ndarray,
    direction2: np.ndarray,
    radius: float = 1e-2,
    n_points: int = 64,
) -> np.ndarray:
    """``loop_integral`` for B non-interacting MDPs at once, each in its own plane.

    Args:
      field_fn: float[B, S, A] -> float[B, S, A].
      theta, direction1, direction2: float[B, S, A]; the directions of MDP b
        must be orthonormal (as returned by ``circulation_plane``).
    Returns:
      float[B] circulations.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 3 or np.shape(direction1) != theta.shape or np.shape(direction2) != theta.shape:
        raise ValueError("theta and both directions must be float[B, S, A] of one shape")
    if radius <= 0 or n_points < 3:
        raise ValueError(f"need radius > 0 and n_points >= 3, got {radius}, {n_points}")
    d1 = np.asarray(direction1, dtype=np.float64)
    d2 = np.asarray(direction2, dtype=np.float64)
    total = np.zeros(theta.shape[0])
    for phi in 2.0 * np.pi * np.arange(n_points) / n_points:
        g = field_fn(theta + radius * (np.cos(phi) * d1 + np.sin(phi) * d2))
        tangent = radius * (-np.sin(phi) * d1 + np.cos(phi) * d2)
        total += np.einsum("bsa,bsa->b", g, tangent)
    return total * 2.0 * np.pi / n_points


def circulation_plane(J: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The plane in which a field circulates most: top singular pair of J - J^T.

    For the antisymmetric K = J - J^T, K v = sigma u with u orthogonal to v, and
    ``d2^T K d1`` is maximal (= sigma) for d1 = v, d2 = u.

    Args:
      J: float[P, P].
    Returns:
      (d1: float[P], d2: float[P], sigma) with sigma = ||J - J^T||_2.
    """
    K = J - J.T
    _, sig, vt = np.linalg.svd(K)
    d1 = vt[0]
    Kd1 = K @ d1
    if sig[0] == 0:
        # No circulation at all: any orthonormal pair will do.
        d2 = np.roll(d1, 1) - (np.roll(d1, 1) @ d1) * d1
        return d1, d2 / np.linalg.norm(d2), 0.0
    return d1, Kd1 / np.linalg.norm(Kd1), float(sig[0])


def stated_loss_gradient(
    loss_fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of a per-MDP loss.

    Args:
      loss_fn: maps float[B, S, A] logits to float[B] (one loss per MDP, MDPs independent).
      theta: float[B, S, A].
    Returns:
      float[B, S, A].
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 3:
        raise ValueError(f"theta must be float[B, S, A], got shape {theta.shape}")
    B, S, A = theta.shape
    grad = np.empty_like(theta)
    for s in range(S):
        for a in range(A):
            step = np.zeros((1, S, A))
            step[0, s, a] = eps
            grad[:, s, a] = (loss_fn(theta + step) - loss_fn(theta - step)) / (2.0 * eps)
    return grad


# ------------------------------------------------------------------ distillation fields
def random_dense_problem(
    rng: np.random.Generator,
    B: int,
    S: int,
    A: int,
    *,
    end_prob: tuple[float, float] = (0.2, 0.5),
    zero_fraction: float = 0.3,
    with_reward: bool = True,
    logit_scale: float = 1.0,
) -> tuple[TabularMDPs, np.ndarray, np.ndarray]:
    """Random small dense MDPs, a teacher with exact zeros, and student logits.

    Every (s, a) ends the episode with probability drawn from ``end_prob`` so
    that every policy is proper (gamma = 1 is well defined).

    Args:
      rng: the only source of randomness.
      B, S, A: sizes.
      end_prob: range of the per-(s, a) termination probability.
      zero_fraction: fraction of teacher probabilities set to exactly 0
        (at least one action per state keeps mass).
      with_reward: draw R ~ N(0, 1); otherwise R = 0.
      logit_scale: standard deviation of the student logits.
    Returns:
      (mdps, teacher_pi: float[B, S, A], student_logits: float[B, S, A]).
    """
    if min(B, S, A) < 1:
        raise ValueError(f"B, S, A must be positive, got {B, S, A}")
    lo, hi = end_prob
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"end_prob must satisfy 0 < lo <= hi <= 1, got {end_prob}")
    end = rng.uniform(lo, hi, size=(B, S, A))
    P = rng.dirichlet(np.ones(S), size=(B, S, A)) * (1.0 - end)[..., None]
    R = rng.normal(size=(B, S, A)) if with_reward else np.zeros((B, S, A))
    initial = rng.dirichlet(np.ones(S), size=B)
    mdps = from_dense(P, R, initial, gamma=1.0)
    teacher = rng.dirichlet(np.ones(A), size=(B, S))
    zero = rng.random((B, S, A)) < zero_fraction
    keep = rng.integers(A, size=(B, S))
    zero[np.arange(B)[:, None], np.arange(S)[None, :], keep] = False
    teacher = np.where(zero, 0.0, teacher)
    teacher = teacher / teacher.sum(axis=-1, keepdims=True)
    logits = logit_scale * rng.normal(size=(B, S, A))
    return mdps, teacher, logits


def make_context(
    method: Method, mdps: TabularMDPs, teacher_pi: np.ndarray, logits: np.ndarray,
    teacher_value: np.ndarray | None = None
) -> DistillContext:
    """A context with the critics ``method`` needs, all exact.

    V_pi is the exact teacher value (or ``teacher_value`` if given); V_theta is
    recomputed at these logits, so a value-gated field is evaluated with the
    critic of the point it is evaluated at.
    """
    tv = None
    if "teacher_value" in method.needs:
        tv = evaluation.state_values(mdps, teacher_pi) if teacher_value is None else teacher_value
    sv = evaluation.state_values(mdps, softmax(logits)) if "student_value" in method.needs else None
    return DistillContext(mdps, teacher_pi, logits, teacher_value=tv, student_value=sv)


def update_field(method: Method, mdps: TabularMDPs, teacher_pi: np.ndarray) -> Field:
    """theta -> exact expected update (Eq. 1) of ``method``, float[B, S, A] -> float[B, S, A]."""
    tv = evaluation.state_values(mdps, teacher_pi)
    return lambda theta: expected_update(method, make_context(method, mdps, teacher_pi, theta, tv))


def loss_function(method: Method, mdps: TabularMDPs, teacher_pi: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """theta -> Table 1's stated loss (``methods.stated_loss``), float[B, S, A] -> float[B]."""
    tv = evaluation.state_values(mdps, teacher_pi)
    return lambda theta: stated_loss(method, make_context(method, mdps, teacher_pi, theta, tv))


def gradient_field_report(
    method_names: list[str] | tuple[str, ...],
    mdps: TabularMDPs,
    teacher_pi: np.ndarray,
    student_logits: np.ndarray,
    *,
    eps_jacobian: float = 1e-4,
    eps_loss: float = 1e-5,
    radius: float = 1e-2,
    n_points: int = 64,
) -> list[dict]:
    """Measure, per method and per MDP, whether the exact update is a gradient field.

    Table 1, column "is grad?" (SPEC 5, claim 7). For each method and MDP b:
      - ``asymmetry``: ||J - J^T||_F / ||J||_F of the update's Jacobian in logit space;
      - ``circulation``: loop integral around a circle of ``radius`` in the plane
        where J - J^T is largest, divided by pi radius^2 (so it estimates
        ||J - J^T||_2, and is 0 for a gradient field);
      - ``circulation_predicted``: ||J - J^T||_2 from the Jacobian;
      - ``grad_error``: max |G - finite-difference gradient of the stated loss|,
        NaN where Table 1 states no loss;
      - ``gate_margin``: min_s |V_pi(s) - V_theta(s)| for value-gated methods
        (NaN otherwise); a margin far above the finite-difference steps means
        the measurement sits inside one smooth piece of the field.

    Args:
      method_names: registry names.
      mdps: the batch (gamma = 1).
      teacher_pi: float[B, S, A].
      student_logits: float[B, S, A] point of measurement.
    Returns:
      A tidy table: one dict per (method, MDP) with keys method, label,
      claimed_gradient, mdp, asymmetry, circulation, circulation_predicted,
      grad_error, gate_margin.
    """
    theta = np.asarray(student_logits, dtype=np.float64)
    if theta.shape != (mdps.B, mdps.S, mdps.A):
        raise ValueError(f"student_logits must be float[B, S, A]={mdps.B, mdps.S, mdps.A}, got {theta.shape}")
    rows = []
    for name in method_names:
        method = get_method(name)
        field_fn = update_field(method, mdps, teacher_pi)
        J = batched_update_jacobian(field_fn, theta, eps_jacobian)
        asym = jacobian_asymmetry(J)
        if method.has_loss:
            fd = stated_loss_gradient(loss_function(method, mdps, teacher_pi), theta, eps_loss)
            grad_err = np.abs(field_fn(theta) - fd).max(axis=(1, 2))
        else:
            grad_err = np.full(mdps.B, np.nan)
        if "student_value" in method.needs:
            gap = evaluation.state_values(mdps, teacher_pi) - evaluation.state_values(mdps, softmax(theta))
            margin = np.abs(gap).min(axis=1)
        else:
            margin = np.full(mdps.B, np.nan)
        planes = [circulation_plane(J[b]) for b in range(mdps.B)]
        d1 = np.stack([pl[0] for pl in planes]).reshape(theta.shape)
        d2 = np.stack([pl[1] for pl in planes]).reshape(theta.shape)
        loops = batched_loop_integral(field_fn, theta, d1, d2, radius, n_points)
        for b in range(mdps.B):
            sigma, loop = planes[b][2], loops[b]
            rows.append(
                {
                    "method": name,
                    "label": method.label,
                    "claimed_gradient": method.is_gradient,
                    "mdp": b,
                    "asymmetry": float(asym[b]),
                    "circulation": loop / (np.pi * radius**2),
                    "circulation_predicted": sigma,
                    "grad_error": float(grad_err[b]),
                    "gate_margin": float(margin[b]),
                }
            )
    return rows
