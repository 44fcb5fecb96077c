"""Tests for ``policy_distillation.mdp``: outcome-form batches, dense export, io.

Sizes are chosen pairwise different (B=2, S=7, A=3, K=5) so that a wrong axis
cannot pass through an accidental broadcast. Each vectorised method is
checked against a plain Python loop over (b, s, a, k).
"""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation.environments import GridConfig, random_grid_worlds
from policy_distillation.evaluation import state_values
from policy_distillation.mdp import FORMAT_VERSION, TabularMDPs, from_dense

B, S, A, K = 2, 7, 3, 5

# outcome_prob layouts supported by TabularMDPs: [B|1, S|1, A, K]
OP_SHAPES = {"BSAK": (B, S, A, K), "1SAK": (1, S, A, K), "B1AK": (B, 1, A, K), "11AK": (1, 1, A, K)}


def random_outcome_mdps(rng: np.random.Generator, op_shape=(B, S, A, K), with_action_reward=True) -> TabularMDPs:
    op = rng.dirichlet(np.ones(op_shape[-1]), size=op_shape[:-1])
    init = rng.dirichlet(np.ones(S), size=B)
    return TabularMDPs(
        initial=init,
        next_state=rng.integers(0, S, size=(B, S, K)),
        outcome_prob=op,
        outcome_reward=rng.normal(size=(B, S, K)),
        outcome_continue=rng.uniform(0.0, 0.9, size=(B, S, K)),
        gamma=0.95,
        action_reward=rng.normal(size=(B, S, A)) if with_action_reward else None,
    )


def random_policy(rng: np.random.Generator, b: int, s: int, a: int) -> np.ndarray:
    return rng.dirichlet(np.ones(a), size=(b, s))


def op_at(m: TabularMDPs, b: int, s: int, a: int, k: int) -> float:
    """outcome_prob[b, s, a, k] honouring the size-1 leading axes."""
    op = m.outcome_prob
    return float(op[b if op.shape[0] > 1 else 0, s if op.shape[1] > 1 else 0, a, k])


# ------------------------------------------------------------ loop references
def loop_outcome_marginal(m, pi):
    out = np.zeros((m.B, m.S, m.K))
    for b in range(m.B):
        for s in range(m.S):
            for a in range(m.A):
                for k in range(m.K):
                    out[b, s, k] += pi[b, s, a] * op_at(m, b, s, a, k)
    return out


def loop_reward_sa(m):
    out = np.zeros((m.B, m.S, m.A))
    for b in range(m.B):
        for s in range(m.S):
            for a in range(m.A):
                for k in range(m.K):
                    out[b, s, a] += op_at(m, b, s, a, k) * m.outcome_reward[b, s, k]
                if m.action_reward is not None:
                    out[b, s, a] += m.action_reward[b, s, a]
    return out


def loop_expect_next(m, values):
    out = np.zeros((m.B, m.S, m.A))
    for b in range(m.B):
        for s in range(m.S):
            for a in range(m.A):
                for k in range(m.K):
                    s2 = m.next_state[b, s, k]
                    out[b, s, a] += op_at(m, b, s, a, k) * m.outcome_continue[b, s, k] * values[b, s2]
    return out


def loop_dense(m):
    P = np.zeros((m.B, m.S, m.A, m.S))
    for b in range(m.B):
        for s in range(m.S):
            for a in range(m.A):
                for k in range(m.K):
                    P[b, s, a, m.next_state[b, s, k]] += op_at(m, b, s, a, k) * m.outcome_continue[b, s, k]
    return P, loop_reward_sa(m)


# ------------------------------------------------------------------- tests
def test_shape_properties():
    m = random_outcome_mdps(np.random.default_rng(0))
    assert (m.B, m.S, m.A, m.K) == (B, S, A, K)
    g = random_grid_worlds(np.random.default_rng(0), 3, GridConfig(rows=5, cols=6, n_actions=6))
    assert (g.B, g.S, g.A, g.K) == (3, 30, 6, 5)


