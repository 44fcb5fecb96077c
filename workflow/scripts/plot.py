import pandas as pd

from policy_distillation.plotting import render
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
fig = render(sm.wildcards.fig, pd.read_csv(sm.input[0]), main_T=sm.params.main_T)
fig.savefig(sm.output.pdf, bbox_inches="tight")
fig.savefig(sm.output.png, dpi=150, bbox_inches="tight")
log.info("wrote %s and %s", sm.output.pdf, sm.output.png)
