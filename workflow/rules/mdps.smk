# Grid worlds of one world set (atlas.world_sets: "main" for the figures, one per atlas world family), by shard.
rule grid_worlds:
    output:
        "data/mdps/{worlds}/grid_{shard}.npz",
    log:
        "logs/mdps/{worlds}/grid_{shard}.log",
    conda:
        "../../environment.yml"
    params:
        worlds=world_params,
        seed=config["seed"],
        code=CODE["data"],
    script:
        "../scripts/make_grid_worlds.py"
