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

A registry entry is the single source of truth about a method: its control
(``controls.Control``, mixture weights), its per-step loss and pseudo-reward
(``rewards.PseudoReward``, built from ``terms``), the loss it is meant to be
the gradient of (``Loss``), the paper's "is grad?" verdict with its source,
the reason where it is not a gradient field, and the base method of a ``+R``
version. With ``bootstrap`` set, the score weight is the one-step target
``rhat_t + bootstrap(s_{t+1})`` instead of the return-to-go (Section 4.1).
With ``baseline`` set, a per-state control variate b(s_t) is subtracted from
the score weight: W_t - b(s_t). Any state-only b leaves the expected update
unchanged (E_a[grad log pi_theta(a | s)] = 0), so the exact estimator ignores
it and only the sampled estimator's variance changes.
Methods whose update has a score term must be driven by the student.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import terms
from .controls import STUDENT, TEACHER, UNIFORM, Control, mixture
from .mdp import TabularMDPs
from .rewards import PseudoReward
from .states import ArrayStates, StateBatch
from .terms import StateLoss, Term

PAPER, PAPER_PLUS_R, NOT_IN_PAPER = "Table 1", "Table 1, +R version", "not in Table 1"


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


class DistillContext(ArrayStates):
    """Every state of a batch of MDPs, at the current student parameters (a ``states.StateBatch``).

    Args:
      mdps: the batch (the exact estimator reads its dynamics; method parts never do).
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

    def __init__(self, mdps: TabularMDPs, teacher_pi: np.ndarray, student_logits: np.ndarray,
                 teacher_value: np.ndarray | None = None, student_value: np.ndarray | None = None,
                 teacher_log_pi: np.ndarray | None = None):
        shape = (mdps.B, mdps.S, mdps.A)
        teacher_pi = mdps.check_policy(teacher_pi, "teacher_pi")
        logits = np.asarray(student_logits, dtype=np.float64)
        if logits.shape != shape:
            raise ValueError(f"student_logits must be float[B, S, A]={shape}, got {logits.shape}")
        if not np.isfinite(logits).all():
            raise ValueError("student_logits must be finite")
        values = []
        for name, v in (("teacher_value", teacher_value), ("student_value", student_value)):
            if v is not None:
                v = np.asarray(v, dtype=np.float64)
                if v.shape != (mdps.B, mdps.S):
                    raise ValueError(f"{name} must be float[B, S]={(mdps.B, mdps.S)}, got {v.shape}")
                if not np.isfinite(v).all():
                    raise ValueError(f"{name} must be finite")
            values.append(v)
        if teacher_log_pi is not None and (not isinstance(teacher_log_pi, np.ndarray)
                                           or teacher_log_pi.dtype != np.float64 or teacher_log_pi.shape != shape):
            raise ValueError(f"teacher_log_pi must be a float64 array float[B, S, A]={shape} "
                             "(policies.safe_log(teacher_pi)) or None")
        super().__init__(teacher_pi, logits, *values, teacher_log_pi=teacher_log_pi)
        self.mdps = mdps


@dataclass(frozen=True)
class Loss:
    """The loss an update is meant to be the gradient of (Table 1, last column):
    ``E_q[sum_t f(s_t)] - [minus_return] J(pi_theta)``.

    Attributes:
      per_state: f, or None for f = 0.
      minus_return: subtract the expected return J (the ``+R`` versions, and reward only).
      text: the loss as Table 1 writes it.
    """

    per_state: Term | None
    minus_return: bool = False
    text: str = ""


@dataclass(frozen=True)
class Method:
    """One row of Table 1 (or Section 4): control policy, loss l, pseudo-reward rhat.

    Attributes:
      name: registry key; label: name as printed in the paper.
      control: the control policy q_theta (mixture weights).
      state_loss: l(s) and grad l(s), or None for l = 0.
      reward: the pseudo-reward rhat (``rewards.PseudoReward``).
      bootstrap: critic V for the one-step score weight rhat_t + V(s_{t+1}).
      baseline: per-state term b(s) subtracted from the score weight at s_t (a
        control variate: the expected update does not change), or None.
      loss: the stated loss (its gradient is the update where it is a gradient
        field), or None where Table 1 says no loss exists.
      is_gradient: the "is grad?" verdict (Table 1's where the paper states it;
        checked, not trusted, by the tests and ``table1``).
      verdict_source: where that verdict comes from (``PAPER``, ``PAPER_PLUS_R``, ``NOT_IN_PAPER``).
      not_gradient_reason: why the update is not a gradient field, where it is not.
      base: the method whose pseudo-reward a ``+R`` version adds r to.
    Derived: needs (critics the parts read), has_score_term, has_loss.
    """

    name: str
    label: str
    control: Control
    state_loss: StateLoss | None = None
    reward: PseudoReward = field(default_factory=PseudoReward)
    bootstrap: Term | None = None
    baseline: Term | None = None
    loss: Loss | None = None
    is_gradient: bool | None = None
    verdict_source: str = NOT_IN_PAPER
    not_gradient_reason: str | None = None
    base: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.control, Control):
            raise ValueError(f"method {self.name}: control must be a controls.Control, got {self.control!r}")
        if self.has_score_term and not self.control.is_student:
            raise ValueError(f"method {self.name}: a pseudo-reward needs the student as control policy")
        if self.baseline is not None:
            if self.baseline.per_action:
                raise ValueError(f"method {self.name}: a baseline must be per-state (an action-dependent one "
                                 f"biases the update), got {self.baseline.text!r}")
            if not self.has_score_term:
                raise ValueError(f"method {self.name}: a baseline needs a score term (rhat or a bootstrap)")

    @property
    def needs(self) -> frozenset[str]:
        """Critics the parts read: 'teacher_value', 'student_value'."""
        parts = [self.state_loss, self.bootstrap, self.baseline, *self.reward.terms()]
        return frozenset().union(*(p.needs for p in parts if p is not None))

    @property
    def has_score_term(self) -> bool:
        """True when rhat is not identically 0 (or a bootstrap is used)."""
        return not self.reward.is_zero or self.bootstrap is not None

    @property
    def has_loss(self) -> bool:
        return self.loss is not None

    @property
    def loss_text(self) -> str:
        return "0" if self.state_loss is None else self.state_loss.text

    @property
    def reward_text(self) -> str:
        text = self.reward.text
        if self.bootstrap is not None:  # the one-step weight rhat_t + V(s_{t+1})
            text = f"{text.replace('_i', '_t')}, bootstrapped with {self.bootstrap.text.format(t='{t+1}')}"
        if self.baseline is not None:
            text += f"; baseline b(s_t) = {self.baseline.text.format(t='t')}"
        return text

    def control_policy(self, states: StateBatch) -> np.ndarray:
        """q_theta(a | s) -> float[B, S, A]."""
        c = self.control
        return c.policy(states.teacher_pi if c.teacher else None, states.student_pi if c.student else None,
                        shape=states.shape)

    def with_reward(self, reason: str | None = None) -> "Method":
        """The '+R' version: rhat_i + r_i (L - J is a loss whenever L is one)."""
        if self.reward.env:
            raise ValueError(f"{self.name} already uses the environment reward")
        return replace(
            self, name=self.name + "_r", label=self.label + " + R", reward=self.reward.plus_env(),
            loss=None if self.loss is None else replace(self.loss, minus_return=True, text=self.loss.text + " - J"),
            verdict_source=PAPER_PLUS_R if self.verdict_source == PAPER else self.verdict_source,
            not_gradient_reason=reason or self.not_gradient_reason, base=self.name,
        )


def cross_entropy_distill(name: str, label: str, control: Control, source: str = NOT_IN_PAPER) -> Method:
    """Per-step cross-entropy distillation H^x(pi || pi_theta) under the control ``control``.

    E_q[sum_t H^x] is a loss with this gradient exactly when q does not depend
    on theta (a fixed control); otherwise Theorem 1 says it is no gradient field.
    """
    fixed = control.is_fixed
    reason = None if fixed else (
        "Theorem 1: the sampling measure depends on theta but the update ignores it." if control.is_student
        else "the control still depends on theta through its student part (Theorem 1).")
    return Method(
        name=name, label=label, control=control, state_loss=terms.TEACHER_CROSS_ENTROPY,
        loss=Loss(terms.TEACHER_CROSS_ENTROPY_VALUE, text="E_q[sum_t H^x(pi || pi_theta)]") if fixed else None,
        is_gradient=fixed, verdict_source=source, not_gradient_reason=reason,
    )


def _build_registry() -> dict[str, Method]:
    teacher_distill = cross_entropy_distill("teacher_distill", "Teacher distill", TEACHER, PAPER)
    on_policy = cross_entropy_distill("on_policy_distill", "On-policy distill", STUDENT, PAPER)
    uniform = cross_entropy_distill("uniform_distill", "Uniform-driven distill", UNIFORM)
    half = cross_entropy_distill("mixture_distill", "Mixture-driven distill", mixture(0.5))
    entropy_reg = Method(
        name="entropy_regularised", label="Entropy regularised", control=STUDENT,
        reward=PseudoReward(now_sa=terms.TEACHER_LOG_PROB),
        loss=Loss(terms.STUDENT_CROSS_ENTROPY_VALUE, text="E_theta[sum_t H^x(pi_theta || pi)]"),
        is_gradient=True, verdict_source=PAPER,
    )
    n_distill = Method(
        name="n_distill", label="N-distill", control=STUDENT, state_loss=terms.TEACHER_CROSS_ENTROPY,
        reward=PseudoReward(next_state=terms.NEGATIVE_TEACHER_CROSS_ENTROPY),
        loss=Loss(terms.TEACHER_CROSS_ENTROPY_VALUE, text="E_theta[sum_t H^x(pi || pi_theta)]"),
        is_gradient=True, verdict_source=PAPER,
    )
    exp_entropy_reg = Method(
        name="expected_entropy_regularised", label="Exp. entropy regularised", control=STUDENT,
        state_loss=terms.STUDENT_CROSS_ENTROPY, reward=PseudoReward(next_sa=terms.TEACHER_LOG_PROB),
        loss=Loss(terms.STUDENT_CROSS_ENTROPY_VALUE, text="E_theta[sum_t H^x(pi_theta || pi)]"),
        is_gradient=True, verdict_source=PAPER,
    )
    teacher_v_reward = Method(
        name="teacher_v_reward", label="Teacher V reward", control=STUDENT,
        reward=PseudoReward(now_state=terms.NEGATIVE_TEACHER_VALUE, env=True, next_state=terms.TEACHER_VALUE,
                            text_override="r_i + V_pi(s_{i+1}) - V_pi(s_i)"),
        loss=Loss(None, minus_return=True, text="-J(pi_theta)"), is_gradient=True, verdict_source=PAPER,
    )
    value_gated = Method(
        name="value_gated", label="Value-gated distill", control=STUDENT,
        state_loss=terms.VALUE_GATED_CROSS_ENTROPY,
        not_gradient_reason="inside one smooth piece (gate fixed) it is on-policy distill on the gated states "
                            "(Theorem 1).",
    )
    td_v_pi = Method(
        name="td_v_pi", label="TD + V_pi", control=STUDENT, reward=PseudoReward(env=True),
        bootstrap=terms.TEACHER_VALUE,
        not_gradient_reason="the score weight bootstraps from a fixed critic V_pi, not the student's own return "
                            "(Sec. 4.1 leaves it open).",
    )
    td_v_0 = Method(
        name="td_v_0", label="TD + V_0", control=STUDENT, reward=PseudoReward(env=True), bootstrap=terms.ZERO_VALUE,
        not_gradient_reason="the score weight bootstraps from the fixed critic V_0 = 0, not the student's own return.",
    )
    reward_only = Method(
        name="reward_only", label="Reward only (no teacher)", control=STUDENT, reward=PseudoReward(env=True),
        loss=Loss(None, minus_return=True, text="-J(pi_theta)"), is_gradient=True,
    )
    base = [teacher_distill, on_policy, uniform, half, entropy_reg, n_distill, exp_entropy_reg,
            teacher_v_reward, value_gated, td_v_pi, td_v_0, reward_only]
    plus_r = [
        on_policy.with_reward("+R adds a true policy gradient (-grad J) to on-policy distill, which stays "
                              "non-gradient (Theorem 1)."),
        entropy_reg.with_reward(), n_distill.with_reward(), exp_entropy_reg.with_reward(),
        value_gated.with_reward("inside one smooth piece it is on-policy distill on the gated states plus -grad J "
                                "(Theorem 1)."),
    ]
    return {m.name: m for m in base + plus_r}


REGISTRY: dict[str, Method] = _build_registry()


def register(method: Method) -> Method:
    """Add ``method`` to the registry (a new method is one entry; every estimator and test picks it up)."""
    if method.name in REGISTRY:
        raise ValueError(f"a method named {method.name!r} is already registered")
    REGISTRY[method.name] = method
    return method


def get_method(name: str, **overrides) -> Method:
    """Look a method up by name (``REGISTRY``); ``overrides`` e.g. ``control=controls.mixture(0.3)``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method name {name!r}; known: {sorted(REGISTRY)}")
    m = REGISTRY[name]
    return replace(m, **overrides) if overrides else m


def stated_loss(method: Method, ctx: DistillContext) -> np.ndarray:
    """The loss whose gradient the update should be (Table 1, last column). -> float[B].

    ``E_q[sum_t f(s_t)] - [minus_return] J(pi_theta)``, with q the control policy
    (for +R methods q is the student and the reward term is folded into f as ``-r_q(s)``).
    Raises ValueError where Table 1 says no loss exists.
    """
    from .evaluation import expected_sum

    if method.loss is None:
        raise ValueError(f"{method.name}: Table 1 states no loss for this update")
    q = method.control_policy(ctx)
    f = np.zeros((ctx.mdps.B, ctx.mdps.S))
    if method.loss.per_state is not None:
        f = f + method.loss.per_state(ctx)
    if method.loss.minus_return:
        f = f - ctx.mdps.reward_pi(q)
    return expected_sum(ctx.mdps, q, f)
