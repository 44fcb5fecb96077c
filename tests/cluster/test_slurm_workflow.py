"""The workflow on a Slurm cluster (``make test-cluster``): a one-shard copy of the tiny profile
(tests/workflow_tiny.yaml) run through the slurm execution profile (workflow/profiles/slurm) by the
launcher, as a user runs it, and compared with a local run of the same profile.

The runs (one module fixture; the local run goes on while the Slurm runs wait for Slurm):

- ``local``: the profile with the local executor, into its own output root;
- ``slurm_1_failing``: the whole workflow through Slurm (every job that is not a localrule is one
  Slurm job) into another output root, with one bad setting: the learning rate of
  ``entropy_regularised`` (a method only Figure 4 uses) set to infinity. The profile schema accepts
  it (``exclusiveMinimum: 0``); the optimiser refuses it when the job starts, so exactly that
  method's Figure 4 jobs fail on the cluster, each retried once (the profile's ``retries: 1``),
  while ``keep-going`` finishes everything that does not need them. No code exists for the test:
  the failure is an ordinary bad value in a profile, and restoring it restores the jobs' params;
- ``slurm_2_killed``: the same command with the setting restored, killed with SIGKILL (its whole
  process group: launcher and Snakemake) as soon as it has submitted the failed jobs again. Its
  Slurm jobs outlive it and Snakemake's lock stays behind;
- ``slurm_3_refused``: run again at once: the launcher must not remove the lock while the killed
  run's jobs are alive (``launch.live_slurm_jobs_in`` finds them with squeue);
- ``slurm_4_resumed``: run again once those jobs have left the queue: the launcher removes the
  stale lock and the run finishes, redoing only Figure 4's failed jobs and their consumers.

They check: the Slurm outputs equal the local run's byte for byte (sha256 of every file under data/
and figures/; every table under data/results compared decompressed too, and claims.json); each
failed job is reported with its Slurm log, which exists and holds the error; the kill and the
resume leave every output finished before them untouched; the jobs went through sbatch with the
account, partition and resources the workflow asked for, and the retry asked for twice the memory
and time (sacct).

Why one shard (4 worlds for Figures 3 and 5, Figure 5 with the seven methods its claim reads; every
rule still runs): on this 2-core machine a Slurm job costs about 10 s of CPU (Snakemake starts twice,
in the batch step and in the job step) against about 3 s for the same job run locally, and
``make test`` and this test must fit in 15 minutes together.

Runs only inside the throwaway cluster of tests/cluster/slurm_cluster.sh (``run`` exports
SLURM_CONF and SLURM_DEV_ACCOUNT / SLURM_DEV_PARTITION); skipped anywhere else. Evidence (the
Snakemake output of every run, sinfo, sacct, the failed jobs' Slurm logs, timings) is written to
results/test-cluster/ (``CLUSTER_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from policy_distillation import launch, profiles
from policy_distillation.job_tables import figure_jobs

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "workflow_tiny.yaml"
ACCOUNT = os.environ.get("SLURM_DEV_ACCOUNT")
PARTITION = os.environ.get("SLURM_DEV_PARTITION")
ARTIFACTS = Path(os.environ.get("CLUSTER_TEST_ARTIFACTS", REPO / "results" / "test-cluster"))
BROKEN_METHOD = "entropy_regularised"  # used by Figure 4 only
# status checks: jobs of a few seconds need not wait the profile's 20 s after each completion
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
THREADS1 = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
TABLES = ["fig2_trajectories.csv", "fig3_curves.csv", "fig3_speedup.csv", "fig4_curves.csv", "fig5_curves.csv",
          "fig6_curves.csv", "fig3_per_mdp.csv.gz", "fig4_per_mdp.csv.gz", "fig5_per_mdp.csv.gz", "fig6_per_mdp.csv.gz",
          "llm_curves.csv", "llm_per_mdp.csv.gz", "llm_study.csv", "table1.csv"]  # every table under data/results
CLUSTER_RULES = {"q_teacher", "noisy_teacher", "distill", "llm_study"}  # every other rule is a localrule

if not (os.environ.get("SLURM_CONF") and ACCOUNT and PARTITION):
    pytest.skip("needs the throwaway Slurm cluster of `make test-cluster` (tests/cluster/slurm_cluster.sh run)",
                allow_module_level=True)


def profile(path: Path, root: Path, lr: float | None = None) -> Path:
    """The tiny profile with one shard of 4 worlds (Figures 3 and 5 as small as Figure 4 already is) and
    Figure 5's methods cut to the seven its claim reads; every rule still runs."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg["output_root"] = str(root)
    cfg["n_mdps"] = cfg["figure3"]["n_mdps"] = cfg["shard_size"]
    cfg["figure5"]["methods"] = [m for m in cfg["figure5"]["methods"] if m not in ("teacher_v_reward", "reward_only")]
    if lr is not None:
        cfg["regimes"]["tiny"]["learning_rates"][BROKEN_METHOD] = lr
    path.write_text(yaml.safe_dump(cfg))
    return path


