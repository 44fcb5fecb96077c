"""Experiments as data (jobs.py): the job table of a profile and one job's run."""

from __future__ import annotations

from dataclasses import replace

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


def test_llm_jobs_are_figure_4_jobs_of_the_llm_methods():
    """Figure 4's setting for the llm section's methods: its regime's rates, teacher, world files and memory split."""
    cfg = profiles.load_yaml(TINY)
    cfg["llm"]["actions"] = [4, 16]
    jobs = figure_jobs(cfg)
    llm, f4 = cfg["llm"], cfg["figure4"]
    assert [j.method for j in jobs["llm"] if j.n_actions == 4] == llm["methods"]  # |A| = 4: one job per method
    assert len(jobs["llm"]) == len(llm["methods"]) * (1 + 2)  # |A| = 16: two jobs per world file (2048 entries)
    rates = cfg["regimes"][f4["regime"]]["learning_rates"]
    for j in jobs["llm"]:
        assert (j.figure, j.teacher, j.epsilon, j.lr) == ("llm", "epsilon_greedy", cfg["teacher"]["epsilon"],
                                                         rates[j.method])
        assert (j.steps, j.eval_every, j.n_mdps, j.file_shard_size) == (llm["steps"], llm["eval_every"], 4, 4)
        assert j.shard_size == (4 if j.n_actions == 4 else 2) and j.file_shard == 0
        assert j.key == f"llm/A{j.n_actions}/{j.method}/{j.shard:03d}"
        assert j.setting == {"actions": j.n_actions, "method": j.method}
    # the same method and |A| as Figure 4: the same job but for its figure (streams), steps and evaluations
    a, b = jobs["fig4"][-1], next(j for j in jobs["llm"] if (j.method, j.n_actions, j.shard) == (
        jobs["fig4"][-1].method, 16, 1))
    assert replace(b, figure="fig4", steps=a.steps, eval_every=a.eval_every) == a
    cfg["regimes"][f4["regime"]]["learning_rates"]["token_reverse_kl_cv_topk"] = 0.5
    changed = [j.key for j in figure_jobs(cfg)["llm"] if j.lr == 0.5]
    assert changed == ["llm/A4/token_reverse_kl_cv_topk/000", "llm/A16/token_reverse_kl_cv_topk/000",
                       "llm/A16/token_reverse_kl_cv_topk/001"]


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
