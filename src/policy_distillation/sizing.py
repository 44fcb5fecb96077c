"""Cluster resources of the workflow's jobs: memory and wall time, computed from a job's size.

The rules call these functions (``workflow/rules/common.smk``), so a profile with more worlds,
states, actions or steps asks Slurm for more without any edit. Every job runs one thread (the
launcher pins BLAS, OpenMP and numba to one thread; jobs run in parallel instead). A retried job
(``attempt`` 2, 3, ...) asks for ``attempt`` times the memory and wall time.

Memory (MiB), for ``B`` worlds of ``S`` states and ``A`` actions::

    HEADROOM * (BASE_MB + WORLD_STATE_KB * B * S / 1024 + DISTILL_ARRAYS * B * S * A * 8 / 2**20)

``BASE_MB`` is a job process with numpy, scipy and numba loaded; the ``B * S`` term holds the
worlds in outcome form, the exact evaluation's factorisations and the rollouts; a distillation
job also holds about ``DISTILL_ARRAYS`` float64 arrays of shape [B, S, A] (student logits,
teacher and student policies, the update, per-action values).

Wall time (minutes)::

    MIN_RUNTIME + TIME_MARGIN * seconds / 60,
    seconds = steps * B * (S_PER_WORLD_STEP + S_PER_WORLD_STEP_ACTION * A) * S / 400
              + evaluations * B * S * S_PER_EVALUATED_STATE

with an exact evaluation at every checkpoint (``steps / eval_every``) and, for the value-gated
methods, every ``student_critic_every`` steps. The per-step cost is taken to grow with S (an
episode visits more states in a larger grid); it was measured at S = 400.

Every constant is a rounded-up measurement on this repository's 2-core machine (README, "Cluster
resources"): the quick profile's benchmark files, one paper-size job of each kind with its steps
cut to 10 (the memory does not depend on the steps), and the paper profile's job times.
"""

from __future__ import annotations

import math

from .environments import GridConfig

MIB = 2**20
HEADROOM = 1.25  # measured peaks are 1.17-1.75x below the formula (README table)
BASE_MB = 300  # measured 145-230 MiB for jobs whose arrays are small
WORLD_STATE_KB = 2.0  # measured 1.4-1.9 KiB per world-state (500 worlds x 400 states: 537-590 MiB)
DISTILL_ARRAYS = 5  # measured 4.2 (|A| = 1024) and 4.6 (|A| = 4096) [B, S, A] float64 arrays, 100 worlds
TIME_MARGIN = 2.0  # this machine's speed drifts by up to 1.6x; cluster cores differ
MIN_RUNTIME = 10  # minutes: start-up, imports, numba compilation, chains whose students pace (up to ~4 min)
S_PER_WORLD_STEP = 5e-5  # Figure 3, |A| = 4: 11.4 min for 500 worlds x 30k steps (longest job)
S_PER_WORLD_STEP_ACTION = 6.3e-7  # Figure 4, |A| = 4096: 21.4 min for 100 worlds x 5k steps (longest job)
S_PER_EVALUATED_STATE = 1.8e-5  # Figure 5 (exact student critic every 100 steps): 4.9 min for 500 worlds
Q_S_PER_WORLD_STEP = 1.0e-6  # Q-learning teacher: 82 s for 1000 worlds x 100k steps (make bench)
MC_S_PER_WORLD_TRAJECTORY = 3.0e-3  # noisy teacher's Monte Carlo critic: 127 CPU s for 500 worlds x 100
# localrules (grid worlds, the Figure 2 counterexample, aggregation, plots, claims, Table 1) take
# seconds on the submitting machine: measured at most 272 MiB (plots) and 1.2-5.5 s of CPU each
LOCAL_MEM_MB = 1000
LOCAL_RUNTIME = 10


def grid_states(grid: dict) -> int:
    """S of a profile's grid worlds (``grid`` overrides the calibrated ``GridConfig`` defaults)."""
    cfg = GridConfig(**grid)
    return cfg.rows * cfg.cols


def distill_size(job, grid: dict) -> tuple[int, int, int]:
    """(B, S, A) of a distillation job (``jobs.DistillJob``): its worlds, their states, its actions."""
    if job.world == "chain":
        return job.replicas, 2 * job.chain_T + 1, 2
    return len(job.world_ids()), grid_states(grid), job.n_actions


def memory_mb(n_worlds: int, n_states: int, arrays_of_actions: int = 0, attempt: int = 1) -> int:
    """MiB for ``n_worlds`` worlds of ``n_states`` states holding ``arrays_of_actions`` actions' worth of
    float64 [B, S] arrays (``DISTILL_ARRAYS * A`` for a distillation job)."""
    world_states = n_worlds * n_states
    mb = BASE_MB + WORLD_STATE_KB * world_states / 1024 + arrays_of_actions * world_states * 8 / MIB
    return math.ceil(HEADROOM * mb) * attempt


def distill_mem_mb(job, grid: dict, attempt: int = 1) -> int:
    B, S, A = distill_size(job, grid)
    return memory_mb(B, S, DISTILL_ARRAYS * A, attempt)


def distill_runtime(job, grid: dict, attempt: int = 1) -> int:
    """Minutes."""
    B, S, A = distill_size(job, grid)
    evaluations = job.steps / job.eval_every + (job.steps / job.student_critic_every if job.student_critic_every
                                                else 0)
    seconds = (job.steps * B * (S_PER_WORLD_STEP + S_PER_WORLD_STEP_ACTION * A) * S / 400
               + evaluations * B * S * S_PER_EVALUATED_STATE)
    return minutes(seconds, attempt)


def teacher_mem_mb(n_worlds: int, grid: dict, attempt: int = 1) -> int:
    """Q-learning and noisy teachers of one shard (their [B, S, 4] tables are part of the B * S term)."""
    return memory_mb(n_worlds, grid_states(grid), 0, attempt)


def q_teacher_runtime(n_worlds: int, steps: int, attempt: int = 1) -> int:
    return minutes(n_worlds * steps * Q_S_PER_WORLD_STEP, attempt)


def noisy_teacher_runtime(n_worlds: int, mc_trajectories: int, attempt: int = 1) -> int:
    return minutes(n_worlds * mc_trajectories * MC_S_PER_WORLD_TRAJECTORY, attempt)


def minutes(seconds: float, attempt: int = 1) -> int:
    """Wall-time limit in minutes for a job measured (or modelled) at ``seconds``."""
    return math.ceil(MIN_RUNTIME + TIME_MARGIN * seconds / 60) * attempt
