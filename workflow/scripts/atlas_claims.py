import json

import pandas as pd

from policy_distillation import atlas, claims
from policy_distillation.workflow_io import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
tables = {name: pd.read_csv(path) for name, path in sm.input.items()}
results = atlas.cell_claims(tables)
out = claims.to_json(results)
for c, row in zip(sorted(results, key=lambda c: c.id), out["claims"]):  # to_json's order
    row["numbers"] = atlas.key_numbers(c)
with open(sm.output[0], "w") as f:
    json.dump({"cell": sm.wildcards.cell, **out}, f, indent=2, allow_nan=False)
for c in results:
    log.info("claim %d (%s): %s - %s", c.id, c.figure, c.holds, c.justification)
