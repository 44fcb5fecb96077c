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
