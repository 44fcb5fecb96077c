import numpy as np

from policy_distillation.experiments import figure3_run
from policy_distillation.mdp import TabularMDPs
from policy_distillation.results import save_run
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
p, w = sm.params, sm.wildcards
mdps = TabularMDPs.load(sm.input.mdps)
with np.load(sm.input.q) as z:
    Q = z["Q"]
run = figure3_run(mdps, Q, float(w.tau), w.method, p.lr, p.steps, p.eval_every, p.n_trajectories, p.seed, int(w.shard),
                  p.shard_size, p.baseline_every)
run["labels"] = {"figure": "fig3", "tau": w.tau, "method": w.method}
save_run(sm.output[0], run)