@pytest.mark.parametrize("op_name", sorted(OP_SHAPES))
@pytest.mark.parametrize("with_action_reward", [True, False])
def test_vectorised_dynamics_match_loops(op_name, with_action_reward):
    rng = np.random.default_rng(11)
    m = random_outcome_mdps(rng, OP_SHAPES[op_name], with_action_reward)
    pi = random_policy(rng, B, S, A)
    values = rng.normal(size=(B, S))

    np.testing.assert_allclose(m.outcome_marginal(pi), loop_outcome_marginal(m, pi), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.reward_sa(), loop_reward_sa(m), rtol=0, atol=1e-12)
    r_pi_ref = np.einsum("bsa,bsa->bs", pi, loop_reward_sa(m))
    np.testing.assert_allclose(m.reward_pi(pi), r_pi_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.expect_next(values), loop_expect_next(m, values), rtol=0, atol=1e-12)

    P_ref, R_ref = loop_dense(m)
    P, R = m.to_dense()
    assert P.shape == (B, S, A, S) and R.shape == (B, S, A)
    np.testing.assert_allclose(P, P_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(R, R_ref, rtol=0, atol=1e-12)


def test_next_state_distribution_matches_dense_kernel():
    rng = np.random.default_rng(12)
    m = random_outcome_mdps(rng)
    pi = random_policy(rng, B, S, A)
    rows, cols, vals = m.next_state_distribution(pi)
    kernel = np.zeros((B * S, B * S))
    np.add.at(kernel, (rows, cols), vals)
    P, _ = loop_dense(m)
    for b in range(B):
        block = kernel[b * S : (b + 1) * S, b * S : (b + 1) * S]
        np.testing.assert_allclose(block, np.einsum("sa,sat->st", pi[b], P[b]), rtol=0, atol=1e-12)
        # nothing leaks between MDPs
        off = np.delete(kernel[b * S : (b + 1) * S], np.s_[b * S : (b + 1) * S], axis=1)
        assert np.all(off == 0.0)


def test_from_dense_round_trips_through_to_dense():
    rng = np.random.default_rng(13)
    P = rng.dirichlet(np.ones(S + 1), size=(B, S, A))[..., :S]  # substochastic rows
    R = rng.normal(size=(B, S, A))
    init = rng.dirichlet(np.ones(S), size=B)
    m = from_dense(P, R, init, gamma=0.9)
    assert (m.B, m.S, m.A, m.K) == (B, S, A, S + 1)
    P2, R2 = m.to_dense()
    np.testing.assert_array_equal(P2, P)
    np.testing.assert_array_equal(R2, R)
    np.testing.assert_array_equal(m.initial, init)
    assert m.gamma == 0.9


@pytest.mark.parametrize("index", [np.array([2, 0]), slice(1, 3)])
def test_subset_selects_mdps(index):
    rng = np.random.default_rng(14)
    grids = random_grid_worlds(rng, 4, GridConfig(rows=5, cols=6, n_actions=5))
    P = rng.dirichlet(np.ones(S + 1), size=(4, S, A))[..., :S]
    dense = from_dense(P, rng.normal(size=(4, S, A)), rng.dirichlet(np.ones(S), size=4))
    picked = np.arange(4)[index]
    for m in (grids, dense):
        sub = m.subset(index)
        assert sub.B == len(picked)
        for name in ("initial", "next_state", "outcome_reward", "outcome_continue"):
            np.testing.assert_array_equal(getattr(sub, name), getattr(m, name)[picked])
        pi = random_policy(rng, m.B, m.S, m.A)
        np.testing.assert_allclose(
            state_values(sub, pi[picked]), state_values(m, pi)[picked], rtol=0, atol=1e-12
        )
        Pm, Rm = m.to_dense()
        Ps, Rs = sub.to_dense()
        np.testing.assert_array_equal(Ps, Pm[picked])
        np.testing.assert_array_equal(Rs, Rm[picked])
    sub = grids.subset(index)
    np.testing.assert_array_equal(sub.layout, grids.layout[picked])
    assert sub.grid_shape == grids.grid_shape


# -------------------------------------------------------------------- io
def assert_identical(a: TabularMDPs, b: TabularMDPs) -> None:
    names = ("initial", "next_state", "outcome_prob", "outcome_reward", "outcome_continue", "action_reward", "layout")
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
    assert a.gamma == b.gamma and type(b.gamma) is float
    assert a.grid_shape == b.grid_shape


def test_save_load_round_trip_is_bit_identical(tmp_path):
    rng = np.random.default_rng(15)
    grids = random_grid_worlds(rng, 3, GridConfig(rows=5, cols=6, n_actions=7, gamma=0.97, terminal_mode="reset"))
    outcome = random_outcome_mdps(rng)
    for i, m in enumerate((grids, outcome)):
        path = tmp_path / f"mdps{i}.npz"
        m.save(path)
        loaded = TabularMDPs.load(path)
        assert_identical(m, loaded)
    assert TabularMDPs.load(tmp_path / "mdps0.npz").grid_shape == (5, 6)


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, None])
def test_load_refuses_other_format_versions(tmp_path, version):
    m = random_outcome_mdps(np.random.default_rng(16))
    path = tmp_path / "m.npz"
    m.save(path)
    with np.load(path) as z:
        arrays = dict(z)
    if version is None:
        del arrays["format_version"]
    else:
        arrays["format_version"] = np.array(version)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="format version"):
        TabularMDPs.load(bad)


