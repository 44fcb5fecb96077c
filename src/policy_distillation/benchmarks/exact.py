"""``bench exact``: batched exact evaluation vs a per-MDP dense solve loop.

Both sides compute, for a random policy on random grid worlds, the values
``V = (I - gamma P_pi)^-1 r_pi`` and the visitation ``d = (I - gamma P_pi)^-T mu``.

- ours: ``evaluation.factorise`` (one block-diagonal sparse LU for all MDPs)
  followed by ``solve_values`` and ``solve_visitation``, r_pi included.
- dense: what a dense tabular toolkit does, one MDP at a time: from the dense
  ``P[S, A, S]`` (built beforehand, outside the timing, as the toolkit's own
  representation) form ``P_pi`` and ``r_pi`` and call ``numpy.linalg.solve``
  twice. Looping over all MDPs would dominate the run, so the loop is timed on
  the first ``--dense-mdps`` MDPs and scaled linearly to all of them: the
  per-MDP work is identical, so the loop time is linear in the number of MDPs.

Prints one JSON line. Times are medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..environments import GridConfig, random_grid_worlds
from ..evaluation import factorise
from ..mdp import TabularMDPs


def _ours(mdps: TabularMDPs, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fact = factorise(mdps, pi)
    V = fact.solve_values(mdps.reward_pi(pi))
    d = fact.solve_visitation(mdps.initial)
    return V, d


def _dense_loop(
    P: list[np.ndarray], R: list[np.ndarray], mu: np.ndarray, pi: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-MDP dense solve. P: list of float[S, A, S]; R: list of float[S, A]."""
    n, S = mu.shape
    V = np.empty((n, S))
    d = np.empty((n, S))
    eye = np.eye(S)
    for b in range(n):
        P_pi = np.einsum("sa,sat->st", pi[b], P[b])
        r_pi = np.einsum("sa,sa->s", pi[b], R[b])
        M = eye - gamma * P_pi
        V[b] = np.linalg.solve(M, r_pi)
        d[b] = np.linalg.solve(M.T, mu[b])
    return V, d


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m policy_distillation.bench exact", description=__doc__)
    parser.add_argument("--mdps", type=int, default=1000, help="number of grid worlds (default GridConfig)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side; the median is reported")
    parser.add_argument("--dense-mdps", type=int, default=100, help="MDPs the dense loop is timed on")
    parser.add_argument("--seed", type=int, default=0, help="seed for the worlds and the policy")
    args = parser.parse_args(argv)
    if args.mdps < 1 or args.repeats < 1 or args.dense_mdps < 1:
        raise SystemExit("--mdps, --repeats and --dense-mdps must be >= 1")

    rng = np.random.default_rng(args.seed)
    cfg = GridConfig()
    mdps = random_grid_worlds(rng, args.mdps, cfg)
    pi = rng.dirichlet(np.ones(mdps.A), size=(mdps.B, mdps.S))

    n_dense = min(args.dense_mdps, mdps.B)
    sub = mdps.subset(slice(0, n_dense))
    dense = [sub.subset(slice(b, b + 1)).to_dense() for b in range(n_dense)]
    P = [p[0] for p, _ in dense]
    R = [r[0] for _, r in dense]

    ours_s = _median_time(lambda: _ours(mdps, pi), args.repeats)
    dense_timed_s = _median_time(lambda: _dense_loop(P, R, sub.initial, pi[:n_dense], mdps.gamma), args.repeats)
    dense_s = dense_timed_s * mdps.B / n_dense

    V, d = _ours(mdps, pi)
    V_ref, d_ref = _dense_loop(P, R, sub.initial, pi[:n_dense], mdps.gamma)
    max_abs_diff = float(max(np.abs(V[:n_dense] - V_ref).max(), np.abs(d[:n_dense] - d_ref).max()))

    print(
        json.dumps(
            {
                "benchmark": "exact",
                "mdps": mdps.B,
                "states": mdps.S,
                "actions": mdps.A,
                "gamma": mdps.gamma,
                "repeats": args.repeats,
                "seed": args.seed,
                "ours_median_s": ours_s,
                "dense_loop_mdps_timed": n_dense,
                "dense_loop_timed_median_s": dense_timed_s,
                "dense_loop_s_extrapolated": dense_s,
                "dense_median_s": dense_s,
                "speedup": dense_s / ours_s,
                "max_abs_diff": max_abs_diff,
            }
        )
    )
