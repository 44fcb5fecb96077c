"""The launcher behind `make figures` (launch.py): it refuses to touch a live run's lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import yaml

from policy_distillation import launch, profiles

TINY = profiles.REPO / "tests" / "workflow_tiny.yaml"


def profile_in(tmp_path, root):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["output_root"] = str(root)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def test_live_processes_in_finds_a_process_working_there(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path)
    try:
        assert child.pid in launch.live_processes_in(tmp_path, exclude=set())
        assert child.pid not in launch.live_processes_in(tmp_path, exclude={child.pid})
    finally:
        child.kill()
        child.wait()


def test_a_live_run_is_not_unlocked(tmp_path):
    root = tmp_path / "out"
    (root / ".snakemake" / "locks").mkdir(parents=True)
    (root / ".snakemake" / "locks" / "0.input.lock").write_text("x")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], cwd=root)
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
