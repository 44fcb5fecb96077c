import pandas as pd

from policy_distillation.files import save_figure
from policy_distillation.plotting import render
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
fig = render(p.figure, pd.read_csv(sm.input[0]), main_T=p.main_T, note=p.scale)
save_figure(fig, pdf=sm.output.pdf, png=sm.output.png)
log.info("wrote %s and %s", sm.output.pdf, sm.output.png)
