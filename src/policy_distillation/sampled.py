"""Sampled-trajectory estimator of Eq. (1), generic over the method registry.

Per optimisation step, ``N`` trajectories per MDP are drawn from the method's
control policy q (``methods.Method.control_policy``), all ``B`` MDPs in
lockstep, and the update (a descent direction, same sign as
``exact.expected_update``) is

    G = 1/N sum_n sum_t [ grad l(s_t) - (e_{a_t} - pi_theta(s_t)) * W_t ],

with ``W_t = Rhat_t = sum_{i >= t} rhat_i`` (undiscounted return-to-go of the
pseudo-reward) or, for methods with ``bootstrap``, ``W_t = rhat_t + V(s_{t+1})``.
``rhat_i`` is assembled from the method's parts at the sampled ``s_i, a_i,
s_{i+1}, a_{i+1}`` and the realised reward ``r_i``; parts of the next state
are 0 when the episode has ended. Averaged over many draws, G tends to the
exact expected update (tested for every registered method).

How a step is sampled (and why):
  - The state chain is driven by the *outcome marginal* of the control policy,
    ``P(k | s) = sum_a q(a | s) P(k | s, a)`` (cached per state), so the
    rollout never touches an ``A``-wide row. Actions are needed only by
    methods with a score term; they are drawn afterwards from the posterior
    ``P(a | s, k) ~ q(a | s) P(k | s, a)``, which gives the same joint law of
    ``(a_t, k_t)`` as drawing the action first. When all MDPs share one
    outcome table (grid worlds), actions with identical outcome rows (the
    no-op actions of Figure 4) are grouped, and each group is cut into blocks
    (about sqrt(group size) actions, at most ``ACTION_BLOCK``: 64 at
    ``|A| = 4096``) whose student probabilities are cached
    per state (``[B * S, n_blocks]``, refreshed with the log-sum-exp). A
    student-driven action is then drawn by inversion in two stages: the block
    from the cached block masses times ``P(k | block)``, then the action within
    the block from its recomputed probabilities; no
    ``A``-wide row is read before the update.
  - If every positive continuation probability equals one constant ``c0 < 1``
    (the grid worlds' 0.01 stop), episode lengths are pre-drawn from the
    geometric law and trajectories are processed longest first: the live set
    is a prefix, trajectories that reach a terminal cell park in a sentinel
    state and are dropped every 32 steps. Other MDPs draw the continuation at
    each step and drop finished trajectories at once.
  - Outcomes are drawn by comparing one uniform with a row's cumulative
    probabilities; with K <= 9 the comparisons of a row are read as one
    unsigned integer and counted with ``np.bitwise_count``.
  - Visits are counted with one ``np.bincount``; method parts are evaluated
    only on the visited rows (a :class:`_RowContext`), and ``sgd_step``
    touches only those rows of the logits, keeping per-row log-sum-exp,
    block masses and outcome marginals up to date, so ``|A| = 4096`` never
    needs a full ``[B, S, A]`` softmax per step. For grouped (large-A) MDPs,
    the update, the per-step loss gradient and the new row statistics are
    computed in one pass over chunks of visited rows that stay in cache
    (the loss parts are evaluated on a context of each chunk). There,
    ``sgd_step`` keeps the logits rows log-normalised (a per-row shift, same
    policy): pi_theta is ``exp(theta)`` and the new softmax needs no row
    maximum (rows whose normaliser leaves [1e-200, 1e200] are redone with it).

Memory. The teacher's floored log-probabilities are computed once for the
whole batch on first use (another ``B * S * A`` floats); grouped MDPs also
cache block probabilities (``B * S * n_blocks`` floats, 68 blocks at
``|A| = 4096``); per-step ``[R, A]`` arrays live in reused buffers (fresh multi-megabyte arrays each step cost
page faults comparable to the arithmetic at ``|A| = 4096``).

Row locality. Method parts (``state_loss``, ``reward_*``, ``bootstrap``) are
evaluated on a context that holds only the visited rows. This is valid for
every part whose value at a state depends only on that state's inputs
(teacher and student rows, critic values), which holds for the whole
registry (tested); a part that read the dynamics would fail loudly
(the row context's ``mdps`` carries only the shape).

Randomness. All draws come from a :class:`UniformSource`; the default one
wraps an explicit ``numpy.random.Generator``. Tests inject
:class:`ArrayDraws` to compare against a plain per-MDP loop. Order of use:
initial states (only if some start distribution is not one-hot), episode
lengths (geometric mode), per time step the outcome (and continuation)
uniforms, then one uniform per step for the actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .mdp import TabularMDPs
from .methods import CriticAccess, Method, Teacher, get_method, teacher_log_prob
from .policies import safe_log

MAX_EPISODE_STEPS = 1_000_000
# large-A MDPs: the [R, A] passes of a step run in chunks of about 64k floats (512 KiB) that stay in cache
CHUNK_ELEMENTS = 1 << 16
# large-A MDPs: actions of one group are cut into blocks (two-stage action draws) of about the
# square root of the largest group's size, a power of 2, and at most this many
ACTION_BLOCK = 64
_UINT_OF_WIDTH = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


# ------------------------------------------------------------------ randomness
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
    slot i reads its stream in a fixed layout: ``[initial, length]`` then, per
    time step t, ``[outcome, continuation, action]``; after the update it
    advances by ``2 + 3 * (steps it took)``. A slot's draws therefore depend
    only on its own trajectory, never on the other worlds of the batch: the
    workflow's curves do not depend on how worlds are split into shards.
    Values are read ahead in blocks (a Generator's doubles come out in the
    same sequence however they are requested).
    """

    HEAD = 2  # initial state, episode length
    STRIDE = 3  # per time step: outcome, continuation, action

    def __init__(self, generators, capacity: int = 1024):
        self.gens = list(generators)
        if not self.gens or not all(isinstance(g, np.random.Generator) for g in self.gens):
            raise TypeError("generators must be a non-empty list of numpy.random.Generator")
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
        return self._at(ids, self.HEAD + self.STRIDE * times + 2)

    def finish(self, steps: np.ndarray) -> None:
        """The update is over: slot i took ``steps[i]`` steps."""
        self.lo += self.HEAD + self.STRIDE * np.asarray(steps, dtype=np.int64)
        self._reserved = False


