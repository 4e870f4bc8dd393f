"""Model inspection helpers, hls4ml-compatible (hls4ml/optimization/dsp_aware_pruning/keras/utils.py).

Importing this module imports no Keras: layers are read through ``layer.kernel`` /
``layer.get_weights()`` and recognised by class name along their MRO, so calling these functions is
cheap and works on subclasses (QKeras ``QDense``/``QConv2D`` derive from the Keras classes).
Only :func:`get_model_gradients` and :func:`get_model_hessians` import Keras (and the backend's
module, :mod:`hls_opt.train.backends`), when called.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hls_opt.train.backends import native
from hls_opt.train.ranking import hessian_diagonals

__all__ = [
    "get_last_layer_with_weights",
    "get_model_gradients",
    "get_model_hessians",
    "get_model_sparsity",
    "is_prunable_layer",
    "layer_kernel",
]

#: Keras layer classes whose kernel the optimizer acts on (and their subclasses).
PRUNABLE_CLASSES = frozenset({"Dense", "Conv1D", "Conv2D"})


def is_prunable_layer(layer: Any) -> bool:
    """True for Dense / Conv1D / Conv2D layers (and subclasses) that have a kernel."""
    names = {cls.__name__ for cls in type(layer).__mro__}
    return bool(names & PRUNABLE_CLASSES) and getattr(layer, "kernel", None) is not None


def layer_kernel(layer: Any) -> np.ndarray:
    """The layer's kernel as a numpy array (Keras layout)."""
    kernel = getattr(layer, "kernel", None)
    if kernel is not None:
        try:
            return np.asarray(kernel)
        except Exception:  # a backend tensor numpy cannot read directly: fall back to get_weights
            pass
    return np.asarray(layer.get_weights()[0])


def get_model_sparsity(model: Any) -> tuple[float, dict[str, float]]:
    """Overall and per-layer fraction of kernel weights that are exactly zero.

    Counts the kernels of the layers the optimizer can act on (Dense, Conv1D, Conv2D and their
    subclasses); biases and other layers are ignored.  Overall sparsity is zeros / weights over
    all those kernels (so large layers weigh more); per-layer values are keyed by layer name.
    Returns ``(0.0, {})`` when the model has no such layer.

    ``model`` may also be an IR :class:`~hls_opt.ir.graph.Graph` (its weighted nodes are counted).

    hls4ml counts every layer that has a ``kernel`` attribute (also DepthwiseConv2D, EinsumDense…),
    which the optimizer never prunes; here only prunable layers are counted, as the API asks.
    """
    if hasattr(model, "weighted_nodes"):  # an IR graph
        kernels = [(node.name, np.asarray(node.kernel)) for node in model.weighted_nodes()]
    else:
        kernels = [(layer.name, layer_kernel(layer)) for layer in model.layers if is_prunable_layer(layer)]
    total = 0
    zeros = 0
    per_layer: dict[str, float] = {}
    for name, kernel in kernels:
        n = int(kernel.size)
        z = n - int(np.count_nonzero(kernel))
        total += n
        zeros += z
        per_layer[name] = z / n if n else 0.0
    return (zeros / total if total else 0.0), per_layer


def get_last_layer_with_weights(model: Any) -> int:
    """Index in ``model.layers`` of the last layer that has a kernel; ``len(model.layers)`` if none.

    Same definition as hls4ml (any layer with a ``kernel`` attribute): the last such layer maps to
    the labels, so its outputs are never removed.
    """
    layers = list(model.layers)
    for idx in range(len(layers) - 1, -1, -1):
        if getattr(layers[idx], "kernel", None) is not None:
            return idx
    return len(layers)


def _kernel_layer_names(model: Any) -> list[str]:
    return [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]


def get_model_gradients(model: Any, loss_fn: Any, X: Any, y: Any) -> dict[str, Any]:
    """∂loss/∂kernel for every layer with a kernel, by layer name (hls4ml's function of that name).

    As hls4ml: one forward pass on all of ``X`` with ``training=True``, the gradient of
    ``loss_fn(y, model(X))`` (summed when the loss returns one value per sample); the values are
    the Keras backend's tensors (TensorFlow, JAX or PyTorch) of the kernels' shapes.  Pass them to
    :func:`hls_opt.keras.masking.get_model_masks` as ``gradients=`` for ``metric='oracle'``.
    hls4ml asks every layer with trainable weights for a kernel (and fails on one without, e.g.
    BatchNormalization); here only layers with a kernel are included.
    """
    names = _kernel_layer_names(model)
    kernels = [model.get_layer(n).kernel for n in names]
    _, grads = native().value_and_gradients(model, kernels, loss_fn, X, y, "sum")
    return {n: g for n, g in zip(names, grads) if g is not None}


def get_model_hessians(model: Any, loss_fn: Any, X: Any, y: Any) -> dict[str, Any]:
    """The diagonal of ∂²loss/∂kernel² for every layer with a kernel, by layer name, as numpy arrays
    of the kernels' shapes (hls4ml's function of that name; ``training=False``).

    hls4ml documents the Hessian's diagonal but differentiates the summed gradient, which gives
    the Hessian's row sums H·1 (``hls4ml/optimization/dsp_aware_pruning/keras/utils.py``); here
    the diagonal itself, estimated by Hutchinson's method
    (:func:`hls_opt.train.ranking.hessian_diagonals`, on the first ``MAX_RANKING_SAMPLES`` samples;
    exact when the Hessian is diagonal).  Pass
    them to :func:`hls_opt.keras.masking.get_model_masks` as ``hessians=`` for
    ``metric='saliency'``.
    """
    names = _kernel_layer_names(model)
    return hessian_diagonals(model, names, (X, y), loss_fn)
