"""Model reduction on the IR: remove pruned neurons / filters and resize the layers after them.

hls4ml's ``reduce_model`` (``hls4ml/optimization/dsp_aware_pruning/keras/reduction.py``) hands the
all-zero output columns of every Dense / Conv2D layer before the last weighted layer to
keras-surgeon, which deletes them and the matching inputs of the next layer, and simply drops the
biases of the removed units -- the constant ``act(bias)`` those units fed downstream is lost and
the reduced model predicts differently until it is retrained (``reduce_model`` queues only
``delete_channels`` jobs; nothing carries the bias forward).
keras-surgeon has no Keras 3 version; this is a native replacement that keeps predictions equal.

What :func:`reduce_graph` does, for every Dense / Conv1D / Conv2D node ``P`` in topological order:

1. A unit ``j`` of ``P`` (Dense neuron, conv filter) is a *candidate* when its kernel column /
   filter is all zero: its output is then the constant ``c_j = act(bias_j)`` (``act(0)`` without
   a bias -- not always 0, ``sigmoid(0) = 0.5``) at every position.
2. Every path from ``P`` is followed through layers that act on each channel separately --
   standalone element-wise activations, Dropout, BatchNormalization (last axis), pooling
   (channels-last) and Flatten -- carrying, for every feature of the last axis, which unit of
   ``P`` it comes from and the constant it carries when that unit is removed.  A path must end at
   a consumer that can drop input features: a Dense (its kernel rows) or a Conv1D/Conv2D (its
   kernel's input-channel axis).  Through a (channels-last) Flatten of an ``S × C`` map, unit
   ``j`` owns the ``|S|`` flat features ``p·C + j``.
3. The removed unit's constant is folded into the consumer's bias, so the reduced model computes
   exactly what the masked model did: Dense ``b += Σ_f c_f · W[f, :]`` over the removed features
   ``f``; a 'valid' convolution ``b += Σ_j c_j · Σ_taps W[…, j, :]`` (every output position sees
   the constant on every tap).  A 'same' / 'causal' convolution sees zero padding at the borders,
   so the constant does not reach every output equally: there a unit is removed only when its
   constant is exactly zero.  A consumer without a bias gets one when something non-zero is folded.
4. A unit is removed only when *every* path from ``P`` allows it.  Anything else stops the
   removal of all of ``P``'s units: a graph output (so the last weighted layer is never reduced,
   as in hls4ml), Add, Concatenate, Reshape, Softmax (not element-wise), activations whose
   formula is unknown here, channels-first layouts, Opaque layers.  At least one unit of every
   layer is kept.

Because nodes are visited in topological order on the already-resized graph, a downstream unit
whose only non-zero weights read removed units becomes all-zero after the fold and is removed too
(hls4ml's reduction only looks at the masked kernels).

No TensorFlow or Keras import: the graph holds numpy arrays.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

logger = logging.getLogger(__name__)

__all__ = ["reduce_graph", "removable_units", "activation_function"]

# -- element-wise activations ------------------------------------------------------------------
# Keras 3's definitions (keras/src/activations/activations.py), in float64 numpy.  Only what is
# needed to compute the constant a removed unit feeds downstream.

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)  # Keras 3: relu6(x + 3) / 6


def _gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _relu_layer(
    x: np.ndarray, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0
) -> np.ndarray:
    # keras.layers.ReLU: x >= max_value → max_value; threshold <= x < max_value → x;
    # otherwise negative_slope · (x − threshold).
    out = np.where(x >= threshold, x, negative_slope * (x - threshold))
    if max_value is not None:
        out = np.minimum(out, max_value)
    return out


_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
    "exponential": np.exp,
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x),
    "gelu": _gelu,
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),  # keras.activations.leaky_relu default
}


def activation_function(name: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """numpy version of a Keras element-wise activation by name; ``None`` when unknown here."""
    return _ACTIVATIONS.get(str(name).lower() if name is not None else "linear")


def _standalone_activation(node: ir.Activation) -> Callable[[np.ndarray], np.ndarray] | None:
    """The element-wise function of an activation layer, with its config; ``None`` if not element-wise."""
    cfg = node.keras_config
    if node.keras_class == "ReLU":
        return lambda x: _relu_layer(
            x,
            negative_slope=float(cfg.get("negative_slope") or 0.0),
            max_value=None if cfg.get("max_value") is None else float(cfg["max_value"]),
            threshold=float(cfg.get("threshold") or 0.0),
        )
    if node.keras_class == "LeakyReLU":
        slope = float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))
        return lambda x: np.where(x >= 0, x, slope * x)
    if node.keras_class == "ELU":
        alpha = float(cfg.get("alpha", 1.0))
        return lambda x: _elu(x, alpha)
    if node.keras_class == "Activation":
        return activation_function(node.activation)
    return None  # Softmax and anything else: not element-wise / not known


# -- tracing the paths from one layer ----------------------------------------------------------


@dataclass
class _Step:
    """One node on a path from the reduced layer, with the last-axis features it receives.

    ``owner[f]``: the unit of the reduced layer that input feature ``f`` comes from.
    ``const[f]``: the value feature ``f`` has (everywhere) when that unit is removed.
    ``kind``: 'pass' (a channel-wise layer the path continues through) or 'consumer'.
    """

    node: ir.Node
    kind: str
    owner: np.ndarray
    const: np.ndarray


def _channels_last(node: ir.Node) -> bool:
    return str(node.keras_config.get("data_format") or "channels_last") == "channels_last"


def _bn_last_axis(node: ir.Node) -> bool:
    axis = node.keras_config.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            return False
        axis = axis[0]
    return int(axis) in (-1, len(node.input_shape))


def _bn_apply(node: ir.Node, x: np.ndarray) -> np.ndarray:
    """BatchNormalization at inference on per-feature values ``x`` (features index the params)."""
    w = node.weights
    n = x.shape[0]
    eps = float(node.keras_config.get("epsilon", 1e-3))
    mean = np.asarray(w.get("moving_mean", np.zeros(n)), dtype=np.float64)
    var = np.asarray(w.get("moving_variance", np.ones(n)), dtype=np.float64)
    gamma = np.asarray(w.get("gamma", np.ones(n)), dtype=np.float64)
    beta = np.asarray(w.get("beta", np.zeros(n)), dtype=np.float64)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _trace(graph: Graph, source: ir.WeightedNode, const: np.ndarray) -> tuple[np.ndarray, list[_Step]]:
    """Follow every path from ``source``; return (per-unit may-remove mask, steps to apply)."""
    n_units = const.shape[0]
    allowed = np.isfinite(const)
    none = np.zeros(n_units, dtype=bool)
    steps: list[_Step] = []
    outputs = set(graph.outputs)
    stack: list[tuple[ir.Node, np.ndarray, np.ndarray]] = [(source, np.arange(n_units), const)]
    while stack:
        node, owner, values = stack.pop()
        if node.name in outputs:
            return none, []  # the graph's output would change shape
        consumers = graph.successors(node)
        if not consumers:
            return none, []
        for nxt in consumers:
            if nxt.inputs != [node.name]:
                return none, []  # merge layers (Add, Concatenate…) or a doubled input
            if isinstance(nxt, ir.Dense):
                if nxt.kernel.shape[0] != owner.shape[0]:
                    return none, []
                steps.append(_Step(nxt, "consumer", owner, values))
            elif isinstance(nxt, (ir.Conv1D, ir.Conv2D)):
                # Only before any Flatten: features are still the channels of the reduced layer.
                if not _channels_last(nxt) or nxt.kernel.shape[-2] != owner.shape[0]:
                    return none, []
                if not np.array_equal(owner, np.arange(n_units)):
                    return none, []
                if str(nxt.padding).lower() != "valid":
                    # Zero padding: borders see less of the constant, it cannot become a bias.
                    allowed &= values == 0
                steps.append(_Step(nxt, "consumer", owner, values))
            elif isinstance(nxt, ir.Dropout):
                steps.append(_Step(nxt, "pass", owner, values))
                stack.append((nxt, owner, values))
            elif isinstance(nxt, ir.Activation):
                fn = _standalone_activation(nxt)
                if fn is None:
                    return none, []
                with np.errstate(all="ignore"):
                    out = np.asarray(fn(values), dtype=np.float64)
                allowed &= _per_unit(np.isfinite(out), owner, n_units)
                steps.append(_Step(nxt, "pass", owner, values))
                stack.append((nxt, owner, out))
            elif isinstance(nxt, ir.BatchNormalization):
                if not _bn_last_axis(nxt):
                    return none, []
                out = _bn_apply(nxt, values)
                allowed &= _per_unit(np.isfinite(out), owner, n_units)
                steps.append(_Step(nxt, "pass", owner, values))
                stack.append((nxt, owner, out))
            elif isinstance(nxt, ir.Pooling):
                # Max / average of a constant map is the constant (Keras' 'same' average pooling
                # divides by the number of real inputs), per channel.
                if not _channels_last(nxt) or len(owner) != n_units:
                    return none, []
                steps.append(_Step(nxt, "pass", owner, values))
                stack.append((nxt, owner, values))
            elif isinstance(nxt, ir.Flatten):
                spatial = nxt.input_shape[:-1]
                if not _channels_last(nxt) or any(d is None for d in spatial) or len(owner) != n_units:
                    return none, []
                # Channels-last flatten: flat index p·C + c holds channel c at position p.
                reps = int(np.prod(spatial)) if spatial else 1
                steps.append(_Step(nxt, "pass", owner, values))
                stack.append((nxt, np.tile(owner, reps), np.tile(values, reps)))
            else:
                return none, []
    return allowed, steps


def _per_unit(feature_ok: np.ndarray, owner: np.ndarray, n_units: int) -> np.ndarray:
    """A unit is fine when all the features it owns are."""
    bad = np.zeros(n_units, dtype=bool)
    bad[owner[~feature_ok]] = True
    return ~bad


def removable_units(graph: Graph, node: ir.Node) -> np.ndarray:
    """Indices (ascending) of ``node``'s output units that :func:`reduce_graph` would remove now."""
    const = _unit_constants(node)
    if const is None:
        return np.zeros(0, dtype=np.int64)
    allowed, _ = _trace(graph, node, const)
    return np.flatnonzero(_zero_units(node) & allowed)


