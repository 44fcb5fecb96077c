"""Calibration of the grid-world defaults (calibration.py): reachability and the summaries."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import calibration as C
from policy_distillation import environments as E
from policy_distillation import teachers as T


def test_reward_reachable_follows_walls():
    cfg = E.GridConfig(rows=3, cols=3, stop_prob=0.1)
    F, W, G = E.FREE, E.WALL, E.GOAL
    open_goal = np.array([[F, F, G, F, F, F, F, F, F]], dtype=np.int8)
    walled = np.array([[F, W, G, F, F, W, F, F, F]], dtype=np.int8)  # the goal's neighbours are walls
    no_goal = np.zeros((1, 9), dtype=np.int8)
    mdps = E.grid_worlds_from_layouts(np.concatenate([open_goal, walled, no_goal]), cfg)
    assert C.reward_reachable(mdps).tolist() == [True, False, False]


def test_measure_and_summarise():
    cfg = E.GridConfig(rows=5, cols=5, p_goal=0.1)
    out = C.measure(cfg, 6, seed=1, q_config=T.QLearningConfig(steps=500))
    assert set(out) >= {"optimal", "uniform", "reachable", "epsilon_greedy", "greedy"}
    assert np.all(out["optimal"] >= out["uniform"] - 1e-9) and np.all(out["optimal"] >= out["greedy"] - 1e-9)
    s = C.summarise(out)
    assert s["no_reward_share"] == pytest.approx(1 - out["reachable"].mean())
    assert s["optimal_q50"] == pytest.approx(np.median(out["optimal"]))
    assert 0 <= s["uniform_frac_of_optimal_mean"] <= 1 + 1e-9
    no_teacher = C.measure(cfg, 3, seed=1, with_teacher=False)
    assert "greedy" not in no_teacher and "greedy_mean" not in C.summarise(no_teacher)
