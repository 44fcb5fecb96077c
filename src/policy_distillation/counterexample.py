"""Figure 2 (SPEC 2.4): on-policy distill + R cycles forever, n-distill + R converges.

The MDP is ``environments.counterexample(rewards)``: from s0, L leads to s_L
and R to s_R; in s_L and s_R both actions end the episode with rewards
``rewards = (a, b, c, d) = (r(s_L, L), r(s_L, R), r(s_R, L), r(s_R, R))``.

Student (two parameters, sigmoids as in the paper):
  - x at s0: ``p = P(L | s0) = sigmoid(x)`` (tabular logits ``[x, 0]``);
  - y shared by s_L and s_R: ``q = P(R | s_L) = P(R | s_R) = sigmoid(y)``
    (logits ``[0, y]`` in both states). The student cannot tell s_L from s_R;
    the teacher can.
Teacher signal only in s_R: ``l(theta | s_R) = -4 pi_theta(R | s_R) = -4 q``.

Updates are exact expected updates of Eq. (1) ("trained with true expected
returns"), computed by ``exact.expected_update`` on the tabular logits and
pulled back to (x, y) by the chain rule (the tied y receives the sum of the
logit gradients of s_L and s_R):
  - on-policy distill + R: ``g = E_{pi_theta}[sum_t grad l(s_t)] - grad J``;
  - n-distill + R adds Theorem 2's correction ``rhat_t = -l(s_{t+1})`` and is
    the exact gradient of ``L(x, y) = E_{pi_theta}[sum_t l(s_t)] - J``.

Why on-policy distill + R cycles (default rewards (1, 0, 2, -1)). Writing the
value of the leaves as V_L = 1 - q and V_R = 2 - 3q, the continuous-time flow
``(x', y') = -g`` is

    x' = p (1 - p) (V_L - V_R) = p (1 - p) (2q - 1),
    y' = q (1 - q) [4 (1 - p) - (p * 1 + (1 - p) * 3)] = q (1 - q) (1 - 2p).

In words: the environment prefers L in both leaves (by 1 in s_L, by 3 in
s_R), the teacher pushes the shared parameter to R with weight 4 but only in
s_R, i.e. in proportion to the visits 1 - p of s_R. So q rises while the
student mostly goes right (p < 1/2) and falls while it mostly goes left; and
s_L is the better branch exactly when q > 1/2, so p rises when q > 1/2 and
falls when q < 1/2. Each variable chases the other a quarter-turn behind:
p up -> q down -> p down -> q up -> p up. The update treats the visitation
1 - p of s_R as a constant (the gradient operator sits under the student's
expectation, Section 3.1), so nothing in it accounts for the fact that moving
p changes how much the teacher's loss counts; the result is a rotation, not a
descent. Exactly, ``H = 1/(p(1-p)) + 1/(q(1-q)) = 4 + 2 cosh x + 2 cosh y`` is
conserved (``dH/dt = -(1-2p)(2q-1) - (1-2q)(1-2p) = 0``): every orbit is a
closed level curve around p = q = 1/2, and the policy oscillates forever.
Plain gradient descent is the explicit Euler scheme of this flow; on a centre
it gains O(lr^2) of H per step, so the discrete orbits spiral slowly outwards
(the oscillation grows, it never damps). For general rewards the flow is
``p' = p^2 (1-p)^2 (alpha + beta q)``, ``q' = q^2 (1-q)^2 (gamma + delta p)``
(``flow_coefficients``), which always has the first integral
``first_integral``; it cycles when its fixed point is interior and
``beta * delta < 0`` (``cycles``).

n-distill + R follows the gradient of ``L = (1 - p)(-4q) - J``, which is
bilinear in (p, q) and has no interior minimum; gradient descent on it cannot
cycle and drives the policy to its minimiser p = 0, q = 1 (go to s_R and
play R there, the teacher's choice).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from . import environments as env
from . import evaluation
from .exact import expected_update
from .controls import STUDENT
from .methods import DistillContext, Method
from .rewards import PseudoReward
from .states import StateBatch
from .terms import StateLoss, Term

METHODS = ("on_policy_distill_r", "n_distill_r")
TEACHER_WEIGHT = 4.0  # l(theta | s_R) = -4 pi_theta(R | s_R) (Figure 2)
S0, S_L, S_R = env.S0, env.S_L, env.S_R
LEFT, RIGHT = env.LEFT, env.RIGHT


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), computed without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def _teacher_signal_loss(states: StateBatch) -> tuple[np.ndarray, np.ndarray]:
    """l(s_R) = -4 pi_theta(R | s_R), 0 elsewhere, and its logit gradient (Figure 2).

    Returns (float[B, S], float[B, S, A]); d pi(R) / d theta[a] = pi(R) (1[a = R] - pi(a)).
    """
    pi = states.student_pi
    loss = np.zeros(pi.shape[:2])
    grad = np.zeros_like(pi)
    pr = pi[:, S_R, RIGHT]
    loss[:, S_R] = -TEACHER_WEIGHT * pr
    onehot = np.zeros(pi.shape[-1])
    onehot[RIGHT] = 1.0
    grad[:, S_R] = -TEACHER_WEIGHT * pr[:, None] * (onehot[None] - pi[:, S_R])
    return loss, grad


TEACHER_SIGNAL = StateLoss(_teacher_signal_loss, "-4 pi_theta(R | s_R) in s_R, else 0")
# -l(s): Theorem 2's correction, paid on entering s (rhat_t = -l(s_{t+1}))
NEGATIVE_TEACHER_SIGNAL = Term(lambda s: -_teacher_signal_loss(s)[0], "-l(s_{t})")


def teacher_signal_loss(ctx: DistillContext) -> tuple[np.ndarray, np.ndarray]:
    """l(s) and its gradient at every state of ``ctx`` (see ``TEACHER_SIGNAL``)."""
    return TEACHER_SIGNAL(ctx)


def counterexample_method(name: str) -> Method:
    """The Figure 2 version of ``name`` in ``METHODS``, as a ``methods.Method``."""
    if name not in METHODS:
        raise ValueError(f"unknown counterexample method {name!r}; expected one of {METHODS}")
    n_distill = name == "n_distill_r"
    return Method(
        name=name + "_figure2",
        label="N-distill + R" if n_distill else "On-policy distill + R",
        control=STUDENT,
        state_loss=TEACHER_SIGNAL,
        reward=PseudoReward(env=True, next_state=NEGATIVE_TEACHER_SIGNAL if n_distill else None),
        is_gradient=n_distill,
    )


def logits_from_params(x: float, y: float) -> np.ndarray:
    """Tied sigmoid parameters -> tabular logits float[1, 3, 2] (states s0, s_L, s_R)."""
    logits = np.zeros((1, 3, 2))
    logits[0, S0, LEFT] = x
    logits[0, S_L, RIGHT] = y
    logits[0, S_R, RIGHT] = y
    return logits


def _teacher() -> np.ndarray:
    # The loss above is the only teacher signal; the policy below (R in s_R,
    # indifferent elsewhere) is what a context needs and what the loss prefers.
    pi = np.full((1, 3, 2), 0.5)
    pi[0, S_R] = (0.0, 1.0)
    return pi


def update(name: str, rewards, x: float, y: float) -> np.ndarray:
    """Exact expected update (descent direction) in (x, y) -> float[2] = (g_x, g_y).

    Chain rule for the tied parameters: g_x = G[s0, L], g_y = G[s_L, R] + G[s_R, R],
    with G = ``exact.expected_update`` on the tabular logits.
    """
    mdps = env.counterexample(rewards)
    ctx = DistillContext(mdps, _teacher(), logits_from_params(x, y))
    G = expected_update(counterexample_method(name), ctx)[0]
    return np.array([G[S0, LEFT], G[S_L, RIGHT] + G[S_R, RIGHT]])


def n_distill_loss(rewards, x: float, y: float) -> float:
    """L(x, y) = E_{pi_theta}[sum_t l(s_t)] - J(pi_theta), n-distill + R's loss (Theorem 2)."""
    mdps = env.counterexample(rewards)
    ctx = DistillContext(mdps, _teacher(), logits_from_params(x, y))
    loss, _ = teacher_signal_loss(ctx)
    pi = ctx.student_pi
    return float(evaluation.expected_sum(mdps, pi, loss)[0] - evaluation.expected_return(mdps, pi)[0])


