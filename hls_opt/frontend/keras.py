"""Keras 3 model → IR :class:`~hls_opt.ir.Graph`.

Connectivity is read from the model's symbolic tensors: starting at ``model.outputs`` every
``KerasTensor._keras_history`` names the layer that produced it and the call ("node") of that
layer, whose ``arguments`` hold the input tensors in call order.  This is Keras 3's own record of
the graph (``keras/src/ops/node.py``) and works the same for ``Sequential`` (once built) and
functional models; it only sees the calls that belong to *this* model, unlike
``layer._inbound_nodes`` which also lists calls made in other models.

Keras is imported inside the functions so that ``import hls_opt.frontend.keras`` stays cheap.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.config import LayerConfig, hls4ml_layers, layer_precision, load_config, resolve_layer_config
from hls_opt.core.precision import Precision
from hls_opt.core.qkeras import (
    QKERAS_LAYERS,
    UnsupportedQuantizer,
    activation_precision,
    quantizer_config,
    quantizer_name,
    weight_precision,
)
from hls_opt.core.tf_probe import without_tensorflow_probe
from hls_opt.errors import ModelError
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

log = logging.getLogger(__name__)

__all__ = ["check_flat_model", "from_keras", "is_keras_model"]

# Keras class name → IR node type, for Keras' own layer classes only (exact class match: a user
# subclass of Dense may compute something else, so it stays Opaque).
_ACTIVATION_LAYERS = {
    "Activation": None,  # the name is in the config
    "ReLU": "relu",
    "Softmax": "softmax",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
}
_POOLING_LAYERS = {
    "MaxPooling1D": ("max", False),
    "MaxPooling2D": ("max", False),
    "AveragePooling1D": ("average", False),
    "AveragePooling2D": ("average", False),
    "GlobalMaxPooling1D": ("max", True),
    "GlobalMaxPooling2D": ("max", True),
    "GlobalAveragePooling1D": ("average", True),
    "GlobalAveragePooling2D": ("average", True),
}
_SIMPLE_LAYERS: dict[str, type[ir.Node]] = {
    "InputLayer": ir.Input,
    "BatchNormalization": ir.BatchNormalization,
    "Flatten": ir.Flatten,
    "Reshape": ir.Reshape,
    "Dropout": ir.Dropout,
    "Add": ir.Add,
}
_CONV_LAYERS: dict[str, type[ir.ConvND]] = {"Conv1D": ir.Conv1D, "Conv2D": ir.Conv2D}


def is_keras_model(obj: object) -> bool:
    """True when ``obj`` is a Keras 3 model (imports Keras)."""
    import keras

    return isinstance(obj, keras.Model)


def _resolve_config(hls_config: Mapping | None, layer: Any) -> LayerConfig:
    """The layer's resolved hls4ml settings (LayerName > LayerType > Model, hls4ml defaults).

    ``LayerType`` entries are keyed by hls4ml's class name (``Flatten`` → ``Reshape``,
    ``MaxPooling2D`` → ``Pooling2D``…), which ``hls4ml_layers`` knows.  An activation hls4ml
    splits off the layer (``d`` → ``d_relu``) is resolved too: its result type is what the next
    layer multiplies (``LayerConfig.activation_result``).
    """
    try:
        entries = hls4ml_layers(layer)
    except Exception:  # an exotic layer: its Keras class name is the best key we have
        entries = [(layer.name, type(layer).__name__)]
    config = resolve_layer_config(hls_config, layer.name, entries[0][1])
    if len(entries) > 1:
        act_name, act_class = entries[1]
        act_result = resolve_layer_config(hls_config, act_name, act_class).result
        config = dataclasses.replace(config, activation_result=act_result)
    return config


def activation_name(value: Any) -> str:
    """A Keras activation setting (string, serialized dict or function) as a plain name."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        inner = value.get("config")
        if isinstance(inner, str):  # {'class_name': 'function', 'config': 'relu', ...}
            return inner
        if isinstance(inner, Mapping) and "name" in inner:
            return str(inner["name"])
        return str(value.get("class_name", "custom"))
    return str(getattr(value, "__name__", type(value).__name__))


def _shape(tensor: Any) -> tuple:
    """Shape of a symbolic tensor without the batch dimension (unknown sizes stay ``None``)."""
    return tuple(None if d is None else int(d) for d in tuple(tensor.shape)[1:])


