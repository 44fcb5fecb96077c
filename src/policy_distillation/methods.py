"""Registry of distillation methods, written the way Table 1 writes them.

Every method is an instance of Eq. (1): a control policy q samples
trajectories and the update direction (a *descent* direction, theta <- theta -
lr * g) is

    g = E_q[ sum_t  -grad log pi_theta(a_t | s_t) * Rhat_t  +  grad l(s_t) ],
    Rhat_t = sum_{i >= t} rhat_i.

Conventions (used by the exact estimator, the sampled estimator and the tests
alike): undiscounted, episodic (gamma = 1; the grid worlds' 0.01 stop and the
chain's ends make every episode finite); quantities of the absorbing state
(after the episode ends) are 0. Where a stated loss L exists, g = grad L.

A pseudo-reward is split into the parts it reads, so that both estimators can
use it without per-method code:

    rhat_i = reward_sa(s_i, a_i) + reward_state(s_i) + [env_reward] r_i
             + reward_next_state(s_{i+1}) + reward_next_sa(s_{i+1}, a_{i+1}).

With ``bootstrap`` set, the score weight is the one-step target
``rhat_t + bootstrap(s_{t+1})`` instead of the return-to-go (Section 4.1).
Methods whose update has a score term must be driven by the student.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .mdp import TabularMDPs
from .policies import log_softmax, safe_log

CONTROLS = ("teacher", "student", "uniform", "mixture")


@dataclass(frozen=True, eq=False)
class Teacher:
    """A teacher: its policy and, optionally, its critic.

    Attributes:
      pi: float[B, S, A] teacher policy (may hold exact zeros; see ``policies.safe_log``).
      value: float[B, S] teacher critic V_pi used by Section 4 methods (exact,
        Monte Carlo estimate, zero, or adversarial), or None.
      name: label for logs and tables.
    """

    pi: np.ndarray
    value: np.ndarray | None = None
    name: str = "teacher"


class CriticAccess:
    """Critic lookups shared by every context a method part may read
    (:class:`DistillContext` and the sampled estimator's visited-rows context)."""

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


@dataclass(frozen=True, eq=False)
class DistillContext(CriticAccess):
    """What a method may read at the current student parameters.

    Attributes:
      mdps: the batch.
      teacher_pi: float[B, S, A] teacher policy pi.
      student_logits: float[B, S, A] tabular logits theta.
      teacher_value: float[B, S] teacher critic V_pi (exact, Monte Carlo,
        zero or adversarial), or None if the method needs none.
      student_value: float[B, S] student critic V_theta, or None.
      teacher_log_pi: float[B, S, A] ``policies.safe_log(teacher_pi)`` (floored);
        computed when None. A caller that builds many contexts for one teacher
        (training loops) may pass it precomputed; it must be that array.
    Derived: student_log_pi, student_pi.
    """

    mdps: TabularMDPs
    teacher_pi: np.ndarray
    student_logits: np.ndarray
    teacher_value: np.ndarray | None = None
    student_value: np.ndarray | None = None
    teacher_log_pi: np.ndarray | None = None
    student_log_pi: np.ndarray = field(init=False)
    student_pi: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        m = self.mdps
        shape = (m.B, m.S, m.A)
        tp = m.check_policy(self.teacher_pi, "teacher_pi")
        logits = np.asarray(self.student_logits, dtype=np.float64)
        if logits.shape != shape:
            raise ValueError(f"student_logits must be float[B, S, A]={shape}, got {logits.shape}")
        if not np.isfinite(logits).all():
            raise ValueError("student_logits must be finite")
        for name in ("teacher_value", "student_value"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v, dtype=np.float64)
                if v.shape != (m.B, m.S):
                    raise ValueError(f"{name} must be float[B, S]={(m.B, m.S)}, got {v.shape}")
                if not np.isfinite(v).all():
                    raise ValueError(f"{name} must be finite")
                object.__setattr__(self, name, v)
        object.__setattr__(self, "teacher_pi", tp)
        object.__setattr__(self, "student_logits", logits)
        if self.teacher_log_pi is None:
            object.__setattr__(self, "teacher_log_pi", safe_log(tp))
        else:
            tl = self.teacher_log_pi
            if not isinstance(tl, np.ndarray) or tl.dtype != np.float64 or tl.shape != shape:
                raise ValueError(f"teacher_log_pi must be a float64 array float[B, S, A]={shape} "
                                 "(policies.safe_log(teacher_pi)) or None")
        lp = log_softmax(logits)
        object.__setattr__(self, "student_log_pi", lp)
        object.__setattr__(self, "student_pi", np.exp(lp))



# --------------------------------------------------------------- per-state losses
def teacher_cross_entropy(ctx: DistillContext) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi(s) || pi_theta(s)) and its gradient wrt theta[s, :] = pi_theta - pi.

    Returns (float[B, S], float[B, S, A]).
    """
    loss = -np.einsum("bsa,bsa->bs", ctx.teacher_pi, ctx.student_log_pi)
    return loss, ctx.student_pi - ctx.teacher_pi


def student_cross_entropy(ctx: DistillContext) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi_theta(s) || pi(s)) = -sum_a pi_theta log pi, and its gradient
    ``-pi_theta(b) (log pi(b) - sum_a pi_theta(a) log pi(a))`` (expected entropy regularised)."""
    loss = -np.einsum("bsa,bsa->bs", ctx.student_pi, ctx.teacher_log_pi)
    grad = -ctx.student_pi * (ctx.teacher_log_pi + loss[..., None])
    return loss, grad


