"""The regime atlas picture: one panel per claim, world families x regimes, coloured by the verdict."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLOURS = {True: "#4daf4a", False: "#e41a1c", None: "#bdbdbd"}


def plot_atlas(table: pd.DataFrame, note: str = ""):
    """Figure: a panel per (claim, figure) of ``atlas.atlas_table``; rows = world families
    (eta, terminals), columns = regimes; green holds, red fails, grey not checkable; each
    square carries the claim's numbers."""
    if table.empty:
        raise ValueError("atlas: no results to plot")
    t = table.assign(family=[f"eta {e:g}, {m}" for e, m in zip(table["eta"], table["terminal_mode"])])
    panels = list(dict.fromkeys(zip(t["claim"], t["figure"])))
    regimes = list(dict.fromkeys(t["regime"]))
    families = list(dict.fromkeys(t["family"]))
    ncol = min(len(panels), 2)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.9 * len(regimes) * ncol + 1.5, 0.9 * len(families) * nrow + 1.6),
                             squeeze=False)
    for ax, (cid, figure) in zip(axes.flat, panels):
        g = t[(t["claim"] == cid) & (t["figure"] == figure)]
        for i, fam in enumerate(families):
            for j, r in enumerate(regimes):
                row = g[(g["family"] == fam) & (g["regime"] == r)]
                holds = None if row.empty or pd.isna(row["holds"].iloc[0]) else bool(row["holds"].iloc[0])
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=COLOURS[holds], ec="white", lw=2))
                text = "" if row.empty else str(row["numbers"].iloc[0]).replace(", ", "\n")
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6)
        ax.set_xlim(0, len(regimes))
        ax.set_ylim(len(families), 0)
        ax.set_xticks(np.arange(len(regimes)) + 0.5, regimes, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(np.arange(len(families)) + 0.5, families, fontsize=7)
        ax.set_title(f"Claim {cid} ({figure})", fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("Regime atlas: green = the claim holds, red = fails, grey = not checkable", fontsize=10)
    if note:
        fig.text(0.01, 0.005, note, fontsize=5, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    return fig
