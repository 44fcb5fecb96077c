"""The sampled estimator of Eq. (1), one idea per module:

- ``draws``: where every uniform number comes from (Generators, per-trajectory streams, injected arrays);
- ``rollout``: the lockstep rollout plan and its records;
- ``actions``: action draws from their posterior (plain and blocked, for many actions);
- ``row_states``: the visited rows as a ``states.StateBatch`` (and reused buffers);
- ``rows``: the student's per-row caches and the update applied to the rows (dense or grouped);
- ``update``: the update in factors, and the return-to-go;
- ``estimator``: :class:`SampledEstimator`, which puts them together.
"""

from .draws import ArrayDraws, TrajectoryStreams, UniformSource, geometric_length, inverse_cdf
from .estimator import SampledEstimator, Transitions, sampled_update
from .update import return_to_go

__all__ = ["ArrayDraws", "TrajectoryStreams", "UniformSource", "geometric_length", "inverse_cdf",
           "SampledEstimator", "Transitions", "sampled_update", "return_to_go"]
