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
ids = shard_ids(int(sm.wildcards.shard), p.worlds["shard_size"], p.worlds["n_mdps"])
flip_action, flip_states = sm.wildcards.flip.split("-")
out = noisy_teacher(mdps, Q, p.noise, p.critic, p.mc_trajectories, p.seed, ids, flip_action, flip_states)
save_npz(sm.output[0], out)
log.info("noisy teachers: %s", {k: float(np.mean(v)) for k, v in out.items() if np.ndim(v) == 1})
