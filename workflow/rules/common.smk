# Config loading and validation, the job table, and the helpers the rules share (no lambdas in rules).
import os
from pathlib import Path

from policy_distillation import atlas, profiles
from policy_distillation.estimator_study import OBJECTIVES
from policy_distillation.job_tables import figure_jobs
from policy_distillation.methods import REGISTRY
from policy_distillation.provenance import code_hash

REPO = Path(workflow.main_snakefile).resolve().parent


def _load_config():
    """The profile (strictly parsed), with --config overrides applied; or the --configfile files."""
    files = list(workflow.overwrite_configfiles)
    if files:
        for f in files:  # Snakemake read them leniently: re-read for duplicate keys and tags
            profiles.load_yaml(f)
        return dict(config)
    overrides = dict(config)
    name = overrides.pop("profile", "paper")
    return profiles.merged(profiles.load_yaml(profiles.profile_path(name, REPO)), overrides)


_loaded = _load_config()
profiles.validate(_loaded, REPO / profiles.SCHEMA)
profiles.import_method_modules(_loaded["method_modules"])
config.clear()
config.update(profiles.resolve(_loaded, REPO))


def _check_methods(key, names):
    unknown = [m for m in names if m not in REGISTRY]
    if unknown:
        raise ValueError(f"config {key}: unknown method name(s) {unknown}; known: {sorted(REGISTRY)}")


for _key, _names in (
    ("figure2.methods", config["figure2"]["methods"]),
    ("figure3.controls", config["figure3"]["controls"]),
    ("figure4.methods", config["figure4"]["methods"]),
    ("figure5.methods", config["figure5"]["methods"]),
    ("figure6.methods", config["figure6"]["methods"]),
    ("llm.methods", config["llm"]["methods"]),
):
    _check_methods(_key, _names)
for _name, _regime in config["regimes"].items():
    _check_methods(f"regimes.{_name}.learning_rates", list(_regime["learning_rates"]))
    _check_methods(f"regimes.{_name}.critic_methods", _regime["critic_methods"])
for _fig in ("figure3", "figure4", "figure5", "figure6"):
    _regime = config[_fig]["regime"]
    if _regime not in config["regimes"]:
        raise ValueError(f"config {_fig}.regime: unknown regime {_regime!r}; known: {sorted(config['regimes'])}")
    _methods = config[_fig]["controls" if _fig == "figure3" else "methods"]
    _missing_lr = sorted(set(_methods) - set(config["regimes"][_regime]["learning_rates"]))
    if _missing_lr:
        raise ValueError(f"config regimes.{_regime}.learning_rates: missing key(s) {_missing_lr} for {_fig}")
_regime = config["figure4"]["regime"]  # the llm figure trains in Figure 4's regime
_missing_lr = sorted(set(config["llm"]["methods"]) - set(config["regimes"][_regime]["learning_rates"]))
if _missing_lr:
    raise ValueError(
        f"config regimes.{_regime}.learning_rates: missing key(s) {_missing_lr} for llm (llm.methods train in "
        "figure4.regime)"
    )
LLM_STUDY_METHODS = [m for m in config["llm"]["methods"] if m in OBJECTIVES]
if not LLM_STUDY_METHODS:
    raise ValueError(f"config llm.methods: no language-model entry to study; known: {list(OBJECTIVES)}")

OUTPUT_ROOT = str(REPO / profiles.output_root(config))
SCALE = profiles.scale_text(config)
LLM_SCALE = profiles.llm_scale_text(config)
ATLAS_SCALE = profiles.atlas_scale_text(config)
for _r in config["atlas"]["regimes"]:
    if _r not in config["regimes"]:
        raise ValueError(f"config atlas.regimes: unknown regime {_r!r}; known: {sorted(config['regimes'])}")
    _missing_lr = sorted(
        set(config["figure3"]["controls"] + config["figure4"]["methods"] + config["atlas"]["fig5_methods"])
        - set(config["regimes"][_r]["learning_rates"])
    )
    if _missing_lr:
        raise ValueError(f"config regimes.{_r}.learning_rates: missing key(s) {_missing_lr} for the atlas")
