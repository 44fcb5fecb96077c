import os

# Regenerates every figure of "Distilling Policy Distillation".
# Profiles: workflow/config/paper.yaml (default) and workflow/config/quick.yaml
# (`make figures PROFILE=quick`).


# The paper profile unless a profile is given with --configfile (profiles are
# complete: they are not merged over paper.yaml, so a missing key is an error).
if not config:

    configfile: os.path.join(workflow.basedir, "workflow", "config", "paper.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/mdps.smk"
include: "workflow/rules/teachers.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
