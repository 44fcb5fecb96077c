"""Random draws of the sampled estimator (sampling/draws.py)."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import streams as R
from policy_distillation.sampling import TrajectoryStreams, geometric_length, inverse_cdf


def test_geometric_length_law():
    u = np.random.default_rng(0).random(200_000)
    L = geometric_length(u, 0.9)
    assert L.min() == 1
    assert L.mean() == pytest.approx(10.0, rel=0.02)


def test_inverse_cdf_picks_the_interval_of_u():
    cum = np.array([[0.2, 0.5, 1.0], [0.0, 0.0, 2.0]])
    assert inverse_cdf(cum, np.array([0.3, 0.5])).tolist() == [1, 2]
    assert inverse_cdf(cum, np.array([0.0, 0.999])).tolist() == [0, 2]


def test_trajectory_streams_read_each_slot_by_position():
    """An update reads [initial, length] then [outcome, continuation, action] per
    step, and advances each slot by what it used: the next update starts there."""
    gens = R.world_generators(2, [0, 1], "distill")
    src = TrajectoryStreams(gens, capacity=8)  # small: forces refills and growth
    ref = [g.random(200) for g in R.world_generators(2, [0, 1], "distill")]
    ids = np.array([0, 1])
    assert src.lengths(2).tolist() == [ref[0][1], ref[1][1]]
    assert src.step(4, ids, 2)[1].tolist() == [ref[0][2 + 12 + 1], ref[1][2 + 12 + 1]]
    assert src.actions(ids, np.array([0, 3])).tolist() == [ref[0][4], ref[1][2 + 9 + 2]]
    src.finish(np.array([5, 2]))  # slot 0 took 5 steps, slot 1 took 2
    assert src.initial(2).tolist() == [ref[0][17], ref[1][8]]
    assert src.step(30, ids, 1)[0].tolist() == [ref[0][17 + 2 + 90], ref[1][8 + 2 + 90]]




def test_trajectory_streams_refuse_non_generators():
    with pytest.raises(TypeError, match="Generator"):
        TrajectoryStreams([1, 2])
