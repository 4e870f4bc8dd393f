"""IR :class:`~hls_opt.ir.Graph` → a new Keras model with the graph's weights.

Every layer is rebuilt from its node's Keras class and ``keras_config``, with the sizes that a pass
may have changed taken from the weights (the kernel is the truth: ``Dense.units`` and
``Conv.filters`` become ``kernel.shape[-1]``; BatchNormalization and the other shape-following
layers size themselves from their input when the model is built).  The graph is never modified.

Keras is imported inside the functions.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from hls_opt.core.precision import quantize_array
from hls_opt.core.qkeras import QKERAS_LAYERS
from hls_opt.errors import ModelError
from hls_opt.frontend.keras import _weight_keys, activation_name
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

log = logging.getLogger(__name__)

__all__ = ["to_keras_model", "layer_config"]


def layer_config(node: ir.Node) -> dict[str, Any]:
    """The Keras ``get_config()`` dict that rebuilds ``node`` with its current weights' sizes."""
    cfg = copy.deepcopy(node.keras_config)
    cfg["name"] = node.name
    if isinstance(node, ir.WeightedNode) and "kernel" in node.weights:
        n_out = int(node.kernel.shape[-1])
        if isinstance(node, ir.Dense):
            cfg["units"] = n_out
        elif isinstance(node, ir.ConvND):
            cfg["filters"] = n_out
        cfg["use_bias"] = bool(node.use_bias and "bias" in node.weights)
        if activation_name(cfg.get("activation")) != node.activation:
            cfg["activation"] = node.activation
    elif isinstance(node, ir.Activation) and node.keras_class == "Activation":
        if activation_name(cfg.get("activation")) != node.activation:
            cfg["activation"] = node.activation
    return cfg


def _layer_class(node: ir.Node) -> type:
    if node.keras_type is not None:
        return node.keras_type
    import keras

    cls = getattr(keras.layers, node.keras_class, None)
    if cls is None:
        raise ModelError(f"layer {node.name!r}: unknown Keras layer class {node.keras_class!r}")
    return cls


def _build_layer(node: ir.Node) -> Any:
    cls = _layer_class(node)
    cfg = layer_config(node)
    try:
        # The config comes from a model already in memory, so rebuilding a Lambda layer from it
        # runs no code the user did not already load; Keras' safe mode would refuse it.
        from keras.src.saving.serialization_lib import SafeModeScope
    except ImportError:  # pragma: no cover - Keras moved its private module
        return cls.from_config(cfg)
    try:
        with SafeModeScope(False):
            return cls.from_config(cfg)
    except Exception as exc:
        raise ModelError(
            f"layer {node.name!r}: cannot rebuild {node.keras_class} from its config: {exc}"
        ) from exc


