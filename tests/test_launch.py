"""The launcher behind `make figures` (launch.py): it refuses to touch a live run's lock, and builds the
Snakemake command of each executor (local, slurm)."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys

import pytest
import yaml

from policy_distillation import launch, profiles

TINY = profiles.REPO / "tests" / "workflow_tiny.yaml"


def profile_in(tmp_path, root):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["output_root"] = str(root)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


SNAKEMAKE_LIKE = [sys.executable, "-c", "import time; time.sleep(30)  # stands for .snakemake/scripts/job.py"]


def test_live_processes_in_finds_a_workflow_process_working_there(tmp_path):
    child = subprocess.Popen(SNAKEMAKE_LIKE, cwd=tmp_path)
    try:
        assert child.pid in launch.live_processes_in(tmp_path, exclude=set())
        assert child.pid not in launch.live_processes_in(tmp_path, exclude={child.pid})
    finally:
        child.kill()
        child.wait()


def test_a_shell_working_in_the_output_root_does_not_block_the_resume(tmp_path):
    """The paper profile's output root is the repository, where the user's shell and ``make`` run."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path)
    try:
        assert launch.live_processes_in(tmp_path, exclude=set()) == []
    finally:
        child.kill()
        child.wait()


def test_the_launchers_own_ancestors_are_skipped():
    assert os.getppid() in launch._ancestors(os.getpid()) and os.getpid() in launch._ancestors(os.getpid())


def test_a_live_run_is_not_unlocked(tmp_path):
    root = tmp_path / "out"
    (root / ".snakemake" / "locks").mkdir(parents=True)
    (root / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    child = subprocess.Popen(SNAKEMAKE_LIKE, cwd=root)
    try:
        code = launch.main(["--profile", str(profile_in(tmp_path, root))])
    finally:
        child.kill()
        child.wait()
    assert code == 2
    assert (root / ".snakemake" / "locks" / "0.input.lock").exists()


def test_a_second_launch_of_the_same_profile_is_refused(tmp_path, capsys):
    root = tmp_path / "out"
    root.mkdir()
    with open(root / ".launch.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert launch.main(["--profile", str(profile_in(tmp_path, root))]) == 2
    assert "another run of profile tiny is in progress" in capsys.readouterr().err


def test_targets_come_before_config_values():
    cmd = launch.snakemake_command(profiles.REPO, "quick", 4, ["fig4"])
    assert cmd[-3:] == ["fig4", "--config", "profile=quick"] and "--cores" in cmd
    assert os.path.basename(cmd[cmd.index("--profile") + 1]) == "local"


def command_of(*argv: str) -> list[str]:
    args, extra = launch.parse_args(list(argv))
    return launch.run_command(profiles.REPO, args, extra)


def test_the_local_executor_is_the_default(monkeypatch):
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)
    cmd = command_of("--profile", "quick", "--cores", "4", "fig4")
    assert cmd[cmd.index("--profile") + 1] == str(profiles.REPO / "workflow" / "profiles" / "local")
    assert cmd[cmd.index("--cores") + 1] == "4"
    assert "--default-resources" not in cmd and "--local-cores" not in cmd
    assert cmd[3] == "fig4" and cmd[-2:] == ["--config", "profile=quick"]


def test_slurm_executor_passes_account_and_partition_as_default_resources(monkeypatch):
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)
    monkeypatch.delenv("SLURM_PARTITION", raising=False)
    cmd = command_of("--profile", "paper", "--executor", "slurm", "--slurm-account", "proj42",
                     "--slurm-partition", "compute", "--cores", "1", "fig4", "fig5", "--", "--dry-run")
    assert cmd[cmd.index("--profile") + 1] == str(profiles.REPO / "workflow" / "profiles" / "slurm")
    assert cmd[3:5] == ["fig4", "fig5"]  # targets first: --default-resources takes every value up to an option
    i = cmd.index("--default-resources")
    values = cmd[i + 1:cmd.index("--dry-run")]
    assert sorted(values) == ["slurm_account='proj42'", "slurm_partition='compute'"]
    assert cmd[cmd.index("--local-cores") + 1] == "1" and "--cores" not in cmd
    assert cmd[-2:] == ["--config", "profile=paper"]


