import numpy as np
import pandas as pd

from policy_distillation.estimator_study import estimator_study
from policy_distillation.files import write_table
from policy_distillation.streams import seed_sequence
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params.study
rng = np.random.default_rng(seed_sequence(sm.params.seed, "llm", "study"))
rows = estimator_study(rng, methods=p["methods"], actions=tuple(p["actions"]), n_worlds=p["n_worlds"],
                       dense_mdps=p["dense_mdps"], dense_states=p["dense_states"],
                       dense_actions=tuple(p["dense_actions"]), copies=p["copies"])
write_table(pd.DataFrame(rows), sm.output[0])
log.info("estimator study: %d rows (%d methods)", len(rows), len(p["methods"]))
