"""Teachers (SPEC 3; Sections 3.2 and 4): Q-learning, policies from Q, noisy,
|A| > 4 and chain teachers, critics."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import environments as env
from policy_distillation import evaluation as ev
from policy_distillation import teachers as T
from policy_distillation.mdp import from_dense
from policy_distillation.methods import Teacher
from policy_distillation.policies import safe_log


def small_dense_mdps(seed: int, B: int = 12, S: int = 5, A: int = 3, stop: float = 0.1, gamma: float = 0.9):
    """Random dense MDPs, uniform initial state (so Q-learning sees every state)."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(B, S, A)) * (1.0 - stop)
    R = rng.uniform(-1.0, 1.0, size=(B, S, A))
    return from_dense(P, R, np.full((B, S), 1.0 / S), gamma=gamma)


def small_grids(seed: int = 0, B: int = 4, n: int = 6, **kw):
    cfg = env.GridConfig(rows=n, cols=n, p_goal=0.1, p_pit=0.05, **kw)
    return env.random_grid_worlds(np.random.default_rng(seed), B, cfg)


# ----------------------------------------------------------------- Q-learning
QL_TOL_MEAN = 0.05  # mean |Q - Q*| over all (b, s, a); rewards in [-1, 1], |Q*| <= 1 / (1 - 0.8 * 0.8)
QL_TOL_MAX = 0.2


def test_q_learning_converges_to_value_iteration():
    m = small_dense_mdps(0, B=6, S=4, A=2, stop=0.2, gamma=0.8)
    _, q_star = ev.value_iteration(m)
    cfg = T.QLearningConfig(steps=30_000, step_size=0.01, epsilon=1.0, discount=m.gamma)
    Q = T.q_learning(m, np.random.default_rng(1), cfg)
    err = np.abs(Q - q_star)
    assert err.mean() < QL_TOL_MEAN, err.mean()
    assert err.max() < QL_TOL_MAX, err.max()
    # the bound can fail: the wrong discount misses it
    Q_wrong = T.q_learning(m, np.random.default_rng(1), T.QLearningConfig(**{**cfg.__dict__, "discount": 0.5}))
    assert np.abs(Q_wrong - q_star).mean() > QL_TOL_MEAN


def test_q_learning_epsilon_greedy_behaviour_finds_greedy_optimum():
    m = small_dense_mdps(2, B=8, S=4, A=2, stop=0.2, gamma=0.8)
    _, q_star = ev.value_iteration(m)
    Q = T.q_learning(m, np.random.default_rng(3), T.QLearningConfig(steps=20_000, step_size=0.02, discount=m.gamma))
    j_star = ev.expected_return(m, ev.greedy_policy(q_star))
    j = ev.expected_return(m, T.greedy(Q))
    assert np.all(j >= j_star - 0.05 * np.abs(j_star) - 0.05)


def test_q_learning_seeded_determinism():
    m = small_grids()
    cfg = T.QLearningConfig(steps=2_000)
    Q1 = T.q_learning(m, np.random.default_rng(7), cfg)
    Q2 = T.q_learning(m, np.random.default_rng(7), cfg)
    Q3 = T.q_learning(m, np.random.default_rng(8), cfg)
    assert Q1.shape == (m.B, m.S, m.A)
    np.testing.assert_array_equal(Q1, Q2)
    assert not np.array_equal(Q1, Q3)


def test_q_learning_rejects_bad_input():
    m = small_grids()
    with pytest.raises(ValueError, match="step_size"):
        T.q_learning(m, np.random.default_rng(0), T.QLearningConfig(step_size=0.0))
    with pytest.raises(ValueError, match="epsilon"):
        T.q_learning(m, np.random.default_rng(0), T.QLearningConfig(epsilon=1.5))
    with pytest.raises(ValueError, match="Generator"):
        T.q_learning(m, 0, T.QLearningConfig(steps=1))


# ------------------------------------------------------------ policies from Q
def random_q(seed=0, shape=(3, 7, 5)):
    return np.random.default_rng(seed).normal(size=shape) * 3.0


def assert_distribution(pi, shape):
    assert pi.shape == shape
    assert np.all(pi >= 0)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)


