rule distill_fig3:
    input:
        mdps="data/mdps/grid_{shard}.npz",
        q="data/teachers/q_{shard}.npz",
    output:
        "data/runs/fig3/tau{tau}/{method}/{shard}.npz",
    params:
        lr=lr,
        steps=config["figure3"]["steps"],
        eval_every=config["figure3"]["eval_every"],
        n_trajectories=config["n_trajectories"],
        baseline_every=baseline_every,
        seed=config["seed"],
        shard_size=config["shard_size"],
    log:
        "logs/runs/fig3/tau{tau}/{method}/{shard}.log",
    benchmark:
        "benchmarks/runs/fig3/tau{tau}/{method}/{shard}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/distill_fig3.py"


rule distill_fig4:
    input:
        mdps="data/mdps/grid_{shard}.npz",
        q="data/teachers/q_{shard}.npz",
    output:
        "data/runs/fig4/A{A}/{method}/{shard}.npz",
    params:
        lr=lr,
        steps=config["figure4"]["steps"],
        eval_every=config["figure4"]["eval_every"],
        n_mdps=config["figure4"]["n_mdps"],
        shard_size=config["shard_size"],
        epsilon=config["teacher"]["epsilon"],
        discount=config["teacher"]["discount"],
        n_trajectories=config["n_trajectories"],
        baseline_every=baseline_every,
        seed=config["seed"],
    log:
        "logs/runs/fig4/A{A}/{method}/{shard}.log",
    benchmark:
        "benchmarks/runs/fig4/A{A}/{method}/{shard}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/distill_fig4.py"


rule distill_fig5:
    input:
        mdps="data/mdps/grid_{shard}.npz",
        teacher="data/teachers/noisy_{shard}.npz",
    output:
        "data/runs/fig5/{method}/{shard}.npz",
    params:
        lr=lr,
        steps=config["figure5"]["steps"],
        eval_every=config["figure5"]["eval_every"],
        n_trajectories=config["n_trajectories"],
        baseline_every=baseline_every,
        critic_every=config["student_critic_every"],
        seed=config["seed"],
        shard_size=config["shard_size"],
    log:
        "logs/runs/fig5/{method}/{shard}.log",
    benchmark:
        "benchmarks/runs/fig5/{method}/{shard}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/distill_fig5.py"


rule distill_chain:
    output:
        "data/runs/fig6/T{T}/{teacher}/{method}.npz",
    params:
        lr=lr,
        steps=config["figure6"]["steps"],
        eval_every=config["figure6"]["eval_every"],
        replicas=config["figure6"]["replicas"],
        stop_prob=config["figure6"]["stop_prob"],
        n_trajectories=config["n_trajectories"],
        baseline_every=baseline_every,
        seed=config["seed"],
    log:
        "logs/runs/fig6/T{T}/{teacher}/{method}.log",
    benchmark:
        "benchmarks/runs/fig6/T{T}/{teacher}/{method}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/distill_chain.py"


rule counterexample:
    output:
        "data/runs/fig2/{method}.npz",
    params:
        rewards=config["figure2"]["rewards"],
        steps=config["figure2"]["steps"],
        lr=config["figure2"]["lr"],
        start=config["figure2"]["start"],
    log:
        "logs/runs/fig2/{method}.log",
    benchmark:
        "benchmarks/runs/fig2/{method}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/counterexample.py"
