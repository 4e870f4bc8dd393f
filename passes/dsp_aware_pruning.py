"""``dsp-aware-pruning``: run the hardware-aware optimization loop and freeze its result as a plan.

Generic over the objective (any registered name or estimator class: DSPs, BRAM, FFs, FLOPs, …).
With training data in the context it runs the fine-tuning loop (``hls_opt.keras.optimize``),
honouring ``rtol``; without data it prunes once, post-training, to the scheduler's final sparsity
(``hls_opt.keras.masking.compute_masks``).  The graph itself is not modified: the
:class:`~hls_opt.passes.plan.PruningPlan` goes into ``context.plan`` and ``unrolled-rewrite``
applies it.  ``apply`` returns whether the plan prunes anything.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from hls_opt.passes.plan import PruningPlan
from hls_opt.passes.registry import Pass, PassContext, register_pass

from hls_opt.errors import ConfigError

logger = logging.getLogger(__name__)


def default_scheduler() -> Any:
    """hls-opt's default schedule: 5 polynomial steps up to 50 % of the objective's resources."""
    from hls_opt.scheduler import PolynomialScheduler

    return PolynomialScheduler(5, final_sparsity=0.5)


def objective_label(objective: Any) -> str:
    """A printable name for an objective given as a name, a list of names, a class or an instance."""
    if isinstance(objective, str):
        return objective
    if isinstance(objective, (list, tuple)):
        return "+".join(objective_label(o) for o in objective)
    return getattr(objective, "__name__", type(objective).__name__)


def resolve_objective(objective: Any) -> Any:
    """An estimator (class) for ``objective``: a registered name, a list of names joined by '+'
    (``['dsp', 'bram']`` → ``'dsp+bram'``), or a class/instance passed through."""
    from itertools import permutations

    from hls_opt.errors import RegistryError
    from hls_opt.objectives import get_objective

    if isinstance(objective, (list, tuple)):
        if len(objective) == 1:
            return resolve_objective(objective[0])
        if not objective or not all(isinstance(o, str) for o in objective):
            raise RegistryError(
                "objective: a list must hold registered objective names (e.g. ['dsp', 'bram']); "
                "to combine estimator classes, register a multi-objective estimator"
            )
        names = [o.strip().lower() for o in objective]
        # 'dsp,bram' and 'bram,dsp' both mean the registered 'dsp+bram'.
        for order in permutations(names) if len(names) <= 4 else [names]:
            try:
                return get_objective("+".join(order))
            except RegistryError:
                continue
        return get_objective("+".join(names))  # raises, naming the combination
    if isinstance(objective, str):
        return get_objective(objective)
    return objective


def final_sparsity(scheduler: Any) -> float:
    """The scheduler's final target (hls4ml's schedulers keep it as ``final_sparsity``)."""
    value = getattr(scheduler, "final_sparsity", None)
    if value is None:
        raise ConfigError(f"scheduler {type(scheduler).__name__}: has no final_sparsity")
    return float(value)


@register_pass
class DspAwarePruning(Pass):
    name = "dsp-aware-pruning"

    def __init__(self, context: PassContext | None = None) -> None:
        super().__init__(context)

    def apply(self, graph: Any) -> bool:
        from hls_opt.attributes import get_attributes_from_keras_model_and_hls4ml_config
        from hls_opt.emit import to_keras_model

        ctx = self.context
        scheduler = ctx.scheduler if ctx.scheduler is not None else default_scheduler()
        objective = resolve_objective(ctx.objective)
        model = to_keras_model(graph)
        hls_config = copy.deepcopy(ctx.hls_config) if ctx.hls_config is not None else None
        attributes = get_attributes_from_keras_model_and_hls4ml_config(model, hls_config)
        if ctx.data is None:
            plan = self._one_shot(model, attributes, objective, scheduler)
        else:
            plan = self._fine_tune(model, attributes, objective, scheduler)
        ctx.plan = plan
        pruned = plan.pruned_layers()
        logger.info("dsp-aware-pruning (%s, %s): pruned layers %s", plan.objective, plan.mode, list(pruned))
        return bool(pruned)

    def _one_shot(self, model: Any, attributes: Any, objective: Any, scheduler: Any) -> PruningPlan:
        from hls_opt.keras.masking import compute_masks

        ctx = self.context
        target = final_sparsity(scheduler)
        masks, offsets = compute_masks(
            model,
            attributes,
            target,
            objective,
            ranking_metric=ctx.ranking_metric,
            local=ctx.local,
            knapsack_solver=ctx.knapsack_solver,
        )
        ctx.notes.append(
            f"one-shot post-training pruning to {target:.3g} of the objective (no data: no fine-tuning, no rtol check)"
        )
        # One step: the target; 'achieved' is filled in by the report from the rewritten graph.
        step = {"target": target, "achieved": None, "metric": None, "accepted": True}
        return PruningPlan(
            objective=objective_label(ctx.objective),
            mode="one-shot",
            target=target,
            masks=masks,
            offsets=offsets,
            steps=(step,),
        )

    def _fine_tune(self, model: Any, attributes: Any, objective: Any, scheduler: Any) -> PruningPlan:
        from hls_opt.frontend.keras import from_keras
        from hls_opt.keras.optimize import run_optimization

        ctx = self.context
        t = ctx.training
        X_train, y_train, X_val, y_val = ctx.data.as_tuple()
        outcome = run_optimization(
            model,
            attributes,
            objective,
            scheduler,
            X_train,
            y_train,
            X_val,
            y_val,
            t.batch_size,
            t.epochs,
            t.optimizer,
            t.loss,
            t.metric,
            t.increasing,
            t.rtol,
            ranking_metric=ctx.ranking_metric,
            local=ctx.local,
            knapsack_solver=ctx.knapsack_solver,
            # masks and weights must keep the graph's shapes; the `reduce` pass removes neurons later
            reduce_structures=False,
            **ctx.optimize_kwargs,
        )
        # The loop fine-tunes every layer; read its weights back through the frontend so the
        # names match the graph's (Keras' own weight names).
        tuned = from_keras(
            outcome.model, copy.deepcopy(ctx.hls_config) if ctx.hls_config is not None else None
        )
        weights = {node.name: dict(node.weights) for node in tuned.nodes() if node.weights}
        return PruningPlan(
            objective=objective_label(ctx.objective),
            mode="fine-tuned",
            target=final_sparsity(scheduler),
            masks=outcome.masks or {},
            offsets=outcome.offsets or {},
            weights=weights,
            steps=tuple(outcome.steps or ()),
            baseline_metric=_as_float(outcome.baseline_metric),
            final_metric=_as_float(outcome.final_metric),
        )


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
