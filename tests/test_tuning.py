"""Learning-rate tuning: the report lists exactly the rates measured; the grid grows past an edge."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from policy_distillation import tuning
from policy_distillation.tuning import render

ARGS = SimpleNamespace(profile="paper", regime="unroll_sgd", mdps=100, steps=3000, q_steps=100000, out="out")


def test_render_lists_the_measured_rates():
    table = {
        "entropy_regularised": {"scores": {0.0003: 0.829, 0.001: 0.914, 0.003: 0.9}, "best": 0.001},
        "expected_entropy_regularised": {"scores": {0.0003: 0.835, 0.001: 0.930}, "best": 0.001},
    }
    md = render(table, ARGS)
    assert "--profile paper --regime unroll_sgd --mdps 100 --steps 3000" in md
    assert "| method | lr=0.0003 | lr=0.001 | lr=0.003 | chosen |" in md
    assert "| entropy_regularised | 0.829 | 0.914 | 0.900 | **0.001** |" in md
    assert "| expected_entropy_regularised | 0.835 | 0.930 |  | **0.001** |" in md  # 0.003 not measured


def test_render_flags_rates_chosen_at_a_bound():
    table = {
        "a": {"scores": {0.001: 0.90, 0.01: 0.80, 0.1: 0.70}, "best": 0.001},
        "b": {"scores": {0.001: 0.70, 0.01: 0.95, 0.1: 0.90}, "best": 0.01},
    }
    md = render(table, ARGS)
    assert "a: chosen at the smallest rate measured (0.001, the bound of the search)" in md
    assert "b:" not in md


@pytest.mark.parametrize("lr, up, expected", [(0.3, True, 1.0), (1.0, True, 3.0), (0.001, False, 0.0003),
                                              (0.0003, False, 0.0001), (3.0, False, 1.0), (0.1, False, 0.03)])
def test_next_half_decade(lr, up, expected):
    assert tuning._next(lr, up) == expected


def test_the_grid_grows_until_the_best_rate_is_interior(monkeypatch):
    peak = {"up": 10.0, "down": 0.0001, "inside": 0.03}

    def fake_score(mdps, teacher, method, regime, lr, steps, eval_every, seed):
        import math

        return -abs(math.log10(lr) - math.log10(peak[method]))

    monkeypatch.setattr(tuning, "score", fake_score)
    monkeypatch.setattr(tuning, "get_method", lambda m: SimpleNamespace(needs=()))
    problem = (None, None, None)
    for method, best in peak.items():
        out = tuning.tune_method(problem, method, {}, steps=1, eval_every=1)
        grid = sorted(out["scores"])
        assert out["best"] == pytest.approx(best)
        assert grid[0] < out["best"] < grid[-1]  # never at an edge of what was measured
    capped = tuning.tune_method(problem, "up", {}, 1, 1, bounds=(1e-5, 3.0))
    assert capped["best"] == 3.0 and max(capped["scores"]) == 3.0  # the bound stops the search


def test_a_plateau_chooses_its_smallest_rate():
    assert tuning.choose({0.1: 0.90, 1.0: 1.0265, 3.0: 1.027, 10.0: 1.0272}) == 1.0
    assert tuning.choose({0.1: 0.90, 1.0: 1.020, 3.0: 1.027}) == 3.0
