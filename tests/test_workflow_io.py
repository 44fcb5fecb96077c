"""Workflow edges: benchmark-file summary per stage, and the log setup."""

from __future__ import annotations

import logging

import pytest

from policy_distillation.workflow_io import benchmark_table, setup_logging, stage_summary

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_benchmark_table_and_stage_summary(tmp_path):
    write(tmp_path / "runs/fig3/tau1/on_policy_distill/000.tsv", 120.0, 100.0)
    write(tmp_path / "runs/fig3/tau3/uniform_distill/000.tsv", 600.0, 540.0)
    write(tmp_path / "teachers/q_000.tsv", 60.0, 30.0)
    t = benchmark_table(tmp_path)
    assert sorted(t["stage"]) == ["runs/fig3", "runs/fig3", "teachers"]
    assert set(t["job"]) == {"tau1/on_policy_distill/000", "tau3/uniform_distill/000", "q_000"}
    md = stage_summary(t)
    assert "| runs/fig3 | 2 | 12.0 min | 10.7 min | tau3/uniform_distill/000 (10.0 min) |" in md
    assert "| all | 3 | 13.0 min | 11.2 min | |" in md


def test_benchmark_table_refuses_other_files(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark file"):
        benchmark_table(tmp_path)


def test_empty_directory_says_so(tmp_path):
    assert stage_summary(benchmark_table(tmp_path)) == "no benchmark files found\n"


def test_setup_logging_writes_progress_to_the_log(tmp_path):
    log = tmp_path / "logs" / "job.log"
    setup_logging(log)
    logging.getLogger("policy_distillation.test").info("step 5/10")
    for h in logging.getLogger("policy_distillation").handlers:
        h.flush()
    assert "step 5/10" in log.read_text()