_check_methods("atlas.fig5_methods", config["atlas"]["fig5_methods"])
JOBS = figure_jobs(config)
ATLAS_JOBS = atlas.atlas_jobs(config)
JOB_BY_KEY = {job.key: job for jobs in [*JOBS.values(), ATLAS_JOBS] for job in jobs}
WORLD_SETS = atlas.world_sets(config)
ATLAS_CELLS = [c.name for c in atlas.cells(config)]
ATLAS_PARTS = atlas.parts(config)

# Code each rule's results depend on (provenance.code_hash): editing a module reruns what it can affect.
CODE = {
    "data": code_hash("experiments", "files", "workflow_io"),
    # llm_methods: registered by name (the package imports it), not imported by jobs or table1
    "distill": code_hash("jobs", "llm_methods", "results", "files", "workflow_io"),
    "aggregate": code_hash("results", "files", "workflow_io"),
    "figure": code_hash("plotting", "files", "workflow_io"),
    "claims": code_hash("claims", "results", "workflow_io"),
    "atlas": code_hash("atlas", "claims", "plotting_atlas", "files", "workflow_io"),
    "table1": code_hash("table1", "llm_methods", "files", "workflow_io"),
    "llm_study": code_hash("estimator_study", "llm_methods", "streams", "files", "workflow_io"),
    "llm_figure": code_hash("plotting_llm", "files", "workflow_io"),
}


def job_params(wildcards):
    """The fields of the job behind data/runs/{job}.npz (a param: any change reruns that job only)."""
    if wildcards.job not in JOB_BY_KEY:
        raise ValueError(f"no job {wildcards.job!r} in this profile")
    return JOB_BY_KEY[wildcards.job].params()


def job_inputs(wildcards):
    """The shard files a grid job reads (none for the chain)."""
    job = JOB_BY_KEY[wildcards.job]
    if job.world != "grid":
        return {}
    shard, w = f"{job.file_shard:03d}", job.worlds
    teacher = f"noisy-{job.flip}_{shard}" if job.teacher == "noisy" else f"q_{shard}"
    return {"mdps": f"data/mdps/{w}/grid_{shard}.npz", "teacher": f"data/teachers/{w}/{teacher}.npz"}


def world_params(wildcards):
    """The world set's grid settings, shard size and size (atlas.world_sets), sorted (params compare as text)."""
    if wildcards.worlds not in WORLD_SETS:
        raise ValueError(f"no world set {wildcards.worlds!r} in this profile; known: {sorted(WORLD_SETS)}")
    ws = WORLD_SETS[wildcards.worlds]
    return {"grid": dict(sorted(ws["grid"].items())), "n_mdps": ws["n_mdps"], "shard_size": ws["shard_size"]}


def atlas_part_runs(wildcards):
    """Run files of one atlas cell's figure part (fig3, fig4, fig5-<flip>)."""
    out = [
        f"data/runs/{j.key}.npz" for j in ATLAS_JOBS if j.atlas_cell == wildcards.cell and j.figure == wildcards.part
    ]
    if not out:
        raise ValueError(f"no atlas jobs for cell {wildcards.cell!r}, part {wildcards.part!r}")
    return out


def atlas_cell_tables(wildcards):
    """The tables claims 2-5 of one atlas cell read (claims.CLAIMS input names)."""
    base = f"data/results/atlas/{wildcards.cell}"
    out = {
        "fig3": f"{base}/fig3_curves.csv",
        "fig3_per_mdp": f"{base}/fig3_per_mdp.csv.gz",
        "fig4": f"{base}/fig4_curves.csv",
        "fig4_per_mdp": f"{base}/fig4_per_mdp.csv.gz",
    }
    for part in ATLAS_PARTS:
        if part.startswith(atlas.FIG5_PREFIX):
            out[f"{part}_per_mdp"] = f"{base}/{part}_per_mdp.csv.gz"
    return out


def runs_of(figure):
    return [f"data/runs/{job.key}.npz" for job in JOBS[figure]]


def fig3_runs(wildcards=None):
    return runs_of("fig3")


