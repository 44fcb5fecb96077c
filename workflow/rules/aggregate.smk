rule aggregate_fig3:
    input:
        fig3_runs,
    output:
        curves="data/results/fig3_curves.csv",
        summary="data/results/fig3_per_mdp.csv.gz",
        speedup="data/results/fig3_speedup.csv",
    log:
        "logs/aggregate/fig3.log",
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


rule aggregate_fig4:
    input:
        fig4_runs,
    output:
        curves="data/results/fig4_curves.csv",
        summary="data/results/fig4_per_mdp.csv.gz",
    log:
        "logs/aggregate/fig4.log",
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


rule aggregate_fig5:
    input:
        fig5_runs,
    output:
        curves="data/results/fig5_curves.csv",
        summary="data/results/fig5_per_mdp.csv.gz",
    log:
        "logs/aggregate/fig5.log",
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


rule aggregate_fig6:
    input:
        fig6_runs,
    output:
        curves="data/results/fig6_curves.csv",
        summary="data/results/fig6_per_mdp.csv.gz",
    log:
        "logs/aggregate/fig6.log",
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


rule aggregate_llm:
    input:
        llm_runs,
    output:
        curves="data/results/llm_curves.csv",
        summary="data/results/llm_per_mdp.csv.gz",
    log:
        "logs/aggregate/llm.log",
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


rule aggregate_fig2:
    input:
        fig2_runs,
    output:
        curves="data/results/fig2_trajectories.csv",
    log:
        "logs/aggregate/fig2.log",
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
        "../scripts/aggregate_counterexample.py"