def test_epsilon_greedy_and_softmax_are_distributions_with_limits():
    Q = random_q()
    greedy = T.greedy(Q)
    uniform = np.full(Q.shape, 1.0 / Q.shape[-1])
    eg = T.epsilon_greedy(Q, 0.1)
    assert_distribution(eg, Q.shape)
    np.testing.assert_allclose(eg.max(-1), 0.9 + 0.1 / 5)
    np.testing.assert_array_equal(eg.argmax(-1), Q.argmax(-1))
    np.testing.assert_array_equal(T.epsilon_greedy(Q, 0.0), greedy)
    np.testing.assert_allclose(T.epsilon_greedy(Q, 1.0), uniform)
    for temp in (0.01, 0.3, 1.0, 10.0):
        assert_distribution(T.softmax_policy(Q, temp), Q.shape)
    # T -> 0: greedy; T -> inf: uniform (limits, then the exact endpoints)
    np.testing.assert_allclose(T.softmax_policy(Q, 1e-4), greedy, atol=1e-9)
    np.testing.assert_allclose(T.softmax_policy(Q, 1e7), uniform, atol=1e-6)
    assert np.abs(T.softmax_policy(Q, 1.0) - greedy).max() > 0.1
    np.testing.assert_array_equal(T.softmax_policy(Q, 0.0), greedy)
    np.testing.assert_array_equal(T.softmax_policy(Q, np.inf), uniform)
    # softmax at T equals the obvious formula
    ref = np.exp(Q / 2.0) / np.exp(Q / 2.0).sum(-1, keepdims=True)
    np.testing.assert_allclose(T.softmax_policy(Q, 2.0), ref, rtol=1e-12)


def test_policy_constructors_reject_bad_input():
    Q = random_q()
    with pytest.raises(ValueError, match="temperature"):
        T.softmax_policy(Q, -1.0)
    with pytest.raises(ValueError, match="temperature"):
        T.softmax_policy(Q, np.nan)
    with pytest.raises(ValueError, match="epsilon"):
        T.epsilon_greedy(Q, 1.1)
    with pytest.raises(ValueError, match=r"float\[B, S, A\]"):
        T.epsilon_greedy(Q[0])
    with pytest.raises(ValueError, match="finite"):
        T.greedy(np.full((1, 2, 3), np.nan))


def test_entropy_and_teacher_determinism():
    m = small_grids()
    A = m.A
    uniform = np.full((m.B, m.S, A), 1.0 / A)
    np.testing.assert_allclose(T.policy_entropy(uniform), np.log(A))
    Q = np.random.default_rng(0).normal(size=(m.B, m.S, A))
    np.testing.assert_array_equal(T.policy_entropy(T.greedy(Q)), 0.0)
    np.testing.assert_allclose(T.teacher_determinism(m, uniform), np.log(A))
    np.testing.assert_allclose(T.teacher_determinism(m, T.greedy(Q)), 0.0, atol=1e-12)
    # mean under the teacher's own visitation, against a direct computation
    pi = T.softmax_policy(Q, 0.7)
    d = ev.state_visitation(m, pi)
    H = -(pi * np.log(pi)).sum(-1)
    np.testing.assert_allclose(T.teacher_determinism(m, pi), (d * H).sum(1) / d.sum(1), rtol=1e-12)
    # monotone in temperature: more entropic teachers are less deterministic
    h = [T.teacher_determinism(m, T.softmax_policy(Q, t)).mean() for t in (0.1, 1.0, 10.0)]
    assert h[0] < h[1] < h[2] < np.log(A)


# --------------------------------------------------------------- noisy teacher
def reachable_reference(m, pi):
    """Slow, obvious: states reachable from the start through positive-probability steps of pi."""
    P, _ = m.to_dense()
    Ppi = np.einsum("bsa,bsat->bst", pi, P)
    out = np.zeros((m.B, m.S), dtype=bool)
    for b in range(m.B):
        frontier = list(np.flatnonzero(m.initial[b] > 0))
        seen = set(frontier)
        while frontier:
            s = frontier.pop()
            for t in np.flatnonzero(Ppi[b, s] > 0):
                if t not in seen:
                    seen.add(t)
                    frontier.append(t)
        out[b, list(seen)] = True
    return out


def test_visited_states_match_reachability():
    m = small_grids(1, n=5)
    pi = T.greedy(np.random.default_rng(2).normal(size=(m.B, m.S, m.A)))
    vis = T.visited_states(m, pi)
    np.testing.assert_array_equal(vis, reachable_reference(m, pi))
    assert vis.sum(1).min() < m.S  # some states are not visited, so the test can fail


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_flip_teacher_changes_exactly_the_requested_share(fraction):
    m = small_grids(3, B=6)
    Q = np.random.default_rng(4).normal(size=(m.B, m.S, m.A))
    for pi in (T.greedy(Q), T.epsilon_greedy(Q)):
        noisy, flipped = T.flip_teacher(m, pi, fraction, np.random.default_rng(5))
        assert_distribution(noisy, pi.shape)
        vis = T.visited_states(m, pi)
        expected_n = np.rint(fraction * vis.sum(1)).astype(int)
        np.testing.assert_array_equal(flipped.sum(1), expected_n)
        assert not np.any(flipped & ~vis)
        changed = np.any(noisy != pi, axis=-1)
        np.testing.assert_array_equal(changed, flipped)  # the top action is unique: every flip changes pi
        # in a flipped state the old top action lost its mass to exactly one other action
        bb, ss = np.nonzero(flipped)
        top = pi.argmax(-1)[bb, ss]
        new_top = noisy.argmax(-1)[bb, ss]
        assert np.all(new_top != top)
        np.testing.assert_array_equal(np.sort(noisy[bb, ss], -1), np.sort(pi[bb, ss], -1))
        assert np.all((noisy[bb, ss] != pi[bb, ss]).sum(-1) == 2)