# ----------------------------------------------------------- validation
def _kwargs(rng):
    m = random_outcome_mdps(rng)
    return {
        "initial": m.initial,
        "next_state": m.next_state,
        "outcome_prob": m.outcome_prob,
        "outcome_reward": m.outcome_reward,
        "outcome_continue": m.outcome_continue,
        "gamma": m.gamma,
        "action_reward": m.action_reward,
    }


def _shift_mass(op):
    """Rows still sum to 1, but some entries go negative."""
    return np.concatenate([op[..., :1] + 0.5, op[..., 1:] - 0.5 / (K - 1)], -1)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda kw: {"outcome_prob": kw["outcome_prob"] * 0.9}, "outcome_prob rows must sum to 1"),
        (lambda kw: {"outcome_prob": _shift_mass(kw["outcome_prob"])}, "outcome_prob has negative probabilities"),
        (lambda kw: {"outcome_prob": kw["outcome_prob"][:, :, :, :-1]}, "outcome_prob must be float"),
        (lambda kw: {"outcome_prob": kw["outcome_prob"][:, :3]}, "outcome_prob must be float"),
        (lambda kw: {"initial": kw["initial"] * 2.0}, "initial rows must sum to 1"),
        (lambda kw: {"initial": np.eye(S)[[0, 1]] * 2.0 - np.eye(S)[[1, 0]]}, "initial has negative probabilities"),
        (lambda kw: {"initial": kw["initial"][0]}, "initial must be float"),
        (lambda kw: {"initial": kw["initial"][:, :-1]}, r"initial must be float\[B, S\]=\(2, 7\) \(from next_state\)"),
        (lambda kw: {"initial": kw["initial"] * np.nan}, "initial must be finite: nan at index"),
        (lambda kw: {"outcome_prob": kw["outcome_prob"] * np.nan}, "outcome_prob must be finite: nan"),
        (lambda kw: {"outcome_continue": kw["outcome_continue"] * np.nan}, "outcome_continue must be finite"),
        (lambda kw: {"action_reward": kw["action_reward"] * np.inf}, "action_reward must be finite: inf"),
        (lambda kw: {"gamma": np.nan}, r"gamma must lie in \(0, 1\]"),
        (lambda kw: {"next_state": kw["next_state"][:, :, :-1]}, "outcome_prob must be float"),
        (lambda kw: {"next_state": kw["next_state"][:, :-1]}, r"initial must be float\[B, S\]"),
        (lambda kw: {"next_state": kw["next_state"] + S}, r"next_state must lie in \[0, 7\)"),
        (lambda kw: {"next_state": kw["next_state"] - S}, r"next_state must lie in \[0, 7\)"),
        (lambda kw: {"next_state": kw["next_state"].astype(float)}, "next_state must hold integers"),
        (lambda kw: {"outcome_reward": kw["outcome_reward"][..., :-1]}, "outcome_reward must be float"),
        (lambda kw: {"outcome_reward": kw["outcome_reward"] * np.inf}, "outcome_reward must be finite"),
        (lambda kw: {"outcome_continue": kw["outcome_continue"].T}, "outcome_continue must be float"),
        (lambda kw: {"outcome_continue": kw["outcome_continue"] + 1.0}, r"outcome_continue must lie in \[0, 1\]"),
        (lambda kw: {"action_reward": kw["action_reward"][:, :, :-1]}, "action_reward must be float"),
        (lambda kw: {"gamma": 0.0}, r"gamma must lie in \(0, 1\]"),
        (lambda kw: {"gamma": -0.5}, r"gamma must lie in \(0, 1\]"),
        (lambda kw: {"gamma": 1.01}, r"gamma must lie in \(0, 1\]"),
    ],
)
def test_malformed_batches_raise(change, match):
    rng = np.random.default_rng(17)
    kw = _kwargs(rng)
    kw.update(change(kw))
    with pytest.raises(ValueError, match=match):
        TabularMDPs(**kw)


