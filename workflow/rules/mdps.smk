# Grid worlds of one world set (atlas.world_sets: "main" for the figures, one per atlas world family), by shard.
rule grid_worlds:
    output:
        "data/mdps/{worlds}/grid_{shard}.npz",
    log:
        "logs/mdps/{worlds}/grid_{shard}.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        worlds=world_params,
        seed=config["seed"],
        code=CODE["data"],
    script:
        "../scripts/make_grid_worlds.py"