def simulate(
    name: str, rewards, x0: float, y0: float, lr: float, steps: int, field: str = "exact"
) -> tuple[np.ndarray, np.ndarray]:
    """Plain gradient descent (x, y) <- (x, y) - lr g(x, y) with exact updates.

    Args:
      name: one of ``METHODS``.
      rewards: (r(s_L, L), r(s_L, R), r(s_R, L), r(s_R, R)).
      x0, y0: initial parameters.
      lr: learning rate (> 0).
      steps: number of updates (>= 1).
      field: 'exact' (``update``, via ``exact.expected_update``, ~3 ms a step) or
        'closed_form' (``closed_form_update``, tested equal; for long runs).
    Returns:
      (p: float[steps + 1], q: float[steps + 1]) with p = P(L | s0), q = P(R | s_L) = P(R | s_R),
      including the initial point.
    """
    if lr <= 0 or steps < 1:
        raise ValueError(f"need lr > 0 and steps >= 1, got lr={lr}, steps={steps}")
    counterexample_method(name)  # validates the name before the loop
    fn = _field(field)
    params = np.empty((steps + 1, 2))
    params[0] = (x0, y0)
    for t in range(steps):
        params[t + 1] = params[t] - lr * fn(name, rewards, *params[t])
    return sigmoid(params[:, 0]), sigmoid(params[:, 1])


