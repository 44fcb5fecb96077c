import numpy as np
import pandas as pd

from policy_distillation.files import write_table
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
frames = []
for path in sm.input:
    with np.load(path) as z:
        frames.append(pd.DataFrame({"method": str(z["method"]), "step": z["step"], "p": z["p"], "q": z["q"]}))
write_table(pd.concat(frames, ignore_index=True), sm.output.curves)
log.info("wrote %d trajectories", len(frames))
