# One rule for every distillation run of Figures 3-6 and 9: a job (jobs.DistillJob) is data.
rule distill:
    input:
        unpack(job_inputs),
    output:
        "data/runs/{job}.npz",
    log:
        "logs/runs/{job}.log",
    benchmark:
        "benchmarks/runs/{job}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=distill_mem_mb,
        runtime=distill_runtime,
    params:
        job=job_params,
        code=CODE["distill"],
    script:
        "../scripts/distill.py"


rule counterexample:
    output:
        "data/runs/fig2/{method}.npz",
    log:
        "logs/runs/fig2/{method}.log",
    benchmark:
        "benchmarks/runs/fig2/{method}.tsv"
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        rewards=config["figure2"]["rewards"],
        steps=config["figure2"]["steps"],
        lr=config["figure2"]["lr"],
        start=config["figure2"]["start"],
        code=CODE["data"],
    script:
        "../scripts/counterexample.py"
