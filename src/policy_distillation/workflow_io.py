"""Edges for the workflow scripts: logging to the rule's log file.

Kept out of the numerical core (which never does I/O).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(log_path: str | Path | None) -> logging.Logger:
    """Send the package's log lines (progress, rates, ETA) to ``log_path`` and stderr."""
    root = logging.getLogger("policy_distillation")
    root.setLevel(logging.INFO)
    root.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    return root


def benchmark_table(root: str | Path = "benchmarks"):
    """Every Snakemake ``benchmark:`` file under ``root`` as one tidy table.

    Columns: stage (e.g. ``runs/fig3``, ``teachers``), job (the rest of the path),
    wall_s, cpu_s. Repeated measurements of one job are averaged.
    """
    import pandas as pd

    root = Path(root)
    rows = []
    for f in sorted(root.rglob("*.tsv")):
        t = pd.read_csv(f, sep="\t")
        if t.empty or "s" not in t.columns:
            raise ValueError(f"{f}: not a Snakemake benchmark file (no 's' column)")
        rel = f.relative_to(root).with_suffix("")
        parts = rel.parts
        n = 2 if parts[0] == "runs" and len(parts) > 2 else 1  # runs/<figure>/... or <stage>/...
        stage, job = "/".join(parts[:n]), "/".join(parts[n:]) or parts[-1]
        rows.append({"stage": stage, "job": job, "wall_s": float(t["s"].mean()),
                     "cpu_s": float(t["cpu_time"].mean()) if "cpu_time" in t.columns else float("nan")})
    return pd.DataFrame(rows, columns=["stage", "job", "wall_s", "cpu_s"])


def stage_summary(table) -> str:
    """Markdown table per stage: jobs, summed wall and CPU minutes, the longest job."""
    if table.empty:
        return "no benchmark files found\n"
    lines = ["| stage | jobs | wall (sum of jobs) | CPU | longest job |", "|---|---|---|---|---|"]
    for stage, g in table.groupby("stage", sort=True):
        top = g.loc[g["wall_s"].idxmax()]
        lines.append(f"| {stage} | {len(g)} | {g['wall_s'].sum() / 60:.1f} min | {g['cpu_s'].sum() / 60:.1f} min | "
                     f"{top['job']} ({top['wall_s'] / 60:.1f} min) |")
    total = table[["wall_s", "cpu_s"]].sum() / 60
    lines.append(f"| all | {len(table)} | {total['wall_s']:.1f} min | {total['cpu_s']:.1f} min | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m policy_distillation.workflow_io [benchmarks_dir]
    print(stage_summary(benchmark_table(sys.argv[1] if len(sys.argv) > 1 else "benchmarks")), end="")
