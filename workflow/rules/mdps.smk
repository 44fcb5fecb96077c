rule grid_worlds:
    output:
        "data/mdps/grid_{shard}.npz",
    params:
        grid=grid_params,
        seed=config["seed"],
        shard_size=config["shard_size"],
        n_mdps=config["n_mdps"],
    log:
        "logs/mdps/grid_{shard}.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/make_grid_worlds.py"
