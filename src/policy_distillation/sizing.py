"""Cluster resources of the workflow's jobs: memory and wall time, computed from a job's size.

The rules call these functions (``workflow/rules/common.smk``), so a profile with more worlds,
states, actions or steps asks Slurm for more without any edit. Every job runs one thread (the
launcher pins BLAS, OpenMP and numba to one thread; jobs run in parallel instead). A retried job
(``attempt`` 2, 3, ...) asks for ``attempt`` times the memory and wall time of the first attempt.

Memory (MiB), for ``B`` worlds of ``S`` states and ``A`` actions::

    HEADROOM * (BASE_MB + WORLD_STATE_KB * B * S / 1024 + DISTILL_ARRAYS * B * S * A * 8 / 2**20)

``BASE_MB`` is a job process with numpy, scipy and numba loaded; the ``B * S`` term holds the
worlds in outcome form, the exact evaluation's factorisations and the rollouts; a distillation
job also holds about ``DISTILL_ARRAYS`` float64 arrays of shape [B, S, A] (student logits,
teacher and student policies, the update, per-action values).

Wall time (minutes)::

    MIN_RUNTIME + TIME_MARGIN * seconds / 60,
    seconds = steps * B * (per_step + per_step_action * A) * S / 400
              + evaluations * B * S * S_PER_EVALUATED_STATE

with the sampled estimator's per-step costs (``S_PER_WORLD_STEP*``) or the exact expected
update's (``EXACT_S_PER_WORLD_STEP*``), and an exact evaluation at every checkpoint
(``steps / eval_every``), every ``student_critic_every`` steps (value-gated methods) and every
``every`` steps of an exact return critic. The per-step cost is taken to grow with S (an episode
visits more states in a larger grid); it was measured at S = 400.

Every constant is a rounded-up measurement on this repository's 2-core machine, named beside it:
the quick profile's benchmark files, one paper-size job of each kind with its steps cut to 10
(the memory does not depend on the steps), the longest jobs of the paper profile, and CPU time per
step of ``training.distill`` at S = 400 after a warm-up (sampled: 50 worlds, 200 steps, the
paper's unroll_sgd and episode_sgd regimes; exact: 5 worlds at |A| = 4, 64, 256). The sampled
per-step constants were set before the unroll sampler and the one-pass checkpoint evaluator
existed; re-measured on both (unroll |A| = 4: 2.7e-5 s, |A| = 256: 1.7e-4 s; episode |A| = 4:
2.1e-5 s per world-step) they stay upper bounds, so they were kept.
"""

from __future__ import annotations

import math

from .environments import GridConfig
from .estimator_study import STUDY_GRID

MIB = 2**20
HEADROOM = 1.25  # measured peaks are 1.17-1.75x below the formula (tests/test_sizing.py lists them)
BASE_MB = 300  # measured 145-230 MiB for jobs whose arrays are small
WORLD_STATE_KB = 2.0  # measured 1.4-1.9 KiB per world-state (500 worlds x 400 states: 537-590 MiB)
DISTILL_ARRAYS = 5  # measured 4.2 (|A| = 1024) and 4.6 (|A| = 4096) [B, S, A] float64 arrays, 100 worlds
TIME_MARGIN = 2.0  # this machine's speed drifts by up to 1.6x; cluster cores differ
MIN_RUNTIME = 10  # minutes: start-up, imports, numba compilation, chains whose students pace (up to ~4 min)
S_PER_WORLD_STEP = 5e-5  # Figure 3, |A| = 4: 11.4 min for 500 worlds x 30k steps (longest job)
S_PER_WORLD_STEP_ACTION = 6.3e-7  # Figure 4, |A| = 4096: 21.4 min for 100 worlds x 5k steps (longest job)
S_PER_EVALUATED_STATE = 1.8e-5  # Figure 5 (exact student critic every 100 steps): 4.9 min for 500 worlds
# exact expected update (the atlas's exact regimes): 5.9e-4, 2.7e-3 and 9.0e-3 s per world-step at
# |A| = 4, 64, 256 (5 worlds); main's note of 1.5 s per step for 10 worlds at |A| = 4096 fits the slope
EXACT_S_PER_WORLD_STEP = 6e-4
EXACT_S_PER_WORLD_STEP_ACTION = 3.7e-5
Q_S_PER_WORLD_STEP = 1.0e-6  # Q-learning teacher: 82 s for 1000 worlds x 100k steps (make bench)
MC_S_PER_WORLD_TRAJECTORY = 3.0e-3  # noisy teacher's Monte Carlo critic: 127 CPU s for 500 worlds x 100
# llm_study (estimator_study): variance draws of each language-model entry at two points, 16 copies of
# the worlds at a time. Paper profile (10 entries, 8 worlds of 25 states, |A| = 4 ... 4096, 128 copies):
# 122 s CPU and 840 MiB peak; quick profile (4 worlds, |A| up to 1024, 32 copies): 3.9 s and 261 MiB
STUDY_S_PER_ELEMENT = 5e-8  # per entry x point x copy x world x state x action: 122 s / 2.66e9 (paper)
STUDY_CHUNK = 16  # estimator_study.sampled_variance's copies per batch
STUDY_ARRAYS = 8  # [B * chunk, S, A] float64 arrays held at once: (840 - 250) MiB / 100 MiB measured, rounded up
STUDY_STATES = STUDY_GRID.rows * STUDY_GRID.cols  # the study's grid worlds (5 x 5)
# localrules take seconds on the submitting machine: grid worlds, the Figure 2 counterexample,
# aggregation, plots, claims, Table 1 measured at most 272 MiB (plots) and 1.2-5.5 s of CPU each
# (quick profile); the llm figure's and the atlas's aggregation, plot and claims rules run the same
# scripts (aggregate.py) or the same kind of work on fewer worlds (atlas cells: at most 50), and
# stage_times reads the benchmark files
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


