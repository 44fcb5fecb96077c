"""Random streams, one ``numpy.random.Generator`` per world (and per trajectory slot).

Every draw of the workflow belongs to one world (one MDP of a batch) and is
taken from that world's own Generator, seeded by ``numpy.random.SeedSequence``
from the root seed, a named stream, the job's labels and the world's *global*
id. How worlds are split into shards (``shard_size``) therefore only splits
the work: world 17 draws the same numbers whether it sits in a shard of 4 or
of 500 (tested in ``tests/test_streams.py`` and end to end in the workflow tests).

Array letters: ``B`` worlds, ``S`` states, ``N`` trajectories per world.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

# Named streams: one per kind of draw, so that adding a draw of one kind never shifts another.
STREAMS = {
    "grid": 1,
    "q_learning": 2,
    "noisy": 3,
    "mc_critic": 4,
    "fig3": 5,
    "fig4": 6,
    "fig5": 7,
    "fig6": 8,
    "distill": 9,
    "tuning": 10,
    "atlas": 11,
    "llm": 12,
}


def _label_words(labels) -> list[int]:
    return [zlib.crc32(str(x).encode()) for x in labels]


def seed_sequence(seed: int, stream: str, *labels) -> np.random.SeedSequence:
    """SeedSequence of one job: root seed, a named stream and the job's labels (text)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {sorted(STREAMS)}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.SeedSequence([int(seed), STREAMS[stream], *_label_words(labels)])


def job_seed(seed: int, stream: str, *labels) -> int:
    """One integer seed for a job (e.g. the ``seed`` of ``training.distill``), from :func:`seed_sequence`."""
    return int(seed_sequence(seed, stream, *labels).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def world_generators(seed: int, world_ids: Sequence[int] | np.ndarray, stream: str = "distill",
                     *labels, slots: int = 1) -> list[np.random.Generator]:
    """Generators of the worlds ``world_ids`` (global ids), ``slots`` per world.

    Generator ``b * slots + n`` is the stream of slot n (e.g. trajectory n) of
    world ``world_ids[b]``; it depends on nothing but (seed, stream, labels,
    world id, n).
    Returns list of len(world_ids) * slots Generators.
    """
    ids = np.asarray(world_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any():
        raise ValueError(f"world_ids must be a 1-D array of non-negative integers, got {ids!r}")
    if int(slots) != slots or slots < 1:
        raise ValueError(f"slots must be a positive integer, got {slots}")
    words = list(seed_sequence(seed, stream, *labels).entropy)
    return [np.random.default_rng(np.random.SeedSequence([*words, int(w), n]))
            for w in ids.tolist() for n in range(int(slots))]


def split_generator(rng: np.random.Generator | Sequence[np.random.Generator], n: int) -> list[np.random.Generator]:
    """``n`` per-world Generators from one Generator (``rng.spawn(n)``), or the given list checked for length.

    Library functions take either one Generator (a user's batch) or one per
    world (the workflow's shard-independent streams).
    """
    if isinstance(rng, np.random.Generator):
        return rng.spawn(n)
    gens = list(rng)
    if len(gens) != n or not all(isinstance(g, np.random.Generator) for g in gens):
        raise ValueError(f"rng must be a numpy.random.Generator or a sequence of {n} Generators (one per world)")
    return gens


def uniforms(gens: Sequence[np.random.Generator], shape: tuple[int, ...] | int) -> np.ndarray:
    """float[len(gens), *shape]: each world's block from its own Generator."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    out = np.empty((len(gens), *shape))
    for b, g in enumerate(gens):
        g.random(shape, out=out[b])
    return out


def uniforms_by_world(gens: Sequence[np.random.Generator], world: np.ndarray) -> np.ndarray:
    """One uniform per item, item i drawn from ``gens[world[i]]``; ``world`` must be sorted
    (items of one world contiguous, in the order that world consumes them) -> float[len(world)]."""
    world = np.asarray(world)
    out = np.empty(world.size)
    if world.size == 0:
        return out
    if (np.diff(world) < 0).any():
        raise ValueError("items must be grouped by world in ascending order")
    starts = np.flatnonzero(np.r_[True, world[1:] != world[:-1]])
    ends = np.r_[starts[1:], world.size]
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        gens[int(world[lo])].random(hi - lo, out=out[lo:hi])
    return out
