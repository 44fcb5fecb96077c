"""MDP generators: random grid worlds (SPEC 2.1), the chain (SPEC 2.3) and the
Figure 2 counterexample (SPEC 2.4).

Grid worlds. Cells are states, indexed ``row * cols + col``; the centre cell is
the single initial state. Outcomes k = 0..4 are the moves left, right, up,
down and "stay". Movement action ``a < 4`` produces its own move with
probability ``1 - eta + eta/4`` and each other move with ``eta/4`` (the
intended move with probability 1 - eta, else one of the four moves uniformly);
a no-op action ``a >= 4`` (Figure 4) always stays: the transition noise applies
to moves only (SPEC 2.1: the added actions "do not move the agent (never: no
transition noise applies to them)"). A move that leaves the grid or enters a wall stays. Rewards
belong to cells and are paid on entering them. After every action the
episode stops with probability ``stop_prob`` (the absorbing state).

Terminal cells (SPEC 2.1 gives two readings):
  - ``"end"`` (default): entering a terminal cell pays its reward and ends the
    trajectory. Returns are then bounded by the largest reward (10), the scale
    of the paper's Figure 5 (teacher near 7 points); see
    ``figures/calibration.md`` for the measurement behind the choice.
  - ``"reset"``: entering pays the reward and puts the agent back on the
    initial state; only the ``stop_prob`` stop ends the trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .mdp import TabularMDPs, from_dense
from .streams import split_generator, uniforms

FREE, WALL, GOAL, PIT = 0, 1, 2, 3  # layout cell kinds
MOVES = np.array([[0, -1], [0, 1], [-1, 0], [1, 0], [0, 0]])  # (drow, dcol): left, right, up, down, stay
N_MOVES = 4


@dataclass(frozen=True)
class GridConfig:
    """Parameters of the random grid-world family (SPEC 2.1 / 2.2).

    Defaults are the calibrated ones (``figures/calibration.md``, 1000
    worlds): eta = 0.5 brings the optimal return from the start to a mean of
    about 9 (the epsilon-greedy Q-learning teacher near the paper's Figure 5
    scale of ~7-8 points) while a reward stays reachable from the start in
    99.5% of worlds; "end" terminals keep returns bounded by 10 ("reset" gives
    returns near 200, far from the paper's scale). No -10 "pit" terminals by
    default (``p_pit = 0``; the kind stays available): a pit ends the episode,
    so every loss that sums a non-negative per-step cost over the episode
    (entropy regularised, expected entropy regularised, n-distill) is partly
    minimised by walking into the nearest pit. Measured with the exact
    estimator (20 worlds, lr 0.03, 300 steps from a uniform student): expected
    entropy regularised reached -0.81 with p_pit = 0.05 against 9.22 without
    (per-step cross-entropy: 5.86 and 8.70) - a confound of Figure 4's claim,
    which is about action-space size.
    Cells are generated row by row from the top-left: wall with ``p_wall``;
    otherwise a +``goal_reward`` terminal with ``p_goal``; otherwise a
    ``pit_reward`` terminal with ``p_pit``; otherwise free.
    """

    rows: int = 20
    cols: int = 20
    eta: float = 0.5
    p_wall: float = 0.2
    p_goal: float = 0.02
    p_pit: float = 0.0
    goal_reward: float = 10.0
    pit_reward: float = -10.0
    stop_prob: float = 0.01
    terminal_mode: str = "end"
    n_actions: int = 4
    gamma: float = 1.0

    def validate(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"grid must have at least one row and column, got {self.rows}x{self.cols}")
        for name in ("eta", "p_wall", "p_goal", "p_pit", "stop_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v}")
        if self.stop_prob <= 0 and self.gamma >= 1:
            raise ValueError("stop_prob must be > 0 when gamma = 1, or episodes may never end")
        if self.terminal_mode not in ("end", "reset"):
            raise ValueError(f"terminal_mode must be 'end' or 'reset', got {self.terminal_mode!r}")
        if self.n_actions < 4:
            raise ValueError(f"n_actions (|A|) must be at least 4 (the four moves), got {self.n_actions}")


def action_outcome_probs(n_actions: int, eta: float) -> np.ndarray:
    """P(outcome | action) for grid worlds -> float[A, 5] (moves L, R, U, D, stay).

    A move: its own move with 1 - eta + eta/4, each other move with eta/4. A
    no-op (a >= 4): stay with probability 1 (no transition noise).
    """
    if n_actions < 4:
        raise ValueError(f"n_actions (|A|) must be at least 4, got {n_actions}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be a probability in [0, 1], got {eta}")
    p = np.zeros((n_actions, 5))
    p[:N_MOVES, :N_MOVES] = eta / 4.0
    p[np.arange(N_MOVES), np.arange(N_MOVES)] += 1.0 - eta
    p[N_MOVES:, 4] = 1.0
    return p


def grid_layouts(rng: np.random.Generator | Sequence[np.random.Generator], n: int, cfg: GridConfig) -> np.ndarray:
    """Sample cell kinds row by row from the top-left (SPEC 2.1). -> int8[n, rows*cols].

    Each cell draws one uniform number u: wall if u < p_wall, else goal if
    u < p_wall + (1 - p_wall) p_goal, and so on; the centre is forced free.
    ``rng``: one Generator (split into one child per world) or one Generator
    per world (``streams.world_generators``): world b's cells come from its own stream.
    """
    u = uniforms(split_generator(rng, n), cfg.rows * cfg.cols)
    t_wall = cfg.p_wall
    t_goal = t_wall + (1 - cfg.p_wall) * cfg.p_goal
    t_pit = t_goal + (1 - cfg.p_wall) * (1 - cfg.p_goal) * cfg.p_pit
    lay = np.full(u.shape, FREE, dtype=np.int8)
    lay[u < t_pit] = PIT
    lay[u < t_goal] = GOAL
    lay[u < t_wall] = WALL
    lay[:, centre_index(cfg.rows, cfg.cols)] = FREE
    return lay


def centre_index(rows: int, cols: int) -> int:
    return (rows // 2) * cols + cols // 2


def grid_worlds_from_layouts(layout: np.ndarray, cfg: GridConfig) -> TabularMDPs:
    """Compact outcome-form MDPs for given cell kinds (int8[B, rows*cols])."""
    cfg.validate()
    layout = np.asarray(layout, dtype=np.int8)
    B, S = layout.shape
    if S != cfg.rows * cfg.cols:
        raise ValueError(f"layout must be int8[B, {cfg.rows * cfg.cols}], got {layout.shape}")
    r, c = np.divmod(np.arange(S), cfg.cols)
    nr = r[:, None] + MOVES[None, :, 0]
    nc = c[:, None] + MOVES[None, :, 1]
    inside = (nr >= 0) & (nr < cfg.rows) & (nc >= 0) & (nc < cfg.cols)
    target = np.where(inside, nr * cfg.cols + nc, np.arange(S)[:, None])  # [S, 5]
    target = np.broadcast_to(target, (B, S, 5))
    hits_wall = np.take_along_axis(layout, target.reshape(B, -1), axis=1).reshape(B, S, 5) == WALL
    nxt = np.where(hits_wall, np.arange(S)[None, :, None], target)
    kind = np.take_along_axis(layout, nxt.reshape(B, -1), axis=1).reshape(B, S, 5)
    cell_reward = np.where(layout == GOAL, cfg.goal_reward, np.where(layout == PIT, cfg.pit_reward, 0.0))
    reward = np.take_along_axis(cell_reward, nxt.reshape(B, -1), axis=1).reshape(B, S, 5)
    terminal = (kind == GOAL) | (kind == PIT)
    cont = np.full((B, S, 5), 1.0 - cfg.stop_prob)
    centre = centre_index(cfg.rows, cfg.cols)
    if cfg.terminal_mode == "end":
        cont[terminal] = 0.0
    else:
        nxt = np.where(terminal, centre, nxt)
    initial = np.zeros((B, S))
    initial[:, centre] = 1.0
    op = action_outcome_probs(cfg.n_actions, cfg.eta)[None, None]  # shared by all MDPs and states
    return TabularMDPs(
        initial=initial,
        next_state=nxt,
        outcome_prob=op,
        outcome_reward=reward,
        outcome_continue=cont,
        gamma=cfg.gamma,
        layout=layout,
        grid_shape=(cfg.rows, cfg.cols),
    )


def random_grid_worlds(rng: np.random.Generator | Sequence[np.random.Generator], n: int,
                       cfg: GridConfig | None = None) -> TabularMDPs:
    """``n`` random grid worlds (SPEC 2.1) drawn with ``rng`` (one Generator, or one per world).

    The same generator state gives identical worlds; worlds with |A| > 4 share
    their layouts with the |A| = 4 family drawn from the same seed.
    """
    cfg = cfg or GridConfig()
    cfg.validate()
    if n < 1:
        raise ValueError(f"number of MDPs must be at least 1, got {n}")
    return grid_worlds_from_layouts(grid_layouts(rng, n, cfg), cfg)


def grid_eta(mdps: TabularMDPs) -> float:
    """The transition noise eta of grid worlds built by this module (inverse of
    :func:`action_outcome_probs`); raises if the outcome table is not of that form."""
    op = mdps.outcome_prob
    if op.shape[:2] != (1, 1) or op.shape[3] != 5:
        raise ValueError("not a grid-world outcome table (expected outcome_prob of shape [1, 1, A, 5])")
    eta = float(4.0 * op[0, 0, 0, 1])  # a move action puts eta/4 on every other move
    if not np.allclose(op[0, 0], action_outcome_probs(op.shape[2], eta), rtol=0, atol=1e-12):
        raise ValueError("outcome table does not match action_outcome_probs for any eta")
    return eta


def with_actions(mdps: TabularMDPs, n_actions: int, eta: float) -> TabularMDPs:
    """The same grid worlds with ``n_actions`` actions (extra ones are no-ops, Figure 4)."""
    return TabularMDPs(
        initial=mdps.initial,
        next_state=mdps.next_state,
        outcome_prob=action_outcome_probs(n_actions, eta)[None, None],
        outcome_reward=mdps.outcome_reward,
        outcome_continue=mdps.outcome_continue,
        gamma=mdps.gamma,
        layout=mdps.layout,
        grid_shape=mdps.grid_shape,
    )


LEFT, RIGHT = 0, 1


def chain(T: int, gamma: float = 1.0, stop_prob: float = 0.0) -> TabularMDPs:
    """Corridor of 2T + 1 states (SPEC 2.3), as a batch of one MDP.

    The agent starts in state T (the middle); actions 0 = left, 1 = right move
    deterministically; entering state 0 pays -1 and ends the episode, entering
    state 2T pays +1 and ends it. The end states are kept (never occupied) so
    that S = 2T + 1. With ``stop_prob > 0`` every other step also ends the
    episode with that probability, as in the grid worlds: sampled students that
    learn to pace back and forth (TD + V_pi with the adversarial teacher) then
    still have finite episodes.
    """
    if int(T) != T or T < 1:
        raise ValueError(f"chain half-length T must be an integer >= 1, got {T}")
    if not 0.0 <= stop_prob < 1.0:
        raise ValueError(f"stop_prob must lie in [0, 1), got {stop_prob}")
    T = int(T)
    S = 2 * T + 1
    s = np.arange(S)
    nxt = np.stack([np.maximum(s - 1, 0), np.minimum(s + 1, S - 1)], axis=-1)[None]  # [1, S, 2]
    reward = np.where(nxt == 0, -1.0, np.where(nxt == S - 1, 1.0, 0.0))
    cont = np.where((nxt == 0) | (nxt == S - 1), 0.0, 1.0 - stop_prob)
    op = np.eye(2)[None, None]  # action a -> outcome a
    initial = np.zeros((1, S))
    initial[0, T] = 1.0
    return TabularMDPs(
        initial=initial, next_state=nxt, outcome_prob=op, outcome_reward=reward, outcome_continue=cont, gamma=gamma
    )


COUNTEREXAMPLE_REWARDS = (1.0, 0.0, 2.0, -1.0)
S0, S_L, S_R = 0, 1, 2


def counterexample(rewards: tuple[float, float, float, float] = COUNTEREXAMPLE_REWARDS) -> TabularMDPs:
    """The Figure 2 MDP (SPEC 2.4), as a batch of one dense MDP.

    States s0 = 0, s_L = 1, s_R = 2; actions L = 0, R = 1. From s0, L leads to
    s_L and R to s_R (reward 0). In s_L and s_R both actions end the episode
    with rewards ``rewards = (r(s_L, L), r(s_L, R), r(s_R, L), r(s_R, R))``.
    """
    rewards = tuple(float(x) for x in rewards)
    if len(rewards) != 4:
        raise ValueError(f"rewards must hold 4 numbers (s_L L, s_L R, s_R L, s_R R), got {len(rewards)}")
    P = np.zeros((1, 3, 2, 3))
    P[0, S0, LEFT, S_L] = 1.0
    P[0, S0, RIGHT, S_R] = 1.0
    R = np.zeros((1, 3, 2))
    R[0, S_L] = rewards[:2]
    R[0, S_R] = rewards[2:]
    initial = np.array([[1.0, 0.0, 0.0]])
    return from_dense(P, R, initial, gamma=1.0)
