import numpy as np
import pandas as pd

from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
frames = []
for path in sm.input:
    with np.load(path) as z:
        frames.append(pd.DataFrame({"method": str(z["method"]), "step": z["step"], "p": z["p"], "q": z["q"]}))
pd.concat(frames, ignore_index=True).to_csv(sm.output.curves, index=False)
log.info("wrote %d trajectories", len(frames))
