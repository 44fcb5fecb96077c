"""The llm figure: the language-model on-policy distillation estimators in Figure 4's setting.

Like every plotting function it takes a tidy curve table (``results.curves_table``
of the ``llm`` jobs: label columns ``actions`` and ``method``, then ``step``,
``metric``, ``mean``, ``se``, ``n``) and returns a matplotlib Figure; it never
computes results or writes files. Rows: the student's return (the teacher's
return as a wide grey line) and E_student[sum_t KL(pi(s_t) || pi_theta(s_t))]
(``kl_student``, logarithmic axis); columns: |A|. The paper's methods are drawn
in black with dashes, the language-model entries (``llm_methods.ENTRIES``) in
colour. Bands are ``mean +- 1.96 se`` over MDPs.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .llm_methods import ENTRIES  # noqa: E402
from .plotting import METRIC_LABELS, _ordered, _reference, _require, figure_legend  # noqa: E402
from .results import Z95  # noqa: E402

ROWS = ("return", "kl_student")
PAPER_DASHES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))  # the paper's methods, in black


def line_styles(methods: Sequence[str], entries: Sequence[str] = ENTRIES) -> dict[str, tuple]:
    """method -> (colour, line style): entries in tab10 colours, solid; other methods black, dashed."""
    colours = sns.color_palette("tab10", n_colors=10)
    out, i, j = {}, 0, 0
    for m in methods:
        if m in entries:
            out[m] = (colours[i % len(colours)], "-")
            i += 1
        else:
            out[m] = ("black", PAPER_DASHES[j % len(PAPER_DASHES)])
            j += 1
    return out


def figure_llm(curves: pd.DataFrame, note: str | None = None, entries: Sequence[str] = ENTRIES) -> plt.Figure:
    """Return and KL under the student against steps, one column per |A|, one line per method.

    Args:
      curves: the llm curve table (columns actions, method, step, metric, mean, se; metrics return,
        kl_student and teacher_return at least).
      note: a line printed under the figure (the workflow states the profile and scale there).
      entries: the language-model entries (drawn in colour; the other methods in black).
    """
    _require(curves, ["actions", "method", "step", "metric", "mean", "se"])
    missing = [m for m in ROWS if m not in set(curves["metric"])]
    if missing:
        raise ValueError(f"llm curves lack the metrics {missing}")
    sns.set_theme(style="whitegrid", context="paper")
    actions = sorted(int(a) for a in curves["actions"].unique())
    methods = _ordered(curves["method"], [m for m in pd.unique(curves["method"]) if m not in entries])
    styles = line_styles(methods, entries)
    ref = _reference(curves, ["actions"])
    fig, axes = plt.subplots(len(ROWS), len(actions), figsize=(3.2 * len(actions) + 2.6, 2.6 * len(ROWS) + 0.4),
                             squeeze=False, sharex=True)
    for i, metric in enumerate(ROWS):
        for j, a in enumerate(actions):
            ax = axes[i, j]
            if metric == "return" and j:
                ax.sharey(axes[i, 0])  # returns share one scale (as Figure 4); KL grows with |A|
            sub = curves[(curves["metric"] == metric) & (curves["actions"].astype(int) == a)]
            for m in methods:
                line = sub[sub["method"] == m].sort_values("step")
                if line.empty:
                    continue
                colour, ls = styles[m]
                ax.plot(line["step"], line["mean"], color=colour, ls=ls, lw=1.3, label=m)
                ax.fill_between(line["step"], line["mean"] - Z95 * line["se"], line["mean"] + Z95 * line["se"],
                                color=colour, alpha=0.15, lw=0)
            if metric == "return":
                for value in ref.loc[ref["actions"].astype(int) == a, "value"]:
                    ax.axhline(value, color="0.8", ls="-", lw=3.0, zorder=0, label="teacher")
                ax.set_title(f"|A| = {a}", fontsize=8)
            else:
                ax.set_yscale("log")  # KL spans decades across methods, steps and |A| (and stays positive)
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
            if i == len(ROWS) - 1:
                ax.set_xlabel("optimisation steps")
            if j == 0:
                ax.set_ylabel(METRIC_LABELS[metric])
    figure_legend(fig, axes, fontsize=7)
    fig.tight_layout()
    if note:
        fig.text(0.5, 0.0, note, ha="center", va="top", fontsize=6, wrap=True)
    return fig
