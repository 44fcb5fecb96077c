"""``python -m policy_distillation.bench teachers --mdps 1000``: train the default
Q-learning teachers (Sec. 3.2) on the default grid worlds and print one JSON
line: training time and teacher return as a fraction of optimal."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

import numpy as np

from .. import environments as env
from .. import evaluation as ev
from .. import teachers as T


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m policy_distillation.bench teachers")
    p.add_argument("--mdps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="world seed; Q-learning uses seed + 1")
    p.add_argument("--steps", type=int, default=T.STEPS)
    p.add_argument("--step-size", type=float, default=T.STEP_SIZE)
    args = p.parse_args(argv)
    if args.mdps < 1:
        raise SystemExit("--mdps must be >= 1")
    cfg = env.GridConfig()
    q_cfg = T.QLearningConfig(steps=args.steps, step_size=args.step_size)
    mdps = env.random_grid_worlds(np.random.default_rng(args.seed), args.mdps, cfg)
    t0 = time.perf_counter()
    Q = T.q_learning(mdps, np.random.default_rng(args.seed + 1), q_cfg)
    train = time.perf_counter() - t0
    V_star, _, _ = ev.optimal_values(mdps)
    j_opt = np.einsum("bs,bs->b", mdps.initial, V_star)
    ok = j_opt > 1e-9
    row = {"bench": "teachers", "mdps": args.mdps, "train_seconds": round(train, 2),
           "ms_per_step_all_worlds": round(1e3 * train / max(1, q_cfg.steps), 4),
           "optimal_mean": round(float(j_opt.mean()), 4)}
    for name, pi in (("epsilon_greedy", T.epsilon_greedy(Q)), ("greedy", T.greedy(Q))):
        j = ev.expected_return(mdps, pi)
        frac = j[ok] / j_opt[ok]
        row[f"{name}_return_mean"] = round(float(j.mean()), 4)
        row[f"{name}_frac_mean"] = round(float(frac.mean()), 4)
        row[f"{name}_frac_median"] = round(float(np.median(frac)), 4)
        row[f"{name}_ratio_of_means"] = round(float(j.mean() / j_opt.mean()), 4)
    row["default_teacher"] = "epsilon_greedy"
    row["q_learning"] = asdict(q_cfg)
    row["grid"] = asdict(cfg)
    print(json.dumps(row))
