"""Learning-rate selection by measurement, on tuning worlds that the figures never use.

For every method and candidate step size, distil a Q-learning teacher into
students on ``--mdps`` grid worlds drawn from a seed distinct from the
workflow's, with the sampled estimator (N = 1, as in the figures), and score
the run by the area under its mean return curve normalised by the teacher's
mean return (higher = learns faster and stays up; a diverging run scores low).
The chosen rate per method is the best-scoring candidate; ties go to the
smaller rate. ``python -m policy_distillation.tuning --out figures`` writes
``figures/learning_rates.md`` with every score, and the chosen values are
copied into ``workflow/config/*.yaml`` by hand (config holds science, and a
human reviews it).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from . import environments as envs
from . import evaluation, teachers
from .methods import Teacher, get_method
from .results import area_under
from .training import distill

log = logging.getLogger(__name__)
CANDIDATES = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
TUNING_SEED = 987_654  # distinct from every workflow seed
BASELINE_EVERY = 100  # as the workflow profiles (regimes.classic: critic every, critic_methods)
BASELINE_METHODS = ("entropy_regularised", "expected_entropy_regularised", "entropy_regularised_r",
                    "expected_entropy_regularised_r")


def tuning_problem(n_mdps: int, q_steps: int, seed: int = TUNING_SEED):
    """Tuning worlds (default GridConfig) and their Q-learning teacher (noisy version for Section 4 methods)."""
    rng = np.random.default_rng(seed)
    mdps = envs.random_grid_worlds(rng, n_mdps)
    Q = teachers.q_learning(mdps, rng, teachers.QLearningConfig(steps=q_steps))
    clean = teachers.epsilon_greedy(Q)
    noisy, _ = teachers.flip_teacher(mdps, teachers.greedy(Q), 0.25, rng)
    return mdps, Teacher(pi=clean, name="eps-greedy"), Teacher(pi=noisy, value=evaluation.state_values(mdps, noisy),
                                                                 name="noisy greedy")


def score(mdps, teacher: Teacher, method: str, lr: float, steps: int, eval_every: int, seed: int) -> float:
    """Normalised area under the mean return curve (1.0 = at the teacher's return from step 0)."""
    critic = {"kind": "exact", "every": BASELINE_EVERY} if method in BASELINE_METHODS else None
    res = distill(mdps, teacher, method, "sampled", steps=steps, lr=lr, eval_every=eval_every, seed=seed,
                  return_critic=critic)
    ret = res.returns.mean(axis=1)
    if not np.all(np.isfinite(ret)):
        return float("-inf")
    area = area_under(res.steps, ret) / (res.steps[-1] - res.steps[0])
    return float(area / max(res.teacher_return.mean(), 1e-9))


def tune(methods: list[str], n_mdps: int, steps: int, eval_every: int, q_steps: int,
         candidates=CANDIDATES) -> dict:
    mdps, clean, noisy = tuning_problem(n_mdps, q_steps)
    table = {}
    for m in methods:
        teacher = noisy if get_method(m).needs else clean
        scores = {}
        for lr in candidates:
            t0 = time.perf_counter()
            scores[lr] = score(mdps, teacher, m, lr, steps, eval_every, seed=1)
            log.info("%s lr=%g score=%.4f (%.0f s)", m, lr, scores[lr], time.perf_counter() - t0)
        best = max(candidates, key=lambda lr: (scores[lr], -lr))
        table[m] = {"scores": scores, "best": best}
    return table


def render(table: dict, args) -> str:
    candidates = sorted({c for v in table.values() for c in v["scores"]})  # the rates actually measured
    head = ["| method | " + " | ".join(f"lr={c:g}" for c in candidates) + " | chosen |",
            "|---|" + "---|" * (len(candidates) + 1)]
    rows = [f"| {m} | " + " | ".join(f"{v['scores'][c]:.3f}" for c in candidates) + f" | **{v['best']:g}** |"
            for m, v in table.items()]
    notes = []
    for edge, name in ((candidates[0], "smallest"), (candidates[-1], "largest")):
        at_edge = [m for m, v in table.items() if v["best"] == edge]
        if at_edge:
            gain = {m: table[m]["scores"][edge] - max(s for c, s in table[m]["scores"].items() if c != edge)
                    for m in at_edge}
            notes.append(f"Chosen at the {name} candidate ({edge:g}), so a rate beyond the grid might score higher: "
                         + ", ".join(f"{m} (+{gain[m]:.3f} over its next best)" for m in at_edge) + ".")
    return (
        "# Learning rates, chosen by measurement\n\n"
        f"Command: `python -m policy_distillation.tuning --mdps {args.mdps} --steps {args.steps} "
        f"--q-steps {args.q_steps} --out {args.out}`\n\n"
        f"{args.mdps} tuning grid worlds (seed {TUNING_SEED}, never used by the figures), Q-learning teacher "
        f"({args.q_steps} steps; Section 4 methods get its greedy policy with 25% of visited states flipped and "
        "its exact critic), sampled estimator with one trajectory per MDP per step and, for "
        f"{', '.join(BASELINE_METHODS)}, "
        f"the exact "
        f"pseudo-value baseline (recomputed every {BASELINE_EVERY} steps), as in the workflow; {args.steps} steps. "
        "Score: area under the mean return curve divided by the teacher's mean return and the run length "
        "(higher is better; ties go to the smaller rate).\n\n" + "\n".join(head + rows) + "\n"
        + "".join(f"\n{n}\n" for n in notes)
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mdps", type=int, default=100)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--q-steps", type=int, default=100_000)
    ap.add_argument("--methods", nargs="*", default=[
        "teacher_distill", "on_policy_distill", "uniform_distill", "on_policy_distill_r", "entropy_regularised",
        "expected_entropy_regularised", "value_gated", "value_gated_r", "td_v_pi", "td_v_0", "teacher_v_reward",
        "reward_only"])
    ap.add_argument("--out", default="figures")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    table = tune(args.methods, args.mdps, args.steps, args.eval_every, args.q_steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_rates.md").write_text(render(table, args))
    (out / "learning_rates.json").write_text(json.dumps({m: v["best"] for m, v in table.items()}, indent=1))


if __name__ == "__main__":
    main()
