"""Sampled-trajectory estimator of Eq. (1), generic over the method registry.

Per optimisation step, ``N`` trajectories per MDP are drawn from the method's
control policy q (``controls.Control``), all ``B`` MDPs in lockstep
(``rollout``); actions are drawn from their posterior afterwards
(``actions``); the pseudo-reward is summed at the sampled steps
(``rewards.sampled_pseudo_reward``) and the update (a descent direction, same
sign as ``exact.expected_update``) is assembled at the visited rows only
(``update``, ``rows``):

    G = 1/N sum_n sum_t [ grad l(s_t) - (e_{a_t} - pi_theta(s_t)) * W_t ].

Averaged over many draws, G tends to the exact expected update (tested for
every registered method). ``sgd_step`` touches only the visited rows of the
logits and keeps the per-row caches up to date, so ``|A| = 4096`` never needs
a full ``[B, S, A]`` softmax per step.

Memory: the teacher's floored log-probabilities are computed once for the
whole batch on first use (another ``B * S * A`` floats); grouped MDPs also
cache block probabilities (``B * S * n_blocks`` floats, 68 blocks at
``|A| = 4096``); per-step ``[R, A]`` arrays live in reused buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mdp import TabularMDPs
from ..methods import Method, Teacher, get_method
from ..optim import SGD, Optimiser
from . import kernels
from .draws import UniformSource, as_source
from .rollout import Records, RolloutPlan, rollout, rollout_unroll
from .row_states import RowStates, TeacherTables, Workspace
from .rows import ControlMarginal, student_rows
from .update import RowUpdate
from .weights import Boundary, score_weights


@dataclass(frozen=True)
class Transitions:
    """The steps sampled in one optimisation step: trajectory-major (time
    ascending) when actions were drawn, time-major otherwise.

    Attributes (M recorded steps):
      traj: int[M] trajectory id ``b * N + n``.
      time: int[M] time step t (0 = start).
      flat_state: int[M] ``b * S + s_t``; flat_next: int[M] ``b * S + s_{t+1}``
        (meaningful where ``cont``).
      outcome: int[M] outcome k_t.
      action: int[M] sampled action, or None when the method needs none.
      reward: float[M] realised reward r_t, or None (the MDP pays action
        rewards and no action was drawn).
      cont: bool[M] the episode continues to s_{t+1}.
      n_states: S; n_trajectories: N.
      return_target: float[M] lambda-return targets for a TD critic of the pseudo-return, or None.
    Derived: mdp, state, next_state (int[M]).
    """

    traj: np.ndarray
    time: np.ndarray
    flat_state: np.ndarray
    flat_next: np.ndarray
    outcome: np.ndarray
    action: np.ndarray | None
    reward: np.ndarray | None
    cont: np.ndarray
    n_states: int
    n_trajectories: int
    return_target: np.ndarray | None = None

    @property
    def mdp(self) -> np.ndarray:
        return self.flat_state // self.n_states

    @property
    def state(self) -> np.ndarray:
        return self.flat_state % self.n_states

    @property
    def next_state(self) -> np.ndarray:
        return self.flat_next % self.n_states


class SampledEstimator:
    """Sampled estimate of Eq. (1) for one method on a batch of MDPs.

    Args:
      mdps: the batch (gamma must be 1: undiscounted, episodic convention).
      teacher: ``methods.Teacher`` (``pi: float[B, S, A]``; ``value: float[B, S]``
        when the method needs a teacher critic).
      method: a ``methods.Method`` or its registry name.
      n_trajectories: N, trajectories per MDP per optimisation step.
      record_rewards: also draw actions when the MDP pays action rewards, so that
        ``Transitions.reward`` is always set (a TD critic needs it).
      sampler: ``"episode"`` (one whole episode per trajectory per step) or
        ``"unroll"`` (``unroll_length`` steps of trajectories that persist across
        steps, restarting from the initial state when an episode ends; see ``weights``).
    """

    SAMPLERS = ("episode", "unroll")

    def __init__(self, mdps: TabularMDPs, teacher: Teacher, method: Method | str, n_trajectories: int = 1,
                 record_rewards: bool = False, sampler: str = "episode", unroll_length: int | None = None,
                 teacher_log: np.ndarray | None = None):
        if mdps.gamma != 1.0:
            raise ValueError("distillation updates are undiscounted and episodic (gamma = 1); "
                             f"got gamma = {mdps.gamma}")
        method = get_method(method) if isinstance(method, str) else method
        if not isinstance(method, Method):
            raise TypeError(f"method must be a methods.Method or a registry name, got {type(method).__name__}")
        if not isinstance(teacher, Teacher):
            raise TypeError(f"teacher must be a methods.Teacher, got {type(teacher).__name__}")
        if int(n_trajectories) != n_trajectories or n_trajectories < 1:
            raise ValueError(f"n_trajectories (N) must be a positive integer, got {n_trajectories}")
        if sampler not in self.SAMPLERS:
            raise ValueError(f"sampler must be one of {self.SAMPLERS}, got {sampler!r}")
        if sampler == "unroll" and (unroll_length is None or int(unroll_length) != unroll_length
                                    or unroll_length < 1):
            raise ValueError(f"the unroll sampler needs unroll_length >= 1, got {unroll_length}")
        self.sampler, self.unroll_length = sampler, None if sampler == "episode" else int(unroll_length)
        value = None
        if "teacher_value" in method.needs:
            if teacher.value is None:
                raise ValueError(f"method {method.name} needs a teacher critic: Teacher.value is None")
            value = np.asarray(teacher.value, dtype=np.float64)
            if value.shape != (mdps.B, mdps.S):
                raise ValueError(f"teacher value must be float[B, S]={(mdps.B, mdps.S)}, got {value.shape}")
        self.mdps, self.method, self.N = mdps, method, int(n_trajectories)
        self.B, self.S, self.A, self.K = mdps.B, mdps.S, mdps.A, mdps.K
        tp = mdps.check_policy(teacher.pi, "teacher pi")
        self.teacher = TeacherTables(tp, value, teacher_log)
        self.plan = RolloutPlan.from_mdps(mdps, self.N)
        self._outcome_reward = mdps.outcome_reward.reshape(-1)
        self._action_reward = None if mdps.action_reward is None else mdps.action_reward.reshape(-1, self.A)
        self.need_actions = method.has_score_term or (record_rewards and mdps.action_reward is not None)
        self._ws = Workspace()
        self.rows = student_rows(mdps, method.control, ControlMarginal(method.control, mdps, tp), self._ws)
        self._bound = None  # the logits array the sgd_step cache describes
        self._cache = None
        self._inv = np.full(self.B * self.S + 1, -1, dtype=np.int64)
        self._walkers = None  # unroll: the flat state of every trajectory slot, kept across steps

    # ------------------------------------------------------------- checks
    def _check_logits(self, logits: np.ndarray) -> np.ndarray:
        if not isinstance(logits, np.ndarray) or logits.dtype != np.float64:
            raise TypeError("logits must be a float64 numpy array float[B, S, A]")
        if logits.shape != (self.B, self.S, self.A):
            raise ValueError(f"logits must be float[B, S, A]={(self.B, self.S, self.A)}, got {logits.shape}")
        if not logits.flags.c_contiguous:
            raise ValueError("logits must be C-contiguous (updated in place through a flat view)")
        return logits.reshape(-1, self.A)

    def _check_states(self, values: np.ndarray | None, name: str) -> np.ndarray | None:
        """float[B, S] -> flat float[B * S] (indexed like the sampled flat states)."""
        if values is None:
            return None
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.B, self.S):
            raise ValueError(f"{name} must be float[B, S]={self.B, self.S}, got {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError(f"{name} must be finite")
        return v.reshape(-1)

    def _check_student_value(self, student_value: np.ndarray | None) -> np.ndarray | None:
        if "student_value" in self.method.needs and student_value is None:
            raise ValueError(f"method {self.method.name} needs student_value (a critic V_theta, float[B, S])")
        return self._check_states(student_value, "student_value")

    def _source(self, rng: np.random.Generator | UniformSource) -> UniformSource:
        return as_source(rng, self.B * self.N, self.sampler)

    # ---------------------------------------------------------------- core
    def _rollout(self, table: np.ndarray, source: UniformSource) -> Records:
        if self.sampler == "episode":
            return rollout(self.plan, table, source)
        rec, self._walkers = rollout_unroll(self.plan, table, source, self._walkers, self.unroll_length)
        return rec

    def _boundary(self, rec: Records, flat: np.ndarray, lse: np.ndarray, student_value) -> Boundary | None:
        """The unroll's last steps whose episode goes on (their s_L is bootstrapped), or None for episodes."""
        if self.sampler == "episode":
            return None
        last = np.flatnonzero(np.r_[rec.traj[1:] != rec.traj[:-1], True] & rec.cont)
        s_next = self.plan.next_flat[rec.state[last] * self.K + rec.outcome[last]]
        rows, row = np.unique(s_next, return_inverse=True)
        states = RowStates(self.teacher, rows, flat, lse[rows], student_value, self._ws, tag="/boundary")
        return Boundary(index=last, states=states, row=row.reshape(-1), flat=s_next)

    def _estimate_rows(self, flat: np.ndarray, cache, source: UniformSource, student_value: np.ndarray | None,
                       scale: float, baseline: np.ndarray | None = None, critic_values: np.ndarray | None = None,
                       td_lambda: float | None = None, return_lambda: float = 1.0):
        """One sampled step -> (visited rows, their :class:`update.RowUpdate` of scale * N * G, transitions).

        ``scale`` multiplies the per-trajectory sum (1/N for the update, lr/N for
        an SGD step), applied to per-row coefficients before any [R, A] product.
        """
        lse, table, block_probs = cache
        meth, K = self.method, self.K
        rec = self._rollout(table, source)
        rows, counts, row = kernels.visited_rows(rec.state, self.B * self.S, self._inv)
        inv = self._inv
        states = RowStates(self.teacher, rows, flat, lse[rows], student_value, self._ws)
        upd = RowUpdate(rows.size, chunk=self.rows.chunk)
        action = reward = targets = None
        next_flat = self.plan.next_flat[rec.state * K + rec.outcome]
        if self.need_actions:
            buf, lo, _ = source.view(self.B * self.N, 0)
            u = kernels.action_uniforms(rec.traj, rec.time, buf, lo, source.head, source.stride)
            action = self.rows.draw_actions(states, row, rec.state, rec.outcome, u, flat, lse, block_probs)
            reward = self._outcome_reward[rec.state * K + rec.outcome]
            if self._action_reward is not None:
                reward = reward + self._action_reward[rec.state, action]
            if meth.has_score_term:
                boundary = self._boundary(rec, flat, lse, student_value)
                next_row = np.where(rec.cont, inv[next_flat], 0)
                # the baseline (the caller's, else the method's) is subtracted there: a state-only
                # baseline has E[(e_a - pi) b(s)] = 0, so the mean is unchanged
                W, targets = score_weights(meth, states, row, action, reward, rec.cont, next_row, rec.traj,
                                           boundary, critic_values, rec.state, next_flat, td_lambda,
                                           return_lambda, baseline)
                W *= scale
                # -(e_a - pi) W summed per row: pi * sum(W) minus W at the taken action
                upd.score(self.rows.score_pi(states), np.bincount(row, weights=W, minlength=rows.size), row,
                          action, -W)
        elif self._action_reward is None:
            reward = self._outcome_reward[rec.state * K + rec.outcome]
        if meth.state_loss is not None:
            upd.state_term(self.rows.loss_grad(states, meth.state_loss), (scale * counts)[:, None])
        trans = Transitions(traj=rec.traj, time=rec.time, flat_state=rec.state, flat_next=next_flat,
                            outcome=rec.outcome, action=action, reward=reward, cont=rec.cont, n_states=self.S,
                            n_trajectories=self.N, return_target=targets)
        source.finish(np.bincount(rec.traj, minlength=self.B * self.N))
        return states, upd, trans

    # -------------------------------------------------------------- public
    def update(self, logits: np.ndarray, rng: np.random.Generator | UniformSource,
               student_value: np.ndarray | None = None, baseline: np.ndarray | None = None,
               critic_values: np.ndarray | None = None, td_lambda: float | None = None,
               return_lambda: float = 1.0) -> tuple[np.ndarray, Transitions]:
        """Sampled update of Eq. (1) at ``logits`` (not modified).

        Args:
          logits: float[B, S, A] student logits theta.
          rng: ``numpy.random.Generator`` (or a ``draws.UniformSource``).
          student_value: float[B, S] critic V_theta, for the methods that need it.
          baseline: optional float[B, S] state baseline b(s_t) subtracted from the
            score weight W_t (unbiased; reduces variance, e.g. the pseudo-reward value);
            it replaces the method's own ``Method.baseline`` (``weights.score_weights``).
          critic_values: optional float[B, S] Vhat bootstrapping the ``unroll``
            sampler's cut returns (None: truncated returns).
          td_lambda: also return lambda-return targets (``Transitions.return_target``)
            for a TD critic whose values are ``critic_values``.
          return_lambda: with ``critic_values``, the score weight is the lambda-return on
            them (``weights.score_weights``; 1: n-step, 0: one-step targets).
        Returns:
          (G: float[B, S, A] descent direction, same convention as
          ``exact.expected_update``; the sampled :class:`Transitions`).
        """
        flat = self._check_logits(logits)
        if not np.isfinite(flat).all():
            raise ValueError("logits must be finite")
        student_value = self._check_student_value(student_value)
        cache = self.rows.full_cache(flat, normalise=False)
        states, upd, trans = self._estimate_rows(flat, cache, self._source(rng), student_value, 1.0 / self.N,
                                                 self._check_states(baseline, "baseline"),
                                                 self._check_states(critic_values, "critic_values"), td_lambda,
                                                 return_lambda)
        G = np.zeros((self.B * self.S, self.A))
        self.rows.assemble(states, upd, G, self.method.state_loss)
        return G.reshape(self.B, self.S, self.A), trans

    @property
    def row_caches(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """The bound per-row caches of :meth:`step`: (lse float[B*S], outcome table
        float[B*S + 1, w], block probabilities float[B*S, n_blocks] or None), or None before the first step."""
        return self._cache if self._bound is not None else None

    def invalidate(self) -> None:
        """Forget the per-row caches (call after changing logits outside :meth:`step`)."""
        self._bound = None

    def step(self, logits: np.ndarray, optimiser: Optimiser, rng: np.random.Generator | UniformSource,
             student_value: np.ndarray | None = None, baseline: np.ndarray | None = None,
             critic_values: np.ndarray | None = None, td_lambda: float | None = None,
             return_lambda: float = 1.0) -> Transitions:
        """One optimisation step of ``optimiser`` (``optim``) with the sampled update, in place; only the
        visited rows change (up to softmax-invariant shifts: grouped rows are kept log-normalised, ``rows``).

        Per-row caches are kept between calls on the same ``logits`` array; if
        the array is changed elsewhere, call :meth:`invalidate` first. Returns
        the sampled :class:`Transitions` (with lambda-return targets for a TD
        critic when ``td_lambda`` is given).
        """
        flat = self._check_logits(logits)
        student_value = self._check_student_value(student_value)
        if self._bound is not logits:
            if not np.isfinite(flat).all():
                raise ValueError("logits must be finite")
            self._cache = self.rows.full_cache(flat, normalise=True)
            self._bound = logits
        optimiser.begin_step()
        with np.errstate(over="ignore", invalid="ignore"):  # reported by apply as one error
            states, upd, trans = self._estimate_rows(flat, self._cache, self._source(rng), student_value,
                                                     optimiser.scale / self.N, self._check_states(baseline, "baseline"),
                                                     self._check_states(critic_values, "critic_values"), td_lambda,
                                                 return_lambda)
            try:
                self.rows.apply(flat, states, upd, self.method.state_loss, self._cache, optimiser)
            except FloatingPointError:
                self._bound = None
                raise
        return trans

    def sgd_step(self, logits: np.ndarray, lr: float, rng: np.random.Generator | UniformSource,
                 student_value: np.ndarray | None = None, baseline: np.ndarray | None = None) -> Transitions:
        """theta <- theta - lr * G in place (:meth:`step` with plain SGD)."""
        if not np.isfinite(lr):
            raise ValueError(f"lr must be finite, got {lr}")
        return self.step(logits, _PlainSGD(lr), rng, student_value, baseline)


class _PlainSGD(SGD):
    """SGD at any finite rate (``sgd_step`` allows the huge and negative steps tests use)."""

    def __post_init__(self) -> None:
        pass


def sampled_update(mdps: TabularMDPs, teacher: Teacher, method: Method | str, logits: np.ndarray,
                   rng: np.random.Generator | UniformSource, n_trajectories: int = 1,
                   student_value: np.ndarray | None = None) -> np.ndarray:
    """One sampled estimate of the Eq. (1) update -> float[B, S, A] (see :class:`SampledEstimator`)."""
    return SampledEstimator(mdps, teacher, method, n_trajectories).update(logits, rng, student_value)[0]
