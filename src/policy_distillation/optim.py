"""Optimisers on the student logits: SGD, Adam and RMSProp.

An optimiser turns the update G of Eq. (1) (a descent direction) into a change
of the logits. The sampled estimator hands it only the visited rows of a step
(``apply_rows``), so moments are kept per row and updated *lazily*: a row's
moments change only in the steps that visit it (as sparse Adam does for
embedding tables; a dense Adam would touch all B * S * A logits every step).
The step count of the bias correction is the number of optimisation steps,
the same for every world (every world takes each step), so a world's path does
not depend on the rest of its batch. The exact estimator gives every row
(``apply_dense``).

SGD folds its learning rate into the update (``scale``), so that the sampled
estimator multiplies per-row coefficients rather than an ``[R, A]`` array.

Array letters: ``B`` MDPs, ``S`` states, ``R`` rows, ``A`` actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPTIMISERS = ("sgd", "adam", "rmsprop")


@dataclass
class SGD:
    """theta <- theta - lr * G."""

    lr: float

    def __post_init__(self) -> None:
        _check_lr(self.lr)

    @property
    def scale(self) -> float:
        """Factor the estimator applies to G before :meth:`apply_rows` (the learning rate)."""
        return self.lr

    def begin_step(self) -> None:
        """A new optimisation step starts."""

    def apply_rows(self, x: np.ndarray, G: np.ndarray, rows: np.ndarray, n_rows: int) -> None:
        """x <- x - G for logits rows x float[R, A] (in place); G was scaled by lr (``scale``);
        rows: int[R] flat ids of the rows among ``n_rows`` = B * S."""
        x -= G

    def apply_dense(self, logits: np.ndarray, G: np.ndarray) -> None:
        """logits <- logits - lr * G, every row (in place)."""
        logits -= self.lr * G


@dataclass
class Adam:
    """Adam (Kingma and Ba 2015) with lazy per-row moments (see the module docstring)."""

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    t: int = field(default=0, init=False)
    m: np.ndarray | None = field(default=None, init=False, repr=False)
    v: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"adam {name} must lie in [0, 1), got {getattr(self, name)}")
        if not self.eps > 0:
            raise ValueError(f"adam eps must be positive, got {self.eps}")

    scale = 1.0

    def begin_step(self) -> None:
        self.t += 1

    def _moments(self, n_rows: int, A: int) -> None:
        if self.m is None:
            self.m, self.v = np.zeros((n_rows, A)), np.zeros((n_rows, A))

    def _step(self, G: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
        m *= self.beta1
        m += (1.0 - self.beta1) * G
        v *= self.beta2
        v += (1.0 - self.beta2) * G * G
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.t) / (1.0 - self.beta1 ** self.t)
        eps_t = self.eps * np.sqrt(1.0 - self.beta2 ** self.t)
        return lr_t * m / (np.sqrt(v) + eps_t)

    def apply_rows(self, x, G, rows, n_rows):
        self._moments(n_rows, x.shape[1])
        m, v = self.m[rows], self.v[rows]
        x -= self._step(G, m, v)
        self.m[rows], self.v[rows] = m, v

    def apply_dense(self, logits, G):
        flat = logits.reshape(-1, logits.shape[-1])
        self._moments(*flat.shape)
        flat -= self._step(G.reshape(flat.shape), self.m, self.v)


@dataclass
class RMSProp:
    """RMSProp (Tieleman and Hinton 2012): theta <- theta - lr G / (sqrt(v) + eps), lazy per-row v."""

    lr: float
    rho: float = 0.99
    eps: float = 1e-8
    v: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"rmsprop rho must lie in [0, 1), got {self.rho}")
        if not self.eps > 0:
            raise ValueError(f"rmsprop eps must be positive, got {self.eps}")

    scale = 1.0

    def begin_step(self) -> None:
        """A new optimisation step starts."""

    def _step(self, G: np.ndarray, v: np.ndarray) -> np.ndarray:
        v *= self.rho
        v += (1.0 - self.rho) * G * G
        return self.lr * G / (np.sqrt(v) + self.eps)

    def apply_rows(self, x, G, rows, n_rows):
        if self.v is None:
            self.v = np.zeros((n_rows, x.shape[1]))
        v = self.v[rows]
        x -= self._step(G, v)
        self.v[rows] = v

    def apply_dense(self, logits, G):
        flat = logits.reshape(-1, logits.shape[-1])
        if self.v is None:
            self.v = np.zeros(flat.shape)
        flat -= self._step(G.reshape(flat.shape), self.v)


Optimiser = SGD | Adam | RMSProp


def _check_lr(lr: float) -> None:
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number, got {lr}")


def make_optimiser(spec: str | dict | Optimiser, lr: float | None = None) -> Optimiser:
    """A fresh optimiser: ``"sgd"``, ``{"kind": "adam", "beta1": ...}``, or an optimiser (copied).

    ``lr`` is the learning rate (required unless ``spec`` carries one).
    """
    if isinstance(spec, (SGD, Adam, RMSProp)):
        kw = {k: getattr(spec, k) for k in spec.__dataclass_fields__ if spec.__dataclass_fields__[k].init}
        return type(spec)(**kw)
    kw = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = kw.pop("kind", None)
    if lr is not None:
        kw["lr"] = lr
    if "lr" not in kw:
        raise ValueError("an optimiser needs a learning rate (lr)")
    cls = {"sgd": SGD, "adam": Adam, "rmsprop": RMSProp}.get(kind)
    if cls is None:
        raise ValueError(f"optimiser kind must be one of {OPTIMISERS}, got {kind!r}")
    try:
        return cls(**kw)
    except TypeError as err:
        raise ValueError(f"bad settings for the {kind} optimiser: {err}") from err