def value_gated_cross_entropy(ctx: DistillContext) -> tuple[np.ndarray, np.ndarray]:
    """l(s) = H^x(pi || pi_theta) [V_pi(s) - V_theta(s) > 0] (Proposition 2).

    The gate is a step function of theta: it is held fixed when differentiating.
    """
    gate = (ctx.require_teacher_value() - ctx.require_student_value() > 0).astype(np.float64)
    loss, grad = teacher_cross_entropy(ctx)
    return loss * gate, grad * gate[..., None]


# --------------------------------------------------------------- pseudo-reward parts
def teacher_log_prob(ctx: DistillContext) -> np.ndarray:
    """log pi(a | s) -> float[B, S, A] (entropy regularised reward)."""
    return ctx.teacher_log_pi


def negative_teacher_cross_entropy(ctx: DistillContext) -> np.ndarray:
    """-H^x(pi(s) || pi_theta(s)) -> float[B, S] (n-distill reward at s_{i+1}, Theorem 2)."""
    return -teacher_cross_entropy(ctx)[0]


def teacher_value(ctx: DistillContext) -> np.ndarray:
    """V_pi(s) -> float[B, S]."""
    return ctx.require_teacher_value()


def negative_teacher_value(ctx: DistillContext) -> np.ndarray:
    """-V_pi(s) -> float[B, S]."""
    return -ctx.require_teacher_value()


def zero_value(ctx: DistillContext) -> np.ndarray:
    """V_0(s) = 0 -> float[B, S] (a teacher critic that predicts 0 everywhere)."""
    return np.zeros((ctx.mdps.B, ctx.mdps.S))


StateLoss = Callable[[DistillContext], tuple[np.ndarray, np.ndarray]]
StateTerm = Callable[[DistillContext], np.ndarray]