def _map_refs(value: Any, tensors: list[Any]) -> Any:
    """Replace every TensorRef in a nested args structure by its tensor."""
    if isinstance(value, ir.TensorRef):
        return tensors[value.index]
    if isinstance(value, list):
        return [_map_refs(v, tensors) for v in value]
    if isinstance(value, tuple):
        return tuple(_map_refs(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _map_refs(v, tensors) for k, v in value.items()}
    return value


def _call(layer: Any, node: ir.Node, tensors: list[Any]) -> Any:
    refs = node.keras_call
    if refs is not None and _refs_in(refs) == set(range(len(tensors))):
        args, kwargs = refs
        return layer(*_map_refs(tuple(args), tensors), **_map_refs(dict(kwargs), tensors))
    # No (or stale) recorded call: one input → layer(x); several → layer([x, y, …]) (merge layers).
    return layer(tensors[0]) if len(tensors) == 1 else layer(list(tensors))


def _refs_in(value: Any) -> set[int]:
    if isinstance(value, ir.TensorRef):
        return {value.index}
    if isinstance(value, (list, tuple)):
        return set().union(*(_refs_in(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return _refs_in(list(value.values()))
    return set()


def _input_tensor(node: ir.Node) -> Any:
    import keras

    cfg = node.keras_config
    return keras.Input(
        shape=tuple(node.output_shape),
        dtype=cfg.get("dtype"),
        sparse=bool(cfg.get("sparse", False)),
        name=node.name,
    )


def _is_chain(graph: Graph) -> bool:
    nodes = graph.nodes()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1 or not isinstance(nodes[0], ir.Input):
        return False
    chained = all(n.inputs == [prev.name] for prev, n in zip(nodes, nodes[1:]))
    return chained and graph.outputs == [nodes[-1].name]


def hardware_weights(node: ir.Node) -> dict[str, np.ndarray]:
    """``node.weights`` as hls4ml's C++ stores them: a Dense/Conv's kernel and bias rounded to its
    ``weight`` / ``bias`` types (:func:`~hls_opt.core.precision.quantize_array`), others unchanged.

    hls4ml writes each weight as a decimal with as many digits as the type has fraction bits
    (``WeightVariable.update_precision``, hls4ml/model/types.py) and the C++ rounds that decimal with
    the type's mode, which is not always the type's rounding of the float; a value already on the grid
    prints exactly, so the C++ holds what the Keras model holds.  QKeras layers are left alone (their
    quantizers are the truth)."""
    weights = dict(node.weights)
    cfg = getattr(node, "config", None)
    if not isinstance(node, ir.WeightedNode) or cfg is None or node.keras_class in QKERAS_LAYERS:
        return weights
    for key, precision in (("kernel", cfg.weight), ("bias", cfg.bias)):
        if key in weights:
            original = np.asarray(weights[key])
            weights[key] = quantize_array(original, precision).astype(original.dtype)
    return weights


def _set_weights(layer: Any, node: ir.Node, quantized: bool = False) -> None:
    keys = _weight_keys(list(getattr(layer, "weights", [])))  # bare keras.ops calls have none
    if not keys and not node.weights:
        return
    weights = hardware_weights(node) if quantized else dict(node.weights)
    if isinstance(node, ir.WeightedNode) and not node.use_bias:
        weights.pop("bias", None)  # the layer was rebuilt with use_bias=False
    if set(keys) == set(weights):
        values = [weights[k] for k in keys]
    elif len(keys) == len(weights):
        values = list(weights.values())  # same count, other names (e.g. a renamed variable)
    else:
        raise ModelError(
            f"layer {node.name!r}: the rebuilt {node.keras_class} has weights {keys}, the node has "
            f"{list(weights)}"
        )
    try:
        layer.set_weights([np.asarray(v) for v in values])
    except ValueError as exc:
        raise ModelError(f"layer {node.name!r}: weights do not fit the rebuilt layer: {exc}") from exc


def to_keras_model(graph: Graph, quantized_weights: bool = False) -> Any:
    """A new ``keras.Model`` computing ``graph``, with the graph's weights written in.

    ``quantized_weights``: each Dense/Conv kernel and bias as its ``weight`` / ``bias`` type holds it
    (:func:`hardware_weights`), the weights hls4ml's C++ will hold.

    A graph read from a ``Sequential`` model that is still a chain comes back as a ``Sequential``
    with the same layer names; otherwise a functional model with the graph's inputs and outputs
    in order.  The model is not compiled.  Raises ``ModelError`` naming the layer when a layer
    cannot be rebuilt or its weights do not fit.
    """
    import keras

    if not isinstance(graph, Graph):
        raise TypeError(f"to_keras_model: expected an hls_opt Graph, got {type(graph).__name__}")
    if not graph.inputs or not graph.outputs:
        raise ModelError(f"graph {graph.name!r}: it has no inputs or no outputs")
    nodes = graph.nodes()
    layers: dict[str, Any] = {}
    if graph.sequential and _is_chain(graph):
        model = keras.Sequential(name=graph.name or None)
        model.add(_input_tensor(nodes[0]))
        for node in nodes[1:]:
            layers[node.name] = _build_layer(node)
            model.add(layers[node.name])
    else:
        tensors: dict[str, Any] = {}
        for node in nodes:
            if isinstance(node, ir.Input) or node.keras_class == "InputLayer":
                tensors[node.name] = _input_tensor(node)
                continue
            if not node.inputs:
                raise ModelError(f"layer {node.name!r}: a non-input layer without inputs")
            layers[node.name] = _build_layer(node)
            tensors[node.name] = _call(layers[node.name], node, [tensors[p] for p in node.inputs])
        inputs = [tensors[n] for n in graph.inputs]
        outputs = [tensors[n] for n in graph.outputs]
        model = keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,
            outputs=outputs[0] if len(outputs) == 1 else outputs,
            name=graph.name or None,
        )
    for node in nodes:
        if node.name in layers:
            _set_weights(layers[node.name], node, quantized_weights)
    return model
