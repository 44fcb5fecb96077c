"""Conformance of every registered method (Table 1 and Section 4).

One test, parametrised over ``sorted(REGISTRY)``: a new registry entry is
covered without touching this file.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from policy_distillation import evaluation
from policy_distillation.exact import expected_update
from policy_distillation.mdp import from_dense
from policy_distillation.controls import TEACHER, UNIFORM, Control, mixture
from policy_distillation.methods import REGISTRY, DistillContext, Method, get_method
from policy_distillation.policies import safe_log, softmax

B, S, A = 2, 3, 4  # all different, so a broadcast along the wrong axis fails
LR = 0.5


def _problem():
    rng = np.random.default_rng(1234)
    P = rng.dirichlet(np.ones(S), size=(B, S, A)) * rng.uniform(0.5, 0.8, size=(B, S, A, 1))
    R = rng.normal(size=(B, S, A))
    mdps = from_dense(P, R, rng.dirichlet(np.ones(S), size=B))
    teacher = rng.dirichlet(np.ones(A), size=(B, S))
    teacher[0, 0, 0] = 0.0  # an exact zero, as greedy teachers have
    teacher /= teacher.sum(-1, keepdims=True)
    return mdps, teacher, rng.normal(size=(B, S, A))


def _context(method: Method, mdps, teacher, logits) -> DistillContext:
    tv = evaluation.state_values(mdps, teacher) if "teacher_value" in method.needs else None
    sv = evaluation.state_values(mdps, softmax(logits)) if "student_value" in method.needs else None
    return DistillContext(mdps, teacher, logits, teacher_value=tv, student_value=sv)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_method_conformance(name):
    mdps, teacher, logits = _problem()
    method = get_method(name)
    assert method.name == name

    # Descriptive fields, as Table 1 prints them.
    assert isinstance(method.label, str) and method.label.strip()
    assert isinstance(method.control, Control)
    assert isinstance(method.loss_text, str) and method.loss_text.strip()
    assert isinstance(method.reward_text, str) and method.reward_text.strip()
    assert method.needs <= {"teacher_value", "student_value"}
    if method.state_loss is None:
        assert method.loss_text == "0"
    if not method.has_score_term:
        assert method.reward_text == "0"

    # Missing critics are refused, not silently replaced.
    for need in method.needs:
        kw = {"teacher_value": None, "student_value": None}
        for other in method.needs - {need}:
            kw[other] = np.zeros((B, S))
        with pytest.raises(ValueError, match=need):
            expected_update(method, DistillContext(mdps, teacher, logits, **kw))

    ctx = _context(method, mdps, teacher, logits)
    G = expected_update(method, ctx)
    assert G.shape == (B, S, A)
    assert np.isfinite(G).all()
    np.testing.assert_array_equal(G, expected_update(method, _context(method, mdps, teacher, logits)))
    # a precomputed teacher log (training loops reuse one) gives the same update, bit for bit
    reused = DistillContext(mdps, teacher, logits, ctx.teacher_value, ctx.student_value, safe_log(teacher))
    np.testing.assert_array_equal(G, expected_update(method, reused))
    # Softmax logits: shifting theta[s, :] changes nothing, so updates sum to 0 over actions.
    np.testing.assert_allclose(G.sum(axis=-1), 0.0, atol=1e-10)

    # One SGD step keeps a valid softmax policy and a valid context.
    stepped = logits - LR * G
    pi = softmax(stepped)
    assert np.isfinite(pi).all() and np.all(pi > 0)
    np.testing.assert_allclose(pi.sum(axis=-1), 1.0, atol=1e-12)
    _context(method, mdps, teacher, stepped)

    # A pseudo-reward (score term) is only unbiased under the student's own trajectories.
    if method.has_score_term:
        for control in (TEACHER, UNIFORM, mixture(0.5)):
            with pytest.raises(ValueError, match="student"):
                replace(method, control=control)
            with pytest.raises(ValueError, match="student"):
                get_method(name, control=control)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="nope"):
        get_method("nope")


def test_bad_control_and_beta_are_refused():
    with pytest.raises(ValueError, match="control"):
        get_method("teacher_distill", control="random")
    with pytest.raises(ValueError, match="beta"):
        mixture(1.5)
    with pytest.raises(ValueError, match="sum to 1"):
        Control(teacher=0.5, student=0.6)


def test_precomputed_teacher_log_is_checked():
    mdps, teacher, logits = _problem()
    for bad in (safe_log(teacher)[:, :2], safe_log(teacher).astype(np.float32), safe_log(teacher).tolist()):
        with pytest.raises(ValueError, match="teacher_log_pi"):
            DistillContext(mdps, teacher, logits, teacher_log_pi=bad)
    ctx = DistillContext(mdps, teacher, logits)
    np.testing.assert_array_equal(ctx.teacher_log_pi, safe_log(teacher))
