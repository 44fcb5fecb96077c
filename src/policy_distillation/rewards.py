"""The pseudo-reward rhat of Eq. (1), written once for every estimator.

A pseudo-reward is a sum of declared terms (``terms.Term``), paid at the
current step or on entering the next state:

    rhat_i = now_sa(s_i, a_i) + now_state(s_i) + [env] r_i
             + next_state(s_{i+1}) + next_sa(s_{i+1}, a_{i+1}),

where the next-state terms are 0 when the episode has ended. The sampled
estimator (and the plain-loop reference in the tests) evaluates it at sampled
steps (:func:`sampled_pseudo_reward`); the exact estimator takes its
expectation under the student (:func:`expected_pseudo_reward`). Both add the
terms in the order above.

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``M`` sampled steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .states import StateBatch
from .terms import Term


@dataclass(frozen=True)
class PseudoReward:
    """rhat as declared terms (all optional; the default is rhat = 0).

    Attributes:
      now_sa: per-(state, action) term at (s_i, a_i); now_state: per-state term at s_i.
      env: add the environment reward r_i (the '+R' versions).
      next_state: per-state term at s_{i+1}; next_sa: per-(state, action) term at (s_{i+1}, a_{i+1}).
      text: how Table 1 writes rhat (composed from the terms when empty).
    """

    now_sa: Term | None = None
    now_state: Term | None = None
    env: bool = False
    next_state: Term | None = None
    next_sa: Term | None = None
    text_override: str = ""

    def __post_init__(self) -> None:
        for slot, per_action in (("now_sa", True), ("now_state", False), ("next_state", False), ("next_sa", True)):
            term = getattr(self, slot)
            if term is not None and term.per_action != per_action:
                kind = "per-(state, action)" if per_action else "per-state"
                raise ValueError(f"pseudo-reward slot {slot} takes a {kind} term, got {term.text!r}")

    def terms(self) -> list[Term]:
        return [t for t in (self.now_sa, self.now_state, self.next_state, self.next_sa) if t is not None]

    @property
    def is_zero(self) -> bool:
        return not self.env and not self.terms()

    def plus_env(self) -> "PseudoReward":
        text = self.text_override + " + r_i" if self.text_override else ""
        return replace(self, env=True, text_override=text)

    @property
    def text(self) -> str:
        """rhat_i in Table 1's notation (term texts index time with ``{t}``)."""
        if self.text_override:
            return self.text_override
        parts = [t.text.format(t="i") for t in (self.now_sa, self.now_state) if t is not None]
        parts += ["r_i"] if self.env else []
        parts += [t.text.format(t="{i+1}") for t in (self.next_state, self.next_sa) if t is not None]
        return " + ".join(parts).replace("+ -", "- ") if parts else "0"


def sampled_pseudo_reward(reward: PseudoReward, states: StateBatch, rows: np.ndarray, actions: np.ndarray | None,
                          env_reward: np.ndarray | None, cont: np.ndarray, next_rows: np.ndarray,
                          next_actions: np.ndarray | None) -> np.ndarray:
    """rhat at M sampled steps -> float[M].

    Args:
      states: the visited states (MDP 0 of the bundle; ``rows`` index its states).
      rows, actions: int[M] state row and action of each step.
      env_reward: float[M] realised reward r_i (needed when ``reward.env``).
      cont: bool[M] the episode continues to s_{i+1}.
      next_rows, next_actions: int[M] row and action at i+1 (any valid index where not ``cont``).
    """
    rhat = np.zeros(rows.size)
    if reward.now_sa is not None:
        rhat += reward.now_sa.at(states, rows, actions)
    if reward.now_state is not None:
        rhat += reward.now_state.at(states, rows)
    if reward.env:
        rhat += env_reward
    if reward.next_state is not None:
        rhat += np.where(cont, reward.next_state.at(states, next_rows), 0.0)
    if reward.next_sa is not None:
        rhat += np.where(cont, reward.next_sa.at(states, next_rows, next_actions), 0.0)
    return rhat


def expected_pseudo_reward(reward: PseudoReward, states: StateBatch,
                           env_reward_sa: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The expectation of rhat split into now and next-state parts.

    Args:
      states: every state of the batch (student policy included).
      env_reward_sa: float[B, S, A] expected r(s, a) (needed when ``reward.env``).
    Returns:
      rho: float[B, S, A] = now_sa(s, a) + now_state(s) + [env] r(s, a).
      u: float[B, S] = next_state(s') + sum_a' pi_theta(a'|s') next_sa(s', a'),
        paid when the episode continues into s'.
    """
    B, S, A = states.shape
    rho = np.zeros((B, S, A))
    if reward.now_sa is not None:
        rho = rho + reward.now_sa(states)
    if reward.now_state is not None:
        rho = rho + reward.now_state(states)[..., None]
    if reward.env:
        rho = rho + env_reward_sa
    return rho, expected_next_part(reward, states)


def expected_next_part(reward: PseudoReward, states: StateBatch) -> np.ndarray:
    """u(s) = next_state(s) + sum_a pi_theta(a|s) next_sa(s, a): the next-state part of rhat paid on
    entering s, in expectation over the student's next action -> float[B, S]."""
    u = np.zeros(states.shape[:2])
    if reward.next_state is not None:
        u = u + reward.next_state(states)
    if reward.next_sa is not None:
        u = u + np.einsum("bsa,bsa->bs", states.student_pi, reward.next_sa(states))
    return u
