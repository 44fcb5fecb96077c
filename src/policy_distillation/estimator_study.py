"""How well do the language-model distillation estimators follow a sequence-level objective?

For each entry of ``llm_methods`` the study names the objective it is meant to
optimise (``OBJECTIVES``, data): the sequence reverse KL
E_theta[sum_t KL(pi_theta(s_t) || pi(s_t))] for the reverse-KL family, the
sequence forward KL E_theta[sum_t KL(pi(s_t) || pi_theta(s_t))] for the
forward ones, and otherwise the sequence sum of the method's own per-state
loss (JSD, entropy-aware KL). Every objective has the form
``E_theta[sum_t l(s_t)]`` with l a per-state loss, and its exact gradient is the
exact update of the method with that l and the pseudo-reward rhat_t =
-l(s_{t+1}) (the n-distill construction, Theorem 2: :func:`objective_method`),
so no finite differences are needed, even at |A| = 4096 (the tests check it
against finite differences on small MDPs).

Measured per (environment, method, |A|, point):

- ``cosine``, ``norm_ratio``: the exact expected update G (``exact.expected_update``)
  against the objective's exact gradient, per MDP (mean; ``cosine_min`` the worst), over the MDPs
  whose objective gradient is non-zero (norm above ``FLAT_TOL``; ``n_flat`` counts the others: there
  the student already equals the teacher, so there is nothing to compare);
- ``variance``: the sampled estimator's total variance per single trajectory,
  sum_{s, a} Var(G[s, a]) over independent one-trajectory draws (the MDP batch
  replicated, as the estimator tests do), mean over MDPs; ``relative_variance``
  divides by ||G_exact||^2 per MDP first.

Points: ``uniform`` (zero logits) and ``mid`` (:func:`midpoint_logits`: exact
on-policy distill steps until the student's own E_theta[sum_t KL(pi || pi_theta)]
is half its value at the uniform start). Environments: random dense MDPs
(``fields.random_dense_problem``, teacher with exact zeros) and small grid
worlds with extra no-op actions (``environments.with_actions``) and a softmax
teacher on the optimal move values that explores over every action
(:func:`grid_teacher`). Pure functions; the sizes are arguments, so a workflow
rule can run the study at two scales.

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``C`` copies.
"""

from __future__ import annotations

import math

from dataclasses import replace

import numpy as np

from . import divergences as D
from . import evaluation as ev
from .controls import STUDENT
from .environments import GridConfig, random_grid_worlds, with_actions
from .exact import expected_update
from .fields import random_dense_problem
from .llm_methods import ENTROPY_THRESHOLD, JSD_BETA
from .mdp import TabularMDPs
from .methods import DistillContext, Loss, Method, Teacher, get_method
from .policies import kl_divergence, log_softmax, safe_log
from .rewards import PseudoReward
from .sampling import SampledEstimator
from .terms import StateLoss, Term

# objective name -> its per-state loss l (the objective is E_theta[sum_t l(s_t)])
OBJECTIVE_LOSSES: dict[str, StateLoss] = {
    "reverse_kl": D.REVERSE_KL,
    "forward_kl": D.FORWARD_KL,
    "jsd": D.jsd(JSD_BETA),
    "entropy_aware": D.entropy_aware_kl(ENTROPY_THRESHOLD),
}
# entry -> the objective it is meant to optimise (the top-k and per-token variants: the untruncated,
# sequence-level objective they stand for, so their bias shows in the cosine)
OBJECTIVES: dict[str, str] = {
    "token_reverse_kl": "reverse_kl",
    "sequence_reverse_kl": "reverse_kl",
    "sequence_reverse_kl_expected": "reverse_kl",
    "token_reverse_kl_cv": "reverse_kl",
    "token_reverse_kl_cv_topk": "reverse_kl",
    "onpolicy_reverse_kl": "reverse_kl",
    "onpolicy_forward_kl": "forward_kl",
    "topk_forward_kl": "forward_kl",
    "onpolicy_jsd": "jsd",
    "entropy_aware_kl": "entropy_aware",
}
POINTS = ("uniform", "mid")
TEACHER_TEMPERATURE = 0.3  # grid teacher: softmax of the optimal move values at this temperature ...
TEACHER_EPSILON = 0.1  # ... mixed with this much uniform mass over every action (as Figure 4's teacher explores)
STUDY_GRID = GridConfig(rows=5, cols=5, p_wall=0.1, p_goal=0.1, stop_prob=0.05)
MID_LR, MID_MAX_STEPS = 0.5, 500


