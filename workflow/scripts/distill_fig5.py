import numpy as np

from policy_distillation.experiments import figure5_run
from policy_distillation.mdp import TabularMDPs
from policy_distillation.results import save_run
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
p, w = sm.params, sm.wildcards
mdps = TabularMDPs.load(sm.input.mdps)
with np.load(sm.input.teacher) as z:
    teacher = {k: z[k] for k in z.files}
run = figure5_run(mdps, teacher, w.method, p.lr, p.steps, p.eval_every, p.n_trajectories, p.critic_every,
                  p.seed, int(w.shard), p.shard_size, p.baseline_every)
run["labels"] = {"figure": "fig5", "method": w.method}
save_run(sm.output[0], run)
