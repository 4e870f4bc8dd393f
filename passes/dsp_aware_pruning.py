"""``dsp-aware-pruning``: choose which weight groups to remove, fine-tune, and write the result.

Generic over the objective (DSPs, BRAM, FFs, FLOPs, parameters, … or an adapted hls4ml-style
estimator).  The knapsack problem comes from the graph and the backend's one cost model
(:func:`hls_opt.solve.pruning.problem_for`).  With training data in the context the fine-tuning loop
runs (:func:`hls_opt.train.engine.prune_with_fine_tuning`), honouring ``rtol``; without data
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
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from hls_opt.passes.plan import PLAN_KEY, PruningPlan
from hls_opt.passes.registry import Pass, PassResult, register_pass

from hls_opt.cost.objective import Objective
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import stream_pack
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.errors import ConfigError, InfeasibleBudget, ModelError
from hls_opt.frontend.keras import from_keras
from hls_opt.solve.budget_cut import required_cut
from hls_opt.solve.pruning import (
    PruningProblem,
    masked_estimate,
    masks_from_selection,
    problem_for,
    select_groups,
)
from hls_opt.solve.rf_problem import JointChooser, RFMode
from hls_opt.solve.step import Step
from hls_opt.train.schedulers import BudgetScheduler, default_scheduler

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


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

    def apply(self, graph: Graph) -> PassResult:
        ctx = self.context
        if ctx.objective is None:
            raise ConfigError("dsp-aware-pruning: the pass context names no objective")
        scheduler = ctx.scheduler if ctx.scheduler is not None else default_scheduler()
        backend = get_backend(ctx.backend)
        joint = joint_chooser(graph, backend, ctx.objective, ctx.budgets)
        self._training = self._quantized(ctx.training, graph)
        if joint is not None and RFMode.parse(ctx.rf_mode or RFMode.FIXED) is RFMode.FIXED:
            return self._fixed_rfs(graph, backend, joint, scheduler)
        problem = problem_for(graph, backend, ctx.objective)
        if joint is not None:
            problem = dataclasses.replace(problem, joint=joint)
        if not problem.groups and problem.joint is None:
            # Nothing to prune: no training, and a report that says so, not "fine-tuned".
            note = (
                f"nothing to prune: no layer's {problem.label} shrinks when its weights are zeroed on the "
                f"{backend.name} backend at the configured strategies and reuse factors; the model is returned unchanged"
            )
            logger.warning("%s", note)
            plan = PruningPlan(objective=problem.label, mode="unchanged", target=final_sparsity(scheduler))
            graph.annotations[PLAN_KEY] = plan
            return PassResult(False, (note,))
        scheduler = budget_resolved(scheduler, problem)
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

    def _quantized(self, training: Any, graph: Graph) -> Any:
        """The training options, fine-tuning under the graph's types when the context says ``quantize``."""
        if training is None or not self.context.quantize:
            return training
        configs = {node.name: node.config for node in graph.nodes() if node.config is not None}
        return dataclasses.replace(training, quantization=configs)

    def _one_shot(self, model: Any, problem: PruningProblem, scheduler: Any) -> PruningPlan:
        engine, ranking = _trainer()
        FineTuneOptions, group_values = engine.FineTuneOptions, ranking.group_values

        # without options in the context: the defaults (l1 ranking, one global knapsack, 'auto')
        t = self._training if self._training is not None else FineTuneOptions(loss=None)
        ranking, local = t.ranking, t.local
        target = final_sparsity(scheduler)
        if problem.joint is not None:
            return self._one_shot_joint(model, problem, target, t)
        groups = list(problem.groups)
        # the loop's default rule (raw magnitudes; docs/deep_cut.md); with local, one knapsack per layer
        values = group_values(model, groups, ranking, normalise="none" if local else t.policy.normalise)
        selection = select_groups(
            groups, values, target, local=local, knapsack_solver=t.knapsack_solver
        )
        kernels = {g.name: np.asarray(model.get_layer(g.name).kernel.numpy()) for g in groups}
        masks, offsets = masks_from_selection(kernels, groups, selection)
        achieved = problem.achieved(masks)
        step = Step(target=target, achieved=dict(zip(problem.resource_names, achieved)), metric=None, accepted=True)
        return PruningPlan(
            objective=problem.label,
            mode="one-shot",
            target=target,
            masks=masks,
            offsets=offsets,
            steps=(step,),
        )

    def _fixed_rfs(self, graph: Graph, backend: Any, joint: JointChooser, scheduler: Any) -> PassResult:
        """``rf_mode='fixed'``: prune under the cheapest RF assignment the budgets allow unpruned and,
        with data, also under the best uniform RF; keep the one that ends with fewer resources of the
        objective (a coarser RF prunes less within the tolerance: docs/rf_choice.md, measured)."""
        ctx = self.context
        # every layer's config: the weighted layers' RFs, RF 1 for the others (rf_candidates)
        candidates = [dict(joint.choose({}, 0.0).configs)]
        uniform = joint.uniform_configs()
        if ctx.data is not None and uniform is not None and uniform != candidates[0]:
            candidates.append(uniform)
        best, infeasible = None, None
        for configs in candidates:
            chosen_graph = joint.chosen_graph(configs)
            problem = problem_for(chosen_graph, backend, ctx.objective)
            try:  # a resource budget the all-pruned design at these RFs exceeds: try the other candidate
                cand_scheduler = budget_resolved(scheduler, problem)
            except InfeasibleBudget as exc:
                infeasible = infeasible or exc
                continue
            self._training = self._quantized(ctx.training, graph)
            if len({c.reuse_factor for c in configs.values()}) > 1 and ctx.training is not None:
                # Mixed RFs: a group's raw norm sums RF weights for one DSP, so layers at a low RF
                # (the output layer) would be emptied first; every layer worth 1 instead (measured,
                # docs/rf_choice.md)
                t = self._training
                self._training = dataclasses.replace(t, policy=dataclasses.replace(t.policy, normalise="sum"))
            model = to_keras_model(graph)
            plan = (
                self._one_shot(model, problem, cand_scheduler)
                if ctx.data is None
                else self._fine_tune(model, problem, cand_scheduler)
            )
            plan = dataclasses.replace(plan, configs=configs)
            reached = float(np.sum(masked_estimate(chosen_graph, backend, joint.objective, plan.masks)))
            logger.info("rf_mode fixed: RFs %s reach %.0f", {n: c.reuse_factor for n, c in configs.items()}, reached)
            if best is None or reached < best[0]:
                best = (reached, plan)
        if best is None:
            raise infeasible
        plan = best[1]
        notes = (
            "reuse factors chosen for the budgets: "
            + ", ".join(f"{n} {c.reuse_factor}" for n, c in plan.configs.items() if n in joint.problem.kernels)
            + (" (the best of the cheapest assignment and the best uniform RF)" if len(candidates) > 1 else ""),
        )
        if ctx.data is None:
            notes += (
                f"one-shot post-training pruning to {final_sparsity(scheduler):.3g} of the objective "
                "(no data: no fine-tuning, no rtol check)",
            )
        changed = write_plan(graph, plan)
        graph.annotations[PLAN_KEY] = plan
        return PassResult(changed, notes)

    def _one_shot_joint(self, model: Any, problem: PruningProblem, target: float, t: Any) -> PruningPlan:
        group_values = _trainer()[1].group_values

        chooser = problem.joint
        groups = chooser.weight_groups()
        values = group_values(model, groups, t.ranking, normalise="none")
        plan = chooser.choose(chooser.importances(groups, values), target)
        achieved = chooser.achieved(plan)
        step = Step(target=target, achieved=dict(zip(problem.resource_names, achieved)), metric=None, accepted=True)
        masks = {n: np.asarray(m, np.float32) for n, m in plan.masks.items()}
        return PruningPlan(
            objective=problem.label,
            mode="one-shot",
            target=target,
            masks=masks,
            offsets={n: np.zeros_like(m) for n, m in masks.items()},
            steps=(step,),
            configs=dict(plan.configs),
        )

    def _fine_tune(self, model: Any, problem: PruningProblem, scheduler: Any) -> PruningPlan:
        prune_with_fine_tuning = _trainer()[0].prune_with_fine_tuning

        ctx = self.context
        if self._training is None:
            raise ConfigError("dsp-aware-pruning: data given but no training options in the pass context")
        # masks and weights must keep the graph's shapes; the `reduce` pass removes neurons later
        outcome = prune_with_fine_tuning(model, problem, scheduler, ctx.data, self._training, reduce=False)
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
            configs=dict(outcome.configs or {}),
            seconds=dict(outcome.timings or {}),
            epochs_trained=int(outcome.epochs_trained),
        )


