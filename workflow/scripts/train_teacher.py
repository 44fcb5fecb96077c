import numpy as np

from policy_distillation.experiments import q_teacher, shard_ids
from policy_distillation.files import save_npz
from policy_distillation.mdp import TabularMDPs
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
mdps = TabularMDPs.load(sm.input[0])
ids = shard_ids(int(sm.wildcards.shard), p.worlds["shard_size"], p.worlds["n_mdps"])
Q, stats = q_teacher(mdps, p.teacher, p.seed, ids)
save_npz(sm.output[0], {"Q": Q, **stats})
log.info("trained %d Q-learning teachers: %s", mdps.B, {k: float(np.mean(v)) for k, v in stats.items()})
