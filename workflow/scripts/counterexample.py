from policy_distillation.experiments import counterexample_run
from policy_distillation.files import save_npz
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
p = sm.params
traj = counterexample_run(sm.wildcards.method, p.rewards, p.steps, p.lr, p.start)
save_npz(sm.output[0], traj)
log.info("counterexample %s: final p=%.4f q=%.4f", sm.wildcards.method, traj["p"][-1], traj["q"][-1])
