"""``python -m policy_distillation.bench {exact,teachers,distill} [options]``.

Pins BLAS threads to 1 before numpy loads, so ratios measured side by side in
one run compare like with like.
"""

from __future__ import annotations

import importlib
import os
import sys

SUBCOMMANDS = ("exact", "teachers", "distill")


def main(argv: list[str] | None = None) -> None:
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = "1"
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SUBCOMMANDS:
        raise SystemExit(f"usage: python -m policy_distillation.bench {{{','.join(SUBCOMMANDS)}}} [options]")
    module = importlib.import_module(f"policy_distillation.benchmarks.{argv[0]}")
    module.main(argv[1:])


if __name__ == "__main__":
    main()
