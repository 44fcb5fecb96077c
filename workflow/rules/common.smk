# Config validation and the helpers the rules share (no lambdas in rules).
from snakemake.utils import validate

from policy_distillation.methods import REGISTRY


validate(config, "../schemas/config.schema.yaml", set_default=True)


def _check_methods(key, names):
    unknown = [m for m in names if m not in REGISTRY]
    if unknown:
        raise ValueError(f"config {key}: unknown method name(s) {unknown}; known: {sorted(REGISTRY)}")


for _fig in ("figure2", "figure3", "figure4", "figure5", "figure6"):
    _check_methods(f"{_fig}.methods" if _fig != "figure3" else "figure3.controls",
                   config[_fig].get("methods", config[_fig].get("controls", [])))
_check_methods("learning_rates", list(config["learning_rates"]))
_check_methods("baseline_methods", config["baseline_methods"])
_needed = set(config["figure3"]["controls"]) | set(config["figure4"]["methods"]) | set(config["figure5"]["methods"]) | set(config["figure6"]["methods"])
_missing_lr = sorted(m for m in _needed if m not in config["learning_rates"])
if _missing_lr:
    raise ValueError(f"config learning_rates: missing key(s) {_missing_lr} for methods the figures use")

N_SHARDS = -(-config["n_mdps"] // config["shard_size"])
SHARDS = [f"{i:03d}" for i in range(N_SHARDS)]
_fig3_n = config["figure3"]["n_mdps"]
if _fig3_n < config["n_mdps"] and _fig3_n % config["shard_size"]:
    raise ValueError(f"config figure3.n_mdps: {_fig3_n} must be a multiple of shard_size "
                     f"({config['shard_size']}) or at least n_mdps ({config['n_mdps']})")
FIG3_SHARDS = SHARDS[: -(-min(_fig3_n, config["n_mdps"]) // config["shard_size"])]
FIG4_SHARDS = [f"{i:03d}" for i in range(-(-min(config["figure4"]["n_mdps"], config["n_mdps"]) // config["shard_size"]))]
TEMPERATURES = [f"{t:g}" for t in config["figure3"]["temperatures"]]
CHAIN_TEACHERS = ["optimal", "adversarial"]
CHAIN_T = sorted(set([config["figure6"]["T"]] + config["figure6"]["appendix_T"]))


def lr(wildcards):
    """Learning rate of the job's method (a param, so changing it reruns only that method)."""
    return config["learning_rates"][wildcards.method]


def baseline_every(wildcards):
    """Baseline schedule of the job's method (None: plain estimator)."""
    return config["baseline_every"] if wildcards.method in config["baseline_methods"] else None


def grid_params(wildcards=None):
    # sorted: params are compared by their text, so key order must not trigger reruns
    return dict(sorted(config["grid"].items()))


def teacher_params(wildcards=None):
    return dict(sorted(config["teacher"].items()))


def fig3_runs(wildcards=None):
    return expand("data/runs/fig3/tau{tau}/{method}/{shard}.npz", tau=TEMPERATURES,
                  method=config["figure3"]["controls"], shard=FIG3_SHARDS)


def fig4_runs(wildcards=None):
    return expand("data/runs/fig4/A{A}/{method}/{shard}.npz", A=config["figure4"]["actions"],
                  method=config["figure4"]["methods"], shard=FIG4_SHARDS)


def fig5_runs(wildcards=None):
    return expand("data/runs/fig5/{method}/{shard}.npz", method=config["figure5"]["methods"], shard=SHARDS)


def fig6_runs(wildcards=None):
    return expand("data/runs/fig6/T{T}/{teacher}/{method}.npz", T=CHAIN_T, teacher=CHAIN_TEACHERS,
                  method=config["figure6"]["methods"])


def fig2_runs(wildcards=None):
    return expand("data/runs/fig2/{method}.npz", method=config["figure2"]["methods"])


FIGURES = ["fig2", "fig3_left", "fig3_right", "fig4", "fig5", "fig6", "fig9"]


def all_targets():
    return (
        expand("figures/{fig}.{ext}", fig=FIGURES, ext=["pdf", "png"])
        + ["figures/claims.md", "figures/claims.json", "figures/table1.md"]
    )


FIGURE_TABLES = {
    "fig2": "fig2_trajectories",
    "fig3_left": "fig3_curves",
    "fig3_right": "fig3_speedup",
    "fig4": "fig4_curves",
    "fig5": "fig5_curves",
    "fig6": "fig6_curves",
    "fig9": "fig6_curves",
}


def figure_table(wildcards):
    return f"data/results/{FIGURE_TABLES[wildcards.fig]}.csv"


wildcard_constraints:
    shard=r"\d{3}",
    T=r"\d+",
    A=r"\d+",
    tau=r"[0-9.e+-]+",
    method=r"[a-z0-9_]+",
    teacher=r"optimal|adversarial",