def _weight_keys(variables: list[Any]) -> list[str]:
    """Keras' short variable names (``kernel``, ``bias``, ``gamma``…), made unique by a suffix."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for var in variables:
        base = str(getattr(var, "name", "w")).split("/")[-1].split(":")[0]
        count = seen.get(base, 0)
        seen[base] = count + 1
        keys.append(base if count == 0 else f"{base}_{count}")
    return keys


def layer_weights(layer: Any) -> dict[str, np.ndarray]:
    """Copies of a layer's weights keyed by Keras' names, in the layer's ``weights`` order.

    A bare ``keras.ops`` operation has no weights: ``{}``.
    """
    if not hasattr(layer, "get_weights"):
        return {}
    keys = _weight_keys(list(layer.weights))
    return {k: np.array(v, copy=True) for k, v in zip(keys, layer.get_weights())}


def _collect_calls(model: Any) -> list[tuple[Any, Any]]:
    """``(layer, keras_node)`` for every layer call reachable from the model's outputs.

    Returned in a topological order that follows ``model.layers`` where it can.
    """
    import keras

    try:
        outputs = keras.tree.flatten(model.outputs)
        inputs = keras.tree.flatten(model.inputs)
    except (AttributeError, ValueError) as exc:
        raise ModelError(
            f"model {model.name!r}: it is not built (no inputs/outputs yet); give it an Input or call it once"
        ) from exc
    calls: dict[str, tuple[Any, Any]] = {}
    post_order: list[str] = []
    finished: set[str] = set()
    # Iterative depth-first walk (deep models would overflow recursion).
    # The inputs are walked too (first), so an input no output depends on still gets its node.
    stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(outputs)]
    stack += [(t, False) for t in reversed(inputs)]
    while stack:
        tensor, expanded = stack.pop()
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            raise ModelError(f"model {model.name!r}: a tensor without Keras history; cannot trace the graph")
        op, node_index, tensor_index = history
        if not isinstance(op, keras.Operation):
            raise ModelError(f"model {model.name!r}: {type(op).__name__} {op!r} is not a Keras operation")
        if tensor_index != 0 or len(op._inbound_nodes[node_index].outputs) != 1:
            raise ModelError(f"layer {op.name!r}: layers with several outputs are not supported")
        knode = op._inbound_nodes[node_index]
        if op.name in calls:
            if calls[op.name][1] is not knode:
                raise ModelError(f"layer {op.name!r}: called more than once in the model (shared layers)")
            if not expanded:
                continue
        if expanded:
            if op.name not in finished:
                finished.add(op.name)
                post_order.append(op.name)
            continue
        calls[op.name] = (op, knode)
        stack.append((tensor, True))
        for t in reversed(knode.arguments.keras_tensors):
            stack.append((t, False))
    # Prefer model.layers' order (Keras keeps it topological); fall back to the walk's order.
    # ``operations`` also lists bare keras.ops calls; ``layers`` does not.
    rank = {op.name: i for i, op in enumerate(getattr(model, "operations", None) or model.layers)}
    walk = {n: i for i, n in enumerate(post_order)}
    ordered = sorted(post_order, key=lambda n: (rank.get(n, -1), walk[n]))
    position = {n: i for i, n in enumerate(ordered)}
    topological = all(
        position[t._keras_history.operation.name] < position[name]
        for name in ordered
        for t in calls[name][1].arguments.keras_tensors
    )
    if not topological:
        ordered = post_order
    return [calls[n] for n in ordered]


def is_qkeras_layer(layer: Any) -> bool:
    """A QKeras layer hls-opt models (``QKERAS_LAYERS``: QDense, QConv1D/2D, QActivation,
    QBatchNormalization), by exact class (a user subclass may compute something else)."""
    cls = type(layer)
    return cls.__module__.split(".")[0] == "qkeras" and cls.__name__ in QKERAS_LAYERS


def _quantized_config(config: LayerConfig, layer: Any, cfg: Mapping, hls_config: Mapping | None) -> LayerConfig:
    """The layer's config with the types its QKeras quantizers give it, as hls4ml builds it.

    * ``weight`` / ``bias`` (``kernel_quantizer`` / ``bias_quantizer``): the quantizer's type
      replaces the configured one at every level — hls4ml's ``Layer.add_weights_variable``
      (``hls4ml/model/layers.py``) sets ``precision = quantizer.hls_type`` whatever the config says.
    * ``result`` of a QActivation, ``activation_result`` of a layer whose ``activation`` is a
      quantizer: a precision the config gives that layer by ``LayerName`` / ``LayerType`` wins
      (hls4ml reads the result type from the config only); otherwise the quantizer's type, which is
      what hls4ml's ``config_from_keras_model`` writes for it (``docs/compat.md``).

    Raises :class:`~hls_opt.core.qkeras.UnsupportedQuantizer` for a quantizer without a fixed-point type.
    """
    changes: dict[str, Any] = {}
    for variable, key in (("weight", "kernel_quantizer"), ("bias", "bias_quantizer")):
        quantized = weight_precision(cfg.get(key))
        if quantized is None:
            continue
        if quantized != getattr(config, variable):
            log.debug("layer %r: %s precision %s from its %s (hls4ml: the quantizer overrides the config)",
                      layer.name, variable, quantized, key)
        changes[variable] = quantized
    entries = hls4ml_layers(layer)
    activation = getattr(layer, "activation", None)
    if type(layer).__name__ == "QActivation":
        given = layer_precision(hls_config, entries[0][0], entries[0][1], "result")
        changes["result"] = given or activation_precision(activation) or config.result
    elif len(entries) > 1 and quantizer_name(cfg.get("activation")) not in (None, "linear"):
        act_name, act_class = entries[1]
        given = layer_precision(hls_config, act_name, act_class, "result")
        quantized = activation_precision(cfg.get("activation"))
        if given or quantized:
            changes["activation_result"] = given or quantized
    return dataclasses.replace(config, **changes) if changes else config


def _qactivation_name(value: Any) -> str:
    """A QActivation's activation as hls4ml names it: the quantizer class without ``quantized_``
    (``quantized_relu`` → ``relu``; ``get_activation_quantizer``, hls4ml/converters/keras/qkeras.py)."""
    if isinstance(value, str) and "(" not in value:
        return value
    name = quantizer_name(value) or "linear"
    return "linear" if name == "quantized_bits" else name.replace("quantized_", "")


#: HGQ2 layer class (package ``hgq``) → the Keras class hls4ml builds it as
HGQ2_LAYERS = {"QDense": "Dense", "QConv1D": "Conv1D", "QConv2D": "Conv2D"}


def is_hgq2_layer(layer: Any) -> bool:
    """An HGQ2 layer hls-opt models (:data:`HGQ2_LAYERS`, exact class in the ``hgq`` package)."""
    cls = type(layer)
    return cls.__module__.split(".")[0] == "hgq" and cls.__name__ in HGQ2_LAYERS


def _kif_bits(quantizer: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An HGQ2 quantizer's (k, integer bits with the sign, width) per element, broadcast to ``shape``."""
    import keras

    k, i, f = (np.broadcast_to(np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64), shape) for v in getattr(quantizer, "quantizer", quantizer).kif)
    # no magnitude bits (HGQ2's kbi quantizer at b = 0) is a weight hls4ml writes as 0, whatever k says
    width = np.where(i + f > 0, k + i + f, 0.0)
    return k, k + i, width


