"""The llm figure from its tidy table (no files, no computation)."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from policy_distillation import plotting_llm as PL
from policy_distillation.llm_methods import ENTRIES

METHODS = ["on_policy_distill", "expected_entropy_regularised", "token_reverse_kl", "onpolicy_jsd"]


def llm_curves(actions=(4, 64, 4096), methods=METHODS):
    rows = []
    for a in actions:
        for m in methods:
            for metric in ("return", "kl_student", "kl_teacher", "teacher_return"):
                for step in (0, 1, 10, 100):
                    rows.append({"actions": a, "method": m, "step": step, "metric": metric,
                                 "mean": float(step) / 100 + a, "se": 0.01, "n": 10})
    return pd.DataFrame(rows)


def test_one_column_per_action_count_rows_return_and_student_kl():
    fig = PL.figure_llm(llm_curves(), note="profile tiny llm: 4 worlds")
    axes = fig.axes
    assert len(axes) == 2 * 3
    assert [ax.get_title() for ax in axes[:3]] == ["|A| = 4", "|A| = 64", "|A| = 4096"]
    assert [axes[0].get_ylabel(), axes[3].get_ylabel()] == ["student return", "KL under student trajectories"]
    for ax in axes:  # one line per method (and the teacher's return on the top row), bands of 1.96 se
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels[: len(METHODS)] == METHODS
        assert ("teacher" in labels) == (ax in axes[:3])
        assert ax.get_xscale() == "symlog" and ax.get_xlim()[0] == 0
    top = axes[2].get_lines()[0].get_ydata()
    assert list(top) == [4096.0, 4096.01, 4096.1, 4097.0]  # |A| = 4096's own return curve
    # returns share a scale across |A| (as Figure 4); the KL panels keep their own
    assert axes[0].get_ylim() == axes[2].get_ylim() and axes[3].get_ylim() != axes[5].get_ylim()
    assert "profile tiny llm: 4 worlds" in [t.get_text() for t in fig.texts]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [*METHODS, "teacher"]
    plt.close(fig)


def test_entries_are_coloured_and_the_papers_methods_black():
    styles = PL.line_styles(METHODS + ["n_distill"])
    assert {m: styles[m][0] for m in ("on_policy_distill", "expected_entropy_regularised", "n_distill")} == {
        "on_policy_distill": "black", "expected_entropy_regularised": "black", "n_distill": "black"}
    assert len({styles[m][1] for m in ("on_policy_distill", "expected_entropy_regularised", "n_distill")}) == 3
    every = PL.line_styles(list(ENTRIES))
    assert len({every[m][0] for m in ENTRIES}) == len(ENTRIES) and {s for _, s in every.values()} == {"-"}


def test_kl_axes_are_logarithmic_and_bands_below_zero_are_drawn_without_warnings():
    curves = llm_curves(actions=(4,))
    curves.loc[curves["metric"] == "kl_student", ["mean", "se"]] = [0.01, 1.0]  # band reaches below zero
    fig = PL.figure_llm(curves)
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log"]
    fig.canvas.draw()
    plt.close(fig)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="missing columns"):
        PL.figure_llm(pd.DataFrame({"method": ["m"], "metric": ["return"]}))
    with pytest.raises(ValueError, match="kl_student"):
        PL.figure_llm(llm_curves().query("metric != 'kl_student'"))