def objective_method(objective: str) -> Method:
    """The gradient field of E_theta[sum_t l(s_t)]: state loss l, pseudo-reward rhat_t = -l(s_{t+1}).

    grad E_theta[sum_t l(s_t)] = E[sum_t grad l(s_t)] + E[sum_t grad log pi_theta(a_t|s_t) sum_{i>t} l(s_i)],
    which is Eq. (1) with that rhat (the n-distill construction with l in place of the cross-entropy).
    """
    if objective not in OBJECTIVE_LOSSES:
        raise ValueError(f"unknown objective {objective!r}; known: {sorted(OBJECTIVE_LOSSES)}")
    loss = OBJECTIVE_LOSSES[objective]
    text = loss.text.replace("s_t", "s_{t}")
    value = Term(lambda s: loss(s)[0], text)
    return Method(name=f"objective_{objective}", label=f"grad E_theta[sum_t {loss.text}]", control=STUDENT,
                  state_loss=loss, reward=PseudoReward(next_state=Term(lambda s: -loss(s)[0], f"-{text}")),
                  loss=Loss(value, text=f"E_theta[sum_t {loss.text}]"), is_gradient=True)


def grid_teacher(mdps4: TabularMDPs, n_actions: int, temperature: float = TEACHER_TEMPERATURE,
                 epsilon: float = TEACHER_EPSILON) -> np.ndarray:
    """pi = (1 - eps) softmax(Q*(s, move) / T) on the four moves + eps / |A| on every action -> float[B, S, |A|].

    Q* are the optimal move values of the 4-action worlds ``mdps4``; its most probable action is a move.
    """
    _, Q, _ = ev.optimal_values(mdps4)
    z = (Q - Q.max(axis=-1, keepdims=True)) / temperature
    moves = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    pi = np.full((mdps4.B, mdps4.S, n_actions), epsilon / n_actions)
    pi[..., :moves.shape[-1]] += (1.0 - epsilon) * moves
    return pi


