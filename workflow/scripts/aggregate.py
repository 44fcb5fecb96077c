from policy_distillation.files import write_table
from policy_distillation.results import curves_table, load_run, per_mdp_table, speedup_table
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
runs = [load_run(f) for f in sm.input]
write_table(curves_table(runs), sm.output.curves)
per_mdp = per_mdp_table(runs)
write_table(per_mdp, sm.output.summary)
if "speedup" in sm.output.keys():
    write_table(speedup_table(per_mdp), sm.output.speedup)
log.info("aggregated %d run files", len(runs))
