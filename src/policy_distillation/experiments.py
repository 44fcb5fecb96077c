"""Experiments of the paper as functions of (data, settings, seed) -> arrays.

The Snakemake scripts call these and only read and write files. Every random
draw derives from the root seed and the job's identity through
``numpy.random.SeedSequence``, so the same config gives bit-identical outputs
and a shard's results do not depend on which other jobs ran.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import fields

import numpy as np

from . import environments as envs
from . import evaluation, teachers
from .mdp import TabularMDPs
from .methods import Teacher
from .training import distill

log = logging.getLogger(__name__)

STREAMS = {"grid": 1, "q_learning": 2, "noisy": 3, "mc_critic": 4, "fig3": 5, "fig4": 6, "fig5": 7, "chain": 8}


def job_rng(seed: int, stream: str, *labels) -> np.random.Generator:
    """Generator for one job: root seed, a named stream and the job's labels."""
    words = [int(seed), STREAMS[stream]] + [zlib.crc32(str(x).encode()) for x in labels]
    return np.random.default_rng(np.random.SeedSequence(words))


def job_seed(seed: int, stream: str, *labels) -> int:
    """Integer seed for one job (for functions that take a seed), from the same derivation as :func:`job_rng`."""
    words = [int(seed), STREAMS[stream]] + [zlib.crc32(str(x).encode()) for x in labels]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0])


