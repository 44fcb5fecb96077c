from policy_distillation.results import curves_table, load_run, per_mdp_table, speedup_table
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
runs = [load_run(f) for f in sm.input]
curves_table(runs).to_csv(sm.output.curves, index=False)
per_mdp = per_mdp_table(runs)
per_mdp.to_csv(sm.output.summary, index=False)
if "speedup" in sm.output.keys():
    speedup_table(per_mdp).to_csv(sm.output.speedup, index=False)
log.info("aggregated %d run files", len(runs))
