"""Tests for ``policy_distillation.environments``: grid worlds, chain, counterexample.

Grids are 7 x 9 (rows != cols) so that a transposed index cannot pass. The
generator is compared with a plain per-cell loop written from SPEC 2.1.
"""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as env
from policy_distillation.environments import FREE, GOAL, PIT, WALL, GridConfig
from policy_distillation.evaluation import expected_return, state_values, state_visitation

ROWS, COLS = 7, 9
DELTAS = [(0, -1), (0, 1), (-1, 0), (1, 0), (0, 0)]  # left, right, up, down, stay


def grids(seed: int, n: int = 12, **cfg_kwargs):
    cfg = GridConfig(rows=ROWS, cols=COLS, p_goal=0.08, p_pit=0.05, **cfg_kwargs)
    return env.random_grid_worlds(np.random.default_rng(seed), n, cfg), cfg


def uniform(m):
    return np.full((m.B, m.S, m.A), 1.0 / m.A)


def reference_transitions(layout: np.ndarray, cfg: GridConfig):
    """Plain loop: for each cell s and move k, (next_state, reward, continue) per SPEC 2.1."""
    S = cfg.rows * cfg.cols
    centre = (cfg.rows // 2) * cfg.cols + cfg.cols // 2
    nxt = np.zeros((S, 5), dtype=np.int64)
    rew = np.zeros((S, 5))
    cont = np.zeros((S, 5))
    for s in range(S):
        r, c = divmod(s, cfg.cols)
        for k, (dr, dc) in enumerate(DELTAS):
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < cfg.rows and 0 <= c2 < cfg.cols and layout[r2 * cfg.cols + c2] != WALL:
                t = r2 * cfg.cols + c2
            else:
                t = s
            kind = layout[t]
            rew[s, k] = cfg.goal_reward if kind == GOAL else cfg.pit_reward if kind == PIT else 0.0
            cont[s, k] = 1.0 - cfg.stop_prob
            if kind in (GOAL, PIT):
                if cfg.terminal_mode == "end":
                    cont[s, k] = 0.0
                else:
                    t = centre
            nxt[s, k] = t
    return nxt, rew, cont


# ---------------------------------------------------------------- grid worlds
@pytest.mark.parametrize("mode", ["end", "reset"])
def test_grid_matches_per_cell_reference(mode):
    m, cfg = grids(1, terminal_mode=mode)
    assert m.grid_shape == (ROWS, COLS) and m.S == ROWS * COLS and m.K == 5
    for b in range(m.B):
        nxt, rew, cont = reference_transitions(m.layout[b], cfg)
        np.testing.assert_array_equal(m.next_state[b], nxt)
        np.testing.assert_array_equal(m.outcome_reward[b], rew)
        np.testing.assert_array_equal(m.outcome_continue[b], cont)


@pytest.mark.parametrize("mode", ["end", "reset"])
def test_grid_invariants(mode):
    m, cfg = grids(2, n=30, terminal_mode=mode)
    centre = (ROWS // 2) * COLS + COLS // 2
    assert centre == 3 * 9 + 4
    # centre free, the single initial state
    assert np.all(m.layout[:, centre] == FREE)
    expected_init = np.zeros((m.B, m.S))
    expected_init[:, centre] = 1.0
    np.testing.assert_array_equal(m.initial, expected_init)
    # the family is not trivial: every kind of cell occurs
    assert {FREE, WALL, GOAL, PIT} <= set(np.unique(m.layout).tolist())
    # outcome rows sum to 1
    np.testing.assert_allclose(m.outcome_prob.sum(-1), 1.0, rtol=0, atol=1e-12)
    walls = m.layout == WALL
    terminal = (m.layout == GOAL) | (m.layout == PIT)
    for b in range(m.B):
        # no outcome from a non-wall cell enters a wall
        assert not np.any(walls[b][m.next_state[b][~walls[b]]])
    # wall cells are never visited; in "end" mode neither are terminal cells
    d = state_visitation(m, uniform(m))
    assert np.all(d[walls] == 0.0)
    if mode == "end":
        assert np.all(d[terminal] == 0.0)
        # entering a terminal ends the episode, and only that ends it with certainty
        enters_terminal = np.take_along_axis(terminal, m.next_state.reshape(m.B, -1), 1).reshape(m.next_state.shape)
        assert np.all(m.outcome_continue[enters_terminal] == 0.0)
        np.testing.assert_array_equal(m.outcome_continue[~enters_terminal], 1.0 - cfg.stop_prob)
    else:
        # terminal cells are never occupied: entering one returns the agent to the centre
        assert np.all(d[terminal] == 0.0)
        assert np.all(~terminal[np.arange(m.B)[:, None, None], m.next_state])
        np.testing.assert_array_equal(m.outcome_continue, 1.0 - cfg.stop_prob)
        # rewards are still paid on the way back to the centre
        assert np.any((m.next_state == centre) & (m.outcome_reward == cfg.goal_reward))


def test_reset_and_end_share_layouts_and_differ_only_at_terminals():
    end, _ = grids(3, terminal_mode="end")
    reset, cfg = grids(3, terminal_mode="reset")
    np.testing.assert_array_equal(end.layout, reset.layout)
    np.testing.assert_array_equal(end.outcome_reward, reset.outcome_reward)
    terminal = (end.layout == GOAL) | (end.layout == PIT)
    enters = np.take_along_axis(terminal, end.next_state.reshape(end.B, -1), 1).reshape(end.next_state.shape)
    np.testing.assert_array_equal(end.next_state[~enters], reset.next_state[~enters])
    assert np.all(reset.next_state[enters] == (ROWS // 2) * COLS + COLS // 2)
    assert enters.any()
    # with the same policy, "reset" earns rewards repeatedly; ends are shorter
    pi = uniform(end)
    assert state_visitation(reset, pi).sum() > state_visitation(end, pi).sum()


@pytest.mark.parametrize("n_actions", [4, 6, 11])
@pytest.mark.parametrize("eta", [0.0, 0.2, 1.0])
def test_action_outcome_probs(n_actions, eta):
    p = env.action_outcome_probs(n_actions, eta)
    assert p.shape == (n_actions, 5)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=1e-15)
    for a in range(n_actions):
        expected = np.full(5, eta / 4)
        if a < 4:  # the intended move with 1 - eta, else one of four moves uniformly
            expected[a] += 1 - eta
            expected[4] = 0.0
        else:  # a no-op always stays: no transition noise (SPEC 2.1)
            expected[:] = 0.0
            expected[4] = 1.0
        np.testing.assert_allclose(p[a], expected, rtol=0, atol=1e-15)


def test_no_op_actions_never_move_the_agent():
    eta = 0.3
    m, cfg = grids(4, n=5, n_actions=7, eta=eta)
    P, _ = m.to_dense()
    free = m.layout == FREE
    moves_keep = 1.0 - cfg.stop_prob
    for b in range(m.B):
        nxt, _, cont = reference_transitions(m.layout[b], cfg)
        for s in np.flatnonzero(free[b]):
            for a in range(4, m.A):
                expected = np.zeros(m.S)
                expected[nxt[s, 4]] += cont[s, 4]
                np.testing.assert_allclose(P[b, s, a], expected, rtol=0, atol=1e-12)
            assert nxt[s, 4] == s
            np.testing.assert_allclose(P[b, s, 4, s], moves_keep, rtol=0, atol=1e-12)


def test_move_actions_are_deterministic_without_noise():
    m, cfg = grids(5, n=5, eta=0.0, stop_prob=0.0, gamma=0.9)
    P, _ = m.to_dense()
    for b in range(m.B):
        nxt, _, cont = reference_transitions(m.layout[b], cfg)
        for s in np.flatnonzero(m.layout[b] == FREE):
            for a in range(4):
                row = P[b, s, a]
                # all the mass in one next cell (or none if it ends the episode)
                assert np.count_nonzero(row) == (1 if cont[s, a] > 0 else 0)
                if cont[s, a] > 0:
                    assert row[nxt[s, a]] == 1.0
    # and with noise a move action can go elsewhere
    noisy, _ = grids(5, n=5, eta=0.2, stop_prob=0.0, gamma=0.9)
    Pn, _ = noisy.to_dense()
    assert np.count_nonzero(Pn[:, :, :4] > 0, axis=-1).max() > 1


def test_same_seed_identical_worlds_different_seed_different():
    a, _ = grids(7, terminal_mode="reset", n_actions=5)
    b, _ = grids(7, terminal_mode="reset", n_actions=5)
    c, _ = grids(8, terminal_mode="reset", n_actions=5)
    for name in ("initial", "next_state", "outcome_prob", "outcome_reward", "outcome_continue", "layout"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name
    assert not np.array_equal(a.layout, c.layout)
    assert not np.array_equal(a.next_state, c.next_state)


def test_with_actions_keeps_layouts_and_reduces_to_four_actions():
    m4, cfg = grids(9, n=6, eta=0.2)
    m9 = env.with_actions(m4, 9, cfg.eta)
    assert m9.A == 9 and m4.A == 4
    for name in ("initial", "next_state", "outcome_reward", "outcome_continue", "layout"):
        np.testing.assert_array_equal(getattr(m9, name), getattr(m4, name))
    assert m9.grid_shape == m4.grid_shape and m9.gamma == m4.gamma
    # the same worlds drawn directly with 9 actions from the same seed
    direct, _ = grids(9, n=6, eta=0.2, n_actions=9)
    np.testing.assert_array_equal(direct.layout, m4.layout)
    np.testing.assert_array_equal(direct.outcome_prob, m9.outcome_prob)
    # reduces-to: a policy that never uses the no-ops has the same value
    rng = np.random.default_rng(10)
    pi4 = rng.dirichlet(np.ones(4), size=(m4.B, m4.S))
    pi9 = np.concatenate([pi4, np.zeros((m4.B, m4.S, 5))], axis=-1)
    np.testing.assert_allclose(state_values(m9, pi9), state_values(m4, pi4), rtol=0, atol=1e-10)
    # while putting mass on no-ops changes it
    pi9_noop = np.concatenate([0.5 * pi4, np.full((m4.B, m4.S, 5), 0.1)], axis=-1)
    assert np.abs(expected_return(m9, pi9_noop) - expected_return(m4, pi4)).max() > 1e-3


def test_layout_frequencies_follow_the_probabilities():
    cfg = GridConfig(rows=20, cols=20, p_wall=0.2, p_goal=0.03, p_pit=0.05)  # every kind present
    lay = env.grid_layouts(np.random.default_rng(11), 100, cfg)
    assert lay.shape == (100, 400) and lay.dtype == np.int8
    centre = env.centre_index(20, 20)
    cells = np.delete(lay, centre, axis=1).ravel()
    n = cells.size
    p_wall = cfg.p_wall
    p_goal = (1 - cfg.p_wall) * cfg.p_goal
    p_pit = (1 - cfg.p_wall) * (1 - cfg.p_goal) * cfg.p_pit
    for kind, p in ((WALL, p_wall), (GOAL, p_goal), (PIT, p_pit)):
        freq = np.mean(cells == kind)
        assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n), (kind, freq, p)
    assert np.all(lay[:, centre] == FREE)
    # p_wall = 1: every cell but the centre is a wall
    all_walls = env.grid_layouts(np.random.default_rng(0), 2, GridConfig(rows=5, cols=6, p_wall=1.0))
    expected = np.full((2, 30), WALL)
    expected[:, env.centre_index(5, 6)] = FREE
    np.testing.assert_array_equal(all_walls, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_actions": 3}, r"n_actions \(\|A\|\) must be at least 4"),
        ({"n_actions": 0}, r"n_actions \(\|A\|\) must be at least 4"),
        ({"terminal_mode": "restart"}, "terminal_mode must be 'end' or 'reset'"),
        ({"eta": 1.5}, "eta must be a probability"),
        ({"p_wall": -0.1}, "p_wall must be a probability"),
        ({"stop_prob": 0.0}, "stop_prob must be > 0 when gamma = 1"),
        ({"rows": 0}, "grid must have at least one row and column"),
        ({"gamma": 1.5}, r"gamma must lie in \(0, 1\]"),
        ({"gamma": 0.0}, r"gamma must lie in \(0, 1\]"),
    ],
)
def test_grid_config_rejects_malformed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        env.random_grid_worlds(np.random.default_rng(0), 2, GridConfig(**{"rows": 5, "cols": 6, **kwargs}))


def test_grid_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="number of MDPs must be at least 1"):
        env.random_grid_worlds(np.random.default_rng(0), 0, GridConfig(rows=5, cols=6))
    with pytest.raises(ValueError, match=r"n_actions \(\|A\|\) must be at least 4"):
        env.action_outcome_probs(3, 0.1)
    with pytest.raises(ValueError, match="eta must be a probability"):
        env.action_outcome_probs(4, -0.1)
    with pytest.raises(ValueError, match="layout must be int8"):
        env.grid_worlds_from_layouts(np.zeros((2, 31)), GridConfig(rows=5, cols=6))
    m, _ = grids(0, n=2)
    with pytest.raises(ValueError, match=r"n_actions \(\|A\|\) must be at least 4"):
        env.with_actions(m, 2, 0.1)


# ---------------------------------------------------------------------- chain
@pytest.mark.parametrize("T", [1, 4, 5])
def test_chain_structure(T):
    m = env.chain(T)
    S = 2 * T + 1
    assert (m.B, m.S, m.A, m.K) == (1, S, 2, 2) and m.gamma == 1.0
    np.testing.assert_array_equal(m.initial[0], np.eye(S)[T])
    P, R = m.to_dense()
    for s in range(1, S - 1):  # interior states
        for a, s2 in ((env.LEFT, s - 1), (env.RIGHT, s + 1)):
            ends = s2 in (0, S - 1)
            assert R[0, s, a] == (-1.0 if s2 == 0 else 1.0 if s2 == S - 1 else 0.0)
            expected = np.zeros(S)
            if not ends:
                expected[s2] = 1.0
            np.testing.assert_array_equal(P[0, s, a], expected)
    assert env.chain(T, gamma=0.9).gamma == 0.9


@pytest.mark.parametrize("T", [0, -2, 2.5])
def test_chain_rejects_bad_length(T):
    with pytest.raises(ValueError, match="chain half-length T must be an integer >= 1"):
        env.chain(T)


def test_chain_accepts_or_rejects_integral_float():
    try:
        m = env.chain(3.0)
    except ValueError:
        return
    assert m.S == 7


# ------------------------------------------------------------- counterexample
def test_counterexample_structure():
    """SPEC 2.4: s0 -L-> s_L, s0 -R-> s_R (reward 0); in s_L, s_R both actions end with rewards."""
    rewards = (1.5, -0.5, 3.0, -2.0)
    m = env.counterexample(rewards)
    assert (m.B, m.S, m.A) == (1, 3, 2)
    np.testing.assert_array_equal(m.initial, [[1.0, 0.0, 0.0]])
    P, R = m.to_dense()
    L, Rt = env.LEFT, env.RIGHT
    np.testing.assert_array_equal(P[0, env.S0, L], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(P[0, env.S0, Rt], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(R[0, env.S0], [0.0, 0.0])
    for s in (env.S_L, env.S_R):
        np.testing.assert_array_equal(P[0, s], 0.0)  # both actions end the episode
    np.testing.assert_array_equal(R[0, env.S_L], rewards[:2])
    np.testing.assert_array_equal(R[0, env.S_R], rewards[2:])
    assert env.counterexample().to_dense()[1][0, 1:].ravel().tolist() == list(env.COUNTEREXAMPLE_REWARDS)


@pytest.mark.parametrize("p, q", [(0.2, 0.7), (0.9, 0.1), (0.5, 0.5)])
def test_counterexample_return_closed_form(p, q):
    """p = pi(L | s0), q = pi(L | s_L) = pi(L | s_R) (the shared parameter)."""
    rLL, rLR, rRL, rRR = env.COUNTEREXAMPLE_REWARDS
    m = env.counterexample()
    pi = np.array([[[p, 1 - p], [q, 1 - q], [q, 1 - q]]])
    J = expected_return(m, pi)[0]
    expected = p * (q * rLL + (1 - q) * rLR) + (1 - p) * (q * rRL + (1 - q) * rRR)
    assert abs(J - expected) < 1e-12
    d = state_visitation(m, pi)[0]
    np.testing.assert_allclose(d, [1.0, p, 1 - p], rtol=0, atol=1e-12)


def test_counterexample_rejects_wrong_reward_count():
    with pytest.raises(ValueError, match="rewards must hold 4 numbers"):
        env.counterexample((1.0, 2.0, 3.0))


@pytest.mark.parametrize("T, stop", [(1, 0.01), (5, 0.01), (7, 0.2)])
def test_chain_stop_probability_discounts_the_optimal_return(T, stop):
    from policy_distillation.environments import chain
    from policy_distillation.evaluation import state_values

    mdps = chain(T, stop_prob=stop)
    right = np.zeros((1, 2 * T + 1, 2))
    right[..., 1] = 1.0
    # T moves to the +1 end; the T - 1 moves into interior states each survive with 1 - stop
    assert state_values(mdps, right)[0, T] == pytest.approx((1 - stop) ** (T - 1), abs=1e-12)
    with pytest.raises(ValueError, match="stop_prob"):
        chain(T, stop_prob=1.0)


@pytest.mark.parametrize("eta, A", [(0.0, 4), (0.5, 4), (0.3, 9)])
def test_grid_eta_inverts_action_outcome_probs(eta, A):
    m = env.random_grid_worlds(np.random.default_rng(0), 2, GridConfig(rows=4, cols=4, eta=eta, n_actions=A))
    assert env.grid_eta(m) == pytest.approx(eta, abs=1e-15)
    with pytest.raises(ValueError, match="grid-world"):
        env.grid_eta(env.chain(2))
