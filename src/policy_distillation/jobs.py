"""Experiments as data: every distillation run of the figures is a :class:`DistillJob`.

A job is a frozen record of everything that decides its result (world set,
teacher, method, estimator, learning rate, steps, seed, ...). A figure is a
list of jobs (``job_tables.figure_jobs``, built from the workflow config) plus a
plotting function (``plotting.render``); the workflow has one distill rule
whose params are a job's fields, so changing one setting reruns exactly the
jobs whose fields changed. :func:`run_distill` runs one job.

Seeds: a job's streams derive from the root seed, the figure and the job's
setting labels (not its shard), and each world draws from its own stream
(``streams``), so a world's curve does not depend on how worlds are sharded.
Atlas jobs use their figure's streams (``fig5-<flip>`` those of ``fig5``): every
cell sees the same draws for the same setting (common random numbers).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import asdict, dataclass, fields

import numpy as np

from . import environments as envs
from . import teachers
from .mdp import TabularMDPs
from .methods import REGISTRY, Teacher
from .streams import job_seed
from .training import distill

log = logging.getLogger(__name__)

WORLDS = ("grid", "chain")
TEACHERS = ("softmax", "epsilon_greedy", "noisy", "optimal", "adversarial")
CHAIN_TEACHERS = ("optimal", "adversarial")


@dataclass(frozen=True)
class DistillJob:
    """One distillation run: the student, its teacher, its worlds and its settings.

    Attributes:
      figure: the figure it belongs to (``fig3``, ``fig4``, ``fig5``, ``fig6``).
      method: registry name of the distillation method.
      teacher: ``softmax`` (temperature), ``epsilon_greedy`` (extended to
        ``n_actions``), ``noisy`` (Figure 5's flipped greedy teacher, with its
        critic), or the chain's ``optimal`` / ``adversarial`` teacher.
      world: ``grid`` (one shard of the dataset) or ``chain``.
      lr, steps, eval_every, estimator, n_trajectories: the arguments of ``training.distill``.
      sampler, unroll_length: how an update is sampled (``episode`` or ``unroll``).
      optimiser: ``{"kind": "sgd"}`` or Adam / RMSProp with their settings (``optim.make_optimiser``).
      critic: the critic of the pseudo-return (``return_critics.make_return_critic``),
        ``{"kind": "none"}`` for methods that do not use one.
      return_lambda: the score weight's lambda-return on the critic (1: n-step, 0: one-step).
      student_critic_every: K of the exact student critic V_theta (value-gated methods), or None.
      seed: the workflow's root seed.
      shard, shard_size, n_mdps: grid worlds ``shard * shard_size`` up to
        ``min((shard + 1) * shard_size, n_mdps)``.
      file_shard_size: worlds per file of the world set (0: ``shard_size``); a job's
        worlds lie in one file (Figure 4 splits files into smaller jobs at large |A|).
      n_actions: |A| of the grid worlds (extra actions are no-ops, Figure 4).
      temperature: softmax teacher temperature (Figure 3).
      epsilon: the epsilon-greedy teacher's exploration (Figure 4), spread over all ``n_actions``.
      chain_T, replicas, stop_prob: the chain (Figures 6 and 9).
      method_modules: modules to import first (they register methods not in the package).
      worlds: the grid world set (``atlas.world_sets``): ``main`` for the figures.
      flip: the noisy teacher's flip rule, ``<action>-<states>`` (``noisy`` teacher only).
      atlas_cell: the atlas cell the job belongs to (``atlas.Cell.name``), empty for the figures.
    """

    figure: str
    method: str
    teacher: str
    lr: float
    steps: int
    eval_every: int
    seed: int
    world: str = "grid"
    estimator: str = "sampled"
    n_trajectories: int = 1
    sampler: str = "episode"
    unroll_length: int | None = None
    optimiser: tuple = (("kind", "sgd"),)
    critic: tuple = (("kind", "none"),)
    return_lambda: float = 1.0
    student_critic_every: int | None = None
    shard: int = 0
    shard_size: int = 0
    n_mdps: int = 0
    file_shard_size: int = 0
    n_actions: int = 4
    temperature: float = 0.0
    epsilon: float = 0.1
    chain_T: int = 0
    replicas: int = 0
    stop_prob: float = 0.0
    method_modules: tuple[str, ...] = ()
    worlds: str = "main"
    flip: str = ""
    atlas_cell: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method_modules", tuple(self.method_modules))
        for name in ("optimiser", "critic"):  # settings as sorted (key, value) pairs: hashable, stable text
            value = getattr(self, name)
            items = value.items() if isinstance(value, dict) else value
            object.__setattr__(self, name, tuple(sorted((str(k), v) for k, v in items)))
        for name in self.method_modules:  # they register the methods they define
            importlib.import_module(name)
        if self.method not in REGISTRY:
            raise ValueError(f"job {self.key}: unknown method {self.method!r}; known: {sorted(REGISTRY)}")
        if self.world not in WORLDS:
            raise ValueError(f"job {self.key}: world must be one of {WORLDS}, got {self.world!r}")
        if self.teacher not in TEACHERS:
            raise ValueError(f"job {self.key}: teacher must be one of {TEACHERS}, got {self.teacher!r}")
        if (self.world == "chain") != (self.teacher in CHAIN_TEACHERS):
            raise ValueError(f"job {self.key}: the chain's teachers are {CHAIN_TEACHERS}, and only the chain's")
        if self.world == "grid" and self.file_shard_size and self.file_shard_size % self.shard_size:
            raise ValueError(f"job {self.key}: shard_size {self.shard_size} must divide the world files' "
                             f"{self.file_shard_size}")
        if (self.teacher == "noisy") != bool(self.flip):
            raise ValueError(f"job {self.key}: a flip rule is given exactly for the noisy teacher")

    @property
    def setting(self) -> dict:
        """The labels that tell this job's curve apart in its figure (also the seed's labels), by the
        kind of teacher: the softmax teacher's temperature (Figure 3), the epsilon-greedy teacher's |A|
        (Figure 4 and any figure over |A|), the chain's T and teacher (Figures 6 and 9)."""
        if self.teacher == "softmax":
            return {"tau": f"{self.temperature:g}", "method": self.method}
        if self.teacher == "epsilon_greedy":
            return {"actions": self.n_actions, "method": self.method}
        if self.world == "chain":
            return {"T": self.chain_T, "teacher": self.teacher, "method": self.method}
        return {"method": self.method}

    @property
    def labels(self) -> dict:
        return {"figure": self.figure, **self.setting}

    @property
    def key(self) -> str:
        """Path of the job's result under ``data/runs`` (without ``.npz``)."""
        s = self.setting
        parts = ([f"tau{s['tau']}"] if "tau" in s else [f"A{s['actions']}"] if "actions" in s
                 else [f"T{s['T']}", str(s["teacher"])] if "T" in s else [])
        tail = [f"{self.shard:03d}"] if self.world == "grid" else []
        head = ["atlas", self.atlas_cell] if self.atlas_cell else []
        return "/".join([*head, self.figure, *parts, self.method, *tail])

    def world_ids(self) -> np.ndarray:
        """Global ids of the job's worlds (grid: its shard, cut at ``n_mdps``; chain: the replicas)."""
        if self.world == "chain":
            return np.arange(self.replicas)
        lo = self.shard * self.shard_size
        hi = min(lo + self.shard_size, self.n_mdps)
        if hi <= lo:
            raise ValueError(f"job {self.key}: shard {self.shard} holds no world (n_mdps={self.n_mdps})")
        return np.arange(lo, hi)

    @property
    def file_shard(self) -> int:
        """The world file holding the job's worlds."""
        return self.shard * self.shard_size // (self.file_shard_size or self.shard_size)

    @property
    def file_offset(self) -> int:
        """Index of the job's first world in its file."""
        return self.shard * self.shard_size % (self.file_shard_size or self.shard_size)

    def params(self) -> dict:
        """The fields, sorted (Snakemake compares params by their text)."""
        out = {}
        for k, v in sorted(asdict(self).items()):
            out[k] = dict(v) if k in ("optimiser", "critic") else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_params(cls, params) -> "DistillJob":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(params).items() if k in names})


