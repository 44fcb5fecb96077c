import numpy as np

from policy_distillation.experiments import q_teacher
from policy_distillation.mdp import TabularMDPs
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
mdps = TabularMDPs.load(sm.input[0])
Q, stats = q_teacher(mdps, sm.params.teacher, sm.params.seed, int(sm.wildcards.shard))
np.savez_compressed(sm.output[0], Q=Q, **stats)
log.info("trained %d Q-learning teachers: %s", mdps.B, {k: float(np.mean(v)) for k, v in stats.items()})
