import numpy as np

from policy_distillation.experiments import noisy_teacher
from policy_distillation.mdp import TabularMDPs
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
mdps = TabularMDPs.load(sm.input.mdps)
with np.load(sm.input.q) as z:
    Q = z["Q"]
out = noisy_teacher(mdps, Q, p.noise, p.critic, p.mc_trajectories, p.seed, int(sm.wildcards.shard))
np.savez_compressed(sm.output[0], **out)
log.info("noisy teachers: %s", {k: float(np.mean(v)) for k, v in out.items() if np.ndim(v) == 1})
