"""Random draws of the sampled estimator: where every uniform number comes from.

All draws come from a :class:`UniformSource`. The default one wraps an
explicit ``numpy.random.Generator``; :class:`TrajectoryStreams` gives every
trajectory slot of every world its own Generator (what ``training.distill``
uses, so a world's draws do not depend on the rest of its batch); tests inject
:class:`ArrayDraws` to compare against a plain per-MDP loop. Order of use
within one update: initial states (only if some start distribution is not
one-hot), episode lengths (geometric mode), per time step the outcome (and
continuation) uniforms, then one uniform per recorded step for its action.

Array letters: ``N`` trajectories per MDP, ``T`` time steps, ``M`` recorded steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_EPISODE_STEPS = 1_000_000


class UniformSource:
    """Uniform [0, 1) draws for one sampled step, read from a Generator in call order.

    The ids and times passed in say which trajectory (``i = b * N + n``) and
    time step each draw belongs to; this class ignores them, :class:`ArrayDraws`
    uses them to look pre-drawn values up.
    """

    def __init__(self, rng: np.random.Generator):
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.rng = rng

    def initial(self, n: int) -> np.ndarray:
        """float[n]: one draw per trajectory for its start state."""
        return self.rng.random(n)

    def lengths(self, n: int) -> np.ndarray:
        """float[n]: one draw per trajectory for its geometric length."""
        return self.rng.random(n)

    def step(self, t: int, ids: np.ndarray, width: int) -> np.ndarray:
        """float[width, len(ids)]: row 0 picks the outcome, row 1 (if any) the continuation."""
        return self.rng.random((width, ids.size))

    def actions(self, ids: np.ndarray, times: np.ndarray) -> np.ndarray:
        """float[M]: one draw per recorded step for its action."""
        return self.rng.random(ids.size)

    def reserve(self, steps: np.ndarray) -> None:
        """Hint: trajectory i takes at most ``steps[i]`` steps in this update (known lengths)."""

    def finish(self, steps: np.ndarray) -> None:
        """The update is over: trajectory i took ``steps[i]`` steps (int[B * N])."""


@dataclass
class ArrayDraws(UniformSource):
    """Pre-drawn uniforms indexed by trajectory and time (for reference tests).

    Attributes:
      initial_u: float[BN]; length_u: float[BN]; step_u: float[2, BN, T];
      action_u: float[BN, T].
    """

    initial_u: np.ndarray
    length_u: np.ndarray
    step_u: np.ndarray
    action_u: np.ndarray

    def initial(self, n: int) -> np.ndarray:
        return self.initial_u[:n]

    def lengths(self, n: int) -> np.ndarray:
        return self.length_u[:n]

    def step(self, t: int, ids: np.ndarray, width: int) -> np.ndarray:
        if t >= self.step_u.shape[2]:
            raise ValueError(f"ArrayDraws holds {self.step_u.shape[2]} time steps; step {t} requested")
        return self.step_u[:width, ids, t]

    def actions(self, ids: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self.action_u[ids, times]


class TrajectoryStreams(UniformSource):
    """Draws of each trajectory slot from its own Generator, read by position.

    Slot ``i = b * N + n`` (trajectory n of world b) owns ``generators[i]``
    (``streams.world_generators(seed, world_ids, slots=N)``). In every update
    slot i reads its stream in a fixed layout (``LAYOUTS``): for episodes
    ``[initial, length]`` then, per time step t, ``[outcome, continuation,
    action]``; after the update it advances by ``2 + 3 * (steps it took)``. A slot's draws therefore depend
    only on its own trajectory, never on the other worlds of the batch: the
    workflow's curves do not depend on how worlds are split into shards.
    Values are read ahead in blocks (a Generator's doubles come out in the
    same sequence however they are requested).
    """

    # (head, stride) of each sampler's layout: episodes read [initial, length] then per step
    # [outcome, continuation, action]; unrolls read per step [outcome, continuation, restart, action]
    LAYOUTS = {"episode": (2, 3), "unroll": (0, 4)}

    def __init__(self, generators, capacity: int = 1024, sampler: str = "episode"):
        self.gens = list(generators)
        if not self.gens or not all(isinstance(g, np.random.Generator) for g in self.gens):
            raise TypeError("generators must be a non-empty list of numpy.random.Generator")
        if sampler not in self.LAYOUTS:
            raise ValueError(f"sampler must be one of {sorted(self.LAYOUTS)}, got {sampler!r}")
        self.HEAD, self.STRIDE = self.LAYOUTS[sampler]
        n = len(self.gens)
        self.buf = np.empty((n, int(capacity)))
        self.lo = np.zeros(n, dtype=np.int64)  # start of the current update's block in buf
        self.hi = np.zeros(n, dtype=np.int64)  # end of the values drawn so far
        self._reserved = False

    def _ensure(self, ids: np.ndarray, need: np.ndarray | int) -> None:
        """Make ``need`` values from ``lo`` available for the slots ``ids``."""
        need = np.broadcast_to(need, ids.shape)
        short = ids[self.lo[ids] + need > self.hi[ids]]
        if not short.size:
            return
        most = int(need.max())
        if most > self.buf.shape[1]:
            grown = np.empty((self.buf.shape[0], 1 << (most - 1).bit_length()))
            grown[:, :self.buf.shape[1]] = self.buf
            self.buf = grown
        cap = self.buf.shape[1]
        for i in np.unique(short).tolist():
            keep = self.hi[i] - self.lo[i]
            self.buf[i, :keep] = self.buf[i, self.lo[i]:self.hi[i]]
            self.gens[i].random(cap - keep, out=self.buf[i, keep:])
            self.lo[i], self.hi[i] = 0, cap

    def _at(self, ids: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
        return self.buf[ids, self.lo[ids] + offset]

    def initial(self, n: int) -> np.ndarray:
        ids = np.arange(n)
        self._ensure(ids, self.HEAD)
        return self._at(ids, 0)

    def lengths(self, n: int) -> np.ndarray:
        ids = np.arange(n)
        self._ensure(ids, self.HEAD)
        return self._at(ids, 1)

    def reserve(self, steps: np.ndarray) -> None:
        """Every slot will take at most ``steps[i]`` steps in this update (known lengths)."""
        self._ensure(np.arange(steps.size), self.HEAD + self.STRIDE * steps)
        self._reserved = True

    def step(self, t: int, ids: np.ndarray, width: int) -> np.ndarray:
        if not self._reserved:
            self._ensure(ids, self.HEAD + self.STRIDE * (t + 1))
        base = self.HEAD + self.STRIDE * t
        return np.stack([self._at(ids, base + j) for j in range(width)])

    def actions(self, ids: np.ndarray, times: np.ndarray) -> np.ndarray:
        return self._at(ids, self.HEAD + self.STRIDE * times + self.STRIDE - 1)

    def finish(self, steps: np.ndarray) -> None:
        """The update is over: slot i took ``steps[i]`` steps."""
        self.lo += self.HEAD + self.STRIDE * np.asarray(steps, dtype=np.int64)
        self._reserved = False


def as_source(rng: np.random.Generator | UniformSource) -> UniformSource:
    if isinstance(rng, UniformSource):
        return rng
    return UniformSource(rng)


def geometric_length(u: np.ndarray, c0: float) -> np.ndarray:
    """Episode length L >= 1 with P(L > l) = c0^l, by inversion of u in [0, 1). -> int[...]."""
    L = 1.0 + np.floor(np.log1p(-np.asarray(u)) / np.log(c0))
    return np.minimum(L, MAX_EPISODE_STEPS).astype(np.int64)


def inverse_cdf(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index k with cum[k-1] <= u * cum[-1] < cum[k] (rows of cum: float[..., K]) -> int[...]."""
    target = u * cum[..., -1]
    return np.minimum((cum[..., :-1] <= target[..., None]).sum(axis=-1), cum.shape[-1] - 1)