def _field(field: str):
    if field == "exact":
        return update
    if field == "closed_form":
        return closed_form_update
    raise ValueError(f"field must be 'exact' or 'closed_form', got {field!r}")


# ----------------------------------------------------------- closed form and ODE
def flow_coefficients(rewards, weight: float = TEACHER_WEIGHT) -> tuple[float, float, float, float]:
    """(alpha, beta, gamma, delta) of on-policy distill + R's continuous-time flow.

    x' = p (1-p) (alpha + beta q), y' = q (1-q) (gamma + delta p), i.e.
    alpha + beta q = V_L - V_R and gamma + delta p = weight (1-p) + dJ/dq.
    """
    a, b, c, d = (float(r) for r in rewards)
    beta = (b - a) - (d - c)
    return a - c, beta, weight + d - c, beta - weight


def closed_form_update(name: str, rewards, x: float, y: float, weight: float = TEACHER_WEIGHT) -> np.ndarray:
    """Hand-derived (g_x, g_y); the reference that ``update`` is tested against.

    on-policy distill + R: g = -(p(1-p)(alpha + beta q), q(1-q)(gamma + delta p)).
    n-distill + R: g_x gains p(1-p) * weight * q from rhat = -l(s_R) = weight q on entering s_R.
    """
    alpha, beta, gamma, delta = flow_coefficients(rewards, weight)
    p, q = sigmoid(x), sigmoid(y)
    g = -np.array([p * (1 - p) * (alpha + beta * q), q * (1 - q) * (gamma + delta * p)])
    if name == "n_distill_r":
        g[0] += p * (1 - p) * weight * q
    elif name != "on_policy_distill_r":
        raise ValueError(f"unknown counterexample method {name!r}; expected one of {METHODS}")
    return g


def _antiderivative(g: float, d: float, p: np.ndarray) -> np.ndarray:
    """F(p) = int (g + d p) / (p^2 (1-p)^2) dp, by partial fractions."""
    logit = np.log(p) - np.log1p(-p)
    return g * (-1.0 / p + 1.0 / (1.0 - p) + 2.0 * logit) + d * (logit + 1.0 / (1.0 - p))


def first_integral(rewards, p: np.ndarray, q: np.ndarray, weight: float = TEACHER_WEIGHT) -> np.ndarray:
    """A quantity conserved along on-policy distill + R orbits, for any rewards.

    From dp/dq = p^2(1-p)^2 (alpha + beta q) / (q^2(1-q)^2 (gamma + delta p)):
    H = F_{gamma, delta}(p) - F_{alpha, beta}(q). For rewards (1, 0, 2, -1) this is
    ``-conserved_quantity(p, q)``.
    """
    alpha, beta, gamma, delta = flow_coefficients(rewards, weight)
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return _antiderivative(gamma, delta, p) - _antiderivative(alpha, beta, q)


def conserved_quantity(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """1/(p(1-p)) + 1/(q(1-q)): conserved by the flow for rewards (1, 0, 2, -1)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    return 1.0 / (p * (1.0 - p)) + 1.0 / (q * (1.0 - q))


def cycles(rewards, weight: float = TEACHER_WEIGHT) -> bool:
    """True when on-policy distill + R has an interior centre (closed orbits around it).

    Fixed point p* = -gamma/delta, q* = -alpha/beta inside (0, 1)^2, and
    beta * delta < 0 (the linearisation has eigenvalues +- i omega; with the
    first integral the nearby orbits are closed, not spirals).
    """
    alpha, beta, gamma, delta = flow_coefficients(rewards, weight)
    if beta == 0 or delta == 0:
        return False
    p_star, q_star = -gamma / delta, -alpha / beta
    return bool(0 < p_star < 1 and 0 < q_star < 1 and beta * delta < 0)


def integrate_flow(
    name: str,
    rewards,
    x0: float,
    y0: float,
    t_max: float,
    n_eval: int = 1000,
    field: str = "exact",
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous-time flow (x, y)' = -g(x, y), integrated with scipy's DOP853.

    Args:
      field: 'exact' (``update``, via ``exact.expected_update``) or
        'closed_form' (``closed_form_update``; faster, tested equal).
    Returns:
      (t: float[n_eval], p: float[n_eval], q: float[n_eval]).
    """
    fn = _field(field)
    if t_max <= 0:
        raise ValueError(f"t_max must be positive, got {t_max}")
    t_eval = np.linspace(0.0, t_max, n_eval)
    sol = solve_ivp(
        lambda t, z: -fn(name, rewards, z[0], z[1]),
        (0.0, t_max),
        [x0, y0],
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success:
        raise RuntimeError(f"ODE integration failed: {sol.message}")
    return sol.t, sigmoid(sol.y[0]), sigmoid(sol.y[1])
