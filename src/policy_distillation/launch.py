"""``make figures`` / ``make report``: run the workflow for one profile, resuming after any kill.

    python -m policy_distillation.launch --profile quick [--cores 2] [--report] [target ...] [-- snakemake args]
    python -m policy_distillation.launch --profile paper --executor slurm --slurm-account ACCOUNT [--slurm-partition P]

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
  an execution profile sets how jobs run: ``workflow/profiles/local`` (the
  default: cores and rerun triggers) or, with ``--executor slurm``,
  ``workflow/profiles/slurm`` (every job a Slurm job, submitted by
  snakemake-executor-plugin-slurm; install it with ``pip install -e '.[cluster]'``).
  The Slurm account and partition are given here (or as ``SLURM_ACCOUNT`` /
  ``SLURM_PARTITION`` in the environment) and passed to Snakemake as default
  resources, merged into the profile's ``default-resources``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import yaml

from . import profiles

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
EXECUTORS = ("local", "slurm")  # execution profiles: workflow/profiles/<executor>/config.yaml


def live_processes_in(root: Path, exclude: set[int]) -> list[int]:
    """PIDs of this workflow's processes working in ``root`` or below (Linux /proc; [] elsewhere).

    A workflow process is Snakemake itself or one of its job scripts (``.snakemake/scripts/...``): "snakemake"
    is in its command line. Other processes there (the user's shell, ``make``, an editor) never hold the lock;
    the caller's own ancestors and ``exclude`` are skipped.
    """
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    root = root.resolve()
    skip = set(exclude) | _ancestors(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if (cwd == root or root in cwd.parents) and b"snakemake" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _ancestors(pid: int) -> set[int]:
    """``pid`` and its ancestors (Linux /proc)."""
    out = set()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the command name in parentheses
    return out


def live_slurm_jobs_in(root: Path) -> list[str]:
    """Ids of the user's queued or running Slurm jobs that belong to a run in ``root`` ([] without ``squeue``).

    The slurm executor writes each job's Slurm log under ``<output root>/.snakemake/slurm_logs``,
    so a job is recognised by its standard output path. Such jobs outlive a submitting Snakemake
    that was killed (only a clean interrupt cancels them).
    """
    try:
        proc = subprocess.run(["squeue", "--noheader", "--user", str(os.getuid()), "--Format=JobID:30|,STDOUT:4096|"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    root = root.resolve()
    found = []
    for line in proc.stdout.splitlines():
        job, _, rest = line.partition("|")
        log = Path(rest.rpartition("|")[0].strip() or "/")
        if job.strip() and root in log.parents:
            found.append(job.strip())
    return found


def execution_profile(repo: Path, executor: str) -> Path:
    """The Snakemake execution profile directory of an executor (``workflow/profiles/<executor>``)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    return repo / "workflow" / "profiles" / executor


def slurm_default_resources(repo: Path, account: str | None, partition: str | None) -> list[str]:
    """``NAME=VALUE`` items for ``--default-resources``: the slurm profile's own, with the account
    and partition set (strings quoted: Snakemake evaluates each value as a Python expression).

    A ``--default-resources`` on the command line replaces the profile's whole list, so the
    profile's other entries are carried over. Without a partition the entry is dropped and the
    plugin submits to the cluster's default partition (the one ``sinfo`` marks with ``*``).
    """
    with open(execution_profile(repo, "slurm") / "config.yaml") as f:
        resources = dict(yaml.safe_load(f).get("default-resources") or {})
    resources["slurm_account"] = account
    resources["slurm_partition"] = partition
    return [f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
            for name, value in resources.items() if value is not None]


def snakemake_command(repo: Path, profile: str, cores: int | None, extra: list[str], executor: str = "local",
                      default_resources: list[str] | None = None, targets: list[str] | None = None) -> list[str]:
    """The Snakemake command line: targets, the execution profile, the options, then ``--config``.

    ``--default-resources`` and ``--config`` take every value up to the next option, so targets
    come first and ``--config`` last. With the slurm executor, ``cores`` are the cores of the
    rules that run on the submitting machine (``--local-cores``).
    """
    cmd = [sys.executable, "-m", "snakemake", *(targets or []), "-s", str(repo / "Snakefile"),
           "--profile", str(execution_profile(repo, executor))]
    if cores is not None:
        cmd += ["--cores" if executor == "local" else "--local-cores", str(cores)]
    if default_resources:
        cmd += ["--default-resources", *default_resources]
    return cmd + extra + ["--config", f"profile={profile}"]


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The launcher's arguments, and the rest (Snakemake arguments; a ``--`` separator dropped)."""
    ap = argparse.ArgumentParser(prog="python -m policy_distillation.launch", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", help="profile name (workflow/config/<name>.yaml) or a YAML path")
    ap.add_argument("--cores", type=int, default=None, help="cores for Snakemake (default: the execution profile's)")
    ap.add_argument("--report", action="store_true", help="build the HTML report <output_root>/report.html")
    ap.add_argument("--executor", choices=EXECUTORS, default="local",
                    help="execution profile workflow/profiles/<executor>: local (default) or slurm (every job a "
                         "Slurm job)")
    ap.add_argument("--slurm-account", default=os.environ.get("SLURM_ACCOUNT") or None,
                    help="Slurm account (sbatch -A) for --executor slurm (default: $SLURM_ACCOUNT)")
    ap.add_argument("--slurm-partition", default=os.environ.get("SLURM_PARTITION") or None,
                    help="Slurm partition (sbatch -p) for --executor slurm (default: $SLURM_PARTITION, "
                         "else the cluster's default partition)")
    ap.add_argument("--repo", default=str(profiles.REPO), help=argparse.SUPPRESS)
    ap.add_argument("targets", nargs="*", help="rule or file targets, e.g. fig4 (default: every figure)")
    argv = list(sys.argv[1:] if argv is None else argv)
    tail = []
    if "--" in argv:  # everything after the first `--` is for Snakemake
        argv, tail = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args, extra = ap.parse_known_args(argv)
    return args, extra + tail


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    repo = Path(args.repo).resolve()
    if args.executor == "slurm" and not args.slurm_account:
        print("error: --executor slurm needs a Slurm account: --slurm-account NAME (make figures EXECUTOR=slurm "
              "SLURM_ACCOUNT=NAME), or SLURM_ACCOUNT in the environment; `sacctmgr show associations "
              "user=$USER format=account` lists yours", file=sys.stderr)
        return 2
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
        jobs = live_slurm_jobs_in(root) if args.executor == "slurm" else []
        if jobs:
            print(f"error: Slurm jobs {jobs} of a previous run are still queued or running in {root}; wait for "
                  f"them or cancel them (scancel {' '.join(jobs)}), then run again", file=sys.stderr)
            return 2
        print(f"removing the stale Snakemake lock of a killed run in {root} (no process of it is alive)",
              file=sys.stderr)
        subprocess.run(snakemake_command(repo, args.profile, args.cores, ["--unlock"]), check=True, env=env,
                       cwd=repo, stdout=subprocess.DEVNULL)
    if args.report:
        extra = ["--report", str(root / "report.html"), *extra]
    return subprocess.run(run_command(repo, args, extra), env=env, cwd=repo).returncode


def run_command(repo: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The Snakemake command of a run (parsed launcher arguments, extra Snakemake arguments)."""
    resources = None
    if args.executor == "slurm":
        resources = slurm_default_resources(repo, args.slurm_account, args.slurm_partition)
    return snakemake_command(repo, args.profile, args.cores, extra, executor=args.executor,
                             default_resources=resources, targets=args.targets)


if __name__ == "__main__":
    sys.exit(main())