@dataclass(frozen=True)
class Method:
    """One row of Table 1 (or Section 4): control policy, loss l, pseudo-reward rhat.

    Attributes:
      name: registry key.
      label: name as printed in the paper.
      control: 'teacher' | 'student' | 'uniform' | 'mixture' (q_theta).
      beta: mixture weight on the teacher for control 'mixture'.
      state_loss: l(s) and grad l(s), or None for l = 0.
      reward_sa, reward_state, reward_next_state, reward_next_sa: parts of rhat.
      env_reward: add the environment reward r_i to rhat (the '+R' versions).
      bootstrap: critic V for the one-step score weight rhat_t + V(s_{t+1}).
      loss_per_state: f(s) such that the stated loss is E_q[sum_t f(s_t)] - [env_reward] J;
        None where Table 1 says no loss exists.
      is_gradient: Table 1's "is grad?" column (checked, not trusted, by the tests).
      needs: inputs besides the teacher policy: 'teacher_value', 'student_value'.
      loss_text, reward_text: the formulas for Table 1.
    """

    name: str
    label: str
    control: str
    state_loss: StateLoss | None = None
    reward_sa: StateTerm | None = None
    reward_state: StateTerm | None = None
    reward_next_state: StateTerm | None = None
    reward_next_sa: StateTerm | None = None
    env_reward: bool = False
    bootstrap: StateTerm | None = None
    loss_per_state: StateTerm | None = None
    is_gradient: bool | None = None
    needs: frozenset[str] = frozenset()
    beta: float = 0.5
    loss_text: str = "0"
    reward_text: str = "0"

    def __post_init__(self) -> None:
        if self.control not in CONTROLS:
            raise ValueError(f"unknown control policy {self.control!r}; expected one of {CONTROLS}")
        if self.has_score_term and self.control != "student":
            raise ValueError(f"method {self.name}: a pseudo-reward needs the student as control policy")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"mixture weight beta must lie in [0, 1], got {self.beta}")

    @property
    def has_score_term(self) -> bool:
        """True when rhat is not identically 0 (or a bootstrap is used)."""
        return any(
            x is not None
            for x in (self.reward_sa, self.reward_state, self.reward_next_state, self.reward_next_sa, self.bootstrap)
        ) or self.env_reward

    @property
    def has_loss(self) -> bool:
        return self.loss_per_state is not None or (self.env_reward and self.state_loss is None and not self.bootstrap)

    def control_policy(self, ctx: DistillContext) -> np.ndarray:
        """q_theta(a | s) -> float[B, S, A]."""
        if self.control == "teacher":
            return ctx.teacher_pi
        if self.control == "student":
            return ctx.student_pi
        if self.control == "uniform":
            return np.full_like(ctx.student_pi, 1.0 / ctx.mdps.A)
        return self.beta * ctx.teacher_pi + (1.0 - self.beta) * ctx.student_pi

    def with_reward(self) -> "Method":
        """The '+R' version: rhat_i + r_i."""
        if self.env_reward:
            raise ValueError(f"{self.name} already uses the environment reward")
        return replace(
            self,
            name=self.name + "_r",
            label=self.label + " + R",
            env_reward=True,
            reward_text=("r_i" if self.reward_text == "0" else self.reward_text + " + r_i"),
        )


def _expected_student_cross_entropy(ctx: DistillContext) -> np.ndarray:
    return student_cross_entropy(ctx)[0]


def _teacher_cross_entropy_value(ctx: DistillContext) -> np.ndarray:
    return teacher_cross_entropy(ctx)[0]


def _cross_entropy_distill(name: str, label: str, control: str, beta: float = 0.5) -> Method:
    # Teacher/uniform/mixture control make the loss E_q[sum H^x] a fixed-measure
    # average only when q does not depend on theta: then it is a gradient field.
    fixed = control in ("teacher", "uniform")
    return Method(
        name=name,
        label=label,
        control=control,
        beta=beta,
        state_loss=teacher_cross_entropy,
        loss_per_state=_teacher_cross_entropy_value if fixed else None,
        is_gradient=fixed,
        loss_text="H^x(pi(s_t) || pi_theta(s_t))",
    )


