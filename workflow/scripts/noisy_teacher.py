import numpy as np

from policy_distillation.experiments import noisy_teacher, shard_ids
from policy_distillation.files import save_npz
from policy_distillation.mdp import TabularMDPs
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
mdps = TabularMDPs.load(sm.input.mdps)
with np.load(sm.input.q) as z:
    Q = z["Q"]
ids = shard_ids(int(sm.wildcards.shard), p.shard_size, p.n_mdps)
out = noisy_teacher(mdps, Q, p.noise, p.critic, p.mc_trajectories, p.seed, ids, p.flip_action, p.flip_states)
save_npz(sm.output[0], out)
log.info("noisy teachers: %s", {k: float(np.mean(v)) for k, v in out.items() if np.ndim(v) == 1})
