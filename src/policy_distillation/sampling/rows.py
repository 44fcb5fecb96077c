"""The student's per-row caches, and the update applied to the visited rows.

A sampled step needs, per state: the log-sum-exp of the student's logits and
the comparison table of the control's outcome marginal (``rollout``); with
many actions also the student's block probabilities (two-stage action draws).
``sgd_step`` keeps these caches up to date by touching only the visited rows.
Two implementations of one interface, chosen once per estimator
(:func:`student_rows`):

- :class:`DenseRows`: few actions, or no shared outcome table; every ``[R, A]``
  array is built in one pass.
- :class:`GroupedRows`: many actions in groups of identical outcome rows (the
  no-ops of Figure 4); the update, the loss gradient and the new row
  statistics run in one pass over chunks of visited rows that stay in cache,
  and the rows are kept log-normalised (a per-row shift, same policy), so
  pi_theta = exp(theta) and the new softmax needs no row maximum (rows whose
  normaliser leaves [1e-200, 1e200] after a very large step are redone with it).

Array letters: ``B`` MDPs, ``S`` states, ``R`` visited rows, ``A`` actions, ``K`` outcomes.
"""

from __future__ import annotations

import numpy as np

from ..controls import Control
from ..mdp import TabularMDPs
from ..optim import SGD
from . import kernels
from .actions import ActionBlocks, action_blocks, draw_actions, draw_actions_blocked
from .rollout import normalised_cumsum, outcome_table
from .row_states import RowStates, Workspace
from .update import RowUpdate

# large-A MDPs: the [R, A] passes of a step run in chunks of about 64k floats (512 KiB) that stay in cache
CHUNK_ELEMENTS = 1 << 16


