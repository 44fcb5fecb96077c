"""Tidy result tables: per-run learning curves -> means and standard errors
over MDPs, per-MDP summaries, areas under curves and crossing steps.

A *run* is a dict of arrays as written by the workflow (one shard of one
setting): ``steps[C]``, per-MDP curves ``returns[C, B]``, ``kl_teacher[C, B]``,
``kl_student[C, B]``, ``kl_uniform[C, B]``, ``teacher_return[B]``, ``mdp[B]``
(global MDP ids), optional ``teacher_entropy[B]``, and ``labels`` (a dict of
setting names, e.g. ``{"figure": "fig3", "tau": "0.1", "method": ...}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .files import save_npz

CURVE_METRICS = {"returns": "return", "kl_teacher": "kl_teacher", "kl_student": "kl_student",
                 "kl_uniform": "kl_uniform"}
REFERENCE_RETURNS = ("teacher_return", "noisy_teacher_return")  # constant per-MDP references
Z95 = 1.96  # normal 95% band of a mean over MDPs: the figures' bands and the claims' confidence intervals
REACH_FRACTION = 0.95  # "recovers the teacher's return" = mean curve reaches 95% of the teacher's mean return


def save_run(path: str | Path, run: dict) -> None:
    """Write a run (arrays + labels) to ``.npz`` (byte-identical for equal runs: ``files.save_npz``)."""
    arrays = {k: np.asarray(v) for k, v in run.items() if k != "labels"}
    arrays["labels"] = np.array(json.dumps(run["labels"], sort_keys=True))
    save_npz(path, arrays)


def load_run(path: str | Path) -> dict:
    """Read a run written by :func:`save_run`."""
    with np.load(path) as z:
        run = {k: z[k] for k in z.files if k != "labels"}
        run["labels"] = json.loads(str(z["labels"]))
    return run


def concat_shards(runs: list[dict]) -> list[dict]:
    """Merge shards of the same setting (same labels) along the MDP axis."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r["labels"], sort_keys=True), []).append(r)
    merged = []
    for key, parts in groups.items():
        parts = sorted(parts, key=lambda r: int(np.min(r["mdp"])))
        steps = parts[0]["steps"]
        for p in parts[1:]:
            if not np.array_equal(p["steps"], steps):
                raise ValueError(f"shards of {key} disagree on checkpoint steps")
        out = {"labels": parts[0]["labels"], "steps": steps}
        for k in parts[0]:
            if k in ("labels", "steps"):
                continue
            axis = 1 if np.ndim(parts[0][k]) == 2 else 0
            out[k] = np.concatenate([p[k] for p in parts], axis=axis)
        merged.append(out)
    return merged


def _mean_se(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, int]:
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    se = x.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se, n


def curves_table(runs: list[dict]) -> pd.DataFrame:
    """Mean and standard error over MDPs per (setting, step, metric).

    Returns a long table with the label columns, ``step``, ``metric``
    (return, kl_teacher, kl_student, kl_uniform, teacher_return), ``mean``, ``se``, ``n``.
    """
    frames = []
    for r in concat_shards(runs):
        steps = np.asarray(r["steps"])
        for key, metric in CURVE_METRICS.items():
            if key not in r:
                continue
            mean, se, n = _mean_se(np.asarray(r[key], dtype=np.float64), axis=1)
            frames.append(pd.DataFrame({**r["labels"], "step": steps, "metric": metric, "mean": mean, "se": se,
                                        "n": n}))
        for key in REFERENCE_RETURNS:
            if key in r:
                mean, se, n = _mean_se(np.asarray(r[key], dtype=np.float64)[None].repeat(len(steps), 0), axis=1)
                frames.append(pd.DataFrame({**r["labels"], "step": steps, "metric": key, "mean": mean, "se": se,
                                            "n": n}))
    if not frames:
        raise ValueError("no runs to aggregate")
    return pd.concat(frames, ignore_index=True)


