"""The paper's quantitative claims (SPEC section 5), checked on our result tables.

One pure function per claim takes the tidy tables of ``results`` (as the
workflow writes them) and returns a :class:`Claim` with the paper's numbers,
ours, the criterion and the verdict; :data:`CLAIMS` lists them with the tables
each reads. Modules: ``criteria`` (the a priori thresholds), ``tables`` (table
access), ``stats``, the checks (``check_fig2_fig3``, ``check_fig4_fig6``,
``check_theory``) and ``render`` (JSON and markdown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .check_fig2_fig3 import claim1_counterexample, claim2_student_driven_speed, claim3_kl_under_trajectories
from .check_fig4_fig6 import claim4_large_action_spaces, claim5_noisy_teacher, claim6_chain
from .check_theory import claim7_gradient_fields, claim8_cross_entropy_direction
from .record import Claim
from .render import evaluate, render_markdown, to_json


@dataclass(frozen=True)
class ClaimSpec:
    """One claim: its number, where the paper shows it, the check, the tables it reads
    (in argument order) and the workflow params it takes."""

    id: int
    figure: str
    check: Callable[..., Claim]
    inputs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()


CLAIMS = (
    ClaimSpec(1, "Fig 2", claim1_counterexample, ("fig2",)),
    ClaimSpec(2, "Fig 3", claim2_student_driven_speed, ("fig3", "fig3_per_mdp")),
    ClaimSpec(3, "Fig 3", claim3_kl_under_trajectories, ("fig3_per_mdp",)),
    ClaimSpec(4, "Fig 4", claim4_large_action_spaces, ("fig4_per_mdp", "fig4")),
    ClaimSpec(5, "Fig 5", claim5_noisy_teacher, ("fig5_per_mdp",)),
    ClaimSpec(6, "Fig 6", claim6_chain, ("fig6",), ("main_T",)),
    ClaimSpec(7, "Table 1", claim7_gradient_fields, ("table1",)),
    ClaimSpec(8, "Sec 3.3", claim8_cross_entropy_direction),
)

__all__ = ["CLAIMS", "Claim", "ClaimSpec", "evaluate", "render_markdown", "to_json", "claim1_counterexample",
           "claim2_student_driven_speed", "claim3_kl_under_trajectories", "claim4_large_action_spaces",
           "claim5_noisy_teacher", "claim6_chain", "claim7_gradient_fields", "claim8_cross_entropy_direction"]