def _as_source(rng: np.random.Generator | UniformSource) -> UniformSource:
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


def return_to_go(rhat: np.ndarray, traj: np.ndarray) -> np.ndarray:
    """Rhat_t = sum_{i >= t} rhat_i within each trajectory (Eq. (1)) -> float[M].

    Records are trajectory-major with time ascending (``traj``: int[M]
    non-decreasing). Each trajectory is summed on its own, right to left
    (``W_t = rhat_t + W_{t+1}``), so its values do not depend on the other
    trajectories of the batch (a cumulative sum over the whole batch would
    leave rounding that does).
    """
    M = rhat.size
    if M == 0:
        return rhat.copy()
    first = np.flatnonzero(np.r_[True, traj[1:] != traj[:-1]])
    length = np.diff(np.r_[first, M])
    width = int(length.max())
    seg = np.repeat(np.arange(first.size), length)
    col = width - 1 - (np.arange(M) - first[seg])  # reversed time, right-aligned: zeros pad the front
    padded = np.zeros((first.size, width))
    padded[seg, col] = rhat
    return np.cumsum(padded, axis=1)[seg, col]


# --------------------------------------------------------------- trajectories
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

    @property
    def mdp(self) -> np.ndarray:
        return self.flat_state // self.n_states

    @property
    def state(self) -> np.ndarray:
        return self.flat_state % self.n_states

    @property
    def next_state(self) -> np.ndarray:
        return self.flat_next % self.n_states


# ---------------------------------------------------------------- row context
@dataclass(frozen=True)
class _RowShape:
    B: int
    S: int
    A: int


class _RowContext(CriticAccess):
    """The visited rows as a batch of one MDP with R states (duck-types
    ``methods.DistillContext``; fields are computed only when a part reads them)."""

    def __init__(self, est: "SampledEstimator", rows: np.ndarray, logits_flat: np.ndarray,
                 lse_rows: np.ndarray, student_value: np.ndarray | None, tag: str = ""):
        self._est = est
        self.rows = rows
        self._flat = logits_flat
        self.mdps = _RowShape(1, rows.size, est.A)
        self._lse = lse_rows
        self._tag = tag  # suffix of the workspace buffers (a chunk context must not share the whole context's)
        tv = est.teacher.value
        self.teacher_value = None if tv is None else tv.reshape(-1)[rows][None]
        self.student_value = None if student_value is None else student_value.reshape(-1)[rows][None]

    def chunk(self, i: int, j: int, logits: np.ndarray, pi: np.ndarray, lse: np.ndarray) -> "_RowContext":
        """Context of the rows ``i:j`` of this one, given their logits, student
        policy float[j - i, A] and the logits' log-sum-exp float[j - i] (already
        computed by the caller; not copied)."""
        c = _RowContext.__new__(_RowContext)
        c._est, c.rows, c._flat, c._lse, c._tag = self._est, self.rows[i:j], self._flat, lse, "/chunk"
        c.mdps = _RowShape(1, j - i, self._est.A)
        c.teacher_value = None if self.teacher_value is None else self.teacher_value[:, i:j]
        c.student_value = None if self.student_value is None else self.student_value[:, i:j]
        c.student_logits, c.student_pi = logits[None], pi[None]  # fill the cached properties
        return c

    @cached_property
    def teacher_pi(self) -> np.ndarray:
        return self._est._ws.take("teacher_pi" + self._tag, self._est._teacher_flat, self.rows)[None]

    @cached_property
    def teacher_log_pi(self) -> np.ndarray:
        return self._est._ws.take("teacher_log_pi" + self._tag, self._est._teacher_log_flat, self.rows)[None]

    @cached_property
    def student_logits(self) -> np.ndarray:
        return self._est._ws.take("logits" + self._tag, self._flat, self.rows)[None]

    @cached_property
    def student_log_pi(self) -> np.ndarray:
        return self.student_logits - self._lse[None, :, None]

    @cached_property
    def student_pi(self) -> np.ndarray:
        if "student_log_pi" in self.__dict__:
            return np.exp(self.student_log_pi)
        pi = self._est._ws.get("student_pi" + self._tag, self.student_logits.shape)
        np.subtract(self.student_logits, self._lse[None, :, None], out=pi)
        return np.exp(pi, out=pi)



class _Workspace:
    """Reusable buffers for per-step ``[R, A]`` arrays.

    R changes every step; fresh multi-megabyte arrays cost page faults each
    time (measured: about as much as the arithmetic at |A| = 4096), so the
    buffers grow when needed and are otherwise reused. Views into them live
    only within one step.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = np.empty(max(size, int(1.5 * (0 if buf is None else buf.size))))
            self._buffers[name] = buf
        return buf[:size].reshape(shape)

    def take(self, name: str, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """table[rows] for a 2-D table, into a reused buffer."""
        out = self.get(name, (rows.size, table.shape[1]))
        # mode="clip": rows are valid, and "raise" would buffer the whole output
        return np.take(table, rows, axis=0, out=out, mode="clip")


def _log_sum_exp(x: np.ndarray, ws: _Workspace | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row log-sum-exp of float[R, A], with the unnormalised softmax.

    Returns (lse: float[R], e: float[R, A], z: float[R]) with softmax = e / z[:, None].
    """
    m = x.max(axis=1)
    e = np.subtract(x, m[:, None], out=None if ws is None else ws.get("exp", x.shape))
    np.exp(e, out=e)
    z = e.sum(axis=1)
    return m + np.log(z), e, z


