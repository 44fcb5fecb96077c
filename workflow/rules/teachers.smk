rule q_teacher:
    input:
        "data/mdps/{worlds}/grid_{shard}.npz",
    output:
        "data/teachers/{worlds}/q_{shard}.npz",
    log:
        "logs/teachers/{worlds}/q_{shard}.log",
    benchmark:
        "benchmarks/teachers/{worlds}/q_{shard}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=teacher_mem_mb,
        runtime=q_teacher_runtime,
    params:
        teacher=teacher_params,
        worlds=world_params,
        seed=config["seed"],
        code=CODE["data"],
    script:
        "../scripts/train_teacher.py"


# The noisy teacher of Figure 5 under one flip rule ("<action>-<states>").
rule noisy_teacher:
    input:
        mdps="data/mdps/{worlds}/grid_{shard}.npz",
        q="data/teachers/{worlds}/q_{shard}.npz",
    output:
        "data/teachers/{worlds}/noisy-{flip}_{shard}.npz",
    log:
        "logs/teachers/{worlds}/noisy-{flip}_{shard}.log",
    benchmark:
        "benchmarks/teachers/{worlds}/noisy-{flip}_{shard}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=teacher_mem_mb,
        runtime=noisy_teacher_runtime,
    params:
        noise=config["figure5"]["noise"],
        critic=config["figure5"]["critic"],
        mc_trajectories=config["figure5"]["mc_trajectories"],
        worlds=world_params,
        seed=config["seed"],
        code=CODE["data"],
    script:
        "../scripts/noisy_teacher.py"
