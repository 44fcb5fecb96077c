"""Benchmark scripts, one module per subcommand of ``python -m policy_distillation.bench``.

Each module exposes ``main(argv: list[str]) -> None`` and prints one JSON line
per setting. BLAS threads are pinned to 1 before numpy is imported.
"""