def job_table(profile_path: Path) -> dict[str, list]:
    return figure_jobs(profiles.resolve(profiles.load_yaml(profile_path), REPO))


def launcher(profile_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "policy_distillation.launch", "--profile", str(profile_path), *args]


def slurm_command(profile_path: Path) -> list[str]:
    """The launcher with the slurm executor (what `make figures EXECUTOR=slurm ...` runs)."""
    return launcher(profile_path, "--executor", "slurm", "--slurm-account", ACCOUNT, "--slurm-partition", PARTITION,
                    "--", *FAST_STATUS)


def record(name: str, cmd: list[str], returncode: int, seconds: float, output: str) -> None:
    (ARTIFACTS / f"{name}.log").write_text(f"$ {' '.join(cmd)}\n# exit {returncode}, {seconds:.1f} s\n{output}")
    with open(ARTIFACTS / "timings.txt", "a") as f:
        f.write(f"{name:<24} {seconds:8.1f} s\n")


def slurm(name: str, profile_path: Path) -> subprocess.CompletedProcess:
    cmd = slurm_command(profile_path)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **THREADS1))
    record(name, cmd, proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr)
    return proc


def slurm_killed(name: str, profile_path: Path, submissions: int) -> SimpleNamespace:
    """The slurm command, SIGKILLed with its process group once it has submitted ``submissions`` jobs."""
    cmd = slurm_command(profile_path)
    out_path = ARTIFACTS / f"{name}.out"
    t0 = time.monotonic()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                env=dict(os.environ, **THREADS1))
        deadline = time.monotonic() + 300
        while (len(submitted(out_path.read_text())) < submissions and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = out_path.read_text()
    record(name, cmd, proc.returncode, time.monotonic() - t0, text)
    return SimpleNamespace(returncode=proc.returncode, stdout=text, stderr="")


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def job_counts(text: str) -> dict[str, int]:
    """Rule -> jobs of the run's "Job stats" table."""
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def submitted(text: str) -> dict[str, str]:
    """Slurm job id -> its log, from "Job ... has been submitted with SLURM jobid J (log: ...)"."""
    return dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)", text))


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under data/ and figures/, by relative path."""
    out = {}
    for sub in ("data", "figures"):
        for f in sorted((root / sub).rglob("*")):
            if f.is_file():
                out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def mtimes(root: Path) -> dict[str, int]:
    return {str(f.relative_to(root)): f.stat().st_mtime_ns
            for sub in ("data", "figures") for f in (root / sub).rglob("*") if f.is_file()}


SACCT_FIELDS = ("JobID", "Comment", "Account", "Partition", "AllocCPUS", "ReqMem", "Timelimit", "State", "ExitCode",
                "Elapsed")


def sacct_rows(job_ids: set[str], timeout: float = 30) -> list[dict[str, str]]:
    """sacct rows of these jobs, once all have reached the accounting database (slurmctld sends every 5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = subprocess.run(["sacct", "-a", "-X", "-P", "-n", "-S", "now-3hours", "-o", ",".join(SACCT_FIELDS)],
                              capture_output=True, text=True, check=True)
        rows = [dict(zip(SACCT_FIELDS, line.split("|"))) for line in proc.stdout.splitlines() if line.strip()]
        rows = [r for r in rows if r["JobID"] in job_ids]
        done = all(r["State"] not in ("PENDING", "RUNNING") for r in rows)
        if ({r["JobID"] for r in rows} == job_ids and done) or time.monotonic() > deadline:
            return rows
        time.sleep(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    for cmd in (["sinfo"], ["sacctmgr", "-n", "-P", "show", "associations", "format=cluster,account,user"]):
        out = subprocess.run(cmd, capture_output=True, text=True)
        with open(ARTIFACTS / "cluster.txt", "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{out.stdout}{out.stderr}\n")
    top = tmp_path_factory.mktemp("cluster")
    root = top / "slurm"
    good, bad = profile(top / "slurm.yaml", root), profile(top / "slurm_bad.yaml", root, lr=float("inf"))
    jobs = job_table(good)
    failed_keys = sorted(j.key for j in jobs["fig4"] if j.method == BROKEN_METHOD)
    # the local run works while the Slurm runs mostly wait for status checks
    local_cmd = launcher(profile(top / "local.yaml", top / "local"))
    t0 = time.monotonic()
    with open(ARTIFACTS / "local.out", "w") as out:
        local = subprocess.Popen(local_cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                 env=dict(os.environ, **THREADS1))
        try:
            failing = slurm("slurm_1_failing", bad)
            after_failure = mtimes(root)
            killed = slurm_killed("slurm_2_killed", good, submissions=len(failed_keys))
            killed_jobs = set(submitted(killed.stdout))
            alive = set(launch.live_slurm_jobs_in(root))
            refused = slurm("slurm_3_refused", good)
            deadline = time.monotonic() + 300
            while squeue_ids() & killed_jobs and time.monotonic() < deadline:
                time.sleep(1)
            after_kill = mtimes(root)
            resumed = slurm("slurm_4_resumed", good)
            local.wait(timeout=900)
        finally:
            if local.poll() is None:
                local.kill()
                local.wait()
    record("local", local_cmd, local.returncode, time.monotonic() - t0, (ARTIFACTS / "local.out").read_text())
    return SimpleNamespace(root=root, local_root=top / "local", local=local, jobs=jobs, failed_keys=failed_keys,
                           failing=failing, after_failure=after_failure, killed=killed, killed_jobs=killed_jobs,
                           alive=alive, refused=refused, after_kill=after_kill, resumed=resumed)


def text(proc) -> str:
    return proc.stdout + proc.stderr


def test_the_failing_run_reports_each_failed_job_with_its_slurm_log(runs):
    out = text(runs.failing)
    assert runs.failing.returncode != 0, out[-3000:]
    assert runs.failed_keys, "the tiny profile's Figure 4 should use the broken method"
    for key in runs.failed_keys:
        # "log: <output root>/.snakemake/slurm_logs/rule_distill/<wildcards>/<jobid>.log (check log file(s) ...)"
        logs = re.findall(rf"log: (\S*/slurm_logs/rule_distill/{re.escape(key.replace('/', '_'))}/(\d+)\.log)", out)
        assert len({job for _, job in logs}) == 2, f"{key}: two attempts, each with its Slurm log:\n{out[-6000:]}"
        for path, job_id in logs:
            assert f"SLURM-job '{job_id}' failed" in out
            log = Path(path)
            assert log.is_file() and log.is_relative_to(runs.root), path
            assert "lr must be a positive number, got inf" in log.read_text(), log.read_text()[-3000:]
        shutil.copy(logs[-1][0], ARTIFACTS / f"failed_{key.replace('/', '_')}.slurm.log")
    assert out.count("Trying to restart job") == len(runs.failed_keys)  # retries: 1
    # keep-going: everything that does not need the failed jobs was made, nothing that needs them
    n_distill = sum(len(j) for j in runs.jobs.values())
    counts = job_counts(out)
    assert counts["distill"] == n_distill and counts["q_teacher"] == counts["noisy_teacher"] == 1, counts
    made = set(runs.after_failure)
    runs_made = {k.removeprefix("data/runs/").removesuffix(".npz") for k in made if k.startswith("data/runs/")}
    expected = {j.key for jobs in runs.jobs.values() for j in jobs} - set(runs.failed_keys)
    fig2 = {f"fig2/{m}" for m in yaml.safe_load(TINY.read_text())["figure2"]["methods"]}
    assert runs_made == expected | fig2, runs_made ^ (expected | fig2)
    assert {f"figures/{f}.png" for f in ("fig2", "fig3_left", "fig3_right", "fig5", "fig6", "fig9", "llm")} <= made
    assert "figures/table1.md" in made
    assert not any(k.startswith(("figures/fig4", "figures/claims", "data/results/fig4")) for k in made), made


def test_a_killed_run_keeps_its_lock_while_its_slurm_jobs_live_and_the_rerun_resumes(runs):
    assert runs.killed.returncode == -signal.SIGKILL
    assert len(runs.killed_jobs) == len(runs.failed_keys), text(runs.killed)[-3000:]
    assert runs.alive and runs.alive <= runs.killed_jobs, (runs.alive, runs.killed_jobs)  # found through squeue
    # on this one-node cluster the jobs' processes also work in the output root, so either check refuses
    refused = text(runs.refused)
    assert runs.refused.returncode == 2 and ("of a previous run are still queued or running" in refused
                                              or "are still working in" in refused), refused[-3000:]
    assert runs.after_kill == {**runs.after_kill, **runs.after_failure}  # nothing finished was made again
    out = text(runs.resumed)
    assert runs.resumed.returncode == 0, out[-6000:]
    assert "removing the stale Snakemake lock" in out
    counts = job_counts(out)
    assert counts.pop("distill") <= len(runs.failed_keys), counts
    assert counts == {"aggregate_fig4": 1, "plot_fig4": 1, "claims": 1, "all": 1}, out[-6000:]
    logs = submitted(out).values()  # only the distill jobs are Slurm jobs; the others are localrules
    assert all("/rule_distill/fig4_" in log for log in logs), logs
    now = mtimes(runs.root)
    assert {k: now[k] for k in runs.after_failure} == runs.after_failure


def test_slurm_outputs_equal_the_local_run_byte_for_byte(runs):
    assert runs.local.returncode == 0, (ARTIFACTS / "local.out").read_text()[-4000:]
    ours, theirs = hashes(runs.root), hashes(runs.local_root)
    (ARTIFACTS / "sha256.json").write_text(json.dumps({"slurm": ours, "local": theirs}, indent=1, sort_keys=True))
    assert len(ours) > 40 and ours.keys() == theirs.keys(), sorted(set(ours) ^ set(theirs))
    assert ours == theirs, [k for k in ours if ours[k] != theirs[k]]
    tables = sorted((runs.root / "data" / "results").glob("*.csv*"))
    assert {t.name for t in tables} == set(TABLES), tables
    for t in tables:
        read = gzip.decompress if t.suffix == ".gz" else (lambda b: b)
        assert read(t.read_bytes()) == read((runs.local_root / t.relative_to(runs.root)).read_bytes()), t.name
    claims = [json.loads((r / "figures" / "claims.json").read_text()) for r in (runs.root, runs.local_root)]
    assert claims[0] == claims[1]
    with open(ARTIFACTS / "equality.txt", "w") as f:
        f.write(f"{len(ours)} files under data/ and figures/ equal (sha256); {len(tables)} tables under "
                f"data/results equal:\n" + "".join(f"  {t.name} {ours[str(t.relative_to(runs.root))]}\n"
                                                     for t in tables))


def test_the_jobs_ran_on_slurm_with_the_requested_account_partition_and_resources(runs):
    jobs = {}
    for proc in (runs.failing, runs.killed, runs.resumed):
        jobs |= submitted(text(proc))
    rows = sacct_rows(set(jobs))
    listing = subprocess.run(["sacct", "-a", "-X", "-S", "now-3hours", "-o",
                              "JobID%6,Comment%52,Account%7,Partition%9,AllocCPUS%5,ReqMem%7,Timelimit%10,"
                              "State%10,ExitCode,Elapsed"], capture_output=True, text=True).stdout
    (ARTIFACTS / "sacct.txt").write_text(listing)
    assert {r["JobID"] for r in rows} == set(jobs), listing
    assert {r["Comment"].split("_wildcards")[0] for r in rows} == {f"rule_{r}" for r in CLUSTER_RULES}, listing
    n_first = 2 + 1 + sum(len(j) for j in runs.jobs.values()) + len(runs.failed_keys)  # teachers, study, retries
    assert len(rows) == n_first + len(runs.killed_jobs) + len(submitted(text(runs.resumed))), listing
    assert all(r["Account"] == ACCOUNT and r["Partition"] == PARTITION and r["AllocCPUS"] == "1" for r in rows)
    assert all(r["ReqMem"].endswith("M") and r["Timelimit"] not in ("", "UNLIMITED") for r in rows), listing
    failed = [r for r in rows if r["State"] != "COMPLETED"]
    assert sorted(r["Comment"] for r in failed) == sorted(
        f"rule_distill_wildcards_{k.replace('/', '_')}" for k in runs.failed_keys for _ in (1, 2)), listing
    assert all(r["State"] == "FAILED" for r in failed), listing
    for key in runs.failed_keys:  # the retry (attempt 2) asked for twice the memory and wall time
        first, second = sorted((r for r in failed if r["Comment"].endswith(key.replace("/", "_"))),
                               key=lambda r: int(r["JobID"]))
        assert int(second["ReqMem"][:-1]) == 2 * int(first["ReqMem"][:-1]), (first, second)
        assert minutes(second["Timelimit"]) == 2 * minutes(first["Timelimit"]), (first, second)


def minutes(limit: str) -> int:
    """sacct's [D-]HH:MM:SS -> minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, _ = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m
