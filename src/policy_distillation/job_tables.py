"""The job table of a profile: every distillation run of the figures as a :class:`jobs.DistillJob`.

Built from the workflow config (a resolved, validated profile). Kept apart from
``jobs`` (the record and how one job runs): a job's result depends only on its
fields, which the workflow passes as params, so changing how the table is built
never reruns a job whose fields stay the same (``provenance``: the distill rule
hashes ``jobs`` and what it imports, not this module).
"""

from __future__ import annotations

from . import environments as envs
from .jobs import CHAIN_TEACHERS, DistillJob


def regime_fields(regime: dict, method: str) -> dict:
    """The job fields a regime (a profile's ``regimes.<name>``) decides for ``method``.

    Sampler ``exact`` is the exact expected update (estimator ``exact``); the
    critic applies only to the regime's ``critic_methods``.
    """
    exact = regime["sampler"] == "exact"
    critic = regime["critic"] if method in regime["critic_methods"] and not exact else {"kind": "none"}
    return {"estimator": "exact" if exact else "sampled", "sampler": "episode" if exact else regime["sampler"],
            "unroll_length": regime.get("unroll_length") if regime["sampler"] == "unroll" else None,
            "optimiser": regime["optimiser"], "critic": critic, "return_lambda": regime["return_lambda"]}


def fig4_job_size(file_size: int, n_actions: int, max_elements: int, n_states: int = 400) -> int:
    """Worlds per Figure 4 job: the largest divisor of the world files' size whose
    [B, S, A] arrays hold at most ``max_elements`` entries (at least one world)."""
    fits = max(1, max_elements // (n_states * n_actions))
    return max(d for d in range(1, file_size + 1) if file_size % d == 0 and d <= fits)


def _grid_shards(n_mdps: int, shard_size: int) -> list[int]:
    return list(range(-(-n_mdps // shard_size)))


def figure_jobs(config: dict) -> dict[str, list[DistillJob]]:
    """Every distillation job of Figures 3-6 (and 9) and of the ``llm`` figure for a validated, resolved
    workflow config (``profiles.resolve``: regimes' learning rates read).

    The ``llm`` figure is Figure 4's setting (its regime, teacher, world files and memory bound) for the
    methods of the config's ``llm`` section.
    """
    common = {"seed": config["seed"], "n_trajectories": config["n_trajectories"],
              "method_modules": tuple(config.get("method_modules", ()))}
    size, n_all = config["shard_size"], config["n_mdps"]

    def base(fig: str, method: str) -> dict:
        section = config[fig.replace("fig", "figure")]
        regime = config["regimes"][config["figure4"]["regime"] if fig == "llm" else section["regime"]]
        return {**common, **regime_fields(regime, method), "figure": fig, "method": method,
                "lr": regime["learning_rates"][method], "steps": section["steps"], "eval_every": section["eval_every"]}

    f3, f4, f5, f6 = (config[k] for k in ("figure3", "figure4", "figure5", "figure6"))
    grid = envs.GridConfig(**config["grid"])
    S = grid.rows * grid.cols
    n3 = min(f3["n_mdps"], n_all)

    def large_action(fig: str, section: dict) -> list[DistillJob]:
        """Figure 4's jobs: epsilon-greedy teacher over every action, world files split by the memory bound."""
        n = min(section["n_mdps"], n_all)
        return [DistillJob(**base(fig, m), teacher="epsilon_greedy", n_actions=int(a), shard=s,
                           shard_size=fig4_job_size(size, int(a), f4["max_job_elements"], S), file_shard_size=size,
                           n_mdps=n, epsilon=config["teacher"]["epsilon"])
                for a in section["actions"] for m in section["methods"]
                for s in _grid_shards(n, fig4_job_size(size, int(a), f4["max_job_elements"], S))]

    jobs = {
        "fig3": [DistillJob(**base("fig3", m), teacher="softmax", temperature=float(tau), shard=s, shard_size=size,
                            n_mdps=n3)
                 for tau in f3["temperatures"] for m in f3["controls"] for s in _grid_shards(n3, size)],
        "fig4": large_action("fig4", f4),
        "fig5": [DistillJob(**base("fig5", m), teacher="noisy", shard=s, shard_size=size, n_mdps=n_all,
                            student_critic_every=config["student_critic_every"],
                            flip=f"{f5['flip_action']}-{f5['flip_states']}")
                 for m in f5["methods"] for s in _grid_shards(n_all, size)],
        "fig6": [DistillJob(**base("fig6", m), world="chain", teacher=t, chain_T=int(T), replicas=f6["replicas"],
                            stop_prob=f6["stop_prob"])
                 for T in sorted({f6["T"], *f6["appendix_T"]}) for t in CHAIN_TEACHERS for m in f6["methods"]],
        "llm": large_action("llm", config["llm"]),
    }
    return jobs
