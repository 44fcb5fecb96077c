"""Table 1's "is grad?" column, measured on small random MDPs."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation.table1 import ASYMMETRY_THRESHOLD, render_table1, table1_rows

METHODS = ("on_policy_distill", "n_distill", "expected_entropy_regularised")


@pytest.fixture(scope="module")
def rows():
    return table1_rows(np.random.default_rng(7), n_mdps=2, n_states=3, n_actions=4, method_names=METHODS)


def test_measured_verdicts_match_the_paper(rows):
    by = {r["method"]: r for r in rows}
    assert by["on_policy_distill"]["computed"] == "no"
    assert by["n_distill"]["computed"] == "yes"
    assert by["expected_entropy_regularised"]["computed"] == "yes"
    assert all(r["agrees"] for r in rows)
    # far from the threshold on both sides, and the independent checks agree
    assert by["on_policy_distill"]["asymmetry"] > 1e3 * ASYMMETRY_THRESHOLD
    assert by["on_policy_distill"]["circulation"] > 1e-3
    for m in ("n_distill", "expected_entropy_regularised"):
        assert by[m]["asymmetry"] < 1e-3 * ASYMMETRY_THRESHOLD
        assert by[m]["circulation"] < 1e-8
        assert by[m]["grad_error"] < 1e-6
    assert np.isnan(by["on_policy_distill"]["grad_error"])  # Table 1: no loss exists


def test_plus_r_rows_take_the_base_rows_verdict():
    rows = table1_rows(np.random.default_rng(8), n_mdps=1, n_states=3, n_actions=2,
                       method_names=["on_policy_distill_r", "n_distill_r"])
    by = {r["method"]: r for r in rows}
    assert (by["on_policy_distill_r"]["paper"], by["on_policy_distill_r"]["computed"]) == (False, "no")
    assert (by["n_distill_r"]["paper"], by["n_distill_r"]["computed"]) == (True, "yes")
    assert all(r["paper_source"] == "Table 1, +R version" for r in rows)


def test_render_prints_asymmetry_beside_the_verdict(rows):
    md = render_table1(rows)
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(rows)
    assert all(line.count(" | ") == 8 for line in table)
    on_policy = next(line for line in table if line.startswith("| On-policy distill |"))
    assert "| no (" in on_policy and "Theorem 1" in md


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="no_such_method"):
        table1_rows(np.random.default_rng(0), n_mdps=1, method_names=["no_such_method"])
