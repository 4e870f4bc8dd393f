"""Masks in Keras: how pruned and shared weights stay that way in ``fit``.

Which groups are kept is decided elsewhere (:mod:`hls_opt.solve.pruning`, the knapsack over the
backend's cost model).  :class:`MaskConstraint` keeps pruned weights exactly zero (and shared weights at their shared
value) through ``model.fit``: Keras 3 optimizers apply ``variable.constraint`` after every update
(``keras/src/optimizers/base_optimizer.py``), and the mask is a ``keras.Variable`` so new masks
are assigned between ``fit`` calls without re-tracing.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from hls_opt.config.values import RANKING_METRICS

logger = logging.getLogger(__name__)

#: Ranking metrics understood by :func:`compute_masks` (hls4ml's four plus a diagonal-Hessian one).
SUPPORTED_METRICS = RANKING_METRICS


# --------------------------------------------------------------------------------------------
# Masked training
# --------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="hls_opt")
class MaskConstraint(keras.constraints.Constraint):
    """``w ↦ w · mask + offset`` after every optimizer step.

    ``mask`` is 1 for trainable weights and 0 for frozen ones; ``offset`` is 0 for pruned weights
    and the shared value for weight-shared ones.  Both are non-trainable ``keras.Variable`` so
    :meth:`assign` changes them inside an already traced train function.

    ``inner``: the kernel's own constraint (QKeras layers clip their kernels to the quantizer's
    range, ``Clip`` in ``qkeras/qlayers.py``), applied first so that masking does not drop it.
    """

    def __init__(self, mask: Any, offset: Any = None, inner: Any = None) -> None:
        mask = np.asarray(mask, dtype="float32")
        offset = np.zeros_like(mask) if offset is None else np.asarray(offset, dtype="float32")
        self.mask = keras.Variable(mask, trainable=False, dtype="float32", name="hls_opt_mask")
        self.offset = keras.Variable(offset, trainable=False, dtype="float32", name="hls_opt_offset")
        if isinstance(inner, dict):
            inner = keras.constraints.deserialize(inner)
        self.inner = inner

    def __call__(self, w: Any) -> Any:
        if self.inner is not None:
            w = self.inner(w)
        return w * keras.ops.cast(self.mask, w.dtype) + keras.ops.cast(self.offset, w.dtype)

    def assign(self, mask: np.ndarray, offset: np.ndarray | None = None) -> None:
        mask = np.asarray(mask, dtype="float32")
        self.mask.assign(mask)
        self.offset.assign(np.zeros_like(mask) if offset is None else np.asarray(offset, dtype="float32"))

    def get_config(self) -> dict[str, Any]:
        config = {
            "mask": np.asarray(self.mask.numpy()).tolist(),
            "offset": np.asarray(self.offset.numpy()).tolist(),
        }
        if self.inner is not None:
            config["inner"] = keras.constraints.serialize(self.inner)
        return config


def attach_mask_constraints(model: Any, names: list[str]) -> dict[str, MaskConstraint]:
    """Give each named layer's kernel an all-ones :class:`MaskConstraint` (wrapping the kernel's own
    constraint, if any); returns them by layer name.

    The constraint is set on the variable (what the optimizer reads) *and* on the layer attribute
    (what ``get_config`` serialises).  Call ``model.make_train_function(force=True)`` afterwards if
    the model was already fit.
    """
    constraints = {}
    for name in names:
        layer = model.get_layer(name)
        inner = getattr(layer.kernel, "constraint", None)
        if isinstance(inner, MaskConstraint):  # attached before: keep what it wrapped
            inner = inner.inner
        constraint = MaskConstraint(np.ones(tuple(layer.kernel.shape), dtype="float32"), inner=inner)
        layer.kernel.constraint = constraint
        if hasattr(layer, "kernel_constraint"):
            layer.kernel_constraint = constraint
        constraints[name] = constraint
    return constraints


def masks_as_optimizer_state(optimizer: Any, constraints: dict[str, MaskConstraint], kernels: dict[str, Any]) -> None:
    """Move each constraint's mask and offset into ``optimizer``'s variables, with their current values:
    ``add_variable_from_reference`` (Keras' public optimizer API) of the layer's kernel
    (``kernels[name]``), so each has its kernel's shape *and layout* — under a ``ModelParallel``
    distribution a mask is sharded like the kernel it masks, under ``DataParallel`` replicated.

    For the backends whose traced train function reads a ``keras.Variable`` outside the model and
    optimizer state as a constant of the trace (JAX: ``optimizer.stateless_apply`` maps only the
    trainable and optimizer variables, ``keras/src/optimizers/base_optimizer.py``): as optimizer
    state, a mask assigned between ``fit`` calls reaches the already compiled train step, so a new
    mask costs no new trace.  Build the optimizer first (``optimizer.build``): a jitted step laid
    out under a distribution expects the optimizer's variables as they were when it was made.
    The variables' names end in ``hls_opt_mask`` / ``hls_opt_offset`` (kept by a moment reset)."""
    for name, constraint in constraints.items():
        for attr in ("mask", "offset"):
            old = getattr(constraint, attr)
            new = optimizer.add_variable_from_reference(kernels[name], name=f"hls_opt_{attr}")
            new.assign(old.numpy())
            setattr(constraint, attr, new)


def apply_masks(model: Any, masks: dict[str, np.ndarray], offsets: dict[str, np.ndarray]) -> None:
    """Set ``kernel ← kernel · mask + offset`` now (the constraint only acts after optimizer steps)."""
    for name, mask in masks.items():
        layer = model.get_layer(name)
        kernel = np.asarray(layer.kernel.numpy())
        layer.kernel.assign(kernel * mask + offsets.get(name, 0.0))


# --------------------------------------------------------------------------------------------
# The model's layers


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
    except (AttributeError, IndexError, TypeError):  # a graph Keras does not expose (subclassed): hls4ml's rule
        return fallback
