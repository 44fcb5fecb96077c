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
    conda:
        "../../environment.yml"
    script:
        "../scripts/plot.py"
