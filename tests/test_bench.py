"""Smoke tests of ``python -m policy_distillation.bench exact`` and ``distill`` (keys and
accuracy, not timings)."""

from __future__ import annotations

import json

from policy_distillation.benchmarks import distill, exact

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


def test_bench_distill_prints_both_samplers(capsys):
    distill.main(["--mdps", "4", "--loop-mdps", "2", "--large-mdps", "2", "--large-actions", "64",
                  "--repeats", "4", "--unroll-length", "5"])
    rows = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [(r["setting"], r["sampler"]) for r in rows] == [("vectorised", "episode"), ("vectorised", "unroll"),
                                                           ("large_actions", "episode"), ("large_actions", "unroll")]
    for row in rows[:2]:
        assert row["loop_measured_mdps"] == 2 and row["speedup"] > 0 and row["target_speedup"] == 120
    assert rows[1]["unroll_length"] == 5
    for big in rows[2:]:
        assert (big["B"], big["A"], big["method"]) == (2, 64, "entropy_regularised")
        assert big["ms_per_step"] > 0 and big["reference_exp_ms"] > 0
        # the three values are printed rounded to 0.01: bound the ratio's error by that rounding
        ms, ref, ratio = big["ms_per_step"], big["reference_exp_ms"], big["per_reference"]
        rounding = 0.005 + 1.01 * (ms / ref) * (0.005 / ms + 0.005 / ref)
        assert abs(ratio - ms / ref) <= rounding
    for row in rows:  # null where /proc/stat is missing
        assert row["steal_pct"] is None or 0.0 <= row["steal_pct"] <= 100.0
