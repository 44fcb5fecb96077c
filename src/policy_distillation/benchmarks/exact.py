"""``bench exact``: exact evaluation three ways, side by side in one run.

Every contender computes, for a random policy on random grid worlds, the values
``V = (I - gamma P_pi)^-1 r_pi`` and the visitation ``d = (I - gamma P_pi)^-T mu``
(one factorisation, two solves; r_pi included):

- banded: ``evaluation.factorise`` (numba band LU per MDP, the path it takes for
  grid worlds), at each numba thread count of ``--threads``. No BLAS.
- splu: ``evaluation.factorise_sparse_lu`` (one scipy SuperLU of the whole
  block-diagonal matrix; the previous path). SuperLU calls scipy's OpenBLAS.
- dense: what a dense tabular toolkit does, one MDP at a time: from the dense
  ``P[S, A, S]`` (built beforehand, outside the timing, as the toolkit's own
  representation) form ``P_pi`` and ``r_pi``, then either ``solve2``, two
  ``numpy.linalg.solve`` (numpy's OpenBLAS, LAPACK gesv), or ``lu``, one
  ``scipy.linalg.lu_factor`` and two ``lu_solve`` (scipy's OpenBLAS, getrf /
  getrs), each at every BLAS thread count of ``--blas-threads``. The fastest is
  the dense loop "at its best". Looping over all MDPs would dominate the run,
  so the loop is timed on the first ``--dense-mdps`` MDPs and scaled linearly
  (the per-MDP work is identical).

Timing drifts on the shared 2-core machine, so contenders alternate: each of
``--repeats`` rounds runs every contender once, starting at a rotating
position; medians over the rounds are reported, with the BLAS library,
version, kernel (threadpoolctl ``architecture``) and threads each contender ran
with, and the main thread's CPU time of single-threaded runs (the work done,
less sensitive to other jobs than wall time). ``OPENBLAS_CORETYPE`` in the environment (it forces
a kernel and slows current numpy's dense solves) is reported and warned about
on stderr.

``--first-call-runs N`` also starts N fresh processes per case, alternating,
and reports the median time of the first ``factorise`` + two solves on 2 worlds
with an empty on-disk numba cache (compile) and with it filled (load).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
import scipy.linalg as sla
import threadpoolctl

from .. import evaluation as ev
from ..environments import GridConfig, random_grid_worlds
from ..mdp import TabularMDPs


def _banded(mdps: TabularMDPs, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fact = ev.factorise(mdps, pi)
    if not isinstance(fact, ev.BandedFactorisation):
        raise RuntimeError("factorise did not take the banded path on grid worlds")
    return fact.solve_values(mdps.reward_pi(pi)), fact.solve_visitation(mdps.initial)


def _splu(mdps: TabularMDPs, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fact = ev.factorise_sparse_lu(mdps, pi)
    return fact.solve_values(mdps.reward_pi(pi)), fact.solve_visitation(mdps.initial)


def _dense_loop(
    P: list[np.ndarray], R: list[np.ndarray], mu: np.ndarray, pi: np.ndarray, gamma: float, how: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-MDP dense solve. P: list of float[S, A, S]; R: list of float[S, A]; how: "solve2" or "lu"."""
    n, S = mu.shape
    V = np.empty((n, S))
    d = np.empty((n, S))
    eye = np.eye(S)
    for b in range(n):
        P_pi = np.einsum("sa,sat->st", pi[b], P[b])
        r_pi = np.einsum("sa,sa->s", pi[b], R[b])
        M = eye - gamma * P_pi
        if how == "solve2":
            V[b] = np.linalg.solve(M, r_pi)
            d[b] = np.linalg.solve(M.T, mu[b])
        else:
            lu = sla.lu_factor(M, check_finite=False)
            V[b] = sla.lu_solve(lu, r_pi, check_finite=False)
            d[b] = sla.lu_solve(lu, mu[b], trans=1, check_finite=False)
    return V, d


