from policy_distillation.experiments import chain_run
from policy_distillation.results import save_run
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
p, w = sm.params, sm.wildcards
run = chain_run(int(w.T), w.teacher, w.method, p.lr, p.steps, p.eval_every, p.replicas, p.n_trajectories, p.seed,
                p.stop_prob, p.baseline_every)
run["labels"] = {"figure": "fig6", "T": int(w.T), "teacher": w.teacher, "method": w.method}
save_run(sm.output[0], run)
