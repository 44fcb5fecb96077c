rule grid_worlds:
    output:
        "data/mdps/grid_{shard}.npz",
    log:
        "logs/mdps/grid_{shard}.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        grid=grid_params,
        seed=config["seed"],
        shard_size=config["shard_size"],
        n_mdps=config["n_mdps"],
        code=CODE["data"],
    script:
        "../scripts/make_grid_worlds.py"
