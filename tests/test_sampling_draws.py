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
    """Slot i's values are its Generator's sequence, by position; an update advances each slot
    by what it used (2 + 3 * steps for episodes), and views grow on demand."""
    gens = R.world_generators(2, [0, 1], "distill")
    src = TrajectoryStreams(gens, capacity=8)  # small: forces refills and growth
    ref = [g.random(400) for g in R.world_generators(2, [0, 1], "distill")]
    buf, lo, hi = src.view(2, np.array([2 + 3 * 5, 2 + 3 * 2]))
    assert np.all(hi - lo >= [17, 8])
    assert [buf[i, lo[i] + p] for i, p in ((0, 1), (0, 16), (1, 7))] == [ref[0][1], ref[0][16], ref[1][7]]
    src.finish(np.array([5, 2]))  # slot 0 took 5 steps, slot 1 took 2
    buf, lo, hi = src.view(2, 2 + 3 * 31)
    assert buf[0, lo[0]] == ref[0][17] and buf[1, lo[1]] == ref[1][8]
    assert buf[0, lo[0] + 2 + 90] == ref[0][17 + 92] and buf[1, lo[1] + 94] == ref[1][8 + 94]
    src.set_layout("unroll")
    src.finish(np.array([3, 3]))  # an unroll: 1 + 4 * steps
    buf, lo, _ = src.view(2, 1)
    assert buf[0, lo[0]] == ref[0][17 + 13]


def test_trajectory_streams_refuse_non_generators():
    with pytest.raises(TypeError, match="Generator"):
        TrajectoryStreams([1, 2])
