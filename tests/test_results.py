"""Tidy result tables: shards, means and standard errors, areas, crossings."""

import numpy as np
import pandas as pd
import pytest

from policy_distillation import results as R


def make_run(rng, lo, B, labels, C=4):
    return {
        "steps": np.array([0, 1, 5, 10])[:C],
        "returns": rng.normal(size=(C, B)),
        "kl_teacher": rng.random((C, B)),
        "kl_student": rng.random((C, B)),
        "kl_uniform": rng.random((C, B)),
        "teacher_return": rng.normal(size=B) + 3,
        "mdp": lo + np.arange(B),
        "labels": labels,
    }


def test_save_load_round_trip(tmp_path):
    run = make_run(np.random.default_rng(0), 0, 3, {"figure": "fig5", "method": "m"})
    R.save_run(tmp_path / "x", run)
    back = R.load_run(tmp_path / "x")
    assert back["labels"] == run["labels"]
    for k in ("steps", "returns", "mdp"):
        np.testing.assert_array_equal(back[k], run[k])


def test_curves_are_mean_and_standard_error_over_all_shards():
    rng = np.random.default_rng(1)
    lab = {"figure": "fig5", "method": "m"}
    shards = [make_run(rng, 5, 3, lab), make_run(rng, 0, 5, lab)]  # out of order on purpose
    curves = R.curves_table(shards)
    allret = np.concatenate([shards[1]["returns"], shards[0]["returns"]], axis=1)  # 8 MDPs
    got = curves[curves.metric == "return"].sort_values("step")
    np.testing.assert_allclose(got["mean"], allret.mean(1))
    np.testing.assert_allclose(got["se"], allret.std(1, ddof=1) / np.sqrt(8))
    assert set(got["n"]) == {8}
    ref = curves[curves.metric == "teacher_return"]
    assert len(ref) == 4 and np.allclose(ref["se"].iloc[0], ref["se"].iloc[-1])


def test_shards_with_different_checkpoints_are_refused():
    rng = np.random.default_rng(2)
    lab = {"method": "m"}
    a, b = make_run(rng, 0, 2, lab), make_run(rng, 2, 2, lab)
    b["steps"] = b["steps"] + 1
    with pytest.raises(ValueError, match="checkpoint"):
        R.curves_table([a, b])


def test_area_under_is_the_trapezoid_rule():
    steps = np.array([0, 1, 3])
    vals = np.array([[0.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    np.testing.assert_allclose(R.area_under(steps, vals), [1.0 + 4.0, 3.0])
    with pytest.raises(ValueError):
        R.area_under(steps, vals[:2])


def test_first_crossing_interpolates_and_reports_never():
    steps = np.array([0, 10, 20])
    assert R.first_crossing(steps, np.array([0.0, 1.0, 2.0]), 1.5) == pytest.approx(15.0)
    assert R.first_crossing(steps, np.array([3.0, 1.0, 2.0]), 1.5) == 0.0
    assert R.first_crossing(steps, np.array([0.0, 1.0, 1.2]), 1.5) == float("inf")


def test_per_mdp_regret_is_clipped_and_speedup_favours_the_faster_control():
    steps = np.array([0, 10, 20])
    base = {"steps": steps, "teacher_return": np.array([1.0, 1.0]), "mdp": np.arange(2),
            "kl_student": np.ones((3, 2)), "kl_uniform": np.ones((3, 2)), "kl_teacher": np.ones((3, 2))}
    slow = dict(base, returns=np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]),
                labels={"tau": "1", "method": "teacher_distill"})
    fast = dict(base, returns=np.array([[0.0, 0.0], [1.5, 1.5], [1.5, 1.5]]),  # overshoots: regret clipped at 0
                labels={"tau": "1", "method": "on_policy_distill"})
    fast["teacher_entropy"] = slow["teacher_entropy"] = np.array([0.5, 0.5])
    per = R.per_mdp_table([slow, fast])
    np.testing.assert_allclose(per[per.method == "on_policy_distill"]["auc_regret"], 5.0)
    np.testing.assert_allclose(per[per.method == "teacher_distill"]["auc_regret"], 10.0)
    sp = R.speedup_table(per)
    assert sp[sp.criterion == "return"]["speedup"].item() == pytest.approx(2.0)
    assert sp[sp.criterion == "kl_student"]["speedup"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="need both"):
        R.speedup_table(per[per.method == "teacher_distill"])


def test_flatness_names_the_curves_still_moving():
    from policy_distillation.results import flatness, flatness_text

    steps = np.arange(0, 1001, 100)
    rows = []
    for method, slope in (("flat", 0.0), ("rising", 2.0)):
        for s in steps:
            rows.append({"method": method, "step": s, "metric": "return", "mean": 5.0 + slope * s / 1000})
            rows.append({"method": method, "step": s, "metric": "teacher_return", "mean": 10.0})
    curves = pd.DataFrame(rows)
    f = flatness(curves, ["method"]).set_index("method")
    assert bool(f.loc["flat", "flat"]) and not bool(f.loc["rising", "flat"])
    assert f.loc["rising", "change"] == pytest.approx(2.0 * 0.2 / 10.0)  # the last quarter: checkpoints from 800
    text = flatness_text({"Figure 5": (curves, ["method"])})
    assert "Figure 5: 1 of 2 curves flat; still moving: rising (+4.0%)" in text
