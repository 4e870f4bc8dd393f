"""hls4ml's Keras entry points (``hls4ml.optimization.dsp_aware_pruning.keras``), adapted onto hls-opt's core.

Everything here takes hls4ml's shapes — model attributes (``LayerAttributes``), estimator classes
with ``is_layer_optimizable`` / ``layer_resources`` / ``layer_savings``, hls4ml's positional
arguments — and turns them, once, into the native values the engine takes: a
:class:`~hls_opt.solve.pruning.PruningProblem` (:func:`problem_from_attributes`) and
:class:`~hls_opt.train.engine.FineTuneOptions`.  The engine,
:func:`hls_opt.train.engine.prune_with_fine_tuning`, knows nothing of these classes.

Attributes are respected as the caller set them: a layer's ``optimizable`` flag and
``optimization_attributes`` are filled in by the estimator (``is_layer_optimizable``) on a private
copy (hls4ml does it in place on the caller's dict, ``dsp_aware_pruning/keras/__init__.py``).
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hls_opt import attributes as attributes_module
from hls_opt.config.values import RankingMetric, parse_ranking
from hls_opt.core.structures import Grouping, StructureType
from hls_opt.errors import ConfigError, DataError, ModelError
from hls_opt.objectives import get_objective
from hls_opt.objectives._core import BackendEstimator
from hls_opt.solve.pruning import (
    LayerGroups,
    PruningProblem,
    layer_groups,
    masks_from_selection,
    select_groups,
)
from hls_opt.train.engine import (
    DEFAULT_REGULARIZATION_RANGE,
    TMP_DIRECTORY,
    FineTuneOptions,
    LoopPolicy,
    OptimizationOutcome,
    checked_data,
    prune_with_fine_tuning,
)
from hls_opt.train.masking import kernel_layers, output_layer_names
from hls_opt.train.ranking import group_values

logger = logging.getLogger(__name__)

def resource_names(objective: Any, dims: int) -> tuple[str, ...]:
    """Names of an estimator's resource dimensions: its native objective's resources for
    hls-opt's estimators, ``objective.resource_names`` when it has them, else ``resource_i``."""
    native = getattr(objective, "native_objective", None)
    if callable(native):
        names = native().resources
        if len(names) == dims:
            return tuple(names)
    names = getattr(objective, "resource_names", None)
    if names and len(names) == dims:
        return tuple(str(n) for n in names)
    return tuple(f"resource_{i}" for i in range(dims))


def reduces_structures(objective: Any) -> bool:
    """True for objectives whose saving only materialises when pruned neurons are removed (GPU FLOPs)."""
    flag = getattr(objective, "reduce_structures", None)
    if flag is not None:
        return bool(flag)
    native = getattr(objective, "native_objective", None)
    return bool(native().reduce_structures) if callable(native) else False


# --------------------------------------------------------------------------------------------
# Attributes and estimators → the engine's problem
# --------------------------------------------------------------------------------------------


def _user_estimator_errors(objective: Any) -> tuple[type[BaseException], ...]:
    """What to catch around an estimator's answer for one layer: a user's hls4ml-style estimator may
    raise anything for a layer type it does not know (the layer is then left alone, with a
    warning); hls-opt's own estimators are adapters over the backend and catch nothing, so a bug
    in them is seen."""
    cls = objective if isinstance(objective, type) else type(objective)
    return () if issubclass(cls, BackendEstimator) else (Exception,)


def _structure(oa: Any) -> StructureType:
    value = getattr(oa, "structure_type", StructureType.UNSTRUCTURED)
    return StructureType.parse(getattr(value, "value", value))



def prepare_attributes(model: Any, model_attributes: dict[str, Any], objective: Any) -> dict[str, Any]:
    """A copy of ``model_attributes`` with the objective's decisions filled in; the input is untouched.

    For each kernel layer the objective's ``is_layer_optimizable`` chooses the structure.  Under
    structured pruning the output layer's neurons are never removed (it would drop output labels):
    pruning is switched off there and the layer stays optimizable only for weight sharing.
    Layers the objective cannot handle (it raises) are left out with a warning.
    """
    attrs: dict[str, Any] = {}
    for name, value in model_attributes.items():
        new = copy.copy(value)
        if hasattr(new, "args") and isinstance(new.args, dict):
            new.args = dict(new.args)
        try:
            new.optimizable = False
            new.optimization_attributes = None
        except AttributeError:  # a frozen attribute object: leave as is
            pass
        attrs[name] = new
    outputs = output_layer_names(model)
    for layer in kernel_layers(model):
        if layer.name not in attrs:
            continue
        a = attrs[layer.name]
        try:
            optimizable, oa = objective.is_layer_optimizable(a)
        except _user_estimator_errors(objective) as exc:  # a user's estimator that does not know this layer
            logger.warning(
                "layer %s: objective %s cannot handle it (%s); not optimized",
                layer.name,
                _objective_name(objective),
                exc,
            )
            continue
        oa = copy.copy(oa) if oa is not None else None
        if oa is None:
            optimizable = False
        elif layer.name in outputs and _structure(oa) is StructureType.STRUCTURED and oa.pruning:
            oa.pruning = False
            optimizable = bool(getattr(oa, "weight_sharing", False))
        a.optimizable = bool(optimizable)
        a.optimization_attributes = oa
    return attrs



