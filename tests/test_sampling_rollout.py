"""The lockstep rollout (sampling/rollout.py): records, modes and the outcome table."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import make_draws, reference_cases

from policy_distillation.sampling import SampledEstimator
from policy_distillation.sampling.rollout import RolloutPlan, outcome_table, rollout


@pytest.fixture(scope="module")
def cases():
    return reference_cases()


def test_geometric_mode_is_used_on_grids_and_per_step_mode_on_dense(cases):
    grid, teacher, *_ = cases["grid_a4"]
    dense, dteacher, *_ = cases["dense"]
    assert SampledEstimator(grid, teacher, "on_policy_distill").plan.c0 == pytest.approx(0.95)
    assert SampledEstimator(dense, dteacher, "on_policy_distill").plan.c0 is None


@pytest.mark.parametrize("kind", ["dense", "grid_a4"])
def test_records_are_consistent_trajectories(cases, kind):
    """Each trajectory starts at time 0, its times are consecutive, it continues exactly
    where the next record is its own next step, and it moves along next_state."""
    mdps, teacher, *_ = cases[kind]
    est = SampledEstimator(mdps, teacher, "teacher_distill", n_trajectories=3)
    table = est.rows.full_cache(np.zeros((mdps.B * mdps.S, mdps.A)), normalise=False)[1]
    draws = make_draws(np.random.default_rng(0), mdps.B * 3)
    draws.set_layout("episode")
    rec = rollout(est.plan, table, draws)
    K = mdps.K
    assert set(np.unique(rec.traj).tolist()) == set(range(mdps.B * 3))
    first = np.r_[True, rec.traj[1:] != rec.traj[:-1]]
    assert np.all(rec.time[first] == 0) and np.all(np.diff(rec.time)[~first[1:]] == 1)
    nxt = est.plan.next_flat[rec.state * K + rec.outcome]
    follows = ~first[1:]
    assert np.array_equal(rec.cont[:-1], follows) and not rec.cont[-1]
    assert np.array_equal(nxt[:-1][follows], rec.state[1:][follows])


def test_outcome_table_pads_to_a_power_of_two():
    cum = np.cumsum(np.full((2, 5), 0.2), axis=1)
    t = outcome_table(cum)
    assert t.shape == (2, 4) and np.all(t[:, :4] == cum[:, :4])
    assert outcome_table(cum[:, :3]).shape == (2, 2)
    plan = RolloutPlan.from_mdps(reference_cases()["grid_a4"][0], 2)
    assert plan.sentinel == plan.B * plan.S and plan.next_flat.size == plan.B * plan.S * plan.K + plan.K
