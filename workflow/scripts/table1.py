import numpy as np

from policy_distillation.table1 import render_table1, table1_rows
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
rows = table1_rows(np.random.default_rng(sm.params.seed))
with open(sm.output[0], "w") as f:
    f.write(render_table1(rows))
disagree = [r["method"] for r in rows if r["agrees"] is False]
log.info("Table 1: %d methods, disagreements with the paper: %s", len(rows), disagree or "none")