def _hgq2_precision(quantizer: Any, shape: tuple[int, ...], key: str) -> tuple[Precision | None, np.ndarray]:
    """The widest type of an HGQ2 quantizer's elements (what a shared multiplier must hold) and the
    width of each element; ``None`` when every element has 0 bits."""
    k, integer, width = _kif_bits(quantizer, shape)
    live = width > 0
    if not live.any():
        return None, width
    return Precision(width=int(np.max(width[live])), integer=int(np.max(integer[live])),
                     signed=bool(np.any(k[live] > 0))), width


def _hgq2_config(config: LayerConfig, layer: Any) -> tuple[LayerConfig, np.ndarray]:
    """``config`` with the weight and bias types of an HGQ2 layer's quantizers (they override the
    config, as HGQ2's quantizers do in hls4ml), and the kernel's per-weight widths."""
    kernel_shape = tuple(int(d) for d in layer.kernel.shape)
    weight, bits = _hgq2_precision(layer.kq, kernel_shape, f"{layer.name}.kernel")
    changes: dict[str, Any] = {"weight": weight if weight is not None else Precision(width=1, integer=1)}
    if getattr(layer, "bias", None) is not None and getattr(layer, "bq", None) is not None:
        bias, _ = _hgq2_precision(layer.bq, tuple(int(d) for d in layer.bias.shape), f"{layer.name}.bias")
        if bias is not None:
            changes["bias"] = bias
    return dataclasses.replace(config, **changes), np.asarray(bits)