def _as_vector(values: Any, name: str, what: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ModelError(f"layer {name}: objective returned invalid {what} {values!r}")
    return arr


def build_layer_groups(model: Any, attrs: dict[str, Any], objective: Any) -> list[LayerGroups]:
    """Groups and per-group savings (``objective.layer_savings``) for every optimizable layer, in model order."""
    groups: list[LayerGroups] = []
    for layer in kernel_layers(model):
        a = attrs.get(layer.name)
        if a is None or not getattr(a, "optimizable", False) or a.optimization_attributes is None:
            continue
        oa = a.optimization_attributes
        shape = tuple(int(d) for d in layer.kernel.shape)
        structure = _structure(oa)
        try:
            grouping = Grouping.from_hls4ml(
                shape,
                structure,
                pattern_offset=int(getattr(oa, "pattern_offset", 1)),
                consecutive=int(getattr(oa, "consecutive_patterns", 1)),
                block_shape=tuple(getattr(oa, "block_shape", (1, 1))),
            )
            grouping.ids(shape)
        except ValueError as exc:
            raise ModelError(f"layer {layer.name}: {exc}") from None
        savings = _as_vector(objective.layer_savings(a), layer.name, "savings")
        resources = _as_vector(objective.layer_resources(a), layer.name, "resources")
        if savings.shape != resources.shape:
            # hls4ml's multi-objective returns a 1-element [0] saving when not pruning
            savings = np.zeros_like(resources) if not np.any(savings) else np.resize(savings, resources.shape)
        groups.append(
            layer_groups(
                layer.name,
                shape,
                grouping,
                savings,
                resources,
                pruning=bool(getattr(oa, "pruning", False)),
                sharing=bool(getattr(oa, "weight_sharing", False)),
            )
        )
    return groups


def layer_total_resources(model: Any, attrs: dict[str, Any], objective: Any) -> np.ndarray | None:
    """Σ ``layer_resources`` over the model's kernel layers (objective units), or None if unknown."""
    total = None
    for layer in kernel_layers(model):
        a = attrs.get(layer.name)
        if a is None:
            continue
        try:
            r = np.atleast_1d(np.asarray(objective.layer_resources(a), dtype=np.float64))
        except _user_estimator_errors(objective):  # a user's estimator that does not model this layer
            continue
        if total is None:
            total = r.copy()
        elif r.shape == total.shape:
            total += r
    return total



def compute_masks(
    model: Any,
    model_attributes: dict[str, Any],
    sparsity: float,
    objective: Any,
    ranking_metric: str = "l1",
    local: bool = False,
    knapsack_solver: str = "auto",
    data: Any = None,
    *,
    loss_fn: Any = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Masks and offsets for ``model`` at ``sparsity`` of the objective's savable resources.

    Returns ``(masks, offsets)``: dicts keyed by layer name of kernel-shaped float32 arrays
    (mask 1 = keep, 0 = pruned or shared; offset = shared value, else 0), for the layers the
    objective optimizes.  ``l1`` / ``l2`` need no data (one-shot post-training pruning);
    ``saliency``, ``oracle`` and ``hessian`` need ``data=(X, y)`` and ``loss_fn``.
    Neither ``model`` nor ``model_attributes`` is modified.
    """
    objective = get_objective(objective)
    ranking_metric = parse_ranking(ranking_metric)
    attrs = prepare_attributes(model, model_attributes, objective)
    groups = build_layer_groups(model, attrs, objective)
    values = group_values(model, groups, ranking_metric, data=data, loss_fn=loss_fn, normalise=LoopPolicy().normalise)
    selection = select_groups(groups, values, sparsity, local=local, knapsack_solver=knapsack_solver)
    kernels = {g.name: np.asarray(model.get_layer(g.name).kernel.numpy()) for g in groups}
    return masks_from_selection(kernels, groups, selection)



#: hls4ml's ranking metric → (hls-opt's metric over caller-given per-weight arrays, the argument
#: holding them).  hls4ml's 'oracle' is |∂L/∂w · w| (hls-opt's 'saliency'); its 'saliency' is
#: Optimal Brain Damage over the given second derivatives (hls-opt's 'hessian').
_GIVEN_DERIVATIVES = {
    RankingMetric.ORACLE: (RankingMetric.SALIENCY, "gradients"),
    RankingMetric.SALIENCY: (RankingMetric.HESSIAN, "hessians"),
    RankingMetric.HESSIAN: (RankingMetric.HESSIAN, "hessians"),
}


#: hls4ml's ranking metric names → hls-opt's, for hls4ml's front doors (``get_model_masks`` above,
#: ``optimize_model`` / ``optimize_keras_model_for_hls4ml``): hls4ml's ``optimize_model`` hands
#: ``ranking_metric`` to its ``get_model_masks`` unchanged (hls4ml/optimization/dsp_aware_pruning/
#: keras/__init__.py), so one name means one thing in both.  hls-opt's own entry points
#: (``convert_and_optimize``, the CLI, ``compute_masks``, ``run_optimization``) keep hls-opt's names
#: (docs/optimization.md; docs/compat.md has the row).
HLS4ML_RANKING = {name: ranking for name, (ranking, _) in _GIVEN_DERIVATIVES.items()}


def hls4ml_ranking(value: Any, key: str = "ranking_metric") -> RankingMetric:
    """An hls4ml ranking-metric name (the same five spellings) as the :class:`RankingMetric` that
    has hls4ml's meaning (:data:`HLS4ML_RANKING`)."""
    metric = parse_ranking(value, key)
    return HLS4ML_RANKING.get(metric, metric)


def get_model_masks(
    keras_model: Any,
    model_attributes: dict[str, Any],
    sparsity: float,
    objective: Any,
    metric: str = "l1",
    local: bool = False,
    gradients: dict[str, Any] | None = None,
    hessians: dict[str, Any] | None = None,
    knapsack_solver: str = "CBC_MIP",
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """hls4ml's ``get_model_masks`` (hls4ml/optimization/dsp_aware_pruning/keras/masking.py):
    ``(masks, offsets)`` for the layers the caller's attributes make optimizable.

    Unlike :func:`compute_masks`, the attributes are used **as the caller set them**: each layer's
    ``optimizable`` flag, ``structure_type``, ``pattern_offset`` / ``consecutive_patterns``,
    ``block_shape``, ``pruning`` and ``weight_sharing``; the objective is only asked
    ``layer_savings`` and ``layer_resources`` (a hand-written estimator with just those works).
    Output layers are not protected (the caller's attributes decide, as in hls4ml).

    ``metric``: ``'l1'`` / ``'l2'`` (group norms), ``'oracle'`` (|w · gradient|, needs
    ``gradients``), ``'saliency'`` (w² times the second derivative, needs ``hessians``), and
    hls-opt's ``'hessian'`` (as ``'saliency'``).  ``gradients`` / ``hessians`` are dicts of
    kernel-shaped arrays by layer name (``hls_opt.train.utils.get_model_gradients`` /
    ``get_model_hessians``).  ``local``: the same sparsity in every layer.  Masks are
    kernel-shaped float32 (1 trainable, 0 frozen); offsets hold the group mean where a group is
    weight-shared, else 0.  Weight sharing is ignored, with a warning, for unstructured layers (a
    one-weight group's mean is the weight itself).
    """
    metric = parse_ranking(metric, "metric")  # hls4ml's name; _GIVEN_DERIVATIVES gives its meaning
    per_weight = None
    ranking = metric
    if metric in _GIVEN_DERIVATIVES:
        ranking, argument = _GIVEN_DERIVATIVES[metric]
        per_weight = gradients if argument == "gradients" else hessians
        if per_weight is None:
            raise DataError(
                f"metric {metric.value!r}: needs {argument}= (a dict of kernel-shaped arrays by layer name, "
                f"e.g. from hls_opt.train.utils.get_model_{argument})"
            )
    if isinstance(objective, str):
        objective = get_objective(objective)
    groups = build_layer_groups(keras_model, model_attributes, objective)
    groups = [g for g in groups if g.pruning or g.sharing]
    for g in groups:
        if g.sharing and g.structure is StructureType.UNSTRUCTURED:
            logger.warning("layer %s: weight sharing does not apply to unstructured pruning; ignored", g.name)
            g.sharing = False
    groups = [g for g in groups if g.pruning or g.sharing]
    values = group_values(keras_model, groups, ranking, per_weight=per_weight, normalise=LoopPolicy().normalise)
    selection = select_groups(groups, values, sparsity, local=local, knapsack_solver=knapsack_solver)
    kernels = {g.name: np.asarray(keras_model.get_layer(g.name).kernel.numpy()) for g in groups}
    return masks_from_selection(kernels, groups, selection)


def _objective_name(objective: Any) -> str:
    return getattr(objective, "__name__", type(objective).__name__)


def problem_from_attributes(model: Any, model_attributes: dict[str, Any], objective: Any) -> PruningProblem:
    """The engine's problem from hls4ml-style attributes and an estimator (class, instance or name).

    Each step's achieved resources are the model total minus the savings of the removed groups
    (all an hls4ml estimator can say); hls-opt's native flow asks the backend for the masked
    graph's estimate instead (:func:`hls_opt.solve.pruning.build_problem`).
    """
    objective = get_objective(objective)
    attrs = prepare_attributes(model, model_attributes, objective)
    groups = build_layer_groups(model, attrs, objective)
    total = layer_total_resources(model, attrs, objective)
    if total is None:
        total = np.zeros(1)
    by_name = {g.name: g for g in groups}

    def achieved(masks: dict[str, np.ndarray]) -> np.ndarray:
        out = np.asarray(total, dtype=np.float64).copy()
        for name, mask in masks.items():
            g = by_name.get(name)
            if g is None or g.savings.shape != out.shape:
                continue
            kept = np.bincount(g.ids.reshape(-1), weights=np.asarray(mask).reshape(-1), minlength=g.n_groups)
            out -= int(np.sum(kept == 0)) * g.savings
        return out

    return PruningProblem(
        label=_objective_name(objective),
        resource_names=resource_names(objective, len(total)),
        groups=tuple(groups),
        baseline=np.asarray(total, dtype=np.float64),
        achieved_fn=achieved,
        reduce_structures=reduces_structures(objective),
    )


@dataclass(frozen=True)
class OptimizeArguments:
    """hls4ml's ``optimize_model`` arguments as one value: the three hls4ml-shaped front doors
    (:func:`optimize_model`, :func:`optimize_keras_model_for_hls4ml`, :func:`run_optimization`) keep hls4ml's
    signatures and bind them into this, and :func:`optimize_with` is the one body behind them."""

    model: Any
    model_attributes: dict[str, Any]
    objective: Any
    scheduler: Any
    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    batch_size: int
    epochs: int
    optimizer: Any
    loss_fn: Any
    validation_metric: Any
    increasing: bool
    rtol: float
    callbacks: list[Any] | None = None
    ranking_metric: str = "l1"
    local: bool = False
    verbose: bool = False
    rewinding_epochs: int = 1
    cutoff_bad_trials: int = 1
    directory: str = TMP_DIRECTORY
    tuner: str | None = "Bayesian"
    knapsack_solver: str = "auto"
    regularization_range: Any = None

    def fine_tune_options(self, policy: LoopPolicy | None = None, target: str | None = None) -> FineTuneOptions:
        """The engine's options (``directory`` is accepted for compatibility and not written to: best
        weights are kept in memory)."""
        return FineTuneOptions(
            loss=self.loss_fn,
            optimizer=self.optimizer,
            metric=self.validation_metric,
            increasing=bool(self.increasing),
            rtol=float(self.rtol),
            epochs=self.epochs,
            batch_size=self.batch_size,
            ranking=self.ranking_metric,
            local=bool(self.local),
            rewinding_epochs=self.rewinding_epochs,
            cutoff_bad_trials=int(self.cutoff_bad_trials),
            tuner=self.tuner,
            knapsack_solver=self.knapsack_solver,
            regularization_range=self.regularization_range,
            callbacks=tuple(self.callbacks or ()),
            verbose=bool(self.verbose),
            policy=LoopPolicy() if policy is None else policy,
            target=target,
        )


def optimize_with(
    args: OptimizeArguments,
    reduce_structures: bool | None = None,
    policy: LoopPolicy | None = None,
    target: str | None = None,
) -> OptimizationOutcome:
    """The one body behind hls4ml's front doors: ``args`` in, the engine's :class:`OptimizationOutcome` out.
    ``policy`` and ``target`` ('max': the deepest cut within ``rtol``) are :class:`FineTuneOptions`'."""
    options = args.fine_tune_options(policy, target)
    data = checked_data(args.model, (args.X_train, args.y_train, args.X_val, args.y_val), args.loss_fn)  # before any work
    problem = problem_from_attributes(args.model, args.model_attributes, args.objective)
    return prune_with_fine_tuning(args.model, problem, args.scheduler, data, options, reduce=reduce_structures)


def run_optimization(
    model: Any,
    model_attributes: dict[str, Any],
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 1,
    directory: str = TMP_DIRECTORY,
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = None,
    reduce_structures: bool | None = None,
    policy: LoopPolicy | None = None,
    target: str | None = None,
) -> OptimizationOutcome:
    """hls4ml's ``optimize_model`` arguments in (plus ``reduce_structures``, ``policy``, ``target``), the
    engine's :class:`OptimizationOutcome` out (:func:`optimize_with`)."""
    arguments = {k: v for k, v in locals().items() if k not in ("reduce_structures", "policy", "target")}
    return optimize_with(OptimizeArguments(**arguments), reduce_structures, policy, target)


# --------------------------------------------------------------------------------------------
# hls4ml's front doors
# --------------------------------------------------------------------------------------------


def optimize_model(
    model: Any,
    model_attributes: dict[str, Any],
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 1,
    directory: str = TMP_DIRECTORY,
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = DEFAULT_REGULARIZATION_RANGE,
) -> Any:
    """Prune (and weight-share) a copy of ``model`` for ``objective``; returns a new compiled Keras model.

    Same arguments as hls4ml's ``optimize_model`` (hls4ml/optimization/dsp_aware_pruning/keras/
    __init__.py): ``objective`` is an estimator
    class, instance or registered name; ``scheduler`` gives the target sparsity of the objective's
    resource (e.g. 0.5 = half the DSPs); each step fine-tunes at most ``epochs − rewinding_epochs``
    epochs then rewinds ``rewinding_epochs`` unmasked; a step is accepted when the validation
    metric is within ``rtol`` of the baseline (``increasing``: higher is better); optimization
    stops when the scheduler is done or after more than ``cutoff_bad_trials`` consecutive
    failures.  The returned model holds the last accepted step's weights (the baseline's when
    none passed), without hls-opt's masks or regularisers.

    ``ranking_metric`` takes hls4ml's names with hls4ml's meaning, as :func:`get_model_masks`
    does (:data:`HLS4ML_RANKING`): ``'saliency'`` is Optimal Brain Damage, ``½ Σ h·w²`` with the
    Hessian diagonal estimated from the validation data (hls-opt's ``'hessian'``), ``'oracle'`` is
    ``Σ |w · ∂L/∂w|`` (hls-opt's first-order ``'saliency'``); ``'l1'``, ``'l2'``, ``'hessian'`` as named.
    """
    args = OptimizeArguments(**locals())
    return optimize_with(replace(args, ranking_metric=hls4ml_ranking(ranking_metric))).model


def _looks_like_attributes(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(hasattr(v, "weight_shape") and hasattr(v, "optimization_attributes") for v in value.values())
    )


def attributes_for(keras_model: Any, hls_config_or_attributes: Any) -> dict[str, Any]:
    """Model attributes from an hls4ml config (dict or YAML/JSON path), or the attributes dict itself
    (the seed passes those); ``None`` means hls4ml's defaults."""
    if _looks_like_attributes(hls_config_or_attributes):
        return hls_config_or_attributes
    if hls_config_or_attributes is None:
        return attributes_module.get_attributes_from_keras_model(keras_model)
    if isinstance(hls_config_or_attributes, (str, os.PathLike)):  # a YAML / JSON config file
        return attributes_module.get_attributes_from_keras_model_and_hls4ml_config(
            keras_model, hls_config_or_attributes
        )
    if not isinstance(hls_config_or_attributes, dict):
        raise ConfigError(
            f"hls_config: expected an hls4ml config dict or a model-attributes dict, got "
            f"{type(hls_config_or_attributes).__name__}"
        )
    return attributes_module.get_attributes_from_keras_model_and_hls4ml_config(
        keras_model, hls_config_or_attributes
    )


def optimize_keras_model_for_hls4ml(
    keras_model: Any,
    hls_config: Any,
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 3,
    directory: str = "hls4ml-optimization",
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = DEFAULT_REGULARIZATION_RANGE,
) -> Any:
    """hls4ml's wrapper (``optimize_keras_model_for_hls4ml`` in
    hls4ml/optimization/dsp_aware_pruning/__init__.py): ``hls_config`` may be an hls4ml config or
    model attributes.

    Optimize as if for hls4ml's unrolled strategy: under ``Resource`` zeros save nothing, so the
    flow later switches the optimized layers to ``ResourceUnrolled``.
    """
    arguments = {k: v for k, v in locals().items() if k not in ("keras_model", "hls_config")}
    attributes = attributes_for(keras_model, hls_config)
    return optimize_model(keras_model, attributes, **arguments)
