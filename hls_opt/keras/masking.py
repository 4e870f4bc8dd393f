"""Masks: which weight groups are kept, pruned or shared, and how they stay that way in ``fit``.

Three pieces:

* :func:`prepare_attributes` — a private copy of the caller's model attributes with
  ``optimizable`` / ``optimization_attributes`` filled in by the objective (hls4ml does this in
  place on the caller's dict, ``dap/keras/__init__.py`` L131-151; we never mutate it).
* :func:`build_layer_groups` — for every optimizable layer, its weight groups
  (:func:`hls_opt.structures.group_ids`, the one shared definition) and the resources one group
  saves (``objective.layer_savings``).
* :func:`select_groups` / :func:`compute_masks` — the knapsack: keep the most valuable groups
  within ``(1 - sparsity)`` of the savable resources.

:class:`MaskConstraint` keeps pruned weights exactly zero (and shared weights at their shared
value) through ``model.fit``: Keras 3 optimizers apply ``variable.constraint`` after every update
(``keras/src/optimizers/base_optimizer.py``), and the mask is a ``keras.Variable`` so new masks
are assigned between ``fit`` calls without re-tracing.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from hls_opt.errors import DataError, ModelError
from hls_opt.keras.ranking import group_means
from hls_opt.structures import StructureType, expand_group_mask, group_ids, group_sizes

logger = logging.getLogger(__name__)

#: Ranking metrics understood by :func:`compute_masks` (hls4ml's four plus a diagonal-Hessian one).
SUPPORTED_METRICS = ("l1", "l2", "saliency", "oracle", "hessian")


# --------------------------------------------------------------------------------------------
# Masked training
# --------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="hls_opt")
class MaskConstraint(keras.constraints.Constraint):
    """``w ↦ w · mask + offset`` after every optimizer step.

    ``mask`` is 1 for trainable weights and 0 for frozen ones; ``offset`` is 0 for pruned weights
    and the shared value for weight-shared ones.  Both are non-trainable ``keras.Variable`` so
    :meth:`assign` changes them inside an already traced train function.
    """

    def __init__(self, mask: Any, offset: Any = None) -> None:
        mask = np.asarray(mask, dtype="float32")
        offset = np.zeros_like(mask) if offset is None else np.asarray(offset, dtype="float32")
        self.mask = keras.Variable(mask, trainable=False, dtype="float32", name="hls_opt_mask")
        self.offset = keras.Variable(offset, trainable=False, dtype="float32", name="hls_opt_offset")

    def __call__(self, w: Any) -> Any:
        return w * keras.ops.cast(self.mask, w.dtype) + keras.ops.cast(self.offset, w.dtype)

    def assign(self, mask: np.ndarray, offset: np.ndarray | None = None) -> None:
        mask = np.asarray(mask, dtype="float32")
        self.mask.assign(mask)
        self.offset.assign(np.zeros_like(mask) if offset is None else np.asarray(offset, dtype="float32"))

    def get_config(self) -> dict[str, Any]:
        return {
            "mask": np.asarray(self.mask.numpy()).tolist(),
            "offset": np.asarray(self.offset.numpy()).tolist(),
        }


def attach_mask_constraints(model: Any, names: list[str]) -> dict[str, MaskConstraint]:
    """Give each named layer's kernel an all-ones :class:`MaskConstraint`; returns them by layer name.

    The constraint is set on the variable (what the optimizer reads) *and* on the layer attribute
    (what ``get_config`` serialises).  Call ``model.make_train_function(force=True)`` afterwards if
    the model was already fit.
    """
    constraints = {}
    for name in names:
        layer = model.get_layer(name)
        constraint = MaskConstraint(np.ones(tuple(layer.kernel.shape), dtype="float32"))
        layer.kernel.constraint = constraint
        if hasattr(layer, "kernel_constraint"):
            layer.kernel_constraint = constraint
        constraints[name] = constraint
    return constraints


def apply_masks(model: Any, masks: dict[str, np.ndarray], offsets: dict[str, np.ndarray]) -> None:
    """Set ``kernel ← kernel · mask + offset`` now (the constraint only acts after optimizer steps)."""
    for name, mask in masks.items():
        layer = model.get_layer(name)
        kernel = np.asarray(layer.kernel.numpy())
        layer.kernel.assign(kernel * mask + offsets.get(name, 0.0))


# --------------------------------------------------------------------------------------------
# Attributes and groups
# --------------------------------------------------------------------------------------------


def _structure(oa: Any) -> StructureType:
    value = getattr(oa, "structure_type", StructureType.UNSTRUCTURED)
    return StructureType.parse(getattr(value, "value", value))


def kernel_layers(model: Any) -> list[Any]:
    """Layers with a ``kernel`` weight of rank ≥ 2 (Dense, Conv1D/2D, …), in model order."""
    out = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and hasattr(kernel, "shape") and len(kernel.shape) >= 2:
            out.append(layer)
    return out


def output_layer_names(model: Any) -> set[str]:
    """Weighted layers whose outputs (neurons / filters) are the model's outputs.

    Walks back from every model output through layers without a kernel (activations, reshapes,
    …) to the kernel layers that produce it.  hls4ml uses "index ≥ index of the last layer with a
    kernel" (``keras/__init__.py`` L129-144), which misses the other heads of a multi-output
    model; that rule stays as the fallback when the graph cannot be walked.
    """
    layers = kernel_layers(model)
    fallback = {layers[-1].name} if layers else set()
    try:
        found: set[str] = set()
        seen: set[int] = set()
        stack = list(model.outputs)
        while stack:
            tensor = stack.pop()
            history = getattr(tensor, "_keras_history", None)
            if history is None:
                continue
            op, node_index = history[0], history[1]
            if id(op) in seen:
                continue
            seen.add(id(op))
            kernel = getattr(op, "kernel", None)
            if kernel is not None and hasattr(kernel, "shape") and len(kernel.shape) >= 2:
                found.add(op.name)
                continue
            node = op._inbound_nodes[node_index]
            stack.extend(node.input_tensors)
        return found | fallback
    except Exception:  # a model whose graph Keras does not expose (subclassed): hls4ml's rule
        return fallback


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
        except Exception as exc:  # an estimator that does not know this layer type
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


@dataclass
class LayerGroups:
    """The weight groups of one optimizable layer.

    ``ids`` has the kernel's shape (group id of every weight); ``savings`` is the resource vector
    one group saves, shape ``(M,)`` (objective units: DSPs, FLOPs, parameters, …);
    ``resources`` the layer's full resource vector, shape ``(M,)``.
    """

    name: str
    kernel_shape: tuple[int, ...]
    structure: StructureType
    ids: np.ndarray
    n_groups: int
    savings: np.ndarray
    resources: np.ndarray
    pruning: bool
    sharing: bool
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _as_vector(values: Any, name: str, what: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ModelError(f"layer {name}: objective returned invalid {what} {values!r}")
    return arr


def build_layer_groups(model: Any, attrs: dict[str, Any], objective: Any) -> list[LayerGroups]:
    """Groups and per-group savings for every optimizable layer, in model order."""
    groups: list[LayerGroups] = []
    for layer in kernel_layers(model):
        a = attrs.get(layer.name)
        if a is None or not getattr(a, "optimizable", False) or a.optimization_attributes is None:
            continue
        oa = a.optimization_attributes
        shape = tuple(int(d) for d in layer.kernel.shape)
        structure = _structure(oa)
        size = int(np.prod(shape))
        try:
            if structure is StructureType.PATTERN:
                offset = int(getattr(oa, "pattern_offset", 1))
                if offset < 1 or size % offset:
                    raise ValueError(f"pattern_offset {offset} does not divide the {size} weights")
                ids, n = group_ids(
                    shape,
                    structure,
                    reuse_factor=size // offset,
                    consecutive=int(getattr(oa, "consecutive_patterns", 1)),
                )
            elif structure is StructureType.BLOCK:
                ids, n = group_ids(shape, structure, block_shape=tuple(getattr(oa, "block_shape", (1, 1))))
            else:
                ids, n = group_ids(shape, structure)
        except ValueError as exc:
            raise ModelError(f"layer {layer.name}: {exc}") from None
        savings = _as_vector(objective.layer_savings(a), layer.name, "savings")
        resources = _as_vector(objective.layer_resources(a), layer.name, "resources")
        if savings.shape != resources.shape:
            # hls4ml's multi-objective returns a 1-element [0] saving when not pruning (D18)
            savings = np.zeros_like(resources) if not np.any(savings) else np.resize(savings, resources.shape)
        groups.append(
            LayerGroups(
                name=layer.name,
                kernel_shape=shape,
                structure=structure,
                ids=ids,
                n_groups=n,
                savings=savings,
                resources=resources,
                pruning=bool(getattr(oa, "pruning", False)),
                sharing=bool(getattr(oa, "weight_sharing", False)),
                sizes=group_sizes(ids, n),
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
        except Exception:  # layer type the estimator does not model: counts nothing
            continue
        if total is None:
            total = r.copy()
        elif r.shape == total.shape:
            total += r
    return total


# --------------------------------------------------------------------------------------------
# Selection (the knapsack)
# --------------------------------------------------------------------------------------------


def _knapsack(values: np.ndarray, weights: np.ndarray, capacity: np.ndarray, solver: str) -> np.ndarray:
    """Indices of the items kept (:func:`hls_opt.knapsack.solve_knapsack`)."""
    from hls_opt.knapsack import solve_knapsack

    _, selected = solve_knapsack(values, weights, capacity, implementation=solver)
    return np.asarray(selected, dtype=np.int64)


@dataclass
class Selection:
    """Per layer: ``keep`` (bool per group) and ``shared`` (bool per group, frozen at the group mean)."""

    keep: dict[str, np.ndarray]
    shared: dict[str, np.ndarray]


def select_groups(
    layer_groups: list[LayerGroups],
    values: dict[str, tuple[np.ndarray, np.ndarray | None]],
    sparsity: float,
    *,
    local: bool = False,
    knapsack_solver: str = "auto",
) -> Selection:
    """Keep the most valuable groups within ``(1 - sparsity)`` of the savable resources.

    ``values[name] = (prune_value, share_value)``: the value lost by pruning each group and (if
    the layer allows weight sharing) by sharing it instead, both shape ``(n_groups,)``, ≥ 0.
    The knapsack keeps groups (value = the value of keeping the group = the cheaper of the two
    losses we avoid) subject to Σ savings of kept groups ≤ ⌊(1 − s) · Σ savings of all groups⌋
    per resource dimension.  Only savable resources count (REFERENCE §7.17): groups that save
    nothing are always kept and do not enlarge the budget.  An unkept group is shared when sharing
    is allowed and loses less than pruning, else pruned.
    """
    sparsity = float(sparsity)
    keep = {g.name: np.ones(g.n_groups, dtype=bool) for g in layer_groups}
    shared = {g.name: np.zeros(g.n_groups, dtype=bool) for g in layer_groups}
    if sparsity <= 0:
        return Selection(keep, shared)

    def item_value(g: LayerGroups) -> tuple[np.ndarray, np.ndarray]:
        prune_v, share_v = values[g.name]
        prune_v = np.asarray(prune_v, dtype=np.float64)
        inf = np.full(g.n_groups, np.inf)
        pv = prune_v if g.pruning else inf
        sv = np.asarray(share_v, dtype=np.float64) if (g.sharing and share_v is not None) else inf
        use_share = sv < pv
        return np.where(use_share, sv, pv), use_share

    problems = [[g] for g in layer_groups] if local else [layer_groups]
    for members in problems:
        item_layer, item_group, vals, wts, share_flags = [], [], [], [], []
        for g in members:
            if not np.any(g.savings > 0) or not (g.pruning or g.sharing):
                continue
            v, use_share = item_value(g)
            bad = int(np.sum(~np.isfinite(v)))
            if bad:  # NaN/inf weights (diverged training) or a NaN gradient / curvature estimate
                raise DataError(f"layer {g.name}: the ranking gave {bad} non-finite value(s)")
            item_layer += [g.name] * g.n_groups
            item_group.append(np.arange(g.n_groups))
            vals.append(v)
            wts.append(np.repeat(g.savings[:, None], g.n_groups, axis=1))
            share_flags.append(use_share)
        if not vals:
            continue
        v = np.concatenate(vals)
        w = np.concatenate(wts, axis=1).astype(np.int64)
        ids = np.concatenate(item_group)
        flags = np.concatenate(share_flags)
        capacity = np.floor((1.0 - sparsity) * w.sum(axis=1) + 1e-9).astype(np.int64)
        kept = np.zeros(v.size, dtype=bool)
        kept[_knapsack(v, w, capacity, knapsack_solver)] = True
        names = np.asarray(item_layer)
        for g in members:
            sel = names == g.name
            if not np.any(sel):
                continue
            k = kept[sel]
            gi = ids[sel]
            keep[g.name][gi] = k
            shared[g.name][gi] = ~k & flags[sel]
    return Selection(keep, shared)


def masks_from_selection(
    model: Any, layer_groups: list[LayerGroups], selection: Selection
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Kernel-shaped float32 masks (1 keep, 0 frozen) and offsets (group mean where shared, else 0)."""
    masks, offsets = {}, {}
    for g in layer_groups:
        keep = selection.keep[g.name]
        shared = selection.shared[g.name]
        masks[g.name] = expand_group_mask(keep, g.ids)
        offset = np.zeros(g.kernel_shape, dtype=np.float32)
        if np.any(shared):
            means = group_means(model.get_layer(g.name).kernel.numpy(), g.ids, g.n_groups, g.sizes)
            offset = np.where(shared[g.ids], means[g.ids], 0.0).astype(np.float32)
        offsets[g.name] = offset
    return masks, offsets


def achieved_resources(
    layer_groups: list[LayerGroups], selection: Selection, total: np.ndarray
) -> np.ndarray:
    """Model resources (objective units, shape ``(M,)``) after removing/sharing the unkept groups."""
    out = np.asarray(total, dtype=np.float64).copy()
    for g in layer_groups:
        removed = int(np.sum(~selection.keep[g.name]))
        if removed and g.savings.shape == out.shape:
            out -= removed * g.savings
    return out


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
    from hls_opt.keras.ranking import group_values
    from hls_opt.objectives import get_objective

    objective = get_objective(objective)
    if ranking_metric not in SUPPORTED_METRICS:
        raise DataError(f"ranking_metric {ranking_metric!r}: expected one of {', '.join(SUPPORTED_METRICS)}")
    attrs = prepare_attributes(model, model_attributes, objective)
    groups = build_layer_groups(model, attrs, objective)
    values = group_values(model, groups, ranking_metric, data=data, loss_fn=loss_fn, normalise=not local)
    selection = select_groups(groups, values, sparsity, local=local, knapsack_solver=knapsack_solver)
    return masks_from_selection(model, groups, selection)


def _objective_name(objective: Any) -> str:
    return getattr(objective, "__name__", type(objective).__name__)
