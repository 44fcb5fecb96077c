import json

import numpy as np
import pandas as pd

from policy_distillation import claims
from policy_distillation.table1 import table1_rows
from policy_distillation.workflow_io import setup_logging

# Claim 7 recomputes Table 1 (a few seconds) with the config seed, as the
# table1 rule does, so both reports show the same measurement.
sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
i = sm.input
seed = sm.params.seed
results = claims.evaluate([
    (1, "Fig 2", lambda: claims.claim1_counterexample(pd.read_csv(i.fig2))),
    (2, "Fig 3", lambda: claims.claim2_student_driven_speed(pd.read_csv(i.fig3), pd.read_csv(i.fig3_per_mdp))),
    (3, "Fig 3", lambda: claims.claim3_kl_under_trajectories(pd.read_csv(i.fig3_per_mdp))),
    (4, "Fig 4", lambda: claims.claim4_large_action_spaces(pd.read_csv(i.fig4_per_mdp), pd.read_csv(i.fig4))),
    (5, "Fig 5", lambda: claims.claim5_noisy_teacher(pd.read_csv(i.fig5_per_mdp))),
    (6, "Fig 6", lambda: claims.claim6_chain(pd.read_csv(i.fig6), int(sm.params.main_T))),
    (7, "Table 1", lambda: claims.claim7_gradient_fields(table1_rows(np.random.default_rng(seed)))),
    (8, "Sec 3.3", lambda: claims.claim8_cross_entropy_direction(claims.mode_seeking_check())),
])
with open(sm.output.md, "w") as f:
    f.write(claims.render_markdown(results))
with open(sm.output.json, "w") as f:
    json.dump(claims.to_json(results), f, indent=2, allow_nan=False)
for c in results:
    log.info("claim %d (%s): %s - %s", c.id, c.figure, {True: "holds", False: "FAILS", None: "not checked"}[c.holds],
             c.justification)
