"""End-to-end workflow test: the whole DAG on a tiny config in a fresh directory.

Checks that every figure and aggregated table is produced and non-empty, that
a second run has nothing to do, that changing one method's learning rate
reruns only that method's jobs and their consumers, that `snakemake --lint` is
clean, and that a bad config fails at once naming the key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
TINY = REPO / "tests" / "workflow_tiny.yaml"
FIGURES = ["fig2", "fig3_left", "fig3_right", "fig4", "fig5", "fig6", "fig9"]
TABLES = ["fig2_trajectories.csv", "fig3_curves.csv", "fig3_speedup.csv", "fig4_curves.csv", "fig5_curves.csv",
          "fig6_curves.csv", "fig3_per_mdp.csv.gz", "fig4_per_mdp.csv.gz", "fig5_per_mdp.csv.gz"]

pytestmark = pytest.mark.slow


def run(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(config), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path, config: Path) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    proc = run(workdir, config, "-n")
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    counts = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("job") and "count" in line:
            in_table = True
            continue
        if in_table:
            m = re.match(r"^([A-Za-z_][\w]*)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wf")
    run(workdir, TINY)
    return workdir


def test_every_figure_and_table_exists(finished):
    for fig in FIGURES:
        for ext in ("pdf", "png"):
            f = finished / "figures" / f"{fig}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f
    for t in TABLES:
        f = finished / "data" / "results" / t
        assert f.is_file() and f.stat().st_size > 0, f
    for f in ("claims.md", "claims.json", "table1.md"):
        assert (finished / "figures" / f).stat().st_size > 100


def test_second_run_has_nothing_to_do(finished):
    assert planned_jobs(finished, TINY) == {}


def test_changing_one_learning_rate_reruns_only_that_method(finished, tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["learning_rates"]["td_v_0"] = 0.05  # used by Figure 5 only
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(finished, changed)
    # two shards of the one method, then the consumers of Figure 5's table
    assert jobs == {"distill_fig5": 2, "aggregate_fig5": 1, "figure": 1, "claims": 1, "all": 1}, jobs


def test_fewer_figure3_worlds_reuse_the_finished_shard(finished, tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["figure3"]["n_mdps"] = cfg["shard_size"]  # first shard only
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(finished, fewer)
    # no distillation job: only the aggregation (one shard fewer) and its consumers
    assert jobs == {"aggregate_fig3": 1, "figure": 2, "claims": 1, "all": 1}, jobs


def test_lint_is_clean(tmp_path):
    proc = run(tmp_path, TINY, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["figure5"].__setitem__("methods", ["teacher_distill", "nope"]), "nope"),
        (lambda c: c["figure3"].__setitem__("steps", -5), "steps"),
        (lambda c: c.pop("learning_rates"), "learning_rates"),
        (lambda c: c["figure3"].__setitem__("n_mdps", c["shard_size"] + 1), "figure3.n_mdps"),
    ],
)
def test_bad_config_fails_naming_the_key(tmp_path, edit, key):
    cfg = yaml.safe_load(TINY.read_text())
    edit(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = run(tmp_path, bad, "-n", check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr


def test_tools_available():
    assert shutil.which("make") is not None