def _build_registry() -> dict[str, Method]:
    teacher_distill = _cross_entropy_distill("teacher_distill", "Teacher distill", "teacher")
    on_policy = _cross_entropy_distill("on_policy_distill", "On-policy distill", "student")
    uniform = _cross_entropy_distill("uniform_distill", "Uniform-driven distill", "uniform")
    mixture = _cross_entropy_distill("mixture_distill", "Mixture-driven distill", "mixture")
    entropy_reg = Method(
        name="entropy_regularised",
        label="Entropy regularised",
        control="student",
        reward_sa=teacher_log_prob,
        loss_per_state=_expected_student_cross_entropy,
        is_gradient=True,
        reward_text="log pi(a_i | s_i)",
    )
    n_distill = Method(
        name="n_distill",
        label="N-distill",
        control="student",
        state_loss=teacher_cross_entropy,
        reward_next_state=negative_teacher_cross_entropy,
        loss_per_state=_teacher_cross_entropy_value,
        is_gradient=True,
        loss_text="H^x(pi(s_t) || pi_theta(s_t))",
        reward_text="-H^x(pi(s_{i+1}) || pi_theta(s_{i+1}))",
    )
    exp_entropy_reg = Method(
        name="expected_entropy_regularised",
        label="Exp. entropy regularised",
        control="student",
        state_loss=student_cross_entropy,
        reward_next_sa=teacher_log_prob,
        loss_per_state=_expected_student_cross_entropy,
        is_gradient=True,
        loss_text="H^x(pi_theta(s_t) || pi(s_t))",
        reward_text="log pi(a_{i+1} | s_{i+1})",
    )
    teacher_v_reward = Method(
        name="teacher_v_reward",
        label="Teacher V reward",
        control="student",
        env_reward=True,
        reward_next_state=teacher_value,
        reward_state=negative_teacher_value,
        is_gradient=True,
        needs=frozenset({"teacher_value"}),
        reward_text="r_i + V_pi(s_{i+1}) - V_pi(s_i)",
    )
    value_gated = Method(
        name="value_gated",
        label="Value-gated distill",
        control="student",
        state_loss=value_gated_cross_entropy,
        is_gradient=None,
        needs=frozenset({"teacher_value", "student_value"}),
        loss_text="H^x(pi(s_t) || pi_theta(s_t)) [V_pi(s_t) - V_theta(s_t) > 0]",
    )
    td_v_pi = Method(
        name="td_v_pi",
        label="TD + V_pi",
        control="student",
        env_reward=True,
        bootstrap=teacher_value,
        is_gradient=None,
        needs=frozenset({"teacher_value"}),
        reward_text="r_t, bootstrapped with V_pi(s_{t+1})",
    )
    td_v_0 = Method(
        name="td_v_0",
        label="TD + V_0",
        control="student",
        env_reward=True,
        bootstrap=zero_value,
        is_gradient=None,
        reward_text="r_t, bootstrapped with V_0(s_{t+1}) = 0",
    )
    reward_only = Method(
        name="reward_only",
        label="Reward only (no teacher)",
        control="student",
        env_reward=True,
        is_gradient=True,
        reward_text="r_i",
    )
    base = [teacher_distill, on_policy, uniform, mixture, entropy_reg, n_distill, exp_entropy_reg,
            teacher_v_reward, value_gated, td_v_pi, td_v_0, reward_only]
    plus_r = [m.with_reward() for m in (on_policy, entropy_reg, n_distill, exp_entropy_reg, value_gated)]
    # +R keeps the "is grad?" verdict: L - J is a loss when L is one.
    return {m.name: m for m in base + plus_r}


REGISTRY: dict[str, Method] = _build_registry()


def get_method(name: str, **overrides) -> Method:
    """Look a method up by name (``REGISTRY``); ``overrides`` e.g. ``beta=0.3``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method name {name!r}; known: {sorted(REGISTRY)}")
    m = REGISTRY[name]
    return replace(m, **overrides) if overrides else m


def stated_loss(method: Method, ctx: DistillContext) -> np.ndarray:
    """The loss whose gradient the update should be (Table 1, last column). -> float[B].

    ``E_q[sum_t f(s_t)] - [env_reward] J(pi_theta)``, with f = ``loss_per_state``
    and q the control policy (for +R methods, q is the student and the reward
    term is folded into f as ``-r_q(s)``).
    Raises ValueError where Table 1 says no loss exists.
    """
    from .evaluation import expected_sum

    if not method.has_loss:
        raise ValueError(f"{method.name}: Table 1 states no loss for this update")
    q = method.control_policy(ctx)
    f = np.zeros((ctx.mdps.B, ctx.mdps.S))
    if method.loss_per_state is not None:
        f = f + method.loss_per_state(ctx)
    if method.env_reward:
        f = f - ctx.mdps.reward_pi(q)
    return expected_sum(ctx.mdps, q, f)
