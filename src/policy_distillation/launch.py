"""``make figures`` / ``make report``: run the workflow for one profile, resuming after any kill.

    python -m policy_distillation.launch --profile quick [--cores 2] [--report] [target ...] [-- snakemake args]

What it adds to a plain ``snakemake --config profile=<name>`` call:

- the profile is parsed and validated first, so a bad file is reported with
  its line or key before Snakemake starts;
- a hard kill (SIGKILL, out of memory, power loss) leaves Snakemake's lock in
  ``<output_root>/.snakemake/locks``; the next run then fails with a
  LockException unless ``--unlock`` is given. The launcher takes an exclusive
  ``flock`` on ``<output_root>/.launch.lock`` (the kernel releases it when its
  holder dies, however it dies) and looks for live processes working in the
  output root; when neither exists, a lock left behind is stale and is removed
  with ``snakemake --unlock`` before the run. A live run is never unlocked;
- BLAS threads are pinned to one per job (jobs run in parallel instead), and
  the local execution profile (``workflow/profiles/local``) sets the cores and
  rerun triggers.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
from pathlib import Path

from . import profiles

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")


def live_processes_in(root: Path, exclude: set[int]) -> list[int]:
    """PIDs of processes whose working directory is ``root`` or below (Linux /proc; [] elsewhere)."""
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    root = root.resolve()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == root or root in cwd.parents:
            found.append(int(entry.name))
    return sorted(found)


def snakemake_command(repo: Path, profile: str, cores: int | None, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"),
           "--profile", str(repo / "workflow" / "profiles" / "local")]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    # targets before --config: its values take the rest of the command line
    return cmd + extra + ["--config", f"profile={profile}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m policy_distillation.launch", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", help="profile name (workflow/config/<name>.yaml) or a YAML path")
    ap.add_argument("--cores", type=int, default=None, help="cores for Snakemake (default: the execution profile's)")
    ap.add_argument("--report", action="store_true", help="build the HTML report <output_root>/report.html")
    ap.add_argument("--repo", default=str(profiles.REPO), help=argparse.SUPPRESS)
    ap.add_argument("targets", nargs="*", help="rule or file targets, e.g. fig4 (default: every figure)")
    args, extra = ap.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    repo = Path(args.repo).resolve()
    try:
        config = profiles.load_yaml(profiles.profile_path(args.profile, repo))
        profiles.validate(config, repo / profiles.SCHEMA)
    except profiles.ProfileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = (repo / profiles.output_root(config)).resolve()
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **{v: os.environ.get(v, "1") for v in THREAD_VARS})
    with open(root / ".launch.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"error: another run of profile {config['profile']} is in progress (lock {root / '.launch.lock'})",
                  file=sys.stderr)
            return 2
        return _run(repo, root, args, extra, env)


def _run(repo: Path, root: Path, args: argparse.Namespace, extra: list[str], env: dict) -> int:
    """Remove a stale lock if no process of its run is alive, then run Snakemake (the launch lock is held)."""
    locks = root / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        busy = live_processes_in(root, exclude={os.getpid()})
        if busy:
            print(f"error: processes {busy} are still working in {root}; not removing their lock", file=sys.stderr)
            return 2
        print(f"removing the stale Snakemake lock of a killed run in {root} (no process of it is alive)",
              file=sys.stderr)
        subprocess.run(snakemake_command(repo, args.profile, args.cores, ["--unlock"]), check=True, env=env,
                       cwd=repo, stdout=subprocess.DEVNULL)
    if args.report:
        extra = ["--report", str(root / "report.html"), *extra]
    return subprocess.run(snakemake_command(repo, args.profile, args.cores, [*args.targets, *extra]),
                          env=env, cwd=repo).returncode

if __name__ == "__main__":
    sys.exit(main())
