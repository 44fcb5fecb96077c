"""Cluster resources (sizing.py, workflow/rules/common.smk): they grow with a job's size, they cover
the peaks measured on this machine, and every job of the DAG states them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from policy_distillation import profiles, sizing
from policy_distillation.job_tables import figure_jobs
from policy_distillation.jobs import DistillJob

REPO = profiles.REPO


def paper_jobs() -> dict[str, DistillJob]:
    cfg = profiles.resolve(profiles.load_yaml(REPO / "workflow" / "config" / "paper.yaml"))
    return {job.key: job for jobs in figure_jobs(cfg).values() for job in jobs}


def grid_job(B: int, A: int, steps: int = 100, **kw) -> DistillJob:
    return DistillJob(figure="fig4", method="on_policy_distill", teacher="epsilon_greedy", lr=0.1, steps=steps,
                      eval_every=10, seed=0, shard=0, shard_size=B, n_mdps=B, n_actions=A, **kw)


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


# Peaks measured on this machine (README, "Cluster resources"): resident MiB of paper-size jobs
# (steps cut to 10; the memory does not depend on them) and wall minutes of the paper profile's longest jobs.
MEASURED_MB = {
    "fig4/A4096/entropy_regularised/000": 5994.3,
    "fig4/A1024/expected_entropy_regularised/000": 1607.5,
    "fig3/tau3/uniform_distill/000": 537.4,
    "fig5/value_gated_r/000": 559.8,
}
MEASURED_MIN = {
    "fig3/tau3/uniform_distill/000": 11.4,
    "fig4/A4096/expected_entropy_regularised/000": 21.4,
    "fig5/value_gated_r/000": 4.9,
    "fig6/T10/optimal/expected_entropy_regularised": 0.4,
}


@pytest.mark.parametrize("key, measured", MEASURED_MB.items())
def test_paper_jobs_ask_for_more_memory_than_measured(key, measured):
    asked = sizing.distill_mem_mb(paper_jobs()[key], {})
    assert 1.15 * measured < asked < 2.5 * measured + 500


@pytest.mark.parametrize("key, measured", MEASURED_MIN.items())
def test_paper_jobs_ask_for_more_time_than_measured(key, measured):
    assert sizing.distill_runtime(paper_jobs()[key], {}) > 1.5 * measured


def test_paper_teachers_cover_their_measurements():
    # 500 worlds: Q-learning 100k steps 72.7 s and 209 MiB, noisy teacher (100 trajectories) 158.6 s and 590 MiB
    assert sizing.teacher_mem_mb(500, {}) > 1.25 * 590
    assert sizing.q_teacher_runtime(500, 100_000) > 2 * 72.7 / 60
    assert sizing.noisy_teacher_runtime(500, 100) > 2 * 158.6 / 60


def test_every_job_of_the_dag_states_its_threads_memory_and_runtime(tmp_path):
    """A dry run of the tiny profile: every job but the target rule `all` has mem_mb and runtime."""
    profile = tmp_path / "tiny.yaml"
    profile.write_text((REPO / "tests" / "workflow_tiny.yaml").read_text().replace(
        "output_root: results/tiny", f"output_root: {tmp_path / 'out'}"))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--cores", "2",
                           "--config", f"profile={profile}"], capture_output=True, text=True, cwd=REPO)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(.*?)^\s+resources: (.*?)$", text, re.M | re.S)
    assert len(jobs) == 71, len(jobs)
    for rule, _, resources in jobs:
        if rule == "all":
            continue
        assert re.search(r"\bmem_mb=\d+", resources) and re.search(r"\bruntime=\d+", resources), (rule, resources)
    assert "threads:" not in text  # one thread per job: Snakemake prints threads only when there are more
