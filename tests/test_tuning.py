"""Learning-rate tuning: the report lists exactly the rates measured."""

from __future__ import annotations

from types import SimpleNamespace

from policy_distillation.tuning import render


def test_render_lists_the_measured_rates():
    table = {
        "entropy_regularised": {"scores": {0.0003: 0.829, 0.001: 0.914}, "best": 0.001},
        "expected_entropy_regularised": {"scores": {0.0003: 0.835, 0.001: 0.930}, "best": 0.001},
    }
    args = SimpleNamespace(mdps=100, steps=3000, q_steps=100000, out="out")
    md = render(table, args)
    assert "| method | lr=0.0003 | lr=0.001 | chosen |" in md
    assert "| entropy_regularised | 0.829 | 0.914 | **0.001** |" in md
    assert "| expected_entropy_regularised | 0.835 | 0.930 | **0.001** |" in md