def area_under(steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Trapezoid area under curves sampled at ``steps``. values: float[C, ...] -> float[...]."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != steps.shape[0]:
        raise ValueError(f"values must have {steps.shape[0]} checkpoints, got {values.shape[0]}")
    if steps.shape[0] < 2:
        raise ValueError("need at least two checkpoints for an area")
    w = np.diff(steps)
    return np.tensordot(w, 0.5 * (values[1:] + values[:-1]), axes=(0, 0))


def per_mdp_table(runs: list[dict]) -> pd.DataFrame:
    """One row per (setting, MDP): final values and areas under each curve.

    Areas: ``auc_regret`` = area under (teacher_return - return) (smaller is
    faster), ``auc_<kl>`` = area under each KL curve.
    """
    frames = []
    for r in concat_shards(runs):
        steps = np.asarray(r["steps"])
        row = {"mdp": np.asarray(r["mdp"])}
        for key in REFERENCE_RETURNS:
            if key in r:
                row[key] = r[key]
        if "teacher_entropy" in r:
            row["teacher_entropy"] = r["teacher_entropy"]
        for key, metric in CURVE_METRICS.items():
            if key in r:
                vals = np.asarray(r[key], dtype=np.float64)
                row[f"final_{metric}"] = vals[-1]
                if metric != "return":
                    row[f"auc_{metric}"] = area_under(steps, vals)
        if "returns" in r and "teacher_return" in r:
            # regret clipped at 0: a student that overtakes the teacher is not "faster" for it
            regret = np.maximum(np.asarray(r["teacher_return"])[None] - np.asarray(r["returns"]), 0.0)
            row["auc_regret"] = area_under(steps, regret)
        df = pd.DataFrame(row)
        for k, v in r["labels"].items():
            df.insert(0, k, v)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def first_crossing(steps: np.ndarray, values: np.ndarray, target: float) -> float:
    """First step at which a curve reaches ``target`` (linear interpolation
    between checkpoints); ``inf`` if it never does."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    hit = np.nonzero(values >= target)[0]
    if hit.size == 0:
        return float("inf")
    i = int(hit[0])
    if i == 0:
        return float(steps[0])
    v0, v1 = values[i - 1], values[i]
    return float(steps[i - 1] + (target - v0) / (v1 - v0) * (steps[i] - steps[i - 1]))


def speedup_table(per_mdp: pd.DataFrame, setting: str = "tau", student: str = "on_policy_distill",
                  teacher: str = "teacher_distill") -> pd.DataFrame:
    """Figure 3 (right): student-driven speed-up per teacher setting.

    speedup = mean area (teacher-driven) / mean area (student-driven) for the
    return regret and each KL; > 1 favours student-driven distillation.
    """
    rows = []
    for key, g in per_mdp.groupby(setting, sort=False):
        s = g[g["method"] == student]
        t = g[g["method"] == teacher]
        if s.empty or t.empty:
            raise ValueError(f"{setting}={key}: need both {student} and {teacher} runs")
        ent = float(g["teacher_entropy"].mean()) if "teacher_entropy" in g else float("nan")
        for crit, col in (("return", "auc_regret"), ("kl_student", "auc_kl_student"),
                          ("kl_uniform", "auc_kl_uniform"), ("kl_teacher", "auc_kl_teacher")):
            if col in g:
                rows.append({setting: key, "teacher": f"tau={key}", "teacher_entropy": ent, "criterion": crit,
                             "speedup": float(t[col].mean() / s[col].mean())})
    return pd.DataFrame(rows)


FLAT_WINDOW = 0.25  # the last quarter of the run
FLAT_TOLERANCE = 0.02  # "flattened": the mean return moved by less than 2% of the teacher's return there


def flatness(curves: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Has every mean return curve flattened by the end of its run?

    Args:
      curves: a ``curves_table`` (label columns, step, metric, mean).
      labels: the label columns that tell curves apart (e.g. ["actions", "method"]).
    Returns:
      one row per curve: the labels, ``change`` = (mean return at the last step -
      at the first checkpoint of the last ``FLAT_WINDOW`` of the run) / the teacher's
      mean return, and ``flat`` = |change| < ``FLAT_TOLERANCE``.
    """
    ret = curves[curves["metric"] == "return"]
    teach = curves[curves["metric"] == "teacher_return"]
    rows = []
    for key, g in ret.groupby(labels, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        g = g.sort_values("step")
        steps = g["step"].to_numpy(dtype=np.float64)
        start = steps[0] + (1.0 - FLAT_WINDOW) * (steps[-1] - steps[0])
        i = int(np.searchsorted(steps, start))
        t = teach
        for col, v in zip(labels, key):
            t = t[t[col] == v]
        ref = float(t["mean"].mean()) if not t.empty else float("nan")
        change = (g["mean"].iloc[-1] - g["mean"].iloc[i]) / abs(ref)
        rows.append({**dict(zip(labels, key)), "change": float(change), "flat": bool(abs(change) < FLAT_TOLERANCE)})
    return pd.DataFrame(rows)


def flatness_text(tables: dict[str, tuple[pd.DataFrame, list[str]]]) -> str:
    """Markdown: per figure, how many curves flattened and which did not (with their change)."""
    lines = [f"Curves flattened by the end of the run (mean return moved < {FLAT_TOLERANCE:.0%} of the teacher's "
             f"return over the last {FLAT_WINDOW:.0%} of the steps):", ""]
    for name, (curves, labels) in tables.items():
        f = flatness(curves, labels)
        moving = f[~f["flat"]]
        line = f"- {name}: {int(f['flat'].sum())} of {len(f)} curves flat"
        if not moving.empty:
            line += "; still moving: " + ", ".join(
                " ".join(str(r[c]) for c in labels) + f" ({r['change']:+.1%})" for _, r in moving.iterrows())
        lines.append(line)
    return "\n".join(lines) + "\n"
