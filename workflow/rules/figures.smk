# One rule per figure (each with its own report caption), and a target rule per
# figure: `snakemake fig4` (or `make figures TARGET=fig4`) builds just that figure.
for _fig, _table in FIGURE_TABLES.items():

    rule:
        name:
            f"plot_{_fig}"
        input:
            f"data/results/{_table}.csv",
        output:
            pdf=f"figures/{_fig}.pdf",
            png=report(f"figures/{_fig}.png", caption=f"../report/{_fig}.rst", category="Figures"),
        log:
            f"logs/figures/{_fig}.log",
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=LOCAL_MEM_MB,
            runtime=LOCAL_RUNTIME,
        params:
            figure=_fig,
            main_T=config["figure6"]["T"],
            scale=SCALE,
            code=CODE["figure"],
        script:
            "../scripts/plot.py"

    rule:
        name:
            _fig
        default_target: False
        input:
            f"figures/{_fig}.pdf",
            f"figures/{_fig}.png",
        localrule: True


# The language-model estimators in Figure 4's setting (plotting_llm; `snakemake llm`).
rule plot_llm:
    input:
        "data/results/llm_curves.csv",
    output:
        pdf="figures/llm.pdf",
        png=report("figures/llm.png", caption="../report/llm.rst", category="Figures"),
    log:
        "logs/figures/llm.log",
    localrule: True
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=LOCAL_MEM_MB,
        runtime=LOCAL_RUNTIME,
    params:
        scale=LLM_SCALE,
        code=CODE["llm_figure"],
    script:
        "../scripts/plot_llm.py"


rule llm:
    default_target: False
    input:
        "figures/llm.pdf",
        "figures/llm.png",
    localrule: True
