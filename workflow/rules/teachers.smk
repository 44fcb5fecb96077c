rule q_teacher:
    input:
        "data/mdps/grid_{shard}.npz",
    output:
        "data/teachers/q_{shard}.npz",
    log:
        "logs/teachers/q_{shard}.log",
    benchmark:
        "benchmarks/teachers/q_{shard}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=teacher_mem_mb,
        runtime=q_teacher_runtime,
    params:
        teacher=teacher_params,
        seed=config["seed"],
        shard_size=config["shard_size"],
        n_mdps=config["n_mdps"],
        code=CODE["data"],
    script:
        "../scripts/train_teacher.py"


rule noisy_teacher:
    input:
        mdps="data/mdps/grid_{shard}.npz",
        q="data/teachers/q_{shard}.npz",
    output:
        "data/teachers/noisy_{shard}.npz",
    log:
        "logs/teachers/noisy_{shard}.log",
    benchmark:
        "benchmarks/teachers/noisy_{shard}.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=teacher_mem_mb,
        runtime=noisy_teacher_runtime,
    params:
        noise=config["figure5"]["noise"],
        flip_action=config["figure5"]["flip_action"],
        flip_states=config["figure5"]["flip_states"],
        critic=config["figure5"]["critic"],
        mc_trajectories=config["figure5"]["mc_trajectories"],
        seed=config["seed"],
        shard_size=config["shard_size"],
        n_mdps=config["n_mdps"],
        code=CODE["data"],
    script:
        "../scripts/noisy_teacher.py"
