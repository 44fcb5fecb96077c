"""Plotting takes tidy tables and returns figures (no files, no computation)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from policy_distillation import plotting as P


def curves(labels: dict[str, list], metrics=("return", "teacher_return")):
    rows = []
    keys = list(labels)
    for combo in np.array(np.meshgrid(*labels.values(), indexing="ij"), dtype=object).reshape(len(keys), -1).T:
        for metric in metrics:
            for step in (0, 1, 10, 100):
                rows.append({**dict(zip(keys, combo)), "step": step, "metric": metric,
                             "mean": float(step) / 100, "se": 0.01, "n": 10})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name, table", [
    ("fig3_left", lambda: curves({"tau": ["0.1", "1"], "method": ["teacher_distill", "on_policy_distill"]},
                                 ("return", "kl_teacher", "kl_student", "kl_uniform", "teacher_return"))),
    ("fig4", lambda: curves({"actions": [4, 64], "method": ["entropy_regularised", "on_policy_distill"]})),
    ("fig5", lambda: curves({"method": ["teacher_distill", "td_v_pi"]}, ("return", "teacher_return",
                                                                          "noisy_teacher_return"))),
    ("fig6", lambda: curves({"T": [5], "teacher": ["optimal", "adversarial"], "method": ["reward_only"]})),
    ("fig9", lambda: curves({"T": [2, 5], "teacher": ["optimal", "adversarial"], "method": ["reward_only"]})),
    ("fig2", lambda: pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "step": [0, 1, 2] * 2,
                                   "p": np.linspace(0.1, 0.9, 6), "q": np.linspace(0.9, 0.1, 6)})),
    ("fig3_right", lambda: pd.DataFrame({"teacher": ["t1", "t2"] * 2, "teacher_entropy": [0.1, 0.5] * 2,
                                         "criterion": ["return"] * 2 + ["kl_student"] * 2,
                                         "speedup": [2.0, 1.5, 3.0, 1.2]})),
])
def test_every_figure_renders_from_its_table(name, table):
    fig = P.render(name, table(), main_T=5)
    assert isinstance(fig, plt.Figure) and fig.axes
    plt.close(fig)


def test_bands_are_1_96_standard_errors_and_steps_start_at_zero():
    df = curves({"method": ["m"]})
    fig = P.curve_grid(df[df.metric == "return"], hue="method")
    ax = fig.axes[0]
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].max() == pytest.approx(1.0 + 1.96 * 0.01)
    assert ax.get_xlim()[0] == 0 and ax.get_xscale() == "symlog"
    plt.close(fig)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="missing columns"):
        P.figure5(pd.DataFrame({"method": ["m"], "metric": ["return"]}))
    with pytest.raises(ValueError, match="empty"):
        P.curve_grid(pd.DataFrame(columns=["step", "mean", "se", "method"]), hue="method")
    with pytest.raises(ValueError, match="unknown figure"):
        P.render("fig7", curves({"method": ["m"]}))
    with pytest.raises(ValueError, match="no chain results"):
        P.figure6(curves({"T": [2], "teacher": ["optimal"], "method": ["m"]}), T=5)


def test_panel_titles_keep_labels_that_start_with_a_bar():
    fig = P.render("fig4", curves({"actions": [4, 64], "method": ["on_policy_distill"]}))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["|A| = 4", "|A| = 64"], titles
    plt.close(fig)
    assert P._drop_empty_separator(" | col") == "col" and P._drop_empty_separator("row | ") == "row"
    assert P._drop_empty_separator("row | col") == "row | col"


def test_note_states_the_profile_under_the_figure():
    fig = P.render("fig4", curves({"actions": [4], "method": ["on_policy_distill"]}), note="profile quick: 40 worlds")
    assert "profile quick: 40 worlds" in [t.get_text() for t in fig.texts]
    plt.close(fig)
