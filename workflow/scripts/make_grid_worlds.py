from policy_distillation.experiments import grid_worlds, shard_ids
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
ids = shard_ids(int(sm.wildcards.shard), p.worlds["shard_size"], p.worlds["n_mdps"])
mdps = grid_worlds(p.worlds["grid"], p.seed, ids)
mdps.save(sm.output[0])
log.info("wrote grid worlds %d-%d to %s", ids[0], ids[-1], sm.output[0])