# ------------------------------------------------------------------ estimator
class _Blocks(NamedTuple):
    """Blocks of actions within the action groups of a grouped (large-A) MDP batch."""

    start: np.ndarray  # int[n_blocks] first action of each block
    end: np.ndarray  # int[n_blocks] one past its last action
    op_kb: np.ndarray  # float[K, n_blocks] P(k | block) (constant within a group)
    group_first: np.ndarray  # int[G] index of each group's first block
    width: int  # widest block


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
    """

    def __init__(self, mdps: TabularMDPs, teacher: Teacher, method: Method | str, n_trajectories: int = 1,
                 record_rewards: bool = False):
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
        if "teacher_value" in method.needs:
            if teacher.value is None:
                raise ValueError(f"method {method.name} needs a teacher critic: Teacher.value is None")
            tv = np.asarray(teacher.value, dtype=np.float64)
            if tv.shape != (mdps.B, mdps.S):
                raise ValueError(f"teacher value must be float[B, S]={(mdps.B, mdps.S)}, got {tv.shape}")
            teacher = Teacher(pi=teacher.pi, value=tv, name=teacher.name)
        self.mdps, self.method, self.N = mdps, method, int(n_trajectories)
        self.B, self.S, self.A, self.K = mdps.B, mdps.S, mdps.A, mdps.K
        tp = mdps.check_policy(teacher.pi, "teacher pi")
        self.teacher = Teacher(pi=tp, value=teacher.value, name=teacher.name)
        self._teacher_flat = tp.reshape(-1, self.A)
        B, S, K = self.B, self.S, self.K
        self.D = B * S  # sentinel row: a parked (finished) trajectory
        offs = (np.arange(B) * S)[:, None, None]
        nxt = (mdps.next_state + offs).reshape(-1)
        cont = mdps.outcome_continue.reshape(-1)
        self._next = np.concatenate([nxt, np.full(K, self.D)])
        self._cont = np.concatenate([cont, np.zeros(K)])
        self._outcome_reward = mdps.outcome_reward.reshape(-1)
        positive = np.unique(cont[cont > 0])
        self.c0 = float(positive[0]) if positive.size == 1 and positive[0] < 1.0 else None
        if self.c0 is not None:
            self._next_parked = np.where(self._cont > 0, self._next, self.D)
        init = mdps.initial
        self._one_hot_start = bool(np.all((init == 0) | (init == 1)))
        self._start_cum = np.cumsum(init, axis=1)
        self._start_state = init.argmax(axis=1)
        self.need_actions = method.has_score_term or (record_rewards and mdps.action_reward is not None)
        op = mdps.outcome_prob
        self._shared_op = op.shape[0] == 1 and op.shape[1] == 1
        self._groups = None
        if self._shared_op:
            self._op00 = op[0, 0]
            _, first, gid = np.unique(self._op00, axis=0, return_index=True, return_inverse=True)
            gid = np.asarray(gid).reshape(-1)
            # group ids numbered by first appearance; grouping is used only when
            # groups are contiguous ranges of actions (the grid worlds' no-ops)
            rank = np.argsort(np.argsort(first))
            gid = rank[gid]
            starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
            if starts.size < self.A and np.all(np.diff(gid) >= 0):
                lo, hi = starts, np.r_[starts[1:], self.A]
                self._groups = (lo, hi, self._op00[starts])  # lo, hi, op per group
                # blocks within each group: a draw costs ~ (number of blocks + block width)
                # per record, least near a width of sqrt(group size)
                width = min(ACTION_BLOCK, 1 << math.ceil(math.log2(math.sqrt((hi - lo).max()))))
                bstart = np.concatenate([np.arange(a, b, width) for a, b in zip(lo, hi)])
                bend = np.r_[bstart[1:], self.A]
                self._blocks = _Blocks(start=bstart, end=bend, op_kb=np.ascontiguousarray(self._op00[bstart].T),
                                       group_first=np.searchsorted(bstart, lo), width=int((bend - bstart).max()))
        self._fixed_marginal = None
        if method.control == "uniform":
            # the uniform policy's marginal is the action-average of the outcome table
            self._fixed_marginal = np.ascontiguousarray(
                np.broadcast_to(op.mean(axis=2), (B, S, K))).reshape(B * S, K)
        elif method.control in ("teacher", "mixture"):
            self._fixed_marginal = mdps.outcome_marginal(tp).reshape(B * S, K)
        self._bound = None  # logits the sgd_step cache describes
        self._inv = np.full(B * S + 1, -1, dtype=np.int64)
        self._ws = _Workspace()

    # -------------------------------------------------------------- caches
    @cached_property
    def _teacher_log_flat(self) -> np.ndarray:
        # computed once, as the teacher is fixed
        return safe_log(self._teacher_flat)

    def _marginal_rows(self, rows: np.ndarray, e: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Outcome marginal of the control policy at flat rows -> float[R, K].

        The student enters as an unnormalised softmax ``e / z[:, None]``
        (saves a pass over ``[R, A]``). Ungrouped MDPs; grouped ones use :meth:`_finish_marginal`."""
        if self.method.control in ("teacher", "uniform"):
            return self._fixed_marginal[rows]
        if self._shared_op:
            m = e @ self._op00
        else:
            m = np.einsum("ra,rak->rk", e, self._op_at(rows))
        m /= z[:, None]
        if self.method.control == "mixture":
            m = self.method.beta * self._fixed_marginal[rows] + (1.0 - self.method.beta) * m
        return m

    def _finish_marginal(self, rows: np.ndarray, bsum: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Grouped path of :meth:`_marginal_rows` from unnormalised block masses
        float[R, n_blocks] -> float[R, K]."""
        if self.method.control in ("teacher", "uniform"):
            return self._fixed_marginal[rows]
        m = np.add.reduceat(bsum, self._blocks.group_first, axis=1) @ self._groups[2]
        m /= z[:, None]
        if self.method.control == "mixture":
            m = self.method.beta * self._fixed_marginal[rows] + (1.0 - self.method.beta) * m
        return m

    def _sa_part_at(self, part, ctx: "_RowContext", r: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``part(ctx)[0][r, a]`` for a (state, action) reward part -> float[M].

        The teacher's log-probabilities are a fixed table: read only the M
        needed entries instead of gathering R full ``A``-wide rows (same values).
        """
        if part is teacher_log_prob and "teacher_log_pi" not in ctx.__dict__:
            return self._teacher_log_flat[ctx.rows[r], a]
        return part(ctx)[0][r, a]

    def _control_rows(self, ctx: "_RowContext") -> np.ndarray:
        """q_theta at the visited rows -> float[R, A]."""
        c = self.method.control
        if c == "teacher":
            return ctx.teacher_pi[0]
        if c == "uniform":
            return np.full((ctx.mdps.S, self.A), 1.0 / self.A)
        if c == "mixture":
            return self.method.beta * ctx.teacher_pi[0] + (1.0 - self.method.beta) * ctx.student_pi[0]
        return ctx.student_pi[0]

    def _op_at(self, rows: np.ndarray) -> np.ndarray:
        """P(k | s, a) at flat rows -> float[R, A, K] (per-MDP or per-state tables)."""
        op = self.mdps.outcome_prob
        b, s = np.divmod(rows, self.S)
        return op[b if op.shape[0] > 1 else 0, s if op.shape[1] > 1 else 0]

    def _cum_rows(self, m: np.ndarray) -> np.ndarray:
        cum = np.cumsum(m, axis=1)
        return cum / cum[:, -1:]

    def _full_cache(self, logits_flat: np.ndarray,
                    normalise: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per-row log-sum-exp float[B*S], outcome table float[B*S+1, w] (see
        ``_outcome_table``) and, for grouped MDPs, student block probabilities
        float[B*S, n_blocks] (else None).

        ``normalise`` (grouped MDPs): also shift every row of ``logits_flat`` in
        place to log-probabilities (same policy); the returned lse is then 0."""
        rows = np.arange(self.B * self.S)
        if self._groups is None:
            lse, e, z = _log_sum_exp(logits_flat)
            table, bp = self._outcome_table(self._cum_rows(self._marginal_rows(rows, e, z))), None
        else:
            # chunk by chunk (never a full [B*S, A] temporary), as the per-step pass does
            lse, z = np.empty(rows.size), np.empty(rows.size)
            bsum = np.empty((rows.size, self._blocks.start.size))
            step = self._chunk_rows()
            for i in range(0, rows.size, step):
                x = logits_flat[i:i + step]
                lse[i:i + step], bsum[i:i + step], z[i:i + step] = self._row_stats(x)
                if normalise:
                    x -= lse[i:i + step, None]
            if normalise:
                lse[:] = 0.0
            table, bp = self._block_caches(rows, bsum, z)
        # the sentinel row (parked trajectories) always draws outcome 0
        return lse, np.concatenate([table, np.ones((1, table.shape[1]))]), bp

    def _row_stats(self, x: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grouped MDPs: log-sum-exp, unnormalised block masses and softmax normaliser
        of logits rows float[R, A] -> (float[R], float[R, n_blocks], float[R]).
        ``out``: scratch float[R, A] for the softmax (else a workspace buffer)."""
        m = x.max(axis=1)
        e = np.subtract(x, m[:, None], out=self._ws.get("exp", x.shape) if out is None else out)
        np.exp(e, out=e)
        bsum = np.add.reduceat(e, self._blocks.start, axis=1)
        z = bsum.sum(axis=1)  # the normaliser from the block masses (saves a pass over [R, A])
        return m + np.log(z), bsum, z

    def _block_caches(self, rows: np.ndarray, bsum: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outcome table rows float[R, w] and block probabilities float[R, n_blocks]
        from the row statistics of :meth:`_row_stats`."""
        table = self._outcome_table(self._cum_rows(self._finish_marginal(rows, bsum, z)))
        return table, bsum / z[:, None]

    def _check_logits(self, logits: np.ndarray) -> np.ndarray:
        if not isinstance(logits, np.ndarray) or logits.dtype != np.float64:
            raise TypeError("logits must be a float64 numpy array float[B, S, A]")
        if logits.shape != (self.B, self.S, self.A):
            raise ValueError(f"logits must be float[B, S, A]={(self.B, self.S, self.A)}, got {logits.shape}")
        if not logits.flags.c_contiguous:
            raise ValueError("logits must be C-contiguous (updated in place through a flat view)")
        return logits.reshape(-1, self.A)

    def _check_student_value(self, student_value):
        if "student_value" in self.method.needs:
            if student_value is None:
                raise ValueError(f"method {self.method.name} needs student_value (a critic V_theta, float[B, S])")
        if student_value is not None:
            student_value = np.asarray(student_value, dtype=np.float64)
            if student_value.shape != (self.B, self.S):
                raise ValueError(f"student_value must be float[B, S]={(self.B, self.S)}, got {student_value.shape}")
        return student_value

    # ------------------------------------------------------------- rollout
    def _start_states(self, source: UniformSource) -> np.ndarray:
        BN = self.B * self.N
        b = np.arange(BN) // self.N
        if self._one_hot_start:
            s = self._start_state[b]
        else:
            s = inverse_cdf(self._start_cum[b], source.initial(BN))
        return b * self.S + s

    def _outcome_table(self, cum: np.ndarray) -> np.ndarray:
        """Comparison table for outcome draws from normalised cumulative rows
        float[R, K]: the first K-1 cumulative probabilities of each row, padded with 2.0 to a
        width of 1, 2, 4 or 8 (so that the comparisons of one row can be read as one unsigned integer and counted
        with ``np.bitwise_count``) -> float[R, w]."""
        c = cum[:, :-1]
        w = c.shape[1]
        width = next((x for x in (1, 2, 4, 8) if x >= w), w)
        if width == w:
            return np.ascontiguousarray(c)
        return np.concatenate([c, np.full((c.shape[0], width - w), 2.0)], axis=1)

    def _draw_outcomes(self, table: np.ndarray, f: np.ndarray, u: np.ndarray) -> np.ndarray:
        """k = #{j < K-1: cum[f, j] <= u}, i.e. outcome k by inversion -> int[n]."""
        below = table.take(f, axis=0) <= u[:, None]
        w = below.shape[1]
        if w in _UINT_OF_WIDTH:
            return np.bitwise_count(below.view(_UINT_OF_WIDTH[w]).ravel())  # uint8
        return below.sum(axis=1)

    def _rollout(self, table: np.ndarray, source: UniformSource):
        """Run all B*N trajectories in lockstep.

        Returns time-major records (flat state F, outcome k, time t, trajectory
        id, continues?, flat outcome index F*K + k).
        """
        K, D = self.K, self.D
        f = self._start_states(source)
        fs, ks, ps = [], [], []
        if self.c0 is not None:
            L = geometric_length(source.lengths(f.size), self.c0)
            source.reserve(L)
            order = np.argsort(-L, kind="stable")
            Lc = L[order]  # live lengths, longest first: the live set is a prefix
            f = f[order]
            pos = np.arange(f.size)
            t, t_end = 0, int(Lc[0])
            nxt = self._next_parked
            plain = type(source) is UniformSource  # ids are needed only by injected draws
            rng = getattr(source, "rng", None)
            while t < t_end:
                # every 32 steps drop the parked (ended) trajectories; stop when none is left
                if t % 32 == 0:
                    if t:
                        keep = f < D
                        if not keep.all():
                            f, pos, Lc = f[keep], pos[keep], Lc[keep]
                            if not f.size:
                                break
                            t_end = int(Lc[0])
                    alive = np.searchsorted(-Lc, -np.arange(t, t + 32), side="left").tolist()
                n = alive[t % 32]
                if n < f.size:
                    f, pos, Lc = f[:n], pos[:n], Lc[:n]
                u = rng.random(n) if plain else source.step(t, order[pos], 1)[0]
                k = self._draw_outcomes(table, f, u)
                fs.append(f)
                ks.append(k)
                ps.append(pos)
                f = nxt.take(f * K + k)
                t += 1
            n_t = np.array([x.size for x in fs])
            F = np.concatenate(fs)
            Kk = np.concatenate(ks)
            P = np.concatenate(ps)
            T = np.repeat(np.arange(n_t.size), n_t)
            real = F < D
            F, Kk, T, P = F[real], Kk[real].astype(np.int64), T[real], P[real]
            fk = F * K + Kk
            cont = (self._cont[fk] > 0) & (T + 1 < L[order][P])
            traj = order[P]
        else:
            pos = np.arange(f.size)
            cs = []
            t = 0
            while f.size:
                if t >= MAX_EPISODE_STEPS:
                    raise RuntimeError(f"an episode exceeded {MAX_EPISODE_STEPS} steps (improper control policy?)")
                u = source.step(t, pos, 2)
                k = self._draw_outcomes(table, f, u[0])
                fk = f * K + k
                c = u[1] < self._cont.take(fk)
                fs.append(f)
                ks.append(k)
                ps.append(pos)
                cs.append(c)
                f = self._next.take(fk)[c]
                pos = pos[c]
                t += 1
            n_t = np.array([x.size for x in fs])
            F = np.concatenate(fs)
            Kk = np.concatenate(ks).astype(np.int64)
            traj = np.concatenate(ps)
            cont = np.concatenate(cs)
            T = np.repeat(np.arange(n_t.size), n_t)
            fk = F * K + Kk
        return F, Kk, T, traj, cont, fk

    # --------------------------------------------------------- action draws
    def _draw_actions(self, r: np.ndarray, F: np.ndarray, Kk: np.ndarray, q_rows: np.ndarray,
                      u: np.ndarray) -> np.ndarray:
        """a ~ P(a | s, k) proportional to q(a | s) P(k | s, a), by inversion of u
        (q_rows: float[R, A] control policy at the visited rows; r: int[M] row of each record)."""
        op_k = self._op00[:, Kk].T if self._shared_op else np.take_along_axis(
            self._op_at(F), Kk[:, None, None], axis=2)[..., 0]
        w = np.cumsum(q_rows[r] * op_k, axis=1)
        return inverse_cdf(w, u)

    def _draw_actions_blocked(self, F: np.ndarray, Kk: np.ndarray, u: np.ndarray, logits_flat: np.ndarray,
                              lse: np.ndarray, bp: np.ndarray) -> np.ndarray:
        """Grouped MDPs, student control: a ~ P(a | s, k) ~ pi_theta(a | s) P(k | s, a)
        by inversion of u in two stages -> int[M].

        Blocks lie within a group, so P(k | s, a) is constant on a block: the
        block b is drawn with weights ``bp[s, b] P(k | b)`` (cached block
        probabilities), and the fraction v of the block's weight that u points
        at then selects the action within the block from its (at most
        block width) probabilities ``exp(theta[s, a] - lse[s])``. This is
        the inversion of the whole posterior, up to rounding.
        F: int[M] flat states; Kk: int[M] outcomes; u: float[M] uniforms.
        """
        bstart, bend, op_kb, width_max = self._blocks.start, self._blocks.end, self._blocks.op_kb, self._blocks.width
        M = F.size
        w = bp[F]
        w *= op_kb[Kk]  # [M, n_blocks]
        cw = np.cumsum(w, axis=1)
        target = u * cw[:, -1]
        b = np.count_nonzero(cw[:, :-1] <= target[:, None], axis=1)
        idx = np.arange(M)
        wb = w[idx, b]
        zero = np.flatnonzero(wb <= 0)
        if zero.size:  # rounding (u near 1) pointed past the last block of positive weight
            b[zero] = w.shape[1] - 1 - np.argmax(w[zero, ::-1] > 0, axis=1)
            wb[zero] = w[zero, b[zero]]
        before = np.where(b > 0, cw[idx, np.maximum(b - 1, 0)], 0.0)
        v = (target - before) / wb
        lo, width = bstart[b], bend[b] - bstart[b]
        off = np.zeros(M, dtype=np.int64)
        multi = np.flatnonzero(width > 1)  # a one-action block needs no second stage
        if multi.size:
            Fm, wm = F[multi], width[multi]
            j = np.arange(width_max)
            # whole rows of width_max logits from the block start, copied from a view of
            # all windows of the flat table (cheaper than an element-wise gather); entries
            # past a shorter block are set to -inf
            flat1 = logits_flat.reshape(-1)
            windows = sliding_window_view(flat1, width_max)
            start = Fm * self.A + lo[multi]
            p = windows[np.minimum(start, windows.shape[0] - 1)]
            over = np.flatnonzero(start >= windows.shape[0])
            if over.size:  # a window would run past the table's end ("clip": masked below)
                p[over] = np.take(flat1, start[over, None] + j, mode="clip")
            part = np.flatnonzero(wm < width_max)
            if part.size:
                p[part] = np.where(j < wm[part, None], p[part], -np.inf)
            p -= lse[Fm][:, None]
            np.exp(p, out=p)
            cp = np.cumsum(p, axis=1)
            off[multi] = np.count_nonzero(cp[:, :-1] <= (v[multi] * cp[:, -1])[:, None], axis=1)
        return lo + np.minimum(off, width - 1)

    # ---------------------------------------------------------------- core
    def _estimate_rows(self, logits_flat: np.ndarray, lse: np.ndarray, table: np.ndarray,
                       bp: np.ndarray | None, source: UniformSource, student_value: np.ndarray | None,
                       scale: float, baseline: np.ndarray | None = None):
        """One sampled step. Returns (row context, :class:`_RowUpdate` of scale * N * G_rows, transitions).

        ``scale`` multiplies the per-trajectory sum (1/N for the update, lr/N for
        an SGD step), applied to per-row coefficients before any [R, A] product.
        For grouped MDPs the returned update leaves pi_theta (score term) and the
        loss gradient to be supplied chunk by chunk (:meth:`_chunks`).
        """
        grouped = self._groups is not None
        A, meth = self.A, self.method
        F, Kk, T, traj, cont, fk = self._rollout(table, source)
        counts = np.bincount(F, minlength=self.B * self.S)
        rows = np.flatnonzero(counts)
        inv = self._inv
        inv[rows] = np.arange(rows.size)
        ctx = _RowContext(self, rows, logits_flat, lse[rows], student_value)
        upd = _RowUpdate(rows.size, chunk=self._chunk_rows())
        action = reward = None
        if self.need_actions:
            # trajectory-major order: the next step of record j is j + 1 when cont[j]
            order = np.lexsort((T, traj))
            F, Kk, T, traj, cont, fk = F[order], Kk[order], T[order], traj[order], cont[order], fk[order]
            r = inv[F]
            u = source.actions(traj, T)
            if grouped and meth.control == "student":
                action = self._draw_actions_blocked(F, Kk, u, logits_flat, lse, bp)
            else:
                action = self._draw_actions(r, F, Kk, self._control_rows(ctx), u)
            reward = self._outcome_reward[fk]
            if self.mdps.action_reward is not None:
                reward = reward + self.mdps.action_reward.reshape(-1, A)[F, action]
            if meth.has_score_term:
                nxt_f = self._next[fk]
                r_next = np.where(cont, inv[nxt_f], 0)
                a_next = np.r_[action[1:], 0]
                rhat = np.zeros(F.size)
                if meth.reward_sa is not None:
                    rhat += self._sa_part_at(meth.reward_sa, ctx, r, action)
                if meth.reward_state is not None:
                    rhat += meth.reward_state(ctx)[0][r]
                if meth.env_reward:
                    rhat += reward
                if meth.reward_next_state is not None:
                    rhat += np.where(cont, meth.reward_next_state(ctx)[0][r_next], 0.0)
                if meth.reward_next_sa is not None:
                    rhat += np.where(cont, self._sa_part_at(meth.reward_next_sa, ctx, r_next, a_next), 0.0)
                if meth.bootstrap is not None:
                    W = rhat + np.where(cont, meth.bootstrap(ctx)[0][r_next], 0.0)
                else:
                    W = return_to_go(rhat, traj)
                if baseline is not None:
                    # a state-only baseline: E[(e_a - pi) b(s)] = 0, so the mean is unchanged
                    W = W - baseline[F]
                W *= scale
                # -(e_a - pi) W summed per row: pi * sum(W) minus W at the taken action
                upd.score(None if grouped else ctx.student_pi[0],
                          np.bincount(r, weights=W, minlength=rows.size), r, action, -W)
        elif self.mdps.action_reward is None:
            reward = self._outcome_reward[fk]
        if meth.state_loss is not None:
            upd.state_term(None if grouped else meth.state_loss(ctx)[1][0], (scale * counts[rows])[:, None])
        trans = Transitions(traj=traj, time=T, flat_state=F, flat_next=self._next[fk], outcome=Kk, action=action,
                            reward=reward, cont=cont, n_states=self.S, n_trajectories=self.N)
        source.finish(np.bincount(traj, minlength=self.B * self.N))
        return ctx, upd, trans

    def _chunk_rows(self) -> int | None:
        """Rows per chunk of the [R, A] passes (grouped, i.e. large-A, MDPs), or None: one pass."""
        return None if self._groups is None else max(1, CHUNK_ELEMENTS // self.A)

    def _chunks(self, ctx: "_RowContext", upd: "_RowUpdate", log_pi: bool = False):
        """Grouped MDPs: the update G over the visited rows, one chunk of rows at a
        time while it is in cache. Per chunk: the logits rows x, pi_theta =
        exp(x - lse) when the score term or the loss needs it, the loss gradient
        on a context of the chunk, then G. Every operation is per row, so the
        values do not depend on the chunk size (tested).

        Yields (i, j, x: float[j - i, A] logits of rows i:j, G: float[j - i, A]);
        both are reused buffers that the caller may overwrite. pi_theta and G
        share one buffer (the loss gradient is taken before G overwrites pi), so
        a chunk's working set is two ``[rows, A]`` buffers.

        ``log_pi``: the rows are log-normalised (``sgd_step`` keeps them so; its
        cached lse is 0), hence pi_theta = exp(x) with no subtraction.
        """
        rows, A, ws = ctx.rows, self.A, self._ws
        R, step = rows.size, self._chunk_rows()
        loss = self.method.state_loss if upd.weight is not None else None
        for i in range(0, R, step):
            j = min(i + step, R)
            x = ws.get("chunk", (j - i, A))
            np.take(ctx._flat, rows[i:j], axis=0, out=x, mode="clip")
            G = ws.get("G", x.shape)
            lse = np.zeros(j - i) if log_pi else ctx._lse[i:j]
            pi = grad = None
            if upd.coef is not None or loss is not None:
                pi = np.exp(x, out=G) if log_pi else np.exp(np.subtract(x, lse[:, None], out=G), out=G)
            if loss is not None:
                grad = loss(ctx.chunk(i, j, x, pi, lse))[1][0]
                if np.may_share_memory(grad, G):  # G is about to overwrite pi
                    grad = grad.copy()
            yield i, j, x, upd.block(i, j, G, pi, grad)

    # -------------------------------------------------------------- public
    def update(self, logits: np.ndarray, rng: np.random.Generator | UniformSource,
               student_value: np.ndarray | None = None,
               baseline: np.ndarray | None = None) -> tuple[np.ndarray, Transitions]:
        """Sampled update of Eq. (1) at ``logits``.

        Args:
          logits: float[B, S, A] student logits theta (not modified).
          rng: ``numpy.random.Generator`` (or a :class:`UniformSource`).
          student_value: float[B, S] critic V_theta, for the methods that need it.
          baseline: optional float[B, S] state baseline b(s_t) subtracted from the
            score weight W_t (unbiased; reduces variance, e.g. the pseudo-reward value).
        Returns:
          (G: float[B, S, A] descent direction, same convention as
          ``exact.expected_update``; the sampled :class:`Transitions`).
        """
        flat = self._check_logits(logits)
        if not np.isfinite(flat).all():
            raise ValueError("logits must be finite")
        student_value = self._check_student_value(student_value)
        lse, table, bp = self._full_cache(flat)
        ctx, upd, trans = self._estimate_rows(flat, lse, table, bp, _as_source(rng), student_value,
                                              1.0 / self.N, self._check_baseline(baseline))
        rows = ctx.rows
        G = np.zeros((self.B * self.S, self.A))
        if self._groups is None:
            G[rows] = upd.block(0, rows.size, np.empty((rows.size, self.A)))
        else:
            for i, j, _, G_rows in self._chunks(ctx, upd):
                G[rows[i:j]] = G_rows
        return G.reshape(self.B, self.S, self.A), trans

    def _check_baseline(self, baseline: np.ndarray | None) -> np.ndarray | None:
        """float[B, S] -> flat float[B * S] (indexed like the sampled flat states)."""
        if baseline is None:
            return None
        b = np.asarray(baseline, dtype=np.float64)
        if b.shape != (self.B, self.S):
            raise ValueError(f"baseline must be float[B, S]={self.B, self.S}, got {b.shape}")
        if not np.isfinite(b).all():
            raise ValueError("baseline must be finite")
        return b.reshape(-1)

    def invalidate(self) -> None:
        """Forget the per-row caches (call after changing logits outside ``sgd_step``)."""
        self._bound = None

    def sgd_step(self, logits: np.ndarray, lr: float, rng: np.random.Generator | UniformSource,
                 student_value: np.ndarray | None = None, baseline: np.ndarray | None = None) -> Transitions:
        """theta <- theta - lr * G, in place; only the visited rows change (up to the
        softmax-invariant shifts of grouped MDPs below).

        For grouped (large-A) MDPs the rows are also shifted by per-row
        constants so that they hold log-probabilities (log-sum-exp 0): every
        row when the cache is (re)built on a new ``logits`` array, then each
        updated row. pi_theta = softmax(theta) is unchanged by the shifts, which
        save two passes over every visited row of a step (:meth:`_apply_chunked`).

        Per-row log-sum-exp, control marginals and (grouped MDPs) block
        probabilities are cached between calls on
        the same ``logits`` array; if the array is changed elsewhere, call
        :meth:`invalidate` first. Returns the sampled :class:`Transitions`
        (e.g. for a TD critic).
        """
        flat = self._check_logits(logits)
        if not np.isfinite(lr):
            raise ValueError(f"lr must be finite, got {lr}")
        student_value = self._check_student_value(student_value)
        if self._bound is not logits:
            if not np.isfinite(flat).all():
                raise ValueError("logits must be finite")
            self._lse, self._table, self._bp = self._full_cache(flat, normalise=True)
            self._bound = logits
        with np.errstate(over="ignore", invalid="ignore"):  # reported below as one error
            ctx, upd, trans = self._estimate_rows(flat, self._lse, self._table, self._bp, _as_source(rng),
                                                  student_value, lr / self.N, self._check_baseline(baseline))
            rows = ctx.rows
            if self._groups is not None:
                lse, mass, z = self._apply_chunked(flat, ctx, upd)
            else:
                logits_rows = ctx.student_logits[0]  # the visited rows (taken once per step), updated in place
                logits_rows -= upd.block(0, rows.size, self._ws.get("G", logits_rows.shape))
                lse, e, z = _log_sum_exp(logits_rows, self._ws)
                mass = None
        if not np.isfinite(lse).all():
            self._bound = None
            raise FloatingPointError("sgd_step produced non-finite logits (learning rate too large?)")
        if mass is None:
            flat[rows] = logits_rows
        self._lse[rows] = lse
        if mass is not None:
            self._table[rows], self._bp[rows] = self._block_caches(rows, mass, z)
        elif self.method.control not in ("teacher", "uniform"):
            self._table[rows] = self._outcome_table(self._cum_rows(self._marginal_rows(rows, e, z)))
        return trans

    def _apply_chunked(self, flat: np.ndarray, ctx: "_RowContext",
                       upd: "_RowUpdate") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``flat[rows] <- log_softmax(flat[rows] - G)`` and the new row statistics, in
        the chunks of :meth:`_chunks` (one pass over the visited rows, large A).

        The rows are log-normalised on entry (:meth:`sgd_step`) and stored so
        again (shifted by a per-row constant, which leaves pi_theta unchanged),
        so neither the row maximum nor a shift before the exp is needed
        (:meth:`_log_normalise`).

        On a non-finite result the rows already written stay written (the
        caller raises; the logits are then not to be used).
        Returns (lse: float[R], 0 where finite; block masses: float[R, n_blocks]; z: float[R]).
        """
        rows = ctx.rows
        R = rows.size
        lse, z = np.empty(R), np.empty(R)
        bsum = np.empty((R, self._blocks.start.size))
        for i, j, x, G in self._chunks(ctx, upd, log_pi=True):
            x -= G
            lse[i:j], bsum[i:j], z[i:j] = self._log_normalise(x, out=G)
            flat[rows[i:j]] = x
        return lse, bsum, z

    def _log_normalise(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grouped MDPs: shift logits rows float[R, A] in place to log-probabilities;
        ``out``: scratch float[R, A].

        The rows are near-normalised (log pi_theta minus one step), so the softmax
        is taken without subtracting the row maximum: ``e = exp(x)``. A normaliser
        ``z = sum(e)`` in [1e-200, 1e200] means no overflow, and every entry within
        a factor 1e-100 of the row's largest is a normal double (full precision);
        rows outside that range (a very large step) are redone with the maximum
        subtracted, as :meth:`_row_stats` does.

        Returns (lse after the shift: float[R], 0 for finite rows, else nan or
        inf; unnormalised block masses float[R, n_blocks]; their sum z float[R]),
        so block probabilities are masses / z as for :meth:`_row_stats`.
        """
        # rows that overflow or underflow are redone below; non-finite ones are reported by the caller
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            e = np.exp(x, out=out)
            bsum = np.add.reduceat(e, self._blocks.start, axis=1)
            z = bsum.sum(axis=1)
            shift = np.log(z)
            redo = np.flatnonzero(~((z >= 1e-200) & (z <= 1e200)))  # also nan
            if redo.size:
                shift[redo], bsum[redo], z[redo] = self._row_stats(x[redo])
            x -= shift[:, None]
        return np.where(np.isfinite(shift), 0.0, shift), bsum, z


class _RowUpdate:
    """The update G at the R visited rows, kept in factors so that it can be
    assembled one block of rows at a time (``[R, A]`` never materialised twice):

        G = pi * coef[:, None]  + sparse (row, action, value) entries   (score term)
            + grad * weight                                            (per-step loss)

    ``pi`` and ``grad`` are either held whole (float[R, A]) or, when given as
    None, supplied per block by the caller (grouped MDPs, :meth:`SampledEstimator._chunks`).
    ``block`` adds the terms in exactly this order (the order of a one-pass
    assembly), so every block equals the same rows of the whole ``G``.
    """

    def __init__(self, R: int, chunk: int | None):
        self.R, self.chunk = R, chunk
        self.pi = self.coef = self.grad = self.weight = None
        self._sparse = None

    def score(self, pi: np.ndarray | None, coef: np.ndarray, r: np.ndarray, a: np.ndarray, w: np.ndarray) -> None:
        """pi: float[R, A] or None (per block); coef: float[R]; entries G[r, a] += w (in record order)."""
        self.pi, self.coef = pi, coef
        if self.chunk is not None and self.chunk < self.R:
            # stable: the entries of one (row, action) keep their order, so np.add.at sums alike
            o = np.argsort(r, kind="stable")
            r, a, w = r[o], a[o], w[o]
            self._bounds = np.searchsorted(r, np.arange(0, self.R + self.chunk, self.chunk))
        else:
            self._bounds = None
        self._sparse = (r, a, w)

    def state_term(self, grad: np.ndarray | None, weight: np.ndarray) -> None:
        """grad: float[R, A] or None (per block); weight: float[R, 1]."""
        self.grad, self.weight = grad, weight

    def block(self, i: int, j: int, out: np.ndarray, pi: np.ndarray | None = None,
              grad: np.ndarray | None = None) -> np.ndarray:
        """G[i:j] into ``out`` (float[j - i, A]) -> out. ``pi``, ``grad``: rows i:j
        of the factors not held whole (``pi`` may be ``out`` itself)."""
        if self.coef is not None:
            pi = self.pi[i:j] if self.pi is not None else pi
            np.multiply(pi, self.coef[i:j, None], out=out)
            r, a, w = self._sparse
            if (i, j) == (0, self.R):
                np.add.at(out, (r, a), w)
            elif self._bounds is None:
                raise ValueError("unchunked sparse entries are assembled in one block")
            else:
                k = i // self.chunk
                lo, hi = self._bounds[k], self._bounds[k + 1]
                if i % self.chunk or j != min(i + self.chunk, self.R):
                    raise ValueError("blocks must follow the chunk grid")
                np.add.at(out, (r[lo:hi] - i, a[lo:hi]), w[lo:hi])
        if self.weight is not None:
            grad = self.grad[i:j] if self.grad is not None else grad
            if self.coef is not None:
                out += grad * self.weight[i:j]
            else:
                np.multiply(grad, self.weight[i:j], out=out)
        elif self.coef is None:
            out[...] = 0.0
        return out


def sampled_update(mdps: TabularMDPs, teacher: Teacher, method: Method | str, logits: np.ndarray,
                   rng: np.random.Generator | UniformSource, n_trajectories: int = 1,
                   student_value: np.ndarray | None = None) -> np.ndarray:
    """One sampled estimate of the Eq. (1) update -> float[B, S, A] (see :class:`SampledEstimator`)."""
    return SampledEstimator(mdps, teacher, method, n_trajectories).update(logits, rng, student_value)[0]