def distill_kwargs(fields: dict) -> dict:
    """``training.distill`` keyword arguments from job fields (``regime_fields`` plus lr, steps, eval_every)."""
    return {"estimator": fields["estimator"], "lr": fields["lr"], "steps": fields["steps"],
            "eval_every": fields["eval_every"], "sampler": fields["sampler"],
            "unroll_length": fields["unroll_length"], "optimiser": dict(fields["optimiser"]),
            "return_critic": dict(fields["critic"]), "return_lambda": fields["return_lambda"]}


def _chain(job: DistillJob) -> tuple[TabularMDPs, Teacher]:
    one = envs.chain(job.chain_T, stop_prob=job.stop_prob)
    n = job.replicas
    mdps = TabularMDPs(
        initial=np.repeat(one.initial, n, 0), next_state=np.repeat(one.next_state, n, 0),
        outcome_prob=one.outcome_prob, outcome_reward=np.repeat(one.outcome_reward, n, 0),
        outcome_continue=np.repeat(one.outcome_continue, n, 0), gamma=one.gamma,
    )
    optimal, adversarial = teachers.chain_teachers(mdps)
    return mdps, optimal if job.teacher == "optimal" else adversarial


def job_teacher(job: DistillJob, mdps: TabularMDPs, q: np.ndarray | None = None,
                noisy: dict | None = None) -> tuple[TabularMDPs, Teacher]:
    """The job's worlds (at its |A|) and teacher, from its shard's worlds and teacher data.

    Args:
      mdps: the shard's grid worlds (the job uses its first ``len(job.world_ids())``).
      q: float[B, S, 4] the shard's Q-learning table (softmax and epsilon-greedy teachers).
      noisy: the shard's noisy-teacher record (``experiments.noisy_teacher``), for ``noisy``.
    """
    rows = slice(job.file_offset, job.file_offset + len(job.world_ids()))
    sub = mdps.subset(rows)
    if job.teacher == "softmax":
        return sub, Teacher(pi=teachers.softmax_policy(q[rows], job.temperature),
                            name=f"softmax tau={job.temperature:g}")
    if job.teacher == "epsilon_greedy":
        # the greedy move stays the most probable action; exploration covers every action
        wide = envs.with_actions(sub, job.n_actions, envs.grid_eta(sub))
        pi = teachers.epsilon_greedy_moves(q[rows], job.n_actions, job.epsilon)
        return wide, Teacher(pi=pi, name=f"epsilon-greedy |A|={job.n_actions}")
    return sub, Teacher(pi=noisy["pi"][rows], value=noisy["value"][rows], name="noisy Q-learning")