def budget_resolved(scheduler: Any, problem: PruningProblem) -> Any:
    """A :class:`~hls_opt.train.schedulers.BudgetScheduler` aimed at the cut ``problem`` needs to fit
    its resource budgets (:func:`hls_opt.solve.budget_cut.required_cut`; raises
    :class:`~hls_opt.errors.InfeasibleBudget` when even the all-pruned design does not fit); any other
    scheduler as it is.  The fine-tuning loop re-reads the cut from the same problem."""
    if not isinstance(scheduler, BudgetScheduler):
        return scheduler
    cut = required_cut(problem, scheduler.limits, scheduler.budgets)
    if cut is None or cut.sparsity <= 0:  # the unpruned design fits: the user's schedule
        return scheduler.fallback if scheduler.fallback is not None else default_scheduler()
    return scheduler.for_sparsity(cut.sparsity)


def joint_chooser(graph: Graph, backend: Any, objective: Any, budgets: Any) -> JointChooser | None:
    """With a latency or II budget: the :class:`~hls_opt.solve.rf_problem.JointChooser` of ``graph``
    (every layer's reuse factor chosen with the pruning, timing from the backend's timing model);
    None without one (the configured reuse factors are kept)."""
    if budgets is None or (budgets.latency_cycles is None and budgets.ii_cycles is None):
        return None
    if not isinstance(objective, Objective):
        raise ConfigError(
            "latency/II budgets: the reuse-factor choice needs a backend objective (e.g. 'dsp'), "
            f"not an hls4ml-style estimator ({objective!r})"
        )

    def timing(node: Node) -> tuple[int, int]:
        t = backend.timing(node, input_pack=stream_pack(graph, node))
        return int(t.ii), int(t.latency)

    return JointChooser.build(
        graph, backend, objective, timing, latency_budget=budgets.latency_cycles, ii_budget=budgets.ii_cycles
    )


def write_plan(graph: Graph, plan: PruningPlan) -> bool:
    """Write ``plan``'s weights and masks into ``graph``'s nodes; True when a weight changed.

    Every node gets the plan's fine-tuned weights (if any); every masked kernel becomes
    ``kernel · mask + offset``, the rule of :class:`~hls_opt.train.masking.MaskConstraint`.
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


def _trainer() -> tuple[ModuleType, ModuleType]:
    """The trainer's engine and ranking modules, imported on first use: they import Keras, which a
    pass that only prunes one-shot from an estimate must not pull in at import time."""
    from hls_opt.train import engine, ranking

    return engine, ranking
