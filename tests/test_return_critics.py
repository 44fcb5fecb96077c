"""Critics of the pseudo-return (return_critics.py): lambda-returns, the learned TD critic, and
every sampler x critic x optimiser combination on every registered method."""

from __future__ import annotations

import numpy as np
import pytest
from sampling_helpers import METHODS, random_dense, setup

from policy_distillation import methods as M
from policy_distillation import return_critics as RC
from policy_distillation.sampling import SampledEstimator
from policy_distillation.training import distill, pseudo_value


def test_lambda_returns_equal_the_recursion():
    rng = np.random.default_rng(0)
    seg = np.repeat([0, 1, 2, 5], [4, 1, 3, 2])
    rhat, v = rng.normal(size=seg.size), rng.normal(size=seg.size)
    cont = np.ones(seg.size, bool)
    cont[[4, 9]] = False  # segments 1 and 5 end their episodes; 0 and 2 are cut (bootstrapped)
    for lam in (0.0, 0.6, 1.0):
        G = RC.lambda_returns(rhat, seg, cont, v, lam)
        ref = np.empty_like(rhat)
        for j in range(seg.size - 1, -1, -1):
            last = j == seg.size - 1 or seg[j + 1] != seg[j]
            boot = v[j] if last else (1 - lam) * v[j] + lam * ref[j + 1]
            ref[j] = rhat[j] + (boot if cont[j] else 0.0)
        np.testing.assert_allclose(G, ref, rtol=1e-14)


def test_td_critic_learns_the_exact_pseudo_value_at_a_fixed_student():
    """At fixed logits, TD(lambda) from episodes approaches the exact Vhat (step size 0.05,
    lambda 1: Monte Carlo targets); the mean absolute error at visited states falls below 15%
    of the value scale after 400 updates (measured: about 5%)."""
    rng = np.random.default_rng(1)
    mdps = random_dense(rng, 2)
    teacher, logits, _ = setup(mdps, rng)
    method = M.get_method("entropy_regularised")
    exact = pseudo_value(method, mdps, teacher, logits)
    critic = RC.TDReturnCritic(step_size=0.05, lam=1.0)
    critic.reset(mdps.B, mdps.S)
    est = SampledEstimator(mdps, teacher, method, n_trajectories=20)
    gen = np.random.default_rng(2)
    for _ in range(400):
        _, trans = est.update(logits, gen, critic_values=critic.values(0, None), td_lambda=1.0)
        critic.observe(trans.flat_state, trans.return_target)
    err = np.abs(critic.values(0, None) - exact)
    scale = np.abs(exact).mean()
    assert err.mean() < 0.15 * scale, (err.mean(), scale)


def test_bad_critics_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        RC.make_return_critic({"kind": "mc"})
    with pytest.raises(ValueError, match="lambda"):
        RC.make_return_critic({"kind": "td", "step_size": 0.1, "lambda": 2.0})
    with pytest.raises(ValueError, match="every"):
        RC.make_return_critic({"kind": "exact", "every": 0})


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(5)
    mdps = random_dense(rng, 2)
    teacher, _, _ = setup(mdps, rng)
    return mdps, teacher


@pytest.mark.parametrize("sampler", ["episode", "unroll"])
@pytest.mark.parametrize("critic", [None, {"kind": "exact", "every": 2}, {"kind": "td", "step_size": 0.1,
                                                                           "lambda": 0.9}])
@pytest.mark.parametrize("optimiser", ["sgd", {"kind": "adam"}, {"kind": "rmsprop"}])
@pytest.mark.parametrize("name", METHODS)
def test_every_combination_runs_every_method(small, sampler, critic, optimiser, name):
    mdps, teacher = small
    res = distill(mdps, teacher, name, "sampled", steps=3, lr=0.05, eval_every=1, sampler=sampler,
                  unroll_length=3, optimiser=optimiser, return_critic=critic)
    assert np.isfinite(res.returns).all() and np.isfinite(res.kl_student).all()
