"""``dsp-aware-pruning``: choose which weight groups to remove, fine-tune, and write the result.

Generic over the objective (DSPs, BRAM, FFs, FLOPs, parameters, … or an adapted hls4ml-style
estimator).  The knapsack problem comes from the graph and the backend's one cost model
(:func:`hls_opt.selection.problem_for`).  With training data in the context the fine-tuning loop
runs (:func:`hls_opt.keras.optimize.prune_with_fine_tuning`), honouring ``rtol``; without data
the graph is pruned once, post-training, to the scheduler's final sparsity.

The pass writes what it decided on the graph: every node gets its fine-tuned weights and every
pruned kernel becomes ``kernel · mask + offset`` (pruned weights exactly zero, shared ones at
their group's value); the frozen :class:`~hls_opt.passes.plan.PruningPlan` (masks, steps,
metrics) goes to ``graph.annotations["pruning_plan"]`` for ``unrolled-rewrite`` and the report.
It reports ``changed`` only when a weight changed.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from hls_opt.passes.plan import PLAN_KEY, PruningPlan
from hls_opt.passes.registry import Pass, PassResult, register_pass

from hls_opt.emit import to_keras_model
from hls_opt.errors import ConfigError, ModelError
from hls_opt.frontend.keras import from_keras
from hls_opt.resources import get_backend
from hls_opt.scheduler import default_scheduler
from hls_opt.selection import PruningProblem, masks_from_selection, problem_for, select_groups

logger = logging.getLogger(__name__)


def final_sparsity(scheduler: Any) -> float:
    """The scheduler's final target (hls4ml's schedulers keep it as ``final_sparsity``)."""
    value = getattr(scheduler, "final_sparsity", None)
    if value is None:
        raise ConfigError(f"scheduler {type(scheduler).__name__}: has no final_sparsity")
    return float(value)


@register_pass
class DspAwarePruning(Pass):
    name = "dsp-aware-pruning"

    def apply(self, graph: Any) -> PassResult:
        ctx = self.context
        if ctx.objective is None:
            raise ConfigError("dsp-aware-pruning: the pass context names no objective")
        scheduler = ctx.scheduler if ctx.scheduler is not None else default_scheduler()
        problem = problem_for(graph, get_backend(ctx.backend), ctx.objective)
        model = to_keras_model(graph)
        if ctx.data is None:
            plan, notes = self._one_shot(model, problem, scheduler), (
                f"one-shot post-training pruning to {final_sparsity(scheduler):.3g} of the objective "
                "(no data: no fine-tuning, no rtol check)",
            )
        else:
            plan, notes = self._fine_tune(model, problem, scheduler), ()
        changed = write_plan(graph, plan)
        graph.annotations[PLAN_KEY] = plan
        logger.info("dsp-aware-pruning (%s, %s): pruned layers %s", plan.objective, plan.mode, list(plan.pruned_layers()))
        return PassResult(changed, notes)

    def _one_shot(self, model: Any, problem: PruningProblem, scheduler: Any) -> PruningPlan:
        from hls_opt.keras.optimize import FineTuneOptions  # the trainer imports Keras
        from hls_opt.keras.ranking import group_values

        # without options in the context: the defaults (l1 ranking, one global knapsack, 'auto')
        t = self.context.training if self.context.training is not None else FineTuneOptions(loss=None)
        ranking, local = t.ranking, t.local
        target = final_sparsity(scheduler)
        groups = list(problem.groups)
        # the loop's default rule (raw magnitudes; docs/deep_cut.md); with local, one knapsack per layer
        values = group_values(model, groups, ranking, normalise="none")
        selection = select_groups(
            groups, values, target, local=local, knapsack_solver=t.knapsack_solver
        )
        kernels = {g.name: np.asarray(model.get_layer(g.name).kernel.numpy()) for g in groups}
        masks, offsets = masks_from_selection(kernels, groups, selection)
        achieved = problem.achieved(masks)
        step = {
            "target": target,
            "achieved": {n: float(v) for n, v in zip(problem.resource_names, achieved)},
            "metric": None,
            "accepted": True,
        }
        return PruningPlan(
            objective=problem.label,
            mode="one-shot",
            target=target,
            masks=masks,
            offsets=offsets,
            steps=(step,),
        )

    def _fine_tune(self, model: Any, problem: PruningProblem, scheduler: Any) -> PruningPlan:
        from hls_opt.keras.optimize import prune_with_fine_tuning  # the trainer imports Keras

        ctx = self.context
        if ctx.training is None:
            raise ConfigError("dsp-aware-pruning: data given but no training options in the pass context")
        # masks and weights must keep the graph's shapes; the `reduce` pass removes neurons later
        outcome = prune_with_fine_tuning(model, problem, scheduler, ctx.data, ctx.training, reduce=False)
        tuned = from_keras(outcome.model, None)
        weights = {node.name: dict(node.weights) for node in tuned.nodes() if node.weights}
        return PruningPlan(
            objective=problem.label,
            mode="fine-tuned",
            target=final_sparsity(scheduler),
            masks=outcome.masks or {},
            offsets=outcome.offsets or {},
            weights=weights,
            steps=tuple(outcome.steps or ()),
            baseline_metric=float(outcome.baseline_metric),
            final_metric=float(outcome.final_metric),
        )


def write_plan(graph: Any, plan: PruningPlan) -> bool:
    """Write ``plan``'s weights and masks into ``graph``'s nodes; True when a weight changed.

    Every node gets the plan's fine-tuned weights (if any); every masked kernel becomes
    ``kernel · mask + offset``, the rule of :class:`~hls_opt.keras.masking.MaskConstraint`.
    """
    changed = False
    for node in list(graph.nodes()):
        weights = {k: np.array(v, copy=True) for k, v in node.weights.items()}
        for key, value in (plan.weights.get(node.name) or {}).items():
            if key in weights and weights[key].shape != value.shape:
                raise ModelError(f"{node.name}: plan weight {key} has shape {value.shape}, graph has {weights[key].shape}")
            weights[key] = np.array(value, copy=True)
        mask = plan.masks.get(node.name)
        if mask is not None and node.has_kernel:
            kernel = weights["kernel"]
            if mask.shape != kernel.shape:
                raise ModelError(f"{node.name}: mask shape {mask.shape} does not match kernel {kernel.shape}")
            kernel = kernel * mask.astype(kernel.dtype)
            offset = plan.offsets.get(node.name)
            if offset is not None:
                kernel = kernel + np.broadcast_to(offset, kernel.shape).astype(kernel.dtype)
            weights["kernel"] = kernel
        if any(not np.array_equal(weights[k], node.weights[k]) for k in weights if k in node.weights):
            graph.replace(node.name, dataclasses.replace(node, weights=weights))
            changed = True
    return changed