def _unit_constants(node: ir.Node) -> np.ndarray | None:
    """``act(bias)`` per unit: what a unit with an all-zero kernel outputs; ``None`` if unknown."""
    if not isinstance(node, (ir.Dense, ir.Conv1D, ir.Conv2D)) or "kernel" not in node.weights:
        return None
    if isinstance(node, ir.ConvND) and not _channels_last(node):
        return None
    fn = activation_function(node.activation)
    if fn is None:
        return None
    n_out = node.kernel.shape[-1]
    bias = node.weights.get("bias") if node.use_bias else None
    pre = np.zeros(n_out) if bias is None else np.asarray(bias, dtype=np.float64).reshape(n_out)
    with np.errstate(all="ignore"):
        return np.asarray(fn(pre), dtype=np.float64)


def _zero_units(node: ir.WeightedNode) -> np.ndarray:
    kernel = node.kernel
    return ~np.asarray(kernel).reshape(-1, kernel.shape[-1]).any(axis=0)


# -- applying a removal ------------------------------------------------------------------------


def _set_last_dim(shape: tuple, size: int) -> tuple:
    return (*tuple(shape)[:-1], size) if shape else shape


def _apply(node: ir.WeightedNode, removed: np.ndarray, steps: list[_Step]) -> None:
    """Remove units ``removed`` from ``node`` and resize / fold along ``steps`` (nodes mutated)."""
    n_units = node.kernel.shape[-1]
    keep_units = np.ones(n_units, dtype=bool)
    keep_units[removed] = False
    new_units = int(keep_units.sum())

    node.weights["kernel"] = np.ascontiguousarray(node.kernel[..., keep_units])
    if "bias" in node.weights:
        node.weights["bias"] = np.ascontiguousarray(node.weights["bias"][keep_units])
    if isinstance(node, ir.Dense):
        node.units = new_units
        node.keras_config["units"] = new_units
    else:
        node.filters = new_units
        node.keras_config["filters"] = new_units
    node.output_shape = _set_last_dim(node.output_shape, new_units)

    for step in steps:
        keep = keep_units[step.owner]  # per input feature of this step's node
        target = step.node
        target.input_shapes = [_set_last_dim(target.input_shape, int(keep.sum()))]
        if step.kind == "pass":
            if isinstance(target, ir.BatchNormalization):
                for key, value in list(target.weights.items()):
                    target.weights[key] = np.ascontiguousarray(np.asarray(value)[keep])
            if isinstance(target, ir.Flatten):
                target.output_shape = (int(np.prod(target.input_shape)),)
            else:
                target.output_shape = _set_last_dim(target.output_shape, int(keep.sum()))
            continue
        _fold_and_slice(target, keep, step.const)