def _blas_info(package: str) -> dict | None:
    """The OpenBLAS (or other BLAS) bundled with ``package`` as threadpoolctl sees it now."""
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas" and f"{package}.libs" in info.get("filepath", ""):
            return {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
    return None


def _alternating_medians(contenders: dict, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and main-thread CPU time per contender over ``repeats`` rounds, each round in a rotated order.

    Thread, not process, CPU time: idle OpenMP / OpenBLAS workers spin for a while after a
    multi-threaded contender, and process time would charge that to whichever runs next.
    """
    names = list(contenders)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names[r % len(names):] + names[: r % len(names)]:
            t0, c0 = time.perf_counter(), time.thread_time()
            contenders[n]()
            wall[n].append(time.perf_counter() - t0)
            cpu[n].append(time.thread_time() - c0)
    return ({n: float(np.median(t)) for n, t in wall.items()}, {n: float(np.median(t)) for n, t in cpu.items()})


_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from policy_distillation import evaluation as ev
from policy_distillation.environments import GridConfig, random_grid_worlds
t1 = time.perf_counter()
m = random_grid_worlds(np.random.default_rng(0), 2, GridConfig(terminal_mode="reset"))
pi = np.full((m.B, m.S, m.A), 1.0 / m.A)
t2 = time.perf_counter()
f = ev.factorise(m, pi); f.solve_values(m.initial); f.solve_visitation(m.initial)
t3 = time.perf_counter()
print(t1 - t0, t3 - t2)
"""


def _first_call(runs: int) -> dict:
    """Median import time and first factorise + two solves, in fresh processes, cold and warm numba cache."""
    out: dict[str, list] = {"cold": [], "warm": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            for case in ("cold", "warm"):  # the cold run fills the cache the warm one loads
                res = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, check=True,
                                     capture_output=True, text=True)
                out[case].append([float(x) for x in res.stdout.split()])
    return {
        f"{case}_cache_{what}_median_s": float(np.median([r[i] for r in rows]))
        for case, rows in out.items() for i, what in enumerate(("import", "first_call"))
    } | {"runs": runs}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m policy_distillation.bench exact", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mdps", type=int, default=1000, help="number of grid worlds (default GridConfig)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--dense-mdps", type=int, default=100, help="MDPs the dense loop is timed on")
    parser.add_argument("--threads", default="1,2", help="numba thread counts for the banded path")
    parser.add_argument("--blas-threads", default="1,2", help="BLAS thread counts for the dense loop")
    parser.add_argument("--first-call-runs", type=int, default=0, help="fresh processes per numba-cache case")
    parser.add_argument("--terminal-mode", choices=("end", "reset"), default="end",
                        help="grid worlds' terminals ('reset' exercises the Woodbury centre column)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the worlds and the policy")
    args = parser.parse_args(argv)
    if args.mdps < 1 or args.repeats < 1 or args.dense_mdps < 1 or args.first_call_runs < 0:
        raise SystemExit("--mdps, --repeats and --dense-mdps must be >= 1, --first-call-runs >= 0")
    threads = sorted({int(t) for t in args.threads.split(",") if 1 <= int(t) <= numba.config.NUMBA_NUM_THREADS})
    blas_threads = sorted({int(t) for t in args.blas_threads.split(",") if int(t) >= 1})
    if not threads or not blas_threads:
        raise SystemExit(f"--threads must hold a count in [1, {numba.config.NUMBA_NUM_THREADS}], "
                         "--blas-threads one >= 1")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        print(f"warning: OPENBLAS_CORETYPE={coretype} is set; it forces OpenBLAS's kernel and slows numpy's "
              "dense solves: the dense reference is not at its best", file=sys.stderr)

    rng = np.random.default_rng(args.seed)
    mdps = random_grid_worlds(rng, args.mdps, GridConfig(terminal_mode=args.terminal_mode))
    pi = rng.dirichlet(np.ones(mdps.A), size=(mdps.B, mdps.S))
    n_dense = min(args.dense_mdps, mdps.B)
    sub = mdps.subset(slice(0, n_dense))
    dense = [sub.subset(slice(b, b + 1)).to_dense() for b in range(n_dense)]
    P = [p[0] for p, _ in dense]
    R = [r[0] for _, r in dense]
    pi_sub = pi[:n_dense]

    def with_numba_threads(n, fn):
        def run():
            numba.set_num_threads(n)
            return fn()
        return run

    def with_blas_threads(n, fn):
        def run():
            with threadpoolctl.threadpool_limits(n, user_api="blas"):
                return fn()
        return run

    contenders = {f"banded_{n}t": with_numba_threads(n, lambda: _banded(mdps, pi)) for n in threads}
    contenders["splu"] = with_blas_threads(1, lambda: _splu(mdps, pi))
    for how in ("solve2", "lu"):
        for n in blas_threads:
            contenders[f"dense_{how}_{n}t"] = with_blas_threads(
                n, lambda how=how: _dense_loop(P, R, sub.initial, pi_sub, mdps.gamma, how))
    default_threads = numba.get_num_threads()
    for fn in contenders.values():  # warm-up: numba cache load, first-touch memory
        fn()
    medians, cpu_medians = _alternating_medians(contenders, args.repeats)
    numba.set_num_threads(default_threads)
    scale = mdps.B / n_dense
    dense_s = {n: t * scale for n, t in medians.items() if n.startswith("dense_")}
    best = min(dense_s, key=dense_s.get)
    ours = f"banded_{default_threads}t" if f"banded_{default_threads}t" in medians else f"banded_{threads[-1]}t"

    V, d = _banded(mdps, pi)
    V_s, d_s = _splu(mdps, pi)
    refs = {how: _dense_loop(P, R, sub.initial, pi_sub, mdps.gamma, how) for how in ("solve2", "lu")}
    V_ref, d_ref = refs["solve2"]

    def diff(a, b):
        return float(max(np.abs(a[0][: len(b[0])] - b[0]).max(), np.abs(a[1][: len(b[1])] - b[1]).max()))

    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        blas_1 = {"numpy": _blas_info("numpy"), "scipy": _blas_info("scipy")}
    blas = {
        "banded": f"none (numba {numba.__version__} loops, threading layer {numba.threading_layer()})",
        "splu": {"library": "scipy's bundled BLAS (SuperLU's dgemv/dtrsv)", **(blas_1["scipy"] or {})},
        "dense_solve2": {"library": "numpy's bundled BLAS (LAPACK gesv)", **(blas_1["numpy"] or {})},
        "dense_lu": {"library": "scipy's bundled BLAS (LAPACK getrf/getrs)", **(blas_1["scipy"] or {})},
    }
    row = {
        "benchmark": "exact",
        "mdps": mdps.B,
        "states": mdps.S,
        "actions": mdps.A,
        "gamma": mdps.gamma,
        "terminal_mode": args.terminal_mode,
        "repeats": args.repeats,
        "seed": args.seed,
        "banded_median_s": {n: medians[f"banded_{n}t"] for n in threads},
        "splu_median_s": medians["splu"],
        "dense_median_s_by_variant": dense_s,
        "ours": ours,
        "ours_median_s": medians[ours],
        "dense_best": best,
        "dense_loop_mdps_timed": n_dense,
        "dense_loop_timed_median_s": medians[best],
        "dense_loop_s_extrapolated": dense_s[best],
        "dense_median_s": dense_s[best],
        "speedup": dense_s[best] / medians[ours],
        "speedup_vs_dense_by_variant": {n: t / medians[ours] for n, t in dense_s.items()},
        "speedup_vs_splu": medians["splu"] / medians[ours],
        "splu_speedup_vs_dense": dense_s[best] / medians["splu"],
        "banded_thread_scaling": (medians[f"banded_{threads[0]}t"] / medians[f"banded_{threads[-1]}t"]
                                  if len(threads) > 1 else None),
        # main-thread CPU time of the single-threaded contenders (the dense loop's scaled like its wall
        # time): the work done, less sensitive than wall time to other jobs on the machine
        "cpu_median_s": {n: t * (scale if n.startswith("dense_") else 1.0) for n, t in cpu_medians.items()
                         if n.endswith("_1t") or n == "splu"},
        "cpu_speedup_1t_vs_dense_1t": {
            how: cpu_medians[f"dense_{how}_1t"] * scale / cpu_medians["banded_1t"]
            for how in ("solve2", "lu") if 1 in threads and 1 in blas_threads
        },
        "max_abs_diff": diff((V, d), (V_ref, d_ref)),
        "max_abs_diff_splu_vs_dense": diff((V_s, d_s), (V_ref, d_ref)),
        "max_abs_diff_banded_vs_splu": diff((V, d), (V_s, d_s)),
        "max_abs_diff_dense_lu_vs_solve2": diff(refs["lu"], refs["solve2"]),
        "numba_threads_default": default_threads,
        "blas": blas,
        "openblas_coretype": coretype,
        "loadavg_1min": os.getloadavg()[0],
    }
    if args.first_call_runs:
        row["first_call"] = _first_call(args.first_call_runs)
    print(json.dumps(row))