def test_valid_kwargs_construct():
    # the baseline the malformed cases perturb must itself be valid
    TabularMDPs(**_kwargs(np.random.default_rng(17)))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda pi: pi * 1.1, "pi rows must sum to 1"),
        (lambda pi: pi[:, :, :-1], "pi must be float"),
        (lambda pi: pi[:, :-1], "pi must be float"),
        (lambda pi: np.swapaxes(pi, 0, 1), "pi must be float"),
        (lambda pi: pi + np.array([1.0, -0.5, -0.5]), "pi has negative probabilities"),
        (lambda pi: np.where(pi > 0.5, np.nan, pi), "pi must be finite: nan"),
    ],
)
def test_check_policy_rejects_malformed(make, match):
    rng = np.random.default_rng(18)
    m = random_outcome_mdps(rng)
    pi = random_policy(rng, B, S, A)
    np.testing.assert_array_equal(m.check_policy(pi), pi)
    with pytest.raises(ValueError, match=match):
        m.check_policy(make(pi))
    with pytest.raises(ValueError, match=match):
        state_values(m, make(pi))


def test_expect_next_checks_shape():
    m = random_outcome_mdps(np.random.default_rng(19))
    with pytest.raises(ValueError, match="values must be float"):
        m.expect_next(np.zeros((S, B)))


@pytest.mark.parametrize(
    "change, match",
    [
        ("P_too_big", "P rows must sum to at most 1"),
        ("P_negative", "P has negative probabilities"),
        ("P_not_square", "P must be float"),
        ("R_shape", "R must be float"),
        ("initial_sum", "initial rows must sum to 1"),
        ("R_nan", "R must be finite: nan at index"),
        ("R_inf", "R must be finite: inf"),
        ("P_nan", "P must be finite: nan"),
        ("initial_shape", r"initial must be float\[B, S\]=\(2, 7\)"),
    ],
)
def test_from_dense_rejects_malformed(change, match):
    rng = np.random.default_rng(20)
    P = rng.dirichlet(np.ones(S + 1), size=(B, S, A))[..., :S]
    R = rng.normal(size=(B, S, A))
    init = rng.dirichlet(np.ones(S), size=B)
    if change == "P_too_big":
        P = P * 2.0
    elif change == "P_negative":
        P = P.copy()
        P[0, 0, 0, 0] = -0.1
    elif change == "P_not_square":
        P = P[..., :-1]
    elif change == "R_shape":
        R = R[:, :, :-1]
    elif change == "initial_sum":
        init = init * 0.5
    elif change in ("R_nan", "R_inf"):
        R = R.copy()
        R[1, 2, 0] = np.nan if change == "R_nan" else np.inf
    elif change == "P_nan":
        P = P.copy()
        P[0, 1, 1, 2] = np.nan
    elif change == "initial_shape":
        init = init[:, :-1]
    with pytest.raises(ValueError, match=match):
        from_dense(P, R, init)
