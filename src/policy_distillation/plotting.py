"""Figures from tidy tables. Every function takes a pandas DataFrame and
returns a matplotlib Figure; none computes results or writes files.

Curve tables have one row per (setting..., step, metric) with columns
``mean``, ``se`` (standard error over MDPs) and ``n`` (number of MDPs). Bands
are ``mean +- 1.96 se`` (the paper's 0.95 confidence intervals).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .results import Z95  # noqa: E402

METRIC_LABELS = {
    "return": "student return",
    "kl_teacher": "KL under teacher trajectories",
    "kl_student": "KL under student trajectories",
    "kl_uniform": "KL under uniform trajectories",
}


def _drop_empty_separator(title: str, sep: str = " | ") -> str:
    """"row | col" titles without the separator of an empty part (labels may start with "|", e.g. "|A| = 4")."""
    if title.startswith(sep):
        title = title[len(sep):]
    if title.endswith(sep):
        title = title[: -len(sep)]
    return title


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table is missing columns {missing}; has {list(df.columns)}")
    if df.empty:
        raise ValueError("table is empty: nothing to plot")


def _ordered(values, order=None):
    present = list(pd.unique(values))
    if order is None:
        return present
    return [v for v in order if v in present] + [v for v in present if v not in order]


def curve_grid(
    df: pd.DataFrame,
    hue: str,
    row: str | None = None,
    col: str | None = None,
    x: str = "step",
    hue_order=None,
    row_order=None,
    col_order=None,
    sharey: str | bool = "col",
    xlabel: str = "optimisation steps",
    ylabel=None,
    title_fmt: str = "{row} | {col}",
    height: float = 2.4,
    reference: pd.DataFrame | None = None,
    xscale: str = "symlog",
) -> plt.Figure:
    """Grid of learning curves with 1.96-standard-error bands.

    Args:
      df: curve table with columns x, mean, se, hue and optional row/col.
      reference: optional table with columns (row/col keys..., value, label)
        drawn as dashed horizontal lines (e.g. the teacher's return).
      xscale: "symlog" (default: linear below 1 step, logarithmic above, so the
        first steps, where distillation moves fastest, stay visible) or "linear".
    """
    _require(df, [x, "mean", "se", hue] + [c for c in (row, col) if c])
    sns.set_theme(style="whitegrid", context="paper")
    rows = _ordered(df[row], row_order) if row else [None]
    cols = _ordered(df[col], col_order) if col else [None]
    hues = _ordered(df[hue], hue_order)
    palette = dict(zip(hues, sns.color_palette("tab10", n_colors=max(len(hues), 3))))
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(height * 1.35 * len(cols) + 1.6, height * len(rows) + 0.4),
        squeeze=False, sharex=True, sharey=sharey,
    )
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            ax = axes[i, j]
            sub = df
            if row:
                sub = sub[sub[row] == rv]
            if col:
                sub = sub[sub[col] == cv]
            for h in hues:
                line = sub[sub[hue] == h].sort_values(x)
                if line.empty:
                    continue
                ax.plot(line[x], line["mean"], color=palette[h], label=str(h), lw=1.4)
                ax.fill_between(
                    line[x], line["mean"] - Z95 * line["se"], line["mean"] + Z95 * line["se"],
                    color=palette[h], alpha=0.2, lw=0,
                )
            if reference is not None:
                ref = reference
                if row and row in ref.columns:
                    ref = ref[ref[row] == rv]
                if col and col in ref.columns:
                    ref = ref[ref[col] == cv]
                for _, rr in ref.iterrows():
                    ls = "--" if rr.get("label", "teacher") == "teacher" else ":"
                    ax.axhline(rr["value"], color="k", ls=ls, lw=0.9, label=rr.get("label", "reference"))
            if xscale == "symlog":
                ax.set_xscale("symlog", linthresh=1.0)
                ax.set_xlim(left=0)  # steps are >= 0; autoscaling would show an empty negative range
            parts = {"row": rv if row else "", "col": METRIC_LABELS.get(cv, cv) if col else ""}
            title = _drop_empty_separator(title_fmt.format(**parts))
            ax.set_title(title, fontsize=8)
            if i == len(rows) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                auto = METRIC_LABELS.get(cv, "") if ylabel is None else ""
                ax.set_ylabel(ylabel if isinstance(ylabel, str) else auto)
    figure_legend(fig, axes, fontsize=8)
    fig.tight_layout()
    return fig


def figure_legend(fig: plt.Figure, axes, fontsize: float) -> None:
    """One legend right of the panels: every label once, in the order the panels first show it."""
    handles, labels = [], []
    for ax in axes.flat:
        for hnd, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(hnd)
                labels.append(lab)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=fontsize, frameon=False)


def figure2(traj: pd.DataFrame) -> plt.Figure:
    """Figure 2: policy trajectories on the counterexample.

    Args:
      traj: columns method, step, p, q (p = pi_theta(L | s0), q = pi_theta(R | s_L or s_R)).
    """
    _require(traj, ["method", "step", "p", "q"])
    sns.set_theme(style="whitegrid", context="paper")
    methods = list(pd.unique(traj["method"]))
    fig, axes = plt.subplots(2, len(methods), figsize=(3.4 * len(methods), 6.0), squeeze=False)
    for j, m in enumerate(methods):
        t = traj[traj["method"] == m].sort_values("step")
        ax = axes[0, j]
        ax.plot(t["step"], t["p"], label="p = pi(L | s0)")
        ax.plot(t["step"], t["q"], label="q = pi(R | s_L, s_R)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("gradient steps")
        ax.legend(fontsize=7)
        ax = axes[1, j]
        sc = ax.scatter(t["p"], t["q"], c=t["step"], s=3, cmap="viridis")
        ax.plot(t["p"].iloc[0], t["q"].iloc[0], "k*", ms=8, label="start")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("p")
        ax.set_ylabel("q")
        ax.legend(fontsize=7)
        fig.colorbar(sc, ax=ax, label="step")
    fig.tight_layout()
    return fig


def speedup_scatter(df: pd.DataFrame) -> plt.Figure:
    """Figure 3 (right): student-driven speed-up against teacher determinism.

    Args:
      df: columns teacher, teacher_entropy, criterion, speedup (ratio of areas
        under the curves, student-driven vs teacher-driven; > 1 favours student).
    """
    _require(df, ["teacher", "teacher_entropy", "criterion", "speedup"])
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(4.4, 3.2))
    sns.lineplot(data=df.sort_values("teacher_entropy"), x="teacher_entropy", y="speedup", hue="criterion",
                 marker="o", ax=ax)
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("teacher entropy (nats, under its own visitation)")
    ax.set_ylabel("student-driven speed-up (AUC ratio)")
    ax.set_yscale("log")
    fig.tight_layout()
    return fig


def _reference(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Teacher-return reference lines (mean over MDPs) per setting."""
    refs = []
    for metric, label in (("teacher_return", "teacher"), ("noisy_teacher_return", "noisy teacher")):
        t = df[df["metric"] == metric]
        if t.empty:
            continue
        ref = t.groupby(keys, sort=False)["mean"].first().reset_index().rename(columns={"mean": "value"})
        ref["label"] = label
        refs.append(ref)
    if not refs:
        return pd.DataFrame(columns=keys + ["value", "label"])
    return pd.concat(refs, ignore_index=True)


def figure3_left(curves: pd.DataFrame) -> plt.Figure:
    """Figure 3 (left): rows = teacher temperature, columns = KL under z and return, colours = control."""
    _require(curves, ["tau", "method", "metric"])
    df = curves[curves["metric"] != "teacher_return"].copy()
    df["tau"] = "tau = " + df["tau"].astype(str)
    ref = _reference(curves.assign(tau="tau = " + curves["tau"].astype(str)), ["tau"]).assign(metric="return")
    return curve_grid(df, hue="method", row="tau", col="metric", sharey=False,
                      col_order=["kl_teacher", "kl_student", "kl_uniform", "return"], reference=ref,
                      ylabel=False,
                      hue_order=["teacher_distill", "on_policy_distill", "uniform_distill", "mixture_distill"])


def figure3_right(speedup: pd.DataFrame) -> plt.Figure:
    """Figure 3 (right)."""
    return speedup_scatter(speedup)


def figure4(curves: pd.DataFrame) -> plt.Figure:
    """Figure 4: return curves per |A| (columns), colours = method."""
    _require(curves, ["actions", "method", "metric"])
    df = curves[curves["metric"] == "return"].copy()
    df["actions"] = "|A| = " + df["actions"].astype(str)
    order = [f"|A| = {a}" for a in sorted(curves["actions"].unique())]
    ref = _reference(curves.assign(actions="|A| = " + curves["actions"].astype(str)), ["actions"])
    return curve_grid(df, hue="method", col="actions", col_order=order, sharey=True, ylabel="student return",
                      reference=ref, title_fmt="{col}")


def figure5(curves: pd.DataFrame) -> plt.Figure:
    """Figure 5: return curves of every method distilling the noisy teacher."""
    _require(curves, ["method", "metric"])
    df = curves[curves["metric"] == "return"].copy()
    df["panel"] = "noisy Q-learning teacher"
    ref = _reference(curves.assign(panel="noisy Q-learning teacher"), ["panel"])
    return curve_grid(df, hue="method", col="panel", ylabel="student return", reference=ref, height=3.6,
                      title_fmt="{col}")


def figure6(curves: pd.DataFrame, T: int) -> plt.Figure:
    """Figure 6: chain of half-length T, optimal vs adversarial teacher (columns)."""
    _require(curves, ["T", "teacher", "method", "metric"])
    df = curves[(curves["metric"] == "return") & (curves["T"].astype(int) == int(T))]
    if df.empty:
        raise ValueError(f"no chain results for T = {T}")
    return curve_grid(df, hue="method", col="teacher", col_order=["optimal", "adversarial"], ylabel="return",
                      title_fmt="{col} teacher", xlabel="gradient steps", height=3.0)


def figure9(curves: pd.DataFrame) -> plt.Figure:
    """Appendix Figure 9: the chain for every T (rows) and both teachers (columns)."""
    _require(curves, ["T", "teacher", "method", "metric"])
    df = curves[curves["metric"] == "return"].copy()
    df["T"] = "T = " + df["T"].astype(int).astype(str)
    rows = [f"T = {t}" for t in sorted(curves["T"].astype(int).unique())]
    return curve_grid(df, hue="method", row="T", col="teacher", row_order=rows, col_order=["optimal", "adversarial"],
                      ylabel="return", xlabel="gradient steps", sharey=True)


def render(name: str, table: pd.DataFrame, main_T: int = 5, note: str | None = None) -> plt.Figure:
    """The figure ``name`` (fig2, fig3_left, fig3_right, fig4, fig5, fig6, fig9) from its table.

    ``note``: a line printed under the figure (the workflow states the profile and scale there).
    """
    plotters = {
        "fig2": figure2, "fig3_left": figure3_left, "fig3_right": figure3_right, "fig4": figure4,
        "fig5": figure5, "fig9": figure9,
    }
    if name == "fig6":
        fig = figure6(table, main_T)
    elif name in plotters:
        fig = plotters[name](table)
    else:
        raise ValueError(f"unknown figure {name!r}; known: {sorted(plotters) + ['fig6']}")
    if note:
        fig.text(0.5, 0.0, note, ha="center", va="top", fontsize=6, wrap=True)
    return fig
