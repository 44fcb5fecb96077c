"""Distillation runs: optimise tabular softmax students on a batch of MDPs and
record learning curves with exact evaluation.

The student starts from zero logits, i.e. the uniform policy, in every MDP
(the same start for every method, so curves differ only by the update).
Each optimisation step applies the optimiser (``optim``) to G from the
exact expected update (``exact.expected_update``) or from the sampled
estimator (``sampling.SampledEstimator``, N trajectories per MDP per step).

At every checkpoint (``checkpoint_steps``: step 0, the early steps 1, 2, 3, 4, 5,
7, 10, 15, ..., every ``eval_every`` steps, the last step) the student is
evaluated exactly (``checkpoints.Evaluator``): its expected return J(pi_theta)
and ``E_z[sum_t KL(pi(s_t) || pi_theta(s_t))]`` for z in {teacher, student,
uniform} (Figure 3). The teacher's own return is recorded once.

Sharding: nothing builds an ``[B, S, A, S]`` array, and MDPs never interact,
so large-|A| runs can be split over MDPs by the caller with
:func:`subset_teacher` / ``TabularMDPs.subset`` and joined back with
:func:`DistillResult.concat`. Every draw of world b comes from streams of
(seed, ``world_ids[b]``) alone, so a sharded run gives each world the curve it
gets in an unsharded one (tested).

Determinism: a run is a pure function of its arguments; the same seed gives
bit-identical results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .critics import Critic, make_critic
from .optim import Optimiser, make_optimiser
from .return_critics import make_return_critic
from .checkpoints import Evaluator
from .exact import expected_update, pseudo_action_values
from .mdp import TabularMDPs
from .methods import DistillContext, Method, Teacher, get_method
from .policies import safe_log
from .sampling import SampledEstimator, TrajectoryStreams
from .streams import world_generators

logger = logging.getLogger(__name__)

ESTIMATORS = ("exact", "sampled")
METRICS = ("return", "kl_teacher", "kl_student", "kl_uniform")
DEFAULT_N_TRAJECTORIES = 1
PROGRESS_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class DistillResult:
    """Learning curves of one run (C checkpoints, B MDPs).

    Attributes:
      steps: int[C] optimisation steps of the checkpoints (0 = before any update).
      returns: float[C, B] student expected return J(pi_theta).
      kl_teacher, kl_student, kl_uniform: float[C, B]
        E_z[sum_t KL(pi(s_t) || pi_theta(s_t))] under trajectories of z.
      teacher_return: float[B] J(pi).
      info: run settings (method, estimator, lr, seed, n_trajectories, ...).
    """

    steps: np.ndarray
    returns: np.ndarray
    kl_teacher: np.ndarray
    kl_student: np.ndarray
    kl_uniform: np.ndarray
    teacher_return: np.ndarray
    info: dict = field(default_factory=dict)

    def metric(self, name: str) -> np.ndarray:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; expected one of {METRICS}")
        return self.returns if name == "return" else getattr(self, name)

    def to_frame(self, **labels):
        """Tidy long table: columns step, mdp, metric, value (+ constant ``labels``).

        Metrics: ``return``, ``kl_teacher``, ``kl_student``, ``kl_uniform`` per
        checkpoint, and ``teacher_return`` repeated at every checkpoint.
        """
        import pandas as pd

        C, B = self.returns.shape
        parts = []
        for name in METRICS + ("teacher_return",):
            values = np.broadcast_to(self.teacher_return, (C, B)) if name == "teacher_return" else self.metric(name)
            parts.append(pd.DataFrame({
                "step": np.repeat(self.steps, B),
                "mdp": np.tile(np.arange(B), C),
                "metric": name,
                "value": np.asarray(values, dtype=np.float64).reshape(-1),
            }))
        frame = pd.concat(parts, ignore_index=True)
        for key, value in labels.items():
            frame[key] = value
        return frame

    @staticmethod
    def concat(results: list["DistillResult"]) -> "DistillResult":
        """Join shards run on disjoint MDP subsets (same checkpoints) along B."""
        if not results:
            raise ValueError("nothing to concatenate")
        steps = results[0].steps
        if any(not np.array_equal(r.steps, steps) for r in results):
            raise ValueError("shards must share their checkpoint steps")
        cat = lambda name: np.concatenate([getattr(r, name) for r in results], axis=-1)  # noqa: E731
        return DistillResult(steps=steps, returns=cat("returns"), kl_teacher=cat("kl_teacher"),
                             kl_student=cat("kl_student"), kl_uniform=cat("kl_uniform"),
                             teacher_return=cat("teacher_return"), info=dict(results[0].info))


def checkpoint_steps(steps: int, eval_every: int) -> list[int]:
    """Evaluation steps: 0, every ``eval_every``, the last step, and the sequence
    1, 1.5, 2, 3, 4, 5, 7 x 10^e (1, 2, 3, 4, 5, 7, 10, 15, 20, ...; neighbours at most
    1.5x apart), so the first steps, where distillation moves fastest, are resolved
    even when ``eval_every`` is large, and steps to a target are read to within 1.5x."""
    early = {int(m * 10**e) for e in range(len(str(max(steps, 1)))) for m in (1, 1.5, 2, 3, 4, 5, 7)}
    early = {k for k in early if 0 < k < steps}
    return sorted(set(range(0, steps + 1, eval_every)) | {steps} | early)


def pseudo_value(method: Method, mdps: TabularMDPs, teacher: Teacher, logits: np.ndarray,
                 student_value: np.ndarray | None = None, block: int = 16,
                 teacher_log: np.ndarray | None = None) -> np.ndarray:
    """Vhat(s) = sum_a pi_theta(a|s) Qhat(s, a), the exact value of the method's
    score weight under the student (``exact.pseudo_action_values``) -> float[B, S].

    Computed in blocks of ``block`` MDPs so that |A| = 4096 never holds more than
    a few [block, S, A] arrays. ``teacher_log``: optional ``policies.safe_log(teacher.pi)``
    float[B, S, A], computed once by a caller that calls this repeatedly (same result).
    """
    out = np.empty((mdps.B, mdps.S))
    for lo in range(0, mdps.B, block):
        sl = slice(lo, min(lo + block, mdps.B))
        sub = mdps.subset(sl)
        ctx = DistillContext(sub, teacher.pi[sl], logits[sl],
                             None if teacher.value is None else teacher.value[sl],
                             None if student_value is None else student_value[sl],
                             None if teacher_log is None else teacher_log[sl])
        Q = pseudo_action_values(method, ctx)
        out[sl] = np.einsum("bsa,bsa->bs", ctx.student_pi, Q)
    return out


def subset_teacher(teacher: Teacher, index) -> Teacher:
    """The teacher restricted to the MDPs ``index`` (for sharding along B)."""
    return Teacher(pi=teacher.pi[index], value=None if teacher.value is None else teacher.value[index],
                   name=teacher.name)


def _progress_reporter(progress, steps: int) -> Callable[[int, bool], None]:
    """Periodic progress: a callback receiving a dict, or a logging.Logger (default: module logger)."""
    start = time.monotonic()
    last = [start]

    def report(done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - last[0] < PROGRESS_EVERY_SECONDS:
            return
        last[0] = now
        elapsed = now - start
        rate = done / elapsed if elapsed > 0 else float("inf")
        eta = (steps - done) / rate if rate > 0 else float("inf")
        info = {"steps_done": done, "steps": steps, "elapsed_s": elapsed, "steps_per_s": rate, "eta_s": eta}
        if callable(progress) and not isinstance(progress, logging.Logger):
            progress(info)
        else:
            log = progress if isinstance(progress, logging.Logger) else logger
            log.info("distill: %d/%d steps, %.1f steps/s, elapsed %.0f s, ETA %.0f s",
                     done, steps, rate, elapsed, eta)

    return report


def distill(
    mdps: TabularMDPs,
    teacher: Teacher,
    method: Method | str,
    estimator: str = "exact",
    steps: int = 1000,
    lr: float = 1.0,
    seed: int = 0,
    eval_every: int = 100,
    n_trajectories: int = DEFAULT_N_TRAJECTORIES,
    critic: str | dict | Critic | None = None,
    progress: Callable[[dict], None] | logging.Logger | None = None,
    world_ids: np.ndarray | None = None,
    sampler: str = "episode",
    unroll_length: int | None = None,
    optimiser: str | dict | Optimiser = "sgd",
    return_critic: str | dict | None = None,
    return_lambda: float = 1.0,
) -> DistillResult:
    """Distil ``teacher`` into zero-initialised (uniform) tabular softmax students.

    Args:
      mdps: B MDPs (gamma = 1).
      teacher: ``methods.Teacher``; ``value`` is required by Section 4 methods.
      method: a ``methods.Method`` or its registry name.
      estimator: ``'exact'`` (expected update) or ``'sampled'`` (Eq. (1) from
        ``n_trajectories`` trajectories per MDP per step).
      steps: number of optimisation steps.
      lr: the optimiser's learning rate.
      seed: seed of the run's random streams (sampled estimator only): one
        Generator per trajectory slot of each world (``streams.world_generators``).
      eval_every: checkpoint spacing (step 0, the last step and a 1-2-5 sequence of
        early steps are always included; :func:`checkpoint_steps`).
      n_trajectories: N for the sampled estimator (default 1).
      critic: student critic V_theta for methods that need one (value-gated):
        ``critics.make_critic`` spec; default exact every K = 100 steps. A TD
        critic needs the sampled estimator.
      world_ids: int[B] global ids of the worlds (default 0..B-1): world b's draws
        come from a stream of (seed, world_ids[b]) alone, so a world's curve does
        not depend on which other worlds share its batch (shards).
      sampler: sampled estimator only: ``'episode'`` or ``'unroll'`` with
        ``unroll_length`` steps (``sampling.estimator.SampledEstimator``).
      optimiser: ``'sgd'``, ``'adam'``, ``'rmsprop'`` or a dict with ``kind`` and
        settings (``optim.make_optimiser``).
      return_critic: critic of the pseudo-return for methods whose score weight is
        a return (``return_critics.make_return_critic``: None / ``'none'``,
        ``{'kind': 'exact', 'every': K}``, ``{'kind': 'td', 'step_size': a, 'lambda': l}``):
        a state baseline under either sampler (in place of a method's own ``baseline``), and the
        bootstrap value of the ``unroll`` sampler's cut returns. A baseline leaves the expected update
        unchanged (tested); without a critic unroll returns are truncated.
      return_lambda: with a critic, the score weight is the lambda-return on it: 1 (default)
        sums the pseudo-rewards to the episode's or unroll's end, 0 is the one-step
        target rhat_t + Vhat(s_{t+1}) (Section 4's "usual actor-critic" update).
      progress: callback receiving a dict (steps_done, steps, elapsed_s,
        steps_per_s, eta_s) about every 30 s and at the end, or a Logger.
    Returns:
      :class:`DistillResult`.
    """
    method = get_method(method) if isinstance(method, str) else method
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps}")
    if int(eval_every) != eval_every or eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every}")
    if not 0.0 <= return_lambda <= 1.0:
        raise ValueError(f"return_lambda must lie in [0, 1], got {return_lambda}")
    opt = make_optimiser(optimiser, lr)
    if "teacher_value" in method.needs and teacher.value is None:
        raise ValueError(f"method {method.name} needs a teacher critic: Teacher.value is None")
    teacher_pi = mdps.check_policy(teacher.pi, "teacher pi")
    teacher_log = safe_log(teacher_pi)  # one copy per run: the evaluator, the estimator and the exact update
    crit = make_critic(critic) if "student_value" in method.needs else None
    if crit is not None:
        if crit.needs_transitions and estimator != "sampled":
            raise ValueError("a TD critic learns from sampled trajectories: use estimator='sampled'")
        crit.reset(mdps)
    uses_return = estimator == "sampled" and method.has_score_term and method.bootstrap is None
    ret = make_return_critic(return_critic if uses_return else None)
    ret.reset(mdps.B, mdps.S)

    logits = np.zeros((mdps.B, mdps.S, mdps.A))
    ids = np.arange(mdps.B) if world_ids is None else np.asarray(world_ids)
    if ids.shape != (mdps.B,):
        raise ValueError(f"world_ids must be int[B] with B={mdps.B}, got shape {ids.shape}")
    est = rng = None
    if estimator == "sampled":
        est = SampledEstimator(mdps, teacher, method, n_trajectories,
                               record_rewards=crit is not None and crit.needs_transitions, sampler=sampler,
                               unroll_length=unroll_length, teacher_log=teacher_log)
        rng = TrajectoryStreams(world_generators(seed, ids, "distill", slots=n_trajectories), sampler=sampler)
    evaluate = Evaluator(mdps, teacher_pi, teacher_log)
    checkpoints = checkpoint_steps(steps, eval_every)
    curves = {m: [] for m in METRICS}
    report = _progress_reporter(progress, steps)

    def record() -> None:
        for name, value in zip(METRICS, evaluate(logits)):
            curves[name].append(value)

    record()
    td_lambda = getattr(ret, "lam", None) if ret.needs_transitions else None
    for step in range(steps):
        v_student = crit.value(step, logits) if crit is not None else None
        if est is None:
            ctx = DistillContext(mdps, teacher_pi, logits, teacher.value, v_student, evaluate.teacher_log)
            opt.begin_step()
            opt.apply_dense(logits, expected_update(method, ctx))
        else:
            V = ret.values(step, lambda: pseudo_value(method, mdps, teacher, logits, v_student,
                                                      teacher_log=evaluate.teacher_log))
            trans = est.step(logits, opt, rng, student_value=v_student, baseline=V, critic_values=V,
                             td_lambda=td_lambda, return_lambda=return_lambda)
            if crit is not None:
                crit.observe(trans)
            if td_lambda is not None:
                ret.observe(trans.flat_state, trans.return_target)
        if step + 1 in checkpoints:
            record()
        report(step + 1)
    report(steps, final=True)
    return DistillResult(
        steps=np.array(checkpoints),
        returns=np.array(curves["return"]),
        kl_teacher=np.array(curves["kl_teacher"]),
        kl_student=np.array(curves["kl_student"]),
        kl_uniform=np.array(curves["kl_uniform"]),
        teacher_return=evaluate.teacher_return,
        info={"method": method.name, "estimator": estimator, "lr": float(lr), "seed": int(seed),
              "steps": int(steps), "n_trajectories": int(n_trajectories),
              "critic": repr(crit) if crit is not None else None, "teacher": teacher.name,
              "sampler": sampler, "unroll_length": unroll_length, "optimiser": repr(opt),
              "return_critic": repr(ret), "return_lambda": return_lambda},
    )
