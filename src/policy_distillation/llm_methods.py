"""Today's language-model on-policy distillation estimators, as registry entries in Table 1's terms.

Each entry is one ``methods.Method`` built from ``terms`` and ``divergences``
and registered at import (``policy_distillation`` imports this module after
``methods``, so the registry always holds them). In a language model a state
is a prefix, an action a token, the student samples the trajectory (control
q = pi_theta) and the teacher scores it; here the same estimators run on
tabular MDPs, where Eq. (1) gives their exact expected update.

Single-sample reverse KL (the pseudo-reward rhat_t = log pi(a_t|s_t) - log
pi_theta(a_t|s_t), held constant, i.e. stop-gradient):

- ``token_reverse_kl``: credited to step t only (Lu and Thinking Machines Lab
  2025, "On-Policy Distillation"): the score weight W_t = rhat_t, written as the
  one-step target with a zero critic (as ``td_v_0``).
- ``sequence_reverse_kl``: the return-to-go of rhat (Gu et al. 2024, MiniLLM):
  the score-function gradient of the sequence reverse KL
  E_theta[sum_t KL(pi_theta(s_t) || pi(s_t))], since d/dtheta E_theta[sum_t
  (log pi_theta - log pi)] = E[sum_t grad log pi_theta(a_t|s_t) * sum_{i>=t}
  (log pi_theta - log pi)_i] + E[sum_t grad log pi_theta(a_t|s_t)], and the last
  expectation is 0.
- ``sequence_reverse_kl_expected``: MiniLLM's single-step decomposition: the
  step-t KL taken exactly (its gradient as l), the sampled rhat from t+1 on (the
  KL analogue of ``expected_entropy_regularised``). Same loss.
- ``token_reverse_kl_cv`` / ``_topk``: ``token_reverse_kl`` with the control
  variate b(s_t) = E[rhat_t | s_t] = -KL(pi_theta(s_t) || pi(s_t)) subtracted
  from W_t (Oh et al. 2026, "KL for a KL: On-Policy Distillation with Control
  Variate Baseline", arXiv:2605.07865), or its top-k approximation
  (``divergences.top_k_negative_reverse_kl``). A state-only baseline of any form
  leaves the expected update as it is: the same exact update as
  ``token_reverse_kl``, only the sampled variance changes.

Full-distribution per-token divergences on the student's prefixes, no score
term (Agarwal et al. 2024, GKD; DAgger-style on-policy SFT): forward KL,
reverse KL, generalised JSD(beta); the entropy-aware mixture (Jin et al. 2026,
"Entropy-Aware On-Policy Distillation of Language Models", arXiv:2603.07079);
the forward KL to the teacher's top k. Theorem 1 applies to each: the
student's visitation moves with theta and the update ignores it, so none is a
gradient field (measured by Table 1's Jacobian asymmetry, not assumed).
"""

from __future__ import annotations

from . import divergences as D
from . import terms
from .controls import STUDENT
from .methods import NOT_IN_PAPER, REGISTRY, Loss, Method, register
from .rewards import PseudoReward

TOP_K = 8  # teacher tokens kept by the top-k variants (a typical cached-logit budget)
JSD_BETA = 0.5  # GKD's generalised JSD weight (0.5: the symmetric JSD up to scale)
# Teacher-entropy gate of the entropy-aware KL, in nats: 1.0 sits below log 3 (1.10), so on
# the smallest MDPs only near-uniform teachers open it, and far below log 4096 (8.3)
ENTROPY_THRESHOLD = 1.0

SEQUENCE_REVERSE_KL = Loss(D.REVERSE_KL_VALUE, text="E_theta[sum_t KL(pi_theta(s_t) || pi(s_t))]")
_THEOREM_1 = ("Theorem 1: the student's state visitation depends on theta but the update only follows "
              "the per-state loss")
_NO_FUTURE_CREDIT = ("the score weight credits rhat_t to step t only (zero critic), so the update is the "
                     "visit-weighted per-state reverse-KL gradient: it ignores how theta moves the visitation "
                     "(Theorem 1; the same expected update as onpolicy_reverse_kl).")


