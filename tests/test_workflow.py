"""End-to-end workflow tests on the tiny profile (tests/workflow_tiny.yaml).

Two full runs, each in its own output root:
- ``copy_run``: an uninterrupted run of a copy of the repository (its own
  package on PYTHONPATH, so its sources can be edited without touching ours);
- ``killed_run``: the README's command (``python -m policy_distillation.launch``,
  what ``make figures`` runs) killed with SIGKILL mid-run, then run again.

They check: every figure, table and report exists and states its profile;
the resumed run's outputs equal the uninterrupted run's byte for byte (so two
runs in two directories are byte-identical); a second run has nothing to do;
a one-method learning-rate change, a package edit and a single-figure target
rerun only what they affect; the HTML report builds with every figure; bad
profiles fail naming the key, the line or the tag; ``snakemake --lint`` is clean.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from policy_distillation import profiles

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "workflow_tiny.yaml"
FIGURES = ["fig2", "fig3_left", "fig3_right", "fig4", "fig5", "fig6", "fig9", "llm"]
TABLES = ["fig2_trajectories.csv", "fig3_curves.csv", "fig3_speedup.csv", "fig4_curves.csv", "fig5_curves.csv",
          "fig6_curves.csv", "fig3_per_mdp.csv.gz", "fig4_per_mdp.csv.gz", "fig5_per_mdp.csv.gz", "fig6_per_mdp.csv.gz",
          "llm_curves.csv", "llm_per_mdp.csv.gz", "llm_study.csv"]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")

pytestmark = pytest.mark.slow


def tiny_profile(path: Path, root: Path, **changes) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["output_root"] = str(root)
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if name:
            cfg[section][name] = value
        else:
            cfg[section] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


def launch(repo: Path, profile: Path, *args: str, env=None, check=True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "policy_distillation.launch", "--profile", str(profile), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=repo)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def snakemake(repo: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=repo)


def planned_jobs(repo: Path, profile: Path, *targets: str, env=None) -> tuple[dict[str, int], str]:
    """Rule -> job count of a dry run (and its text)."""
    proc = snakemake(repo, "-n", *targets, "--config", f"profile={profile}", env=env)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    if "Nothing to be done" in text:
        return {}, text
    counts, in_table = {}, False
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
    return counts, text


def outputs(root: Path) -> dict[str, str]:
    """sha256 of every output file under root (data, figures, report), by relative path."""
    out = {}
    for sub in ("data", "figures"):
        for f in sorted((root / sub).rglob("*")):
            if f.is_file():
                out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    """An uninterrupted run of a copy of the repository (sources editable without touching ours)."""
    top = tmp_path_factory.mktemp("copy")
    repo = top / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".venv", ".git", "results", ".snakemake", "data",
                                                              "logs", "benchmarks", "__pycache__", "*.egg-info"))
    env = dict(ENV, PYTHONPATH=str(repo / "src"))
    profile = tiny_profile(top / "tiny.yaml", top / "out")
    launch(repo, profile, env=env)
    return repo, profile, top / "out", env


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The README command killed with SIGKILL (whole process group) mid-run, then run again."""
    top = tmp_path_factory.mktemp("killed")
    root = top / "out"
    profile = tiny_profile(top / "tiny.yaml", root)
    cmd = [sys.executable, "-m", "policy_distillation.launch", "--profile", str(profile)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((root / "data" / "runs").rglob("*.npz"))) < 6:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    locks = root / ".snakemake" / "locks"
    assert locks.is_dir() and any(locks.iterdir()), "the kill should leave Snakemake's lock behind"
    resumed = launch(REPO, profile)
    return root, profile, resumed