def test_flip_teacher_seeded_and_other_action_uniform():
    m = small_grids(3, B=40)
    pi = T.greedy(np.random.default_rng(4).normal(size=(m.B, m.S, m.A)))
    a1, f1 = T.flip_teacher(m, pi, 1.0, np.random.default_rng(9))
    a2, f2 = T.flip_teacher(m, pi, 1.0, np.random.default_rng(9))
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(f1, f2)
    # the replacement action relative to the top one, (new - top) mod A, is uniform on {1, 2, 3}
    bb, ss = np.nonzero(f1)
    rel = (a1.argmax(-1)[bb, ss] - pi.argmax(-1)[bb, ss]) % m.A
    counts = np.bincount(rel, minlength=m.A)
    assert counts[0] == 0
    n = counts.sum()
    assert n > 300
    assert np.all(np.abs(counts[1:] - n / 3) < 4 * np.sqrt(n * (1 / 3) * (2 / 3)))
    with pytest.raises(ValueError, match="fraction"):
        T.flip_teacher(m, pi, 1.5, np.random.default_rng(0))


# ----------------------------------------------------------------- |A| > 4
@pytest.mark.parametrize("n_actions", [4, 9, 4096])
def test_large_action_teacher_prefers_its_greedy_move_and_explores_everywhere(n_actions):
    """Figure 4's teacher: argmax is the Q-learning greedy move in every state; eps / |A| on every action."""
    q4 = np.random.default_rng(6).normal(size=(3, 7, 4))
    pi = T.epsilon_greedy_moves(q4, n_actions, 0.1)
    assert pi.shape == (3, 7, n_actions)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(pi.argmax(-1), q4.argmax(-1))
    assert np.all(pi.argmax(-1) < 4)
    np.testing.assert_allclose(pi[..., 4:], 0.1 / n_actions)
    if n_actions == 4:
        np.testing.assert_array_equal(pi, T.epsilon_greedy(q4, 0.1))
    with pytest.raises(ValueError, match="n_actions"):
        T.epsilon_greedy_moves(q4, 3)


def test_no_op_actions_never_move_the_agent():
    m = env.with_actions(small_grids(5, B=3, n=5), 9, eta=0.5)
    P, _ = m.to_dense()
    stay = np.eye(m.S)[None, :, None, :] * m.outcome_continue[:, :, None, 4:5]  # the "stay" outcome's continuation
    np.testing.assert_allclose(P[:, :, 4:, :], np.broadcast_to(stay, (m.B, m.S, 5, m.S)), atol=1e-15)
    assert np.abs(P[:, :, :4] - P[:, :, :1]).max() > 0.1  # the moves do move


# ------------------------------------------------------------------- chain
def test_chain_teachers():
    m = env.chain(5)
    opt, adv = T.chain_teachers(m)
    assert isinstance(opt, Teacher) and isinstance(adv, Teacher)
    interior = slice(1, 10)
    np.testing.assert_allclose(opt.value[0, interior], 1.0)
    np.testing.assert_array_equal(adv.value, opt.value)  # adversarial critic = optimal teacher's V
    np.testing.assert_allclose(ev.state_values(m, adv.pi)[0, interior], -1.0)  # its true value
    np.testing.assert_array_equal(opt.pi[..., env.RIGHT], 1.0)
    np.testing.assert_array_equal(adv.pi[..., env.LEFT], 1.0)


# -------------------------------------------------- floored log-probabilities
def all_teacher_policies():
    m = small_grids(8, B=3)
    Q = T.q_learning(m, np.random.default_rng(0), T.QLearningConfig(steps=500))
    chain_opt, chain_adv = T.chain_teachers(env.chain(3))
    return {
        "greedy": T.greedy(Q),
        "epsilon_greedy": T.epsilon_greedy(Q),
        "softmax_cold": T.softmax_policy(Q * 1e3, 1e-3),  # underflows to exact zeros
        "softmax": T.softmax_policy(Q, 1.0),
        "noisy_greedy": T.flip_teacher(m, T.greedy(Q), 0.25, np.random.default_rng(1))[0],
        "epsilon_greedy_A12": T.epsilon_greedy_moves(Q, 12),
        "greedy_A12": T.epsilon_greedy_moves(Q, 12, epsilon=0.0),
        "chain_optimal": chain_opt.pi,
        "chain_adversarial": chain_adv.pi,
    }