def fig4_runs(wildcards=None):
    return runs_of("fig4")


def fig5_runs(wildcards=None):
    return runs_of("fig5")


def fig6_runs(wildcards=None):
    return runs_of("fig6")


def llm_runs(wildcards=None):
    return runs_of("llm")


def llm_study_params(wildcards=None):
    """The study's sizes (sorted: params compare as text) and the language-model entries it measures."""
    return {**dict(sorted(config["llm"]["study"].items())), "methods": LLM_STUDY_METHODS}


def fig2_runs(wildcards=None):
    return expand("data/runs/fig2/{method}.npz", method=config["figure2"]["methods"])


def grid_params(wildcards=None):
    # sorted: params are compared by their text, so key order must not trigger reruns
    return dict(sorted(config["grid"].items()))


def teacher_params(wildcards=None):
    return dict(sorted(config["teacher"].items()))


# figure -> the table it is drawn from
FIGURE_TABLES = {
    "fig2": "fig2_trajectories",
    "fig3_left": "fig3_curves",
    "fig3_right": "fig3_speedup",
    "fig4": "fig4_curves",
    "fig5": "fig5_curves",
    "fig6": "fig6_curves",
    "fig9": "fig6_curves",
}
FIGURES = list(FIGURE_TABLES)


def all_targets():
    return expand("figures/{fig}.{ext}", fig=[*FIGURES, "llm"], ext=["pdf", "png"]) + [
        "figures/claims.md",
        "figures/claims.json",
        "figures/table1.md",
    ]


wildcard_constraints:
    shard=r"\d{3}",
    method=r"[a-z0-9_]+",
    job=r"(atlas/[A-Za-z0-9_.-]+/)?(?!fig2/)[a-z][a-z0-9-]*/[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*",
    worlds=r"[A-Za-z0-9_.-]+",
    flip=r"[a-z]+-[a-z]+",
    cell=r"[A-Za-z0-9_.-]+",
    part=r"fig[345][a-z-]*",


# Cluster resources (README "On a Slurm cluster"): every job runs one thread (BLAS, OpenMP and numba
# are pinned to one); memory (MiB) and wall time (minutes) grow with the job's size
# (policy_distillation.sizing), so a profile with more worlds, actions or steps asks for more, and a
# retried job (attempt 2, ...) for proportionally more. Rules that take seconds are localrules.
from policy_distillation import sizing


def shard_worlds(wildcards):
    """Worlds in one shard file of a world set."""
    ws = WORLD_SETS[wildcards.worlds]
    return min(ws["shard_size"], ws["n_mdps"] - int(wildcards.shard) * ws["shard_size"])


def world_set_grid(wildcards):
    return WORLD_SETS[wildcards.worlds]["grid"]


def distill_mem_mb(wildcards, attempt):
    job = JOB_BY_KEY[wildcards.job]
    return sizing.distill_mem_mb(job, WORLD_SETS[job.worlds]["grid"], attempt)


def distill_runtime(wildcards, attempt):
    job = JOB_BY_KEY[wildcards.job]
    return sizing.distill_runtime(job, WORLD_SETS[job.worlds]["grid"], attempt)


def teacher_mem_mb(wildcards, attempt):
    return sizing.teacher_mem_mb(shard_worlds(wildcards), world_set_grid(wildcards), attempt)


def q_teacher_runtime(wildcards, attempt):
    return sizing.q_teacher_runtime(shard_worlds(wildcards), config["teacher"]["steps"], attempt)


def noisy_teacher_runtime(wildcards, attempt):
    return sizing.noisy_teacher_runtime(shard_worlds(wildcards), config["figure5"]["mc_trajectories"], attempt)


def llm_study_mem_mb(wildcards, attempt):
    return sizing.llm_study_mem_mb(llm_study_params(), attempt)


def llm_study_runtime(wildcards, attempt):
    return sizing.llm_study_runtime(llm_study_params(), attempt)


LOCAL_MEM_MB = sizing.LOCAL_MEM_MB
LOCAL_RUNTIME = sizing.LOCAL_RUNTIME
