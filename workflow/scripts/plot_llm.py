import pandas as pd

from policy_distillation.files import save_figure
from policy_distillation.plotting_llm import figure_llm
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
fig = figure_llm(pd.read_csv(sm.input[0]), note=sm.params.scale)
save_figure(fig, pdf=sm.output.pdf, png=sm.output.png)
log.info("wrote %s and %s", sm.output.pdf, sm.output.png)
