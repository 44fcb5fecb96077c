import json

from policy_distillation import atlas
from policy_distillation.files import save_figure, write_table
from policy_distillation.plotting_atlas import plot_atlas
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
results = {}
for cell, path in zip(sm.params.cells, sm.input):
    with open(path) as f:
        results[cell] = json.load(f)["claims"]
table = atlas.atlas_table(results, sm.config)
write_table(table, sm.output.csv)
with open(sm.output.md, "w") as f:
    f.write(atlas.render_atlas(table, sm.params.scale))
save_figure(plot_atlas(table, note=sm.params.scale), pdf=sm.output.pdf, png=sm.output.png)
n_hold = int((table["holds"] == True).sum())  # noqa: E712
log.info("atlas: %d cells, %d claim checks, %d hold", table["cell"].nunique(), len(table), n_hold)
