"""The sampled update of Eq. (1) at the visited rows, in factors.

    G = 1/N sum_n sum_t [ grad l(s_t) - (e_{a_t} - pi_theta(s_t)) * W_t ],

with ``W_t = Rhat_t = sum_{i >= t} rhat_i`` (undiscounted return-to-go of the
pseudo-reward, :func:`return_to_go`) or, for methods with ``bootstrap``,
``W_t = rhat_t + V(s_{t+1})``, minus an optional state baseline b(s_t).
Summed per visited row, the score term is ``pi_theta(s) * sum_t W_t`` minus
``W_t`` at each taken action; :class:`RowUpdate` keeps G in these factors so
that large-|A| rows can be assembled one cache-sized chunk at a time.

Array letters: ``R`` visited rows, ``A`` actions, ``M`` recorded steps.
"""

from __future__ import annotations

import numpy as np

from . import kernels


def return_to_go(rhat: np.ndarray, traj: np.ndarray) -> np.ndarray:
    """Rhat_t = sum_{i >= t} rhat_i within each trajectory (Eq. (1)) -> float[M].

    Records are trajectory-major with time ascending (``traj``: int[M]
    non-decreasing). Each trajectory is summed on its own, right to left
    (``W_t = rhat_t + W_{t+1}``), so its values do not depend on the other
    trajectories of the batch (a cumulative sum over the whole batch would
    leave rounding that does).
    """
    return kernels.return_to_go(np.ascontiguousarray(rhat, dtype=np.float64), np.ascontiguousarray(traj))


class RowUpdate:
    """The update G at the R visited rows, kept in factors so that it can be
    assembled one block of rows at a time (``[R, A]`` never materialised twice):

        G = pi * coef[:, None]  + sparse (row, action, value) entries   (score term)
            + grad * weight                                            (per-step loss)

    ``pi`` and ``grad`` are either held whole (float[R, A]) or, when given as
    None, supplied per block by the caller (grouped MDPs, ``sampling.rows.GroupedRows.chunks``).
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