def _make_node(layer: Any, knode: Any, hls_config: Mapping | None) -> ir.Node:
    import keras

    class_name = type(layer).__name__
    # Only Keras' own layer classes (and QKeras' modelled ones) get typed nodes; bare keras.ops
    # operations stay Opaque.
    builtin = type(layer).__module__.startswith("keras.") and isinstance(layer, keras.layers.Layer)
    qkeras = is_qkeras_layer(layer)
    hgq2 = is_hgq2_layer(layer)
    producers = [t._keras_history.operation.name for t in knode.arguments.keras_tensors]
    index = {id(t): i for i, t in enumerate(knode.arguments.keras_tensors)}

    def ref(x: Any) -> Any:
        return ir.TensorRef(index[id(x)]) if isinstance(x, keras.KerasTensor) else copy.deepcopy(x)

    args, kwargs = knode.arguments.convert(ref)
    try:
        keras_config = copy.deepcopy(layer.get_config())
    except Exception as exc:  # a custom layer without a usable get_config: readable, not rebuildable
        log.warning("layer %r: get_config() failed (%s); the emitter cannot rebuild it", layer.name, exc)
        keras_config = {"name": layer.name}
        builtin = False
    common: dict[str, Any] = dict(
        name=layer.name,
        inputs=producers,
        input_shapes=[_shape(t) for t in knode.arguments.keras_tensors],
        output_shape=_shape(knode.outputs[0]),
        keras_class=class_name,
        keras_config=keras_config,
        weights=layer_weights(layer),
        config=_resolve_config(hls_config, layer),
        keras_type=type(layer),
        keras_call=(tuple(args), dict(kwargs)),
    )
    cfg = common["keras_config"]
    if qkeras:
        try:
            common["config"] = _quantized_config(common["config"], layer, cfg, hls_config)
        except (UnsupportedQuantizer, ModelError) as exc:
            log.warning("layer %r: %s; it is left as an opaque layer", layer.name, exc)
            return ir.Opaque(**common, param_count=_count_params(layer))
        if class_name == "QActivation":
            return ir.Activation(**common, activation=_qactivation_name(cfg.get("activation")))
        class_name = QKERAS_LAYERS[class_name]  # modelled as the Keras layer hls4ml builds it as
    elif hgq2:
        common["config"], weight_bits = _hgq2_config(common["config"], layer)
        class_name = HGQ2_LAYERS[class_name]
    elif not builtin:
        return ir.Opaque(**common, param_count=_count_params(layer))
    # A kernel with company (LoRA factors, int8 scales…) is not the plain matrix the resource
    # models and passes assume: such layers stay Opaque.
    # (An HGQ2 layer's other weights are its quantizers' bit widths and EBOPs state, kept for the round trip.)
    plain_kernel = "kernel" in common["weights"] and (hgq2 or set(common["weights"]) <= {"kernel", "bias"})
    # A QKeras kernel quantizer travels with the node: the cost models count the weights it zeroes;
    # so do an HGQ2 kernel's per-weight widths (a weight at 0 bits is 0).
    quantized = {"weight_quantizer": quantizer_config(cfg.get("kernel_quantizer"))} if qkeras else {}
    if hgq2:
        quantized = {"weight_bits": weight_bits}
    if class_name == "Dense" and plain_kernel:
        return ir.Dense(
            **common,
            **quantized,
            activation=activation_name(cfg.get("activation")),
            use_bias=bool(cfg.get("use_bias", True)),
            units=int(cfg["units"]),
        )
    if class_name in _CONV_LAYERS and plain_kernel and int(cfg.get("groups", 1)) == 1:
        return _CONV_LAYERS[class_name](
            **common,
            **quantized,
            activation=activation_name(cfg.get("activation")),
            use_bias=bool(cfg.get("use_bias", True)),
            filters=int(cfg["filters"]),
            kernel_size=tuple(int(k) for k in cfg["kernel_size"]),
            strides=tuple(int(s) for s in cfg["strides"]),
            padding=str(cfg.get("padding", "valid")),
        )
    if class_name in _ACTIVATION_LAYERS:
        name = _ACTIVATION_LAYERS[class_name] or activation_name(cfg.get("activation"))
        return ir.Activation(**common, activation=name)
    if class_name in _POOLING_LAYERS:
        op, is_global = _POOLING_LAYERS[class_name]
        return ir.Pooling(**common, op=op, global_=is_global)
    if class_name == "Concatenate":
        return ir.Concatenate(**common, axis=int(cfg.get("axis", -1)))
    if class_name in _SIMPLE_LAYERS:
        return _SIMPLE_LAYERS[class_name](**common)
    return ir.Opaque(**common, param_count=_count_params(layer))


