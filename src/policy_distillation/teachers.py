"""Teachers: tabular Q-learning, policies derived from Q, noisy and hand-made
teachers, and their critics (Sections 3.2 and 4; SPEC 3).

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``N`` trajectories.

Zero probabilities. Greedy, noisy and chain teachers put probability exactly 0
on some actions. Nothing here smooths them: every loss and pseudo-reward takes
the teacher's log-probabilities through ``policies.safe_log``, which floors
probabilities at ``policies.PROB_FLOOR = 1e-8`` (a zero-probability action
costs ``-log 1e-8 ~ 18.4`` nats instead of inf). ``tests/test_teachers.py``
checks that every teacher built here has finite floored log-probabilities.

Visited states (noisy teachers, Figure 5). A state is *visited* by a teacher
pi when its exact expected number of visits from the initial distribution,
``evaluation.state_visitation(mdps, pi)[b, s]``, exceeds ``VISITED_THRESHOLD =
1e-12``. The visitation comes from one sparse LU solve: values below 1e-12 are
either round-off of an exact 0 or states pi reaches so rarely that no sampled
trajectory would ever show them.

No-op actions (Figure 4, |A| > 4). Q-learning runs on the 4 moves; the teacher
over all actions is epsilon-greedy on the learned moves with its exploration mass
spread over every action (:func:`epsilon_greedy_moves`), so its most probable
action is always a move (SPEC 2.1). (An earlier version extended Q to the no-ops
by one Bellman backup of unconverged Q-values; at |A| >= 64 the teacher then
preferred a no-op in half of the states.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import evaluation
from .environments import LEFT, RIGHT
from .mdp import TabularMDPs
from .methods import Teacher
from .rollouts import monte_carlo_values, outcome_cdf, sample_initial
from .streams import split_generator, uniforms

EPSILON = 0.1  # Sec. 3.2: "epsilon set to 0.1", for exploration and for the teacher policy
DISCOUNT = 0.99  # SPEC 2.1: the paper uses gamma = 0.99
STEPS = 100_000  # Q-learning steps per MDP (calibrated: figures/calibration.md)
STEP_SIZE = 0.02  # constant Q-learning step size (calibrated: figures/calibration.md)
VISITED_THRESHOLD = 1e-12
N_TRAJECTORIES = 100  # Monte Carlo critic: trajectories per start state (Sec. 4, Fig. 5)
PROGRESS_EVERY_SECONDS = 30.0


# ------------------------------------------------------------------ Q-learning
@dataclass(frozen=True)
class QLearningConfig:
    """Settings of tabular Q-learning (Sec. 3.2; SPEC 3).

    Attributes:
      steps: environment steps per MDP (all B MDPs step in lockstep).
      step_size: constant learning rate alpha.
      epsilon: exploration rate of the epsilon-greedy behaviour policy.
      discount: gamma of the Q-learning target (the paper: 0.99).
      q_init: initial value of every Q(s, a).
    """

    steps: int = STEPS
    step_size: float = STEP_SIZE
    epsilon: float = EPSILON
    discount: float = DISCOUNT
    q_init: float = 0.0

    def validate(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if not 0.0 < self.step_size <= 1.0:
            raise ValueError(f"step_size must lie in (0, 1], got {self.step_size}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {self.epsilon}")
        if not 0.0 <= self.discount <= 1.0:
            raise ValueError(f"discount must lie in [0, 1], got {self.discount}")
        if not np.isfinite(self.q_init):
            raise ValueError(f"q_init must be finite, got {self.q_init}")


def q_learning(
    mdps: TabularMDPs,
    rng: np.random.Generator | Sequence[np.random.Generator],
    config: QLearningConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Tabular Q-learning with epsilon-greedy exploration, all B MDPs in lockstep (Sec. 3.2).

    Each MDP runs one walker: act epsilon-greedily (ties broken uniformly at
    random), sample the outcome, update
    ``Q(s, a) += alpha (r + discount * cont * max_a' Q(s', a') - Q(s, a))``
    where ``cont`` is the sampled continuation (0 when the episode ended, the
    absorbing state has value 0), and restart from the initial distribution
    when the episode ends.

    Args:
      mdps: the batch (any outcome form).
      rng: one Generator per MDP (``streams.world_generators``), or one
        Generator split into one per MDP; MDP b draws only from its own, so its
        Q does not depend on the rest of the batch.
      config: :class:`QLearningConfig` (defaults: calibrated).
      progress: optional callback ``progress(steps_done, steps)``, called about
        every ``PROGRESS_EVERY_SECONDS`` and at the end.
    Returns:
      Q: float[B, S, A].
    """
    cfg = config or QLearningConfig()
    cfg.validate()
    if not isinstance(rng, np.random.Generator) and not isinstance(rng, (list, tuple)):
        raise ValueError("rng must be a numpy.random.Generator or a list of Generators (one per MDP)")
    B, S, A, K = mdps.B, mdps.S, mdps.A, mdps.K
    gens = split_generator(rng, B)
    Q = np.full((B * S, A), float(cfg.q_init))
    cdf = outcome_cdf(mdps)
    shared_dynamics = cdf.shape[:2] == (1, 1)  # grid worlds: P(k | a) shared by all MDPs and states
    cdf_a = cdf[0, 0] if shared_dynamics else None
    nxt = mdps.next_state.reshape(-1)  # flat [B * S * K] tables, gathered by (b S + s) K + k
    rew = mdps.outcome_reward.reshape(-1)
    cnt = mdps.outcome_continue.reshape(-1)
    act_rew = None if mdps.action_reward is None else mdps.action_reward.reshape(-1)
    b = np.arange(B)
    s = sample_initial(mdps, gens, b)
    # uniforms for a block of steps at once, per MDP from its own stream (about 16 MB):
    # A for ties, 1 action, 1 outcome, 1 continuation
    block = max(1, min(cfg.steps, (1 << 21) // (B * (A + 3))))
    u_all = np.empty(0)
    last = time.monotonic()
    for t in range(cfg.steps):
        j = t % block
        if j == 0:
            u_all = uniforms(gens, (min(block, cfg.steps - t), A + 3))  # [B, block, A + 3]
            if progress is not None and time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
                last = time.monotonic()
                progress(t, cfg.steps)
        u = u_all[:, j]
        row = b * S + s
        q = Q[row]
        best = q == q.max(axis=1, keepdims=True)
        greedy = np.argmax(best * u[:, :A], axis=1)  # uniform among the maximisers
        ua = u[:, A]
        explore = ua < cfg.epsilon
        # given ua < eps, ua / eps is uniform on [0, 1): one draw decides and picks the random action
        a = np.where(explore, np.minimum((ua / max(cfg.epsilon, 1e-300) * A).astype(np.int64), A - 1), greedy)
        pk = cdf_a[a] if shared_dynamics else cdf[b if cdf.shape[0] > 1 else 0, s if cdf.shape[1] > 1 else 0, a]
        k = (pk <= u[:, A + 1, None]).sum(axis=1)
        flat = row * K + k
        s2 = nxt[flat]
        r = rew[flat] if act_rew is None else rew[flat] + act_rew[row * A + a]
        cont = u[:, A + 2] < cnt[flat]
        target = r + cfg.discount * np.where(cont, Q[b * S + s2].max(axis=1), 0.0)
        qa = q[b, a]
        Q[row, a] = qa + cfg.step_size * (target - qa)
        s = s2
        if not cont.all():
            ended = np.flatnonzero(~cont)
            s[ended] = sample_initial(mdps, gens, ended)
    if progress is not None:
        progress(cfg.steps, cfg.steps)
    return Q.reshape(B, S, A)


# ------------------------------------------------------------ policies from Q
def _check_q(Q: np.ndarray) -> np.ndarray:
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 3 or Q.shape[-1] < 1:
        raise ValueError(f"Q must be float[B, S, A], got shape {Q.shape}")
    if not np.isfinite(Q).all():
        raise ValueError("Q must be finite")
    return Q


def greedy(Q: np.ndarray) -> np.ndarray:
    """Deterministic teacher, mass 1 on argmax_a Q (first on ties). Q: float[B, S, A] -> float[B, S, A]."""
    return evaluation.greedy_policy(_check_q(Q))


def epsilon_greedy(Q: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """pi(a|s) = (1 - eps) [a = argmax Q(s)] + eps / A (Sec. 3.2, eps = 0.1; first argmax on ties).

    Q: float[B, S, A] -> float[B, S, A].
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    Q = _check_q(Q)
    return (1.0 - epsilon) * evaluation.greedy_policy(Q) + epsilon / Q.shape[-1]


def softmax_policy(Q: np.ndarray, temperature: float) -> np.ndarray:
    """pi(a|s) = exp(Q(s,a)/T) / sum_b exp(Q(s,b)/T) (Fig. 3 rows: teacher temperature).

    T = 0 gives the greedy policy (mass split evenly over tied maximisers is
    NOT done: first argmax, as :func:`greedy`), T = inf the uniform policy.
    Q: float[B, S, A] -> float[B, S, A].
    """
    Q = _check_q(Q)
    if not temperature >= 0.0:  # also rejects NaN
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0.0:
        return evaluation.greedy_policy(Q)
    if np.isinf(temperature):
        return np.full(Q.shape, 1.0 / Q.shape[-1])
    z = (Q - Q.max(axis=-1, keepdims=True)) / temperature
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def policy_entropy(pi: np.ndarray) -> np.ndarray:
    """H(pi(s)) = -sum_a pi(a|s) log pi(a|s) in nats (0 log 0 = 0). float[B, S, A] -> float[B, S]."""
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim != 3:
        raise ValueError(f"pi must be float[B, S, A], got shape {pi.shape}")
    return -np.sum(np.where(pi > 0, pi * np.log(np.where(pi > 0, pi, 1.0)), 0.0), axis=-1)


def teacher_determinism(mdps: TabularMDPs, pi: np.ndarray) -> np.ndarray:
    """Mean entropy of pi under its own visitation, sum_s d_pi(s) H(pi(s)) / sum_s d_pi(s) (Fig. 3 right).

    The x axis of Figure 3 (right): low = deterministic teacher. d_pi is the
    exact expected number of visits (``evaluation.state_visitation``).
    Returns float[B] in nats.
    """
    pi = mdps.check_policy(pi)
    d = evaluation.state_visitation(mdps, pi)
    return np.einsum("bs,bs->b", d, policy_entropy(pi)) / d.sum(axis=1)


# --------------------------------------------------------------- noisy teachers
def visited_states(mdps: TabularMDPs, pi: np.ndarray, threshold: float = VISITED_THRESHOLD) -> np.ndarray:
    """States pi visits from the start: exact expected visits d_pi(s) > threshold (module docstring).

    Returns bool[B, S].
    """
    if not threshold >= 0.0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    return evaluation.state_visitation(mdps, mdps.check_policy(pi)) > threshold


FLIP_ACTIONS = ("random", "reverse")  # the action swapped with the top one
FLIP_STATES = ("uniform", "visits")  # how the flipped states are chosen among the visited ones
REVERSE_MOVE = np.array([1, 0, 3, 2])  # left <-> right, up <-> down (environments.MOVES)


def flip_teacher(
    mdps: TabularMDPs, pi: np.ndarray, fraction: float,
    rng: np.random.Generator | Sequence[np.random.Generator],
    action: str = "random", states: str = "uniform",
) -> tuple[np.ndarray, np.ndarray]:
    """Noisy teacher of Figure 5: swap the top action's probability in a fraction of visited states.

    In each MDP, ``round(fraction * n_visited)`` of the states pi visits
    (:func:`visited_states`) are chosen without replacement: uniformly
    (``states="uniform"``) or with probability proportional to pi's expected
    visits d_pi(s) (``"visits"``, weighted sampling by the keys u^(1/d)). In
    each, the probability of the most probable action (first on ties) is
    swapped with that of another action: one drawn uniformly among the other
    A - 1 (``action="random"``) or the grid move in the opposite direction
    (``"reverse"``: the top action must be one of the four moves). All other
    states are left untouched. The paper does not say which rule it used; both
    are open settings (SPEC 2.2).

    Args:
      pi: float[B, S, A] teacher policy.
      fraction: share of visited states to flip, in [0, 1] (Figure 5: 0.25).
      rng: one Generator per MDP (each MDP's flips from its own stream), or one split into one per MDP.
      action: "random" or "reverse"; states: "uniform" or "visits".
    Returns:
      (noisy policy float[B, S, A], flipped bool[B, S]).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if action not in FLIP_ACTIONS:
        raise ValueError(f"flip action must be one of {FLIP_ACTIONS}, got {action!r}")
    if states not in FLIP_STATES:
        raise ValueError(f"flip states must be one of {FLIP_STATES}, got {states!r}")
    pi = mdps.check_policy(pi)
    B, S, A = pi.shape
    if A < 2 and fraction > 0:
        raise ValueError("flipping needs at least two actions")
    visits = evaluation.state_visitation(mdps, pi)
    visited = visits > VISITED_THRESHOLD
    n_flip = np.rint(fraction * visited.sum(axis=1)).astype(np.int64)  # round half to even
    gens = split_generator(rng, B)
    u = uniforms(gens, S)
    if states == "uniform":
        keys = np.where(visited, u, np.inf)
    else:  # Efraimidis-Spirakis: the n smallest -log(u) / w are a weighted sample without replacement
        with np.errstate(divide="ignore"):
            keys = np.where(visited, -np.log(u) / np.where(visited, visits, 1.0), np.inf)
    rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
    flipped = rank < n_flip[:, None]
    top = pi.argmax(axis=-1)  # [B, S]
    other = (np.stack([g.integers(A - 1, size=S) for g in gens]) if A > 1
             else np.zeros((B, S), dtype=np.int64))
    other = other + (other >= top)  # uniform over the A - 1 actions != top
    if action == "reverse":
        if A < 4 or np.any(top[flipped] >= 4):
            raise ValueError("the reverse flip needs the top action to be one of the four grid moves")
        other = REVERSE_MOVE[np.minimum(top, 3)]
    bb, ss = np.nonzero(flipped)
    out = pi.copy()
    t, o = top[bb, ss], other[bb, ss]
    out[bb, ss, t], out[bb, ss, o] = pi[bb, ss, o], pi[bb, ss, t]
    return out, flipped


# ----------------------------------------------------------- |A| > 4 (Fig. 4)
def epsilon_greedy_moves(q_moves: np.ndarray, n_actions: int, epsilon: float = EPSILON) -> np.ndarray:
    """Figure 4's teacher over |A| actions from Q-learning on the four moves.

    pi(a | s) = (1 - eps) [a = argmax_{a' < 4} Q(s, a')] + eps / |A|: the most
    probable action is always the Q-learning greedy move (first on ties), and
    the exploration mass is spread over every action, no-ops included (SPEC 2.1:
    "the teacher's most probable action stays a move").

    Args:
      q_moves: float[B, S, 4] Q-learning values of the moves.
      n_actions: |A| >= 4 (actions 4.. are the no-ops of ``environments.with_actions``).
    Returns:
      float[B, S, |A|].
    """
    q = _check_q(q_moves)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    if int(n_actions) != n_actions or n_actions < q.shape[-1]:
        raise ValueError(f"n_actions must be an integer >= {q.shape[-1]}, got {n_actions}")
    B, S, _ = q.shape
    pi = np.full((B, S, int(n_actions)), epsilon / n_actions)
    np.put_along_axis(pi, q.argmax(axis=-1)[..., None], (1.0 - epsilon) + epsilon / n_actions, axis=-1)
    return pi


# ------------------------------------------------------------- chain (Fig. 6)
def chain_teachers(mdps: TabularMDPs) -> tuple[Teacher, Teacher]:
    """Optimal and adversarial teachers of the chain (SPEC 2.3, Sec. 4.2, Fig. 6).

    Optimal: always right, with its exact V. Adversarial: always left, with
    the optimal teacher's V as its critic (an adversarial critic).
    mdps: ``environments.chain(T)`` (A = 2, action 0 = left, 1 = right).
    Returns (optimal, adversarial) :class:`methods.Teacher` with pi float[B, S, 2].
    """
    if mdps.A != 2:
        raise ValueError(f"chain teachers need the 2-action chain, got A={mdps.A}")
    right = np.zeros((mdps.B, mdps.S, 2))
    right[..., RIGHT] = 1.0
    left = np.zeros((mdps.B, mdps.S, 2))
    left[..., LEFT] = 1.0
    v_opt = evaluation.state_values(mdps, right)
    return Teacher(pi=right, value=v_opt, name="optimal"), Teacher(pi=left, value=v_opt.copy(), name="adversarial")


# ----------------------------------------------------------------- critics
CRITICS = ("exact", "monte_carlo", "zero")


def teacher_critic(
    mdps: TabularMDPs,
    pi: np.ndarray,
    kind: str = "exact",
    rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
    n_trajectories: int = N_TRAJECTORIES,
) -> np.ndarray:
    """Teacher critic V for Section 4 methods. -> float[B, S].

    kind: "exact" (V_pi, ``evaluation.state_values``), "monte_carlo" (mean of
    N sampled returns per start state, as the paper; needs ``rng``), or
    "zero" (V_0 = 0, the TD + V_0 baseline of Fig. 5).
    """
    pi = mdps.check_policy(pi)
    if kind == "exact":
        return evaluation.state_values(mdps, pi)
    if kind == "monte_carlo":
        if rng is None:
            raise ValueError("the Monte Carlo critic needs rng: a numpy.random.Generator or one per MDP")
        return monte_carlo_values(mdps, pi, rng, n_trajectories)[0]
    if kind == "zero":
        return np.zeros((mdps.B, mdps.S))
    raise ValueError(f"critic kind must be one of {CRITICS}, got {kind!r}")


def make_teacher(
    mdps: TabularMDPs,
    pi: np.ndarray,
    critic: str | None = "exact",
    rng: np.random.Generator | None = None,
    n_trajectories: int = N_TRAJECTORIES,
    name: str = "teacher",
) -> Teacher:
    """A :class:`methods.Teacher` (pi, value, name); ``critic=None`` leaves value None."""
    pi = mdps.check_policy(pi)
    value = None if critic is None else teacher_critic(mdps, pi, critic, rng, n_trajectories)
    return Teacher(pi=pi, value=value, name=name)
