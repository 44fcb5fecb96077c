"""The visited rows as a ``states.StateBatch``, and the buffers per-step arrays live in.

Method parts (``terms``) are evaluated only at the rows a step visited: a
:class:`RowStates` is a batch of one MDP with R states whose arrays are
gathered from the flat tables on first use. Every part's value at a state
depends only on that state's inputs (teacher and student rows, critic
values), which holds for the whole registry (tested), so this equals the full
evaluation at those rows.

Array letters: ``B`` MDPs, ``S`` states, ``R`` visited rows, ``A`` actions, ``M`` entries.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from ..policies import safe_log
from ..states import StateBatch


class Workspace:
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


class TeacherTables:
    """The teacher as flat tables: pi float[B * S, A], its floored log (computed once, on first use)
    and its critic float[B * S] (or None)."""

    def __init__(self, pi: np.ndarray, value: np.ndarray | None, log_pi: np.ndarray | None = None):
        self.pi = pi.reshape(-1, pi.shape[-1])
        self.value = None if value is None else value.reshape(-1)
        if log_pi is not None:  # a caller's copy of safe_log(pi): one [B, S, A] table per job, not two
            if log_pi.size != self.pi.size:
                raise ValueError(f"teacher log_pi must have the teacher's shape, got {log_pi.shape}")
            self.__dict__["log_pi"] = log_pi.reshape(self.pi.shape)

    @cached_property
    def log_pi(self) -> np.ndarray:
        return safe_log(self.pi)


class RowStates(StateBatch):
    """The visited rows ``rows`` (flat ``b * S + s``) as a batch of one MDP with R states.

    Args:
      teacher: the teacher's flat tables.
      rows: int[R] visited flat rows.
      logits_flat: float[B * S, A] the student's logits (read, not copied).
      lse_rows: float[R] their log-sum-exp at the rows.
      student_value: float[B * S] critic V_theta (flat), or None.
      workspace: buffers for the gathered rows; tag: buffer-name suffix (a chunk's
        bundle must not share its parent's buffers).
    """

    def __init__(self, teacher: TeacherTables, rows: np.ndarray, logits_flat: np.ndarray, lse_rows: np.ndarray,
                 student_value: np.ndarray | None, workspace: Workspace, tag: str = ""):
        self._teacher, self.rows, self._flat, self._lse = teacher, rows, logits_flat, lse_rows
        self._ws, self._tag = workspace, tag
        self.shape = (1, rows.size, logits_flat.shape[1])
        self.teacher_value = None if teacher.value is None else teacher.value[rows][None]
        self.student_value = None if student_value is None else student_value[rows][None]

    def chunk(self, i: int, j: int, logits: np.ndarray, pi: np.ndarray, lse: np.ndarray) -> "RowStates":
        """The bundle of rows ``i:j`` of this one, given their logits, student policy
        float[j - i, A] and the logits' log-sum-exp float[j - i] (already computed by
        the caller; not copied)."""
        c = RowStates.__new__(RowStates)
        c._teacher, c.rows, c._flat, c._lse = self._teacher, self.rows[i:j], self._flat, lse
        c._ws, c._tag = self._ws, "/chunk"
        c.shape = (1, j - i, self.shape[2])
        c.teacher_value = None if self.teacher_value is None else self.teacher_value[:, i:j]
        c.student_value = None if self.student_value is None else self.student_value[:, i:j]
        c.__dict__["student_logits"], c.__dict__["student_pi"] = logits[None], pi[None]  # fill the cached properties
        return c

    @cached_property
    def teacher_pi(self) -> np.ndarray:
        return self._ws.take("teacher_pi" + self._tag, self._teacher.pi, self.rows)[None]

    @cached_property
    def teacher_log_pi(self) -> np.ndarray:
        return self._ws.take("teacher_log_pi" + self._tag, self._teacher.log_pi, self.rows)[None]

    @cached_property
    def student_logits(self) -> np.ndarray:
        return self._ws.take("logits" + self._tag, self._flat, self.rows)[None]

    @cached_property
    def student_log_pi(self) -> np.ndarray:
        return self.student_logits - self._lse[None, :, None]

    @cached_property
    def student_pi(self) -> np.ndarray:
        if "student_log_pi" in self.__dict__:
            return np.exp(self.student_log_pi)
        pi = self._ws.get("student_pi" + self._tag, self.student_logits.shape)
        np.subtract(self.student_logits, self._lse[None, :, None], out=pi)
        return np.exp(pi, out=pi)

    def teacher_log_at(self, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        # the fixed table, entry by entry: no A-wide rows are gathered
        return self._teacher.log_pi[self.rows[rows], actions]

    def student_log_at(self, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return self._flat[self.rows[rows], actions] - self._lse[rows]