def test_every_output_exists_and_states_its_profile(copy_run):
    _, _, root, _ = copy_run
    for fig in FIGURES:
        for ext in ("pdf", "png"):
            f = root / "figures" / f"{fig}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f
    for t in TABLES:
        assert (root / "data" / "results" / t).stat().st_size > 0, t
    for name in ("claims.md", "table1.md"):
        assert (root / "figures" / name).read_text().startswith("Generated by the workflow (profile tiny: 8 grid")
    assert '"profile": "profile tiny: 8 grid' in (root / "figures" / "claims.json").read_text()
    table1 = (root / "figures" / "table1.md").read_text()
    second = table1.index("## Second part: language-model on-policy distillation estimators")
    assert "Generated by the workflow (profile tiny llm: 4 worlds" in table1[second:]
    curves = (root / "data" / "results" / "llm_curves.csv").read_text().splitlines()
    assert curves[0] == "actions,figure,method,step,metric,mean,se,n"
    llm = yaml.safe_load(TINY.read_text())["llm"]
    assert {(int(c.split(",")[0]), c.split(",")[2]) for c in curves[1:]} == {
        (a, m) for a in llm["actions"] for m in llm["methods"]}


def test_a_hard_kill_resumes_with_the_readme_command_to_identical_outputs(copy_run, killed_run):
    root, _, resumed = killed_run
    assert "removing the stale Snakemake lock" in resumed.stderr
    ours, theirs = outputs(root), outputs(copy_run[2])
    assert ours.keys() == theirs.keys()
    assert ours == theirs, [k for k in ours if ours[k] != theirs[k]]  # byte-identical: every output file


def test_second_run_has_nothing_to_do(copy_run):
    repo, profile, _, env = copy_run
    assert planned_jobs(repo, profile, env=env)[0] == {}


def test_changing_one_learning_rate_reruns_only_that_method(copy_run, tmp_path):
    repo, profile, root, env = copy_run
    cfg = yaml.safe_load(profile.read_text())
    cfg["regimes"]["tiny"]["learning_rates"]["td_v_0"] = 0.05  # used by Figure 5 only
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs, _ = planned_jobs(repo, changed, env=env)
    # two shards of the one method, then the consumers of Figure 5's table
    assert jobs == {"distill": 2, "aggregate_fig5": 1, "plot_fig5": 1, "claims": 1, "all": 1}, jobs


def test_editing_the_package_reruns_what_the_edit_can_affect(copy_run):
    repo, profile, _, env = copy_run
    plotting = repo / "src" / "policy_distillation" / "plotting.py"
    original = plotting.read_text()
    try:
        plotting.write_text(original + "\n# an edit\n")
        jobs, text = planned_jobs(repo, profile, env=env)
        assert jobs == {f"plot_{f}": 1 for f in FIGURES} | {"all": 1}, jobs
        assert "Params have changed since last execution" in text
    finally:
        plotting.write_text(original)
    assert planned_jobs(repo, profile, env=env)[0] == {}


def test_one_figure_target(copy_run, tmp_path):
    repo, profile, _, env = copy_run
    cfg = yaml.safe_load(profile.read_text())
    cfg["figure4"]["steps"] = 30
    changed = tmp_path / "fig4.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs, _ = planned_jobs(repo, changed, "fig4", env=env)
    assert jobs == {"distill": 9, "aggregate_fig4": 1, "plot_fig4": 1, "fig4": 1}, jobs  # |A| = 16: two jobs per file


def test_report_builds_with_every_figure_and_caption(copy_run):
    repo, profile, root, env = copy_run
    launch(repo, profile, "--report", env=env)
    html = (root / "report.html").read_text()
    for fig in FIGURES:
        assert f"{fig}.png" in html, fig
    assert "claims.md" in html and "table1.md" in html
    assert "Generated with profile tiny" in html  # the captions state the profile