def _per_token(name: str, label: str, loss, source: str) -> Method:
    """Student-driven per-token divergence, rhat = 0: on-policy distillation with another l."""
    return Method(name=name, label=label, control=STUDENT, state_loss=loss, is_gradient=False,
                  verdict_source=NOT_IN_PAPER, not_gradient_reason=f"{_THEOREM_1} ({source}).")


def build() -> list[Method]:
    """The entries (unregistered)."""
    token = Method(
        name="token_reverse_kl", label="Per-token reverse KL (OPD)", control=STUDENT,
        reward=PseudoReward(now_sa=terms.LOG_RATIO), bootstrap=terms.ZERO_VALUE,
        is_gradient=False, verdict_source=NOT_IN_PAPER, not_gradient_reason=_NO_FUTURE_CREDIT,
    )
    sequence = Method(
        name="sequence_reverse_kl", label="Sequence reverse KL (MiniLLM)", control=STUDENT,
        reward=PseudoReward(now_sa=terms.LOG_RATIO), loss=SEQUENCE_REVERSE_KL, is_gradient=True,
        verdict_source=NOT_IN_PAPER,
    )
    sequence_expected = Method(
        name="sequence_reverse_kl_expected", label="Sequence reverse KL, exact step (MiniLLM)", control=STUDENT,
        state_loss=D.REVERSE_KL, reward=PseudoReward(next_sa=terms.LOG_RATIO), loss=SEQUENCE_REVERSE_KL,
        is_gradient=True, verdict_source=NOT_IN_PAPER,
    )
    cv = Method(
        name="token_reverse_kl_cv", label="Per-token reverse KL + KL baseline (vOPD)", control=STUDENT,
        reward=PseudoReward(now_sa=terms.LOG_RATIO), bootstrap=terms.ZERO_VALUE, baseline=D.NEGATIVE_REVERSE_KL,
        is_gradient=False, verdict_source=NOT_IN_PAPER, not_gradient_reason=_NO_FUTURE_CREDIT,
    )
    cv_top = Method(
        name="token_reverse_kl_cv_topk", label=f"Per-token reverse KL + top-{TOP_K} KL baseline (vOPD)",
        control=STUDENT, reward=PseudoReward(now_sa=terms.LOG_RATIO), bootstrap=terms.ZERO_VALUE,
        baseline=D.top_k_negative_reverse_kl(TOP_K), is_gradient=False, verdict_source=NOT_IN_PAPER,
        not_gradient_reason=_NO_FUTURE_CREDIT,
    )
    per_token = [
        _per_token("onpolicy_forward_kl", "On-policy forward KL (GKD)", D.FORWARD_KL,
                   "the same update as on_policy_distill: grad KL(pi || pi_theta) = grad H^x(pi || pi_theta)"),
        _per_token("onpolicy_reverse_kl", "On-policy reverse KL (GKD)", D.REVERSE_KL,
                   "the gradient of the per-state reverse KL only; the sequence version needs the score term"),
        _per_token("onpolicy_jsd", f"On-policy JSD({JSD_BETA:g}) (GKD)", D.jsd(JSD_BETA),
                   "GKD's generalised JSD per state"),
        _per_token("entropy_aware_kl", "Entropy-aware KL", D.entropy_aware_kl(ENTROPY_THRESHOLD),
                   "the gate reads the fixed teacher only, so the per-state loss is smooth"),
        _per_token("topk_forward_kl", f"On-policy top-{TOP_K} forward KL", D.top_k_forward_kl(TOP_K),
                   f"forward KL to the teacher renormalised on its top {TOP_K}"),
    ]
    return [token, sequence, sequence_expected, cv, cv_top, *per_token]


_BUILT = build()
ENTRIES: tuple[str, ...] = tuple(m.name for m in _BUILT)
for _method in _BUILT:
    if _method.name not in REGISTRY:  # importing twice (e.g. a reload) registers once
        register(_method)