def test_slurm_account_and_partition_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("SLURM_ACCOUNT", "envacct")
    monkeypatch.delenv("SLURM_PARTITION", raising=False)
    cmd = command_of("--executor", "slurm")
    i = cmd.index("--default-resources")
    # no partition: the entry is dropped and the plugin uses the cluster's default partition
    assert cmd[i + 1:cmd.index("--config")] == ["slurm_account='envacct'"]
    monkeypatch.setenv("SLURM_PARTITION", "short")
    cmd = command_of("--executor", "slurm", "--slurm-account", "flag")
    assert "slurm_account='flag'" in cmd and "slurm_partition='short'" in cmd


def test_the_slurm_profile_keeps_its_own_default_resources(tmp_path):
    repo = tmp_path / "repo"
    (repo / "workflow" / "profiles" / "slurm").mkdir(parents=True)
    (repo / "workflow" / "profiles" / "slurm" / "config.yaml").write_text(
        "executor: slurm\ndefault-resources:\n  slurm_account: $SLURM_ACCOUNT\n  slurm_partition: $SLURM_PARTITION\n"
        "  slurm_extra: \"'--qos=normal'\"\n  disk_mb: 2000\n")
    values = launch.slurm_default_resources(repo, "acct", None)
    assert values == ["slurm_account='acct'", "slurm_extra=\"'--qos=normal'\"", "disk_mb=2000"]


def test_slurm_executor_without_an_account_is_refused(monkeypatch, capsys):
    monkeypatch.delenv("SLURM_ACCOUNT", raising=False)
    assert launch.main(["--profile", "quick", "--executor", "slurm"]) == 2
    assert "--executor slurm needs a Slurm account" in capsys.readouterr().err


def test_an_unknown_executor_is_refused():
    with pytest.raises(SystemExit):
        launch.parse_args(["--executor", "pbs"])


def test_live_slurm_jobs_in_finds_jobs_logging_under_the_output_root(tmp_path, monkeypatch):
    root = tmp_path / "out"
    (root / "sub").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    logs = root / ".snakemake" / "slurm_logs"
    squeue.write_text(f"#!/bin/sh\nprintf '11   |{logs}/rule_distill/fig3/%%j.log   |\\n12   |{root}/sub/1.log   |\\n"
                      f"13   |{tmp_path}/x.log   |\\n14   |/elsewhere/1.log   |\\n'\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert launch.live_slurm_jobs_in(root) == ["11", "12"]
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
    assert launch.live_slurm_jobs_in(root) == []


def test_a_stale_lock_is_kept_while_slurm_jobs_of_the_run_are_alive(tmp_path, monkeypatch, capsys):
    root = tmp_path / "out"
    (root / ".snakemake" / "locks").mkdir(parents=True)
    (root / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    monkeypatch.setattr(launch, "live_slurm_jobs_in", lambda r: ["77"] if r == root.resolve() else [])
    code = launch.main(["--profile", str(profile_in(tmp_path, root)), "--executor", "slurm", "--slurm-account", "a"])
    assert code == 2 and "Slurm jobs ['77']" in capsys.readouterr().err
    assert (root / ".snakemake" / "locks" / "0.input.lock").exists()


def test_the_slurm_profile_dry_runs_with_account_partition_and_resources(tmp_path, monkeypatch, capfd):
    """The launcher's slurm command is valid for Snakemake and the plugin (profile keys included), and every
    cluster job carries the account, the partition, its memory and its wall time."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    monkeypatch.delenv("SLURM_PARTITION", raising=False)
    monkeypatch.chdir(tmp_path)
    code = launch.main(["--profile", str(profile_in(tmp_path, tmp_path / "out")), "--executor", "slurm",
                        "--slurm-account", "proj42", "--slurm-partition", "short", "fig4", "--", "--dry-run"])
    out = "".join(capfd.readouterr())
    assert code == 0, out[-3000:]
    blocks = re.findall(r"^rule (\w+):\n((?:    .*\n)+)", out, re.M)
    assert {rule for rule, _ in blocks} >= {"q_teacher", "distill"}, out[-3000:]
    for rule, block in blocks:
        resources = re.search(r"^    resources: (.*)$", block, re.M).group(1)
        assert "slurm_account=proj42" in resources and "slurm_partition=short" in resources, (rule, resources)
        if "    output: " in block:  # target rules such as fig4 make no file and ask for nothing
            assert re.search(r"\bmem_mb=\d+", resources) and re.search(r"\bruntime=\d+", resources), (rule, block)
