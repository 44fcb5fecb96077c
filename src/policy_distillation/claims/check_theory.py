"""Claims 7-8: Table 1's "is grad?" column and Section 3.3's two cross-entropy directions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..methods import PAPER
from ..mode_seeking import mode_seeking_check
from .criteria import (
    MODE_MASS_MIN,
    MODE_SEEKING_LR,
    MODE_SEEKING_STEPS,
    MODE_SEEKING_TEACHER,
    REPLICATE_MAX_ERROR,
)
from .record import Claim
from .tables import need_columns


# ---------------------------------------------------------------- claim 7 (Table 1)
def claim7_gradient_fields(rows: pd.DataFrame) -> Claim:
    """Table 1 "is grad?": the computed verdicts agree with the paper's rows.

    Args:
      rows: the Table 1 rule's rows (``table1.table1_rows`` as a table: method,
        computed, asymmetry, threshold, paper_source, paper).
    """
    what = "Table 1 rows"
    df = pd.DataFrame(rows)
    need_columns(df, ["method", "computed", "asymmetry", "paper", "paper_source"], what)
    paper_rows = df[df["paper_source"] == PAPER]
    if paper_rows.empty:
        raise ValueError(f"{what}: no row of the paper's Table 1")
    measured, wrong = {}, []
    for _, r in paper_rows.iterrows():
        measured[str(r["method"])] = f"{r['computed']} (asymmetry {float(r['asymmetry']):.1e})"
        if (r["computed"] == "yes") != bool(r["paper"]):
            wrong.append(str(r["method"]))
    thr = float(df["threshold"].iloc[0]) if "threshold" in df else float("nan")
    verdicts = ", ".join(f"{m}: {'yes' if p else 'no'}" for m, p in zip(paper_rows["method"], paper_rows["paper"]))
    return Claim(
        id=7,
        figure="Table 1",
        statement=(
            "Teacher distill, entropy regularised, n-distill, expected entropy regularised and teacher V reward are "
            "gradient fields of the stated loss; on-policy distill is not."
        ),
        paper=verdicts,
        sentence=(
            'Table 1, column "is grad?"; "on-policy 1-step distillation updates do not form gradient fields"'
            ' (Sec. 3)'
        ),
        measured=measured,
        criterion=(
            f"computed verdict (relative Jacobian asymmetry of the exact update < {thr:g} on every random MDP) "
            f"equals the paper's for all {len(paper_rows)} rows of Table 1"
        ),
        holds=not wrong,
        justification=f"all {len(paper_rows)} verdicts agree" if not wrong else f"disagree: {wrong}",
    )


def claim8_cross_entropy_direction(teacher=MODE_SEEKING_TEACHER, steps: int = MODE_SEEKING_STEPS,
                                   lr: float = MODE_SEEKING_LR) -> Claim:
    """Sec. 3.3: H^x(pi_theta || pi) puts all mass on the teacher's mode; H^x(pi || pi_theta) replicates pi.

    Gradient descent from the uniform student with the registry's own per-step
    losses (``mode_seeking.mode_seeking_check``).
    """
    check = mode_seeking_check(np.asarray(teacher, dtype=np.float64), lr=lr, steps=steps)
    teacher = np.asarray(teacher, dtype=np.float64)
    mode = float(check["student_teacher"][int(np.argmax(teacher))])
    err = float(np.abs(check["teacher_student"] - teacher).max())
    holds = mode >= MODE_MASS_MIN and err <= REPLICATE_MAX_ERROR
    return Claim(
        id=8,
        figure="Sec. 3.3",
        statement=(
            "Minimising H^x(pi_theta || pi) puts all mass on the teacher's most probable action; H^x(pi || pi_theta) "
            "replicates pi."
        ),
        paper="mode seeking vs replication (proof in the appendix)",
        sentence=(
            '"if one uses H^x(pi_theta||pi) then one tries to find a deterministic policy, which puts all '
            'probability mass on the most probable action of pi"; "If one uses H^x(pi||pi_theta) then one '
            'tries to replicate pi" (Sec. 3.3)'
        ),
        measured={"teacher": str(np.round(teacher, 3).tolist()),
                  "H^x(pi_theta||pi) minimiser: mass on mode": mode,
                  "H^x(pi||pi_theta) minimiser: max abs(pi_theta - pi)": err},
        criterion=f"mass on the mode >= {MODE_MASS_MIN}; replication error <= {REPLICATE_MAX_ERROR:g}",
        holds=bool(holds),
        justification=f"mode mass {mode:.4f}, replication error {err:.1e}",
    )
