"""The regime atlas: cells and jobs from the profile, per-cell claims, the markdown and the picture."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from policy_distillation import atlas, claims, profiles
from policy_distillation.plotting_atlas import plot_atlas

TINY = profiles.REPO / "tests" / "workflow_tiny.yaml"


@pytest.fixture
def config():
    return profiles.resolve(yaml.safe_load(TINY.read_text()))


def test_cells_cover_every_family_and_regime(config):
    cells = atlas.cells(config)
    a = config["atlas"]
    assert len(cells) == len(a["eta"]) * len(a["terminal_mode"]) * len(a["regimes"])
    assert len({c.name for c in cells}) == len(cells)
    assert {c.regime for c in cells} == set(a["regimes"])


def test_a_family_equal_to_the_figures_reuses_their_worlds(config):
    config["atlas"]["terminal_mode"] = ["end", "reset"]
    sets = atlas.world_sets(config)
    by_mode = {c.terminal_mode: c.worlds for c in atlas.cells(config)}
    assert by_mode["end"] == atlas.MAIN  # tiny's grid: eta 0.5, end terminals, 4 worlds per shard
    assert by_mode["reset"] == "eta0.5-reset" and sets["eta0.5-reset"]["grid"]["terminal_mode"] == "reset"
    assert sets["eta0.5-reset"]["shard_size"] == sets["eta0.5-reset"]["n_mdps"] == 4
    small = copy.deepcopy(config)
    small["shard_size"] = 2  # the figures' first shard is too small for the atlas: its own world set
    assert {c.worlds for c in atlas.cells(small)} == {"eta0.5-end", "eta0.5-reset"}


def test_jobs_are_the_figures_jobs_in_each_cell(config):
    jobs = atlas.atlas_jobs(config)
    a = config["atlas"]
    per_cell = (len(a["temperatures"]) * len(config["figure3"]["controls"])
                + len(a["actions"]) * len(config["figure4"]["methods"])
                + len(a["flip_rules"]) * len(a["fig5_methods"]))
    assert len(jobs) == per_cell * len(atlas.cells(config))
    assert len({j.key for j in jobs}) == len(jobs)
    assert all(j.key.startswith(f"atlas/{j.atlas_cell}/") for j in jobs)
    exact = [j for j in jobs if j.atlas_cell.endswith("tiny_exact")]
    assert exact and all(j.estimator == "exact" and j.n_mdps == a["exact_n_mdps"] for j in exact)
    assert all(j.optimiser == (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("kind", "adam")) for j in exact)
    noisy = [j for j in jobs if j.teacher == "noisy"]
    assert {j.figure for j in noisy} == {"fig5-reverse-visits"} and {j.flip for j in noisy} == {"reverse-visits"}
    assert atlas.parts(config) == ["fig3", "fig4", "fig5-reverse-visits"]


def test_unknown_flip_for_a_non_noisy_teacher_is_refused(config):
    job = atlas.atlas_jobs(config)[0]
    with pytest.raises(ValueError, match="flip rule"):
        type(job)(**{**job.__dict__, "flip": "random-uniform"})


def _fig5(final: dict) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "mdp": b, "teacher_return": 7.0, "final_return": v}
                         for m, v in final.items() for b in range(4)])


GOOD5 = {"teacher_distill": 3.0, "on_policy_distill": 3.5, "on_policy_distill_r": 6.5, "value_gated": 5.0,
         "value_gated_r": 7.0, "td_v_pi": 5.0, "td_v_0": 1.0}


def test_cell_claims_checks_claim5_once_per_flip_rule_and_keeps_the_rest_unchecked():
    tables = {"fig5-random-uniform_per_mdp": _fig5(GOOD5),
              "fig5-reverse-visits_per_mdp": _fig5(dict(GOOD5, value_gated_r=5.0))}
    out = atlas.cell_claims(tables)
    assert [c.id for c in out] == [2, 3, 4, 5, 5]
    assert [c.holds for c in out] == [None, None, None, True, False]
    assert out[3].figure == "Fig. 5 (flip random-uniform)" and out[4].figure == "Fig. 5 (flip reverse-visits)"
    assert "value_gated_r 1.00" in atlas.key_numbers(out[3])


def test_key_numbers_name_what_decides_each_claim():
    c2 = claims.Claim(2, "Fig. 3", "", "", measured={"teacher/student steps ratio (geo. mean)": "2.5",
                                                       "uniform/student steps ratio (geo. mean)": "> 9.1"})
    assert atlas.key_numbers(c2) == "t/s 2.5, u/s > 9.1"
    c4 = claims.Claim(4, "Fig. 4", "", "", measured={"entropy regularised slowdown (steps |A|=16 / |A|=4)": "> 6",
                                                       "expected entropy reg. / traditional steps [|A|=4]": "1",
                                                       "expected entropy reg. / traditional steps [|A|=16]": "1.5"})
    assert atlas.key_numbers(c4) == "slowdown > 6, exp/trad 1.5"


def _table(config) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    results = {}
    for cell in atlas.cells(config):
        results[cell.name] = [{"id": i, "figure": f, "holds": [True, False, None][rng.integers(3)],
                               "numbers": "t/s 2.1, u/s > 5", "justification": "why"}
                              for i, f in ((2, "Fig. 3"), (3, "Fig. 3"), (4, "Fig. 4"), (5, "Fig. 5 (flip x)"))]
    return atlas.atlas_table(results, config)


def test_atlas_markdown_has_a_table_per_claim_with_every_cell(config):
    table = _table(config)
    md = atlas.render_atlas(table, "profile tiny atlas")
    assert md.startswith("# Regime atlas") and "profile tiny atlas" in md
    for cid in (2, 3, 4, 5):
        assert f"## Claim {cid}" in md
    rows = [line for line in md.splitlines() if line.startswith("| eta ")]
    assert len(rows) == 4 * len(config["atlas"]["terminal_mode"])  # four claims x the world families
    assert all(line.count(" | ") == len(config["atlas"]["regimes"]) for line in rows)
    assert set(table.columns) >= {"cell", "eta", "terminal_mode", "regime", "sampler", "optimiser", "claim", "holds"}


def test_atlas_picture_has_a_panel_per_claim(config):
    fig = plot_atlas(_table(config), note="tiny")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["Claim 2 (Fig. 3)", "Claim 3 (Fig. 3)", "Claim 4 (Fig. 4)",
                                                 "Claim 5 (Fig. 5 (flip x))"]
    assert len(titled[0].patches) == len(atlas.cells(config))


def test_empty_atlas_is_an_error():
    with pytest.raises(ValueError, match="no results"):
        atlas.render_atlas(pd.DataFrame(), "")
