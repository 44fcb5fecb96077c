"""Smoke test of ``python -m policy_distillation.bench exact`` (keys and accuracy, not timings)."""

from __future__ import annotations

import json

from policy_distillation.benchmarks import exact

KEYS = {
    "mdps", "states", "actions", "repeats", "ours_median_s", "dense_median_s", "speedup", "max_abs_diff",
    "dense_loop_mdps_timed", "dense_loop_s_extrapolated",
}


def test_bench_exact_prints_one_json_line(capsys):
    exact.main(["--mdps", "5", "--repeats", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert KEYS <= set(row)
    assert (row["mdps"], row["states"], row["actions"], row["repeats"]) == (5, 400, 4, 1)
    assert row["dense_loop_mdps_timed"] == 5
    assert row["max_abs_diff"] < 1e-9
    assert row["ours_median_s"] > 0 and row["dense_median_s"] > 0
