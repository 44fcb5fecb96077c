"""Random draws of the sampled estimator: where every uniform number comes from.

Every trajectory slot ``i = b * N + n`` (trajectory n of world b) reads its
uniforms from its own row of a draw buffer, by position, in a fixed layout
per sampler (``LAYOUTS``): for episodes ``[initial, length]`` then, per time
step t, ``[outcome, continuation, action]``; for unrolls ``[initial]`` (used by
the first unroll only) then, per step ``[outcome, continuation, restart, action]``. After an update the slot
advances past what it used. A slot's draws therefore depend only on its own
trajectory, never on the other worlds of the batch.

Sources (all give the kernels of ``kernels`` a buffer view ``(buf, lo, hi)``):

- :class:`TrajectoryStreams`: one ``numpy.random.Generator`` per slot
  (``streams.world_generators``), what ``training.distill`` uses;
- a plain ``numpy.random.Generator`` (:func:`as_source`): split into one per
  slot for the update (``Generator.spawn``);
- :class:`ArrayDraws`: pre-drawn arrays indexed by trajectory and time, for
  reference tests that feed a plain loop the same numbers.

Array letters: ``N`` trajectories per MDP, ``T`` time steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_EPISODE_STEPS = 1_000_000
# (head, stride) of each sampler's layout
LAYOUTS = {"episode": (2, 3), "unroll": (1, 4)}


class UniformSource:
    """Interface of a draw source: a buffer view per update, advanced by what each slot used."""

    head: int = 2
    stride: int = 3

    def set_layout(self, sampler: str) -> None:
        if sampler not in LAYOUTS:
            raise ValueError(f"sampler must be one of {sorted(LAYOUTS)}, got {sampler!r}")
        self.head, self.stride = LAYOUTS[sampler]

    def view(self, n: int, need: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buf float[n, C], lo int[n], hi int[n]) with at least ``need[i]`` values from ``lo[i]`` for slot i."""
        raise NotImplementedError

    def finish(self, steps: np.ndarray) -> None:
        """The update is over: slot i took ``steps[i]`` steps (int[B * N])."""


class TrajectoryStreams(UniformSource):
    """Draws of each trajectory slot from its own Generator, read by position.

    Slot i owns ``generators[i]`` (``streams.world_generators(seed, world_ids,
    slots=N)``). Values are read ahead in blocks (a Generator's doubles come out
    in the same sequence however they are requested).
    """

    def __init__(self, generators, capacity: int = 1024, sampler: str = "episode"):
        self.gens = list(generators)
        if not self.gens or not all(isinstance(g, np.random.Generator) for g in self.gens):
            raise TypeError("generators must be a non-empty list of numpy.random.Generator")
        self.set_layout(sampler)
        n = len(self.gens)
        self.buf = np.empty((n, int(capacity)))
        self.lo = np.zeros(n, dtype=np.int64)  # start of the current update's block in buf
        self.hi = np.zeros(n, dtype=np.int64)  # end of the values drawn so far

    def view(self, n, need):
        if n != len(self.gens):
            raise ValueError(f"these streams serve {len(self.gens)} trajectory slots, not {n}")
        need = np.broadcast_to(np.asarray(need, dtype=np.int64), (n,))
        short = np.flatnonzero(self.lo + need > self.hi)
        if short.size:
            most = int(need.max())
            if most > self.buf.shape[1]:
                grown = np.empty((self.buf.shape[0], 1 << (most - 1).bit_length()))
                grown[:, :self.buf.shape[1]] = self.buf
                self.buf = grown
            cap = self.buf.shape[1]
            for i in short.tolist():
                keep = self.hi[i] - self.lo[i]
                self.buf[i, :keep] = self.buf[i, self.lo[i]:self.hi[i]]
                self.gens[i].random(cap - keep, out=self.buf[i, keep:])
                self.lo[i], self.hi[i] = 0, cap
        return self.buf, self.lo, self.hi

    def finish(self, steps):
        self.lo += self.head + self.stride * np.asarray(steps, dtype=np.int64)


@dataclass
class ArrayDraws(UniformSource):
    """Pre-drawn uniforms indexed by trajectory and time (for reference tests).

    Attributes:
      initial_u: float[BN]; length_u: float[BN]; step_u: float[W, BN, T] (row 0 the
        outcome, 1 the continuation, 2 the restart of an unroll); action_u: float[BN, T].
    Every update reads the same arrays (time 0 at the start of each).
    """

    initial_u: np.ndarray
    length_u: np.ndarray
    step_u: np.ndarray
    action_u: np.ndarray

    def view(self, n, need):
        """Every value held (``need`` beyond that is reported by the caller when a trajectory reaches it)."""
        T = self.step_u.shape[2]
        buf = np.zeros((n, self.head + self.stride * T))
        buf[:, 0] = self.initial_u[:n]
        if self.head > 1:
            buf[:, 1] = self.length_u[:n]
        for j in range(min(self.stride - 1, self.step_u.shape[0])):
            buf[:, self.head + j::self.stride] = self.step_u[j, :n]
        buf[:, self.head + self.stride - 1::self.stride] = self.action_u[:n, :T]
        return buf, np.zeros(n, dtype=np.int64), np.full(n, buf.shape[1], dtype=np.int64)


def as_source(rng: np.random.Generator | UniformSource, n: int, sampler: str) -> UniformSource:
    """A source for ``n`` trajectory slots laid out for ``sampler``; a Generator is split into one per slot."""
    if isinstance(rng, UniformSource):
        source = rng
    elif isinstance(rng, np.random.Generator):
        source = TrajectoryStreams(rng.spawn(n), capacity=256)
    else:
        raise TypeError(f"rng must be a numpy.random.Generator or a UniformSource, got {type(rng).__name__}")
    source.set_layout(sampler)
    return source


def geometric_length(u: np.ndarray, c0: float) -> np.ndarray:
    """Episode length L >= 1 with P(L > l) = c0^l, by inversion of u in [0, 1). -> int[...]."""
    L = 1.0 + np.floor(np.log1p(-np.asarray(u)) / np.log(c0))
    return np.minimum(L, MAX_EPISODE_STEPS).astype(np.int64)


def inverse_cdf(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index k with cum[k-1] <= u * cum[-1] < cum[k] (rows of cum: float[..., K]) -> int[...]."""
    target = u * cum[..., -1]
    return np.minimum((cum[..., :-1] <= target[..., None]).sum(axis=-1), cum.shape[-1] - 1)
