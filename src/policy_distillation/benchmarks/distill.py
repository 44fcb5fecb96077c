"""``python -m policy_distillation.bench distill``: cost of one sampled optimisation step.

Prints one JSON line per setting, each sampler (``episode``; ``unroll`` with
``--unroll-length`` steps) side by side:
  1. ``vectorised``: 1000 default grid worlds, |A| = 4, on-policy distill
     (student control), N trajectories per MDP, ms per ``sgd_step`` (median),
     and the same step written as a plain loop over MDPs with numpy inside (one
     trajectory at a time; measured in the same run on a subset of MDPs and scaled
     up to 1000): ``speedup`` (target >= 120x).
  2. ``large_actions``: |A| = 4096, B = 100, entropy regularised, with a reference
     workload timed alternately (``reference_exp_ms``: one ``np.exp`` over
     float[1400, A], about the step's visited rows) and the ratio ``per_reference``,
     which is comparable across runs when the machine's speed drifts.

``steal_pct``: the share of all cores' time that the hypervisor took during the
timed steps (Linux ``/proc/stat``; null elsewhere).

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
from ..sampling import SampledEstimator, TrajectoryStreams
from ..streams import world_generators


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


def per_mdp_loop_step(mdps, teacher_pi, logits, lr, rng, n_trajectories, walkers=None, unroll=None):
    """Reference: on-policy distill step, one MDP and one trajectory at a time.

    Episodes when ``unroll`` is None; else ``unroll`` steps from ``walkers`` (int[B * N],
    updated in place), restarting at the initial state when an episode ends.
    """
    op = mdps.outcome_prob[0, 0]
    for b in range(mdps.B):
        grad = {}
        for n in range(n_trajectories):
            s = int(np.argmax(mdps.initial[b])) if unroll is None else int(walkers[b * n_trajectories + n])
            t = 0
            while True:
                z = logits[b, s] - logits[b, s].max()
                p = np.exp(z) / np.exp(z).sum()
                grad[s] = grad.get(s, 0.0) + (p - teacher_pi[b, s])
                a = min(int(np.searchsorted(np.cumsum(p), rng.random(), side="right")), mdps.A - 1)
                k = min(int(np.searchsorted(np.cumsum(op[a]), rng.random(), side="right")), mdps.K - 1)
                t += 1
                if rng.random() >= mdps.outcome_continue[b, s, k]:
                    if unroll is None:
                        break
                    s = int(np.argmax(mdps.initial[b]))
                else:
                    s = int(mdps.next_state[b, s, k])
                if unroll is not None and t == unroll:
                    walkers[b * n_trajectories + n] = s
                    break
        for s, g in grad.items():
            logits[b, s] -= lr / n_trajectories * g


def _streams(B: int, N: int, sampler: str, seed: int) -> TrajectoryStreams:
    return TrajectoryStreams(world_generators(seed, np.arange(B), "distill", slots=N), sampler=sampler)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench distill")
    parser.add_argument("--mdps", type=int, default=1000)
    parser.add_argument("--n-trajectories", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--loop-mdps", type=int, default=100, help="subset for the per-MDP loop (scaled up)")
    parser.add_argument("--large-mdps", type=int, default=100)
    parser.add_argument("--large-actions", type=int, default=4096)
    parser.add_argument("--unroll-length", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    lr = 0.5

    rng = np.random.default_rng(args.seed)
    mdps = E.random_grid_worlds(rng, args.mdps)
    V, Q, _ = ev.optimal_values(mdps)
    teacher = Teacher(pi=softmax(Q), name="softmax(Q*)")

    common = {"B": mdps.B, "S": mdps.S, "A": mdps.A, "N": args.n_trajectories,
              "method": "on_policy_distill", "control": "student"}
    sub = np.arange(min(args.loop_mdps, mdps.B))
    small = mdps.subset(sub)
    for sampler in ("episode", "unroll"):
        L = args.unroll_length if sampler == "unroll" else None
        est = SampledEstimator(mdps, teacher, "on_policy_distill", args.n_trajectories, sampler=sampler,
                               unroll_length=L)
        logits = np.zeros((mdps.B, mdps.S, mdps.A))
        source = _streams(mdps.B, args.n_trajectories, sampler, args.seed + 1)
        jiffies = _cpu_jiffies()
        ms, cpu = _time_steps(lambda: est.sgd_step(logits, lr, source), args.repeats, warmup=3)
        steal = _steal_pct(jiffies)
        loop_logits = np.zeros((small.B, small.S, small.A))
        loop_rng = np.random.default_rng(args.seed + 2)
        walkers = np.full(small.B * args.n_trajectories, int(np.argmax(small.initial[0])))
        loop_ms, loop_cpu = _time_steps(
            lambda: per_mdp_loop_step(small, teacher.pi[sub], loop_logits, lr, loop_rng, args.n_trajectories,
                                      walkers, L), repeats=5, warmup=1)
        scale = mdps.B / small.B
        print(json.dumps({"setting": "vectorised", "sampler": sampler, "unroll_length": L, **common,
                          "ms_per_step": round(ms, 2), "cpu_ms_per_step": round(cpu, 2),
                          "per_mdp_loop_ms_per_step": round(loop_ms * scale, 1), "loop_measured_mdps": int(small.B),
                          "speedup": round(loop_ms * scale / ms, 1), "target_speedup": 120,
                          "steps_timed": args.repeats, "steal_pct": steal}), flush=True)

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
    # This machine's speed drifts by up to ~1.5x within an hour; a fixed reference workload
    # (one exp over an [R, A] array of the step's typical size), timed alternately with the
    # step, lets runs made at different times be compared: see ``per_reference``.
    ref_x = np.random.default_rng(0).normal(size=(1400, large.A))
    ref_out = np.empty_like(ref_x)
    for sampler in ("episode", "unroll"):
        L = args.unroll_length if sampler == "unroll" else None
        big_est = SampledEstimator(large, big_teacher, "entropy_regularised", args.n_trajectories, sampler=sampler,
                                   unroll_length=L)
        big_logits = np.zeros((large.B, large.S, large.A))
        source = _streams(large.B, args.n_trajectories, sampler, args.seed + 3)
        steps, refs = [], []
        for _ in range(2):
            big_est.sgd_step(big_logits, lr, source)
        jiffies = _cpu_jiffies()
        for _ in range(max(args.repeats // 2, 5)):
            steps.append(_time_steps(lambda: big_est.sgd_step(big_logits, lr, source), repeats=1, warmup=0))
            refs.append(_time_steps(lambda: np.exp(ref_x, out=ref_out), repeats=1, warmup=0)[0])
        steal = _steal_pct(jiffies)
        ms = float(np.median([w for w, _ in steps]))
        cpu = float(np.median([c for _, c in steps]))
        ref = float(np.median(refs))
        print(json.dumps({"setting": "large_actions", "sampler": sampler, "unroll_length": L, "B": large.B,
                          "S": large.S, "A": large.A, "N": args.n_trajectories, "method": "entropy_regularised",
                          "control": "student", "ms_per_step": round(ms, 2), "cpu_ms_per_step": round(cpu, 2),
                          "reference_exp_ms": round(ref, 2), "per_reference": round(ms / ref, 2),
                          "steal_pct": steal}), flush=True)