def student_kl(mdps: TabularMDPs, teacher_pi: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """E_theta[sum_t KL(pi(s_t) || pi_theta(s_t))] -> float[B] (Figure 3's KL under the student)."""
    log_q = log_softmax(logits)
    kl = kl_divergence(teacher_pi, safe_log(teacher_pi), log_q)
    return ev.expected_sum(mdps, np.exp(log_q), kl)


def midpoint_logits(mdps: TabularMDPs, teacher_pi: np.ndarray, lr: float = MID_LR,
                    max_steps: int = MID_MAX_STEPS, fraction: float = 0.5) -> np.ndarray:
    """Logits halfway to the teacher: exact on-policy distill steps (theta <- theta - lr G) from zero
    logits, each MDP stopping once :func:`student_kl` is at most ``fraction`` of its start -> float[B, S, A]."""
    method = get_method("on_policy_distill")
    logits = np.zeros((mdps.B, mdps.S, mdps.A))
    target = fraction * student_kl(mdps, teacher_pi, logits)
    log_pi = safe_log(teacher_pi)
    for _ in range(max_steps):
        active = student_kl(mdps, teacher_pi, logits) > target
        if not active.any():
            break
        G = expected_update(method, DistillContext(mdps, teacher_pi, logits, teacher_log_pi=log_pi))
        logits -= lr * G * active[:, None, None]
    return logits


def exact_comparison(method: Method, objective: str, mdps: TabularMDPs, teacher_pi: np.ndarray,
                     logits: np.ndarray) -> dict[str, np.ndarray]:
    """Per MDP: cosine(G, grad), ||G|| / ||grad||, ||G||, ||grad|| (float[B] each) at ``logits``."""
    ctx = DistillContext(mdps, teacher_pi, logits)
    G = expected_update(method, ctx).reshape(mdps.B, -1)
    grad = expected_update(objective_method(objective), ctx).reshape(mdps.B, -1)
    g_norm, d_norm = np.linalg.norm(G, axis=1), np.linalg.norm(grad, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN (0 / 0) where the objective is flat
        return {"cosine": np.einsum("bp,bp->b", G, grad) / (g_norm * d_norm), "norm_ratio": g_norm / d_norm,
                "update_norm": g_norm, "grad_norm": d_norm}


def sampled_variance(method: Method, mdps: TabularMDPs, teacher_pi: np.ndarray, logits: np.ndarray, copies: int,
                     rng: np.random.Generator, chunk: int = 16) -> np.ndarray:
    """Total variance sum_{s, a} Var(G[s, a]) of the one-trajectory sampled update, per MDP -> float[B].

    ``copies`` independent draws per MDP (the batch replicated ``chunk`` copies at a time, so
    |A| = 4096 never holds more than B * chunk * S * A floats); unbiased (ddof = 1) per entry.
    """
    if copies < 2:
        raise ValueError(f"a variance needs at least 2 copies, got {copies}")
    B, S, A = mdps.B, mdps.S, mdps.A
    total, total_sq = np.zeros((B, S, A)), np.zeros((B, S, A))
    done = 0
    while done < copies:
        c = min(chunk, copies - done)
        index = np.repeat(np.arange(B), c)
        est = SampledEstimator(mdps.subset(index), Teacher(pi=teacher_pi[index]), method, n_trajectories=1)
        G, _ = est.update(np.ascontiguousarray(logits[index]), rng)
        G = G.reshape(B, c, S, A)
        total += G.sum(axis=1)
        total_sq += np.einsum("bcsa,bcsa->bsa", G, G)
        done += c
    var = (total_sq - total**2 / copies) / (copies - 1)
    return np.maximum(var, 0.0).sum(axis=(1, 2))  # round-off can leave -1e-17 where every draw is equal


def _rows(env: str, mdps: TabularMDPs, teacher_pi: np.ndarray, names: list[str], copies: int,
          rng: np.random.Generator, mid_lr: float, mid_max_steps: int) -> list[dict]:
    points = {"uniform": np.zeros((mdps.B, mdps.S, mdps.A)),
              "mid": midpoint_logits(mdps, teacher_pi, mid_lr, mid_max_steps)}
    rows = []
    for point in POINTS:
        logits = points[point]
        kl = student_kl(mdps, teacher_pi, logits)
        for name in names:
            method, objective = get_method(name), OBJECTIVES[name]
            cmp = exact_comparison(method, objective, mdps, teacher_pi, logits)
            var = sampled_variance(method, mdps, teacher_pi, logits, copies, rng)
            # an MDP whose objective is flat at this point (the student already equals the teacher: a world
            # with no reachable reward has a uniform teacher over the moves) has nothing to compare: 0 / 0
            flat = cmp["grad_norm"] <= FLAT_TOL
            moving = cmp["update_norm"] > 0.0
            rows.append({
                "env": env, "method": name, "objective": objective, "actions": mdps.A, "point": point,
                "cosine": _mean(cmp["cosine"][~flat]), "cosine_min": _min(cmp["cosine"][~flat]),
                "norm_ratio": _mean(cmp["norm_ratio"][~flat]), "update_norm": float(cmp["update_norm"].mean()),
                "grad_norm": float(cmp["grad_norm"].mean()), "variance": float(var.mean()),
                "relative_variance": _mean(var[moving] / cmp["update_norm"][moving] ** 2),
                "student_kl": float(kl.mean()), "n_mdps": mdps.B, "n_flat": int(flat.sum()), "n_states": mdps.S,
                "copies": copies,
            })
    return rows


FLAT_TOL = 1e-12  # an objective gradient this small is rounding noise (gradients here are 0.1-10)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


def _min(x: np.ndarray) -> float:
    return float(x.min()) if x.size else math.nan


def estimator_study(rng: np.random.Generator, methods: list[str] | tuple[str, ...] | None = None,
                    actions: tuple[int, ...] = (4, 64, 1024, 4096), n_worlds: int = 4,
                    grid: GridConfig = STUDY_GRID, dense_mdps: int = 4, dense_states: int = 5,
                    dense_actions: tuple[int, ...] = (4,), copies: int = 64, mid_lr: float = MID_LR,
                    mid_max_steps: int = MID_MAX_STEPS) -> list[dict]:
    """The study's tidy rows (module docstring): one per (env, method, actions, point).

    Args:
      rng: the only source of randomness (MDPs, dense teachers, sampled draws).
      methods: entries of ``OBJECTIVES`` (default: all, in its order).
      actions: |A| of the grid worlds (one layout family, extra actions are no-ops).
      n_worlds, grid: number and shape of the grid worlds.
      dense_mdps, dense_states, dense_actions: B, S and the |A| values of the random dense MDPs
        (``dense_mdps = 0`` skips them).
      copies: independent one-trajectory draws per MDP for the variance.
      mid_lr, mid_max_steps: the on-policy distill steps to the ``mid`` point.
    Returns:
      list of dicts with keys env ("dense" / "grid"), method, objective, actions, point, cosine,
      cosine_min, norm_ratio, update_norm, grad_norm, variance, relative_variance, student_kl
      (E_theta[sum_t KL(pi || pi_theta)] at the point, mean over MDPs), n_mdps, n_flat (MDPs whose
      objective gradient is exactly zero at the point, left out of cosine, cosine_min and norm_ratio),
      n_states, copies.
    """
    names = list(OBJECTIVES) if methods is None else list(methods)
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise ValueError(f"no objective recorded for {unknown}; known: {sorted(OBJECTIVES)}")
    rows = []
    for A in dense_actions if dense_mdps else ():
        mdps, teacher_pi, _ = random_dense_problem(rng, dense_mdps, dense_states, A)
        rows += _rows("dense", mdps, teacher_pi, names, copies, rng, mid_lr, mid_max_steps)
    if actions:
        worlds = random_grid_worlds(rng, n_worlds, replace(grid, n_actions=4))
        for A in actions:
            mdps = with_actions(worlds, A, grid.eta)
            rows += _rows("grid", mdps, grid_teacher(worlds, A), names, copies, rng, mid_lr, mid_max_steps)
    return rows
