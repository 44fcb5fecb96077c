"""Reference reproduction of "Distilling Policy Distillation" (Czarnecki et al., 2019).

Array letters: ``B`` MDPs, ``S`` states, ``A`` actions, ``K`` outcomes,
``T`` time steps, ``N`` trajectories. Updates follow Eq. (1) as descent
directions under the undiscounted episodic convention (see ``methods``).
"""

# (the counterexample MDP stays in .environments: re-exporting it here would
# shadow the submodule ``policy_distillation.counterexample``)
from .environments import GridConfig, chain, random_grid_worlds, with_actions
from .evaluation import (
    action_values,
    expected_return,
    expected_sum,
    factorise,
    optimal_values,
    state_values,
    state_visitation,
    value_iteration,
)
from .exact import expected_update
from .mdp import TabularMDPs, from_dense
from .methods import REGISTRY, DistillContext, Method, Teacher, get_method, stated_loss
from . import llm_methods  # noqa: F401,E402  (after methods: registers the language-model entries)
from .policies import PROB_FLOOR, log_softmax, safe_log, softmax
from .sampling import SampledEstimator, sampled_update
from .training import DistillResult, distill

__all__ = [
    "GridConfig", "chain", "random_grid_worlds", "with_actions",
    "action_values", "expected_return", "expected_sum", "factorise", "optimal_values", "state_values",
    "state_visitation", "value_iteration",
    "expected_update", "TabularMDPs", "from_dense",
    "REGISTRY", "DistillContext", "Method", "Teacher", "get_method", "stated_loss",
    "PROB_FLOOR", "log_softmax", "safe_log", "softmax",
    "SampledEstimator", "sampled_update", "DistillResult", "distill",
]
