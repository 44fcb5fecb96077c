"""Claim criteria on synthetic tables whose verdict is known both ways.

Tables are built in the workflow's formats: Figure 3 and 4 from per-run arrays
through ``results.curves_table`` / ``results.per_mdp_table`` and a CSV round
trip (labels come back as numbers, as in the real files); Figures 2, 5 and 6
directly as tidy frames.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from policy_distillation import claims
from policy_distillation.results import curves_table, per_mdp_table

STEPS = np.arange(0, 30001, 1000)
B = 12  # MDPs


def _csv(df: pd.DataFrame) -> pd.DataFrame:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    buf.seek(0)
    return pd.read_csv(buf)


def _run(rng, labels, return_tc, kl_scale, kl_tc=2000.0, entropy=None, teacher=1.0):
    """A run whose mean return approaches the teacher's with time constant ``return_tc``
    and whose KL under z in {teacher, student, uniform} decays from ``kl_scale[z]``."""
    t = STEPS[:, None].astype(float)
    R = teacher * rng.uniform(0.9, 1.1, size=B)
    noise = rng.uniform(0.95, 1.05, size=(1, B))
    run = {
        "labels": labels,
        "steps": STEPS,
        "returns": R[None] * (1.0 - np.exp(-t / (return_tc * noise))),
        "teacher_return": R,
        "mdp": np.arange(B),
    }
    for z in ("teacher", "student", "uniform"):
        run[f"kl_{z}"] = kl_scale[z] * np.exp(-t / kl_tc) * noise + 0.01
    if entropy is not None:
        run["teacher_entropy"] = np.full(B, entropy)
    return run


TAUS = (0.1, 0.3, 1.0, 3.0)


def _fig3(return_tc: dict, gap_grows_with_entropy: bool = False):
    """Figure 3 tables. Student-driven KL wins under student/uniform trajectories by a
    factor 1 + 1/tau (shrinking with entropy) unless ``gap_grows_with_entropy``."""
    rng = np.random.default_rng(3)
    runs = []
    for tau in TAUS:
        gap = 1.0 + (tau if gap_grows_with_entropy else 1.0 / tau)
        kl = {
            "teacher_distill": {"teacher": 0.5, "student": gap, "uniform": 2.0 * gap},
            "on_policy_distill": {"teacher": 1.0, "student": 1.0, "uniform": 2.0},
            "uniform_distill": {"teacher": 1.5, "student": 1.5, "uniform": 1.0},
        }
        for m, tc in return_tc.items():
            labels = {"figure": "fig3", "tau": str(tau), "method": m}
            runs.append(_run(rng, labels, tc, kl[m], entropy=np.log(1.0 + tau)))
    return _csv(curves_table(runs)), _csv(per_mdp_table(runs))


FAST = {"teacher_distill": 3000.0, "on_policy_distill": 1000.0, "uniform_distill": 10000.0}


# ------------------------------------------------------------------ claim 1
def _fig2(on_policy_damping: float, n_distill_amplitude: float) -> pd.DataFrame:
    step = np.arange(0, 5000, 5)
    osc = 0.5 + 0.3 * np.exp(-step * on_policy_damping) * np.sin(step / 40.0)
    conv = 0.8 - 0.3 * np.exp(-step / 100.0) + n_distill_amplitude * np.sin(step / 40.0)
    return pd.DataFrame({
        "method": ["on_policy_distill_r"] * step.size + ["n_distill_r"] * step.size,
        "step": np.concatenate([step, step]),
        "p": np.concatenate([osc, conv]),
        "q": np.concatenate([1.0 - osc, conv]),
    })


def test_claim1_holds_for_persistent_oscillation_and_convergence():
    assert claims.claim1_counterexample(_fig2(0.0, 0.0)).holds


@pytest.mark.parametrize("damping, amplitude", [(1e-3, 0.0), (0.0, 0.01)])
def test_claim1_fails_for_damped_oscillation_or_moving_n_distill(damping, amplitude):
    assert not claims.claim1_counterexample(_fig2(damping, amplitude)).holds


def test_claim1_names_missing_method():
    df = _fig2(0.0, 0.0)
    with pytest.raises(ValueError, match="n_distill_r"):
        claims.claim1_counterexample(df[df["method"] != "n_distill_r"])


# ------------------------------------------------------------------ claim 2
def test_claim2_holds_when_student_driven_is_3x_and_10x_faster():
    curves, per_mdp = _fig3(FAST)
    c = claims.claim2_student_driven_speed(curves, per_mdp)
    assert c.holds, c.justification
    steps = float(c.measured["teacher/student steps ratio (geo. mean)"])
    assert 2.5 < steps < 3.5
    ratio = c.measured["teacher/student area ratio (geo. mean)"]
    assert 2.5 < ratio < 3.5
    lo, hi = (float(x) for x in c.measured["teacher/student area 95% CI"].strip("[]").split(","))
    assert lo <= ratio <= hi


@pytest.mark.parametrize(
    "tc",
    [
        {"teacher_distill": 1200.0, "on_policy_distill": 1000.0, "uniform_distill": 10000.0},  # teacher ratio < 2
        {"teacher_distill": 1800.0, "on_policy_distill": 1000.0, "uniform_distill": 10000.0},  # teacher ratio 1.8
        {"teacher_distill": 3000.0, "on_policy_distill": 1000.0, "uniform_distill": 4000.0},  # uniform ratio 4 < 5
        {"teacher_distill": 3000.0, "on_policy_distill": 1000.0, "uniform_distill": 2000.0},  # uniform not slowest
        {"teacher_distill": 800.0, "on_policy_distill": 1000.0, "uniform_distill": 10000.0},  # teacher fastest
    ],
)
def test_claim2_fails(tc):
    assert not claims.claim2_student_driven_speed(*_fig3(tc)).holds


def test_claim2_reports_never_reaching_as_beyond_last_step():
    tc = dict(FAST, uniform_distill=1e7)
    c = claims.claim2_student_driven_speed(*_fig3(tc))
    assert c.measured["steps to 95% [tau=0.1, uniform_distill]"] == "> 30000"
    assert c.measured["uniform/student steps ratio (geo. mean)"].startswith("> ")  # a lower bound
    assert c.holds, c.justification


def test_claim2_fails_when_the_student_never_reaches():
    tc = {"teacher_distill": 1e7, "on_policy_distill": 1e7, "uniform_distill": 1e8}
    assert not claims.claim2_student_driven_speed(*_fig3(tc)).holds


def test_claim2_names_missing_method():
    curves, per_mdp = _fig3(FAST)
    with pytest.raises(ValueError, match="uniform_distill"):
        claims.claim2_student_driven_speed(curves[curves["method"] != "uniform_distill"], per_mdp)


def test_claim2_bootstrap_is_seeded():
    tables = _fig3(FAST)
    a = claims.claim2_student_driven_speed(*tables, rng=np.random.default_rng(1))
    b = claims.claim2_student_driven_speed(*tables, rng=np.random.default_rng(1))
    assert a.measured == b.measured


# ------------------------------------------------------------------ claim 3
def test_claim3_holds_when_gap_shrinks_with_entropy():
    c = claims.claim3_kl_under_trajectories(_fig3(FAST)[1])
    assert c.holds, c.justification
    assert c.measured["rank corr(teacher entropy, kl_student ratio)"] == pytest.approx(-1.0)


def test_claim3_fails_when_gap_grows_with_entropy():
    c = claims.claim3_kl_under_trajectories(_fig3(FAST, gap_grows_with_entropy=True)[1])
    assert not c.holds


def test_claim3_fails_when_teacher_driven_wins_under_student_trajectories():
    per_mdp = _fig3(FAST)[1]
    swap = per_mdp["method"].map({"teacher_distill": "on_policy_distill", "on_policy_distill": "teacher_distill"})
    per_mdp = per_mdp.assign(method=swap.fillna(per_mdp["method"]))
    assert not claims.claim3_kl_under_trajectories(per_mdp).holds


def test_claim3_names_missing_column():
    with pytest.raises(ValueError, match="teacher_entropy"):
        claims.claim3_kl_under_trajectories(_fig3(FAST)[1].drop(columns="teacher_entropy"))


# ------------------------------------------------------------------ claim 4
def _fig4(entropy_tc_at_4096: float, expected_tc_at_4096: float, traditional_tc_at_4096: float = 1000.0):
    rng = np.random.default_rng(4)
    kl = {"teacher": 1.0, "student": 1.0, "uniform": 1.0}
    runs = []
    for A in (4, 64, 4096):
        big = A == 4096
        tcs = {
            "entropy_regularised": entropy_tc_at_4096 if big else 1000.0,
            "expected_entropy_regularised": expected_tc_at_4096 if big else 1000.0,
            "on_policy_distill": traditional_tc_at_4096 if big else 1000.0,
        }
        for m, tc in tcs.items():
            runs.append(_run(rng, {"figure": "fig4", "actions": A, "method": m}, tc, kl))
    return _csv(per_mdp_table(runs)), _csv(curves_table(runs))


def test_claim4_holds_when_only_entropy_regularised_collapses():
    c = claims.claim4_large_action_spaces(*_fig4(10000.0, 1100.0))
    assert c.holds, c.justification
    assert c.measured["steps to 95% [|A|=4096, entropy_regularised]"] == "> 30000"


def test_claim4_holds_for_a_measured_slowdown_of_six():
    c = claims.claim4_large_action_spaces(*_fig4(6000.0, 1000.0))
    assert c.holds, c.justification
    assert 5.0 <= float(c.measured["entropy regularised slowdown (steps |A|=4096 / |A|=4)"]) <= 7.0


@pytest.mark.parametrize(
    "entropy_tc, expected_tc",
    [(1500.0, 1000.0), (4000.0, 1000.0), (10000.0, 3000.0)],  # slowdown 1.5, slowdown 4 < 5, expected 3x slower
)
def test_claim4_fails(entropy_tc, expected_tc):
    assert not claims.claim4_large_action_spaces(*_fig4(entropy_tc, expected_tc)).holds


def test_claim4_fails_when_traditional_distillation_stops_working():
    per_mdp, curves = _fig4(10000.0, 1e7, traditional_tc_at_4096=1e7)
    c = claims.claim4_large_action_spaces(per_mdp, curves)
    assert not c.holds and "traditional reaches" in c.justification


# ------------------------------------------------------------------ claim 5
PAPER_FIG5 = {"teacher_distill": 3.0, "on_policy_distill": 3.5, "on_policy_distill_r": 6.5, "value_gated": 5.0,
              "value_gated_r": 7.0, "td_v_pi": 5.0, "td_v_0": 1.0, "teacher_v_reward": 6.0, "reward_only": 2.0}


def _fig5(**final) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    means = dict(PAPER_FIG5, **final)
    rows = [
        {"figure": "fig5", "method": m, "mdp": b, "teacher_return": 7.0, "final_return": mu + 0.1 * rng.normal()}
        for m, mu in means.items() for b in range(B)
    ]
    return pd.DataFrame(rows)


def test_claim5_holds_with_the_papers_numbers():
    c = claims.claim5_noisy_teacher(_fig5())
    assert c.holds, c.justification
    assert "value-gated (value_gated_r) recovers the teacher" in c.measured


@pytest.mark.parametrize(
    "final",
    [{"teacher_distill": 6.8}, {"on_policy_distill_r": 3.0}, {"value_gated_r": 5.0},
     {"td_v_pi": 2.0}, {"td_v_0": 5.5}],
)
def test_claim5_fails_when_one_ordering_breaks(final):
    assert not claims.claim5_noisy_teacher(_fig5(**final)).holds


def test_claim5_names_missing_method():
    df = _fig5()
    with pytest.raises(ValueError, match="td_v_0"):
        claims.claim5_noisy_teacher(df[df["method"] != "td_v_0"])


# ------------------------------------------------------------------ claim 6
def _fig6(optimal_tc: dict, adversarial_final: dict, T: int = 5) -> pd.DataFrame:
    step = np.arange(0, 3001, 10).astype(float)
    frames = []
    for teacher, spec in (("optimal", optimal_tc), ("adversarial", adversarial_final)):
        for m, v in spec.items():
            # optimal: approach 1 with time constant v; adversarial: approach v
            curve = 1.0 - np.exp(-step / v) if teacher == "optimal" else v * (1.0 - np.exp(-step / 100.0))
            for TT in (T, T + 5):  # an appendix T that must be filtered out
                frames.append(pd.DataFrame({"figure": "fig6", "T": TT, "teacher": teacher, "method": m,
                                            "step": step, "metric": "return", "mean": curve, "se": 0.0, "n": 1}))
    return _csv(pd.concat(frames, ignore_index=True))


OPT = {"teacher_distill": 20.0, "on_policy_distill": 30.0, "expected_entropy_regularised": 25.0,
       "teacher_v_reward": 200.0, "td_v_pi": 100.0, "reward_only": 600.0}
ADV = {"teacher_distill": -1.0, "on_policy_distill": -1.0, "expected_entropy_regularised": -0.9,
       "teacher_v_reward": 1.0, "td_v_pi": -1.0}


def test_claim6_holds_with_the_papers_shape():
    c = claims.claim6_chain(_fig6(OPT, ADV), main_T=5)
    assert c.holds, c.justification


@pytest.mark.parametrize(
    "opt, adv",
    [
        (dict(OPT, teacher_v_reward=10.0), ADV),  # teacher V reward faster than cloning
        (dict(OPT, reward_only=100.0), ADV),  # no teacher beats teacher V reward
        (dict(OPT, reward_only=1e9), dict(ADV, on_policy_distill=0.5)),  # a cloning method survives
        (OPT, dict(ADV, teacher_v_reward=0.5)),  # teacher V reward does not learn
        (OPT, dict(ADV, td_v_pi=1.0)),  # TD + V_pi solves the task
    ],
)
def test_claim6_fails(opt, adv):
    assert not claims.claim6_chain(_fig6(opt, adv), main_T=5).holds


def test_claim6_names_missing_T():
    with pytest.raises(ValueError, match="T"):
        claims.claim6_chain(_fig6(OPT, ADV), main_T=7)


# ------------------------------------------------------------------ claims 7, 8
def _table1(**computed) -> pd.DataFrame:
    """Table 1 rows as the table1 rule writes them (the paper's six rows and one not in the paper)."""
    paper = {"teacher_distill": True, "on_policy_distill": False, "entropy_regularised": True, "n_distill": True,
             "expected_entropy_regularised": True, "teacher_v_reward": True}
    rows = []
    for m, p in paper.items():
        v = computed.get(m, "yes" if p else "no")
        rows.append({"method": m, "computed": v, "asymmetry": 1e-9 if v == "yes" else 0.3, "threshold": 1e-5,
                     "paper": p, "paper_source": "Table 1"})
    rows.append({"method": "td_v_0", "computed": "no", "asymmetry": 0.3, "threshold": 1e-5, "paper": None,
                 "paper_source": "not in Table 1"})
    return pd.DataFrame(rows)


def test_claim7_both_ways():
    assert claims.claim7_gradient_fields(_table1()).holds
    assert not claims.claim7_gradient_fields(_table1(on_policy_distill="yes")).holds
    assert not claims.claim7_gradient_fields(_table1(n_distill="no")).holds
    with pytest.raises(ValueError, match="paper_source"):
        claims.claim7_gradient_fields(_table1().drop(columns="paper_source"))
    with pytest.raises(ValueError, match="no row of the paper"):
        claims.claim7_gradient_fields(_table1().assign(paper_source="not in Table 1"))


def test_claim7_reads_the_table1_rule_output_format():
    """The rows table1_rows produces (and the rule writes as CSV) are what claim 7 reads."""
    from policy_distillation.table1 import table1_rows

    rows = pd.DataFrame(table1_rows(np.random.default_rng(0), n_mdps=4,
                                    method_names=["teacher_distill", "on_policy_distill"]))
    c = claims.claim7_gradient_fields(rows)
    assert c.holds and c.criterion.endswith("for all 2 rows of Table 1")


def test_claim8_both_ways():
    assert claims.claim8_cross_entropy_direction().holds
    # too few steps: the reverse direction has not collapsed onto the mode yet
    assert not claims.claim8_cross_entropy_direction(steps=20).holds


def test_unchecked_claims_are_null_in_json():
    cs = claims.evaluate(claims.CLAIMS, {"fig2": _fig2(0.0, 0.0)}, main_T=5)
    js = claims.to_json(cs)
    holds = {c["id"]: c["holds"] for c in js["claims"]}
    assert holds[1] is True and holds[8] is True
    assert all(holds[i] is None for i in (2, 3, 4, 5, 6, 7)) and js["all_hold"] is False
    assert "missing tables" in js["claims"][1]["justification"]
    assert "could not be checked" in claims.render_markdown(cs)


# ------------------------------------------------------------------ output
def test_render_markdown_and_json():
    cs = [claims.claim1_counterexample(_fig2(0.0, 0.0)), claims.claim5_noisy_teacher(_fig5(value_gated_r=5.0)),
          claims.claim4_large_action_spaces(*_fig4(10000.0, 1100.0))]
    md = claims.render_markdown(cs)
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert table[0] == "| claim | paper | ours | criterion | holds |"
    assert len(table) == 1 + len(cs)
    assert all(line.count(" | ") == 4 for line in table)  # pipes inside cells are escaped
    assert "2 of 3 claims hold" in md
    js = to = claims.to_json(cs)
    json.dumps(js, allow_nan=False)
    assert [c["id"] for c in to["claims"]] == [1, 4, 5]
    assert to["all_hold"] is False
    assert all(c["sentence"].startswith('"') for c in to["claims"])  # the paper's words, quoted
    assert "The paper's sentences the criteria encode" in md and cs[0].sentence in md
