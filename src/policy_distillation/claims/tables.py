"""Access to the tidy result tables, with errors that name what is missing.

Tables (columns):
  - fig2 trajectories: method, step, p, q.
  - figN curves: label columns (fig3: tau, method; fig4: actions, method;
    fig5: method; fig6: T, teacher, method), step, metric in {return,
    kl_teacher, kl_student, kl_uniform, teacher_return}, mean, se, n.
  - figN per-MDP: label columns, mdp, teacher_return, final_return,
    final_kl_*, auc_kl_*, auc_regret, teacher_entropy (fig3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def need_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def matches(col: pd.Series, value) -> np.ndarray:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return np.isclose(pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64), float(value))
    return (col.astype(str) == str(value)).to_numpy()


def select(df: pd.DataFrame, what: str, **labels) -> pd.DataFrame:
    """Rows with the given label values; ValueError naming the setting if none."""
    need_columns(df, list(labels), what)
    mask = np.ones(len(df), dtype=bool)
    for k, v in labels.items():
        mask &= matches(df[k], v)
    out = df[mask]
    if out.empty:
        raise ValueError(f"{what}: no rows for {labels}")
    return out


def require_methods(df: pd.DataFrame, methods, what: str) -> None:
    need_columns(df, ["method"], what)
    missing = [m for m in methods if m not in set(df["method"].astype(str))]
    if missing:
        raise ValueError(f"{what}: missing methods {missing}")


def curve(curves: pd.DataFrame, what: str, metric: str, **labels) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean) of one learning curve, sorted by step."""
    rows = select(curves, what, metric=metric, **labels).sort_values("step")
    steps = rows["step"].to_numpy(dtype=np.float64)
    if np.unique(steps).size != steps.size:
        raise ValueError(f"{what}: several {metric} curves match {labels}; give every label column")
    return steps, rows["mean"].to_numpy(dtype=np.float64)


def paired(per_mdp: pd.DataFrame, methods, column: str, what: str) -> np.ndarray:
    """float[n_mdps, len(methods)]: ``column`` of each method, rows aligned by MDP id."""
    wide = per_mdp.pivot_table(index="mdp", columns="method", values=column, aggfunc="first")
    wide = wide.reindex(columns=list(methods))
    if wide.isna().any().any():
        raise ValueError(f"{what}: {column} is not available for every method on the same MDPs (unpaired)")
    return wide.to_numpy(dtype=np.float64)


def steps_text(x: float, last: float) -> int | str:
    return f"> {last:g}" if math.isinf(x) else int(round(x))
