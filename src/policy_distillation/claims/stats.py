"""Statistics of the claims: ratios, geometric means, rank correlations, windows, confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..results import Z95


def ratio(num: float, den: float) -> float:
    if den == 0:
        return math.inf if num > 0 else math.nan
    return float(num / den)


def geomean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(x), axis=axis))


def spearman(x, y) -> float:
    rx = pd.Series(np.asarray(x, dtype=np.float64)).rank().to_numpy()
    ry = pd.Series(np.asarray(y, dtype=np.float64)).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def window_range(steps: np.ndarray, x: np.ndarray, window: tuple[float, float]) -> float:
    lo, hi = steps[0] + np.asarray(window) * (steps[-1] - steps[0])
    inside = (steps >= lo) & (steps <= hi)
    if inside.sum() < 2:
        raise ValueError(f"fewer than two checkpoints in the window {window} of the run")
    return float(x[inside].max() - x[inside].min())


def mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    half = Z95 * float(x.std(ddof=1)) / math.sqrt(x.size) if x.size > 1 else 0.0
    return m, m - half, m + half


def steps_ratio(slow: float, fast: float, last: float) -> tuple[float, bool]:
    """(slow / fast, is a lower bound) for steps to a target; ``inf`` = never reached by ``last``.

    A slow method that never reaches gives the lower bound ``last / fast``; a fast
    method that never reaches gives NaN (no speed to compare).
    """
    if math.isinf(fast):
        return math.nan, False
    if math.isinf(slow):
        return float(last / fast), True
    return float(slow / fast), False
