"""The claims' criteria, fixed a priori from the paper's wording (SPEC section 5).

Every threshold a claim is judged by is a constant here, with the words of the
paper it encodes beside it. They are set before the runs that judge them and
not changed after; a claim is judged on its *shape* (orderings, ratio bands,
saturation relative to the teacher), never on the paper's absolute numbers.
"""

from __future__ import annotations

from ..results import REACH_FRACTION

# Claim 1 (Fig. 2): "never converges" = the oscillation is not damped.
OSC_EARLY_WINDOW = (0.2, 0.4)  # fraction of the run: past the initial transient
OSC_LATE_WINDOW = (0.8, 1.0)  # the last 20% of the run
OSC_PERSIST_RATIO = 0.5  # late swing >= half the early swing: not decaying towards a point
OSC_MIN_RANGE = 0.05  # late swing of a probability visible on the plot, not numerical drift
CONVERGED_MAX_RANGE = 1e-3  # "converges": the policy moves less than 0.1 percentage point late on

# Claim 2 (Fig. 3): "needs on average 3x less steps than teacher driven distillation (and around
# 10x less than uniform driven) to recover full teacher performance".
REACH = REACH_FRACTION  # "recover full teacher performance": mean return reaches 95% of the teacher's mean return
TEACHER_STEPS_RATIO_MIN = 2.0  # "3x less steps": teacher-driven / student-driven steps >= 2 (pooled)
UNIFORM_STEPS_RATIO_MIN = 5.0  # "around 10x less": uniform-driven / student-driven steps >= 5 (pooled)
N_BOOTSTRAP = 2000  # resamples of MDPs for the 95% CI of the area ratio (printed beside the steps)
BOOTSTRAP_SEED = 0  # fixed, so the CI is reproducible
CI_LEVEL = 0.95

# Claim 3 (Fig. 3): "the gap disappearing as the teacher is more entropic".
GAP_TREND_MAX_RHO = 0.0  # any negative rank correlation; 3-6 temperatures cannot support a stricter band
MIN_TEMPERATURES = 3  # a trend needs at least three points

# Claim 4 (Fig. 4): "as we increase the size of the action space from four actions up to 4k actions ...
# the speed of entropy regularised distillation drastically collapses, while traditional distillation
# still works"; expected entropy regularised "indeed recovers performance of traditional distillation".
ENTROPY_REG_SLOWDOWN_MIN = 5.0  # "drastically collapses": steps to REACH at the largest |A| >= 5x those at the smallest
EXPECTED_SPEED_BAND = 2.0  # "recovers performance": steps to REACH within 2x of traditional distillation's

# Claim 5 (Fig. 5): cloning 2-4, on-policy + R 6.5, value-gated ~7 = the teacher.
CLONING_MAX_FRACTION = 0.9  # "saturating sub-optimally": at least 10% below the teacher (paper: 30-60% of it)
VALUE_GATED_MIN_FRACTION = REACH_FRACTION  # "recovers the teacher": same 95% as everywhere else

# Claim 6 (Fig. 6): the chain, optimal return 1.
CHAIN_OPTIMUM = 1.0  # +1 at the right end, the only positive reward (the optimal teacher's return without a stop)
CHAIN_REACH = REACH_FRACTION  # "recover optimal scores": 95% of the optimum
ADVERSARIAL_CLONING_MAX = 0.0  # "fail": a cloning student ends nearer the -1 end than the +1 end
ADVERSARIAL_LEARNS_MIN = CHAIN_REACH  # "still learns": teacher V reward reaches the optimum
TD_SOLVES_MIN = CHAIN_REACH  # "does not solve the task": TD + V_pi stays below the optimum

# Claim 8 (Sec. 3.3): one fixed teacher distribution with a close runner-up.
MODE_SEEKING_TEACHER = (0.4, 0.35, 0.15, 0.1)
MODE_SEEKING_STEPS = 5000
MODE_SEEKING_LR = 1.0
MODE_MASS_MIN = 0.99  # "all mass on the most probable action"
REPLICATE_MAX_ERROR = 1e-3  # "replicates pi": max |pi_theta - pi|

# Method names in the tables.
TEACHER_DRIVEN, STUDENT_DRIVEN, UNIFORM_DRIVEN = "teacher_distill", "on_policy_distill", "uniform_distill"
CLONING_FIG5 = ("teacher_distill", "on_policy_distill")
CLONING_FIG6 = ("teacher_distill", "on_policy_distill", "expected_entropy_regularised")
