"""The update in factors and the return-to-go (sampling/update.py)."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation.sampling import return_to_go
from policy_distillation.sampling.update import RowUpdate


def test_return_to_go_sums_each_trajectory_right_to_left():
    rng = np.random.default_rng(0)
    traj = np.repeat([0, 3, 4, 9], [5, 1, 7, 3])
    rhat = rng.normal(size=traj.size) * 1e3
    W = return_to_go(rhat, traj)
    ref = np.empty_like(rhat)
    for j in range(rhat.size - 1, -1, -1):  # the recursion W_t = rhat_t + W_{t+1}, bit for bit
        ref[j] = rhat[j] + (ref[j + 1] if j + 1 < rhat.size and traj[j + 1] == traj[j] else 0.0)
    assert W.tolist() == ref.tolist()
    assert return_to_go(np.zeros(0), np.zeros(0, dtype=int)).size == 0


def test_row_update_blocks_equal_the_whole_update():
    """G = pi * coef + sparse entries + grad * weight, assembled whole or by chunks of rows."""
    rng = np.random.default_rng(1)
    R, A = 7, 5
    pi, grad = rng.random((R, A)), rng.normal(size=(R, A))
    coef, weight = rng.normal(size=R), rng.random((R, 1))
    r, a, w = rng.integers(0, R, 20), rng.integers(0, A, 20), rng.normal(size=20)
    ref = pi * coef[:, None]
    np.add.at(ref, (r, a), w)
    ref += grad * weight
    whole = RowUpdate(R, chunk=None)
    whole.score(pi, coef, r, a, w)
    whole.state_term(grad, weight)
    assert np.array_equal(whole.block(0, R, np.empty((R, A))), ref)
    chunked = RowUpdate(R, chunk=3)
    chunked.score(None, coef, r, a, w)
    chunked.state_term(None, weight)
    parts = [chunked.block(i, min(i + 3, R), np.empty((min(i + 3, R) - i, A)), pi[i:i + 3], grad[i:i + 3])
             for i in range(0, R, 3)]
    assert np.array_equal(np.concatenate(parts), ref)
    with pytest.raises(ValueError, match="chunk grid"):
        chunked.block(1, 4, np.empty((3, A)), pi[1:4], grad[1:4])
