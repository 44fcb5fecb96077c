# Regenerates every figure of "Distilling Policy Distillation".
#
# A profile (workflow/config/<name>.yaml) holds the science settings and is
# complete: `--config profile=<name>` picks one (default: paper), or give a
# file with `--configfile`. Every output goes under the profile's output_root,
# so one profile never overwrites another's results. Targets: `all` (default),
# one per figure (fig2, fig3_left, fig3_right, fig4, fig5, fig6, fig9, llm), claims,
# table1, atlas (the regime atlas) and stage_times (job times per stage; these two
# are not part of all).


include: "workflow/rules/common.smk"


workdir: OUTPUT_ROOT


report: "workflow/report/workflow.rst"


include: "workflow/rules/mdps.smk"
include: "workflow/rules/teachers.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/atlas.smk"


rule all:
    default_target: True
    input:
        all_targets(),