def grid_config(overrides: dict) -> envs.GridConfig:
    """GridConfig with the calibrated defaults, overridden by config keys."""
    known = {f.name for f in fields(envs.GridConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown grid setting(s) {unknown}; known: {sorted(known)}")
    cfg = envs.GridConfig(**overrides)
    cfg.validate()
    return cfg


def grid_shard(grid: dict, seed: int, shard: int, shard_size: int, n_mdps: int) -> TabularMDPs:
    """Worlds ``shard * shard_size ...`` of the grid family (SPEC 2.1); the last shard may be short."""
    lo = shard * shard_size
    n = min(shard_size, n_mdps - lo)
    if n < 1:
        raise ValueError(f"shard {shard} is empty for n_mdps={n_mdps}, shard_size={shard_size}")
    return envs.random_grid_worlds(job_rng(seed, "grid", shard), n, grid_config(grid))


def q_teacher(mdps: TabularMDPs, teacher: dict, seed: int, shard: int) -> tuple[np.ndarray, dict]:
    """Q-learning teachers for a shard (SPEC 3) and their returns relative to optimal."""
    cfg = teachers.QLearningConfig(**teacher)
    Q = teachers.q_learning(mdps, job_rng(seed, "q_learning", shard), cfg)
    v_opt = evaluation.optimal_values(mdps)[0]
    opt = np.einsum("bs,bs->b", mdps.initial, v_opt)
    ret = evaluation.expected_return(mdps, teachers.epsilon_greedy(Q, cfg.epsilon))
    return Q, {"optimal_return": opt, "teacher_return": ret}


def mdp_ids(shard: int, shard_size: int, B: int) -> np.ndarray:
    return shard * shard_size + np.arange(B)


def _run_dict(result, mdp) -> dict:
    return {
        "steps": result.steps,
        "returns": result.returns,
        "kl_teacher": result.kl_teacher,
        "kl_student": result.kl_student,
        "kl_uniform": result.kl_uniform,
        "teacher_return": result.teacher_return,
        "mdp": mdp,
    }


def figure3_run(mdps: TabularMDPs, Q: np.ndarray, tau: float, method: str, lr: float, steps: int,
                eval_every: int, n_trajectories: int, seed: int, shard: int, shard_size: int,
                baseline_every: int | None = None) -> dict:
    """Figure 3: cross-entropy distillation of softmax(Q / tau) with the method's control policy."""
    pi = teachers.softmax_policy(Q, tau)
    teacher = Teacher(pi=pi, name=f"softmax tau={tau:g}")
    res = distill(mdps, teacher, method, "sampled", steps=steps, lr=lr, eval_every=eval_every,
                  n_trajectories=n_trajectories, baseline_every=baseline_every, progress=log, seed=job_seed(seed, "fig3", tau, method, shard))
    run = _run_dict(res, mdp_ids(shard, shard_size, mdps.B))
    run["teacher_entropy"] = teachers.teacher_determinism(mdps, pi)
    return run


def figure4_run(mdps: TabularMDPs, Q: np.ndarray, n_actions: int, method: str, lr: float, steps: int,
                eval_every: int, n_trajectories: int, seed: int, shard: int, n_mdps: int, shard_size: int,
                epsilon: float, discount: float, baseline_every: int | None = None) -> dict:
    """Figure 4: the first ``n_mdps`` worlds with ``n_actions`` actions (extra ones no-ops).

    Teacher: epsilon-greedy over the extended Q (``teachers.extend_q``): the
    no-op actions get one exact Bellman backup, so the teacher is defined
    over every action.
    """
    lo = shard * shard_size
    n = min(mdps.B, n_mdps - lo)
    if n < 1:
        raise ValueError(f"figure 4 shard {shard} holds no MDP (n_mdps={n_mdps})")
    sub = envs.with_actions(mdps.subset(slice(0, n)), n_actions, envs.grid_eta(mdps))
    Qx = teachers.extend_q(sub, Q[:n], discount=discount)
    pi = teachers.epsilon_greedy(Qx, epsilon)
    del Qx
    teacher = Teacher(pi=pi, name=f"epsilon-greedy |A|={n_actions}")
    res = distill(sub, teacher, method, "sampled", steps=steps, lr=lr, eval_every=eval_every,
                  n_trajectories=n_trajectories, baseline_every=baseline_every, progress=log, seed=job_seed(seed, "fig4", n_actions, method, shard))
    return _run_dict(res, mdp_ids(shard, shard_size, n))


def noisy_teacher(mdps: TabularMDPs, Q: np.ndarray, noise: float, critic: str, mc_trajectories: int,
                  seed: int, shard: int) -> dict:
    """Figure 5 teacher: greedy Q-learning policy with ``noise`` of its visited states flipped, and its critic."""
    rng = job_rng(seed, "noisy", shard)
    pi, flipped = teachers.flip_teacher(mdps, teachers.greedy(Q), noise, rng)
    value = teachers.teacher_critic(mdps, pi, critic, job_rng(seed, "mc_critic", shard), mc_trajectories)
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


def figure5_run(mdps: TabularMDPs, teacher: dict, method: str, lr: float, steps: int, eval_every: int,
                n_trajectories: int, critic_every: int, seed: int, shard: int, shard_size: int,
                baseline_every: int | None = None) -> dict:
    """Figure 5: distil the noisy teacher (with its critic) with ``method``."""
    t = Teacher(pi=teacher["pi"], value=teacher["value"], name="noisy Q-learning")
    res = distill(mdps, t, method, "sampled", steps=steps, lr=lr, eval_every=eval_every,
                  n_trajectories=n_trajectories, baseline_every=baseline_every, progress=log, seed=job_seed(seed, "fig5", method, shard),
                  critic={"kind": "exact", "every": critic_every})
    run = _run_dict(res, mdp_ids(shard, shard_size, mdps.B))
    # Figure 5 compares students with the teacher before the flips (Section 4:
    # "recover the full performance of the teacher"); the noisy one is kept too.
    run["teacher_return"] = teacher["clean_teacher_return"]
    run["noisy_teacher_return"] = teacher["noisy_teacher_return"]
    return run


def chain_run(T: int, teacher: str, method: str, lr: float, steps: int, eval_every: int, replicas: int,
              n_trajectories: int, seed: int, stop_prob: float, baseline_every: int | None = None) -> dict:
    """Figures 6 and 9: the chain with the optimal or adversarial teacher.

    Sampled updates on ``replicas`` independent copies of the chain (one
    student each). Exact expected updates would make teacher V reward equal
    to reward only (the shaping telescopes to a baseline, R_t - V_pi(s_t)), so
    the difference the paper shows is one of estimator variance.
    """
    one = envs.chain(T, stop_prob=stop_prob)
    mdps = TabularMDPs(
        initial=np.repeat(one.initial, replicas, 0), next_state=np.repeat(one.next_state, replicas, 0),
        outcome_prob=one.outcome_prob, outcome_reward=np.repeat(one.outcome_reward, replicas, 0),
        outcome_continue=np.repeat(one.outcome_continue, replicas, 0), gamma=one.gamma,
    )
    optimal, adversarial = teachers.chain_teachers(mdps)
    t = {"optimal": optimal, "adversarial": adversarial}.get(teacher)
    if t is None:
        raise ValueError(f"chain teacher must be 'optimal' or 'adversarial', got {teacher!r}")
    res = distill(mdps, t, method, "sampled", steps=steps, lr=lr, eval_every=eval_every,
                  n_trajectories=n_trajectories, baseline_every=baseline_every, progress=log, seed=job_seed(seed, "chain", T, teacher, method))
    return _run_dict(res, np.arange(replicas))


def counterexample_run(method: str, rewards, steps: int, lr: float, start) -> dict:
    """Figure 2: exact-gradient trajectory of (p, q) on the counterexample from ``start = (p0, q0)``."""
    from . import counterexample

    p0, q0 = (float(v) for v in start)
    if not (0 < p0 < 1 and 0 < q0 < 1):
        raise ValueError(f"figure2.start must hold probabilities in (0, 1), got {start}")
    x0, y0 = np.log(p0 / (1 - p0)), np.log(q0 / (1 - q0))
    p, q = counterexample.simulate(method, rewards, x0, y0, lr, steps, field="exact")
    return {"method": np.array(method), "step": np.arange(steps + 1), "p": p, "q": q}
