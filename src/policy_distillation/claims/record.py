"""A checked claim, as the report prints it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Claim:
    """One checked claim.

    Attributes:
      id: claim number in SPEC section 5.
      figure: where the paper shows it.
      statement: the claim in words.
      paper: the paper's numbers, as text.
      measured: our numbers (str -> float or str), flat.
      criterion: the shape the numbers must have, with its constants.
      sentence: the paper's sentence the criterion encodes (quoted).
      holds: the verdict.
      justification: one line saying why it holds or fails.
    """

    id: int
    figure: str
    statement: str
    paper: str
    measured: dict = field(default_factory=dict)
    criterion: str = ""
    sentence: str = ""
    holds: bool | None = False  # None: the results at hand cannot decide it (see justification)
    justification: str = ""


def fmt(x) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"
