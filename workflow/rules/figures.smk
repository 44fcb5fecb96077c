FIGURE_TABLES = {
    "fig2": "fig2_trajectories",
    "fig3_left": "fig3_curves",
    "fig3_right": "fig3_speedup",
    "fig4": "fig4_curves",
    "fig5": "fig5_curves",
    "fig6": "fig6_curves",
    "fig9": "fig6_curves",
}


def figure_table(wildcards):
    return f"data/results/{FIGURE_TABLES[wildcards.fig]}.csv"


rule figure:
    input:
        figure_table,
    output:
        pdf="figures/{fig}.pdf",
        png=report("figures/{fig}.png", caption="../report/{fig}.rst", category="Figures"),
    params:
        main_T=config["figure6"]["T"],
        n_mdps=config["n_mdps"],
        fig4_mdps=config["figure4"]["n_mdps"],
    log:
        "logs/figures/{fig}.log",
    script:
        "../scripts/plot.py"
