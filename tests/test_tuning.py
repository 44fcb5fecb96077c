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


@pytest.fixture
def fake_tuning(monkeypatch):
    """Scores peaked at a rate per method, no worlds built: main() runs in milliseconds."""
    import math

    peaks = {"on_policy_distill": 0.1, "teacher_distill": 0.03, "n_distill": 0.3, "token_reverse_kl": 1.0}

    def fake_score(mdps, teacher, method, regime, lr, steps, eval_every, seed):
        return -abs(math.log10(lr) - math.log10(peaks[method]))

    monkeypatch.setattr(tuning, "score", fake_score)
    monkeypatch.setattr(tuning, "tuning_problem", lambda *a, **k: (None, None, None))
    monkeypatch.setattr(tuning, "get_method", lambda m: SimpleNamespace(needs=()))
    return peaks


def _run(out, *methods, merge=False, steps=3000):
    argv = ["--profile", "paper", "--regime", "unroll_sgd", "--steps", str(steps), "--out", str(out),
            "--methods", *methods]
    tuning.main(argv + (["--merge"] if merge else []))


def test_merge_adds_methods_and_keeps_the_existing_entries(tmp_path, fake_tuning):
    import json

    _run(tmp_path, "teacher_distill", "on_policy_distill")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    _run(tmp_path, "n_distill", merge=True)
    _run(tmp_path, "token_reverse_kl", merge=True)
    rates = json.loads((tmp_path / "unroll_sgd.json").read_text())
    assert list(rates) == ["teacher_distill", "on_policy_distill", "n_distill", "token_reverse_kl"]
    assert rates == pytest.approx(fake_tuning)
    scores = json.loads((tmp_path / "unroll_sgd.scores.json").read_text())
    old = json.loads(before["unroll_sgd.scores.json"])
    assert {m: scores[m] for m in old} == old  # untouched, score by score
    assert json.loads(before["unroll_sgd.json"]).items() <= rates.items()
    md = (tmp_path / "unroll_sgd.md").read_text()
    command = before["unroll_sgd.md"].splitlines()[2]
    assert command.startswith("Command: `") and command in md.splitlines()
    assert tuning.MERGED + "n_distill, token_reverse_kl" in md
    for m in rates:  # the report is re-rendered from the merged scores: one row per method
        assert sum(line.startswith(f"| {m} |") for line in md.splitlines()) == 1
    # a plain run of the same methods renders the same rows (the merge changes only which runs measured them)
    plain = tmp_path / "plain"
    _run(plain, "teacher_distill", "on_policy_distill", "n_distill", "token_reverse_kl")
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert rows == [line for line in (plain / "unroll_sgd.md").read_text().splitlines() if line.startswith("|")]


@pytest.mark.parametrize("setup, methods, steps, match", [
    (False, ["n_distill"], 3000, "cannot read the existing tuning output"),
    (True, ["on_policy_distill"], 3000, r"\['on_policy_distill'\] already in"),
    (True, ["n_distill"], 1000, "settings differ"),
])
def test_merge_refuses_what_does_not_fit(tmp_path, fake_tuning, setup, methods, steps, match):
    if setup:
        _run(tmp_path, "on_policy_distill")
    before = {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(SystemExit, match=match):
        _run(tmp_path, *methods, merge=True, steps=steps)
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing written
