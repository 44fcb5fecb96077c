"""The data every figure starts from (experiments.py): shards of worlds and their teachers."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import evaluation as ev
from policy_distillation import experiments as X


def test_shard_ids_split_the_worlds():
    assert X.shard_ids(0, 4, 10).tolist() == [0, 1, 2, 3]
    assert X.shard_ids(2, 4, 10).tolist() == [8, 9]
    with pytest.raises(ValueError, match="empty"):
        X.shard_ids(3, 4, 10)
    with pytest.raises(ValueError, match="shard_size"):
        X.shard_ids(0, 0, 10)


def test_grid_config_refuses_unknown_settings():
    assert X.grid_config({"eta": 0.2}).eta == 0.2
    with pytest.raises(ValueError, match="unknown grid setting"):
        X.grid_config({"etta": 0.2})


def test_teachers_of_a_shard_and_the_noisy_teacher():
    ids = np.array([5, 6, 7])
    mdps = X.grid_worlds({"rows": 5, "cols": 5}, 3, ids)
    Q, stats = X.q_teacher(mdps, {"steps": 500}, 3, ids)
    assert Q.shape == (3, 25, 4) and np.all(stats["teacher_return"] <= stats["optimal_return"] + 1e-9)
    noisy = X.noisy_teacher(mdps, Q, 0.5, "exact", 1, 3, ids)
    assert noisy["pi"].shape == Q.shape and noisy["flipped"].any()
    np.testing.assert_allclose(noisy["value"], ev.state_values(mdps, noisy["pi"]), atol=1e-12)
    np.testing.assert_array_equal(noisy["critic_error_at_start"], 0.0)
    again = X.noisy_teacher(mdps, Q, 0.5, "monte_carlo", 5, 3, ids)
    assert np.array_equal(again["flipped"], noisy["flipped"])  # flips and critic draw from separate streams


def test_counterexample_run():
    run = X.counterexample_run("n_distill_r", (1, 0, 2, -1), 20, 0.5, (0.3, 0.6))
    assert run["p"].shape == (21,) and run["p"][0] == pytest.approx(0.3) and run["q"][0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="start"):
        X.counterexample_run("n_distill_r", (1, 0, 2, -1), 20, 0.5, (0.0, 0.6))