def distill_evaluations(job) -> float:
    """Exact evaluations of a job: its checkpoints, its student critic's and its exact return critic's."""
    critic = dict(job.critic)
    every = [job.eval_every, job.student_critic_every, critic.get("every") if critic.get("kind") == "exact" else None]
    return sum(job.steps / k for k in every if k)


def distill_runtime(job, grid: dict, attempt: int = 1) -> int:
    """Minutes."""
    B, S, A = distill_size(job, grid)
    if job.estimator == "exact":
        per_step = EXACT_S_PER_WORLD_STEP + EXACT_S_PER_WORLD_STEP_ACTION * A
    else:
        per_step = S_PER_WORLD_STEP + S_PER_WORLD_STEP_ACTION * A
    seconds = job.steps * B * per_step * S / 400 + distill_evaluations(job) * B * S * S_PER_EVALUATED_STATE
    return minutes(seconds, attempt)


def teacher_mem_mb(n_worlds: int, grid: dict, attempt: int = 1) -> int:
    """Q-learning and noisy teachers of one shard (their [B, S, 4] tables are part of the B * S term)."""
    return memory_mb(n_worlds, grid_states(grid), 0, attempt)


def q_teacher_runtime(n_worlds: int, steps: int, attempt: int = 1) -> int:
    return minutes(n_worlds * steps * Q_S_PER_WORLD_STEP, attempt)


def noisy_teacher_runtime(n_worlds: int, mc_trajectories: int, attempt: int = 1) -> int:
    return minutes(n_worlds * mc_trajectories * MC_S_PER_WORLD_TRAJECTORY, attempt)


def llm_study_mem_mb(study: dict, attempt: int = 1) -> int:
    """MiB of the estimator study (``llm_study`` rule; ``study``: its params, the profile's ``llm.study``)."""
    rows = study["n_worlds"] * STUDY_CHUNK * STUDY_STATES * max(study["actions"], default=0)
    dense = study["dense_mdps"] * STUDY_CHUNK * study["dense_states"] * max(study["dense_actions"], default=0)
    return math.ceil(HEADROOM * (BASE_MB + STUDY_ARRAYS * max(rows, dense) * 8 / MIB)) * attempt


def llm_study_runtime(study: dict, attempt: int = 1) -> int:
    """Minutes of the estimator study: every entry at two points draws ``copies`` updates of every world."""
    elements = (study["n_worlds"] * STUDY_STATES * sum(study["actions"])
                + study["dense_mdps"] * study["dense_states"] * sum(study["dense_actions"]))
    seconds = len(study["methods"]) * 2 * study["copies"] * elements * STUDY_S_PER_ELEMENT
    return minutes(seconds, attempt)


def minutes(seconds: float, attempt: int = 1) -> int:
    """Wall-time limit in minutes for a job measured (or modelled) at ``seconds``."""
    return math.ceil(MIN_RUNTIME + TIME_MARGIN * seconds / 60) * attempt