def _count_params(layer: Any) -> int:
    """``layer.count_params()`` (every weight, trainable or not), 0 when Keras cannot count them."""
    try:
        return int(layer.count_params())
    except Exception:  # an unbuilt or unusual custom layer: its stored weights are the count
        return int(sum(np.asarray(w).size for w in layer_weights(layer).values()))


def from_keras(model: Any, hls_config: Mapping | str | Path | None = None) -> Graph:
    """:func:`_from_keras`, with Keras' serialisation (each layer's ``get_config``) kept from importing
    TensorFlow in a run on another backend (:func:`hls_opt.core.tf_probe.without_tensorflow_probe`)."""
    with without_tensorflow_probe():
        return _from_keras(model, hls_config)


def _from_keras(model: Any, hls_config: Mapping | str | Path | None = None) -> Graph:
    """Build the IR graph of a Keras 3 ``Sequential`` or functional model.

    One node per layer, in topological order, each with copies of its weights (Keras names and
    layout), shapes without the batch dimension, its Keras class and ``get_config()``, and its
    :class:`~hls_opt.config.LayerConfig` resolved from ``hls_config`` (a dict, a YAML/JSON file
    path, or ``None`` for hls4ml's defaults: ``fixed<16,6>``, reuse factor 1, Latency,
    io_parallel).  Layers hls-opt does not model become :class:`~hls_opt.ir.nodes.Opaque` nodes.
    The model is not modified.

    Bare ``keras.ops`` calls in a functional model (``x + y``, ``keras.ops.relu(x)``) become
    ``Opaque`` nodes too.

    Raises ``TypeError`` when ``model`` is not a Keras model, ``ModelError`` when it is not built,
    calls one layer more than once (shared layers) or uses a layer with several outputs.
    """
    if not _looks_like_keras(model):
        raise TypeError(f"from_keras: expected a Keras model, got {type(model).__name__}")
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras: expected a Keras model, got {type(model).__name__}")
    if isinstance(hls_config, (str, Path)):
        hls_config = load_config(hls_config)
    elif hls_config is not None and not isinstance(hls_config, Mapping):
        raise TypeError(
            "from_keras: hls_config must be a mapping, a YAML/JSON path or None, "
            f"got {type(hls_config).__name__}"
        )
    graph = Graph(model.name, sequential=isinstance(model, keras.Sequential))
    for layer, knode in _collect_calls(model):
        graph.add(_make_node(layer, knode, hls_config))
    graph.inputs = [t._keras_history.operation.name for t in keras.tree.flatten(model.inputs)]
    graph.outputs = [t._keras_history.operation.name for t in keras.tree.flatten(model.outputs)]
    return graph


def _looks_like_keras(obj: object) -> bool:
    # Cheap pre-check so that obviously wrong arguments fail without importing Keras.
    return obj is not None and not isinstance(obj, (str, bytes, int, float, Mapping, list, tuple, np.ndarray))


def check_flat_model(model: Any) -> None:
    """Raise :class:`ModelError` naming the first layer of ``model`` that is itself a model (a nested
    ``Sequential`` or functional sub-model).

    :func:`from_keras` keeps such a layer whole, as one ``Opaque`` node (it round-trips), so the
    layers inside it are neither estimated nor pruned: ``estimate`` and the report would count too
    few DSPs.  hls4ml 1.3 cannot convert a nested Keras 3 model either (its Keras-3 reader
    hands the sub-model to the Keras-2 ``parse_model_layer``, ``converters/keras/model.py``, which
    fails on it), so hls-opt refuses it rather than flattening it into a model hls4ml would read
    differently.  ``estimate`` and ``convert_and_optimize`` call this after loading the model."""
    import keras

    for layer in getattr(model, "layers", None) or ():
        if isinstance(layer, keras.Model):
            inner = sum(1 for _ in getattr(layer, "layers", None) or ())
            raise ModelError(
                f"model {getattr(model, 'name', '?')!r}: layer {layer.name!r} is a nested model "
                f"({type(layer).__name__} of {inner} layers); hls-opt estimates and prunes the layers of a flat "
                "model only, and hls4ml 1.3 cannot convert a nested Keras 3 model: rebuild it with the "
                "sub-model's layers called in the outer model"
            )

