from policy_distillation.experiments import grid_shard
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
mdps = grid_shard(p.grid, p.seed, int(sm.wildcards.shard), p.shard_size, p.n_mdps)
mdps.save(sm.output[0])
log.info("wrote %d grid worlds to %s", mdps.B, sm.output[0])
