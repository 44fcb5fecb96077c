"""A method added at run time is one registry entry: every estimator, Table 1 and the
workflow pick it up with no other file touched (issue: the registry is the single
source of truth)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from sampling_helpers import random_dense, replicate, setup

from policy_distillation import methods as M
from policy_distillation.controls import mixture
from policy_distillation.exact import expected_update
from policy_distillation.profiles import REPO
from policy_distillation.sampling import SampledEstimator
from policy_distillation.table1 import table1_rows
from policy_distillation.training import distill

NAME = "quarter_mixture_distill"
MODULE = f'''
from policy_distillation.controls import mixture
from policy_distillation.methods import REGISTRY, cross_entropy_distill, register

if "{NAME}" not in REGISTRY:
    register(cross_entropy_distill("{NAME}", "Mixture (0.25 teacher) distill", mixture(0.25)))
'''


@pytest.fixture(scope="module")
def method():
    m = M.cross_entropy_distill(NAME, "Mixture (0.25 teacher) distill", mixture(0.25))
    M.register(m)
    yield m
    del M.REGISTRY[NAME]


def test_registering_twice_is_refused(method):
    with pytest.raises(ValueError, match="already registered"):
        M.register(method)


def test_exact_and_sampled_estimators_and_sgd(method):
    rng = np.random.default_rng(3)
    mdps = random_dense(rng, 2)
    teacher, logits, _ = setup(mdps, rng)
    exact = expected_update(M.get_method(NAME), M.DistillContext(mdps, teacher.pi, logits))
    np.testing.assert_allclose(exact.sum(-1), 0.0, atol=1e-12)
    copies = 200
    big = replicate(mdps, copies)
    G, _ = SampledEstimator(big, M.Teacher(pi=np.repeat(teacher.pi, copies, 0)), NAME, 10).update(
        np.repeat(logits, copies, 0), np.random.default_rng(1))
    G = G.reshape(mdps.B, copies, mdps.S, mdps.A)
    se = G.std(axis=1, ddof=1) / np.sqrt(copies)
    assert np.all(np.abs(G.mean(axis=1) - exact) <= 5 * se + 1e-3)
    theta = logits.copy()
    before = theta.copy()
    step, _ = SampledEstimator(mdps, teacher, NAME, 2).update(before, np.random.default_rng(0))
    SampledEstimator(mdps, teacher, NAME, 2).sgd_step(theta, 0.2, np.random.default_rng(0))
    np.testing.assert_allclose(theta, before - 0.2 * step, atol=1e-12)
    for estimator in ("exact", "sampled"):
        res = distill(mdps, teacher, NAME, estimator, steps=3, lr=0.3, eval_every=1)
        assert np.isfinite(res.kl_student).all() and res.info["method"] == NAME


def test_table1_measures_it(method):
    row, = table1_rows(np.random.default_rng(0), n_mdps=4, method_names=[NAME])
    assert row["control"] == "mixture (0.25 teacher + 0.75 student)"
    assert row["computed"] == "no" and row["paper"] is False and row["agrees"] is True


def test_workflow_dry_run_lists_its_jobs(method, tmp_path):
    (tmp_path / "my_methods.py").write_text(textwrap.dedent(MODULE))
    cfg = yaml.safe_load((REPO / "tests" / "workflow_tiny.yaml").read_text())
    cfg["output_root"] = str(tmp_path / "out")
    cfg["method_modules"] = ["my_methods"]
    cfg["figure3"]["controls"] = ["teacher_distill", NAME]
    for regime in cfg["regimes"].values():
        regime["learning_rates"][NAME] = 0.1
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump(cfg))
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--cores", "1",
                           "--config", f"profile={profile}"], capture_output=True, text=True, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"data/runs/fig3/tau0.3/{NAME}/000.npz" in proc.stdout