def run_distill(job: DistillJob, mdps: TabularMDPs | None = None, q: np.ndarray | None = None,
                noisy: dict | None = None) -> dict:
    """Run one job -> the run record written by the workflow (``results.save_run``).

    Grid jobs need their shard's worlds ``mdps`` and its Q table ``q`` (or the
    ``noisy`` teacher record for Figure 5); chain jobs build their own chain.
    """
    if job.world == "chain":
        worlds, teacher = _chain(job)
    else:
        if mdps is None:
            raise ValueError(f"job {job.key} needs its shard's grid worlds")
        worlds, teacher = job_teacher(job, mdps, q, noisy)
    critic = {"kind": "exact", "every": job.student_critic_every} if job.student_critic_every else None
    ids = job.world_ids()
    res = distill(worlds, teacher, job.method, n_trajectories=job.n_trajectories, critic=critic, progress=log,
                  seed=job_seed(job.seed, job.figure.split("-")[0], *job.setting.values()), world_ids=ids,
                  **distill_kwargs(asdict(job)))
    run = {"steps": res.steps, "returns": res.returns, "kl_teacher": res.kl_teacher, "kl_student": res.kl_student,
           "kl_uniform": res.kl_uniform, "teacher_return": res.teacher_return, "mdp": ids, "labels": job.labels}
    if job.teacher == "softmax":
        run["teacher_entropy"] = teachers.teacher_determinism(worlds, teacher.pi)
    if job.teacher == "noisy":
        # Figure 5 compares students with the teacher before the flips (Section 4:
        # "recover the full performance of the teacher"); the noisy one is kept too.
        rows = slice(job.file_offset, job.file_offset + len(ids))
        run["teacher_return"] = noisy["clean_teacher_return"][rows]
        run["noisy_teacher_return"] = noisy["noisy_teacher_return"][rows]
    return run