def test_every_teacher_has_finite_floored_log_probabilities():
    policies = all_teacher_policies()
    has_zeros = 0
    for name, pi in policies.items():
        assert np.isfinite(safe_log(pi)).all(), name
        has_zeros += bool(np.any(pi == 0))
    assert has_zeros >= 5  # the floor is actually exercised (raw log would give -inf)


# ------------------------------------------------------------------ critics
def test_monte_carlo_critic_agrees_with_exact_within_confidence_bound():
    m = small_grids(9, B=3, n=5)
    pi = T.epsilon_greedy(np.random.default_rng(0).normal(size=(m.B, m.S, m.A)))
    V = T.teacher_critic(m, pi, "exact")
    from policy_distillation.rollouts import monte_carlo_values

    V_hat, se = monte_carlo_values(m, pi, np.random.default_rng(1), n_trajectories=400)
    # 4.5 standard errors per state (family-wise ~ 75 states * 7e-6 < 1e-3), plus a z^2 check
    assert np.all(np.abs(V_hat - V) <= 4.5 * se + 1e-9)
    z = (V_hat - V)[se > 0] / se[se > 0]
    assert 0.6 < np.mean(z**2) < 1.5
    # the bound is sharp: a biased critic (+5% of the return scale) violates it
    assert np.any(np.abs(V_hat + 0.5 - V) > 4.5 * se + 1e-9)


def test_teacher_critics_and_make_teacher():
    m = small_grids(10, B=2, n=5)
    pi = T.epsilon_greedy(np.random.default_rng(0).normal(size=(m.B, m.S, m.A)))
    t_exact = T.make_teacher(m, pi, "exact", name="q")
    np.testing.assert_allclose(t_exact.value, ev.state_values(m, pi))
    assert t_exact.name == "q"
    np.testing.assert_array_equal(T.make_teacher(m, pi, "zero").value, 0.0)
    assert T.make_teacher(m, pi, None).value is None
    mc1 = T.make_teacher(m, pi, "monte_carlo", rng=np.random.default_rng(3), n_trajectories=20).value
    mc2 = T.make_teacher(m, pi, "monte_carlo", rng=np.random.default_rng(3), n_trajectories=20).value
    np.testing.assert_array_equal(mc1, mc2)
    assert mc1.shape == (m.B, m.S)
    with pytest.raises(ValueError, match="Generator"):
        T.make_teacher(m, pi, "monte_carlo")
    with pytest.raises(ValueError, match="critic kind"):
        T.make_teacher(m, pi, "oracle")


def test_q_learning_reports_progress(monkeypatch):
    monkeypatch.setattr(T, "PROGRESS_EVERY_SECONDS", 0.0)
    m = env.random_grid_worlds(np.random.default_rng(0), 2, env.GridConfig(rows=4, cols=4))
    seen = []
    T.q_learning(m, np.random.default_rng(1), T.QLearningConfig(steps=50), progress=lambda d, n: seen.append((d, n)))
    assert seen[-1] == (50, 50) and len(seen) >= 2 and all(n == 50 for _, n in seen)


def test_reverse_flip_swaps_the_top_move_with_its_opposite():
    m = small_grids(8, B=3)
    Q = T.q_learning(m, np.random.default_rng(0), T.QLearningConfig(steps=500))
    pi = T.greedy(Q)
    noisy, flipped = T.flip_teacher(m, pi, 0.5, np.random.default_rng(2), action="reverse")
    top = pi.argmax(-1)
    assert flipped.any()
    np.testing.assert_array_equal(noisy.argmax(-1)[flipped], T.REVERSE_MOVE[top[flipped]])
    np.testing.assert_array_equal(noisy[~flipped], pi[~flipped])
    with pytest.raises(ValueError, match="flip action"):
        T.flip_teacher(m, pi, 0.5, np.random.default_rng(2), action="nope")


def test_flips_by_visit_mass_favour_frequent_states():
    """With states="visits" a state is chosen with probability growing with d_pi(s):
    over many draws, the flipped states' mean visitation exceeds the uniform rule's."""
    m = small_grids(8, B=1)
    Q = T.q_learning(m, np.random.default_rng(0), T.QLearningConfig(steps=2000))
    pi = T.epsilon_greedy(Q, 0.5)
    d = ev.state_visitation(m, pi)[0]
    mass = {}
    for rule in ("uniform", "visits"):
        picked = [d[T.flip_teacher(m, pi, 0.2, np.random.default_rng(k), states=rule)[1][0]].mean()
                  for k in range(200)]
        mass[rule] = np.mean(picked)
    assert mass["visits"] > 1.5 * mass["uniform"], mass
