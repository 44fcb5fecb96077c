"""The regime atlas: where each claim holds over the settings the paper leaves open (SPEC 2.2).

A cell is one world family (transition noise eta x terminal reading) and one
regime (sampler x optimiser, a profile's ``regimes.<name>``). Every cell runs
reduced Figures 3, 4 and 5 (Figure 5 once per noisy-teacher flip rule) as
ordinary :class:`jobs.DistillJob` records, so the workflow's one distill rule
runs them; claims 2-5 are then checked per cell with the same criteria as the
paper profile (``claims``). Everything here is data: the cells and jobs come
from the profile's ``atlas`` section.

World sets: ``main`` is the profile's own grid family; an atlas family whose
grid settings equal the profile's reuses ``main``'s worlds and teachers (the
worlds are the same: each world's draws depend only on the seed and its id).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .claims import CLAIMS, Claim, evaluate
from .job_tables import regime_fields
from .jobs import DistillJob

MAIN = "main"
FIG5_PREFIX = "fig5-"  # per flip rule: fig5-random-uniform, ...


@dataclass(frozen=True)
class Cell:
    """One atlas cell: a world family and a regime."""

    worlds: str  # world-set name (MAIN or e.g. "eta0.2-reset")
    eta: float
    terminal_mode: str
    regime: str

    @property
    def name(self) -> str:
        return f"eta{self.eta:g}-{self.terminal_mode}-{self.regime}"


def flip_name(rule: dict) -> str:
    return f"{rule['action']}-{rule['states']}"


def world_sets(config: dict) -> dict[str, dict]:
    """World-set name -> {"grid", "shard_size", "n_mdps"} for the figures (``main``) and the atlas."""
    main = {"grid": dict(config["grid"]), "shard_size": config["shard_size"], "n_mdps": config["n_mdps"]}
    out = {MAIN: main}
    a = config["atlas"]
    n = max(a["n_mdps"], a["fig4_n_mdps"], a["exact_n_mdps"])
    for eta in a["eta"]:
        for mode in a["terminal_mode"]:
            name = _world_set_name(config, eta, mode)
            if name != MAIN:
                out[name] = {"grid": {**config["grid"], "eta": eta, "terminal_mode": mode}, "shard_size": n,
                             "n_mdps": n}
    return out


def _world_set_name(config: dict, eta: float, mode: str) -> str:
    from .experiments import grid_config

    grid = {**config["grid"], "eta": eta, "terminal_mode": mode}
    n = _atlas_worlds(config)
    if grid_config(grid) == grid_config(config["grid"]) and min(config["n_mdps"], config["shard_size"]) >= n:
        return MAIN  # the atlas's worlds are the first of the figures' first shard
    return f"eta{eta:g}-{mode}"


def _atlas_worlds(config: dict) -> int:
    a = config["atlas"]
    return max(a["n_mdps"], a["fig4_n_mdps"], a["exact_n_mdps"])


def cells(config: dict) -> list[Cell]:
    a = config["atlas"]
    return [Cell(_world_set_name(config, eta, mode), float(eta), mode, regime)
            for eta in a["eta"] for mode in a["terminal_mode"] for regime in a["regimes"]]


def atlas_jobs(config: dict) -> list[DistillJob]:
    """Every distillation job of the atlas (a resolved, validated profile)."""
    a = config["atlas"]
    sets = world_sets(config)
    common = {"seed": config["seed"], "n_trajectories": config["n_trajectories"],
              "method_modules": tuple(config.get("method_modules", ())), "steps": a["steps"],
              "eval_every": a["eval_every"], "shard": 0}
    out = []
    for cell in cells(config):
        regime = config["regimes"][cell.regime]
        exact = regime["sampler"] == "exact"
        size = sets[cell.worlds]["shard_size"]

        def job(fig: str, method: str, n: int, **kw) -> DistillJob:
            return DistillJob(**common, **regime_fields(regime, method), figure=fig, method=method,
                              lr=regime["learning_rates"][method], worlds=cell.worlds, atlas_cell=cell.name,
                              shard_size=size, n_mdps=min(n, a["exact_n_mdps"]) if exact else n, **kw)

        for tau in a["temperatures"]:
            for m in config["figure3"]["controls"]:
                out.append(job("fig3", m, a["n_mdps"], teacher="softmax", temperature=float(tau)))
        for n_actions in a["exact_actions"] if exact else a["actions"]:
            for m in config["figure4"]["methods"]:
                out.append(job("fig4", m, a["fig4_n_mdps"], teacher="epsilon_greedy", n_actions=int(n_actions),
                               epsilon=config["teacher"]["epsilon"]))
        for rule in a["flip_rules"]:
            for m in a["fig5_methods"]:
                out.append(job(FIG5_PREFIX + flip_name(rule), m, a["n_mdps"], teacher="noisy",
                               flip=flip_name(rule), student_critic_every=config["student_critic_every"]))
    return out


def parts(config: dict) -> list[str]:
    """The figure parts every cell aggregates: fig3, fig4 and one fig5 per flip rule."""
    return ["fig3", "fig4", *(FIG5_PREFIX + flip_name(r) for r in config["atlas"]["flip_rules"])]


def cell_claims(tables: dict) -> list[Claim]:
    """Claims 2-5 of one cell from its tables: fig3, fig3_per_mdp, fig4, fig4_per_mdp, and
    ``fig5-<flip>_per_mdp`` per flip rule (claim 5 once per flip rule, its figure naming the rule)."""
    specs = {s.id: s for s in CLAIMS}
    out = evaluate([specs[2], specs[3], specs[4]], tables)
    for name in sorted(k for k in tables if k.startswith(FIG5_PREFIX) and k.endswith("_per_mdp")):
        flip = name[len(FIG5_PREFIX):-len("_per_mdp")]
        (c,) = evaluate([specs[5]], {"fig5_per_mdp": tables[name]})
        out.append(Claim(**{**c.__dict__, "figure": f"Fig. 5 (flip {flip})"}))
    return out


KEY_NUMBERS = {  # claim id -> the measured entries the atlas prints (short names)
    2: {"t/s": "teacher/student steps ratio (geo. mean)", "u/s": "uniform/student steps ratio (geo. mean)"},
    3: {"KL ratio": "auc_kl_student teacher/student (geo. mean)",
        "rho": "rank corr(teacher entropy, kl_student ratio)"},
    4: {"slowdown": None, "exp/trad": None},  # keys depend on |A|: matched by prefix below
    5: {"teacher": "teacher return"},
}


def key_numbers(c: Claim) -> str:
    """A few numbers that decide the claim, e.g. 't/s 2.4, u/s > 9.1'."""
    from .claims.record import fmt

    m = c.measured
    if c.id == 4:
        slow = next((v for k, v in m.items() if k.startswith("entropy regularised slowdown")), None)
        band = [v for k, v in m.items() if k.startswith("expected entropy reg. / traditional steps")]
        items = {"slowdown": slow, "exp/trad": band[-1] if band else None}
    elif c.id == 5:
        items = {k.replace("final return ", ""): str(v).split(" (")[1].rstrip(")").replace(" of teacher", "")
                 for k, v in m.items() if k.startswith("final return") and " (" in str(v)}
    else:
        items = {short: m.get(key) for short, key in KEY_NUMBERS[c.id].items()}
    return ", ".join(f"{k} {fmt(v)}" for k, v in items.items() if v is not None)


def atlas_table(results: dict[str, list[dict]], config: dict) -> pd.DataFrame:
    """Tidy atlas: one row per cell and claim (from each cell's ``claims.to_json`` list).

    Columns: cell, eta, terminal_mode, regime, sampler, optimiser, claim, figure, holds, numbers, why.
    """
    rows = []
    by_name = {c.name: c for c in cells(config)}
    for name, claims in results.items():
        cell = by_name[name]
        regime = config["regimes"][cell.regime]
        for c in claims:
            rows.append({"cell": name, "eta": cell.eta, "terminal_mode": cell.terminal_mode, "regime": cell.regime,
                         "sampler": regime["sampler"], "optimiser": regime["optimiser"]["kind"], "claim": c["id"],
                         "figure": c["figure"], "holds": c["holds"], "numbers": c.get("numbers", ""),
                         "why": c["justification"]})
    return pd.DataFrame(rows)


def _family(row) -> str:
    return f"eta {row['eta']:g}, {row['terminal_mode']}"


def render_atlas(table: pd.DataFrame, scale: str) -> str:
    """``figures/atlas.md``: per claim, a table of world families x regimes, each cell the verdict and its numbers."""
    if table.empty:
        raise ValueError("atlas: no results")
    t = table.assign(family=table.apply(_family, axis=1))
    regimes = list(dict.fromkeys(t["regime"]))
    families = list(dict.fromkeys(t["family"]))
    verdict = {True: "**holds**", False: "fails", None: "n/a"}
    out = [
        "# Regime atlas: where each claim holds\n\n",
        f"Generated by the workflow ({scale}).\n\n",
        "Each cell runs reduced Figures 3, 4 and 5 in one world family (transition noise eta, terminal reading) "
        "and one regime (sampler x optimiser; `workflow/config/<profile>.yaml`, `regimes`), and checks claims 2-5 "
        "with the paper profile's criteria (`figures/claims.md`). The numbers are those the criterion reads: "
        "claim 2 the steps ratios teacher/student and uniform/student (needs >= 2 and >= 5), claim 3 the "
        "KL-area ratio under student trajectories (needs > 1) and its rank correlation with teacher entropy "
        "(needs < 0), claim 4 entropy regularised's slowdown (needs >= 5) and expected/traditional steps at the "
        "largest |A| (needs <= 2), claim 5 each method's final return as a fraction of the teacher's. "
        "`>` marks a lower bound (a method that never reached).\n\n",
    ]
    held = t.groupby(["claim", "figure"], sort=False)["holds"].apply(
        lambda h: f"{int((h == True).sum())} of {len(h)}"  # noqa: E712
    )
    out.append("| claim | cells where it holds |\n|---|---|\n" + "".join(
        f"| {c} ({f}) | {n} |\n" for (c, f), n in held.items()))
    for (cid, fig), g in t.groupby(["claim", "figure"], sort=False):
        out.append(f"\n## Claim {cid} ({fig})\n")
        out.append("| world family | " + " | ".join(regimes) + " |\n|---|" + "---|" * len(regimes) + "\n")
        for fam in families:
            cells_ = []
            for r in regimes:
                row = g[(g["family"] == fam) & (g["regime"] == r)]
                if row.empty:
                    cells_.append("")
                    continue
                row = row.iloc[0]
                holds = None if pd.isna(row["holds"]) else bool(row["holds"])
                cells_.append(f"{verdict[holds]}<br>{row['numbers']}".replace("|", "/"))
            out.append(f"| {fam} | " + " | ".join(cells_) + " |\n")
    return "".join(out)
