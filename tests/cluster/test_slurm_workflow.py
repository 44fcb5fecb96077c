"""The workflow on a Slurm cluster (``make test-cluster``): a one-shard copy of the tiny profile
(tests/workflow_tiny.yaml) run through the slurm execution profile (workflow/profiles/slurm) by the
launcher, as a user runs it, and compared with a local run of the same profile.

The runs (one module fixture; the local run goes on while the Slurm runs wait for Slurm):

- ``local``: the profile with the local executor, into its own output root;
- ``slurm_1_failing``: the whole workflow through Slurm (every job that is not a localrule is one
  Slurm job) into another output root, with one bad setting: the learning rate of
  ``entropy_regularised`` (a method only Figure 4 uses) set to infinity. The profile schema accepts
  it (``exclusiveMinimum: 0``); the optimiser refuses it when the job starts, so exactly that
  method's two distill jobs (|A| = 4 and 16) fail on the cluster, each retried once (the profile's
  ``retries: 1``), while ``keep-going`` finishes everything that does not need them. No code exists
  for the test: the failure is an ordinary bad value in a profile, and restoring it restores the
  jobs' params exactly;
- ``slurm_2_resumed``: the same command with the setting restored, which must run only the two
  failed jobs and their consumers.

They check: the Slurm outputs equal the local run's byte for byte (sha256 of every file under data/
and figures/; the tables, decompressed, and claims.json compared too); each failed job is reported
with its Slurm log, which exists and holds the error; the rerun submits only the failed jobs and
leaves every other output untouched; the jobs ran with the account, partition and resources the
workflow asked for, and the retry asked for twice the memory and time (sacct).

Why one shard (4 worlds; Figure 5 with the seven methods its claim reads; 33 cluster jobs instead of
the tiny profile's 52, every rule still runs): on this 2-core machine a Slurm job costs about 11 s
of CPU (Snakemake starts twice, in the batch step and in the job step) against about 3 s for the
same job run locally, and ``make test`` and this test must fit in 15 minutes together (README,
"Running on a Slurm cluster", has the measurements).

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
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "workflow_tiny.yaml"
ACCOUNT = os.environ.get("SLURM_DEV_ACCOUNT")
PARTITION = os.environ.get("SLURM_DEV_PARTITION")
ARTIFACTS = Path(os.environ.get("CLUSTER_TEST_ARTIFACTS", REPO / "results" / "test-cluster"))
BROKEN_METHOD = "entropy_regularised"  # used by Figure 4 only: one distill job per |A| (4 and 16)
FAILED_JOBS = [f"fig4/A{a}/{BROKEN_METHOD}/000" for a in (4, 16)]
# status checks: jobs of a few seconds need not wait the profile's 20 s after each completion
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
THREADS1 = {v: "1" for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}

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


def launcher(profile_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "policy_distillation.launch", "--profile", str(profile_path), *args]


def record(name: str, cmd: list[str], returncode: int, seconds: float, output: str) -> None:
    (ARTIFACTS / f"{name}.log").write_text(f"$ {' '.join(cmd)}\n# exit {returncode}, {seconds:.1f} s\n{output}")
    with open(ARTIFACTS / "timings.txt", "a") as f:
        f.write(f"{name:<24} {seconds:8.1f} s\n")


def slurm(name: str, profile_path: Path, targets=(), extra=()) -> subprocess.CompletedProcess:
    """The launcher with the slurm executor (what `make figures EXECUTOR=slurm ...` runs)."""
    cmd = launcher(profile_path, "--executor", "slurm", "--slurm-account", ACCOUNT, "--slurm-partition", PARTITION,
                   *targets, "--", *FAST_STATUS, *extra)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **THREADS1))
    record(name, cmd, proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr)
    return proc


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
    # the local run works while the Slurm runs mostly wait for status checks
    local_cmd = launcher(profile(top / "local.yaml", top / "local"))
    t0 = time.monotonic()
    with open(ARTIFACTS / "local.out", "w") as out:
        local = subprocess.Popen(local_cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                 env=dict(os.environ, **THREADS1))
        try:
            failing = slurm("slurm_1_failing", profile(top / "slurm_bad.yaml", root, lr=float("inf")))
            after_failure = mtimes(root)
            resumed = slurm("slurm_2_resumed", profile(top / "slurm.yaml", root))
            local.wait(timeout=900)
        finally:
            if local.poll() is None:
                local.kill()
                local.wait()
    record("local", local_cmd, local.returncode, time.monotonic() - t0, (ARTIFACTS / "local.out").read_text())
    return SimpleNamespace(root=root, local_root=top / "local", local=local, failing=failing,
                           after_failure=after_failure, resumed=resumed)


def text(proc) -> str:
    return proc.stdout + proc.stderr


def test_the_failing_run_reports_each_failed_job_with_its_slurm_log(runs):
    out = text(runs.failing)
    assert runs.failing.returncode != 0, out[-3000:]
    for key in FAILED_JOBS:
        # "log: <output root>/.snakemake/slurm_logs/rule_distill/<wildcards>/<jobid>.log (check log file(s) ...)"
        logs = re.findall(rf"log: (\S*/slurm_logs/rule_distill/{re.escape(key.replace('/', '_'))}/(\d+)\.log)", out)
        assert len({job for _, job in logs}) == 2, f"{key}: two attempts, each with its Slurm log:\n{out[-6000:]}"
        for path, job_id in logs:
            assert f"SLURM-job '{job_id}' failed" in out
            log = Path(path)
            assert log.is_file() and log.is_relative_to(runs.root), path
            assert "lr must be a positive number, got inf" in log.read_text(), log.read_text()[-3000:]
        shutil.copy(logs[-1][0], ARTIFACTS / f"failed_{key.replace('/', '_')}.slurm.log")
    assert out.count("Trying to restart job") == len(FAILED_JOBS)  # retries: 1
    # keep-going: everything that does not need the failed jobs was made, nothing that needs them
    counts = job_counts(out)
    assert counts["distill"] == 31 and counts["q_teacher"] == counts["noisy_teacher"] == 1, counts
    made = set(runs.after_failure)
    fig4_runs = {k for k in made if k.startswith("data/runs/fig4/")}
    assert len(fig4_runs) == 4 and not any(f"/{BROKEN_METHOD}/" in k for k in fig4_runs), fig4_runs
    assert {f"figures/{f}.png" for f in ("fig2", "fig3_left", "fig3_right", "fig5", "fig6", "fig9")} <= made
    assert not any(k.startswith(("figures/fig4", "figures/claims", "data/results/fig4")) for k in made), made


def test_the_rerun_resumes_running_only_the_failed_jobs_and_their_consumers(runs):
    out = text(runs.resumed)
    assert runs.resumed.returncode == 0, out[-6000:]
    assert job_counts(out) == {"distill": 2, "aggregate_fig4": 1, "plot_fig4": 1, "claims": 1, "all": 1}, out[-6000:]
    logs = submitted(out).values()  # only the distill jobs are Slurm jobs; the others are localrules
    assert len(logs) == 2 and all("/rule_distill/fig4_" in log for log in logs), logs
    now = mtimes(runs.root)
    assert {k: now[k] for k in runs.after_failure} == runs.after_failure  # nothing finished was made again


def test_slurm_outputs_equal_the_local_run_byte_for_byte(runs):
    assert runs.local.returncode == 0, (ARTIFACTS / "local.out").read_text()[-4000:]
    ours, theirs = hashes(runs.root), hashes(runs.local_root)
    (ARTIFACTS / "sha256.json").write_text(json.dumps({"slurm": ours, "local": theirs}, indent=1, sort_keys=True))
    assert len(ours) > 40 and ours.keys() == theirs.keys(), sorted(set(ours) ^ set(theirs))
    assert ours == theirs, [k for k in ours if ours[k] != theirs[k]]
    tables = sorted((runs.root / "data" / "results").glob("*.csv*"))
    assert len(tables) == 11, tables
    for t in tables:
        read = gzip.decompress if t.suffix == ".gz" else (lambda b: b)
        assert read(t.read_bytes()) == read((runs.local_root / t.relative_to(runs.root)).read_bytes()), t.name
    claims = [json.loads((r / "figures" / "claims.json").read_text()) for r in (runs.root, runs.local_root)]
    assert claims[0] == claims[1]


def test_the_jobs_ran_on_slurm_with_the_requested_account_partition_and_resources(runs):
    jobs = {}
    for proc in (runs.failing, runs.resumed):
        jobs |= submitted(text(proc))
    rows = sacct_rows(set(jobs))
    listing = subprocess.run(["sacct", "-a", "-X", "-S", "now-3hours", "-o",
                              "JobID%6,Comment%52,Account%7,Partition%9,AllocCPUS%5,ReqMem%7,Timelimit%10,"
                              "State%10,ExitCode,Elapsed"], capture_output=True, text=True).stdout
    (ARTIFACTS / "sacct.txt").write_text(listing)
    assert {r["JobID"] for r in rows} == set(jobs), listing
    kinds = {r["Comment"].split("_wildcards")[0] for r in rows}
    # cluster jobs: the teachers and the distillation runs; everything else is a localrule
    assert kinds == {"rule_q_teacher", "rule_noisy_teacher", "rule_distill"}, listing
    assert len(rows) == 1 + 1 + 31 + 2 + 2, listing  # teachers, distill, the two retries, the two resumed
    assert all(r["Account"] == ACCOUNT and r["Partition"] == PARTITION and r["AllocCPUS"] == "1" for r in rows)
    assert all(r["ReqMem"].endswith("M") and r["Timelimit"] not in ("", "UNLIMITED") for r in rows), listing
    failed = [r for r in rows if r["State"] != "COMPLETED"]
    assert sorted(r["Comment"] for r in failed) == sorted(
        f"rule_distill_wildcards_{k.replace('/', '_')}" for k in FAILED_JOBS for _ in (1, 2)), listing
    assert all(r["State"] == "FAILED" for r in failed), listing
    for key in FAILED_JOBS:  # the retry (attempt 2) asked for twice the memory and wall time
        first, second = sorted((r for r in failed if r["Comment"].endswith(key.replace("/", "_"))),
                               key=lambda r: int(r["JobID"]))
        assert int(second["ReqMem"][:-1]) == 2 * int(first["ReqMem"][:-1]), (first, second)
        assert minutes(second["Timelimit"]) == 2 * minutes(first["Timelimit"]), (first, second)


def minutes(limit: str) -> int:
    """sacct's [D-]HH:MM:SS -> minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, _ = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m
