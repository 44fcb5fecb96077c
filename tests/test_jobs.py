"""Experiments as data (jobs.py): the job table of a profile and one job's run."""

from __future__ import annotations

import numpy as np
import pytest

from policy_distillation import profiles
from policy_distillation.experiments import grid_worlds, q_teacher
from policy_distillation.job_tables import figure_jobs
from policy_distillation.jobs import DistillJob, run_distill

TINY = profiles.REPO / "tests" / "workflow_tiny.yaml"


def test_figure_jobs_cover_every_setting_once():
    cfg = profiles.load_yaml(TINY)
    jobs = figure_jobs(cfg)
    assert len(jobs["fig3"]) == 2 * 3 * 2  # temperatures x controls x shards
    # |A| = 4: one job per method over the first 4 worlds; |A| = 16: the 2048-entry bound splits them in two
    assert len(jobs["fig4"]) == 3 * (1 + 2)
    assert {(j.n_actions, j.shard_size, j.file_shard_size) for j in jobs["fig4"]} == {(4, 4, 4), (16, 2, 4)}
    assert len(jobs["fig5"]) == 9 * 2
    assert len(jobs["fig6"]) == 1 * 2 * 6  # T x teachers x methods
    keys = [j.key for js in jobs.values() for j in js]
    assert len(set(keys)) == len(keys)
    j = jobs["fig4"][0]
    assert j.key == "fig4/A4/entropy_regularised/000" and dict(j.critic) == cfg["regimes"]["tiny"]["critic"]
    assert DistillJob.from_params(j.params()) == j


def test_learning_rate_lives_in_the_jobs_of_its_method_only():
    cfg = profiles.load_yaml(TINY)
    before = figure_jobs(cfg)
    cfg["regimes"]["tiny"]["learning_rates"]["td_v_0"] = 0.05
    after = figure_jobs(cfg)
    changed = [a.key for fig in before for a, b in zip(after[fig], before[fig]) if a != b]
    assert changed == ["fig5/td_v_0/000", "fig5/td_v_0/001"]


@pytest.mark.parametrize("bad, match", [
    (dict(method="nope"), "unknown method"),
    (dict(world="torus"), "world must be one of"),
    (dict(teacher="optimal"), "chain's teachers"),
])
def test_bad_jobs_are_refused(bad, match):
    kw = dict(figure="fig3", method="on_policy_distill", teacher="softmax", lr=0.1, steps=2, eval_every=1, seed=0)
    with pytest.raises(ValueError, match=match):
        DistillJob(**{**kw, **bad})


def test_a_worlds_curve_does_not_depend_on_the_shard_size():
    grid, seed = {"rows": 5, "cols": 5}, 3
    kw = dict(figure="fig3", method="on_policy_distill", teacher="softmax", temperature=0.3, lr=0.3, steps=4,
              eval_every=2, seed=seed, n_mdps=4)
    curves = {}
    for size in (4, 2):
        parts = []
        for shard in range(4 // size):
            ids = np.arange(shard * size, (shard + 1) * size)
            mdps = grid_worlds(grid, seed, ids)
            Q, _ = q_teacher(mdps, {"steps": 300}, seed, ids)
            run = run_distill(DistillJob(**kw, shard=shard, shard_size=size), mdps, Q)
            assert run["mdp"].tolist() == ids.tolist()
            parts.append(run["kl_student"])
        curves[size] = np.concatenate(parts, axis=1)
    np.testing.assert_array_equal(curves[4], curves[2])


def test_jobs_that_split_a_world_file_give_each_world_its_curve():
    """Figure 4's memory split: two jobs over halves of one world file equal one job over the file."""
    grid, seed = {"rows": 5, "cols": 5}, 3
    ids = np.arange(4)
    mdps = grid_worlds(grid, seed, ids)
    Q, _ = q_teacher(mdps, {"steps": 300}, seed, ids)
    kw = dict(figure="fig4", method="on_policy_distill", teacher="epsilon_greedy", n_actions=9, lr=0.3, steps=4,
              eval_every=2, seed=seed, n_mdps=4, file_shard_size=4)
    whole = run_distill(DistillJob(**kw, shard=0, shard_size=4), mdps, Q)
    halves = [run_distill(DistillJob(**kw, shard=k, shard_size=2), mdps, Q) for k in (0, 1)]
    assert [h["mdp"].tolist() for h in halves] == [[0, 1], [2, 3]]
    for name in ("returns", "kl_student", "teacher_return"):
        np.testing.assert_array_equal(whole[name], np.concatenate([h[name] for h in halves], axis=-1))
    with pytest.raises(ValueError, match="must divide"):
        DistillJob(**{**kw, "file_shard_size": 5}, shard=0, shard_size=2)


def test_chain_job_runs_and_labels_its_curve():
    job = DistillJob(figure="fig6", method="teacher_v_reward", teacher="adversarial", world="chain", chain_T=2,
                     replicas=3, stop_prob=0.01, lr=0.1, steps=3, eval_every=1, seed=1)
    run = run_distill(job)
    assert run["labels"] == {"figure": "fig6", "T": 2, "teacher": "adversarial", "method": "teacher_v_reward"}
    assert run["returns"].shape == (4, 3) and job.key == "fig6/T2/adversarial/teacher_v_reward"
