"""Batches of tabular MDPs of one shape, stored in outcome form.

Array letters used across the package: ``B`` MDPs, ``S`` states, ``A``
actions, ``K`` outcomes per state, ``T`` time steps, ``N`` trajectories.

Every MDP is written in *outcome form*: taking action ``a`` in state ``s``
produces outcome ``k`` with probability ``outcome_prob[b, s, a, k]``; the
outcome pays ``outcome_reward[b, s, k]`` (plus an optional action reward
``action_reward[b, s, a]``), moves the agent to ``next_state[b, s, k]`` and
lets the episode continue with probability ``outcome_continue[b, s, k]``.
The remaining mass ``1 - outcome_continue`` goes to the absorbing state,
which is never stored: it has value 0 and leaving it out keeps ``I - gamma P``
non-singular for every proper policy (SPEC 2.2).

Grid worlds need K = 5 (four moves and "stay") and an outcome distribution
per action shared by all states, ``outcome_prob[B|1, 1, A, 5]``, so 1000 worlds
with 4096 actions never build an ``S x A x S`` array. A dense MDP uses
``K = S + 1``: outcome ``k < S`` is "go to state k", outcome ``S`` is
"terminate".
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .files import save_npz

FORMAT_VERSION = 1
_PROB_ATOL = 1e-9


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _finite(x, name: str) -> np.ndarray:
    """float64 array of ``x``; ValueError naming ``name`` if it holds NaN or inf (or is not numeric)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array: {err}") from err
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite: {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return arr


@dataclass(frozen=True, eq=False)
class TabularMDPs:
    """B tabular MDPs with S states, A actions and K outcomes each.

    Attributes:
      initial: float[B, S] initial state distribution (rows sum to 1).
      next_state: int[B, S, K] state reached by outcome k from state s.
      outcome_prob: float[B|1, S|1, A, K] P(outcome k | s, a); rows sum to 1.
      outcome_reward: float[B, S, K] reward paid when outcome k happens in s.
      outcome_continue: float[B, S, K] probability that the episode goes on
        after outcome k in s (0: it ends; the rest goes to the absorbing state).
      gamma: discount used by exact evaluation (1.0: undiscounted episodic).
      action_reward: optional float[B, S, A] reward paid for taking a in s.
      layout: optional int8[B, S] cell kinds for grid worlds (see ``gridworld``).
      grid_shape: optional (rows, cols) of a grid world.
    """

    initial: np.ndarray
    next_state: np.ndarray
    outcome_prob: np.ndarray
    outcome_reward: np.ndarray
    outcome_continue: np.ndarray
    gamma: float = 1.0
    action_reward: np.ndarray | None = None
    layout: np.ndarray | None = field(default=None)
    grid_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        # the structure (B, S, K) comes from next_state; every other array is checked against it
        nxt = np.asarray(self.next_state)
        _check(nxt.ndim == 3, f"next_state must be int[B, S, K], got shape {nxt.shape}")
        _check(np.issubdtype(nxt.dtype, np.integer), "next_state must hold integers")
        B, S, K = nxt.shape
        init = _finite(self.initial, "initial")
        _check(init.shape == (B, S), f"initial must be float[B, S]={B, S} (from next_state), got shape {init.shape}")
        _check(bool(np.all((nxt >= 0) & (nxt < S))), f"next_state must lie in [0, {S})")
        op = _finite(self.outcome_prob, "outcome_prob")
        _check(
            op.ndim == 4 and op.shape[0] in (1, B) and op.shape[1] in (1, S) and op.shape[3] == K,
            f"outcome_prob must be float[B|1, S|1, A, K] with B={B}, S={S}, K={K}, got {op.shape}",
        )
        A = op.shape[2]
        _check(A >= 1, "there must be at least one action")
        _check(bool(np.all(op >= -_PROB_ATOL)), "outcome_prob has negative probabilities")
        rowsum = op.sum(axis=-1)
        _check(
            bool(np.allclose(rowsum, 1.0, rtol=0, atol=1e-8)),
            f"outcome_prob rows must sum to 1 (max deviation {np.abs(rowsum - 1).max():.3g})",
        )
        _check(bool(np.all(init >= -_PROB_ATOL)), "initial has negative probabilities")
        _check(
            bool(np.allclose(init.sum(axis=1), 1.0, rtol=0, atol=1e-8)),
            "initial rows must sum to 1",
        )
        rew = _finite(self.outcome_reward, "outcome_reward")
        _check(rew.shape == (B, S, K), f"outcome_reward must be float[B, S, K]={B, S, K}, got {rew.shape}")
        cont = _finite(self.outcome_continue, "outcome_continue")
        _check(cont.shape == (B, S, K), f"outcome_continue must be float[B, S, K]={B, S, K}, got {cont.shape}")
        _check(bool(np.all((cont >= 0) & (cont <= 1))), "outcome_continue must lie in [0, 1]")
        gamma_ok = bool(np.isfinite(self.gamma)) and 0.0 < float(self.gamma) <= 1.0
        _check(gamma_ok, f"gamma must lie in (0, 1], got {self.gamma}")
        object.__setattr__(self, "initial", init)
        object.__setattr__(self, "next_state", nxt.astype(np.int64, copy=False))
        object.__setattr__(self, "outcome_prob", op)
        object.__setattr__(self, "outcome_reward", rew)
        object.__setattr__(self, "outcome_continue", cont)
        object.__setattr__(self, "gamma", float(self.gamma))
        if self.action_reward is not None:
            ar = _finite(self.action_reward, "action_reward")
            _check(ar.shape == (B, S, A), f"action_reward must be float[B, S, A]={B, S, A}, got {ar.shape}")
            object.__setattr__(self, "action_reward", ar)
        if self.layout is not None:
            lay = np.asarray(self.layout, dtype=np.int8)
            _check(lay.shape == (B, S), f"layout must be int8[B, S], got {lay.shape}")
            object.__setattr__(self, "layout", lay)
        if self.grid_shape is not None:
            object.__setattr__(self, "grid_shape", tuple(int(x) for x in self.grid_shape))

    # ----------------------------------------------------------------- shape
    @property
    def B(self) -> int:
        return self.initial.shape[0]

    @property
    def S(self) -> int:
        return self.initial.shape[1]

    @property
    def A(self) -> int:
        return self.outcome_prob.shape[2]

    @property
    def K(self) -> int:
        return self.next_state.shape[2]

    def check_policy(self, pi: np.ndarray, name: str = "pi") -> np.ndarray:
        """Validate a stochastic policy float[B, S, A] for this batch."""
        pi = _finite(pi, name)
        _check(
            pi.shape == (self.B, self.S, self.A),
            f"{name} must be float[B, S, A]={self.B, self.S, self.A}, got {pi.shape}",
        )
        _check(bool(np.all(pi >= -_PROB_ATOL)), f"{name} has negative probabilities")
        dev = np.abs(pi.sum(axis=-1) - 1.0).max()
        _check(dev <= 1e-8, f"{name} rows must sum to 1 (max deviation {dev:.3g})")
        return pi

    # ------------------------------------------------------------ dynamics
    def outcome_marginal(self, pi: np.ndarray) -> np.ndarray:
        """P(outcome k | s) under policy pi. pi: float[B, S, A] -> float[B, S, K]."""
        op = self.outcome_prob
        if op.shape[1] == 1:
            # [B, S, A] @ [B|1, A, K]: one matmul per MDP, no [B, S, A, K] array.
            return np.matmul(pi, op[:, 0])
        return np.einsum("bsa,bsak->bsk", pi, op, optimize=True)

    def reward_sa(self) -> np.ndarray:
        """Expected immediate reward r(s, a) -> float[B, S, A]."""
        op = self.outcome_prob
        if op.shape[1] == 1:
            r = np.einsum("bak,bsk->bsa", np.broadcast_to(op[:, 0], (self.B, self.A, self.K)), self.outcome_reward)
        else:
            r = np.einsum("bsak,bsk->bsa", np.broadcast_to(op, (self.B, self.S, self.A, self.K)), self.outcome_reward)
        if self.action_reward is not None:
            r = r + self.action_reward
        return r

    def reward_pi(self, pi: np.ndarray) -> np.ndarray:
        """Expected immediate reward under pi, r_pi(s) -> float[B, S]."""
        r = np.einsum("bsk,bsk->bs", self.outcome_marginal(pi), self.outcome_reward)
        if self.action_reward is not None:
            r = r + np.einsum("bsa,bsa->bs", pi, self.action_reward)
        return r

    def expect_next(self, values: np.ndarray) -> np.ndarray:
        """E[cont * values(s') | s, a], the continuation part of a Bellman backup.

        Args:
          values: float[B, S] values of the next state (absorbing state = 0).
        Returns:
          float[B, S, A]: sum_k P(k | s, a) * continue(s, k) * values(next(s, k)).
        """
        values = np.asarray(values, dtype=np.float64)
        _check(values.shape == (self.B, self.S), f"values must be float[B, S]={self.B, self.S}, got {values.shape}")
        nv = np.take_along_axis(values, self.next_state.reshape(self.B, -1), axis=1).reshape(self.B, self.S, self.K)
        w = nv * self.outcome_continue  # [B, S, K]
        op = self.outcome_prob
        if op.shape[1] == 1:
            return np.matmul(w, np.swapaxes(np.broadcast_to(op[:, 0], (self.B, self.A, self.K)), 1, 2))
        return np.einsum("bsak,bsk->bsa", np.broadcast_to(op, (self.B, self.S, self.A, self.K)), w)

    def next_state_distribution(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sparse triplets of the substochastic state-to-state kernel under pi.

        Returns (rows, cols, vals) over the flattened index ``b * S + s``; vals
        include ``outcome_continue`` but not ``gamma``. Duplicates are summed
        by the consumer.
        """
        m = self.outcome_marginal(pi) * self.outcome_continue  # [B, S, K]
        offs = (np.arange(self.B) * self.S)[:, None, None]
        rows = np.broadcast_to(offs + np.arange(self.S)[None, :, None], m.shape)
        cols = self.next_state + offs
        return rows.ravel(), cols.ravel(), m.ravel()

    # -------------------------------------------------------------- export
    def to_dense(self) -> tuple[np.ndarray, np.ndarray]:
        """Dense export for interop and tests.

        Returns:
          P: float[B, S, A, S] substochastic transitions (missing mass = episode ends).
          R: float[B, S, A] expected immediate reward.
        """
        op = np.broadcast_to(self.outcome_prob, (self.B, self.S, self.A, self.K))
        P = np.zeros((self.B, self.S, self.A, self.S))
        w = op * self.outcome_continue[:, :, None, :]
        b_idx, s_idx, a_idx, k_idx = np.indices(w.shape, sparse=False)
        nxt = self.next_state[b_idx, s_idx, k_idx]
        np.add.at(P, (b_idx, s_idx, a_idx, nxt), w)
        return P, self.reward_sa()

    def subset(self, index: np.ndarray | slice) -> "TabularMDPs":
        """The MDPs selected by ``index`` along B, as a new batch."""
        def pick(x, leading_one_ok=False):
            if x is None:
                return None
            if leading_one_ok and x.shape[0] == 1:
                return x
            return x[index]

        return TabularMDPs(
            initial=self.initial[index],
            next_state=self.next_state[index],
            outcome_prob=pick(self.outcome_prob, leading_one_ok=True),
            outcome_reward=self.outcome_reward[index],
            outcome_continue=self.outcome_continue[index],
            gamma=self.gamma,
            action_reward=pick(self.action_reward),
            layout=pick(self.layout),
            grid_shape=self.grid_shape,
        )

    # ------------------------------------------------------------------ io
    def save(self, path: str | Path) -> None:
        """Write to ``.npz`` with a format version."""
        arrays = {"format_version": np.array(FORMAT_VERSION)}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            arrays[f.name] = np.asarray(v)
        save_npz(path, arrays)  # exactly this path, byte-identical for equal batches

    @classmethod
    def load(cls, path: str | Path) -> "TabularMDPs":
        """Read a batch written by :meth:`save`; refuses other format versions."""
        with np.load(path) as z:
            version = int(z["format_version"]) if "format_version" in z else None
            _check(version == FORMAT_VERSION, f"{path}: MDP file format version {version}, expected {FORMAT_VERSION}")
            kw = {f.name: z[f.name] for f in fields(cls) if f.name in z}
        kw["gamma"] = float(kw["gamma"])
        if "grid_shape" in kw:
            kw["grid_shape"] = tuple(int(x) for x in kw["grid_shape"])
        return cls(**kw)


def from_dense(
    P: np.ndarray, R: np.ndarray, initial: np.ndarray, gamma: float = 1.0
) -> TabularMDPs:
    """Build a batch from dense arrays.

    Args:
      P: float[B, S, A, S] substochastic transitions; 1 - sum_s' P is the
        probability that the episode ends after (s, a).
      R: float[B, S, A] expected immediate rewards.
      initial: float[B, S] initial state distribution.
      gamma: discount for exact evaluation.
    """
    P = _finite(P, "P")
    R = _finite(R, "R")
    initial = _finite(initial, "initial")
    _check(P.ndim == 4 and P.shape[1] == P.shape[3], f"P must be float[B, S, A, S], got {P.shape}")
    B, S, A, _ = P.shape
    _check(R.shape == (B, S, A), f"R must be float[B, S, A]={B, S, A}, got {R.shape}")
    _check(initial.shape == (B, S), f"initial must be float[B, S]={B, S}, got {initial.shape}")
    _check(bool(np.all(P >= -_PROB_ATOL)), "P has negative probabilities")
    end = 1.0 - P.sum(axis=-1)
    _check(bool(np.all(end >= -1e-8)), f"P rows must sum to at most 1 (max sum {P.sum(-1).max():.6g})")
    op = np.concatenate([P, np.clip(end, 0.0, None)[..., None]], axis=-1)
    nxt = np.broadcast_to(np.concatenate([np.arange(S), [0]]), (B, S, S + 1)).copy()
    cont = np.ones((B, S, S + 1))
    cont[:, :, S] = 0.0
    return TabularMDPs(
        initial=initial,
        next_state=nxt,
        outcome_prob=op,
        outcome_reward=np.zeros((B, S, S + 1)),
        outcome_continue=cont,
        gamma=gamma,
        action_reward=R,
    )
