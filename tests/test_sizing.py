"""Cluster resources (sizing.py, workflow/rules/common.smk): they grow with a job's size, they cover
the peaks measured on this machine, and every job of the DAG states them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from policy_distillation import profiles, sizing
from policy_distillation.jobs import DistillJob

REPO = profiles.REPO


def grid_job(B: int, A: int, steps: int = 100, **kw) -> DistillJob:
    return DistillJob(**{"figure": "fig4", "method": "on_policy_distill", "teacher": "epsilon_greedy", "lr": 0.1,
                         "steps": steps, "eval_every": 10, "seed": 0, "shard": 0, "shard_size": B, "n_mdps": B,
                         "n_actions": A, **kw})


def test_memory_grows_with_worlds_states_and_actions():
    grid = {}
    base = sizing.distill_mem_mb(grid_job(100, 4), grid)
    assert sizing.distill_mem_mb(grid_job(200, 4), grid) > base
    assert sizing.distill_mem_mb(grid_job(100, 64), grid) > base
    assert sizing.distill_mem_mb(grid_job(100, 4), {"rows": 40, "cols": 40}) > base
    # a [B, S, A] float64 array of 100 x 400 x 4096 is 1250 MiB; the job holds DISTILL_ARRAYS of them
    big = sizing.distill_mem_mb(grid_job(100, 4096), grid)
    assert big > sizing.DISTILL_ARRAYS * 1250
    assert sizing.distill_mem_mb(grid_job(100, 4096), grid, attempt=2) == 2 * big


def test_runtime_grows_with_steps_worlds_and_actions():
    grid = {}
    base = sizing.distill_runtime(grid_job(100, 4, steps=50_000), grid)
    assert sizing.distill_runtime(grid_job(100, 4, steps=100_000), grid) > base
    assert sizing.distill_runtime(grid_job(500, 4, steps=50_000), grid) > base
    assert sizing.distill_runtime(grid_job(100, 1024, steps=50_000), grid) > base
    assert sizing.distill_runtime(grid_job(100, 4, steps=50_000), grid, attempt=3) == 3 * base
    assert sizing.distill_runtime(grid_job(1, 4, steps=1), grid) == sizing.MIN_RUNTIME + 1


# Peaks measured on this machine: resident MiB of paper-size jobs (steps cut to 10; the memory does not
# depend on them) and wall minutes of the paper profile's longest jobs (before Figure 4's memory split:
# 100 worlds per job at every |A|).
FIG3 = {"figure": "fig3", "teacher": "softmax", "temperature": 3.0, "n_actions": 4, "steps": 30_000,
        "eval_every": 1000}
FIG4 = {"steps": 5000, "eval_every": 250}
FIG5 = {"figure": "fig5", "method": "value_gated_r", "teacher": "noisy", "flip": "random-uniform", "n_actions": 4,
        "steps": 5000, "eval_every": 250, "student_critic_every": 100}
FIG6 = {"figure": "fig6", "method": "expected_entropy_regularised", "teacher": "optimal", "world": "chain",
        "chain_T": 10, "replicas": 100, "steps": 3000, "eval_every": 10}
MEASURED_MB = [
    ({"B": 100, "A": 4096, "method": "entropy_regularised", **FIG4}, 5994.3),
    ({"B": 100, "A": 1024, "method": "expected_entropy_regularised", **FIG4}, 1607.5),
    ({"B": 500, "A": 4, **FIG3, "method": "uniform_distill"}, 537.4),
    ({"B": 500, "A": 4, **FIG5}, 559.8),
]
MEASURED_MIN = [
    ({"B": 500, "A": 4, **FIG3, "method": "uniform_distill"}, 11.4),
    ({"B": 100, "A": 4096, "method": "expected_entropy_regularised", **FIG4}, 21.4),
    ({"B": 500, "A": 4, **FIG5}, 4.9),
    ({"B": 0, "A": 0, **FIG6}, 0.4),
]


def job_of(spec: dict) -> DistillJob:
    spec = dict(spec)
    B, A = spec.pop("B"), spec.pop("A")
    if spec.get("world") == "chain":
        return DistillJob(**{"lr": 0.1, "seed": 0, **spec})
    return grid_job(B, A, **{k: v for k, v in spec.items() if k != "n_actions"})


@pytest.mark.parametrize("spec, measured", MEASURED_MB)
def test_paper_jobs_ask_for_more_memory_than_measured(spec, measured):
    asked = sizing.distill_mem_mb(job_of(spec), {})
    assert 1.15 * measured < asked < 2.5 * measured + 500


@pytest.mark.parametrize("spec, measured", MEASURED_MIN)
def test_paper_jobs_ask_for_more_time_than_measured(spec, measured):
    assert sizing.distill_runtime(job_of(spec), {}) > 1.5 * measured


def test_exact_jobs_ask_for_more_time_than_measured():
    """CPU s per world-step of the exact update measured at |A| = 4, 64, 256 (5 worlds, S = 400)."""
    for A, per_world_step in ((4, 5.9e-4), (64, 2.7e-3), (256, 9.0e-3)):
        job = grid_job(5, A, steps=2000, eval_every=250, estimator="exact")
        assert sizing.distill_runtime(job, {}) > sizing.MIN_RUNTIME + 1.5 * 2000 * 5 * per_world_step / 60
        big = {"steps": 20_000, "eval_every": 250}
        assert sizing.distill_runtime(grid_job(50, A, **big, estimator="exact"), {}) > sizing.distill_runtime(
            grid_job(50, A, **big), {})


def test_an_exact_return_critic_adds_its_evaluations():
    plain = grid_job(500, 4, steps=30_000, eval_every=1000)
    critic = grid_job(500, 4, steps=30_000, eval_every=1000, critic={"kind": "exact", "every": 100})
    assert sizing.distill_evaluations(critic) == sizing.distill_evaluations(plain) + 300
    assert sizing.distill_runtime(critic, {}) > sizing.distill_runtime(plain, {})


def test_the_llm_study_covers_its_measurements():
    # paper: 10 entries, 8 worlds, |A| = 4 ... 4096, 128 copies: 122 s CPU, 840 MiB; quick: 3.9 s, 261 MiB
    paper = {"actions": [4, 64, 1024, 4096], "n_worlds": 8, "dense_mdps": 8, "dense_states": 5, "dense_actions": [4],
             "copies": 128, "methods": list("abcdefghij")}
    quick = {**paper, "actions": [4, 64, 1024], "n_worlds": 4, "dense_mdps": 4, "copies": 32}
    assert sizing.llm_study_mem_mb(paper) > 1.25 * 840 and sizing.llm_study_mem_mb(quick) > 1.25 * 261
    assert sizing.llm_study_runtime(paper) > 2 * 122 / 60
    assert sizing.llm_study_mem_mb(paper, attempt=2) == 2 * sizing.llm_study_mem_mb(paper)
    assert sizing.llm_study_runtime({**paper, "copies": 4096}) > sizing.llm_study_runtime(paper)


def test_paper_teachers_cover_their_measurements():
    # 500 worlds: Q-learning 100k steps 72.7 s and 209 MiB, noisy teacher (100 trajectories) 158.6 s and 590 MiB
    assert sizing.teacher_mem_mb(500, {}) > 1.25 * 590
    assert sizing.q_teacher_runtime(500, 100_000) > 2 * 72.7 / 60
    assert sizing.noisy_teacher_runtime(500, 100) > 2 * 158.6 / 60


def test_every_job_of_the_dag_states_its_threads_memory_and_runtime(tmp_path):
    """A dry run of the tiny profile with every target rule: it covers every rule, and every job
    that makes a file asks for mem_mb and runtime (target rules such as `all` make none)."""
    profile = tmp_path / "tiny.yaml"
    profile.write_text((REPO / "tests" / "workflow_tiny.yaml").read_text().replace(
        "output_root: results/tiny", f"output_root: {tmp_path / 'out'}"))
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--config", f"profile={profile}"]
    targets = ["all", "atlas", "stage_times", "llm", "fig2", "fig3_left", "fig3_right", "fig4", "fig5", "fig6", "fig9"]
    proc = subprocess.run([*snakemake[:-2], "-n", "--cores", "2", *targets, *snakemake[-2:]], capture_output=True,
                          text=True, cwd=REPO)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    blocks = re.findall(r"^rule (\w+):\n((?:    .*\n)+)", text, re.M)
    rules = subprocess.run([*snakemake, "--list-rules"], capture_output=True, text=True, cwd=REPO, check=True)
    assert {rule for rule, _ in blocks} == set(rules.stdout.split()), rules.stdout
    for rule, block in blocks:
        if "    output: " not in block:
            continue
        resources = re.search(r"^    resources: (.*)$", block, re.M).group(1)
        assert re.search(r"\bmem_mb=\d+", resources) and re.search(r"\bruntime=\d+", resources), (rule, resources)
    assert "threads:" not in text  # one thread per job: Snakemake prints threads only when there are more