def log_sum_exp(x: np.ndarray, ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row log-sum-exp of float[R, A], with the unnormalised softmax.

    Returns (lse: float[R], e: float[R, A], z: float[R]) with softmax = e / z[:, None].
    """
    m = x.max(axis=1)
    e = np.subtract(x, m[:, None], out=None if ws is None else ws.get("exp", x.shape))
    np.exp(e, out=e)
    z = e.sum(axis=1)
    return m + np.log(z), e, z


class ControlMarginal:
    """P(k | s) under the control: the fixed part w_teacher M_teacher + w_uniform M_uniform
    (float[B * S, K], computed once) plus w_student times the student's marginal at the rows."""

    def __init__(self, control: Control, mdps: TabularMDPs, teacher_pi: np.ndarray):
        B, S, K = mdps.B, mdps.S, mdps.K
        fixed = None
        if control.teacher:
            fixed = control.teacher * mdps.outcome_marginal(teacher_pi).reshape(B * S, K)
        if control.uniform:
            # the uniform policy's marginal is the action-average of the outcome table
            uni = np.ascontiguousarray(np.broadcast_to(mdps.outcome_prob.mean(axis=2), (B, S, K))).reshape(B * S, K)
            uni = control.uniform * uni
            fixed = uni if fixed is None else fixed + uni
        self.fixed, self.student = fixed, control.student

    def at(self, rows: np.ndarray, student_marginal) -> np.ndarray:
        """float[R, K] at the rows; ``student_marginal()`` gives the student's float[R, K] when needed."""
        if not self.student:
            return self.fixed[rows]
        m = student_marginal()
        return m if self.fixed is None else self.fixed[rows] + self.student * m


class StudentRows:
    """Interface of the per-row caches (see the module docstring)."""

    chunk: int | None  # rows per chunk of the [R, A] passes, or None: one pass

    def __init__(self, mdps: TabularMDPs, control: Control, marginal: ControlMarginal, ws: Workspace):
        self.A, self.control, self.marginal, self.ws = mdps.A, control, marginal, ws

    def full_cache(self, flat: np.ndarray, normalise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(lse float[B*S], outcome table float[B*S + 1, w], block probabilities or None) of every row."""
        raise NotImplementedError

    def draw_actions(self, states: RowStates, row: np.ndarray, state: np.ndarray, outcome: np.ndarray,
                     u: np.ndarray, flat: np.ndarray, lse: np.ndarray, block_probs: np.ndarray | None) -> np.ndarray:
        """a ~ P(a | s, k) for each record (plain inversion over the control's rows) -> int[M]."""
        c = self.control
        q = c.policy(states.teacher_pi[0] if c.teacher else None, states.student_pi[0] if c.student else None,
                     shape=states.shape[1:])
        return draw_actions(q, row, self.outcome_given(state, outcome), u)

    def score_pi(self, states: RowStates) -> np.ndarray | None:
        """pi_theta at the rows for the score term, or None when supplied chunk by chunk."""
        raise NotImplementedError

    def loss_grad(self, states: RowStates, loss) -> np.ndarray | None:
        """grad l at the rows, or None when taken chunk by chunk."""
        raise NotImplementedError

    def assemble(self, states: RowStates, upd: RowUpdate, G_flat: np.ndarray, loss) -> None:
        """Write the update at the visited rows into ``G_flat`` float[B * S, A]."""
        raise NotImplementedError

    def apply(self, flat: np.ndarray, states: RowStates, upd: RowUpdate, loss, cache, optimiser) -> None:
        """theta[rows] <- the optimiser's step with G, and the caches at the rows (``cache``: the bound full cache)."""
        raise NotImplementedError


class DenseRows(StudentRows):
    """Rows built whole (see the module docstring)."""

    chunk = None

    def __init__(self, mdps: TabularMDPs, control: Control, marginal: ControlMarginal, ws: Workspace):
        super().__init__(mdps, control, marginal, ws)
        self.op, self.S = mdps.outcome_prob, mdps.S
        self.shared = self.op.shape[0] == 1 and self.op.shape[1] == 1

    def _op_at(self, rows: np.ndarray) -> np.ndarray:
        """P(k | s, a) at flat rows -> float[R, A, K] (per-MDP or per-state tables)."""
        b, s = np.divmod(rows, self.S)
        return self.op[b if self.op.shape[0] > 1 else 0, s if self.op.shape[1] > 1 else 0]

    def outcome_given(self, state: np.ndarray, outcome: np.ndarray) -> np.ndarray:
        """P(k_m | s_m, a) for every action -> float[M, A]."""
        if self.shared:
            return self.op[0, 0][:, outcome].T
        return np.take_along_axis(self._op_at(state), outcome[:, None, None], axis=2)[..., 0]

    def _table(self, rows: np.ndarray, e: np.ndarray, z: np.ndarray) -> np.ndarray:
        def student() -> np.ndarray:
            # the student enters as an unnormalised softmax e / z (saves a pass over [R, A])
            m = e @ self.op[0, 0] if self.shared else np.einsum("ra,rak->rk", e, self._op_at(rows))
            m /= z[:, None]
            return m

        return outcome_table(normalised_cumsum(self.marginal.at(rows, student)))

    def full_cache(self, flat, normalise):
        lse, e, z = log_sum_exp(flat)
        table = self._table(np.arange(flat.shape[0]), e, z)
        return lse, np.concatenate([table, np.ones((1, table.shape[1]))]), None  # sentinel row: outcome 0

    def score_pi(self, states):
        return states.student_pi[0]

    def loss_grad(self, states, loss):
        return loss(states)[1][0]

    def assemble(self, states, upd, G_flat, loss):
        G_flat[states.rows] = upd.block(0, states.rows.size, np.empty((states.rows.size, self.A)))

    def apply(self, flat, states, upd, loss, cache, optimiser):
        lse_all, table_all, _ = cache
        rows = states.rows
        if self.shared and isinstance(optimiser, SGD):  # one compiled pass (kernels.dense_rows_step)
            G = upd.block(0, rows.size, self.ws.get("G", (rows.size, self.A)))
            fixed = self.marginal.fixed if self.marginal.fixed is not None else np.zeros((1, 1))
            ok = kernels.dense_rows_step(flat, rows, G, lse_all, not self.control.is_fixed, self.op[0, 0], fixed,
                                         float(self.marginal.student), table_all)
            if not ok:
                raise FloatingPointError("sgd_step produced non-finite logits (learning rate too large?)")
            return
        logits_rows = states.student_logits[0]  # the visited rows (taken once per step), updated in place
        optimiser.apply_rows(logits_rows, upd.block(0, rows.size, self.ws.get("G", logits_rows.shape)), rows,
                             flat.shape[0])
        lse, e, z = log_sum_exp(logits_rows, self.ws)
        if not np.isfinite(lse).all():
            raise FloatingPointError("sgd_step produced non-finite logits (learning rate too large?)")
        flat[rows] = logits_rows
        lse_all[rows] = lse
        if not self.control.is_fixed:
            table_all[rows] = self._table(rows, e, z)


class GroupedRows(StudentRows):
    """Rows in cache-sized chunks, kept log-normalised (see the module docstring)."""

    def __init__(self, mdps: TabularMDPs, control: Control, marginal: ControlMarginal, ws: Workspace,
                 blocks: ActionBlocks):
        super().__init__(mdps, control, marginal, ws)
        self.blocks, self.op = blocks, mdps.outcome_prob[0, 0]
        self.chunk = max(1, CHUNK_ELEMENTS // self.A)

    def outcome_given(self, state: np.ndarray, outcome: np.ndarray) -> np.ndarray:
        return self.op[:, outcome].T

    def row_stats(self, x: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log-sum-exp, unnormalised block masses and softmax normaliser of logits rows
        float[R, A] -> (float[R], float[R, n_blocks], float[R]). ``out``: scratch float[R, A]."""
        m = x.max(axis=1)
        e = np.subtract(x, m[:, None], out=self.ws.get("exp", x.shape) if out is None else out)
        np.exp(e, out=e)
        bsum = np.add.reduceat(e, self.blocks.start, axis=1)
        z = bsum.sum(axis=1)  # the normaliser from the block masses (saves a pass over [R, A])
        return m + np.log(z), bsum, z

    def block_caches(self, rows: np.ndarray, bsum: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outcome table rows float[R, w] and block probabilities float[R, n_blocks] from row statistics."""
        def student() -> np.ndarray:
            m = np.add.reduceat(bsum, self.blocks.group_first, axis=1) @ self.blocks.group_op
            m /= z[:, None]
            return m

        table = outcome_table(normalised_cumsum(self.marginal.at(rows, student)))
        return table, bsum / z[:, None]

    def full_cache(self, flat, normalise):
        # chunk by chunk (never a full [B*S, A] temporary), as the per-step pass does
        n = flat.shape[0]
        lse, z = np.empty(n), np.empty(n)
        bsum = np.empty((n, self.blocks.start.size))
        for i in range(0, n, self.chunk):
            x = flat[i:i + self.chunk]
            lse[i:i + self.chunk], bsum[i:i + self.chunk], z[i:i + self.chunk] = self.row_stats(x)
            if normalise:
                x -= lse[i:i + self.chunk, None]
        if normalise:
            lse[:] = 0.0
        table, bp = self.block_caches(np.arange(n), bsum, z)
        return lse, np.concatenate([table, np.ones((1, table.shape[1]))]), bp  # sentinel row: outcome 0

    def draw_actions(self, states, row, state, outcome, u, flat, lse, block_probs):
        if self.control.is_student:
            return draw_actions_blocked(self.blocks, state, outcome, u, flat, lse, block_probs)
        return super().draw_actions(states, row, state, outcome, u, flat, lse, block_probs)

    def score_pi(self, states):
        return None

    def loss_grad(self, states, loss):
        return None

    def chunks(self, states: RowStates, upd: RowUpdate, loss, log_pi: bool = False):
        """The update G over the visited rows, one chunk of rows at a time while it is in cache.

        Per chunk: the logits rows x, pi_theta = exp(x - lse) when the score term
        or the loss needs it, the loss gradient on the chunk's bundle, then G.
        Every operation is per row, so the values do not depend on the chunk size
        (tested). Yields (i, j, x: float[j - i, A] logits of rows i:j, G: float[j - i, A]);
        both are reused buffers that the caller may overwrite. pi_theta and G share
        one buffer (the loss gradient is taken before G overwrites pi).

        ``log_pi``: the rows are log-normalised (``sgd_step`` keeps them so; their
        lse is 0), hence pi_theta = exp(x) with no subtraction.
        """
        rows, ws = states.rows, self.ws
        R = rows.size
        loss = loss if upd.weight is not None else None
        for i in range(0, R, self.chunk):
            j = min(i + self.chunk, R)
            x = ws.get("chunk", (j - i, self.A))
            np.take(states._flat, rows[i:j], axis=0, out=x, mode="clip")
            G = ws.get("G", x.shape)
            lse = np.zeros(j - i) if log_pi else states._lse[i:j]
            pi = grad = None
            if upd.coef is not None or loss is not None:
                pi = np.exp(x, out=G) if log_pi else np.exp(np.subtract(x, lse[:, None], out=G), out=G)
            if loss is not None:
                grad = loss(states.chunk(i, j, x, pi, lse))[1][0]
                if np.may_share_memory(grad, G):  # G is about to overwrite pi
                    grad = grad.copy()
            yield i, j, x, upd.block(i, j, G, pi, grad)

    def assemble(self, states, upd, G_flat, loss):
        for i, j, _, G_rows in self.chunks(states, upd, loss):
            G_flat[states.rows[i:j]] = G_rows

    def apply(self, flat, states, upd, loss, cache, optimiser):
        """``flat[rows] <- log_softmax(step(flat[rows], G))`` and the new row statistics, chunk by chunk.

        The rows are log-normalised on entry and stored so again, so neither the
        row maximum nor a shift before the exp is needed (:meth:`log_normalise`).
        On a non-finite result the rows already written stay written (the logits
        are then not to be used).
        """
        lse_all, table_all, bp_all = cache
        rows = states.rows
        R = rows.size
        lse, z = np.empty(R), np.empty(R)
        bsum = np.empty((R, self.blocks.start.size))
        for i, j, x, G in self.chunks(states, upd, loss, log_pi=True):
            optimiser.apply_rows(x, G, rows[i:j], flat.shape[0])
            lse[i:j], bsum[i:j], z[i:j] = self.log_normalise(x, out=G)
            flat[rows[i:j]] = x
        if not np.isfinite(lse).all():
            raise FloatingPointError("sgd_step produced non-finite logits (learning rate too large?)")
        lse_all[rows] = lse
        table_all[rows], bp_all[rows] = self.block_caches(rows, bsum, z)

    def log_normalise(self, x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shift logits rows float[R, A] in place to log-probabilities; ``out``: scratch float[R, A].

        The rows are near-normalised (log pi_theta minus one step), so the softmax
        is taken without subtracting the row maximum: ``e = exp(x)``. A normaliser
        ``z = sum(e)`` in [1e-200, 1e200] means no overflow, and every entry within
        a factor 1e-100 of the row's largest is a normal double (full precision);
        rows outside that range (a very large step) are redone with the maximum
        subtracted, as :meth:`row_stats` does.

        Returns (lse after the shift: float[R], 0 for finite rows, else nan or
        inf; unnormalised block masses float[R, n_blocks]; their sum z float[R]).
        """
        # rows that overflow or underflow are redone below; non-finite ones are reported by the caller
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            e = np.exp(x, out=out)
            bsum = np.add.reduceat(e, self.blocks.start, axis=1)
            z = bsum.sum(axis=1)
            shift = np.log(z)
            redo = np.flatnonzero(~((z >= 1e-200) & (z <= 1e200)))  # also nan
            if redo.size:
                shift[redo], bsum[redo], z[redo] = self.row_stats(x[redo])
            x -= shift[:, None]
        return np.where(np.isfinite(shift), 0.0, shift), bsum, z


def student_rows(mdps: TabularMDPs, control: Control, marginal: ControlMarginal, ws: Workspace) -> StudentRows:
    """GroupedRows when every MDP shares one outcome table with groups of identical
    actions (many no-ops), else DenseRows."""
    op = mdps.outcome_prob
    blocks = action_blocks(op[0, 0]) if op.shape[0] == 1 and op.shape[1] == 1 else None
    if blocks is None:
        return DenseRows(mdps, control, marginal, ws)
    return GroupedRows(mdps, control, marginal, ws, blocks)

