"""Graph passes (installed as ``hls_opt.passes``): a registry of small named rewrites.

A flow is a list of pass names, run in order by :func:`run_flow` with one read-only
:class:`PassContext` (the run's settings); passes hand results to each other on the graph.  Built-in passes: ``precision-search``, ``dsp-aware-pruning``, ``unrolled-rewrite``, ``reduce``.
"""

from __future__ import annotations

from hls_opt.passes import dsp_aware_pruning, precision_search, reduce, unrolled_rewrite  # noqa: F401  (registration)
from hls_opt.passes.plan import PruningPlan
from hls_opt.passes.registry import (
    Pass,
    PassContext,
    PassResult,
    available_passes,
    get_pass,
    register_pass,
    run_flow,
    unregister_pass,
)

from hls_opt.cost.objective import parse_objective

__all__ = [
    "Pass",
    "PassContext",
    "PassResult",
    "PruningPlan",
    "available_passes",
    "default_flow",
    "get_pass",
    "register_pass",
    "run_flow",
    "unregister_pass",
]


def default_flow(objective: object) -> list[str]:
    """The pass list for an objective: prune, then rewrite for the unrolled strategy; an objective
    whose saving needs the pruned neurons removed (GPU FLOPs: ``reduce_structures``) also reduces."""
    if isinstance(objective, (str, list, tuple)):
        objective = parse_objective(objective)
    flow = ["dsp-aware-pruning", "unrolled-rewrite"]
    if bool(getattr(objective, "reduce_structures", False)):
        flow.append("reduce")
    return flow
