# The regime atlas (make atlas): claims 2-5 in every cell of world family x regime (atlas.py).
rule atlas_aggregate:
    input:
        atlas_part_runs,
    output:
        curves="data/results/atlas/{cell}/{part}_curves.csv",
        summary="data/results/atlas/{cell}/{part}_per_mdp.csv.gz",
    log:
        "logs/atlas/{cell}/{part}_aggregate.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate.py"


rule atlas_cell_claims:
    input:
        unpack(atlas_cell_tables),
    output:
        "data/results/atlas/{cell}/claims.json",
    log:
        "logs/atlas/{cell}/claims.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        code=CODE["atlas"],
    script:
        "../scripts/atlas_claims.py"


rule atlas_render:
    input:
        expand("data/results/atlas/{cell}/claims.json", cell=ATLAS_CELLS),
    output:
        md=report("figures/atlas.md", caption="../report/atlas.rst", category="Atlas"),
        csv="data/results/atlas.csv",
        pdf="figures/atlas.pdf",
        png=report("figures/atlas.png", caption="../report/atlas.rst", category="Atlas"),
    log:
        "logs/atlas/render.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        cells=ATLAS_CELLS,
        scale=ATLAS_SCALE,
        code=CODE["atlas"],
    script:
        "../scripts/atlas_render.py"


rule atlas:
    default_target: False
    input:
        "figures/atlas.md",
        "figures/atlas.png",
    localrule: True
