"""Graph passes (installed as ``hls_opt.passes``): a registry of small named rewrites.

A flow is a list of pass names, run in order by :func:`run_flow` on one shared
:class:`PassContext`.  Built-in passes: ``dsp-aware-pruning``, ``unrolled-rewrite``, ``reduce``.
"""

from __future__ import annotations

from hls_opt.passes import dsp_aware_pruning, reduce, unrolled_rewrite  # noqa: F401  (registration)
from hls_opt.passes.plan import PruningPlan
from hls_opt.passes.registry import (
    Pass,
    PassContext,
    TrainingSettings,
    available_passes,
    get_pass,
    register_pass,
    run_flow,
    unregister_pass,
)

__all__ = [
    "Pass",
    "PassContext",
    "PruningPlan",
    "TrainingSettings",
    "available_passes",
    "default_flow",
    "get_pass",
    "register_pass",
    "run_flow",
    "unregister_pass",
]


def default_flow(objective: object = "dsp") -> list[str]:
    """The pass list for an objective: prune, then rewrite for the unrolled strategy; the FLOPs
    objective (structured pruning of neurons/filters) also removes the pruned neurons."""
    names = objective if isinstance(objective, (list, tuple)) else [objective]
    flow = ["dsp-aware-pruning", "unrolled-rewrite"]
    if any(isinstance(n, str) and n.lower() == "flops" for n in names):
        flow.append("reduce")
    return flow