def _fold_and_slice(consumer: ir.WeightedNode, keep: np.ndarray, const: np.ndarray) -> None:
    """Add the removed input features' constant contribution to the bias; drop their kernel rows."""
    kernel = np.asarray(consumer.kernel)
    gone = ~keep
    # Per removed input feature: the sum of its weights over all taps (Dense: one tap), so that a
    # constant input c contributes c · that sum to every output (valid convolutions: every position).
    per_feature = kernel.reshape(-1, kernel.shape[-2], kernel.shape[-1]).sum(axis=0, dtype=np.float64)
    delta = const[gone] @ per_feature[gone] if gone.any() else np.zeros(kernel.shape[-1])
    if np.any(delta != 0):
        bias = consumer.weights.get("bias") if consumer.use_bias else None
        if bias is None:
            bias = np.zeros(kernel.shape[-1], dtype=kernel.dtype)
            consumer.use_bias = True
            consumer.keras_config["use_bias"] = True
        consumer.weights["bias"] = (np.asarray(bias, dtype=np.float64) + delta).astype(np.asarray(bias).dtype)
    consumer.weights["kernel"] = np.ascontiguousarray(kernel[..., keep, :])


def reduce_graph(graph: Graph) -> tuple[Graph, dict[str, int]]:
    """Remove all-zero neurons / filters and resize the layers after them (see the module doc).

    Returns ``(reduced, removed)``: a new graph (``graph`` is not modified) whose kernels, biases,
    BatchNormalization parameters, ``keras_config['units' / 'filters' / 'use_bias']`` and shapes
    match the smaller layers, and ``{layer name: number of units removed}`` for every layer that
    lost at least one unit (neurons for Dense, filters for convolutions).  Node names and
    connectivity are unchanged.  The reduced graph computes the same function as the input graph
    (up to float rounding of the folded biases).
    """
    reduced = graph.copy()
    removed: dict[str, int] = {}
    for node in reduced.nodes():
        const = _unit_constants(node)
        if const is None:
            continue
        candidates = _zero_units(node)
        if not candidates.any():
            continue
        allowed, steps = _trace(reduced, node, const)
        gone = np.flatnonzero(candidates & allowed)
        if gone.size == node.kernel.shape[-1]:
            gone = gone[1:]  # keep one unit: a layer cannot have zero outputs
        if gone.size == 0:
            logger.debug("reduce: %s: %d all-zero units cannot be removed", node.name, int(candidates.sum()))
            continue
        _apply(node, gone, steps)
        removed[node.name] = int(gone.size)
    return reduced, removed
