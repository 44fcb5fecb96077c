"""``python -m policy_distillation.bench distill``: cost of one sampled optimisation step.

Prints one JSON line per setting:
  1. ``vectorised``: 1000 default grid worlds, |A| = 4, on-policy distill
     (student control), N trajectories per MDP, ms per ``sgd_step`` (median).
  2. ``per_mdp_loop``: the same step written as a plain loop over MDPs with
     numpy inside (one trajectory at a time), measured in the same run on a
     subset of MDPs and scaled up to 1000; then the ratio (target >= 30x).
  3. ``large_actions``: |A| = 4096, B = 100, entropy regularised (target < 100 ms),
     with a reference workload timed alternately (``reference_exp_ms``: one
     ``np.exp`` over float[1400, A], about the step's visited rows) and the
     ratio ``per_reference``, which is comparable across runs when the
     machine's speed drifts.

Settings 1 and 3 also print ``steal_pct``: the share of all cores' time that the
hypervisor took during the timed steps (Linux ``/proc/stat``; null elsewhere). It
explains part of the drift only: runs with steal below 1% still differed by 1.2x in
``reference_exp_ms``.

The teacher is a softmax of optimal action values (``evaluation.optimal_values``
on the 4-action worlds; for 4096 actions, ``r + E V*`` extended to the no-op
actions), so the benchmark does not depend on the teachers module.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from .. import environments as E
from .. import evaluation as ev
from ..methods import Teacher
from ..policies import softmax
from ..sampling import SampledEstimator


def _time_steps(fn, repeats: int, warmup: int) -> tuple[float, float]:
    """Median wall-clock and CPU ms of ``fn()`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))


def _cpu_jiffies() -> tuple[int, int] | None:
    """(steal, total) CPU time of all cores in jiffies from Linux ``/proc/stat``, or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def _steal_pct(start: tuple[int, int] | None) -> float | None:
    """Share (%) of all cores' time taken by the hypervisor since ``start`` (``steal`` in
    /proc/stat): when it is high, the machine runs slower than usual for every setting."""
    end = _cpu_jiffies()
    if start is None or end is None or end[1] <= start[1]:
        return None
    return round(100.0 * (end[0] - start[0]) / (end[1] - start[1]), 1)


def per_mdp_loop_step(mdps, teacher_pi, logits, lr, rng, n_trajectories):
    """Reference: on-policy distill step, one MDP and one trajectory at a time."""
    op = mdps.outcome_prob[0, 0]
    for b in range(mdps.B):
        grad = {}
        for _ in range(n_trajectories):
            s = int(np.argmax(mdps.initial[b]))
            while True:
                z = logits[b, s] - logits[b, s].max()
                p = np.exp(z) / np.exp(z).sum()
                grad[s] = grad.get(s, 0.0) + (p - teacher_pi[b, s])
                a = min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), mdps.A - 1)
                k = min(int(np.searchsorted(np.cumsum(op[a]), rng.random(), side="right")), mdps.K - 1)
                if rng.random() >= mdps.outcome_continue[b, s, k]:
                    break
                s = int(mdps.next_state[b, s, k])
        for s, g in grad.items():
            logits[b, s] -= lr / n_trajectories * g


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench distill")
    parser.add_argument("--mdps", type=int, default=1000)
    parser.add_argument("--n-trajectories", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--loop-mdps", type=int, default=100, help="subset for the per-MDP loop (scaled up)")
    parser.add_argument("--large-mdps", type=int, default=100)
    parser.add_argument("--large-actions", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    lr = 0.5

    rng = np.random.default_rng(args.seed)
    mdps = E.random_grid_worlds(rng, args.mdps)
    V, Q, _ = ev.optimal_values(mdps)
    teacher = Teacher(pi=softmax(Q), name="softmax(Q*)")

    est = SampledEstimator(mdps, teacher, "on_policy_distill", args.n_trajectories)
    logits = np.zeros((mdps.B, mdps.S, mdps.A))
    run_rng = np.random.default_rng(args.seed + 1)
    jiffies = _cpu_jiffies()
    ms, cpu = _time_steps(lambda: est.sgd_step(logits, lr, run_rng), args.repeats, warmup=3)
    steal = _steal_pct(jiffies)
    common = {"B": mdps.B, "S": mdps.S, "A": mdps.A, "N": args.n_trajectories,
              "method": "on_policy_distill", "control": "student"}
    print(json.dumps({"setting": "vectorised", **common, "ms_per_step": round(ms, 2),
                      "cpu_ms_per_step": round(cpu, 2), "steps_timed": args.repeats, "steal_pct": steal}), flush=True)

    sub = np.arange(min(args.loop_mdps, mdps.B))
    small = mdps.subset(sub)
    loop_logits = np.zeros((small.B, small.S, small.A))
    loop_rng = np.random.default_rng(args.seed + 2)
    loop_ms, loop_cpu = _time_steps(
        lambda: per_mdp_loop_step(small, teacher.pi[sub], loop_logits, lr, loop_rng, args.n_trajectories),
        repeats=5, warmup=1)
    scale = mdps.B / small.B
    print(json.dumps({"setting": "per_mdp_loop", **common, "measured_mdps": int(small.B),
                      "ms_per_step": round(loop_ms * scale, 1), "cpu_ms_per_step": round(loop_cpu * scale, 1),
                      "speedup": round(loop_ms * scale / ms, 1), "target_speedup": 30}), flush=True)

    # |A| = 4096: the same worlds' layouts, extra no-op actions (Figure 4).
    large4 = mdps.subset(np.arange(min(args.large_mdps, mdps.B)))
    large = E.with_actions(large4, args.large_actions, E.GridConfig().eta)
    q = large.reward_sa()
    q += large.expect_next(V[: large.B])
    q -= q.max(axis=-1, keepdims=True)
    np.exp(q, out=q)
    q /= q.sum(axis=-1, keepdims=True)
    big_teacher = Teacher(pi=q, name="softmax(r + E V*)")
    del q
    big_est = SampledEstimator(large, big_teacher, "entropy_regularised", args.n_trajectories)
    big_logits = np.zeros((large.B, large.S, large.A))
    big_rng = np.random.default_rng(args.seed + 3)
    # This machine's speed drifts by up to ~1.5x within an hour; a fixed reference workload
    # (one exp over an [R, A] array of the step's typical size), timed alternately with the
    # step, lets runs made at different times be compared: see ``per_reference``.
    ref_x = np.random.default_rng(0).normal(size=(1400, large.A))
    ref_out = np.empty_like(ref_x)
    steps, refs = [], []
    for _ in range(2):
        big_est.sgd_step(big_logits, lr, big_rng)
    jiffies = _cpu_jiffies()
    for _ in range(max(args.repeats // 2, 5)):
        steps.append(_time_steps(lambda: big_est.sgd_step(big_logits, lr, big_rng), repeats=1, warmup=0))
        refs.append(_time_steps(lambda: np.exp(ref_x, out=ref_out), repeats=1, warmup=0)[0])
    steal = _steal_pct(jiffies)
    ms = float(np.median([w for w, _ in steps]))
    cpu = float(np.median([c for _, c in steps]))
    ref = float(np.median(refs))
    print(json.dumps({"setting": "large_actions", "B": large.B, "S": large.S, "A": large.A,
                      "N": args.n_trajectories, "method": "entropy_regularised", "control": "student",
                      "ms_per_step": round(ms, 2), "cpu_ms_per_step": round(cpu, 2),
                      "reference_exp_ms": round(ref, 2), "per_reference": round(ms / ref, 2),
                      "target_ms": 100, "steal_pct": steal}), flush=True)