def test_the_committed_paper_outputs_are_untouched_by_other_profiles(copy_run):
    _, _, root, _ = copy_run
    assert root.resolve() != REPO.resolve()
    paper = profiles.load_yaml(REPO / "workflow" / "config" / "paper.yaml")
    quick = profiles.load_yaml(REPO / "workflow" / "config" / "quick.yaml")
    assert paper["output_root"] == "." and quick["output_root"].startswith("results/")
    proc = subprocess.run(["git", "status", "--porcelain", "--", "figures", "data/results"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode != 0 or proc.stdout.strip() == "" or "results/" not in proc.stdout


def test_atlas_target_fills_every_cell(tmp_path):
    """`make atlas` (the launcher's atlas target): claims 2-5 checked in every cell of the tiny atlas."""
    profile = tiny_profile(tmp_path / "tiny.yaml", tmp_path / "out")
    launch(REPO, profile, "atlas")
    md = (tmp_path / "out" / "figures" / "atlas.md").read_text()
    cfg = yaml.safe_load(profile.read_text())["atlas"]
    rows = [line for line in md.splitlines() if line.startswith("| eta ")]
    n_claims = 3 + len(cfg["flip_rules"])  # claims 2, 3, 4 and claim 5 per flip rule
    assert len(rows) == n_claims * len(cfg["eta"]) * len(cfg["terminal_mode"])
    cells = [c for line in rows for c in line.strip("|").split(" | ")[1:]]
    assert len(cells) == len(rows) * len(cfg["regimes"]) and all(c.strip() for c in cells)  # every cell filled
    assert (tmp_path / "out" / "figures" / "atlas.png").stat().st_size > 1000
    table = (tmp_path / "out" / "data" / "results" / "atlas.csv").read_text()
    assert table.startswith("cell,eta,terminal_mode,regime,sampler,optimiser,claim")
    assert sorted(p.name for p in (tmp_path / "out" / "data" / "mdps").iterdir()) == ["eta0.5-reset"]


def test_lint_is_clean():
    proc = snakemake(REPO, "--lint", "--config", f"profile={TINY}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_config_without_configfile_loads_the_paper_profile():
    """`snakemake --config seed=7` overrides one key of the default (paper) profile."""
    proc = snakemake(REPO, "-n", "--config", "seed=7")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.M)}
    assert counts.get("distill") == len(paper_jobs())
    assert counts.get("grid_worlds") == 2  # the paper's 1000 worlds in shards of 500


def paper_jobs():
    from policy_distillation.job_tables import figure_jobs

    cfg = profiles.resolve(profiles.load_yaml(REPO / "workflow" / "config" / "paper.yaml"))
    return [j for jobs in figure_jobs(cfg).values() for j in jobs]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("  steps: 20, eval_every: 10}", "  eval_every: 10}", 1), "figure3.steps: missing"),
        (lambda t: t.replace("seed: 7\n", ""), "config key seed: missing"),
        (lambda t: t.replace("n_mdps: 8\n", "n_mdps: 8\nn_mdps: 9\n"), "line 7: duplicate key 'n_mdps'"),
        (lambda t: t.replace("seed: 7\n", "seed: !!python/object/apply:os.getpid []\n"),
         "line 5: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.getpid'"),
        (lambda t: t.replace("methods: [teacher_distill, on_policy_distill, on_policy_distill_r",
                             "methods: [nope, on_policy_distill, on_policy_distill_r", 1),
         "figure5.methods: unknown method name(s) ['nope']"),
        (lambda t: t.replace("      n_distill: 0.1\n", "", 1),
         "config regimes.tiny.learning_rates: missing key(s) ['n_distill'] for llm (llm.methods train in"),
        (lambda t: t.replace(", copies: 4}}", "}}", 1), "config key llm.study.copies: missing"),
    ],
)
def test_bad_profiles_fail_naming_the_key_line_or_tag(tmp_path, edit, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(TINY.read_text()))
    proc = snakemake(REPO, "-n", "--config", f"profile={bad}")
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    if "method" not in message:  # the launcher checks the file before Snakemake starts
        out = launch(REPO, bad, check=False)
        assert out.returncode == 2 and message in out.stderr, out.stderr
