"""The data every figure starts from: grid worlds, Q-learning teachers and noisy
teachers of a shard, built from per-world random streams.

A shard is a contiguous range of global world ids ``shard * shard_size ...``.
Every draw of world ``w`` comes from ``streams.world_generators(seed, [w], stream)``,
so ``shard_size`` only splits the work: the same config gives the same worlds
and teachers for any shard size (tested). The Snakemake scripts call these and
only read and write files.

Array letters: ``B`` worlds in the shard, ``S`` states, ``A`` actions.
"""

from __future__ import annotations

import logging
from dataclasses import fields

import numpy as np

from . import environments as envs
from . import evaluation, teachers
from .mdp import TabularMDPs
from .streams import world_generators

log = logging.getLogger(__name__)


def shard_ids(shard: int, shard_size: int, n_mdps: int) -> np.ndarray:
    """Global ids of the worlds of ``shard`` (the last shard may be short) -> int[B]."""
    if shard_size < 1 or n_mdps < 1 or shard < 0:
        raise ValueError(f"need shard >= 0, shard_size >= 1 and n_mdps >= 1, got {shard}, {shard_size}, {n_mdps}")
    lo = shard * shard_size
    hi = min(lo + shard_size, n_mdps)
    if hi <= lo:
        raise ValueError(f"shard {shard} is empty for n_mdps={n_mdps}, shard_size={shard_size}")
    return np.arange(lo, hi)


def grid_config(overrides: dict) -> envs.GridConfig:
    """GridConfig with the calibrated defaults, overridden by config keys."""
    known = {f.name for f in fields(envs.GridConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown grid setting(s) {unknown}; known: {sorted(known)}")
    cfg = envs.GridConfig(**overrides)
    cfg.validate()
    return cfg


def grid_worlds(grid: dict, seed: int, ids: np.ndarray) -> TabularMDPs:
    """The grid worlds with global ids ``ids`` (SPEC 2.1), each from its own stream."""
    cfg = grid_config(grid)
    return envs.random_grid_worlds(world_generators(seed, ids, "grid"), len(ids), cfg)


def q_teacher(mdps: TabularMDPs, teacher: dict, seed: int, ids: np.ndarray) -> tuple[np.ndarray, dict]:
    """Q-learning teachers of the worlds ``ids`` (SPEC 3) and their returns relative to optimal."""
    cfg = teachers.QLearningConfig(**teacher)

    def progress(done: int, total: int) -> None:
        log.info("q-learning: %d/%d steps", done, total)

    Q = teachers.q_learning(mdps, world_generators(seed, ids, "q_learning"), cfg, progress=progress)
    v_opt = evaluation.optimal_values(mdps)[0]
    opt = np.einsum("bs,bs->b", mdps.initial, v_opt)
    ret = evaluation.expected_return(mdps, teachers.epsilon_greedy(Q, cfg.epsilon))
    return Q, {"optimal_return": opt, "teacher_return": ret}


def noisy_teacher(mdps: TabularMDPs, Q: np.ndarray, noise: float, critic: str, mc_trajectories: int,
                  seed: int, ids: np.ndarray, flip_action: str = "random", flip_states: str = "uniform") -> dict:
    """Figure 5 teacher: greedy Q-learning policy with ``noise`` of its visited states flipped
    (``teachers.flip_teacher``'s rules), and its critic."""
    pi, flipped = teachers.flip_teacher(mdps, teachers.greedy(Q), noise, world_generators(seed, ids, "noisy"),
                                        action=flip_action, states=flip_states)
    value = teachers.teacher_critic(mdps, pi, critic, world_generators(seed, ids, "mc_critic"), mc_trajectories)
    exact = evaluation.state_values(mdps, pi)
    return {
        "pi": pi,
        "value": value,
        "flipped": flipped,
        "noisy_teacher_return": np.einsum("bs,bs->b", mdps.initial, exact),
        # the paper's reference (~7 points): the teacher before its actions were flipped
        "clean_teacher_return": evaluation.expected_return(mdps, teachers.greedy(Q)),
        "critic_error_at_start": np.einsum("bs,bs->b", mdps.initial, value - exact),
    }


def counterexample_run(method: str, rewards, steps: int, lr: float, start) -> dict:
    """Figure 2: exact-gradient trajectory of (p, q) on the counterexample from ``start = (p0, q0)``."""
    from . import counterexample

    p0, q0 = (float(v) for v in start)
    if not (0 < p0 < 1 and 0 < q0 < 1):
        raise ValueError(f"figure2.start must hold probabilities in (0, 1), got {start}")
    x0, y0 = np.log(p0 / (1 - p0)), np.log(q0 / (1 - q0))
    p, q = counterexample.simulate(method, rewards, x0, y0, lr, steps, field="exact")
    return {"method": np.array(method), "step": np.arange(steps + 1), "p": p, "q": q}
