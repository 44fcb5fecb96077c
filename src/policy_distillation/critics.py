"""Student critics V_theta for the methods that read one (value-gated distillation,
Proposition 2: ``l = H^x(pi || pi_theta) [V_pi(s) - V_theta(s) > 0]``).

Two critics, both undiscounted and episodic like the updates (gamma = 1):

- :class:`ExactCritic` (the default, used by the figures): V_theta computed
  exactly (``evaluation.state_values`` at the current student) every
  ``every`` optimisation steps (default K = 100) and held in between. This
  follows the paper's "ground-truth access to V_{pi_theta}" in Section 4
  while keeping 1k grid worlds cheap (one sparse LU per K steps).
- :class:`TDCritic`: a learned tabular TD(0) critic updated from the same
  sampled trajectories the sampled estimator draws, with a constant step
  size alpha from the config: per visit,
  ``V(s_t) <- V(s_t) + alpha [r_t + cont_t V(s_{t+1}) - V(s_t)]``, all
  trajectories advancing in time order. (A per-state *mean* of a batch's TD
  errors would be biased: a trajectory's visit count is correlated with
  where it goes next.)

``make_critic`` turns a config (``"exact"``, ``"td"``, a dict with ``kind``
and parameters, or a critic) into a fresh critic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .evaluation import state_values
from .mdp import TabularMDPs
from .policies import softmax
from .sampling.estimator import Transitions

DEFAULT_EXACT_EVERY = 100
DEFAULT_TD_STEP_SIZE = 0.1


@dataclass
class ExactCritic:
    """V_theta recomputed exactly every ``every`` steps (K), held in between.

    Attributes:
      every: K, steps between recomputations (>= 1).
    """

    every: int = DEFAULT_EXACT_EVERY
    _value: np.ndarray | None = field(default=None, init=False, repr=False)
    _mdps: TabularMDPs | None = field(default=None, init=False, repr=False)

    needs_transitions = False

    def __post_init__(self) -> None:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"ExactCritic.every (K) must be a positive integer, got {self.every}")

    def reset(self, mdps: TabularMDPs) -> None:
        self._mdps, self._value = mdps, None

    def value(self, step: int, logits: np.ndarray) -> np.ndarray:
        """V_theta: float[B, S] for optimisation step ``step`` (recomputed when step % K == 0)."""
        if self._mdps is None:
            raise RuntimeError("call reset(mdps) before value()")
        if self._value is None or step % self.every == 0:
            self._value = state_values(self._mdps, softmax(logits))
        return self._value

    def observe(self, transitions: Transitions) -> None:
        """Exact critics learn nothing from samples."""


@dataclass
class TDCritic:
    """Tabular TD(0) critic learned from the sampled trajectories.

    Attributes:
      step_size: alpha in (0, 1].
      initial: initial value of every state (0: the absorbing state's value).
    """

    step_size: float = DEFAULT_TD_STEP_SIZE
    initial: float = 0.0
    _V: np.ndarray | None = field(default=None, init=False, repr=False)

    needs_transitions = True

    def __post_init__(self) -> None:
        if not 0.0 < self.step_size <= 1.0:
            raise ValueError(f"TDCritic.step_size must lie in (0, 1], got {self.step_size}")

    def reset(self, mdps: TabularMDPs) -> None:
        if mdps.gamma != 1.0:
            raise ValueError(f"the TD critic is undiscounted (gamma = 1); got gamma = {mdps.gamma}")
        self._V = np.full((mdps.B, mdps.S), float(self.initial))

    def value(self, step: int, logits: np.ndarray) -> np.ndarray:
        """Current estimate V: float[B, S]."""
        if self._V is None:
            raise RuntimeError("call reset(mdps) before value()")
        return self._V

    def observe(self, transitions: Transitions) -> None:
        """TD(0) over the sampled steps, in time order.

        All trajectories advance together: at each time t the steps taken at t
        update ``V(s_t) += alpha (r_t + cont_t V(s_{t+1}) - V(s_t))`` from the
        current V. With one trajectory per MDP this is exactly per-visit TD(0);
        with N > 1, same-time visits of one state add up (keep alpha <= 1/N).
        """
        if self._V is None:
            raise RuntimeError("call reset(mdps) before observe()")
        if transitions.reward is None:
            raise ValueError("transitions carry no rewards: build the estimator with record_rewards=True")
        V = self._V.reshape(-1)
        order = np.argsort(transitions.time, kind="stable")
        F = transitions.flat_state[order]
        nxt = transitions.flat_next[order]
        cont = transitions.cont[order]
        r = transitions.reward[order]
        bounds = np.flatnonzero(np.diff(transitions.time[order])) + 1
        single = transitions.n_trajectories == 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, F.size]):
            f = F[lo:hi]
            delta = r[lo:hi] + np.where(cont[lo:hi], V[nxt[lo:hi]], 0.0) - V[f]
            if single:
                V[f] += self.step_size * delta
            else:
                np.add.at(V, f, self.step_size * delta)


Critic = ExactCritic | TDCritic


def make_critic(spec: str | dict | Critic | None = None) -> Critic:
    """A fresh critic from a config.

    Args:
      spec: None or ``"exact"`` (ExactCritic, K = 100), ``"td"`` (TDCritic,
        alpha = 0.1), ``{"kind": "exact", "every": K}``, ``{"kind": "td",
        "step_size": alpha}``, or a critic (copied with its parameters).
    """
    if spec is None or spec == "exact":
        return ExactCritic()
    if spec == "td":
        return TDCritic()
    if isinstance(spec, ExactCritic):
        return ExactCritic(every=spec.every)
    if isinstance(spec, TDCritic):
        return TDCritic(step_size=spec.step_size, initial=spec.initial)
    if isinstance(spec, dict):
        kw = dict(spec)
        kind = kw.pop("kind", None)
        if kind == "exact":
            return ExactCritic(**kw)
        if kind == "td":
            return TDCritic(**kw)
        raise ValueError(f"critic kind must be 'exact' or 'td', got {kind!r}")
    raise ValueError(f"unknown critic spec {spec!r}; use 'exact', 'td', a dict with 'kind', or a critic")
