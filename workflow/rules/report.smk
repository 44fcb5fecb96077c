rule claims:
    input:
        fig2="data/results/fig2_trajectories.csv",
        fig3="data/results/fig3_curves.csv",
        fig3_per_mdp="data/results/fig3_per_mdp.csv.gz",
        fig4="data/results/fig4_curves.csv",
        fig4_per_mdp="data/results/fig4_per_mdp.csv.gz",
        fig5="data/results/fig5_curves.csv",
        fig5_per_mdp="data/results/fig5_per_mdp.csv.gz",
        fig6="data/results/fig6_curves.csv",
        table1="data/results/table1.csv",
    output:
        md=report("figures/claims.md", caption="../report/claims.rst", category="Claims"),
        json="figures/claims.json",
    log:
        "logs/report/claims.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        main_T=config["figure6"]["T"],
        scale=SCALE,
        code=CODE["claims"],
    script:
        "../scripts/claims.py"


# Table 1, second part: the language-model entries against their sequence-level objectives (estimator_study).
rule llm_study:
    output:
        "data/results/llm_study.csv",
    log:
        "logs/report/llm_study.log",
    benchmark:
        "benchmarks/report/llm_study.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=llm_study_mem_mb,
        runtime=llm_study_runtime,
    params:
        study=llm_study_params,
        seed=config["seed"],
        code=CODE["llm_study"],
    script:
        "../scripts/llm_study.py"


rule table1:
    input:
        llm_study="data/results/llm_study.csv",
    output:
        md=report("figures/table1.md", caption="../report/table1.rst", category="Claims"),
        csv="data/results/table1.csv",
    log:
        "logs/report/table1.log",
    benchmark:
        "benchmarks/report/table1.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        seed=config["seed"],
        scale=SCALE,
        llm_scale=LLM_SCALE,
        code=CODE["table1"],
    script:
        "../scripts/table1.py"


# Per-stage job times of this profile's last run, from the benchmark files (not byte-identical: times vary).
rule stage_times_md:
    input:
        all_targets(),
    output:
        f"figures/{config['profile']}_profile_times.md",
    log:
        "logs/report/stage_times.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        scale=SCALE,
    script:
        "../scripts/stage_times.py"


rule stage_times:
    default_target: False
    input:
        f"figures/{config['profile']}_profile_times.md",
    localrule: True
