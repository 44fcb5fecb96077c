"""Learning-rate selection by measurement, per regime, on tuning worlds that the figures never use.

For every method and candidate step size, distil a Q-learning teacher into
students on ``--mdps`` grid worlds of the profile's grid family, drawn from a
seed distinct from the workflow's, in one of the profile's regimes (sampler,
optimiser, critic: ``job_tables.regime_fields``, exactly as the figures run it), and
score the run by the area under its mean return curve normalised by the
teacher's mean return (higher = learns faster and stays up; a diverging run
scores low). The chosen rate per method is the best-scoring candidate (ties go
to the smallest rate within ``TIE`` of the best score: on a plateau the
smallest rate that reaches it). The grid is extended by half decades past any edge where
the best rate sits, so no chosen rate is at an edge of the measured grid
(bounded by ``LR_BOUNDS``; a rate still at a bound is flagged in the report).

``python -m policy_distillation.tuning --profile paper --regime unroll_sgd``
writes ``figures/learning_rates/unroll_sgd.{md,json,scores.json}``; the
profile's regime names that JSON file (``regimes.<name>.learning_rates``) and
the workflow reads it as written. With ``--merge --methods a b`` only ``a`` and
``b`` are tuned (same settings, checked against the existing report's command)
and added to the existing output: the other entries are kept as written and the
report is re-rendered from the merged scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from . import environments as envs
from . import evaluation, profiles, teachers
from .job_tables import regime_fields
from .jobs import distill_kwargs
from .methods import Teacher, get_method
from .results import area_under
from .training import distill

log = logging.getLogger(__name__)
CANDIDATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # the starting grid, half decades
LR_BOUNDS = (1e-5, 100.0)  # the grid is never extended past these
TIE = 1e-3  # scores within TIE of the best are ties (a plateau): the smallest such rate is chosen
TUNING_SEED = 987_654  # distinct from every workflow seed
NOISE = 0.25  # Section 4 methods: greedy teacher with 25% of visited states flipped (Figure 5)
METHODS = ("teacher_distill", "on_policy_distill", "uniform_distill", "on_policy_distill_r", "entropy_regularised",
           "expected_entropy_regularised", "value_gated", "value_gated_r", "td_v_pi", "td_v_0", "teacher_v_reward",
           "reward_only")


def tuning_problem(n_mdps: int, q_steps: int, seed: int = TUNING_SEED, grid: dict | None = None):
    """Tuning worlds (the profile's ``grid`` settings) and their Q-learning teacher
    (its noisy version, with exact critic, for Section 4 methods)."""
    rng = np.random.default_rng(seed)
    mdps = envs.random_grid_worlds(rng, n_mdps, envs.GridConfig(**(grid or {})))
    Q = teachers.q_learning(mdps, rng, teachers.QLearningConfig(steps=q_steps))
    clean = teachers.epsilon_greedy(Q)
    noisy, _ = teachers.flip_teacher(mdps, teachers.greedy(Q), NOISE, rng)
    return mdps, Teacher(pi=clean, name="eps-greedy"), Teacher(pi=noisy, value=evaluation.state_values(mdps, noisy),
                                                                 name="noisy greedy")


def score(mdps, teacher: Teacher, method: str, regime: dict, lr: float, steps: int, eval_every: int,
          seed: int) -> float:
    """Normalised area under the mean return curve (1.0 = at the teacher's return from step 0)."""
    fields = {**regime_fields(regime, method), "lr": lr, "steps": steps, "eval_every": eval_every}
    with np.errstate(all="ignore"):
        try:  # the student critic of value-gated methods: distill's default, exact every 100 steps (as the figures)
            res = distill(mdps, teacher, method, seed=seed, **distill_kwargs(fields))
        except FloatingPointError:
            return float("-inf")
    ret = res.returns.mean(axis=1)
    if not np.all(np.isfinite(ret)):
        return float("-inf")
    area = area_under(res.steps, ret) / (res.steps[-1] - res.steps[0])
    return float(area / max(res.teacher_return.mean(), 1e-9))


def _next(lr: float, up: bool) -> float:
    """The next half-decade rate (1, 3, 10, 30, ...) above or below ``lr``."""
    e = np.log10(lr)
    step = np.log10(3.0) if round(e) == e else 1.0 - np.log10(3.0)  # 1 -> 3 -> 10
    if not up:
        step = 1.0 - np.log10(3.0) if round(e) == e else np.log10(3.0)  # 1 -> 0.3 -> 0.1
    return float(f"{10 ** (e + step if up else e - step):.3g}")


def tune_method(problem, method: str, regime: dict, steps: int, eval_every: int,
                candidates=CANDIDATES, bounds=LR_BOUNDS) -> dict:
    """{"scores": {lr: score}, "best": lr}, the grid extended past an edge holding the best rate."""
    mdps, clean, noisy = problem
    teacher = noisy if get_method(method).needs else clean
    scores: dict[float, float] = {}

    def measure(lr: float) -> None:
        t0 = time.perf_counter()
        scores[lr] = score(mdps, teacher, method, regime, lr, steps, eval_every, seed=1)
        log.info("%s lr=%g score=%.4f (%.0f s)", method, lr, scores[lr], time.perf_counter() - t0)

    for lr in candidates:
        measure(lr)
    while True:
        grid = sorted(scores)
        best = choose(scores)
        if best == grid[-1] and _next(best, True) <= bounds[1]:
            measure(_next(best, True))
        elif best == grid[0] and _next(best, False) >= bounds[0]:
            measure(_next(best, False))
        else:
            return {"scores": dict(sorted(scores.items())), "best": best}


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")


def choose(scores: dict[float, float]) -> float:
    """The smallest rate whose score is within ``TIE`` of the best one."""
    top = max(scores.values())
    return min(lr for lr, s in scores.items() if s >= top - TIE)


def tune(methods, regime: dict, n_mdps: int, steps: int, eval_every: int, q_steps: int, grid: dict | None = None,
         jobs: int = 1) -> dict:
    """Tune every method of ``methods`` in ``regime``; ``jobs`` processes, one method each."""
    problem = tuning_problem(n_mdps, q_steps, grid=grid)
    args = [(problem, m, regime, steps, eval_every) for m in methods]
    if jobs <= 1:
        return {m: tune_method(*a) for m, a in zip(methods, args)}
    spawn = multiprocessing.get_context("spawn")  # numba's OpenMP layer forbids fork
    with ProcessPoolExecutor(jobs, mp_context=spawn, initializer=_log_to_stderr) as pool:
        futures = [pool.submit(tune_method, *a) for a in args]
        return {m: f.result() for m, f in zip(methods, futures)}


MERGED = "Merged later with `--merge` (same settings): "


def command(args) -> str:
    """The command line a report states (the settings a ``--merge`` must share)."""
    return (f"python -m policy_distillation.tuning --profile {args.profile} --regime {args.regime} "
            f"--mdps {args.mdps} --steps {args.steps} --q-steps {args.q_steps}")


def render(table: dict, args, regime: dict | None = None, merged: list[str] | tuple[str, ...] = ()) -> str:
    """The report: every measured score per method, the chosen rate, and any rate at an edge.

    ``merged``: methods added to the table later with ``--merge`` (named under the command).
    """
    candidates = sorted({c for v in table.values() for c in v["scores"]})  # the rates actually measured
    head = ["| method | " + " | ".join(f"lr={c:g}" for c in candidates) + " | chosen |",
            "|---|" + "---|" * (len(candidates) + 1)]
    rows = [f"| {m} | " + " | ".join(f"{v['scores'][c]:.3f}" if c in v["scores"] else "" for c in candidates)
            + f" | **{v['best']:g}** |" for m, v in table.items()]
    notes = []
    for m, v in table.items():
        grid = sorted(v["scores"])
        for edge, name in ((grid[0], "smallest"), (grid[-1], "largest")):
            if v["best"] == edge and len(grid) > 1:
                gain = v["scores"][edge] - max(s for c, s in v["scores"].items() if c != edge)
                notes.append(f"{m}: chosen at the {name} rate measured ({edge:g}, the bound of the search), so a rate "
                             f"beyond it might score higher (+{gain:.3f} over its next best).")
    what = "" if regime is None else f"Regime `{args.regime}` of profile `{args.profile}`: "
    what += "" if regime is None else f"{profiles.regime_text(regime)}. "
    return (
        "# Learning rates, chosen by measurement\n\n"
        f"Command: `{command(args)}`\n\n" + (f"{MERGED}{', '.join(merged)}\n\n" if merged else "") + what +
        f"{args.mdps} tuning grid worlds of the profile's grid family (seed {TUNING_SEED}, never used by the "
        f"figures), Q-learning teacher ({args.q_steps} steps; Section 4 methods get its greedy policy with "
        f"{NOISE:.0%} of visited states flipped and its exact critic), one trajectory per world per step, "
        f"{args.steps} steps. Score: area under the mean return curve divided by the teacher's mean return and the "
        f"run length (higher is better; the smallest rate within {TIE:g} of the best score is chosen). The grid "
        "starts at "
        f"{', '.join(f'{c:g}' for c in CANDIDATES)} and is extended by half decades past an edge holding the best "
        f"rate (within {LR_BOUNDS[0]:g}-{LR_BOUNDS[1]:g}); empty cells were not measured.\n\n"
        + "\n".join(head + rows) + "\n" + "".join(f"\n{n}\n" for n in notes)
    )


def read_output(out: Path, regime_name: str) -> tuple[dict, list[str], str]:
    """An existing tuning output: its table {method: {"scores": {lr: score}, "best": lr}} (rates as written),
    the methods merged into it before, and its report's text."""
    best = json.loads((out / f"{regime_name}.json").read_text())
    scores = json.loads((out / f"{regime_name}.scores.json").read_text())
    md = (out / f"{regime_name}.md").read_text()
    if set(best) != set(scores):
        raise ValueError(f"{out / regime_name}.json and .scores.json name different methods")
    table = {m: {"scores": {float(lr): s for lr, s in scores[m].items()}, "best": best[m]} for m in best}
    found = re.search(f"^{re.escape(MERGED)}(.*)$", md, re.M)
    return table, found.group(1).split(", ") if found else [], md


def write_output(out: Path, regime_name: str, table: dict, report: str) -> None:
    """``<regime>.md`` (the report), ``.json`` (the chosen rates) and ``.scores.json`` (every score)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{regime_name}.md").write_text(report)
    (out / f"{regime_name}.json").write_text(json.dumps({m: v["best"] for m, v in table.items()}, indent=1) + "\n")
    scores = {m: {f"{lr:g}": s for lr, s in v["scores"].items()} for m, v in table.items()}
    (out / f"{regime_name}.scores.json").write_text(json.dumps(scores, indent=1) + "\n")


def _existing(out: Path, args) -> tuple[dict, list[str]]:
    """The output ``--merge`` adds to (SystemExit naming what does not fit)."""
    try:
        old, merged, md = read_output(out, args.regime)
    except (OSError, ValueError) as err:
        raise SystemExit(f"--merge: cannot read the existing tuning output of {args.regime} in {out}: {err}") from err
    again = [m for m in args.methods if m in old]
    if again:
        raise SystemExit(f"--merge: {again} already in {out / args.regime}.json (existing entries are kept as "
                         "written; tune them without --merge)")
    if f"Command: `{command(args)}`" not in md:
        raise SystemExit(f"--merge: the settings differ from those of {out / args.regime}.md; use its command's "
                         f"--profile, --mdps, --steps and --q-steps (this run: `{command(args)}`)")
    return old, merged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", help="workflow profile (name or path) holding the regime")
    ap.add_argument("--regime", required=True, help="name of the regime (the profile's regimes.<name>)")
    ap.add_argument("--mdps", type=int, default=100)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--q-steps", type=int, default=100_000)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--jobs", type=int, default=1, help="processes (one method each)")
    ap.add_argument("--out", default="figures/learning_rates")
    ap.add_argument("--merge", action="store_true",
                    help="tune only --methods and add them to the regime's existing output (others kept as written)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = profiles.load_yaml(profiles.profile_path(args.profile))
    if args.regime not in config["regimes"]:
        raise SystemExit(f"--regime: no regime {args.regime!r} in profile {args.profile}; "
                         f"known: {sorted(config['regimes'])}")
    unknown = [m for m in args.methods if m not in METHODS and get_method(m) is None]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}")
    regime = config["regimes"][args.regime]
    out = Path(args.out)
    old, merged = _existing(out, args) if args.merge else ({}, [])
    table = tune(args.methods, regime, args.mdps, args.steps, args.eval_every, args.q_steps, grid=config["grid"],
                 jobs=args.jobs)
    if args.merge:
        table, merged = {**old, **table}, [*merged, *args.methods]
    write_output(out, args.regime, table, render(table, args, regime, merged))


if __name__ == "__main__":
    main()
