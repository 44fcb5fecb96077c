"""Critics of the pseudo-return: baselines and bootstrap values for the sampled estimator.

For a method whose score weight is the return-to-go of its pseudo-reward,
``W_t = sum_{i >= t} rhat_i``, a critic estimates ``Vhat(s) = E[W_t | s_t = s]``
under the current student (``exact.pseudo_action_values``; Section 4.1's
critic, here for any pseudo-reward). It is used two ways:

- as a state baseline: ``W_t - Vhat(s_t)`` (unbiased: E[(e_a - pi) b(s)] = 0);
- by the ``unroll`` sampler, to bootstrap the return beyond the unroll's last
  step: ``W_t = sum_{i = t}^{L-1} rhat_i + Vhat(s_L)`` (the n-step return).

Three kinds:

- :class:`NoCritic` (``none``): no baseline; unrolls are truncated at their end;
- :class:`ExactReturnCritic` (``exact``): the exact Vhat of the current student,
  recomputed every ``every`` steps (an oracle only a tabular testbed affords);
  with it the bootstrapped update is unbiased up to its staleness;
- :class:`TDReturnCritic` (``td``): a tabular critic learned from the same
  samples by TD(lambda) with step size ``step_size``; biased while it learns
  (measured, ``tests/test_return_critics.py``).

Array letters: ``B`` MDPs, ``S`` states, ``M`` sampled steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CRITICS = ("none", "exact", "td")


@dataclass
class NoCritic:
    """No critic: plain Monte Carlo weights, unrolls truncated at their end."""

    needs_transitions = False

    def reset(self, B: int, S: int) -> None:
        """A new run on B MDPs with S states."""

    def values(self, step: int, refresh) -> np.ndarray | None:
        """Vhat float[B, S] for optimisation step ``step``, or None (no critic)."""
        return None

    def observe(self, state: np.ndarray, target: np.ndarray) -> None:
        """Learn from sampled states (flat int[M]) and their lambda-return targets float[M]."""


@dataclass
class ExactReturnCritic:
    """Vhat of the current student, exact, recomputed every ``every`` steps (K) and held in between."""

    every: int = 100
    _value: np.ndarray | None = field(default=None, init=False, repr=False)

    needs_transitions = False

    def __post_init__(self) -> None:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"exact critic: every (K) must be a positive integer, got {self.every}")

    def reset(self, B: int, S: int) -> None:
        self._value = None

    def values(self, step: int, refresh) -> np.ndarray:
        """``refresh()`` computes the exact Vhat float[B, S] (called when step % K == 0)."""
        if self._value is None or step % self.every == 0:
            self._value = refresh()
        return self._value

    def observe(self, state: np.ndarray, target: np.ndarray) -> None:
        """Exact critics learn nothing from samples."""


@dataclass
class TDReturnCritic:
    """Tabular Vhat learned by TD(lambda) from the sampled pseudo-rewards.

    Per step, every visited state moves towards the mean of its lambda-return
    targets in the batch: ``V(s) += step_size * mean_t(G^lambda_t - V(s))``
    (a per-state mean keeps the step bounded when a state is visited many times
    in one batch; the targets themselves bootstrap from V before the update).

    Attributes:
      step_size: alpha in (0, 1]; lam: lambda in [0, 1] (1: Monte Carlo targets
        within an episode or unroll); initial: starting value of every state.
    """

    step_size: float = 0.1
    lam: float = 0.9
    initial: float = 0.0
    _V: np.ndarray | None = field(default=None, init=False, repr=False)

    needs_transitions = True

    def __post_init__(self) -> None:
        if not 0.0 < self.step_size <= 1.0:
            raise ValueError(f"td critic: step_size must lie in (0, 1], got {self.step_size}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"td critic: lambda must lie in [0, 1], got {self.lam}")

    def reset(self, B: int, S: int) -> None:
        self._V = np.full((B, S), float(self.initial))

    def values(self, step: int, refresh) -> np.ndarray:
        """The learned Vhat float[B, S] (``refresh`` is not used)."""
        if self._V is None:
            raise RuntimeError("call reset(B, S) before values()")
        return self._V

    def observe(self, state: np.ndarray, target: np.ndarray) -> None:
        V = self._V.reshape(-1)
        counts = np.bincount(state, minlength=V.size)
        sums = np.bincount(state, weights=target - V[state], minlength=V.size)
        seen = counts > 0
        V[seen] += self.step_size * sums[seen] / counts[seen]


def lambda_returns(rhat: np.ndarray, segment: np.ndarray, cont: np.ndarray, v_next: np.ndarray,
                   lam: float) -> np.ndarray:
    """G^lambda_t = rhat_t + cont_t [(1 - lam) V(s_{t+1}) + lam G^lambda_{t+1}] within segments -> float[M].

    Args:
      rhat: float[M] pseudo-rewards of trajectory-major records, segments contiguous.
      segment: int[M] non-decreasing segment id (an episode within an unroll, or a whole episode).
      cont: bool[M] the episode continues after the step; at a segment's last step it
        is True only where the segment was cut by the unroll's end.
      v_next: float[M] V(s_{t+1}) (used where ``cont``).
    """
    from .sampling import kernels

    return kernels.lambda_returns(np.ascontiguousarray(rhat, dtype=np.float64), np.ascontiguousarray(segment),
                                  np.ascontiguousarray(cont), np.ascontiguousarray(v_next, dtype=np.float64),
                                  float(lam))


Critic = NoCritic | ExactReturnCritic | TDReturnCritic


def make_return_critic(spec: str | dict | None) -> Critic:
    """A fresh critic: None / ``"none"``, ``{"kind": "exact", "every": K}``, ``{"kind": "td", "step_size": a,
    "lambda": l}``."""
    if spec is None:
        return NoCritic()
    kw = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = kw.pop("kind", None)
    if "lambda" in kw:
        kw["lam"] = kw.pop("lambda")
    cls = {"none": NoCritic, "exact": ExactReturnCritic, "td": TDReturnCritic}.get(kind)
    if cls is None:
        raise ValueError(f"return critic kind must be one of {CRITICS}, got {kind!r}")
    try:
        return cls(**kw)
    except TypeError as err:
        raise ValueError(f"bad settings for the {kind} return critic: {err}") from err
