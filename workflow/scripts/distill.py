import numpy as np

from policy_distillation.jobs import DistillJob, run_distill
from policy_distillation.mdp import TabularMDPs
from policy_distillation.results import save_run
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
job = DistillJob.from_params(sm.params.job)
mdps = q = noisy = None
if job.world == "grid":
    mdps = TabularMDPs.load(sm.input.mdps)
    with np.load(sm.input.teacher) as z:
        if job.teacher == "noisy":
            noisy = {k: z[k] for k in z.files}
        else:
            q = z["Q"]
log.info("job %s: %s", job.key, job.params())
save_run(sm.output[0], run_distill(job, mdps, q, noisy))
