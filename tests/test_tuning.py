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


def test_render_flags_rates_chosen_at_an_edge_of_the_grid():
    table = {
        "a": {"scores": {0.001: 0.90, 0.01: 0.80, 0.1: 0.70}, "best": 0.001},
        "b": {"scores": {0.001: 0.70, 0.01: 0.95, 0.1: 0.90}, "best": 0.01},
        "c": {"scores": {0.001: 0.60, 0.01: 0.70, 0.1: 0.75}, "best": 0.1},
    }
    md = render(table, SimpleNamespace(mdps=1, steps=1, q_steps=1, out="out"))
    assert ("smallest candidate (0.001), so a rate beyond the grid might score higher: a (+0.100 over its next best)."
            in md)
    assert "largest candidate (0.1), so a rate beyond the grid might score higher: c (+0.050 over its next best)." in md
    assert "b (" not in md
    interior = {"b": table["b"]}
    assert "beyond the grid" not in render(interior, SimpleNamespace(mdps=1, steps=1, q_steps=1, out="out"))
